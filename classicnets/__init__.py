"""classicnets: LeNet5 and AlexNet, taught by running them.

``import classicnets`` imports only the plain-Python arithmetic (``classicnets.layers``,
``classicnets.arithmetic``, ``classicnets.specs``); the names below that need torch or
matplotlib (``fit``, ``lenet5``, ``draw_network``, …) are imported the first time they are
used, so ``import classicnets.cost`` or ``import classicnets.explorer`` stays free of torch
(``tests/test_import_layers.py`` checks it, and the one-way layering of the package).
"""

from __future__ import annotations

import importlib
from typing import Any, List

from ._version import __version__
from .arithmetic import ArchitectureError, conv_output_size, pool_output_size, trace
from .specs import alexnet_spec, lenet5_spec, spec_for

#: name -> the module that defines it, imported on first use
_LAZY = {
    "load_fashion_mnist": "data",
    "load_mnist": "data",
    "draw_network": "drawing",
    "spec_from_module": "from_torch",
    "trace_module": "from_torch",
    "AlexNet": "models",
    "LeNet5": "models",
    "SpecNet": "models",
    "alexnet": "models",
    "build_model": "models",
    "lenet5": "models",
    "evaluate": "train",
    "fit": "train",
    "pick_device": "train",
}

__all__ = [  # the plain-Python names above and the lazy ones
    "__version__",
    "AlexNet",
    "alexnet",
    "alexnet_spec",
    "ArchitectureError",
    "build_model",
    "conv_output_size",
    "draw_network",
    "evaluate",
    "fit",
    "LeNet5",
    "lenet5",
    "lenet5_spec",
    "load_fashion_mnist",
    "load_mnist",
    "pick_device",
    "pool_output_size",
    "spec_for",
    "spec_from_module",
    "SpecNet",
    "trace",
    "trace_module",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # the next lookup finds it directly
        return value
    raise AttributeError(f"module 'classicnets' has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
