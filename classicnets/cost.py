"""Where a network's parameters live versus where its compute goes — plain Python.

Everything here is read off :func:`classicnets.arithmetic.trace`, so it needs
no torch and no forward pass:

* :func:`cost_breakdown` — each convolution's and fully connected layer's
  share of the parameters and of the multiply–accumulates (MACs), the group
  totals (AlexNet: the fully connected layers hold about 94% of the
  parameters, the convolutions do about 95% of the MACs) and a bar chart;
* :func:`training_memory` — what training needs to keep on the GPU: fp32
  weights, their gradients and SGD's momentum, plus the activations of a
  mini-batch stored for the backward pass, against the 3 GB of the GTX 580
  that AlexNet was trained on;
* :func:`two_gpu_split` — the paper's way out: every layer's kernels split
  between two GPUs, which exchange maps only at some layers; how much each
  GPU holds and how many values cross between them per image.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

from .arithmetic import Trace, trace
from .layers import LRN, Conv, NetSpec

#: Memory of one NVIDIA GTX 580 as used by Krizhevsky et al. (2012): "only 3GB".
GTX580_BYTES = 3 * 2**30

# --------------------------------------------------------------------------- parameters vs compute


@dataclass(frozen=True)
class LayerCost:
    """One weighted layer (convolution or fully connected)."""

    name: str
    kind: str  # "conv" or "linear"
    params: int
    macs: int
    param_share: float  # of the network's parameters, 0..1
    mac_share: float  # of the network's MACs, 0..1


def _as_trace(net: Any, input_shape: Optional[Tuple[int, int, int]] = None) -> Trace:
    """``net`` as a trace: a Trace itself, a NetSpec traced (at ``input_shape``), or a model that carries its spec
    (``SpecNet``, ``lenet5("paper")``: a ``.spec`` attribute). This module stays plain Python: any other
    ``nn.Module`` is traced by the torch adaptor first, ``classicnets.trace_module(net, (C, H, W))``."""
    if isinstance(net, Trace):
        return net
    spec = net if isinstance(net, NetSpec) else getattr(net, "spec", None)
    if isinstance(spec, NetSpec):
        return trace(spec if input_shape is None else spec.with_input(input_shape[1:], input_shape[0]))
    shape = f"{tuple(input_shape)}" if input_shape else "(C, H, W)"
    raise TypeError(
        f"cost reads a NetSpec or a Trace (plain Python), got {type(net).__name__}: trace the module first, "
        f"e.g. cost_breakdown(classicnets.trace_module(net, {shape}))"
    )


@dataclass(frozen=True)
class CostBreakdown:
    """Per-layer shares of parameters and MACs, and the totals by kind."""

    title: str
    input_shape: Tuple[int, ...]
    layers: Tuple[LayerCost, ...]
    total_params: int
    total_macs: int

    def _sum(self, kind: str, what: str) -> int:
        return sum(getattr(ly, what) for ly in self.layers if ly.kind == kind)

    @property
    def conv_params(self) -> int:
        return self._sum("conv", "params")

    @property
    def fc_params(self) -> int:
        return self._sum("linear", "params")

    @property
    def conv_macs(self) -> int:
        return self._sum("conv", "macs")

    @property
    def fc_macs(self) -> int:
        return self._sum("linear", "macs")

    @property
    def fc_param_share(self) -> float:
        """Fraction of all parameters held by the fully connected layers."""
        return self.fc_params / self.total_params if self.total_params else 0.0

    @property
    def conv_param_share(self) -> float:
        return self.conv_params / self.total_params if self.total_params else 0.0

    @property
    def conv_mac_share(self) -> float:
        """Fraction of all MACs done by the convolutions."""
        return self.conv_macs / self.total_macs if self.total_macs else 0.0

    @property
    def fc_mac_share(self) -> float:
        return self.fc_macs / self.total_macs if self.total_macs else 0.0

    def layer(self, name: str) -> LayerCost:
        for ly in self.layers:
            if ly.name == name:
                return ly
        raise KeyError(f"no weighted layer {name!r} in {self.title}; they are {[ly.name for ly in self.layers]}")

    def table(self) -> str:
        """A Markdown table: per layer, then the two groups."""
        lines = [
            "| layer | params | % of params | MACs | % of MACs | MACs per parameter |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for ly in self.layers:
            per = f"{ly.macs / ly.params:,.0f}" if ly.params else ""
            share_p, share_m = 100 * ly.param_share, 100 * ly.mac_share
            lines.append(f"| {ly.name} | {ly.params:,} | {share_p:.1f}% | {ly.macs:,} | {share_m:.1f}% | {per} |")
        for label, p, m in (
            ("**all convolutions**", self.conv_params, self.conv_macs),
            ("**all fully connected**", self.fc_params, self.fc_macs),
        ):
            lines.append(
                f"| {label} | {p:,} | **{100 * p / self.total_params:.1f}%** | {m:,} | "
                f"**{100 * m / self.total_macs:.1f}%** | {m / p:,.0f} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        return (
            f"{self.title} at {'×'.join(map(str, self.input_shape))}: {self.total_params:,} parameters, "
            f"{self.total_macs:,} MACs per image. Fully connected layers: {100 * self.fc_param_share:.1f}% of "
            f"the parameters, {100 * self.fc_mac_share:.1f}% of the MACs. Convolutions: "
            f"{100 * self.conv_param_share:.1f}% of the parameters, {100 * self.conv_mac_share:.1f}% of the MACs."
        )

    def plot(self, ax: Any = None) -> Any:
        """Bars: each layer's share of the parameters next to its share of the MACs."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(8, 3.4), constrained_layout=True)
        xs = list(range(len(self.layers)))
        p = [100 * ly.param_share for ly in self.layers]
        m = [100 * ly.mac_share for ly in self.layers]
        ax.bar([x - 0.2 for x in xs], p, width=0.4, label="% of parameters", color="C0")
        ax.bar([x + 0.2 for x in xs], m, width=0.4, label="% of MACs (compute)", color="C3")
        ax.set_xticks(xs, [ly.name for ly in self.layers])
        ax.set_ylabel("share of the network (%)")
        ax.set_title(
            f"{self.title}: fully connected layers hold {100 * self.fc_param_share:.0f}% of the parameters,\n"
            f"convolutions do {100 * self.conv_mac_share:.0f}% of the multiply–accumulates",
            fontsize=10,
        )
        ax.legend()
        n_conv = sum(ly.kind == "conv" for ly in self.layers)
        if 0 < n_conv < len(self.layers):
            ax.axvline(n_conv - 0.5, color="gray", lw=0.8, ls=":")
        return ax.figure


