"""Train LeNet5 in the reader's browser: the page, its embedded data, and the same data for PyTorch.

:func:`train_html` returns one self-contained HTML fragment — an inline ``<style>``, two
``<script type="application/json">`` blocks (the settings and the data subset) and one inline
``<script>`` holding ``classicnets/assets/lenet_train.js`` (forward and backward passes, SGD with
momentum), ``lenet_train_loop.js`` (the trainer, in slices of time) and ``lenet_train_page.js`` (the
page). No CDN, no request, no kernel.
``book/lenet5_train_in_browser.ipynb`` displays it.

The data: a class-balanced subset of Fashion-MNIST, made at page-build time from the files
:mod:`classicnets.data` finds (Debian's ``dataset-fashion-mnist`` in CI, downloaded and checksummed
elsewhere): the first :data:`TRAIN_PER_CLASS` training images of each class (3,000) and the first
:data:`TEST_PER_CLASS` test images of each class (500, held out: the page only evaluates on them).

Why that encoding (the built page's budget is about 1.5 MB): 3,500 images × 784 uint8 pixels are
2.7 MB raw, 3.7 MB as base64, and still 2.0 MB deflated. Rounded to 16 grey levels (``round(p / 17)``,
shown again as ``17 × level``, so 0 and 255 stay exact), two pixels a byte and deflated (zlib) they are
about 0.67 MB, 0.9 MB as base64 — the browser inflates them with its built-in
``DecompressionStream("deflate")``, no library. :func:`subset` gives PyTorch exactly these pixels.

The inputs are prepared as chapter 3 prepares them (:func:`prepare`): ``/255``, zero-padded to 32×32
(the background), normalised with the whole training set's mean and std.

>>> from IPython.display import HTML
>>> HTML(train_html())          # doctest: +SKIP
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import zlib
from typing import Any, Dict, Optional

import numpy as np
import torch

from .explorer import _script_safe, asset

_ids = itertools.count(1)
VARIANTS = ("blog", "modern")
TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 50
LEVELS = 16  # grey levels kept: 4 bits a pixel
STEP = 255 // (LEVELS - 1)  # 17: level k is pixel value 17·k
PAD = 2
# the page's starting settings (the reader may change lr and batch size; the benchmark uses these)
DEFAULTS = {"variant": "blog", "lr": 0.05, "batch": 32, "momentum": 0.9, "epochs": 4, "seed": 1}


def first_of_each_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices: the first ``per_class`` of each class, interleaved class by class (0, 1, …, 9, 0, 1, …)."""
    by_class = [np.flatnonzero(labels == c)[:per_class] for c in range(10)]
    short = [c for c, idx in enumerate(by_class) if len(idx) < per_class]
    if short:
        raise ValueError(f"classes {short} have fewer than {per_class} images: lower per_class")
    return np.stack(by_class, axis=1).ravel()


