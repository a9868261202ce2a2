"""A trained LeNet5 in the reader's browser: every feature map, live, with no kernel.

:func:`live_html` returns one self-contained HTML fragment: an inline ``<style>``, three
``<script type="application/json">`` blocks (the specs of ``lenet5("blog")`` and
``lenet5("modern")`` from :mod:`classicnets.specs` with each layer's output shape, receptive
field and jump from :func:`classicnets.arithmetic.trace`; their trained weights; a strip of test
images) and one inline ``<script>`` holding ``classicnets/assets/lenet_live.js`` (the forward
pass and the viewer). No CDN, no request: it works in the built book, in Jupyter and in Colab.
``book/lenet5_inside.ipynb`` displays it.

What it embeds, and why that encoding (the page's budget is about 400 KB):

* the weights of both networks made by ``python -m classicnets.export``
  (``classicnets/assets/lenet5_weights.json``): 2 × 61,706 parameters as float16 in base85
  text — 309 KB, against 658 KB for float32 in base64 (see :mod:`classicnets.export`).
  float16 keeps about 3 significant digits; the record
  (``classicnets/records/lenet5_weights.json``) gives the test accuracy of exactly these
  rounded weights, and the page computes with them in float64, so the JavaScript and PyTorch
  (float32, same stored weights) agree to about 1e-5 on the logits;
* 100 Fashion-MNIST test images (``classicnets/assets/lenet5_test_images.json``), 28×28
  uint8 with the zero background run-length encoded, about 64 KB as base64.

The layer geometry is computed here in Python rather than by the explorer's JavaScript port of the
arithmetic, which saves the page 30 KB; the explorer's tests prove the two equal.

>>> from IPython.display import HTML
>>> HTML(live_html())          # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Dict, Optional

from .arithmetic import trace
from .explorer import _script_safe, asset
from .specs import lenet5_spec

_ids = itertools.count(1)
VARIANTS = ("blog", "modern")
WEIGHTS_ASSET = "lenet5_weights.json"
IMAGES_ASSET = "lenet5_test_images.json"


def live_js() -> str:
    """The page's JavaScript: the forward pass and the viewer."""
    return asset("lenet_live.js")


def geometry(variant: str):
    """``[{name, kind, out_shape, rf, jump}, …]``: every layer of ``lenet5_spec(variant)``, from the arithmetic."""
    return [
        {
            "name": r.name,
            "kind": r.kind,
            "out_shape": list(r.out_shape),
            "rf": None if r.rf is None else list(r.rf),
            "jump": None if r.jump is None else list(r.jump),
        }
        for r in trace(lenet5_spec(variant)).rows
    ]


def live_payload() -> Dict[str, Any]:
    """``{"specs": {variant: {title, spec, geometry}}, "weights": {...}, "images": {...}}``: what the page embeds."""
    weights = json.loads(asset(WEIGHTS_ASSET))
    missing = [v for v in VARIANTS if v not in weights.get("networks", {})]
    if missing:
        raise ValueError(f"{WEIGHTS_ASSET} has no weights for {', '.join(missing)}: run python -m classicnets.export")
    specs = {
        v: {"title": lenet5_spec(v).title, "spec": lenet5_spec(v).to_dict(), "geometry": geometry(v)} for v in VARIANTS
    }
    return {"specs": specs, "weights": weights, "images": json.loads(asset(IMAGES_ASSET))}


def live_html(initial: str = "modern", image: int = 0, element_id: Optional[str] = None) -> str:
    """One self-contained HTML fragment running LeNet5 (``blog`` and ``modern``) in the browser.

    ``initial`` is the network shown first, ``image`` the index (0–99) of the embedded test
    image shown first.
    """
    if initial not in VARIANTS:
        raise ValueError(f"live_html(initial={initial!r}): no trained network of that name; use 'blog' or 'modern'")
    payload = live_payload()
    n_images = len(payload["images"]["data"])
    if not (isinstance(image, int) and 0 <= image < n_images):
        raise ValueError(f"live_html(image={image!r}): pick an embedded test image from 0 to {n_images - 1}")
    js = live_js()
    if "</script" in js.lower():
        raise ValueError("lenet_live.js must not contain '</script'")
    uid = element_id or f"classicnets-live-{next(_ids)}"
    blocks = []
    for part in ("specs", "weights", "images"):
        text = _script_safe(json.dumps(payload[part], ensure_ascii=False, separators=(",", ":")))
        blocks.append(f'<script type="application/json" id="{uid}-{part}">{text}</script>\n')
    parts = ", ".join(
        f"{p}: JSON.parse(document.getElementById({json.dumps(f'{uid}-{p}')}).textContent)"
        for p in ("specs", "weights", "images")
    )
    options = json.dumps({"initial": initial, "image": image})
    return (
        f"<style>\n{asset('lenet_live.css')}</style>\n"
        f'<div id="{uid}" class="lnl-root" data-initial="{initial}">'
        "<noscript>The network viewer needs JavaScript.</noscript></div>\n" + "".join(blocks) + f"<script>\n{js}\n"
        f"window.classicnetsLive.mount(document.getElementById({json.dumps(uid)}), {{{parts}}}, {options});\n"
        "</script>\n"
    )


def show(initial: str = "modern", image: int = 0) -> None:
    """Display the viewer in a notebook (Jupyter, Colab, or the built book)."""
    from IPython.display import HTML, display

    display(HTML(live_html(initial=initial, image=image)))


__all__ = ["live_js", "geometry", "live_payload", "live_html", "show"]
