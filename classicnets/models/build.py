"""Turn a :class:`~classicnets.layers.NetSpec` into ``nn.Sequential`` blocks.

Every layer of the description becomes one named module, so
``model.features.conv1`` is the layer the tables call ``conv1``. Linear input
sizes come from the arithmetic (``classicnets.arithmetic.trace``): never
written by hand.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Tuple

from torch import Tensor, nn

from ..arithmetic import Row, trace
from ..layers import (
    LRN,
    RBF,
    Act,
    AdaptivePool,
    BatchNorm,
    Conv,
    Dropout,
    Flatten,
    Layer,
    Linear,
    NetSpec,
    Pool,
)
from .paper_layers import PartialConv2d, RBFOutput, ScaledTanh, Subsampling

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "scaled_tanh": ScaledTanh}


def build_layer(layer: Layer, row: Row) -> nn.Module:
    """The PyTorch module for one described layer, given its traced row."""
    c_in = row.in_shape[0]
    if isinstance(layer, Conv):
        if layer.table is not None:
            return PartialConv2d(c_in, layer.table, layer.kernel, layer.stride, layer.padding, layer.dilation)
        return nn.Conv2d(
            c_in,
            layer.out_channels,
            layer.kernel,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
            layer.bias,
        )
    if isinstance(layer, Pool):
        if layer.op == "max":
            return nn.MaxPool2d(layer.kernel, layer.stride, layer.padding, layer.dilation, ceil_mode=layer.ceil_mode)
        if layer.op == "avg":
            return nn.AvgPool2d(layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
        return Subsampling(c_in, layer.kernel, layer.stride, layer.padding, layer.ceil_mode)
    if isinstance(layer, AdaptivePool):
        return (nn.AdaptiveAvgPool2d if layer.op == "avg" else nn.AdaptiveMaxPool2d)(layer.output)
    if isinstance(layer, Act):
        return ACTIVATIONS[layer.fn]()
    if isinstance(layer, LRN):
        # PyTorch divides alpha by size; the paper does not
        return nn.LocalResponseNorm(layer.size, alpha=layer.alpha * layer.size, beta=layer.beta, k=layer.k)
    if isinstance(layer, BatchNorm):
        return nn.BatchNorm2d(c_in)
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.p)
    if isinstance(layer, Flatten):
        return nn.Flatten()
    if isinstance(layer, Linear):
        return nn.Linear(c_in, layer.out_features, layer.bias)
    if isinstance(layer, RBF):
        return RBFOutput(c_in, layer.out_features)
    raise TypeError(f"{layer.name}: no PyTorch module for {type(layer).__name__}")


class CheckedFlatten(nn.Flatten):
    """``torch.flatten(x, 1)`` that explains a size mismatch instead of letting
    the next Linear fail with "mat1 and mat2 shapes cannot be multiplied"."""

    def __init__(self, spec: NetSpec, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.built_for = "×".join(map(str, spec.input_shape))
        self.net = spec.name

    def forward(self, x: Tensor) -> Tensor:
        x = super().forward(x)
        if x.shape[1] != self.expected:
            raise ValueError(
                f"flatten: {self.net} was built for {self.built_for} input, whose last feature map has "
                f"{self.expected} values, but this input gives {x.shape[1]}: build the model for the size "
                f"you feed it ({self.net.lower()}(input_size=...)), or pad the data to its size "
                f"(e.g. load_fashion_mnist(pad=2) turns 28×28 into 32×32)"
            )
        return x

    def extra_repr(self) -> str:
        return f"expected={self.expected}"


class SpecNet(nn.Module):
    """Any :class:`NetSpec` as a module: the ``paper`` variants and edited
    descriptions (the explorer's "build & check"). ``spec`` stays attached."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.input_shape = tuple(spec.input_shape)
        self.features, self.flatten, self.classifier = build_blocks(spec)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, C, H, W) -> the last feature map
        x = self.flatten(x)  # -> (N, flatten size), checked against the trace
        return self.classifier(x)  # -> (N, num_classes) logits

    def extra_repr(self) -> str:
        return f"spec={self.spec.title!r}"


def build_blocks(spec: NetSpec) -> Tuple[nn.Sequential, CheckedFlatten, nn.Sequential]:
    """``features``, ``flatten`` and ``classifier`` modules for ``spec``."""
    rows = {r.name: r for r in trace(spec).rows}
    features = nn.Sequential(OrderedDict((ly.name, build_layer(ly, rows[ly.name])) for ly in spec.features))
    classifier = nn.Sequential(OrderedDict((ly.name, build_layer(ly, rows[ly.name])) for ly in spec.classifier))
    return features, CheckedFlatten(spec, rows["flatten"].out_shape[0]), classifier
