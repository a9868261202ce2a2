"""classicnets.distributed on 2 CPU ranks (gloo): the 2012 split equals groups=2, DDP equals one process on the
whole batch, the measured bytes equal the arithmetic, and a failing or stuck rank ends the run with its error.

Each test starts real processes (spawn), so each takes seconds; the network is the chapter's AlexNet (paper,
1×67×67 inputs, 10 classes) with fc1 and fc2 narrowed to 64 units (FC), built from the edited spec.
"""

from __future__ import annotations

import json
import time

import pytest

import classicnets as cn
from classicnets.cost import allreduce_bytes, split_traffic
from classicnets.distributed.data_parallel import check_batch, check_ddp, train_fashion
from classicnets.distributed.launch import (
    RankFailed,
    free_port,
    hello,
    pick_backend,
    run_ranks,
)
from classicnets.distributed.split import HalfAlexNet, check_split, paper_model
from classicnets.specs import alexnet_spec

SMALL = {"input_size": 67, "num_classes": 10, "in_channels": 1}
FC = 64


def small_spec():
    spec = alexnet_spec("paper", 10, 1, 67)
    return spec.with_layer("fc1", out_features=FC).with_layer("fc2", out_features=FC)


def small_params() -> int:
    return sum(p.numel() for p in paper_model(fc_width=FC).parameters())


def test_split_equals_groups2_forward_and_gradients_and_bytes_match_the_arithmetic():
    ranks = run_ranks(check_split, 2, timeout_s=240, device="cpu", batch=4, fc_width=FC, **SMALL)
    arithmetic = split_traffic(small_spec())
    for r in ranks:
        assert r["backend"] == "gloo"
        assert r["logits_rel_diff"] < 1e-5
        assert set(r["grad_rel_diff"]) == {"conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "fc3"}
        assert max(r["grad_rel_diff"].values()) < 1e-4, r["grad_rel_diff"]
        assert r["sent_bytes_per_image"] == arithmetic.bytes_sent_per_image()
        assert r["kept_values_per_image"] == arithmetic.kept_per_image
        assert r["params"] == arithmetic.params_per_rank
    assert ranks[0]["params"] + ranks[1]["params"] == small_params()


def test_ddp_equals_one_process_on_the_whole_batch():
    ranks = run_ranks(check_ddp, 2, timeout_s=240, device="cpu", steps=3, batch=8, fc_width=FC)
    assert [r["per_rank"] for r in ranks] == [4, 4]
    assert ranks[0]["max_rel_diff"] < 1e-5


def test_ddp_training_counts_the_gradient_bytes_it_all_reduces():
    ranks = run_ranks(train_fashion, 2, timeout_s=240, device="cpu", steps=2, batch=8, fc_width=FC)
    params = ranks[0]["params"]
    assert params == small_params()
    for step in ranks[0]["steps"]:
        assert step["bytes"] == 4 * params  # every gradient, once per step
        assert 0 < step["allreduce_seconds"] < step["seconds"]
    # what each rank sends in a ring all-reduce over 2 ranks is the gradients' size
    assert allreduce_bytes(params, 2) == ranks[0]["steps"][0]["bytes"]


def test_a_failing_rank_fails_the_run_with_its_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(RankFailed, match=r"rank 1 of 2 failed in hello(.|\n)*rank 1 failed on purpose"):
        run_ranks(hello, 2, timeout_s=120, device="cpu", fail_rank=1)  # rank 0 waits in an all-reduce meanwhile
    assert time.monotonic() - start < 100


def test_a_stuck_group_is_stopped_at_the_timeout():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="still running after 8 s"):
        run_ranks(hello, 2, timeout_s=8, device="cpu", sleep_s=600)
    assert time.monotonic() - start < 40


def test_uneven_split_is_refused_with_the_layer_and_the_fix():
    with pytest.raises(ValueError, match=r"fc3: its 9 outputs do not split evenly over 2 ranks.*num_classes=10"):
        HalfAlexNet(cn.alexnet("paper", 9, 1, input_size=67), rank=0, world=2)


def test_only_spec_built_models_are_cut():
    import torchvision

    with pytest.raises(TypeError, match="AlexNet carries no .spec"):
        HalfAlexNet(torchvision.models.alexnet(), rank=0)


def test_a_batch_that_does_not_split_over_the_ranks_is_refused():
    assert check_batch(64, 2) == 32
    with pytest.raises(ValueError, match=r"batch=30 does not split evenly over 4 ranks.*batch=28"):
        check_batch(30, 4)
    with pytest.raises(ValueError, match=r"batch=2 does not split evenly over 16 ranks.*batch=16"):
        check_batch(2, 16)


def test_backend_choice_and_ports():
    assert pick_backend(2, "cpu") == "gloo"
    with pytest.raises(ValueError, match="needs 64 GPUs"):
        pick_backend(64, "cuda")
    assert 0 < free_port() < 65536


def test_torchrun_runs_the_module_and_a_failing_rank_fails_it(tmp_path):
    """The command line the chapter shows: torchrun -m classicnets.distributed, on 127.0.0.1 at a free port."""
    import os
    import subprocess

    def torchrun(*args):
        command = [
            "torchrun",
            "--nproc-per-node",
            "2",
            "--master-addr",
            "127.0.0.1",
            "--master-port",
            str(free_port()),
            "-m",
            "classicnets.distributed",
            "hello",
            "--device",
            "cpu",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, env=os.environ.copy(), check=False)

    out = tmp_path / "hello.json"
    done = torchrun("--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text()) == {"rank": 0, "world": 2, "backend": "gloo", "sum": 3.0}
    failed = torchrun("--fail-rank", "1", "--timeout", "60")
    assert failed.returncode != 0
    assert "rank 1 failed on purpose" in failed.stdout + failed.stderr
