"""Pictures for the book: data, training, what a network learned, LeNet-5's own pieces.

Every function draws with matplotlib and returns the ``Figure``. Pass ``ax=``
(one-panel pictures) or ``fig=`` (multi-panel pictures) to draw into your own
figure, e.g. a ``matplotlib.figure.Figure`` that the widgets render to PNG;
otherwise a new pyplot figure is made, which a notebook shows at the end of
the cell (end the line with ``;`` or assign the result to avoid seeing it twice).

The functions are generic: they take tensors, :class:`~classicnets.arithmetic.Trace`
objects, modules and layer names, so the LeNet5 and the AlexNet chapters share them.

* data and predictions: :func:`image_grid`, :func:`plot_confusion`,
  :func:`plot_confident_mistakes`;
* training: :func:`training_curves`;
* what was learned: :func:`plot_filters`, :func:`plot_feature_maps`;
* the layer arithmetic (kernel placement, layer sizes): :mod:`classicnets.arithmetic_plots`;
* LeNet-5's own design: :func:`plot_scaled_tanh`, :func:`plot_c3_table`;
* :func:`fig_to_png` turns any figure into PNG bytes (and closes it).
"""

from __future__ import annotations

import io
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .specs import C3_TABLE

__all__ = [
    "fig_to_png",
    "image_grid",
    "training_curves",
    "confusion_matrix",
    "plot_confusion",
    "confident_mistakes",
    "plot_confident_mistakes",
    "plot_filters",
    "feature_maps",
    "plot_feature_maps",
    "plot_scaled_tanh",
    "plot_c3_table",
]

_BLUE, _ORANGE, _RED, _GREY = "#1f77b4", "#ff7f0e", "#d62728", "#b0b0b0"


# --------------------------------------------------------------------------- helpers


