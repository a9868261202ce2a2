"""classicnets: LeNet5 and AlexNet, taught by running them.

The layer arithmetic (``classicnets.layers``, ``classicnets.arithmetic``,
``classicnets.specs``) is plain Python: those modules import neither torch nor
the widgets, plots or training code (``tests/test_layers.py`` checks it).
The package itself imports torch, a hard dependency.
"""

from __future__ import annotations

__version__ = "0.1.0"  # before the imports: classicnets.records reads it

from .arithmetic import ArchitectureError, conv_output_size, pool_output_size, trace
from .data import load_fashion_mnist, load_mnist
from .drawing import draw_network
from .from_torch import spec_from_module, trace_module
from .models import AlexNet, LeNet5, SpecNet, alexnet, build_model, lenet5
from .specs import alexnet_spec, lenet5_spec, spec_for
from .train import evaluate, fit, pick_device

__all__ = [
    "AlexNet",
    "LeNet5",
    "SpecNet",
    "ArchitectureError",
    "alexnet",
    "alexnet_spec",
    "build_model",
    "conv_output_size",
    "draw_network",
    "evaluate",
    "fit",
    "lenet5",
    "lenet5_spec",
    "load_fashion_mnist",
    "load_mnist",
    "pick_device",
    "pool_output_size",
    "spec_for",
    "spec_from_module",
    "trace",
    "trace_module",
]
