"""benchmarks/gpu_session.sh, the one call a GPU session makes, and the scripts it runs (benchmarks/*.py).

A GPU session is rare (a chance draw per task) and short (15 minutes of device
time), so its script must not fail for a reason a CPU could have found: this
runs the same glue with ``--smoke`` (tiny settings, on the CPU), with the
packages that the GPU machine's image lacks made unimportable, and checks
that each of the files it sends back is what the repository's loaders accept.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from classicnets import bench, records, timing_results

REPO = Path(__file__).resolve().parents[1]
# on the GPU machine's image (python3 with torch, numpy, tqdm): none of these (KINDS.md's package list)
ABSENT_ON_GPU_MACHINE = ("ipywidgets", "torchinfo", "IPython", "jupyter_book", "nbformat", "nbclient", "playwright")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("session")
    blocker = tmp / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
        import sys
        class _Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {ABSENT_ON_GPU_MACHINE!r}:
                    raise ImportError(f"{{name}} is not installed on the GPU machine")
        sys.meta_path.insert(0, _Absent())
    """)
    )
    out = tmp / "out"
    env = {**os.environ, "PYTHONPATH": str(blocker), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["bash", str(REPO / "benchmarks" / "gpu_session.sh"), "--smoke", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    return proc, out


def test_session_runs_every_phase(smoke):
    proc, out = smoke
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    for phase in ("training exit status 0", "check exit status 0", "bench exit status 0"):
        assert phase in log, log[-3000:]
    assert "is not installed on the GPU machine" not in log, "the session imports a package the GPU machine lacks"


def test_session_sends_back_at_most_eight_loadable_files(smoke):
    _, out = smoke
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8, f"the device tool returns 8 files at most: {files}"
    assert {
        "env.txt",
        "train_alexnet.log",
        "check_harness.log",
        "bench.log",
        "alexnet_fashion_gpu.json",
        "check_harness.json",
    } <= set(files)
    record = records.load(out / "alexnet_fashion_gpu.json", "training")
    assert record.payload["config"]["input_size"] == 67 and len(record.payload["history"]) == 1
    others = ("alexnet_fashion_gpu.json", "check_harness.json")
    bench_files = [f for f in files if f.endswith(".json") and f not in others]
    assert len(bench_files) == 1
    result = timing_results.BenchResult.from_record(records.load(out / bench_files[0], "timing"))
    assert result.complete and result.ok()
    check = records.load(out / "check_harness.json", "harness_check")
    assert [c["status"] for c in check.payload["cases"]] == ["ok"] and check.payload["threads"] == 1
    assert "lenet5 train fp32 16" in timing_results.check_text(check)


def test_a_committed_cross_check_is_a_gpu_record():
    record = records.load_if_exists(records.CHECK_GPU_RECORD, "harness_check")
    if record is None:
        pytest.skip("no GPU cross-check recorded yet (benchmarks/gpu_session.sh makes one)")
    assert record.on_gpu
    assert {tuple(c["case"]) for c in record.payload["cases"]} == set(bench.GPU_CASES)


def _script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rounds", "0"], "--rounds: 0 is too small"),
        (["--threads", "-1"], "--threads: -1 is too small"),
        (["--min-sample-ms", "-5"], "--min-sample-ms: -5 must be a finite number"),
        (["--device", "gpu"], "--device: 'gpu' is not a device"),
        (["--out", "{file}/r.json"], "--out: "),
    ],
)
def test_check_harness_refuses_bad_values_before_any_work(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(bench, "cross_check", lambda *a, **k: pytest.fail("work started"))
    (tmp_path / "file").write_text("")  # a path under a file cannot be written
    with pytest.raises(SystemExit) as stop:
        _script("check_harness").main([a.format(file=tmp_path / "file") for a in argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "--epochs: 0 is too small"),
        (["--batch-size", "-64"], "--batch-size: -64 is too small"),
        (["--input-size", "32"], "--input-size: 32 is too small for AlexNet"),
        (["--subset", "0", "10"], "--subset: 0 is too small"),
        (["--lr", "0"], "--lr: 0 is not a learning rate"),
        (["--augment", "-2"], "--augment: -2 is too small"),
        (["--optimizer", "lbfgs"], "--optimizer: invalid choice"),
        (["--device", "cpu", "--out", "{file}/r.json"], "--out: "),
    ],
)
def test_train_alexnet_refuses_bad_values_before_any_work(argv, message, capsys, tmp_path):
    module = _script("train_alexnet_gpu")
    module.train_alexnet_fashion = lambda *a, **k: pytest.fail("work started")
    (tmp_path / "file").write_text("")
    assert module.main([a.format(file=tmp_path / "file") for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_scripts_refuse_cuda_without_a_gpu(capsys):
    assert _script("train_alexnet_gpu").main(["--device", "cuda", "--out", "/tmp/x.json"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _script("check_harness").main(["--device", "cuda"])
    assert "no CUDA GPU" in capsys.readouterr().err
