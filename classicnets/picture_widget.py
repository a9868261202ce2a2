"""The base of the book's widgets: :class:`PictureWidget` (a ``VBox`` showing a matplotlib picture, and offering
it as ``image/png`` to pages rendered without a kernel), the HTML read-outs' helpers and :func:`_show`."""

from __future__ import annotations

import base64
import contextlib
import html
from typing import Dict, Iterator, Optional, Tuple

import ipywidgets as W
from matplotlib.figure import Figure

from .plots import fig_to_png
from .slider_keys import slider_keys

_STYLE = {"description_width": "initial"}


def plain(text: str) -> str:
    """An HTML read-out as plain text (tags dropped, entities decoded), for printing."""
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _esc(text: str) -> str:
    return html.escape(str(text), quote=False)


def _error_html(text: str) -> str:
    return f'<span style="color:#c62828"><b>⚠</b> {_esc(text)}</span>'


def _ok_html(text: str) -> str:
    return f'<span style="color:#2e7d32">✔ {_esc(text)}</span>'


class PictureWidget(W.VBox):
    """A ``VBox`` that shows a matplotlib picture (as PNG in ``self.image``) and
    also offers that picture as ``image/png`` when displayed, for pages
    rendered without a kernel."""

    figsize: Tuple[float, float] = (5.0, 5.0)
    dpi: int = 100

    def __init__(self, **kwargs: object) -> None:
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%", height="auto"))
        self.image.add_class("cn-picture")
        self.key_fix = slider_keys()  # the arrow keys move the sliders in Notebook 7 too (classicnets.slider_keys)
        self._quiet_depth = 0
        super().__init__(**kwargs)

    # -- drawing
    def _draw(self, fig: Figure) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def redraw(self) -> None:
        """Draw the picture again into ``self.image`` (a fresh, unmanaged figure: no leaks)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=self.figsize)
        self._draw(fig)
        self.image.value = fig_to_png(fig, dpi=self.dpi, close=False)

    @property
    def png(self) -> bytes:
        """The current picture, PNG bytes."""
        return bytes(self.image.value)

    def _repr_mimebundle_(self, **kwargs: object) -> Dict[str, object]:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(bundle, tuple):  # (data, metadata)
            bundle = bundle[0]
        bundle = dict(bundle)
        bundle["text/plain"] = f"{type(self).__name__}: {self._describe()}"
        bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle

    def _describe(self) -> str:
        return ""

    # -- batching observer calls
    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Change several controls; observers do nothing until the block ends."""
        self._quiet_depth += 1
        try:
            yield
        finally:
            self._quiet_depth -= 1

    @property
    def _is_quiet(self) -> bool:
        return self._quiet_depth > 0


def _show(slider: W.IntSlider, value: int, low: int, high: int) -> None:
    """Set a slider's range, then its value (in that order, so the value is never clipped)."""
    slider.max = max(high, slider.min)
    slider.min = low
    slider.max = high
    slider.value = value


def _mark(widget: W.DOMWidget, root: Optional[str], **readouts: W.DOMWidget) -> None:
    """CSS classes a page (or a browser test) can find the parts by: ``root`` on the widget, ``cn-<name>``
    (``cn-output-size``, ``cn-message``…) on each read-out."""
    if root:
        widget.add_class(root)
    for name, readout in readouts.items():
        readout.add_class("cn-" + name.replace("_", "-"))