def cost_breakdown(net: Any, input_shape: Optional[Tuple[int, int, int]] = None) -> CostBreakdown:
    """Shares of parameters and MACs of every convolution and linear layer.

    ``net`` is a :class:`~classicnets.layers.NetSpec`, a
    :class:`~classicnets.arithmetic.Trace` (of any ``nn.Module``:
    :func:`classicnets.trace_module`) or a model that carries its spec.
    """
    t = _as_trace(net, input_shape)
    weighted = [r for r in t.rows if r.kind in ("conv", "linear")]
    tp, tm = t.total_params, t.total_macs
    layers = tuple(
        LayerCost(r.name, r.kind, r.params, r.macs, r.params / tp if tp else 0.0, r.macs / tm if tm else 0.0)
        for r in weighted
    )
    return CostBreakdown(t.spec.title, tuple(t.input_shape), layers, tp, tm)


# --------------------------------------------------------------------------- memory


def _fmt_bytes(n: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f} B"


#: Layers whose output a lean framework keeps for the backward pass.
_STORED_KINDS = ("conv", "pool", "adaptive_pool", "lrn", "linear", "dropout", "batchnorm")


def stored_values(t: Trace, in_place_activations: bool = True) -> Dict[str, int]:
    """Values per image kept from the forward pass for the backward pass, by layer.

    Counts the input image and every layer's output, except the flatten (a
    view) and — with ``in_place_activations`` — the activations, which a
    modern framework computes in place over their input (ReLU's backward only
    needs to know which outputs are positive). With
    ``in_place_activations=False`` every layer keeps its own output, as the
    2012 cuda-convnet did.
    """
    out = {"input": math.prod(t.input_shape)}
    kinds = _STORED_KINDS + (() if in_place_activations else ("act",))
    for r in t.rows:
        if r.kind in kinds:
            out[r.name] = math.prod(r.out_shape)
    return out


