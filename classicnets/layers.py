"""Plain-Python descriptions of layers and networks (no torch needed).

A network is described once, as a :class:`NetSpec`: an input shape, a tuple of
``features`` layers (working on ``C×H×W`` maps) and a tuple of ``classifier``
layers (working on flat vectors). The same description builds the
``nn.Module`` (``classicnets.models``), drives the shape/parameter/MAC
arithmetic (``classicnets.arithmetic``), the widgets, the tables and the
kernel-free explorer of the rendered book, so they cannot disagree.

Sizes follow PyTorch's conventions: ``padding`` is per side, ``stride`` of a
pooling layer defaults to its kernel, an int means the same value for height
and width and a pair means ``(height, width)``.

Every value is checked where it enters (a layer's constructor, ``with_layer``,
``with_input``): a size that is not a whole number (``2.5``, ``nan``, ``"3"``,
``None``, ``True``) raises :class:`ArchitectureError` naming the layer, the
argument and the value; it is never truncated. Whether the numbers *fit*
together (a kernel larger than its input...) is :mod:`classicnets.arithmetic`'s job.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from typing import ClassVar, Dict, Optional, Tuple, Union

IntPair = Union[int, Tuple[int, int]]
#: What a layer's ``to_dict`` holds: JSON-ready values.
JsonValue = Union[None, bool, int, float, str, list]


class ArchitectureError(ValueError):
    """A layer cannot work with the input or the settings it is given. ``layer`` names it."""

    def __init__(self, layer: str, message: str) -> None:
        super().__init__(f"{layer}: {message}")
        self.layer = layer


def _shown(value: object) -> str:
    kind = type(value).__name__
    return (
        f"{value!r} (a {kind})" if not isinstance(value, numbers.Integral) or isinstance(value, bool) else repr(value)
    )


def whole(value: object, what: str, layer: str = "", *, example: int = 3) -> int:
    """``value`` as an ``int`` when it is a whole number (``int``, numpy integer), else
    :class:`ArchitectureError`: ``2.5``, ``nan``, ``"3"``, ``None`` and ``True`` are refused,
    never truncated."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    hint = ""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        hint = f" (write {int(value)})"
    elif isinstance(value, str):
        try:  # "3" gets a hint; "²" passes str.isdigit() but is no number int() reads
            hint = f" (write {int(value)} without quotes)"
        except ValueError:
            pass
    raise ArchitectureError(
        layer or what, f"{what} must be a whole number, got {_shown(value)}: use an int such as {what}={example}{hint}"
    )


def pair(value: object, what: str = "size", layer: str = "", *, example: int = 3) -> Tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``; anything else raises :class:`ArchitectureError`."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ArchitectureError(
                layer or what, f"{what} must be an int or a pair (height, width), got {value!r}: use e.g. {what}=3"
            )
        return whole(value[0], what, layer, example=example), whole(value[1], what, layer, example=example)
    n = whole(value, what, layer, example=example)
    return n, n


def flag(value: object, what: str, layer: str = "") -> bool:
    """``value`` when it is a bool; ``0``, ``"False"``, ``None``... are refused (``"False"`` is truthy)."""
    if isinstance(value, bool):
        return value
    raise ArchitectureError(layer or what, f"{what} must be True or False, got {_shown(value)}: use {what}=False")


def _fraction(value: object, what: str, layer: str) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= float(value) <= 1
    if not ok:
        raise ArchitectureError(layer, f"{what} must be a number from 0 to 1, got {_shown(value)}: use e.g. {what}=0.5")
    return float(value)


def _check_table(table: object, layer: str) -> None:
    """LeNet-5's connection table: a tuple of rows of input-map indices, no index twice in a row."""
    if not isinstance(table, (tuple, list)) or not all(isinstance(row, (tuple, list)) for row in table):
        raise ArchitectureError(
            layer, f"table must be a tuple of rows of input maps, got {table!r}: use e.g. table=((0, 1, 2), (1, 2, 3))"
        )
    for o, row in enumerate(table):
        seen = set()
        for i in row:
            i = whole(i, f"table[{o}] entry", layer, example=0)
            if i in seen:
                raise ArchitectureError(
                    layer,
                    f"connection table row {o} {tuple(row)!r} lists input map {i} twice: "
                    "list each input map once per row",
                )
            seen.add(i)


