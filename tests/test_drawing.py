"""The network drawings: one block per layer that makes a new map or vector, labelled from the trace."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from classicnets.arithmetic import trace  # noqa: E402
from classicnets.drawing import BLOCK_KINDS, draw_network, network_blocks  # noqa: E402
from classicnets.plots import fig_to_png  # noqa: E402
from classicnets.specs import ALEXNET_VARIANTS, LENET5_VARIANTS, alexnet_spec, lenet5_spec  # noqa: E402

SPECS = (
    [lenet5_spec(v) for v in LENET5_VARIANTS]
    + [alexnet_spec(v) for v in ALEXNET_VARIANTS]
    + [
        lenet5_spec("blog").with_input(48).with_layer("conv2", kernel=3, padding=1),  # an edited spec
        alexnet_spec("paper").with_input(99).with_layer("conv1", kernel=7, stride=2),
    ]
)


def _drawn(fig):
    ax = fig.axes[0]
    patches = {p.get_gid() for p in ax.patches}
    texts = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    return patches, texts


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.title}@{s.input_shape[1]}")
def test_every_layer_that_changes_the_shape_is_one_labelled_block(spec):
    t = trace(spec)
    fig = draw_network(spec)
    patches, texts = _drawn(fig)
    expected = ["input"] + [r.name for r in t.rows if r.kind in BLOCK_KINDS]
    assert patches == set(expected)
    for row in t.rows:
        if row.kind in BLOCK_KINDS:
            label = texts[f"{row.name}:label"]
            assert label.splitlines()[0] == row.name
            if len(row.out_shape) == 3:  # the traced size is on the page, e.g. 6@28×28 or 2×48 / 55×55
                assert f"{row.out_shape[1]}×{row.out_shape[2]}" in label
            assert texts[f"{row.name}:op"]
    assert fig_to_png(fig)[:4] == b"\x89PNG"


def test_kernels_strides_and_activations_are_written_on_the_arrows():
    blocks = {b.name: b for b in network_blocks(trace(alexnet_spec("paper")))}
    assert blocks["conv1"].op == "conv 11×11 /4, relu, LRN"
    assert blocks["pool1"].op == "max pool 3×3 /2"
    assert blocks["conv2"].op == "conv 5×5 pad 2, groups 2, relu, LRN"
    assert blocks["fc2"].op == "dropout, full connection, relu"  # the paper drops fc1's outputs
    lenet = {b.name: b for b in network_blocks(trace(lenet5_spec("paper")))}
    assert lenet["C3"].op == "conv 5×5, table, squash" and lenet["output"].op == "Gaussian connections"


def test_paper_alexnet_is_drawn_as_two_streams_and_grouped_layers_stay_in_theirs():
    fig = draw_network(alexnet_spec("paper"))
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts if t.get_gid() == "stream") == ["GPU 1", "GPU 2"]
    conv1 = [p for p in ax.patches if p.get_gid() == "conv1"]
    assert len(conv1) == 2 * 3  # a box (three faces) on each GPU
    assert "2×48" in _drawn(fig)[1]["conv1:label"]
    blocks = {b.name: b for b in network_blocks(trace(alexnet_spec("paper")))}
    assert [n for n in ("conv2", "conv3", "conv4", "conv5") if blocks[n].grouped] == ["conv2", "conv4", "conv5"]
    one = draw_network(alexnet_spec("blog"))
    assert not [t for t in one.axes[0].texts if t.get_gid() == "stream"]
    assert len([p for p in one.axes[0].patches if p.get_gid() == "conv1"]) == 3
    plt.close("all")


def test_lenet_maps_are_stacks_of_sheets_one_per_map():
    fig = draw_network(lenet5_spec("paper"))
    sheets = [p for p in fig.axes[0].patches if p.get_gid() == "C3"]
    assert len(sheets) == 16
    plt.close(fig)


def test_drawing_into_a_given_axes():
    fig, ax = plt.subplots()
    assert draw_network(lenet5_spec(), ax=ax) is fig
    plt.close(fig)
