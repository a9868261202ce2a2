"""The layers of LeNet-5 as published (LeCun et al. 1998) that PyTorch lacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import IntPair, pair


class ScaledTanh(nn.Module):
    """The paper's squashing function f(a) = A·tanh(S·a), A = 1.7159, S = 2/3,
    chosen so that f(±1) = ±1 and the gain is largest around ±1."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2 / 3) -> None:
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: Tensor) -> Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


class PartialConv2d(nn.Module):
    """A convolution in which output map ``o`` reads only the input maps in
    ``table[o]`` (layer C3). Only the used kernels are parameters, packed in
    one vector, so the parameter count is the paper's (1,516 for C3); they are
    scattered into a full weight tensor for one ``F.conv2d`` call."""

    def __init__(
        self,
        in_channels: int,
        table: Sequence[Sequence[int]],
        kernel_size: int,
        stride: IntPair = 1,
        padding: Union[IntPair, str] = 0,
        dilation: IntPair = 1,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, len(table), kernel_size
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.table: Tuple[Tuple[int, ...], ...] = tuple(tuple(row) for row in table)
        pairs = [(o, i) for o, row in enumerate(self.table) for i in row]
        flat = torch.tensor([o * in_channels + i for o, i in pairs], dtype=torch.long)
        self.register_buffer("index", flat, persistent=False)
        self.kh, self.kw = pair(kernel_size)
        self.weight = nn.Parameter(torch.empty(len(pairs), self.kh, self.kw))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        mask = torch.zeros(self.out_channels, in_channels)
        for o, i in pairs:
            mask[o, i] = 1
        self.register_buffer("mask", mask, persistent=False)

    def full_weight(self) -> Tensor:
        w = self.weight.new_zeros(self.out_channels * self.in_channels, self.kh, self.kw)
        w = w.index_copy(0, self.index, self.weight)
        return w.view(self.out_channels, self.in_channels, self.kh, self.kw)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.full_weight(), self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, connections={len(self.index)}"


class Subsampling(nn.Module):
    """The paper's subsampling (S2, S4): each unit adds its k×k window,
    multiplies the sum by a trainable coefficient and adds a trainable bias,
    one coefficient and one bias per map (2 parameters per map)."""

    def __init__(
        self,
        channels: int,
        kernel_size: int = 2,
        stride: Optional[IntPair] = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        kh, kw = pair(kernel_size)
        self.coef = nn.Parameter(torch.full((channels,), 1.0 / (kh * kw)))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        window_sum = F.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode, count_include_pad=True, divisor_override=1
        )
        return window_sum * self.coef.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={self.coef.numel()}, kernel_size={self.kernel_size}"


def rbf_codes(num_classes: int, features: int = 84) -> Tensor:
    """Fixed ±1 target codes, one row per class.

    The paper drew each class as a 7×12 bitmap (84 pixels) by hand; those
    bitmaps were never published as data. We use rows 1…num_classes of a
    Sylvester–Hadamard matrix cut to ``features`` columns: fixed, ±1, and far
    apart (about half the bits differ between any two classes)."""
    n = 1
    while n < max(features, num_classes + 1):
        n *= 2
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h[1 : num_classes + 1, :features].clone()


class RBFOutput(nn.Module):
    """Euclidean RBF output units: y_i = Σ_j (x_j − w_ij)², w fixed (a buffer,
    not a parameter). ``forward`` returns −y: a larger value means a better
    match, so the result is a logit for argmax and cross-entropy. Minimising
    cross-entropy on −y is the paper's discriminative "MAP" criterion (its
    eq. 9) without the constant j."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("codes", rbf_codes(num_classes, in_features))

    def forward(self, x: Tensor) -> Tensor:
        return -(x.unsqueeze(1) - self.codes).pow(2).sum(-1)

    def extra_repr(self) -> str:
        return f"in_features={self.codes.shape[1]}, num_classes={self.codes.shape[0]}"


def lecun_uniform_(module: nn.Module) -> None:
    """The paper's initialisation: weights uniform in ±2.4/F, F the fan-in."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            nn.init.uniform_(m.weight, -2.4 / fan_in, 2.4 / fan_in)
            nn.init.uniform_(m.bias, -2.4 / fan_in, 2.4 / fan_in)
        elif isinstance(m, PartialConv2d):
            for o, row in enumerate(m.table):
                fan_in = len(row) * m.kh * m.kw
                start = sum(len(r) for r in m.table[:o])
                with torch.no_grad():
                    m.weight[start : start + len(row)].uniform_(-2.4 / fan_in, 2.4 / fan_in)
                    m.bias[o].uniform_(-2.4 / fan_in, 2.4 / fan_in)


__all__ = ["ScaledTanh", "PartialConv2d", "Subsampling", "RBFOutput", "rbf_codes", "lecun_uniform_"]