@dataclass(frozen=True)
class Layer:
    """Base of every layer description; ``name`` is unique within a network."""

    name: str
    kind: ClassVar[str] = "layer"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ArchitectureError(str(self.name), f"a layer's name must be a non-empty string, got {self.name!r}")
        self._check()

    def _check(self) -> None:
        """Refuse a value of the wrong type (subclasses check their own fields)."""

    def to_dict(self) -> Dict[str, JsonValue]:
        out: Dict[str, JsonValue] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out


@dataclass(frozen=True)
class Conv(Layer):
    """2-D convolution. ``table[o]`` (optional) lists the input maps that
    output map ``o`` reads: LeNet-5's partial connections of layer C3."""

    out_channels: int = 1
    kernel: IntPair = 3
    stride: IntPair = 1
    padding: Union[IntPair, str] = 0  # per side, or "valid" / "same"
    dilation: IntPair = 1
    groups: int = 1
    bias: bool = True
    table: Optional[Tuple[Tuple[int, ...], ...]] = None
    kind: ClassVar[str] = "conv"

    def _check(self) -> None:
        whole(self.out_channels, "out_channels", self.name, example=6)
        whole(self.groups, "groups", self.name, example=1)
        for what in ("kernel", "stride", "dilation"):
            pair(getattr(self, what), what, self.name)
        if self.padding not in ("valid", "same"):  # PyTorch's two words, or numbers
            pair(self.padding, "padding", self.name)
        flag(self.bias, "bias", self.name)
        if self.table is not None:
            _check_table(self.table, self.name)


@dataclass(frozen=True)
class Pool(Layer):
    """Pooling. ``op`` is ``"max"``, ``"avg"`` or ``"subsample"`` (LeNet-5's
    trainable subsampling: sum of the window × a coefficient + a bias, one
    pair per map)."""

    op: str = "max"
    kernel: IntPair = 2
    stride: Optional[IntPair] = None  # None: same as kernel
    padding: IntPair = 0
    dilation: IntPair = 1
    ceil_mode: bool = False
    kind: ClassVar[str] = "pool"

    def _check(self) -> None:
        for what in ("kernel", "padding", "dilation"):
            pair(getattr(self, what), what, self.name)
        if self.stride is not None:
            pair(self.stride, "stride", self.name)
        flag(self.ceil_mode, "ceil_mode", self.name)

    @property
    def stride_or_kernel(self) -> IntPair:
        return self.kernel if self.stride is None else self.stride


@dataclass(frozen=True)
class AdaptivePool(Layer):
    """Adaptive pooling to a fixed output size (torchvision's AlexNet has one)."""

    op: str = "avg"
    output: IntPair = 1
    kind: ClassVar[str] = "adaptive_pool"

    def _check(self) -> None:
        pair(self.output, "output", self.name)


@dataclass(frozen=True)
class Act(Layer):
    """Element-wise non-linearity: ``relu``, ``tanh``, ``sigmoid``, ``gelu`` or
    ``scaled_tanh`` (LeNet-5's squashing 1.7159·tanh(2a/3))."""

    fn: str = "relu"
    kind: ClassVar[str] = "act"


