"""The training half of classicnets.alexnet_training (chapter 06) and benchmarks/train_alexnet_gpu.py, on tiny
settings that run in seconds on a CPU (the record half is tested in test_ablations.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from classicnets import alexnet_training as at
from classicnets import records
from classicnets.arithmetic import trace
from classicnets.specs import alexnet_spec

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = dict(device="cpu", epochs=1, input_size=67, subset=(96, 64), batch_size=32, progress=False)


@pytest.fixture(scope="module")
def tiny_run():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield at.train_alexnet_fashion(**TINY_RUN)
    torch.set_num_threads(before)


def test_train_alexnet_fashion_on_cpu(tiny_run):
    run = tiny_run
    assert run.device_type == "cpu" and "CPU" in run.device
    assert run.recipe.input_size == 67 and run.recipe.n_train == 96 and run.recipe.n_test == 64
    assert run.recipe.amp is False and run.recipe.channels_last is False  # resolved for the CPU
    spec = trace(alexnet_spec("blog", num_classes=10, in_channels=1, input_size=67))
    assert run.parameters == spec.total_params and spec.flatten_size() == 256
    assert len(run.history) == 1 and 0 <= run.test_acc <= 1
    assert run.history.meta["n_train"] == 96 and run.history.meta["optimizer"] == "adam"
    assert run.seconds == pytest.approx(run.train_seconds + run.eval_seconds)
    assert "test accuracy" in run.summary()


def test_recipe_model_and_fit_are_the_run():
    """The two functions chapter 06 shows on the page are what train_alexnet_fashion runs.

    Same weights, same history."""
    r = at.CPU_RECIPE.resolved("cpu")
    r = type(r)(**{**r.__dict__, "n_train": 64, "n_test": 32, "batch_size": 32})
    torch.set_num_threads(1)
    run = at.train_alexnet_fashion(recipe=r, device="cpu", progress=False)
    from classicnets.data import load_fashion_mnist

    data = load_fashion_mnist(resize=r.input_size, n_train=r.n_train, n_test=r.n_test, seed=r.seed, progress=False)
    model = at.recipe_model(r)
    history = at.recipe_fit(model, data, r, torch.device("cpu"), progress=False)
    assert [e.train_loss for e in history] == [e.train_loss for e in run.history]
    assert history.final.test_acc == run.test_acc
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), run.model.state_dict().values()))
    fresh, he = at.recipe_model(type(r)(**{**r.__dict__, "init": "pytorch"})), at.recipe_model(r)
    last = [m for m in he.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert torch.count_nonzero(last.weight) == 0  # He init: a zero output layer
    assert torch.count_nonzero([m for m in fresh.modules() if isinstance(m, torch.nn.Linear)][-1].weight) > 0


def test_recipes():
    assert at.GPU_RECIPE.input_size == 224 and at.GPU_RECIPE.epochs == 10 and at.GPU_RECIPE.n_train is None
    assert at.CPU_RECIPE.input_size >= 67  # the smallest input AlexNet's last pooling accepts
    assert at.GPU_RECIPE.resolved("cuda").amp and at.GPU_RECIPE.resolved("cuda").channels_last
    assert not at.GPU_RECIPE.resolved("cpu").amp
    assert "224×224" in at.GPU_RECIPE.describe()
    with pytest.raises(ValueError, match="init"):
        at.train_alexnet_fashion(device="cpu", init="xavier", progress=False)
    assert not hasattr(at, "D2L_REFERENCE")  # no reference figure without a traceable source


def test_test_split_is_the_runs_test_set(tiny_run):
    from classicnets.data import load_fashion_mnist

    r = tiny_run.recipe
    split = at.test_split(r)
    full = load_fashion_mnist(resize=r.input_size, n_train=r.n_train, n_test=r.n_test, seed=r.seed, progress=False)
    assert len(split.x_train) == 0
    assert torch.equal(split.x_test, full.x_test) and torch.equal(split.y_test, full.y_test)


def _script():
    spec = importlib.util.spec_from_file_location("train_alexnet_gpu", REPO / "benchmarks" / "train_alexnet_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_script_code_path_on_cpu(tmp_path, capsys):
    script = _script()
    out = tmp_path / "alexnet_fashion_cpu.json"
    argv = [
        "--device",
        "cpu",
        "--input-size",
        "67",
        "--epochs",
        "1",
        "--subset",
        "64",
        "32",
        "--batch-size",
        "32",
        "--out",
        str(out),
    ]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "targets:" in printed and "record written" in printed
    rec = records.load(out, "training")
    p = rec.payload
    assert p["device_type"] == "cpu" and p["config"]["n_train"] == 64 and len(p["history"]) == 1
    assert rec.command == "python benchmarks/train_alexnet_gpu.py " + " ".join(argv)  # what made it


def test_benchmark_script_keeps_the_default_record_for_full_gpu_runs(capsys):
    script = _script()
    assert script.main(["--device", "cpu"]) == 2
    assert "pass --out" in capsys.readouterr().err
    assert script.main(["--device", "cuda", "--epochs", "1"]) == 2  # not the full recipe
    assert not records.ALEXNET_GPU_RECORD.exists() or records.load(records.ALEXNET_GPU_RECORD, "training")