@dataclass(frozen=True)
class MemoryEstimate:
    """What training keeps on the GPU, in bytes."""

    title: str
    input_shape: Tuple[int, ...]
    batch_size: int
    bytes_per_value: int
    params: int
    optimizer_slots: int  # 1: SGD momentum
    values_per_image: int  # activations stored for backward, one image
    largest_map: int  # values in the largest single layer output, one image
    gpu_bytes: int

    @property
    def weights_bytes(self) -> int:
        return self.params * self.bytes_per_value

    @property
    def grads_bytes(self) -> int:
        return self.params * self.bytes_per_value

    @property
    def optimizer_bytes(self) -> int:
        return self.params * self.bytes_per_value * self.optimizer_slots

    @property
    def param_state_bytes(self) -> int:
        """Weights + gradients + optimizer state."""
        return self.weights_bytes + self.grads_bytes + self.optimizer_bytes

    @property
    def activations_per_image_bytes(self) -> int:
        return self.values_per_image * self.bytes_per_value

    @property
    def activation_bytes(self) -> int:
        """Activations of one mini-batch stored for the backward pass."""
        return self.activations_per_image_bytes * self.batch_size

    @property
    def backward_buffer_bytes(self) -> int:
        """Gradients flowing through the largest layer: its input and output gradients, one batch."""
        return 2 * self.largest_map * self.bytes_per_value * self.batch_size

    @property
    def total_bytes(self) -> int:
        return self.param_state_bytes + self.activation_bytes + self.backward_buffer_bytes

    @property
    def gpu_fraction(self) -> float:
        return self.total_bytes / self.gpu_bytes

    def rows(self) -> List[Tuple[str, int]]:
        return [
            (f"weights ({self.params:,} × {self.bytes_per_value} B)", self.weights_bytes),
            ("their gradients", self.grads_bytes),
            (
                "SGD momentum" if self.optimizer_slots == 1 else f"optimizer state ×{self.optimizer_slots}",
                self.optimizer_bytes,
            ),
            (
                f"activations kept for backward ({self.values_per_image:,} values/image × {self.batch_size})",
                self.activation_bytes,
            ),
            ("gradient buffers of the largest layer", self.backward_buffer_bytes),
        ]

    def table(self) -> str:
        lines = ["| what | memory | share of a 3 GB GTX 580 |", "|---|---:|---:|"]
        for label, b in self.rows():
            lines.append(f"| {label} | {_fmt_bytes(b)} | {100 * b / self.gpu_bytes:.1f}% |")
        lines.append(f"| **total** | **{_fmt_bytes(self.total_bytes)}** | **{100 * self.gpu_fraction:.1f}%** |")
        return "\n".join(lines)

    def summary(self) -> str:
        return (
            f"{self.title}, batch {self.batch_size}: parameters + gradients + momentum "
            f"{_fmt_bytes(self.param_state_bytes)}, activations {_fmt_bytes(self.activation_bytes)} "
            f"({_fmt_bytes(self.activations_per_image_bytes)} per image), total ≈ {_fmt_bytes(self.total_bytes)} = "
            f"{100 * self.gpu_fraction:.0f}% of a 3 GB GTX 580"
        )


