"""A drawing of a network, made from its description (so an edited spec draws too).

:func:`draw_network` draws every feature map as a block — a stack of sheets
when there are few maps (LeNet5, in the spirit of Figure 2 of LeCun et al.
1998), a box whose thickness is the number of maps otherwise (AlexNet, in
the spirit of Figure 2 of Krizhevsky et al. 2012) — then the fully connected
layers as columns. Under each arrow: the operation that makes the next block
(kernel and stride, pooling, the activation and normalisation after it,
dropout before it). Above each block: its name and size, ``C@H×W``.
Networks with ``groups=2`` layers (AlexNet ``paper``) are drawn as two
streams, one per GPU: a grouped layer reads only its own stream, an
ungrouped one (conv3, the fully connected layers) reads both.

Sizes are on compressed scales (square root of height and width, logarithm
of the number of maps and units) so that AlexNet's 227×227 input and its
6×6 maps fit one picture; the labels give the exact numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple, Union

from .arithmetic import Trace, trace
from .layers import Conv, Layer, NetSpec, Pool, pair

__all__ = ["Block", "network_blocks", "draw_network", "BLOCK_KINDS"]

#: Layer kinds that make a new block; activations, LRN, dropout and flatten are written on the arrows.
BLOCK_KINDS = ("conv", "pool", "adaptive_pool", "linear", "rbf")

_MIN_GAP = 1.2  # between blocks' labels, in data units
_FACE, _EDGE, _SIDE, _TOP, _COLUMN = "#dbe9f6", "#1f4e79", "#a9c6e3", "#c4daee", "#f6d7b8"


@dataclass(frozen=True)
class Block:
    """One drawn block: a layer's output (or the input)."""

    name: str
    shape: Tuple[int, ...]  # (C, H, W) for maps, (n,) for a fully connected layer
    op: str  # how it is made from the block before it ("" for the input)
    grouped: bool  # reads only its own stream (a groups=2 convolution, or pooling in a two-stream net)

    @property
    def is_map(self) -> bool:
        return len(self.shape) == 3 and self.shape[1] * self.shape[2] > 1

    def label(self, streams: int = 1, boxes: bool = False) -> str:
        """``name`` over ``C@H×W`` (or the number of units); ``2×48`` maps when split over two
        streams; with ``boxes`` the size goes on its own line (narrower)."""
        c = f"{streams}×{self.shape[0] // streams:,}" if streams > 1 else f"{self.shape[0]:,}"
        if len(self.shape) != 3:
            return f"{self.name}\n{c}"
        hw = f"{self.shape[1]}×{self.shape[2]}"
        if boxes:  # "maps" is left out of the split labels, which are narrower that way
            return f"{self.name}\n{c}{'' if streams > 1 else ' maps'}\n{hw}"
        return f"{self.name}\n{c}@{hw}"


def _kernel(layer: Union[Conv, Pool]) -> str:
    kh, kw = pair(layer.kernel)
    stride = pair(layer.stride if isinstance(layer, Conv) else layer.stride_or_kernel)
    text = f"{kh}×{kw}"
    if stride != (1, 1):
        text += f" /{stride[0]}" if stride[0] == stride[1] else f" /{stride[0]}×{stride[1]}"
    padding = layer.padding
    if padding not in (0, (0, 0), "valid"):
        text += f" pad {padding if isinstance(padding, (int, str)) else '×'.join(map(str, padding))}"
    return text


def _op(layer: Layer) -> str:
    if isinstance(layer, Conv):
        extra = ", table" if layer.table is not None else ""
        extra += f", groups {layer.groups}" if layer.groups > 1 else ""
        return f"conv {_kernel(layer)}{extra}"
    if isinstance(layer, Pool):
        name = {"max": "max pool", "avg": "avg pool", "subsample": "subsampling"}.get(layer.op, layer.op)
        return f"{name} {_kernel(layer)}"
    if layer.kind == "adaptive_pool":
        return f"adaptive {layer.op} pool"  # type: ignore[attr-defined]
    if layer.kind == "rbf":
        return "Gaussian connections"
    return "full connection"


def _extra(layer: Layer) -> str:
    if layer.kind == "act":
        return {"scaled_tanh": "squash"}.get(layer.fn, layer.fn)  # type: ignore[attr-defined]
    return {"lrn": "LRN", "batchnorm": "batch norm"}.get(layer.kind, "")


