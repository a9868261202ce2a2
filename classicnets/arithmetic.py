"""Shape, parameter, MAC and receptive-field arithmetic — plain Python.

The rules are PyTorch's (``torch.nn.Conv2d``, ``MaxPool2d``, ``AvgPool2d``),
checked against PyTorch's own ops by property tests in
``tests/test_arithmetic_properties.py``:

* convolution: ``out = floor((n + 2p − d(k−1) − 1) / s) + 1``, ``p`` per side;
* pooling: the same, or with ``ceil`` in ``ceil_mode`` — but then the last
  window must start inside the input or its left padding; padding may be at
  most half the kernel.

MACs (multiply–accumulates) count the weight multiplications of
convolutions and linear layers (plus LeNet-5's one multiply per subsampled
unit and one square per RBF input): no bias additions, no max/avg pooling, no
activations — the convention of the AlexNet literature and of torchinfo
without its bias terms. "Connections" is LeCun et al.'s count (weights *and* bias per
output unit, shared or not), the number the 1998 paper quotes per layer.

Impossible settings raise :class:`ArchitectureError`, whose message names the
layer, the numbers and a fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .layers import (
    LRN,
    RBF,
    Act,
    AdaptivePool,
    ArchitectureError,
    BatchNorm,
    Conv,
    Dropout,
    Flatten,
    Layer,
    Linear,
    NetSpec,
    Pool,
    flag,
    pair,
    whole,
)

Shape = Tuple[int, ...]
#: What each layer kind's step returns: out shape, params, MACs, connections, detail, window span, stride.
Step = Tuple[Shape, int, int, int, str, Tuple[int, int], Tuple[int, int]]


# --------------------------------------------------------------------------- one dimension


def _check_positive(layer: str, **values: int) -> None:
    for what, v in values.items():
        if v < 1:
            raise ArchitectureError(layer, f"{what} must be at least 1, got {v}: use a positive {what}")


def _whole_args(layer: str, **values: object) -> List[int]:
    return [whole(v, what, layer) for what, v in values.items()]


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, *, layer: str = "conv"
) -> int:
    """Output length of a convolution along one axis (PyTorch's rule).

    Every argument must be a whole number (``2.5``, ``"3"``, ``None``, ``True`` raise
    :class:`ArchitectureError` naming it)."""
    size, kernel, stride, padding, dilation = _whole_args(
        layer, input=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation
    )
    _check_positive(layer, input=size, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0:
        raise ArchitectureError(layer, f"padding must be 0 or more, got {padding}: use padding ≥ 0")
    span = dilation * (kernel - 1) + 1
    padded = size + 2 * padding
    if span > padded:
        what = f"kernel {kernel}" if dilation == 1 else f"dilated kernel {span} ({dilation}×({kernel}−1)+1)"
        raise ArchitectureError(
            layer,
            f"{what} is larger than its padded input {padded} ({size} + 2×{padding}): lower the kernel or add padding",
        )
    return (padded - span) // stride + 1


def pool_output_size(
    size: int,
    kernel: int,
    stride: Optional[int] = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    *,
    layer: str = "pool",
) -> int:
    """Output length of max/avg pooling along one axis (PyTorch's rule); ``ceil_mode`` must be a bool."""
    stride = kernel if stride is None else stride
    size, kernel, stride, padding, dilation = _whole_args(
        layer, input=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation
    )
    ceil_mode = flag(ceil_mode, "ceil_mode", layer)
    _check_positive(layer, input=size, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0:
        raise ArchitectureError(layer, f"padding must be 0 or more, got {padding}: use padding ≥ 0")
    if padding > kernel // 2:
        raise ArchitectureError(
            layer,
            f"padding {padding} is more than half the kernel {kernel}: use padding ≤ {kernel // 2} or a larger kernel",
        )
    span = dilation * (kernel - 1) + 1
    padded = size + 2 * padding
    if ceil_mode:
        out = -((span - padded) // stride) + 1  # ceil((padded - span) / stride) + 1
        if (out - 1) * stride >= size + padding:  # last window must start inside
            out -= 1
    else:
        out = (padded - span) // stride + 1
    if out < 1:
        what = f"kernel {kernel}" if dilation == 1 else f"dilated kernel {span}"
        raise ArchitectureError(
            layer,
            f"{what} is larger than its padded input {padded} ({size} + 2×{padding}): lower the kernel or add padding",
        )
    return out


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """One layer of a traced network."""

    name: str
    kind: str
    detail: str
    in_shape: Shape
    out_shape: Shape
    params: int
    macs: int
    connections: int
    rf: Optional[Tuple[int, int]]  # receptive field (h, w) in input pixels
    jump: Optional[Tuple[int, int]]  # distance in input pixels between neighbouring outputs

    def as_dict(self) -> Dict[str, object]:
        return {
            "layer": self.name,
            "kind": self.kind,
            "detail": self.detail,
            "output": _fmt_shape(self.out_shape),
            "params": self.params,
            "macs": self.macs,
            "connections": self.connections,
            "rf": None if self.rf is None else _fmt_hw(self.rf),
            "jump": None if self.jump is None else _fmt_hw(self.jump),
        }


def _fmt_shape(shape: Shape) -> str:
    return "×".join(str(s) for s in shape)


def _fmt_hw(hw: Tuple[int, int]) -> str:
    return str(hw[0]) if hw[0] == hw[1] else f"{hw[0]}×{hw[1]}"


@dataclass(frozen=True)
class Trace:
    """A network traced at one input shape: a row per layer, plus totals."""

    spec: NetSpec
    rows: Tuple[Row, ...]

    @property
    def input_shape(self) -> Shape:
        return self.spec.input_shape

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1].out_shape if self.rows else self.spec.input_shape

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def total_connections(self) -> int:
        return sum(r.connections for r in self.rows)

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no layer {name!r} in {self.spec.title}")

    def flatten_size(self) -> int:
        """Features entering the classifier (what a hard-coded fc1 guesses)."""
        n = len(self.spec.features)
        return math.prod(self.rows[n - 1].out_shape) if n else math.prod(self.spec.input_shape)

    def as_dicts(self, kinds: Optional[Sequence[str]] = None) -> List[Dict[str, object]]:
        return [r.as_dict() for r in self.rows if kinds is None or r.kind in kinds]

    def table(
        self,
        kinds: Optional[Sequence[str]] = ("conv", "pool", "adaptive_pool", "linear", "rbf"),
        columns: Sequence[str] = ("kind", "detail", "output", "params", "macs", "rf", "jump"),
    ) -> str:
        """A Markdown table, one row per layer of the given ``kinds`` (None: all),
        with the chosen ``columns`` of :data:`TABLE_COLUMNS` (the chapters
        display it with IPython's ``Markdown``)."""
        unknown = [c for c in columns if c not in TABLE_COLUMNS]
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}: choose from {', '.join(TABLE_COLUMNS)}")
        totals = {"params": self.total_params, "macs": self.total_macs, "connections": self.total_connections}
        start = {"output": _fmt_shape(self.input_shape), "rf": "1", "jump": "1"}

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(cells) + " |"

        lines = [line(["layer"] + [TABLE_COLUMNS[c] for c in columns]), "|" + "---|" * (len(columns) + 1)]
        lines.append(line(["input"] + [start.get(c, "") for c in columns]))
        for r in self.rows:
            if kinds is None or r.kind in kinds:
                d = r.as_dict()
                lines.append(line([r.name] + [_cell(d[c]) for c in columns]))
        lines.append(line(["**total**"] + [f"**{totals[c]:,}**" if c in totals else "" for c in columns]))
        return "\n".join(lines)


#: The columns :meth:`Trace.table` can show, with their headings.
TABLE_COLUMNS = {
    "kind": "kind",
    "detail": "detail",
    "output": "output",
    "params": "params",
    "macs": "MACs",
    "connections": "connections",
    "rf": "receptive field",
    "jump": "jump",
}


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:,}" if isinstance(value, int) else str(value)


# --------------------------------------------------------------------------- tracing


def _conv_hw(layer: Conv, h: int, w: int) -> Tuple[int, int]:
    """Output height and width of a convolution, ``padding`` a number or 'valid'/'same'."""
    kh, kw = pair(layer.kernel)
    sh, sw = pair(layer.stride)
    dh, dw = pair(layer.dilation)
    name = layer.name
    if not isinstance(layer.padding, str):
        ph, pw = pair(layer.padding)
        return conv_output_size(h, kh, sh, ph, dh, layer=name), conv_output_size(w, kw, sw, pw, dw, layer=name)
    if layer.padding == "valid":
        return conv_output_size(h, kh, sh, 0, dh, layer=name), conv_output_size(w, kw, sw, 0, dw, layer=name)
    if layer.padding == "same":
        if (sh, sw) != (1, 1):
            raise ArchitectureError(
                name, f"padding='same' needs stride 1, got stride {layer.stride}: use stride 1 or a number for padding"
            )
        return h, w
    raise ArchitectureError(name, f"padding {layer.padding!r} is not 'valid', 'same' or a number")


def _conv_links(layer: Conv, c: int) -> int:
    """How many (input map, output map) pairs have a kernel: all, per group, or the table's."""
    g, name = layer.groups, layer.name
    _check_positive(name, out_channels=layer.out_channels, groups=g)
    if layer.table is None:
        if c % g or layer.out_channels % g:
            raise ArchitectureError(
                name,
                f"groups={g} must divide both the input channels {c} and the output channels "
                f"{layer.out_channels}: pick groups among the common divisors",
            )
        return layer.out_channels * (c // g)
    if len(layer.table) != layer.out_channels:
        raise ArchitectureError(
            name,
            f"connection table has {len(layer.table)} rows for {layer.out_channels} output maps: give one row per map",
        )
    bad = [i for row in layer.table for i in row if not 0 <= i < c]
    if bad:
        raise ArchitectureError(
            name, f"connection table reads input map {bad[0]} but there are only {c} input maps (0…{c - 1})"
        )
    return sum(len(row) for row in layer.table)


def _conv_detail(layer: Conv, links: int, c: int) -> str:
    kh, kw = pair(layer.kernel)
    if isinstance(layer.padding, str):
        pad = f", pad {layer.padding}"
    else:
        pad = "" if pair(layer.padding) == (0, 0) else f", pad {_fmt_hw(pair(layer.padding))}"
    dil = "" if pair(layer.dilation) == (1, 1) else f", dilation {_fmt_hw(pair(layer.dilation))}"
    grp = "" if layer.groups == 1 else f", groups {layer.groups}"
    tab = "" if layer.table is None else f", partial ({links} of {layer.out_channels * c} map pairs)"
    return f"{kh}×{kw}, stride {_fmt_hw(pair(layer.stride))}{pad}{dil}{grp}{tab}"


def _conv(layer: Conv, shape: Shape) -> Step:
    c, h, w = shape
    links = _conv_links(layer, c)
    oh, ow = _conv_hw(layer, h, w)
    kh, kw = pair(layer.kernel)
    dh, dw = pair(layer.dilation)
    weights = links * kh * kw
    params = weights + (layer.out_channels if layer.bias else 0)
    positions = oh * ow
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    return (
        (layer.out_channels, oh, ow),
        params,
        positions * weights,
        positions * params,
        _conv_detail(layer, links, c),
        span,
        pair(layer.stride),
    )


def _pool(layer: Pool, shape: Shape) -> Step:
    c, h, w = shape
    kh, kw = pair(layer.kernel)
    sh, sw = pair(layer.stride_or_kernel)
    ph, pw = pair(layer.padding)
    dh, dw = pair(layer.dilation)
    if layer.op not in ("max", "avg", "subsample"):
        raise ArchitectureError(layer.name, f"pooling op {layer.op!r} is not 'max', 'avg' or 'subsample'")
    if layer.op != "max" and (dh, dw) != (1, 1):
        raise ArchitectureError(layer.name, f"{layer.op} pooling has no dilation: use dilation 1")
    oh = pool_output_size(h, kh, sh, ph, dh, layer.ceil_mode, layer=layer.name)
    ow = pool_output_size(w, kw, sw, pw, dw, layer.ceil_mode, layer=layer.name)
    params = 2 * c if layer.op == "subsample" else 0
    per_unit = kh * kw + (1 if layer.op == "subsample" else 0)
    connections = c * oh * ow * per_unit
    macs = c * oh * ow if layer.op == "subsample" else 0
    pad = "" if (ph, pw) == (0, 0) else f", pad {_fmt_hw((ph, pw))}"
    dil = "" if (dh, dw) == (1, 1) else f", dilation {_fmt_hw((dh, dw))}"
    ceil = ", ceil" if layer.ceil_mode else ""
    detail = f"{layer.op} {kh}×{kw}, stride {_fmt_hw((sh, sw))}{pad}{dil}{ceil}"
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    return (c, oh, ow), params, macs, connections, detail, span, (sh, sw)


def _adaptive_window(n: int, o: int) -> int:
    """Widest window of PyTorch's adaptive pooling: [floor(i·n/o), ceil((i+1)·n/o))."""
    return max(-(-(i + 1) * n // o) - (i * n // o) for i in range(o))


def _adaptive(layer: AdaptivePool, shape: Shape) -> Step:
    c, h, w = shape
    oh, ow = pair(layer.output)
    _check_positive(layer.name, output=min(oh, ow))
    kh, kw = _adaptive_window(h, oh), _adaptive_window(w, ow)
    sh, sw = max(h // oh, 1), max(w // ow, 1)
    detail = f"adaptive {layer.op} → {oh}×{ow}"
    return (c, oh, ow), 0, 0, c * oh * ow * kh * kw, detail, (kh, kw), (sh, sw)


def _flat(layer: Linear | RBF, shape: Shape) -> Tuple[Shape, int, int, int, str]:
    """A Linear or RBF layer on a flat vector: out shape, params, MACs, connections, detail."""
    if len(shape) == 3:
        raise ArchitectureError(layer.name, f"needs a flat vector but gets a {_fmt_shape(shape)} map: flatten first")
    n_in, n_out = shape[0], layer.out_features
    _check_positive(layer.name, out_features=n_out)
    if isinstance(layer, Linear):
        params = n_in * n_out + (n_out if layer.bias else 0)
        return (n_out,), params, n_in * n_out, params, f"{n_in} → {n_out}"
    return (n_out,), 0, n_in * n_out, n_in * n_out, f"{n_in} → {n_out}, fixed ±1 codes"


def _same_size(layer: Layer, shape: Shape) -> Tuple[int, str]:
    """Layers that keep the shape: their parameters and detail."""
    if isinstance(layer, BatchNorm):
        return 2 * shape[0], "batch norm"
    if isinstance(layer, LRN):
        if len(shape) != 3:
            raise ArchitectureError(layer.name, "local response normalisation needs C×H×W maps")
        return 0, f"n={layer.size}, α={layer.alpha:g}, β={layer.beta:g}, k={layer.k:g}"
    if isinstance(layer, Act):
        return 0, layer.fn
    if isinstance(layer, Dropout):
        return 0, f"p={layer.p:g}"
    raise ArchitectureError(layer.name, f"unknown layer type {type(layer).__name__}")


_SPATIAL = {Conv: _conv, Pool: _pool, AdaptivePool: _adaptive}


def _row(
    layer: Layer, shape: Shape, rf: Tuple[int, int], jump: Tuple[int, int]
) -> Tuple[Row, Tuple[int, int], Tuple[int, int]]:
    """One layer's row, and the receptive field and jump after it."""
    params = macs = connections = 0
    step = _SPATIAL.get(type(layer))
    if step is not None:
        if len(shape) != 3:
            raise ArchitectureError(
                layer.name, f"needs a C×H×W map but gets a flat vector of {shape[0]}: move it before the flatten"
            )
        out, params, macs, connections, detail, span, stride = step(layer, shape)  # type: ignore[operator]
        rf = (rf[0] + (span[0] - 1) * jump[0], rf[1] + (span[1] - 1) * jump[1])
        jump = (jump[0] * stride[0], jump[1] * stride[1])
    elif isinstance(layer, Flatten):
        out, detail = (math.prod(shape),), "to a vector"
    elif isinstance(layer, (Linear, RBF)):
        out, params, macs, connections, detail = _flat(layer, shape)
    else:
        out = shape
        params, detail = _same_size(layer, shape)
    spatial = len(out) == 3
    row = Row(
        name=layer.name,
        kind=layer.kind,
        detail=detail,
        in_shape=shape,
        out_shape=out,
        params=params,
        macs=macs,
        connections=connections,
        rf=rf if spatial else None,
        jump=jump if spatial else None,
    )
    return row, rf, jump


def trace(spec: NetSpec) -> Trace:
    """Trace ``spec`` at its input shape: one :class:`Row` per layer.

    Raises :class:`ArchitectureError` naming the first layer that cannot work.
    """
    shape: Shape = tuple(spec.input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ArchitectureError("input", f"input shape must be (channels, height, width) ≥ 1, got {shape}")
    rf, jump = (1, 1), (1, 1)
    rows: List[Row] = []
    for layer in spec.layers:
        row, rf, jump = _row(layer, shape, rf, jump)
        rows.append(row)
        shape = row.out_shape
    return Trace(spec=spec, rows=tuple(rows))


def flatten_size(spec: NetSpec) -> int:
    """How many features the classifier receives at ``spec.input_shape``."""
    return trace(NetSpec(spec.name, spec.variant, spec.input_shape, spec.features)).flatten_size()


def linear_inputs(spec: NetSpec) -> Dict[str, int]:
    """Input width of each Linear/RBF layer: what the module builder needs."""
    t = trace(spec)
    return {r.name: r.in_shape[0] for r in t.rows if r.kind in ("linear", "rbf")}


__all__ = [
    "ArchitectureError",
    "Step",
    "conv_output_size",
    "pool_output_size",
    "Row",
    "Trace",
    "trace",
    "flatten_size",
    "linear_inputs",
]