def quantize(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels rounded to the nearest of the 16 levels 0, 17, …, 255 (what the page trains on)."""
    levels = np.rint(np.asarray(pixels, dtype=np.float64) / STEP).astype(np.uint8)
    return levels * STEP


@functools.lru_cache(maxsize=2)
def subset(train_per_class: int = TRAIN_PER_CLASS, test_per_class: int = TEST_PER_CLASS) -> Dict[str, Any]:
    """``{x_train, y_train, x_test, y_test}``: uint8 (N, 28, 28) quantised pixels and int labels, plus
    ``mean``/``std`` (the whole training set's, 0..1 scale), ``classes`` and the source indices."""
    from .data import load_fashion_mnist

    data = load_fashion_mnist(pad=0, normalize=True, progress=False)
    out: Dict[str, Any] = {"mean": data.mean, "std": data.std, "classes": list(data.classes)}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = getattr(data, f"y_{split}").numpy()
        idx = first_of_each_class(labels, per_class)
        raw = np.rint(data.pixels(getattr(data, f"x_{split}")[idx, 0]).numpy() * 255).astype(np.uint8)
        out[f"x_{split}"], out[f"y_{split}"], out[f"index_{split}"] = quantize(raw), labels[idx], idx
    return out


def prepare(pixels: np.ndarray, mean: float, std: float, pad: int = PAD) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 32, 32): /255, zero padding, (x − mean) / std, as chapter 3."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 255.0).unsqueeze(1)
    x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    return (x - mean) / std


def pack(pixels: np.ndarray) -> str:
    """Quantised pixels as text: levels 0..15, two a byte (high nibble first), zlib-deflated, base64."""
    levels = (np.asarray(pixels, dtype=np.uint8).ravel() // STEP).astype(np.uint8)
    if levels.size % 2:
        levels = np.append(levels, 0)
    packed = (levels[0::2] << 4) | levels[1::2]
    return base64.b64encode(zlib.compress(packed.tobytes(), 9)).decode("ascii")


def unpack(text: str, count: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``count`` uint8 pixels (0, 17, …, 255)."""
    packed = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    levels = np.stack([packed >> 4, packed & 15], axis=1).ravel()[:count]
    return (levels * STEP).astype(np.uint8)


def train_payload() -> Dict[str, Any]:
    """``{"settings": {...}, "data": {...}}``: what the page embeds."""
    s = subset()
    data = {
        "classes": s["classes"],
        "height": 28,
        "width": 28,
        "input": {"pad": PAD, "mean": s["mean"], "std": s["std"]},
        "encoding": "16 grey levels (pixel = 17·level), two a byte, high nibble first, zlib (deflate), base64",
    }
    for split in ("train", "test"):
        data[split] = {
            "count": int(len(s[f"y_{split}"])),
            "labels": base64.b64encode(s[f"y_{split}"].astype(np.uint8).tobytes()).decode("ascii"),
            "pixels": pack(s[f"x_{split}"]),
        }
    return {"settings": dict(DEFAULTS, variants=list(VARIANTS)), "data": data}


JS_FILES = ("lenet_train.js", "lenet_train_loop.js", "lenet_train_page.js")


def train_js() -> str:
    """The page's JavaScript: the network (forward, backward, SGD), the time-sliced trainer and the page."""
    return "\n".join(asset(name) for name in JS_FILES)


def train_html(variant: str = DEFAULTS["variant"], element_id: Optional[str] = None) -> str:
    """One self-contained HTML fragment that trains LeNet5 (``blog`` or ``modern``) in the browser."""
    if variant not in VARIANTS:
        raise ValueError(f"train_html(variant={variant!r}): no such LeNet5; use 'blog' or 'modern'")
    payload = train_payload()
    payload["settings"]["variant"] = variant
    js = train_js()
    if "</script" in js.lower():
        raise ValueError("lenet_train.js must not contain '</script'")
    uid = element_id or f"classicnets-train-{next(_ids)}"
    blocks = "".join(
        f'<script type="application/json" id="{uid}-{part}">'
        f"{_script_safe(json.dumps(payload[part], separators=(',', ':')))}</script>\n"
        for part in ("settings", "data")
    )
    read = ", ".join(
        f"{p}: JSON.parse(document.getElementById({json.dumps(f'{uid}-{p}')}).textContent)"
        for p in ("settings", "data")
    )
    return (
        f"<style>\n{asset('lenet_train.css')}</style>\n"
        f'<div id="{uid}" class="lnt-root" data-state="loading">'
        "<noscript>Training in the browser needs JavaScript.</noscript></div>\n" + blocks + f"<script>\n{js}\n"
        f"window.classicnetsTrain.mount(document.getElementById({json.dumps(uid)}), {{{read}}});\n"
        "</script>\n"
    )


def train_in_pytorch(variant: str = DEFAULTS["variant"], **changes: Any) -> Dict[str, Any]:
    """The page's recipe in PyTorch, on the same subset: SGD with momentum, batches drawn from a permutation
    per epoch (a batch may span two), the learning rate decaying linearly from ``lr`` to 0, the test images
    evaluated every half epoch. ``{"evals": [(images seen, accuracy)], "seconds", "settings"}`` (seconds of
    training, evaluation excluded). Its initial weights and shuffling come from torch's generator, not the
    page's, so the curves match the page's in shape, not number for number.
    """
    import time

    from .models import lenet5

    cfg = {**DEFAULTS, "variant": variant, **changes}
    s = subset()
    x, y = prepare(s["x_train"], s["mean"], s["std"]), torch.from_numpy(s["y_train"].astype(np.int64))
    x_test, y_test = prepare(s["x_test"], s["mean"], s["std"]), torch.from_numpy(s["y_test"].astype(np.int64))
    torch.manual_seed(cfg["seed"])
    model = lenet5(cfg["variant"])
    opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"])
    n, total = len(y), cfg["epochs"] * len(y)
    order = torch.cat([torch.randperm(n) for _ in range(cfg["epochs"] + 1)])
    evals, seconds, seen = [], 0.0, 0
    while seen < total:
        start = time.perf_counter()
        opt.param_groups[0]["lr"] = cfg["lr"] * max(0.0, 1 - seen / total)
        idx = order[seen : seen + cfg["batch"]]
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += cfg["batch"]
        seconds += time.perf_counter() - start
        if seen // (n // 2) > len(evals) or seen >= total:
            with torch.no_grad():
                evals.append((seen, (model(x_test).argmax(1) == y_test).float().mean().item()))
    return {"evals": evals, "seconds": seconds, "settings": cfg}


def show(variant: str = DEFAULTS["variant"]) -> None:
    """Display the trainer in a notebook (Jupyter, Colab, or the built book)."""
    from IPython.display import HTML, display

    display(HTML(train_html(variant)))


__all__ = ["subset", "prepare", "pack", "unpack", "train_payload", "train_js", "train_html", "train_in_pytorch", "show"]
