"""PyTorch models: plain classes for ``blog``/``modern``, spec-built ``paper`` and edited networks."""

from __future__ import annotations

from .alexnet import AlexNet
from .build import SpecNet, build_blocks, build_layer
from .checks import InputCheck, smallest_input
from .factory import alexnet, build_model, lenet5
from .lenet import LeNet5

__all__ = [
    "LeNet5",
    "AlexNet",
    "lenet5",
    "alexnet",
    "SpecNet",
    "build_model",
    "build_blocks",
    "build_layer",
    "InputCheck",
    "smallest_input",
]
