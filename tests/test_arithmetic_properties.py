"""The plain-Python arithmetic against PyTorch's own ops (the reference).

Hypothesis draws over 1,000 random conv/pool configurations in all, valid and
invalid; for each, PyTorch either produces a shape that must equal ours, or
rejects the configuration, which ours must reject too.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from classicnets.arithmetic import ArchitectureError, conv_output_size, pool_output_size

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True)


def torch_size(op, size_hw, **kw):
    """Output (H, W) from PyTorch, or None where PyTorch refuses."""
    x = torch.zeros(1, 1, *size_hw)
    try:
        return tuple(op(x, **kw).shape[-2:])
    except (RuntimeError, ValueError):
        return None


def ours(fn, sizes, **kw):
    try:
        return tuple(fn(n, **{k: v[i] for k, v in kw.items()}) for i, n in enumerate(sizes))
    except ArchitectureError:
        return None


dims = st.tuples(st.integers(1, 24), st.integers(1, 24))
small = lambda lo, hi: st.tuples(st.integers(lo, hi), st.integers(lo, hi))  # noqa: E731


@SETTINGS
@given(size=dims, kernel=small(1, 9), stride=small(0, 5), padding=small(-1, 5), dilation=small(0, 3))
def test_conv_matches_torch(size, kernel, stride, padding, dilation):
    weight = torch.zeros(1, 1, *kernel)
    expected = torch_size(
        lambda x, **kw: F.conv2d(x, weight, **kw), size, stride=stride, padding=padding, dilation=dilation
    )
    got = ours(lambda n, k, s, p, d: conv_output_size(n, k, s, p, d), size, k=kernel, s=stride, p=padding, d=dilation)
    assert got == expected


@SETTINGS
@given(
    size=dims,
    kernel=small(1, 7),
    stride=small(0, 4),
    padding=small(-1, 4),
    dilation=small(0, 3),
    ceil_mode=st.booleans(),
)
def test_max_pool_matches_torch(size, kernel, stride, padding, dilation, ceil_mode):
    expected = torch_size(
        F.max_pool2d, size, kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode
    )
    got = ours(
        lambda n, k, s, p, d: pool_output_size(n, k, s, p, d, ceil_mode),
        size,
        k=kernel,
        s=stride,
        p=padding,
        d=dilation,
    )
    assert got == expected


@SETTINGS
@given(size=dims, kernel=small(1, 7), stride=small(0, 4), padding=small(-1, 4), ceil_mode=st.booleans())
def test_avg_pool_matches_torch(size, kernel, stride, padding, ceil_mode):
    expected = torch_size(F.avg_pool2d, size, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    got = ours(lambda n, k, s, p: pool_output_size(n, k, s, p, 1, ceil_mode), size, k=kernel, s=stride, p=padding)
    assert got == expected


@settings(max_examples=60, deadline=None, derandomize=True)
@given(size=st.integers(1, 12), kernel=st.integers(1, 7), ceil_mode=st.booleans())
def test_pool_stride_defaults_to_kernel(size, kernel, ceil_mode):
    expected = torch_size(F.max_pool2d, (size, size), kernel_size=kernel, ceil_mode=ceil_mode)
    got = ours(lambda n: pool_output_size(n, kernel, None, 0, 1, ceil_mode), (size, size))
    assert got == expected


def test_the_message_names_layer_numbers_and_fix():
    with pytest.raises(ArchitectureError) as err:
        conv_output_size(3, 7, 1, 1, layer="conv3")
    assert (
        str(err.value) == "conv3: kernel 7 is larger than its padded input 5 (3 + 2×1): lower the kernel or add padding"
    )
    assert err.value.layer == "conv3"


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: conv_output_size(5, 3, stride=0, layer="c"), "stride must be at least 1"),
        (lambda: conv_output_size(5, 3, padding=-1, layer="c"), "padding must be 0 or more"),
        (lambda: pool_output_size(5, 2, 2, padding=2, layer="p"), "more than half the kernel"),
        (lambda: conv_output_size(5, 3, dilation=3, layer="c"), "dilated kernel 7"),
    ],
)
def test_other_messages_say_what_to_do(call, words):
    with pytest.raises(ArchitectureError, match=words):
        call()
