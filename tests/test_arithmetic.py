"""classicnets.arithmetic: sizes are refused, never truncated; the traced tables (PyTorch equality is in
test_arithmetic_properties.py and test_network_properties.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from classicnets.arithmetic import ArchitectureError, conv_output_size, pool_output_size, trace
from classicnets.specs import alexnet_spec, lenet5_spec

NOT_WHOLE = st.one_of(
    st.floats(allow_nan=True, allow_subnormal=False).filter(lambda x: not (math.isfinite(x) and x.is_integer())),
    st.floats(min_value=1, max_value=64, allow_subnormal=False).filter(lambda x: x.is_integer()),
    st.sampled_from(["3", None, True, False, (3,), 3j]),
)
ARGS = ("size", "kernel", "stride", "padding", "dilation")
NAMES = {"size": "input"}


@given(bad=NOT_WHOLE, which=st.sampled_from(ARGS), pool=st.booleans())
def test_non_integer_sizes_are_refused_never_truncated(bad, which, pool):
    assume(not (pool and which == "stride" and bad is None))  # a pooling stride of None means "the kernel"
    args = dict(size=12, kernel=3, stride=1, padding=1, dilation=1)
    args[which] = bad
    fn = pool_output_size if pool else conv_output_size
    with pytest.raises(ArchitectureError) as err:
        fn(**args, layer="L")
    assert str(err.value).startswith(f"L: {NAMES.get(which, which)} must be a whole number, got ")


@pytest.mark.parametrize("ceil_mode", [1, 0, "True", None, 0.0])
def test_ceil_mode_must_be_a_bool(ceil_mode):
    with pytest.raises(ArchitectureError, match=f"pool1: ceil_mode must be True or False, got {ceil_mode!r}"):
        pool_output_size(7, 2, 2, ceil_mode=ceil_mode, layer="pool1")


def test_whole_numbers_of_any_integer_type_are_fine():
    np = pytest.importorskip("numpy")
    assert conv_output_size(np.int64(32), 5) == 28
    assert pool_output_size(7, 2, None, 0, 1, True) == 4


def test_lenet5_and_alexnet_totals_are_the_papers():
    assert trace(lenet5_spec("paper")).total_params == 60_000  # LeCun et al. 1998, §II.B: "60,000 trainable parameters"
    t = trace(alexnet_spec("blog"))
    assert t.output_shape == (1000,)
    assert t.row("pool3").out_shape == (256, 6, 6)
    assert t.flatten_size() == 9216


def test_a_duplicate_in_the_table_never_reaches_the_count():
    spec = lenet5_spec("paper")
    with pytest.raises(ArchitectureError, match="C3: connection table row 0"):
        spec.with_layer("C3", table=((0, 0, 1),) + spec.layer("C3").table[1:])
