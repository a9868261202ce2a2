"""Read an existing PyTorch module into a :class:`NetSpec` and trace it.

Works for our own models (they carry their ``spec``) and for plain stacks of
standard layers in forward order, such as ``torchvision.models.alexnet()``:
``trace_module(torchvision.models.alexnet(), (3, 224, 224))`` gives its
61,100,840 parameters and 714,188,480 MACs without running it.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

from torch import nn

from .arithmetic import Trace, trace
from .layers import (
    Act, AdaptivePool, BatchNorm, Conv, Dropout, Flatten, Layer, Linear, LRN, NetSpec, Pool,
)

_ACTS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.GELU: "gelu"}
_SKIP = (nn.Identity,)


def _layer_from_module(name: str, m: nn.Module) -> Layer:
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode={m.padding_mode!r} is not supported (only zeros)")
        return Conv(name, m.out_channels, tuple(m.kernel_size), tuple(m.stride),
                    m.padding if isinstance(m.padding, str) else tuple(m.padding),
                    tuple(m.dilation), m.groups, m.bias is not None)
    if isinstance(m, nn.MaxPool2d):
        return Pool(name, "max", m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
    if isinstance(m, nn.AvgPool2d):
        return Pool(name, "avg", m.kernel_size, m.stride, m.padding, 1, m.ceil_mode)
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        op = "avg" if isinstance(m, nn.AdaptiveAvgPool2d) else "max"
        return AdaptivePool(name, op, m.output_size)
    for cls, fn in _ACTS.items():
        if isinstance(m, cls):
            return Act(name, fn)
    if isinstance(m, nn.LocalResponseNorm):
        return LRN(name, m.size, m.alpha / m.size, m.beta, m.k)
    if isinstance(m, nn.BatchNorm2d):
        return BatchNorm(name)
    if isinstance(m, nn.Dropout):
        return Dropout(name, m.p)
    if isinstance(m, nn.Flatten):
        return Flatten(name)
    if isinstance(m, nn.Linear):
        return Linear(name, m.out_features, m.bias is not None)
    raise ValueError(
        f"{name}: cannot read a {type(m).__name__} layer; supported: Conv2d, MaxPool2d, AvgPool2d, "
        "Adaptive*Pool2d, ReLU/Tanh/Sigmoid/GELU, LocalResponseNorm, BatchNorm2d, Dropout, Flatten, Linear"
    )


def spec_from_module(module: nn.Module, input_shape: Sequence[int]) -> NetSpec:
    """A :class:`NetSpec` for ``module`` fed ``input_shape`` = (C, H, W).

    Leaf modules are read in registration order, which must be the forward
    order (true of ``nn.Sequential`` stacks and torchvision's AlexNet/VGG); a
    flatten is inserted before the first Linear.
    """
    c, h, w = (int(v) for v in input_shape)
    spec = getattr(module, "spec", None)
    if isinstance(spec, NetSpec):
        return spec.with_input((h, w), channels=c)
    features: List[Layer] = []
    classifier: List[Layer] = []
    flat = False
    for name, m in module.named_modules():
        if list(m.children()) or isinstance(m, _SKIP):
            continue
        layer = _layer_from_module(name or type(module).__name__, m)
        if isinstance(layer, Flatten):
            flat = True
            continue
        if isinstance(layer, Linear):
            flat = True
        (classifier if flat else features).append(layer)
    return NetSpec(type(module).__name__, "module", (c, h, w), tuple(features), tuple(classifier))


def trace_module(module: nn.Module, input_shape: Tuple[int, int, int]) -> Trace:
    """``trace(spec_from_module(module, input_shape))``."""
    return trace(spec_from_module(module, input_shape))
