"""classicnets: LeNet5 and AlexNet, taught by running them.

The layer arithmetic (``classicnets.layers``, ``classicnets.arithmetic``,
``classicnets.specs``) is plain Python and imports without torch. Everything
that needs torch is loaded lazily the first time it is touched, so
``import classicnets`` is cheap and works on a machine without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it (imported on first access, PEP 562)
_LAZY = {
    # plain Python: one description per network, and the arithmetic over it
    "ArchitectureError": "classicnets.arithmetic",
    "trace": "classicnets.arithmetic",
    "conv_output_size": "classicnets.arithmetic",
    "pool_output_size": "classicnets.arithmetic",
    "lenet5_spec": "classicnets.specs",
    "alexnet_spec": "classicnets.specs",
    "spec_for": "classicnets.specs",
    # torch
    "lenet5": "classicnets.models",
    "alexnet": "classicnets.models",
    "build_model": "classicnets.models",
    "spec_from_module": "classicnets.from_torch",
    "trace_module": "classicnets.from_torch",
    "load_fashion_mnist": "classicnets.data",
    "load_mnist": "classicnets.data",
    "fit": "classicnets.train",
    "evaluate": "classicnets.train",
    "pick_device": "classicnets.train",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'classicnets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