def network_blocks(t: Trace) -> List[Block]:
    """The blocks :func:`draw_network` draws for trace ``t``, in order."""
    two = _two_streams(t.spec)
    out = [Block("input", tuple(t.input_shape), "", False)]
    pending = ""
    for row in t.rows:
        layer = t.spec.layer(row.name)
        if row.kind in BLOCK_KINDS:
            grouped = two and (getattr(layer, "groups", 1) > 1 or row.kind in ("pool", "adaptive_pool"))
            out.append(Block(row.name, tuple(row.out_shape), pending + _op(layer), grouped))
            pending = ""
        elif row.kind == "dropout":
            pending += "dropout, "
        elif _extra(layer) and len(out) > 1:
            last = out[-1]
            out[-1] = Block(last.name, last.shape, f"{last.op}, {_extra(layer)}", last.grouped)
    return out


def _two_streams(spec: NetSpec) -> bool:
    return any(getattr(layer, "groups", 1) == 2 for layer in spec.features)


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Scale:
    side: float  # units per sqrt(pixel) of a map's height/width
    depth: float  # units per log2(maps + 1) of a box's thickness
    column: float  # units per log2(units + 1) of a column's height
    sheets: bool  # draw maps as sheets (few maps) or as boxes


def _scale(blocks: List[Block], max_height: float = 4.0) -> _Scale:
    maps = [b for b in blocks if b.is_map]
    side = max_height / math.sqrt(max(max(b.shape[1:]) for b in maps)) if maps else 1.0
    units = max([b.shape[0] for b in blocks if not b.is_map] or [1])
    sheets = all(b.shape[0] <= 32 for b in maps)
    return _Scale(side, 0.35, 0.8 * max_height / math.log2(units + 1), sheets)