def _np(x: Any) -> np.ndarray:
    """A tensor/array/list as a float or int numpy array on the CPU."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if hasattr(x, "float") and x.is_floating_point():
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


def _new_fig(figsize: Tuple[float, float], fig: Optional[Figure] = None) -> Figure:
    """``fig`` cleared and resized, or a new pyplot figure."""
    if fig is None:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    fig.clear()
    fig.set_size_inches(*figsize)
    try:
        fig.set_layout_engine("constrained")
    except Exception:  # pragma: no cover - an engine that cannot be swapped
        pass
    return fig


def _new_ax(figsize: Tuple[float, float], ax: Optional[Axes] = None) -> Tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = _new_fig(figsize)
    return fig, fig.add_subplot()


def fig_to_png(fig: Figure, dpi: int = 100, close: bool = True) -> bytes:
    """The figure as PNG bytes; a pyplot figure is closed afterwards (no leaks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not hasattr(fig.canvas, "print_png"):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()


def _as_images(images: Any) -> np.ndarray:
    """(N, H, W) or (N, C, H, W) → (N, H, W) or (N, H, W, 3) for ``imshow``."""
    arr = _np(images).astype(np.float32)
    if arr.ndim == 4:
        if arr.shape[1] == 1:
            arr = arr[:, 0]
        elif arr.shape[1] == 3:
            arr = arr.transpose(0, 2, 3, 1)
            lo, hi = arr.min(axis=(1, 2, 3), keepdims=True), arr.max(axis=(1, 2, 3), keepdims=True)
            arr = (arr - lo) / np.maximum(hi - lo, 1e-8)
        else:
            raise ValueError(f"images must have 1 or 3 channels, got {arr.shape[1]}")
    if arr.ndim != 3 and not (arr.ndim == 4 and arr.shape[-1] == 3):
        raise ValueError(f"images must be (N, H, W) or (N, C, H, W), got shape {arr.shape}")
    return arr


def _label(i: int, classes: Optional[Sequence[str]]) -> str:
    return str(classes[i]) if classes is not None and 0 <= i < len(classes) else str(i)


# --------------------------------------------------------------------------- data


def image_grid(
    images: Any,
    labels: Any = None,
    classes: Optional[Sequence[str]] = None,
    *,
    predictions: Any = None,
    n: Optional[int] = None,
    ncols: int = 8,
    title: Optional[str] = None,
    cmap: str = "gray_r",
    fig: Any = None,
) -> Any:
    """A grid of images, each titled with its label (and prediction: green when
    right, red when wrong). ``images`` is (N, H, W) or (N, C, H, W), any scale."""
    arr = _as_images(images)
    n = len(arr) if n is None else min(n, len(arr))
    if n == 0:
        raise ValueError("no images to show")
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = _new_fig((1.25 * ncols, 1.45 * nrows + (0.3 if title else 0)), fig)
    lab = None if labels is None else _np(labels).astype(int)
    pred = None if predictions is None else _np(predictions).astype(int)
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(arr[i], cmap=None if arr.ndim == 4 else cmap)
        ax.set_xticks([])
        ax.set_yticks([])
        text, color = "", "black"
        if lab is not None:
            text = _label(lab[i], classes)
        if pred is not None:
            text = (text + "\n" if text else "") + "→ " + _label(pred[i], classes)
            if lab is not None:
                color = "green" if pred[i] == lab[i] else _RED
        if text:
            ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- training


def training_curves(histories: Any, *, fig: Any = None, title: Optional[str] = None) -> Any:
    """Training loss and test accuracy per epoch, one line per run.

    ``histories`` is one ``History`` (from :func:`classicnets.fit`) or a mapping
    ``name -> History`` to compare runs. Train accuracy is drawn dashed.
    """
    runs: Mapping[str, Any] = histories if isinstance(histories, Mapping) else {"": histories}
    fig = _new_fig((9.5, 3.3), fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (name, h) in enumerate(runs.items()):
        records = list(h)
        epochs = [r.epoch for r in records]
        color = f"C{i}"
        prefix = f"{name}: " if name else ""
        ax_loss.plot(epochs, [r.train_loss for r in records], "o-", color=color, label=f"{prefix}train loss")
        ax_acc.plot(epochs, [r.train_acc for r in records], "o--", color=color, alpha=0.6, label=f"{prefix}train")
        if any(r.test_acc is not None for r in records):
            test = [np.nan if r.test_acc is None else r.test_acc for r in records]
            ax_acc.plot(epochs, test, "s-", color=color, label=f"{prefix}test")
    for ax, what in ((ax_loss, "training loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """Counts ``m[true, predicted]`` as an int numpy array."""
    t, p = _np(y_true).astype(int).ravel(), _np(y_pred).astype(int).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    k = num_classes or int(max(t.max(initial=-1), p.max(initial=-1)) + 1)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def plot_confusion(
    y_true: Any,
    y_pred: Any,
    classes: Optional[Sequence[str]] = None,
    *,
    normalize: bool = True,
    ax: Any = None,
    title: Optional[str] = None,
) -> Any:
    """The confusion matrix: rows are true classes, columns predictions. With
    ``normalize`` each row is divided by its count (the diagonal is each class's recall)."""
    k = len(classes) if classes is not None else None
    m = confusion_matrix(y_true, y_pred, k)
    k = m.shape[0]
    shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalize else m
    fig, ax = _new_ax((0.55 * k + 2.6, 0.55 * k + 1.6), ax)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    names = [_label(i, classes) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    hi = shown.max() if shown.size else 1
    for i in range(k):
        for j in range(k):
            v = shown[i, j]
            if m[i, j] == 0:
                continue
            txt = f"{v:.2f}".lstrip("0") if normalize else str(m[i, j])
            ax.text(j, i, txt, ha="center", va="center", fontsize=7, color="white" if v > 0.6 * hi else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    acc = np.trace(m) / max(m.sum(), 1)
    ax.set_title(title or f"confusion matrix (accuracy {acc:.4f})")
    return fig


def confident_mistakes(logits: Any, y_true: Any, n: int = 12) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices, predicted classes and confidences (softmax probability of the
    prediction) of the ``n`` wrong predictions made with the highest confidence."""
    z = _np(logits).astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    pred = p.argmax(axis=1)
    conf = p.max(axis=1)
    y = _np(y_true).astype(int)
    wrong = np.flatnonzero(pred != y)
    order = wrong[np.argsort(-conf[wrong], kind="stable")][:n]
    return order, pred[order], conf[order]


def plot_confident_mistakes(
    images: Any,
    y_true: Any,
    logits: Any,
    classes: Optional[Sequence[str]] = None,
    *,
    n: int = 12,
    ncols: int = 6,
    fig: Any = None,
) -> Any:
    """The most confidently wrong images: true label, prediction and its probability."""
    idx, pred, conf = confident_mistakes(logits, y_true, n)
    if len(idx) == 0:
        fig = _new_fig((4, 1), fig)
        fig.text(0.5, 0.5, "no mistakes", ha="center", va="center")
        return fig
    arr = _as_images(_np(images)[idx])
    y = _np(y_true).astype(int)[idx]
    ncols = max(1, min(ncols, len(idx)))
    nrows = math.ceil(len(idx) / ncols)
    fig = _new_fig((1.6 * ncols, 1.9 * nrows + 0.3), fig)
    for i in range(len(idx)):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(arr[i], cmap=None if arr.ndim == 4 else "gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(
            f"true {_label(y[i], classes)}\nsaid {_label(pred[i], classes)} ({conf[i]:.0%})", fontsize=7.5, color=_RED
        )
    fig.suptitle("most confidently wrong test images")
    return fig


# --------------------------------------------------------------------------- what was learned


def _find_module(model: Any, name: str) -> Any:
    """The submodule called ``name`` (a full dotted name, or its last part)."""
    matches = [m for full, m in model.named_modules() if full == name or full.rsplit(".", 1)[-1] == name]
    if not matches:
        known = [full.rsplit(".", 1)[-1] for full, _ in model.named_modules() if full]
        raise KeyError(f"the model has no layer {name!r}; its layers are: {', '.join(known)}")
    return matches[0]


def plot_filters(
    weights: Any,
    *,
    channel: Optional[int] = 0,
    ncols: int = 8,
    title: Optional[str] = None,
    fig: Any = None,
) -> Any:
    """Convolution kernels as little images (blue negative, red positive, each
    on its own symmetric scale). ``weights`` is a conv module or its weight
    (out, in, kh, kw); ``channel`` picks the input map shown (``None``: RGB when
    there are 3 input channels)."""
    if hasattr(weights, "weight"):
        weights = weights.weight
    w = _np(weights).astype(np.float32)
    if w.ndim != 4:
        raise ValueError(f"expected a (out, in, kh, kw) weight, got shape {w.shape}")
    rgb = channel is None and w.shape[1] == 3
    n = w.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = _new_fig((1.1 * ncols, 1.15 * nrows + 0.35), fig)
    for i in range(n):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        if rgb:
            k = w[i].transpose(1, 2, 0)
            k = (k - k.min()) / max(float(k.max() - k.min()), 1e-8)
            ax.imshow(k)
        else:
            k = w[i, channel or 0]
            lim = float(np.abs(k).max()) or 1.0
            ax.imshow(k, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=7)
    fig.suptitle(title or f"{n} learned {w.shape[2]}×{w.shape[3]} kernels")
    return fig


def feature_maps(model: Any, image: Any, layers: Sequence[str]) -> Dict[str, Any]:
    """The outputs of the named layers for one image (C, H, W) or a batch of one:
    ``{name: tensor (C, H, W)}``. The model runs in eval mode, without gradients."""
    import torch

    x = image if hasattr(image, "dim") else torch.as_tensor(np.asarray(image))
    if x.dim() == 3:
        x = x.unsqueeze(0)
    x = x[:1].float()
    out: Dict[str, Any] = {}
    hooks = []
    for name in layers:
        module = _find_module(model, name)
        hooks.append(
            module.register_forward_hook(lambda _m, _i, o, name=name: out.__setitem__(name, o.detach()[0].cpu()))
        )
    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            model(x.to(device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {name: out[name] for name in layers}


def plot_feature_maps(
    model: Any,
    image: Any,
    layers: Sequence[str] = ("conv1", "conv2"),
    *,
    max_maps: int = 16,
    ncols: int = 8,
    fig: Any = None,
) -> Any:
    """The image, then the maps each named layer produces from it (one row block per layer)."""
    maps = feature_maps(model, image, layers)
    blocks = [(name, m[:max_maps]) for name, m in maps.items()]
    rows_per = [math.ceil(len(m) / ncols) for _, m in blocks]
    nrows = 1 + sum(rows_per)
    fig = _new_fig((1.1 * ncols, 1.15 * nrows + 0.3), fig)
    grid = fig.add_gridspec(nrows, ncols)
    img = _as_images(_np(image)[None] if _np(image).ndim == 3 else _np(image)[:1])[0]
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(img, cmap=None if img.ndim == 3 else "gray_r")
    ax.set_title("input", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    row = 1
    for (name, m), nr in zip(blocks, rows_per):
        arr = _np(m)
        for i in range(len(arr)):
            ax = fig.add_subplot(grid[row + i // ncols, i % ncols])
            ax.imshow(arr[i], cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"{name}[{i}]" if i == 0 else str(i)
            ax.set_title(label, fontsize=7)
        total = maps[name].shape[0]
        shape = "×".join(str(s) for s in maps[name].shape)
        fig.text(
            0.99,
            1 - (row + 0.05) / nrows,
            f"{name}: {shape}" + (f" (first {len(arr)})" if total > len(arr) else ""),
            ha="right",
            va="top",
            fontsize=8,
            color="0.3",
        )
        row += nr
    fig.suptitle("feature maps of one image")
    return fig


# --------------------------------------------------------------------------- LeNet-5's own pieces


def plot_scaled_tanh(amplitude: float = 1.7159, slope: float = 2 / 3, *, ax: Any = None) -> Any:
    """LeNet-5's squashing function A·tanh(S·a) next to tanh: f(±1) = ±1 and the
    slope is largest over the range the targets live in."""
    fig, ax = _new_ax((5.5, 3.6), ax)
    a = np.linspace(-4, 4, 401)
    ax.plot(a, np.tanh(a), color="0.5", label="tanh(a)")
    ax.plot(a, amplitude * np.tanh(slope * a), color=_BLUE, lw=2, label=f"{amplitude}·tanh({_fraction(slope)}·a)")
    ax.axhline(amplitude, color=_BLUE, ls=":", lw=1)
    ax.axhline(-amplitude, color=_BLUE, ls=":", lw=1)
    ax.plot(
        [-1, 1],
        [amplitude * np.tanh(-slope), amplitude * np.tanh(slope)],
        "o",
        color=_ORANGE,
        label=f"f(±1) = ±{amplitude * np.tanh(slope):.4f}",
    )
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("a (weighted sum)")
    ax.set_ylabel("f(a)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("LeNet-5's squashing function")
    return fig


def _fraction(v: float) -> str:
    from fractions import Fraction

    f = Fraction(v).limit_denominator(12)
    return f"{f.numerator}/{f.denominator}" if abs(float(f) - v) < 1e-9 and f.denominator != 1 else f"{v:g}"


def plot_c3_table(table: Sequence[Sequence[int]] = C3_TABLE, in_maps: Optional[int] = None, *, ax: Any = None) -> Any:
    """A connection table as a matrix: rows are input maps, columns output maps
    (the paper's Table I layout for C3), a filled cell where output map reads input map."""
    table = [tuple(r) for r in table]
    n_in = in_maps or (max(i for r in table for i in r) + 1)
    m = np.zeros((n_in, len(table)), dtype=int)
    for o, row in enumerate(table):
        for i in row:
            m[i, o] = 1
    fig, ax = _new_ax((0.42 * len(table) + 1.6, 0.42 * n_in + 1.4), ax)
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1.4)
    for i in range(n_in):
        for o in range(len(table)):
            if m[i, o]:
                ax.text(o, i, "X", ha="center", va="center", fontsize=9, color="white", fontweight="bold")
    ax.set_xticks(range(len(table)))
    ax.set_yticks(range(n_in))
    ax.set_xticks(np.arange(-0.5, len(table)), minor=True)
    ax.set_yticks(np.arange(-0.5, n_in), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("output map of C3")
    ax.set_ylabel("input map (S2)")
    ax.set_title(f"C3 connection table: {int(m.sum())} of {m.size} map pairs")
    return fig
