"""PyTorch models built from the descriptions in ``classicnets.specs``."""
from __future__ import annotations

from torch import nn

from ..layers import NetSpec
from .alexnet import AlexNet, alexnet
from .build import build_blocks, build_layer
from .lenet import LeNet5, lenet5


class SpecNet(nn.Module):
    """Any :class:`NetSpec` as a module (the widgets build edited networks)."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.features, self.flatten, self.classifier = build_blocks(spec)

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


def build_model(spec: NetSpec) -> nn.Module:
    """The module for a (possibly edited) description."""
    return SpecNet(spec)


__all__ = ["LeNet5", "AlexNet", "lenet5", "alexnet", "SpecNet", "build_model", "build_blocks", "build_layer"]
