"""Serve MathJax from the built book itself, not from a CDN: the book's formulas render offline.

Sphinx's default ``mathjax_path`` is a CDN URL, so a book read without a network (or in a test
browser kept offline) shows raw TeX. MathJax 3's files come from the PyPI package
``sphinx-mathjax-offline`` (MathJax 3.2.2, in requirements.txt); of its 24 MB only what TeX input
with CommonHTML output needs is copied into ``_static/mathjax/``: ``tex-chtml.js``, its web fonts
and the TeX extensions it loads on demand (about 2 MB). Without that package the book keeps the
CDN and the build log says so (an info line, not a warning: ``-W`` builds still pass).
"""

from __future__ import annotations

import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Dict, Optional

from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "sphinx-mathjax-offline"  # its import name has hyphens: it is found by spec, not imported
ENTRY = "tex-chtml.js"
NEEDED = (ENTRY, "output/chtml/fonts/woff-v2", "input/tex/extensions")
TARGET = "mathjax"  # under _static/


def mathjax_source() -> Optional[Path]:
    """The folder holding MathJax's files, or ``None`` where the package is not installed."""
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    return folder if all((folder / item).exists() for item in NEEDED) else None


def _configure(app: Any, config: Any) -> None:
    source = mathjax_source()
    if source is None:
        logger.info(
            f"offline_mathjax: {PACKAGE} is not installed; MathJax comes from {config.mathjax_path}"
        )
        return
    config.mathjax_path = f"{TARGET}/{ENTRY}"  # relative paths are relative to _static/


def _copy(app: Any, exc: Optional[BaseException]) -> None:
    source = mathjax_source()
    if exc is not None or source is None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / TARGET
    for item in NEEDED:
        src, dst = source / item, dest / item
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)


def setup(app: Any) -> Dict[str, Any]:
    app.connect("config-inited", _configure)
    app.connect("build-finished", _copy)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
