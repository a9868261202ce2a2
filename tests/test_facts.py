"""classicnets.facts: every quoted number names its paper and section, and the ones the package can
compute agree with it (the papers' numbers against classicnets.arithmetic, the layers' constants)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from test_numbers import figures

from classicnets import facts
from classicnets.ablations import LRN_CONSTANTS
from classicnets.arithmetic import trace
from classicnets.cost import GTX580_BYTES
from classicnets.layers import LRN
from classicnets.specs import alexnet_spec, lenet5_spec

PAPERS = (facts.LECUN_1998, facts.KRIZHEVSKY_2012, facts.XIAO_2017, facts.NVIDIA_GTX580)
WHERE = re.compile(r", (?:§[IVX\d]|Table \d|Figure \d|Appendix [A-Z]|abstract|GPU Engine Specs)")


def value(name: str, index: int = 0) -> Decimal:
    return figures(facts.by_name()[name].text)[index].value


def test_every_fact_names_its_paper_and_section_and_holds_a_number():
    names = [f.name for f in facts.FACTS]
    assert len(names) == len(set(names)), "duplicate fact names"
    for fact in facts.FACTS:
        assert fact.citation.startswith(PAPERS), fact
        assert WHERE.search(fact.citation), f"{fact.name}: no section, table, figure or appendix in {fact.citation!r}"
        assert figures(fact.text), f"{fact.name}: no number in {fact.text!r}"
        assert fact.what, fact


def test_lenet5_counts_of_the_paper_equal_the_arithmetic():
    t = trace(lenet5_spec("paper"))
    assert t.row("C1").params == value("lenet5_c1_params")
    assert t.row("C1").connections == value("lenet5_c1_connections")
    assert t.row("S2").connections == value("lenet5_s2_connections")
    assert t.row("C3").params == value("lenet5_c3_params")
    assert t.row("C3").connections == value("lenet5_c3_connections")
    assert t.row("S4").connections == value("lenet5_s4_connections")
    assert t.row("C5").connections == value("lenet5_c5_connections")
    assert t.row("F6").params == value("lenet5_f6_params")
    assert t.row("F6").out_shape == (int(value("lenet5_f6_units")),)
    assert t.total_connections == value("lenet5_connections")
    assert t.total_params == value("lenet5_params")
    assert t.input_shape[1:] == (int(value("lenet5_input")), int(value("lenet5_input", 1)))


def test_alexnet_widths_and_constants_of_the_paper_equal_the_package():
    spec = alexnet_spec("paper")
    convs = [layer.out_channels for layer in spec.layers if layer.kind == "conv"]
    assert convs == [int(f.value) for f in figures(facts.by_name()["alexnet_conv_kernels"].text)]
    fcs = [layer.out_features for layer in spec.layers if layer.kind == "linear"]
    assert fcs == [int(value("alexnet_fc_units"))] * 2 + [int(value("ilsvrc_classes"))]
    side, _, channels = (int(f.value) for f in figures(facts.by_name()["alexnet_input"].text))
    assert side * side * channels == value("alexnet_input_dims")
    # the paper's "60 million parameters" is a round number: within 2% of the count
    assert abs(trace(spec).total_params / value("alexnet_params") - 1) < Decimal("0.02")
    assert all(layer.p == value("dropout_p") for layer in spec.layers if layer.kind == "dropout")


def test_lrn_constants_and_the_gpu_memory():
    k, n, alpha, beta = (float(f.value) for f in figures(facts.by_name()["lrn_constants"].text))
    layer = LRN(name="norm")
    for got in (
        (LRN_CONSTANTS["k"], LRN_CONSTANTS["size"], LRN_CONSTANTS["alpha"], LRN_CONSTANTS["beta"]),
        (layer.k, layer.size, layer.alpha, layer.beta),
    ):
        assert got == (k, n, alpha, beta)
    assert GTX580_BYTES == int(value("gtx580_memory")) * 2**30


@pytest.mark.parametrize("name", ["mnist_train", "fashion_mnist_train"])
def test_the_datasets_size(name):
    assert value(name) == 60_000
