"""Read an existing PyTorch module into a :class:`NetSpec` and trace it.

Works for the book's plain models (``LeNet5``, ``AlexNet``), for spec-built
ones (they carry their ``spec``) and for plain stacks of standard layers in
forward order, such as ``torchvision.models.alexnet()``:
``trace_module(torchvision.models.alexnet(), (3, 224, 224))`` gives its
61,100,840 parameters and 714,188,480 MACs without running it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import List, Tuple

from torch import nn

from .arithmetic import Trace, trace
from .layers import (
    LRN,
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

_ACTS = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.GELU: "gelu"}
_SKIP = (nn.Identity,)


def _layer_from_module(name: str, m: nn.Module) -> Layer:
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros":
            raise ValueError(f"{name}: padding_mode={m.padding_mode!r} is not supported (only zeros)")
        return Conv(
            name,
            m.out_channels,
            tuple(m.kernel_size),
            tuple(m.stride),
            m.padding if isinstance(m.padding, str) else tuple(m.padding),
            tuple(m.dilation),
            m.groups,
            m.bias is not None,
        )
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


def _leaves(module: nn.Module) -> List[Tuple[str, nn.Module]]:
    return [(n, m) for n, m in module.named_modules() if not list(m.children()) and not isinstance(m, _SKIP)]


def spec_from_module(module: nn.Module, input_shape: Sequence[int]) -> NetSpec:
    """A :class:`NetSpec` for ``module`` fed ``input_shape`` = (C, H, W).

    Leaf modules are read in registration order, which must be the forward
    order (true of ``nn.Sequential`` stacks, of the book's plain
    :class:`~classicnets.models.LeNet5`/:class:`~classicnets.models.AlexNet`
    and of torchvision's AlexNet/VGG). Layers under a child called
    ``classifier``, or after the first Flatten or Linear, form the classifier
    (a flatten is implied before it). Layers keep their own names
    (``conv1``, not ``features.conv1``) when those are unique, as in the
    book's models; otherwise (torchvision's ``features.0``, ``classifier.0``)
    their full dotted names. A module that carries a ``spec`` (a
    :class:`~classicnets.models.SpecNet`) returns it, at ``input_shape``.
    """
    c, h, w = (int(v) for v in input_shape)
    spec = getattr(module, "spec", None)
    if isinstance(spec, NetSpec):
        return spec.with_input((h, w), channels=c)
    leaves = _leaves(module)
    short = [name.rsplit(".", 1)[-1] for name, _ in leaves]
    names = short if len(set(short)) == len(short) else [name for name, _ in leaves]
    features: List[Layer] = []
    classifier: List[Layer] = []
    flat = False
    for (path, m), name in zip(leaves, names):
        layer = _layer_from_module(name or type(module).__name__, m)
        flat = flat or path.split(".")[0] == "classifier" or isinstance(layer, (Flatten, Linear))
        if not isinstance(layer, Flatten):
            (classifier if flat else features).append(layer)
    return NetSpec(type(module).__name__, "module", (c, h, w), tuple(features), tuple(classifier))


def trace_module(module: nn.Module, input_shape: Tuple[int, int, int]) -> Trace:
    """``trace(spec_from_module(module, input_shape))``."""
    return trace(spec_from_module(module, input_shape))
