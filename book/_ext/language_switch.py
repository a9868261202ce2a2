"""A link on every page to the same page in the book's other language (English <-> 中文).

Both books' configurations set ``language_switch`` (a dict, in ``sphinx.config`` of ``_config.yml`` and
``book/zh/_config.yml``):

* ``label`` / ``lang`` / ``title``: the link's text, its ``hreflang`` and its tooltip;
* ``root``: where the other book's HTML lies, relative to this book's HTML root (``zh`` or ``..``);
* ``toc``: the other book's ``_toc.yml``, relative to this book's source folder: its pages are the
  ones that exist on the other side;
* ``strip`` / ``add``: a page name here becomes the other book's page name by dropping the prefix
  ``strip`` and prepending ``add`` (``book/01_conv_arithmetic`` <-> ``01_conv_arithmetic``).

Every page must have its counterpart: a missing one stops the build, naming the page (see :func:`counterpart`);
a page only one edition has (the Chinese glossary) is listed in ``only_here`` and links to the other home page.
The link sits in the article header, before the theme's buttons (``templates/language-switch.html``,
``static/language_switch.css``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Set

import yaml

TEMPLATE = "language-switch.html"
SPECIAL = {"search", "genindex"}  # Sphinx's own pages exist in both books


def toc_pages(toc_file: Path) -> Set[str]:
    toc = yaml.safe_load(toc_file.read_text(encoding="utf-8"))
    pages = {toc["root"]}

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.add(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def counterpart(
    pagename: str, settings: Dict[str, str], other_pages: Set[str], other_root: str
) -> str:
    """The other book's page name for ``pagename``.

    A page listed in ``settings["only_here"]`` (one the other edition does not have) links to the other book's
    home page (``other_root``); any other page without a counterpart is an error, so that a new English chapter
    cannot be published without its Chinese page.
    """
    if pagename in SPECIAL:
        return pagename
    strip, add = settings.get("strip", ""), settings.get("add", "")
    name = pagename[len(strip) :] if strip and pagename.startswith(strip) else pagename
    other = add + name
    if other in other_pages:
        return other
    if name in settings.get("only_here", ()):
        return other_root
    raise ValueError(
        f"language_switch: {pagename} has no counterpart {other!r} in {settings.get('toc')}: translate it "
        f"(python book/zh_sync.py --new {name}) and list it there, or name it in language_switch.only_here"
    )


def _page_context(
    app: Any, pagename: str, templatename: str, context: Dict, doctree: Optional[Any]
) -> None:
    settings = app.config.language_switch
    if not settings:
        return
    toc_file = Path(app.srcdir) / settings["toc"]
    other_pages = toc_pages(toc_file)
    other_root = yaml.safe_load(toc_file.read_text(encoding="utf-8"))["root"]
    target = counterpart(pagename, settings, other_pages, other_root)
    up = "../" * pagename.count("/")
    context["language_switch"] = {
        "href": f"{up}{settings['root'].strip('/')}/{target}.html",
        "label": settings["label"],
        "lang": settings["lang"],
        "title": settings.get("title", settings["label"]),
        "page": target,
    }


def _configure(app: Any, config: Any) -> None:
    if not config.language_switch:
        return
    config.templates_path.append(str(Path(__file__).parent / "templates"))
    config.html_static_path.append(str(Path(__file__).parent / "static"))
    options = config.html_theme_options
    ends = options.get("article_header_end") or ["article-header-buttons.html"]
    if isinstance(ends, str):
        ends = [e.strip() for e in ends.split(",") if e.strip()]
    if TEMPLATE not in ends:
        options["article_header_end"] = [TEMPLATE, *ends]


def setup(app: Any) -> Dict[str, Any]:
    app.add_config_value("language_switch", {}, "html", types=[dict])
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _page_context)
    app.add_css_file("language_switch.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