@dataclass(frozen=True)
class LRN(Layer):
    """Local response normalisation with the *paper's* constants:
    b = a / (k + alpha·Σ a²)^beta over ``size`` neighbouring channels.
    (PyTorch's LocalResponseNorm divides its alpha by ``size``, so the module
    is built with ``alpha * size``.)"""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0
    kind: ClassVar[str] = "lrn"

    def _check(self) -> None:
        whole(self.size, "size", self.name, example=5)


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalisation (only met when reading other people's modules)."""

    kind: ClassVar[str] = "batchnorm"


@dataclass(frozen=True)
class Dropout(Layer):
    p: float = 0.5
    kind: ClassVar[str] = "dropout"

    def _check(self) -> None:
        _fraction(self.p, "p", self.name)


@dataclass(frozen=True)
class Flatten(Layer):
    name: str = "flatten"
    kind: ClassVar[str] = "flatten"


@dataclass(frozen=True)
class Linear(Layer):
    """Fully connected layer; its input size is derived, never written down."""

    out_features: int = 1
    bias: bool = True
    kind: ClassVar[str] = "linear"

    def _check(self) -> None:
        whole(self.out_features, "out_features", self.name, example=10)
        flag(self.bias, "bias", self.name)


@dataclass(frozen=True)
class RBF(Layer):
    """LeNet-5's output layer: Euclidean radial basis units with fixed ±1
    codes, y_i = Σ_j (x_j − w_ij)². No trainable parameters."""

    out_features: int = 10
    kind: ClassVar[str] = "rbf"

    def _check(self) -> None:
        whole(self.out_features, "out_features", self.name, example=10)


LAYER_KINDS = {cls.kind: cls for cls in (Conv, Pool, AdaptivePool, Act, LRN, BatchNorm, Dropout, Flatten, Linear, RBF)}


def layer_from_dict(d: Dict[str, JsonValue]) -> Layer:
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in LAYER_KINDS:
        raise ArchitectureError(
            str(d.get("name", "layer")), f"unknown layer kind {kind!r}: use one of {', '.join(LAYER_KINDS)}"
        )
    cls = LAYER_KINDS[kind]
    for key, value in list(d.items()):
        if isinstance(value, list):
            d[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return cls(**d)


@dataclass(frozen=True)
class NetSpec:
    """One network: ``input_shape`` (C, H, W) → ``features`` → flatten →
    ``classifier``. Immutable: the ``with_*`` methods return edited copies."""

    name: str
    variant: str
    input_shape: Tuple[int, int, int]
    features: Tuple[Layer, ...]
    classifier: Tuple[Layer, ...] = ()
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        shape = self.input_shape
        if not isinstance(shape, (tuple, list)) or len(shape) != 3:
            raise ArchitectureError("input", f"input_shape must be (channels, height, width), got {shape!r}")
        for what, v in zip(("in_channels", "input height", "input width"), shape):
            whole(v, what, "input", example=32)

    @property
    def layers(self) -> Tuple[Layer, ...]:
        """Every layer in forward order, with the flatten between the blocks."""
        if self.classifier:
            return self.features + (Flatten(),) + self.classifier
        return self.features

    @property
    def title(self) -> str:
        return f"{self.name} ({self.variant})"

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        known = ", ".join(layer.name for layer in self.layers)
        raise KeyError(f"{self.title} has no layer {name!r}; its layers are: {known}")

    def with_input(self, size: IntPair, channels: Optional[int] = None) -> "NetSpec":
        """The same network fed ``size`` (H, W) images (and ``channels``)."""
        h, w = pair(size, "input_size", "input", example=32)
        c = self.input_shape[0] if channels is None else whole(channels, "in_channels", "input", example=1)
        return replace(self, input_shape=(c, h, w))

    def with_layer(self, name: str, **changes: Union[IntPair, str, bool, float, None]) -> "NetSpec":
        """The same network with one layer's settings changed, e.g.
        ``spec.with_layer("conv1", kernel=7, padding=3)``. An unknown setting or a
        value of the wrong type raises :class:`ArchitectureError` naming the layer."""
        layer = self.layer(name)  # raises a helpful KeyError for unknown names
        known = [f.name for f in fields(layer) if f.name != "name"]
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ArchitectureError(
                name, f"a {layer.kind} layer has no setting {', '.join(unknown)}: its settings are {', '.join(known)}"
            )
        replace(layer, **changes)  # checks the values once, with this layer's name

        def edit(block: Tuple[Layer, ...]) -> Tuple[Layer, ...]:
            return tuple(replace(x, **changes) if x.name == name else x for x in block)

        return replace(self, features=edit(self.features), classifier=edit(self.classifier))

    def to_dict(self) -> Dict[str, object]:
        return {
            "name": self.name,
            "variant": self.variant,
            "input_shape": list(self.input_shape),
            "features": [layer.to_dict() for layer in self.features],
            "classifier": [layer.to_dict() for layer in self.classifier],
        }

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> "NetSpec":
        return cls(
            name=d["name"],
            variant=d["variant"],
            input_shape=tuple(d["input_shape"]),  # type: ignore[arg-type]
            features=tuple(layer_from_dict(layer) for layer in d["features"]),
            classifier=tuple(layer_from_dict(layer) for layer in d["classifier"]),
        )


__all__ = [
    "ArchitectureError",
    "IntPair",
    "pair",
    "whole",
    "flag",
    "Layer",
    "Conv",
    "Pool",
    "AdaptivePool",
    "Act",
    "LRN",
    "BatchNorm",
    "Dropout",
    "Flatten",
    "Linear",
    "RBF",
    "NetSpec",
    "layer_from_dict",
    "asdict",
]
