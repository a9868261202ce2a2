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
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar, Dict, Optional, Tuple, Union

IntPair = Union[int, Tuple[int, int]]


def pair(value: IntPair) -> Tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"expected an int or a pair (height, width), got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


@dataclass(frozen=True)
class Layer:
    """Base of every layer description; ``name`` is unique within a network."""

    name: str
    kind: ClassVar[str] = "layer"

    def to_dict(self) -> Dict[str, Any]:
        out = {"kind": self.kind}
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

    @property
    def stride_or_kernel(self) -> IntPair:
        return self.kernel if self.stride is None else self.stride


@dataclass(frozen=True)
class AdaptivePool(Layer):
    """Adaptive pooling to a fixed output size (torchvision's AlexNet has one)."""

    op: str = "avg"
    output: IntPair = 1
    kind: ClassVar[str] = "adaptive_pool"


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


@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalisation (only met when reading other people's modules)."""

    kind: ClassVar[str] = "batchnorm"


@dataclass(frozen=True)
class Dropout(Layer):
    p: float = 0.5
    kind: ClassVar[str] = "dropout"


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


@dataclass(frozen=True)
class RBF(Layer):
    """LeNet-5's output layer: Euclidean radial basis units with fixed ±1
    codes, y_i = Σ_j (x_j − w_ij)². No trainable parameters."""

    out_features: int = 10
    kind: ClassVar[str] = "rbf"


LAYER_KINDS = {
    cls.kind: cls
    for cls in (Conv, Pool, AdaptivePool, Act, LRN, BatchNorm, Dropout, Flatten, Linear, RBF)
}


def layer_from_dict(d: Dict[str, Any]) -> Layer:
    d = dict(d)
    cls = LAYER_KINDS[d.pop("kind")]
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
        known = ", ".join(l.name for l in self.layers)
        raise KeyError(f"{self.title} has no layer {name!r}; its layers are: {known}")

    def with_input(self, size: IntPair, channels: Optional[int] = None) -> "NetSpec":
        """The same network fed ``size`` (H, W) images (and ``channels``)."""
        h, w = pair(size)
        c = self.input_shape[0] if channels is None else int(channels)
        return replace(self, input_shape=(c, h, w))

    def with_layer(self, name: str, **changes: Any) -> "NetSpec":
        """The same network with one layer's settings changed, e.g.
        ``spec.with_layer("conv1", kernel=7, padding=3)``."""
        self.layer(name)  # raises a helpful KeyError for unknown names

        def edit(block: Tuple[Layer, ...]) -> Tuple[Layer, ...]:
            return tuple(replace(l, **changes) if l.name == name else l for l in block)

        return replace(self, features=edit(self.features), classifier=edit(self.classifier))

    def to_dict(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "variant": self.variant,
            "input_shape": list(self.input_shape),
            "features": [l.to_dict() for l in self.features],
            "classifier": [l.to_dict() for l in self.classifier],
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "NetSpec":
        return cls(
            name=d["name"],
            variant=d["variant"],
            input_shape=tuple(d["input_shape"]),  # type: ignore[arg-type]
            features=tuple(layer_from_dict(l) for l in d["features"]),
            classifier=tuple(layer_from_dict(l) for l in d["classifier"]),
        )


__all__ = [
    "IntPair", "pair", "Layer", "Conv", "Pool", "AdaptivePool", "Act", "LRN", "BatchNorm",
    "Dropout", "Flatten", "Linear", "RBF", "NetSpec", "layer_from_dict", "asdict",
]