def training_memory(
    net: Any,
    batch_size: int = 128,
    bytes_per_value: int = 4,
    optimizer_slots: int = 1,
    in_place_activations: bool = True,
    gpu_bytes: int = GTX580_BYTES,
    input_shape: Optional[Tuple[int, int, int]] = None,
) -> MemoryEstimate:
    """A lower-bound estimate of the GPU memory to train ``net`` with SGD + momentum.

    Counts fp32 weights, gradients and ``optimizer_slots`` buffers per
    parameter (1 for SGD's momentum, 2 for Adam), the activations of a
    ``batch_size`` mini-batch kept for the backward pass (see
    :func:`stored_values`) and the gradient buffers of the largest layer. It
    leaves out the framework's own workspace, the data waiting on the GPU
    and fragmentation: real use is higher. The paper's batch size was 128.
    """
    t = _as_trace(net, input_shape)
    stored = stored_values(t, in_place_activations)
    largest = max(math.prod(r.out_shape) for r in t.rows) if t.rows else 0
    return MemoryEstimate(
        title=t.spec.title,
        input_shape=tuple(t.input_shape),
        batch_size=batch_size,
        bytes_per_value=bytes_per_value,
        params=t.total_params,
        optimizer_slots=optimizer_slots,
        values_per_image=sum(stored.values()),
        largest_map=max(largest, math.prod(t.input_shape)),
        gpu_bytes=gpu_bytes,
    )


# --------------------------------------------------------------------------- the two-GPU split


@dataclass(frozen=True)
class SplitLayer:
    name: str
    kind: str
    params_per_gpu: int
    macs_per_gpu: int
    crosses: bool  # reads maps/units held by the other GPU
    values_in_per_gpu: int  # values per image each GPU receives from the other before this layer


@dataclass(frozen=True)
class TwoGPUSplit:
    """AlexNet as trained in 2012: each layer's kernels/units halved across two GPUs."""

    title: str
    layers: Tuple[SplitLayer, ...]
    total_params: int
    total_macs: int

    @property
    def params_per_gpu(self) -> int:
        return sum(ly.params_per_gpu for ly in self.layers)

    @property
    def macs_per_gpu(self) -> int:
        return sum(ly.macs_per_gpu for ly in self.layers)

    @property
    def crossing_layers(self) -> List[str]:
        return [ly.name for ly in self.layers if ly.crosses]

    @property
    def values_exchanged_per_image(self) -> int:
        """Values each GPU receives from the other per image (forward pass)."""
        return sum(ly.values_in_per_gpu for ly in self.layers)

    def table(self) -> str:
        lines = [
            "| layer | params per GPU | MACs per GPU | reads the other GPU? | values received per image |",
            "|---|---:|---:|---|---:|",
        ]
        for ly in self.layers:
            crosses = "yes" if ly.crosses else "no"
            lines.append(
                f"| {ly.name} | {ly.params_per_gpu:,} | {ly.macs_per_gpu:,} | {crosses} | {ly.values_in_per_gpu:,} |"
            )
        crossing = f"{len(self.crossing_layers)} of {len(self.layers)} layers"
        lines.append(
            f"| **total** | **{self.params_per_gpu:,}** | **{self.macs_per_gpu:,}** | {crossing} "
            f"| **{self.values_exchanged_per_image:,}** |"
        )
        return "\n".join(lines)


