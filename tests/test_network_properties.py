"""Whole-network traces against forward passes through real PyTorch layers.

The reference network is built here from plain ``torch.nn`` layers, without
the arithmetic, so a wrong trace cannot hide behind the builder that uses it.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from classicnets.arithmetic import ArchitectureError, trace
from classicnets.layers import LRN, Conv, Pool
from classicnets.specs import alexnet_spec, lenet5_spec


def reference_shapes(spec):
    """Feature-map shapes from real layers, or None if PyTorch refuses."""
    c = spec.input_shape[0]
    x = torch.zeros(1, *spec.input_shape)
    shapes = {}
    try:
        for layer in spec.features:
            if isinstance(layer, Conv):
                m = nn.Conv2d(
                    c,
                    layer.out_channels,
                    layer.kernel,
                    layer.stride,
                    layer.padding,
                    layer.dilation,
                    layer.groups if layer.table is None else 1,
                )
                c = layer.out_channels
            elif isinstance(layer, Pool):
                if layer.op == "max":
                    m = nn.MaxPool2d(
                        layer.kernel, layer.stride, layer.padding, layer.dilation, ceil_mode=layer.ceil_mode
                    )
                else:
                    m = nn.AvgPool2d(layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
            elif isinstance(layer, LRN):
                m = nn.LocalResponseNorm(layer.size)
            else:
                m = nn.Identity()
            with torch.no_grad():
                x = m(x)
            shapes[layer.name] = tuple(x.shape[1:])
    except (RuntimeError, ValueError):
        return None
    return shapes


def edits(spec_fn, sizes):
    spec = spec_fn()
    names = [l.name for l in spec.features if isinstance(l, (Conv, Pool))]
    return st.builds(
        lambda name, k, s, p, size: spec.with_layer(name, kernel=k, stride=s, padding=p).with_input(size),
        st.sampled_from(names),
        st.integers(1, 13),
        st.integers(1, 5),
        st.integers(0, 4),
        st.sampled_from(sizes),
    )


def check(spec):
    expected = reference_shapes(spec)
    try:
        rows = {r.name: r.out_shape for r in trace(spec).rows}
    except ArchitectureError:
        assert expected is None, f"trace refused {spec} but PyTorch ran it"
        return
    assert expected is not None, "PyTorch refused a network that the trace accepted"
    for name, shape in expected.items():
        assert rows[name] == shape, name


@settings(max_examples=150, deadline=None, derandomize=True)
@given(edits(lambda: lenet5_spec("blog"), [12, 20, 28, 32, 40, 64]))
def test_lenet5_edits_match_torch(spec):
    check(spec)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(edits(lambda: lenet5_spec("blog").with_layer("pool1", op="max"), [16, 32]))
def test_lenet5_max_pool_edits_match_torch(spec):
    check(spec)


def small_alexnet():
    # a narrow AlexNet (same kernels/strides/pads, 8 channels) so each example is fast
    spec = alexnet_spec("paper")
    for l in spec.features:
        if isinstance(l, Conv):
            spec = spec.with_layer(l.name, out_channels=8)
    return spec


@settings(max_examples=120, deadline=None, derandomize=True)
@given(edits(small_alexnet, [63, 67, 99, 224, 227]))
def test_alexnet_edits_match_torch(spec):
    check(spec)
