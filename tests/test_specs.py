"""classicnets.specs: the constructors' arguments are checked at the boundary."""

from __future__ import annotations

import pytest

from classicnets.arithmetic import ArchitectureError, trace
from classicnets.specs import alexnet_spec, all_specs, lenet5_spec, spec_for


@pytest.mark.parametrize("make", [lenet5_spec, alexnet_spec])
@pytest.mark.parametrize("arg", ["num_classes", "in_channels", "input_size"])
@pytest.mark.parametrize("value", [2.5, float("nan"), "3", None, True])
def test_non_integer_arguments_are_refused(make, arg, value):
    with pytest.raises(ArchitectureError, match=f"{arg} must be a whole number, got {value!r}"):
        make(**{arg: value})


@pytest.mark.parametrize("arg", ["num_classes", "in_channels", "input_size"])
def test_arguments_must_be_positive(arg):
    with pytest.raises(ArchitectureError, match=f"lenet5: {arg} must be at least 1, got 0"):
        lenet5_spec(**{arg: 0})


def test_rectangular_input_and_sizes_round_trip():
    spec = lenet5_spec(input_size=(32, 40), num_classes=7, in_channels=3)
    assert spec.input_shape == (3, 32, 40)
    assert trace(spec).output_shape == (7,)


def test_dropout_is_a_probability():
    with pytest.raises(ArchitectureError, match="drop1: p must be a number from 0 to 1, got 1.5"):
        alexnet_spec(dropout=1.5)


def test_unknown_variant_and_network():
    with pytest.raises(ValueError, match="variant 'vgg' is unknown"):
        lenet5_spec("vgg")
    with pytest.raises(ValueError, match="unknown network 'vgg'"):
        spec_for("vgg")
    with pytest.raises(ValueError, match="network must be a name, got 3"):
        spec_for(3)


def test_every_variant_traces_at_its_default_input():
    for key, spec in all_specs().items():
        assert trace(spec).total_params > 0, key
