"""The communication arithmetic (classicnets.cost: split_traffic, allreduce_bytes, parallel_traffic).

References: the 2012 paper's map sizes (Krizhevsky et al. 2012, Fig. 2 / §3.2 — 256×13×13 maps before conv3,
9,216 values before fc1, 4,096 before fc2 and fc3), PyTorch's own parameter counts, and the ring all-reduce's
2(N−1)/N. The measured bytes of a real two-rank run are compared in test_distributed.py.
"""

from __future__ import annotations

import math

import pytest

import classicnets as cn
from classicnets.arithmetic import trace
from classicnets.cost import (
    GTX580_BYTES,
    allreduce_bytes,
    cost_breakdown,
    parallel_traffic,
    split_traffic,
    stored_values,
    traffic_table,
    training_memory,
    two_gpu_split,
)
from classicnets.specs import alexnet_spec


def test_split_sends_half_of_every_map_a_layer_reads_whole():
    s = split_traffic(alexnet_spec("paper"))
    sent = {e.layer: e.values_per_image for e in s.exchanges}
    assert sent == {
        "norm1": 2 * 55 * 55,  # LRN n=5: the 2 maps across the cut
        "norm2": 2 * 27 * 27,
        "conv3": 256 * 13 * 13 // 2,  # the other GPU's 128 maps of 13×13
        "fc1": 256 * 6 * 6 // 2,
        "fc2": 4096 // 2,
        "fc3": 4096 // 2,
        "logits": 1000 // 2,
    }
    assert s.bytes_sent_per_image()["conv3"] == 4 * 21_632
    without = split_traffic(alexnet_spec("paper"), lrn_border=False)
    assert {e.layer for e in without.exchanges} == {"conv3", "fc1", "fc2", "fc3", "logits"}


def test_split_memory_is_half_the_network_plus_what_crosses():
    spec = alexnet_spec("paper")
    s = split_traffic(spec)
    model = cn.alexnet("paper")
    assert 2 * s.params_per_rank == sum(p.numel() for p in model.parameters()) == 60_965_224
    stored = stored_values(trace(spec))
    received = sum(v for k, v in s.kept_per_image.items() if "other rank" in k)
    assert received == 21_632 + 4_608 + 2_048 + 2_048
    assert (
        sum(s.kept_per_image.values())
        == stored["input"] + sum(v // 2 for k, v in stored.items() if k != "input") + received
    )
    # one rank trains in far less than the 3 GB of a GTX 580, and in less than one GPU alone would need
    assert s.training_bytes(128) < training_memory(spec, 128).total_bytes
    assert s.training_bytes(128) < GTX580_BYTES


@pytest.mark.parametrize("world,factor", [(1, 0), (2, 1), (4, 1.5), (8, 1.75)])
def test_ring_allreduce_bytes(world, factor):
    assert allreduce_bytes(1000, world) == int(factor * 4000)


def test_data_vs_model_parallel_per_layer():
    spec = alexnet_spec("paper")
    rows = parallel_traffic(spec, batch_size=128)
    model = cn.alexnet("paper")
    for r in rows:
        module = dict(model.named_modules())[f"{'features' if r.kind == 'conv' else 'classifier'}.{r.name}"]
        assert r.data_parallel_bytes == 4 * sum(p.numel() for p in module.parameters())  # 2 ranks: 2(N-1)/N = 1
    by = {r.name: r for r in rows}
    assert by["conv3"].model_parallel_bytes == 2 * 21_632 * 128 * 4  # forward maps + their gradients back
    assert by["conv4"].model_parallel_bytes == 0  # groups=2: reads its own half
    assert by["fc3"].model_parallel_bytes == 2 * (2_048 + 500) * 128 * 4  # its input, then the logits
    fc = sum(r.params for r in rows if r.kind == "linear")
    assert fc == cost_breakdown(spec).fc_params == 58_631_144
    dp = {k: sum(r.data_parallel_bytes for r in rows if r.kind == k) for k in ("conv", "linear")}
    mp = {k: sum(r.model_parallel_bytes for r in rows if r.kind == k) for k in ("conv", "linear")}
    assert dp["conv"] < mp["conv"] and mp["linear"] < dp["linear"]  # "one weird trick"
    table = traffic_table(rows)
    assert table.count("\n") == len(rows) + 3 and "all fully connected" in table


def test_split_traffic_agrees_with_two_gpu_split():
    spec = alexnet_spec("paper", num_classes=10, in_channels=1, input_size=67)
    s, g = split_traffic(spec), two_gpu_split(spec)
    crossing = {e.layer: e.values_per_image for e in s.exchanges if e.layer in g.crossing_layers}
    assert sum(crossing.values()) == g.values_exchanged_per_image
    assert s.params_per_rank == g.params_per_gpu
    assert math.prod(s.input_shape) == s.kept_per_image["input"] == 67 * 67