def _size(b: Block, s: _Scale, split: int) -> Tuple[float, float]:
    """(width, height) of a block's drawing, ``split`` = number of streams it is divided over."""
    if not b.is_map:
        n = b.shape[0] if len(b.shape) == 1 else b.shape[0]
        return 0.35, s.column * math.log2(max(n // split, 1) + 1)
    c, h, w = b.shape
    c = max(c // split, 1)
    face_h, face_w = s.side * math.sqrt(h), s.side * math.sqrt(w)
    if s.sheets:
        step = min(0.15, 1.2 / c)
        return face_w + (c - 1) * step, face_h + (c - 1) * step
    return s.depth * math.log2(c + 1) + 0.5 * face_w, face_h + 0.5 * face_w


# --------------------------------------------------------------------------- drawing


def _draw_sheets(ax: Any, x: float, y: float, b: Block, s: _Scale, split: int) -> None:
    from matplotlib.patches import Rectangle

    c, h, w = b.shape
    c = max(c // split, 1)
    face_h, face_w = s.side * math.sqrt(h), s.side * math.sqrt(w)
    step = min(0.15, 1.2 / c)
    bottom = y - (face_h + (c - 1) * step) / 2
    for i in range(c):  # back to front
        k = c - 1 - i
        ax.add_patch(
            Rectangle(
                (x + k * step, bottom + k * step),
                face_w,
                face_h,
                facecolor=_FACE,
                edgecolor=_EDGE,
                linewidth=0.6,
                gid=b.name,
            )
        )


def _draw_box(ax: Any, x: float, y: float, b: Block, s: _Scale, split: int) -> None:
    from matplotlib.patches import Polygon

    c, h, w = b.shape
    c = max(c // split, 1)
    face_h, thick = s.side * math.sqrt(h), s.depth * math.log2(c + 1)
    off = 0.5 * s.side * math.sqrt(w)  # the width recedes at 45°
    x0, y0 = x, y - (face_h + off) / 2
    faces = (
        ([(x0, y0), (x0 + thick, y0), (x0 + thick, y0 + face_h), (x0, y0 + face_h)], _FACE),
        (
            [
                (x0, y0 + face_h),
                (x0 + thick, y0 + face_h),
                (x0 + thick + off, y0 + face_h + off),
                (x0 + off, y0 + face_h + off),
            ],
            _TOP,
        ),
        (
            [
                (x0 + thick, y0),
                (x0 + thick + off, y0 + off),
                (x0 + thick + off, y0 + face_h + off),
                (x0 + thick, y0 + face_h),
            ],
            _SIDE,
        ),
    )
    for points, colour in faces:
        ax.add_patch(Polygon(points, closed=True, facecolor=colour, edgecolor=_EDGE, linewidth=0.7, gid=b.name))


def _draw_block(ax: Any, x: float, y: float, b: Block, s: _Scale, split: int) -> Tuple[float, float]:
    from matplotlib.patches import Rectangle

    width, height = _size(b, s, split)
    if not b.is_map:
        ax.add_patch(
            Rectangle((x, y - height / 2), width, height, facecolor=_COLUMN, edgecolor=_EDGE, linewidth=0.7, gid=b.name)
        )
    elif s.sheets:
        _draw_sheets(ax, x, y, b, s, split)
    else:
        _draw_box(ax, x, y, b, s, split)
    return width, height


def _wrap(text: str, width: int = 16) -> str:
    lines: List[str] = []
    for word in text.replace(", ", ",\n").split("\n"):
        if lines and len(lines[-1]) + len(word) < width and not lines[-1].endswith(","):
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def _arrows(ax: Any, start: List[Tuple[float, float]], end: List[Tuple[float, float]], cross: bool) -> None:
    pairs = [(a, b) for a in start for b in end] if cross or len(start) != len(end) else list(zip(start, end))
    for a, b in pairs:
        ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", color="#555555", lw=0.8, shrinkA=1, shrinkB=1))


def _streams(b: Block, two: bool, last: bool, gap: float) -> List[float]:
    """The y centres of a block: one, or one per GPU in a two-stream drawing."""
    if not two or b.name == "input" or last:
        return [0.0]
    return [gap, -gap]


def _layout(blocks: List[Block], s: _Scale, two: bool, width: float) -> Tuple[List[float], float]:
    """Left edge of each block, and the right end: a block gets room for its label."""
    units_per_inch = 4.0
    for _ in range(3):  # the label widths depend on the scale, which depends on the total width
        char = 0.62 * 9 / 72 * units_per_inch  # one character of 9-point text, in data units
        xs, x = [], 0.0
        for i, b in enumerate(blocks):
            streams = 2 if two and b.name != "input" and i < len(blocks) - 1 else 1
            w = _size(b, s, streams)[0]
            room = max(w, char * max(map(len, b.label(streams, not s.sheets).splitlines())))
            xs.append(x + (room - w) / 2)
            x += room + _MIN_GAP
        units_per_inch = (x + 3.2) / width
    return xs, x


def draw_network(net: Union[NetSpec, Trace], *, ax: Any = None, title: Optional[str] = None, width: float = 9.5) -> Any:
    """Draw ``net`` (a :class:`NetSpec` or its :class:`Trace`); returns the ``Figure``.

    Every block's patches carry the layer name as ``gid``, and so do its label
    (``name:label``) and the text under its arrow (``name:op``), so tests (and
    readers) can find what was drawn."""
    t = net if isinstance(net, Trace) else trace(net)
    blocks = network_blocks(t)
    two = _two_streams(t.spec)
    s = _scale(blocks)
    gap = 0.5 * max(_size(b, s, 2)[1] for b in blocks) + 1.2 if two else 0.0
    fig, ax = _figure(ax, width, two)
    xs, right = _layout(blocks, s, two, width)
    previous, top, bottom, ops = [], 0.0, 0.0, []
    for i, (x, b) in enumerate(zip(xs, blocks)):
        ys = _streams(b, two, i == len(blocks) - 1, gap)
        for y in ys:
            w, h = _draw_block(ax, x, y, b, s, len(ys))
            top, bottom = max(top, y + h / 2), min(bottom, y - h / 2)
        ax.text(
            x + w / 2,
            max(ys) + h / 2 + 0.15,
            b.label(len(ys), not s.sheets),
            ha="center",
            va="bottom",
            fontsize=9,
            gid=f"{b.name}:label",
        )
        if previous:
            _arrows(ax, previous, [(x - 0.05, y) for y in ys], cross=not b.grouped)
            ops.append(((previous[0][0] + x) / 2, b))
        previous = [(x + w + 0.05, y) for y in ys]
    line = 0.155 * (right + 3.2) / width  # one line of 8.5-point text, in data units
    for i, (x_op, b) in enumerate(ops):  # two staggered rows, so that long texts do not collide
        ax.text(
            x_op,
            bottom - 0.3 - (i % 2) * 3.2 * line,
            _wrap(b.op),
            ha="center",
            va="top",
            fontsize=8.5,
            color="#333333",
            gid=f"{b.name}:op",
        )
    lines = max([_wrap(b.op).count("\n") + 1 for _, b in ops[1::2]] or [0])
    bottom -= 0.5 + (3.2 + lines * 1.05) * line
    if two:
        for y, gpu in ((gap, "GPU 1"), (-gap, "GPU 2")):
            ax.text(-1.0, y, gpu, ha="right", va="center", fontsize=9.5, color=_EDGE, gid="stream")
    top += 0.3 + (3.3 if not s.sheets else 2.3) * line
    _finish(ax, fig, right, top, bottom, width, title or f"{t.spec.title} at {'×'.join(map(str, t.input_shape))}")
    return fig


def _figure(ax: Any, width: float, two: bool) -> Tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, width * (0.45 if two else 0.3)), layout="constrained")
    return fig, ax


def _finish(ax: Any, fig: Any, right: float, top: float, bottom: float, width: float, title: str) -> None:
    ax.set_xlim(-3.2, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=11)
    span_x, span_y = right + 3.2, top - bottom
    fig.set_size_inches(width, max(2.6, min(0.9 * width, width * span_y / span_x + 0.5)))
