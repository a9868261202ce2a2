"""One clear message for an input the model cannot take, before its first layer.

:class:`InputCheck` is a forward pre-hook: ``classicnets.lenet5()``,
``alexnet()`` and ``build_model()`` attach it, so the plain classes stay
plain (copy one without it and PyTorch's own errors come back). A wrong rank,
channel count, size, dtype or layout fails with one ``ValueError`` naming the
expected ``(N, C, H, W)``, the dtype and what to change.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ..arithmetic import ArchitectureError, trace
from ..layers import NetSpec

Shape = Tuple[int, int, int]


def smallest_input(spec: NetSpec, limit: int = 4096) -> Optional[int]:
    """The smallest square input size at which ``spec`` works (None up to ``limit``)."""
    for n in range(1, limit + 1):
        try:
            trace(spec.with_input(n))
        except ArchitectureError:
            continue
        return n
    return None


def traced_or_explained(spec: NetSpec, call: str) -> None:
    """Trace ``spec``; if its input is too small, say the smallest size that works.

    ``call`` is how the reader builds it, with ``{fix}`` where the fix goes,
    e.g. ``"lenet5('paper', {fix})"``."""
    try:
        trace(spec)
    except ArchitectureError as exc:
        text, prefix = str(exc), f"{exc.layer}: "
        text = text[len(prefix) :] if text.startswith(prefix) else text
        n = smallest_input(spec)
        hint = (
            ""
            if n is None
            else f"; the smallest input {spec.title} takes is {n}×{n}: " + call.format(fix=f"input_size={n}")
        )
        raise ArchitectureError(exc.layer, f"{text} (at input {_hw(spec.input_shape)}{hint})") from None


def _hw(shape: Shape) -> str:
    return f"{shape[1]}×{shape[2]}"


class InputCheck:
    """Forward pre-hook: refuse an input that does not match ``input_shape``.

    ``call`` is how the reader builds the model, with ``{fix}`` where a
    changed argument goes (e.g. ``"lenet5('blog', {fix})"``); ``smallest``
    is the smallest size the network takes (named when the input is smaller)."""

    def __init__(self, title: str, call: str, input_shape: Shape, smallest: Optional[int] = None) -> None:
        self.title, self.call, self.input_shape, self.smallest = title, call, tuple(input_shape), smallest

    def __call__(self, module: nn.Module, args: Tuple) -> None:
        x = args[0] if args else None
        problem = self.problem(x, _dtype(module))
        if problem:
            c, h, w = self.input_shape
            raise ValueError(f"{self.title} expects input (N, {c}, {h}, {w}) of dtype {_dtype(module)}; {problem}")

    def problem(self, x: object, dtype: torch.dtype) -> str:
        """What is wrong with ``x`` and how to fix it, or "" if nothing is."""
        c, h, w = self.input_shape
        if not isinstance(x, Tensor):
            return f"got a {type(x).__name__}: pass a tensor, e.g. torch.as_tensor(x, dtype={dtype})"
        if x.layout != torch.strided:
            return f"got a {x.layout} tensor: pass a dense one (x.to_dense())"
        shape = tuple(x.shape)
        if x.dim() == 3 and shape == self.input_shape:
            return f"got {shape}, one image without a batch dimension: use x.unsqueeze(0)"
        if x.dim() != 4:
            return f"got a {x.dim()}-D tensor of shape {shape}: give a batch of images (N, C, H, W)"
        if shape[1] != c:
            if shape[3] == c and shape[1:3] == (h, w):
                return f"got {shape}, channels last (N, H, W, C): use x.permute(0, 3, 1, 2)"
            return f"got {shape}, {shape[1]} channels: build the model with " + self.fix(f"in_channels={shape[1]}")
        if shape[2:] != (h, w):
            return self.size_problem(shape)
        if x.dtype != dtype:
            return f"got dtype {x.dtype}: convert the input (x.to({dtype})) or the model (model.to({x.dtype}))"
        return ""

    def fix(self, fix: str) -> str:
        return self.call.format(fix=fix)

    def size_problem(self, shape: Tuple[int, ...]) -> str:
        c, h, w = self.input_shape
        got_h, got_w = shape[2], shape[3]
        dh, dw = h - got_h, w - got_w
        if dh == dw and dh > 0 and dh % 2 == 0:
            data = f"pad the data to {h}×{w} (e.g. load_fashion_mnist(pad={dh // 2}))"
        else:
            data = f"resize the data to {h}×{w} (e.g. load_fashion_mnist(size={h}))"
        if self.smallest is not None and min(got_h, got_w) < self.smallest:
            n = self.smallest
            return f"got {got_h}×{got_w} images, smaller than the smallest input this network takes, {n}×{n}: {data}"
        size = got_h if got_h == got_w else (got_h, got_w)
        return (
            f"got {got_h}×{got_w} images, but the model was built for {h}×{w}: "
            f"build it for yours with {self.fix(f'input_size={size}')}, or {data}"
        )


def _dtype(module: nn.Module) -> torch.dtype:
    p = next(module.parameters(), None)
    return torch.get_default_dtype() if p is None else p.dtype


def check_inputs(model: nn.Module, spec: NetSpec, call: str) -> nn.Module:
    """Attach an :class:`InputCheck` for ``spec``'s input to ``model`` (returned)."""
    title, input_shape = spec.title, spec.input_shape
    model.register_forward_pre_hook(InputCheck(title, call, input_shape, smallest_input(spec)))
    return model


__all__ = ["InputCheck", "check_inputs", "smallest_input", "traced_or_explained"]