def two_gpu_split(spec: Union[NetSpec, Trace]) -> TwoGPUSplit:
    """Split a ``groups=2`` network (``alexnet_spec("paper")``) over two GPUs as the paper did.

    Every convolution and linear layer keeps half of its output kernels/units
    on each GPU. A grouped convolution (``groups=2``) reads only its own
    GPU's maps; an ungrouped layer after the first one (conv3, fc1–fc3 in the
    paper) reads all maps, so each GPU first receives the other's half of
    its input. conv1 reads the image, which both GPUs hold.
    """
    t = spec if isinstance(spec, Trace) else trace(spec)
    layers: List[SplitLayer] = []
    first = True
    for r in t.rows:
        if r.kind not in ("conv", "linear"):
            continue
        layer = t.spec.layer(r.name)
        grouped = isinstance(layer, Conv) and layer.groups == 2
        crosses = not grouped and not first
        values_in = math.prod(r.in_shape) // 2 if crosses else 0
        layers.append(SplitLayer(r.name, r.kind, r.params // 2, r.macs // 2, crosses, values_in))
        first = False
    return TwoGPUSplit(t.spec.title, tuple(layers), t.total_params, t.total_macs)


__all__ = [
    "GTX580_BYTES",
    "LayerCost",
    "CostBreakdown",
    "cost_breakdown",
    "stored_values",
    "MemoryEstimate",
    "training_memory",
    "SplitLayer",
    "TwoGPUSplit",
    "two_gpu_split",
]


# --------------------------------------------------------------------------- communication: model vs data parallel


@dataclass(frozen=True)
class Exchange:
    """Values one rank sends the other per image, in the forward pass, before (or inside) one layer."""

    layer: str  # where it happens: a layer reading both halves, an LRN's border, or "logits"
    why: str
    values_per_image: int


@dataclass(frozen=True)
class SplitTraffic:
    """The 2012 two-GPU split counted per rank: what it sends, what it holds (:func:`split_traffic`)."""

    title: str
    input_shape: Tuple[int, ...]
    exchanges: Tuple[Exchange, ...]
    params_per_rank: int
    kept_per_image: Dict[str, int]  # values one rank keeps for the backward pass, by layer

    @property
    def values_sent_per_image(self) -> int:
        return sum(e.values_per_image for e in self.exchanges)

    def bytes_sent_per_image(self, bytes_per_value: int = 4) -> Dict[str, int]:
        return {e.layer: e.values_per_image * bytes_per_value for e in self.exchanges}

    def training_bytes(self, batch_size: int = 128, bytes_per_value: int = 4, optimizer_slots: int = 1) -> int:
        """One rank's weights, gradients and optimizer state plus the batch's kept activations."""
        per_param = (2 + optimizer_slots) * bytes_per_value
        return self.params_per_rank * per_param + sum(self.kept_per_image.values()) * bytes_per_value * batch_size

    def table(self, bytes_per_value: int = 4) -> str:
        lines = ["| where | why | values sent per image | bytes per image |", "|---|---|---:|---:|"]
        for e in self.exchanges:
            lines.append(f"| {e.layer} | {e.why} | {e.values_per_image:,} | {e.values_per_image * bytes_per_value:,} |")
        total = self.values_sent_per_image
        lines.append(f"| **total** | | **{total:,}** | **{total * bytes_per_value:,}** |")
        return "\n".join(lines)


def split_traffic(spec: Union[NetSpec, Trace], lrn_border: bool = True) -> SplitTraffic:
    """Per rank and per image: what the two-rank split of a ``groups=2`` network sends and keeps.

    Built on :func:`two_gpu_split`: before every layer that reads both halves
    a rank sends its half of that layer's input; an LRN (``lrn_border``)
    sends the ``size // 2`` border maps its neighbour's window reaches; at the
    end each rank sends its half of the logits. Kept for the backward pass
    (as :func:`stored_values` counts them): the whole input image, half of
    every stored layer output and the other rank's half of every gathered
    input.
    """
    t = spec if isinstance(spec, Trace) else trace(spec)
    split = two_gpu_split(t)
    crossing = {l.name: l.values_in_per_gpu for l in split.layers if l.crosses}
    exchanges: List[Exchange] = []
    kept: Dict[str, int] = {}
    stored = stored_values(t)
    for r in t.rows:
        layer = t.spec.layer(r.name)
        if r.name in crossing:
            exchanges.append(Exchange(r.name, "reads both halves of its input", crossing[r.name]))
            kept[f"{r.name} input from the other rank"] = crossing[r.name]
        if isinstance(layer, LRN) and lrn_border:
            _, h, w = r.in_shape
            exchanges.append(Exchange(r.name, f"border maps of a {layer.size}-map window", layer.size // 2 * h * w))
        if r.name in stored:
            kept[r.name] = stored[r.name] // 2
    exchanges.append(Exchange("logits", "each rank computed half the classes", math.prod(t.rows[-1].out_shape) // 2))
    kept = {"input": stored["input"], **kept}
    return SplitTraffic(t.spec.title, tuple(t.input_shape), tuple(exchanges), split.params_per_gpu, kept)


def allreduce_bytes(params: int, world: int = 2, bytes_per_value: int = 4) -> int:
    """Bytes one rank sends to all-reduce ``params`` gradients with a ring: 2(N-1)/N of them (N = world)."""
    return 2 * (world - 1) * params * bytes_per_value // world


@dataclass(frozen=True)
class LayerTraffic:
    name: str
    kind: str
    params: int
    data_parallel_bytes: int  # per step per rank: all-reduce of this layer's gradients
    model_parallel_bytes: int  # per step per rank: this layer's exchanges, forward + backward, whole batch


def parallel_traffic(
    spec: Union[NetSpec, Trace], batch_size: int = 128, world: int = 2, bytes_per_value: int = 4
) -> List[LayerTraffic]:
    """Per weighted layer: bytes one rank sends per training step under data vs model parallelism.

    Data parallel: the ring all-reduce of the layer's gradients
    (:func:`allreduce_bytes`), whatever the batch. Model parallel (the 2012
    split, :func:`split_traffic`): the values exchanged at that layer (an LRN
    border counts with the convolution before it, the logits with the last
    layer) times the batch, twice — forward maps, then their gradients back.
    """
    split = split_traffic(spec)
    t = spec if isinstance(spec, Trace) else trace(spec)
    weighted = [r for r in t.rows if r.kind in ("conv", "linear")]
    owner: Dict[str, str] = {}
    current = weighted[0].name
    for r in t.rows:
        current = r.name if r.kind in ("conv", "linear") else current
        owner[r.name] = current
    owner["logits"] = weighted[-1].name
    sent: Dict[str, int] = defaultdict(int)
    for e in split.exchanges:
        sent[owner[e.layer]] += e.values_per_image
    return [
        LayerTraffic(
            r.name,
            r.kind,
            r.params,
            allreduce_bytes(r.params, world, bytes_per_value),
            2 * sent[r.name] * batch_size * bytes_per_value,
        )
        for r in weighted
    ]


def traffic_table(rows: List[LayerTraffic]) -> str:
    """Markdown: each layer's bytes per step under both schemes, and which sends less."""
    header = (
        "| layer | parameters | data parallel: gradients all-reduced | model parallel: maps exchanged | sends less |"
    )
    lines = [header, "|---|---:|---:|---:|---|"]
    for r in rows:
        less = "data parallel" if r.data_parallel_bytes < r.model_parallel_bytes else "model parallel"
        lines.append(
            f"| {r.name} | {r.params:,} | {_fmt_bytes(r.data_parallel_bytes)} | "
            f"{_fmt_bytes(r.model_parallel_bytes)} | {less} |"
        )
    for kind, label in (("conv", "all convolutions"), ("linear", "all fully connected")):
        dp = sum(r.data_parallel_bytes for r in rows if r.kind == kind)
        mp = sum(r.model_parallel_bytes for r in rows if r.kind == kind)
        p = sum(r.params for r in rows if r.kind == kind)
        lines.append(f"| **{label}** | {p:,} | **{_fmt_bytes(dp)}** | **{_fmt_bytes(mp)}** | |")
    return "\n".join(lines)


__all__ += [
    "Exchange",
    "LayerTraffic",
    "SplitTraffic",
    "allreduce_bytes",
    "parallel_traffic",
    "split_traffic",
    "traffic_table",
]
