"""classicnets.cost: where AlexNet's parameters and compute live, its training memory, the two-GPU split."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from classicnets.arithmetic import trace  # noqa: E402
from classicnets.cost import (  # noqa: E402
    GTX580_BYTES,
    cost_breakdown,
    stored_values,
    training_memory,
    two_gpu_split,
)
from classicnets.layers import Conv, Linear, NetSpec, Pool  # noqa: E402
from classicnets.specs import alexnet_spec, lenet5_spec  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_alexnet_fc_layers_hold_94_percent_of_parameters_and_convs_do_95_percent_of_macs():
    c = cost_breakdown(alexnet_spec("blog"))
    assert (c.total_params, c.total_macs) == (62_378_344, 1_135_256_096)
    assert round(100 * c.fc_param_share) == 94
    assert round(100 * c.conv_mac_share) == 95
    assert c.conv_params + c.fc_params == c.total_params  # nothing else has parameters
    assert c.conv_macs + c.fc_macs == c.total_macs
    assert math.isclose(sum(l.param_share for l in c.layers), 1.0)
    assert math.isclose(sum(l.mac_share for l in c.layers), 1.0)
    assert [l.name for l in c.layers] == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3"]
    fc1 = c.layer("fc1")
    assert fc1.params == 9216 * 4096 + 4096 and fc1.macs == 9216 * 4096
    assert max(c.layers, key=lambda l: l.mac_share).name == "conv2"
    assert max(c.layers, key=lambda l: l.param_share).name == "fc1"
    with pytest.raises(KeyError, match="no weighted layer"):
        c.layer("pool1")


def test_breakdown_reads_specs_traces_and_modules_alike():
    import torchvision

    import classicnets as cn

    spec = alexnet_spec("paper")
    a, b = cost_breakdown(spec), cost_breakdown(trace(spec))
    assert a == b
    assert (a.total_params, a.total_macs) == (60_965_224, 724_406_816)
    ours = cost_breakdown(cn.alexnet("paper"))  # carries its spec
    assert ours.total_params == 60_965_224
    tv = cost_breakdown(cn.trace_module(torchvision.models.alexnet(), (3, 224, 224)))
    assert (tv.total_params, tv.total_macs) == (61_100_840, 714_188_480)
    with pytest.raises(TypeError, match=r"got AlexNet: trace the module first, .*trace_module\(net, \(3, 224, 224\)\)"):
        cost_breakdown(torchvision.models.alexnet(), (3, 224, 224))
    at224 = cost_breakdown(alexnet_spec("blog"), (3, 224, 224))
    assert at224.input_shape == (3, 224, 224) and at224.layer("fc1").params == 6400 * 4096 + 4096


def test_table_summary_and_plot():
    c = cost_breakdown(alexnet_spec("blog"))
    table = c.table()
    assert "| fc1 | 37,752,832 | 60.5% |" in table
    assert "**94.0%**" in table and "**94.8%**" in table
    assert "94.0% of the parameters" in c.summary()
    fig = c.plot()
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 2 * len(c.layers)
    assert "94%" in fig.axes[0].get_title() and "95%" in fig.axes[0].get_title()


def test_stored_values_counts_outputs_kept_for_backward():
    t = trace(lenet5_spec("modern"))
    lean = stored_values(t)
    # input, conv1, pool1, conv2, pool2, fc1, fc2, fc3 (activations in place, flatten is a view)
    assert lean == {
        "input": 1024,
        "conv1": 6 * 28 * 28,
        "pool1": 6 * 14 * 14,
        "conv2": 16 * 10 * 10,
        "pool2": 16 * 5 * 5,
        "fc1": 120,
        "fc2": 84,
        "fc3": 10,
    }
    full = stored_values(t, in_place_activations=False)
    assert set(full) - set(lean) == {"act1", "act2", "act3", "act4"}
    assert full["act1"] == 6 * 28 * 28


def test_training_memory_of_alexnet_against_a_gtx_580():
    m = training_memory(alexnet_spec("blog"))  # batch 128, fp32, SGD momentum
    assert m.batch_size == 128 and m.bytes_per_value == 4 and m.gpu_bytes == GTX580_BYTES == 3 * 2**30
    assert m.param_state_bytes == 3 * 4 * 62_378_344
    t = trace(alexnet_spec("blog"))
    assert m.values_per_image == sum(stored_values(t).values())
    assert m.activation_bytes == m.values_per_image * 4 * 128
    assert m.largest_map == 96 * 55 * 55  # conv1's output
    assert m.total_bytes == m.param_state_bytes + m.activation_bytes + m.backward_buffer_bytes
    assert 0.3 < m.gpu_fraction < 1.0  # a large share of the card, without the framework's own buffers
    heavier = training_memory(alexnet_spec("paper"), in_place_activations=False)
    assert heavier.values_per_image > training_memory(alexnet_spec("paper")).values_per_image
    adam = training_memory(alexnet_spec("blog"), optimizer_slots=2)
    assert adam.param_state_bytes - m.param_state_bytes == 4 * 62_378_344
    table = m.table()
    assert "SGD momentum" in table and "**total**" in table
    assert "of a 3 GB GTX 580" in m.summary()


def test_two_gpu_split_of_the_paper_variant():
    s = two_gpu_split(alexnet_spec("paper"))
    assert s.crossing_layers == ["conv3", "fc1", "fc2", "fc3"]
    assert 2 * s.params_per_gpu == s.total_params == 60_965_224
    assert 2 * s.macs_per_gpu == s.total_macs == 724_406_816
    # each GPU receives the other's half of pool2 (256×13×13), pool3 (256×6×6), fc1 and fc2 outputs
    assert s.values_exchanged_per_image == 256 * 13 * 13 // 2 + 256 * 6 * 6 // 2 + 2048 + 2048 == 30_336
    assert "4 of 8 layers" in s.table()
    # without groups every layer after the first reads the other GPU's maps
    blog = two_gpu_split(alexnet_spec("blog"))
    assert blog.crossing_layers == ["conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3"]


def test_breakdown_of_a_network_without_linear_layers():
    spec = NetSpec("tiny", "x", (1, 8, 8), (Conv("c", 2, 3), Pool("p", kernel=2)))
    c = cost_breakdown(spec)
    assert c.fc_param_share == 0 and c.conv_mac_share == 1
    spec = NetSpec("lin", "x", (1, 2, 2), (), (Linear("fc", 3),))
    assert cost_breakdown(spec).fc_param_share == 1
