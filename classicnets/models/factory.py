"""``lenet5(variant)``, ``alexnet(variant)`` and ``build_model(spec)``: the modules the book trains.

``blog`` and ``modern`` are the plain classes of :mod:`.lenet` and
:mod:`.alexnet`; ``paper`` needs layers PyTorch lacks (C3's table, trainable
subsampling, RBF units, LRN, groups) and is built from its description by
:mod:`.build`, as is any edited description. Every module gets an
:class:`~.checks.InputCheck`, and a too-small ``input_size`` is refused with
the smallest one that works.
"""

from __future__ import annotations

from typing import Union

from torch import nn

from ..layers import IntPair, NetSpec
from ..specs import alexnet_spec, lenet5_spec
from .alexnet import AlexNet
from .build import SpecNet
from .checks import check_inputs, traced_or_explained
from .lenet import LeNet5
from .paper_layers import lecun_uniform_


def build_model(spec: NetSpec) -> SpecNet:
    """The module for a (possibly edited) description, with its input check."""
    call = "build_model(spec.with_input(...)) with {fix}"
    traced_or_explained(spec, call)
    return check_inputs(SpecNet(spec), spec, call)


def lenet5(
    variant: str = "blog", num_classes: int = 10, in_channels: int = 1, input_size: IntPair = 32
) -> Union[LeNet5, SpecNet]:
    """LeNet5: ``"blog"`` (tanh, average pooling), ``"modern"`` (ReLU, max
    pooling) — the plain :class:`LeNet5` — or ``"paper"`` as published
    (a :class:`SpecNet` of :func:`~classicnets.specs.lenet5_spec`, with the
    paper's uniform ±2.4/fan-in initialisation)."""
    spec = lenet5_spec(variant, num_classes, in_channels, input_size)
    call = f"lenet5({variant!r}, {{fix}})"
    traced_or_explained(spec, call)
    if variant == "paper":
        model: nn.Module = SpecNet(spec)
        lecun_uniform_(model)
    else:
        model = LeNet5(num_classes, in_channels, spec.input_shape[1:], modern=variant == "modern")
    return check_inputs(model, spec, call)


def alexnet(
    variant: str = "blog",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: IntPair = 227,
    dropout: float = 0.5,
) -> Union[AlexNet, SpecNet]:
    """AlexNet: ``"blog"`` — the plain one-device :class:`AlexNet` — or
    ``"paper"`` with LRN and the two-GPU split as ``groups=2`` (a
    :class:`SpecNet` of :func:`~classicnets.specs.alexnet_spec`)."""
    spec = alexnet_spec(variant, num_classes, in_channels, input_size, dropout)
    call = f"alexnet({variant!r}, {{fix}})"
    traced_or_explained(spec, call)
    if variant == "paper":
        model: nn.Module = SpecNet(spec)
    else:
        model = AlexNet(num_classes, in_channels, spec.input_shape[1:], dropout)
    return check_inputs(model, spec, call)


__all__ = ["lenet5", "alexnet", "build_model"]
