"""The kernel-free explorer of the rendered book (plain Python, no torch).

In the static book no kernel runs, so ipywidgets cannot redraw anything. The
explorer is one self-contained piece of HTML: an inline ``<style>``, the JSON of
:func:`classicnets.specs.all_specs` and an inline ``<script>`` holding
``classicnets/assets/explorer.js`` — a port of :mod:`classicnets.arithmetic`
(the browser tests compare the two over hundreds of random settings). No CDN,
no server: it works in the built book, in Jupyter and in Colab.

The book's page ``book/explorer.ipynb`` displays it; that notebook's metadata
(``mystnb.execution_mode: force``) re-executes it at every build, because
jupyter-cache watches only a notebook's code, not this module or its assets.
Build with ``--all`` after editing them so Sphinx rewrites the page too.

The explorer's own words (network menu, reset, column headings, legend) come in English and
Chinese (``LABELS`` in explorer.js): the page's ``<html lang>`` picks them, so the one output of
the notebook's code shows Chinese controls in the Chinese edition (``book/zh/explorer.ipynb``);
``explorer_html(lang=...)`` forces one. Error messages stay Python's, in English.

>>> from IPython.display import HTML
>>> HTML(explorer_html())          # doctest: +SKIP
"""
from __future__ import annotations

import itertools
import json
from importlib import resources
from typing import Dict, Mapping, Optional

from .layers import NetSpec
from .specs import all_specs

_ids = itertools.count(1)


def asset(name: str) -> str:
    """Text of ``classicnets/assets/<name>``."""
    return resources.files("classicnets").joinpath("assets", name).read_text(encoding="utf-8")


def explorer_js() -> str:
    """The explorer's JavaScript (arithmetic + user interface)."""
    return asset("explorer.js")


def spec_payload(specs: Optional[Mapping[str, NetSpec]] = None) -> Dict[str, Dict[str, object]]:
    """``{"lenet5/blog": {"title": "LeNet5 (blog)", "spec": {...}}, ...}``: what the page embeds."""
    specs = all_specs() if specs is None else specs
    return {key: {"title": spec.title, "spec": spec.to_dict()} for key, spec in specs.items()}


def _script_safe(json_text: str) -> str:
    """JSON that cannot end (or comment out) the ``<script>`` element it sits in.

    ``<``, ``>`` and ``&`` can only stand inside JSON strings, where ``\\u003c`` etc. mean the same.
    """
    return json_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def explorer_html(
    specs: Optional[Mapping[str, NetSpec]] = None,
    initial: str = "lenet5/blog",
    element_id: Optional[str] = None,
    lang: Optional[str] = None,
) -> str:
    """One self-contained HTML fragment that draws the explorer in a browser.

    ``specs`` defaults to :func:`classicnets.specs.all_specs` — the one
    description of each network; ``initial`` is the key shown first. ``lang`` ("en" or "zh") sets
    the language of the explorer's own controls; by default the browser takes the page's
    ``<html lang>``, so the same output shows Chinese controls on the Chinese edition's page.
    """
    payload = spec_payload(specs)
    if initial not in payload:
        raise KeyError(f"no network {initial!r}: choose one of {', '.join(payload)}")
    js = explorer_js()
    if "</script" in js.lower():
        raise ValueError("explorer.js must not contain '</script'")
    uid = element_id or f"classicnets-explorer-{next(_ids)}"
    data = _script_safe(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    if lang not in (None, "en", "zh"):
        raise ValueError(f"explorer_html(lang={lang!r}): choose 'en', 'zh' or None (the page's language)")
    options = _script_safe(json.dumps({"initial": initial, **({"lang": lang} if lang else {})}))
    return (
        f"<style>\n{asset('explorer.css')}</style>\n"
        f'<div id="{uid}" class="cnx-root" data-initial="{initial}">'
        "<noscript>The explorer needs JavaScript.</noscript></div>\n"
        f'<script type="application/json" id="{uid}-specs">{data}</script>\n'
        f"<script>\n{js}\n"
        f"window.classicnetsExplorer.mount(document.getElementById({json.dumps(uid)}), "
        f"JSON.parse(document.getElementById({json.dumps(uid + '-specs')}).textContent), {options});\n"
        "</script>\n"
    )


def show(initial: str = "lenet5/blog"):
    """Display the explorer in a notebook (Jupyter, Colab, or the built book)."""
    from IPython.display import HTML, display

    display(HTML(explorer_html(initial=initial)))


__all__ = ["asset", "explorer_js", "spec_payload", "explorer_html", "show"]
