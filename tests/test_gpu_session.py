"""benchmarks/gpu_session.sh, the one call a GPU session makes, and benchmarks/check_harness.py.

A GPU session is rare (a chance draw per task) and short (15 minutes of device
time), so its script must not fail for a reason a CPU could have found: this
runs the same glue with ``--smoke`` (tiny settings, on the CPU), with the
packages that the GPU machine's image lacks made unimportable, and checks
that each of the files it sends back is what the repository's loaders accept.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from classicnets import alexnet_training, bench_check
from classicnets.bench_report import load_record

REPO = Path(__file__).resolve().parents[1]
# on the GPU machine's image (python3 with torch, numpy, tqdm): none of these (KINDS.md's package list)
ABSENT_ON_GPU_MACHINE = ("ipywidgets", "torchinfo", "IPython", "jupyter_book", "nbformat", "nbclient", "playwright")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("session")
    blocker = tmp / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import sys
        class _Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {ABSENT_ON_GPU_MACHINE!r}:
                    raise ImportError(f"{{name}} is not installed on the GPU machine")
        sys.meta_path.insert(0, _Absent())
    """))
    out = tmp / "out"
    env = {**os.environ, "PYTHONPATH": str(blocker), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_session.sh"), "--smoke", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
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
    assert {"env.txt", "train_alexnet.log", "check_harness.log", "bench.log",
            "alexnet_fashion_gpu.json", "check_harness.json"} <= set(files)
    record = alexnet_training.load_record(out / "alexnet_fashion_gpu.json")
    assert record["config"]["input_size"] == 67 and len(record["history"]) == 1
    bench_files = [f for f in files if f.endswith(".json") and f not in ("alexnet_fashion_gpu.json", "check_harness.json")]
    assert len(bench_files) == 1
    result = load_record(out / bench_files[0])
    assert result.complete and result.ok()
    check = bench_check.load_record(out / "check_harness.json")
    assert [c["status"] for c in check["cases"]] == ["ok"]
    assert "lenet5 train fp32 16" in bench_check.record_text(check)


def test_cross_check_compares_three_measurements():
    import torch

    from classicnets import bench, bench_check

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = bench.BenchConfig(name="check", warmup=1, min_sample_s=0.002, samples=3)
        row = bench_check.cross_check_case(("lenet5", "infer", "fp32", 8), "cpu", 0.002, rounds=2, cfg=cfg)
        skipped = bench_check.cross_check_case(("lenet5", "train", "tf32", 8), "cpu", 0.002, cfg=cfg)
    finally:
        torch.set_num_threads(threads)
    assert row["status"] == "ok" and all(len(v) == 2 for v in row["rounds_ms"].values())
    for key in ("harness_ms", "timer_ms", "loop_ms"):
        assert row[key] > 0
    assert row["vs_timer_pct"] == pytest.approx(100 * (row["harness_ms"] / row["timer_ms"] - 1))
    assert bench_check.largest_deviation([row, skipped]) == max(abs(row["vs_timer_pct"]), abs(row["vs_loop_pct"]))
    assert skipped["status"] == "skipped" and "TF32" in skipped["reason"]


def test_cross_check_prints_a_row_per_case_and_reports_progress():
    import torch

    lines, seen = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = bench_check.cross_check([("lenet5", "infer", "fp32", 4), ("lenet5", "infer", "tf32", 4)], "cpu",
                                       min_s=0.001, rounds=1, log=lines.append, on_row=lambda r: seen.append(len(r)))
    finally:
        torch.set_num_threads(threads)
    assert seen == [1, 2] and [r["status"] for r in rows] == ["ok", "skipped"]
    assert lines[0].split()[:2] == ["case", "harness"] and lines[1].startswith("lenet5 infer fp32 4")
    assert "skipped" in lines[2] and lines[-1].startswith("largest deviation")


def test_independent_step_does_the_harness_work():
    """The step the cross-check times changes the same parameters the same way as a hand-written one."""
    import torch
    import torch.nn.functional as F

    from classicnets import bench_check
    from classicnets.models import lenet5

    step = bench_check.independent_step("lenet5", "train", "fp32", 4, torch.device("cpu"))
    cells = [c.cell_contents for c in step.__closure__]  # the closure holds the model and optimizer it trains
    net = next(c for c in cells if isinstance(c, torch.nn.Module))
    before = [p.detach().clone() for p in net.parameters()]
    step()
    torch.manual_seed(0)
    ref = lenet5("blog")
    x = torch.randn(4, 1, 32, 32)
    y = torch.randint(0, 10, (4,))
    for p, q in zip(before, ref.parameters()):
        assert torch.equal(p, q)  # same seed, same initial weights
    F.cross_entropy(ref(x), y).backward()
    grads = [p.grad for p in ref.parameters()]
    for p0, p1, g in zip(before, net.parameters(), grads):
        assert torch.allclose(p1, p0 - 1e-3 * g, atol=1e-6)  # SGD's first step: momentum buffer = gradient
    with pytest.raises(ValueError, match="unknown net"):
        bench_check.independent_step("vgg", "train", "fp32", 4, torch.device("cpu"))


def test_pin_malloc_works_on_glibc():
    import platform

    from classicnets import timing

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert timing.pin_malloc() is True


def test_cross_check_record_round_trip_and_refusals(tmp_path):
    rows = [{"case": ["lenet5", "infer", "fp32", 8], "status": "ok", "harness_ms": 1.0, "timer_ms": 1.02,
             "loop_ms": 0.97, "vs_timer_pct": -1.96, "vs_loop_pct": 3.09},
            {"case": ["lenet5", "train", "tf32", 8], "status": "skipped", "reason": "TF32 is a tensor-core format"}]
    record = bench_check.make_record(rows, "cpu", rounds=3)
    assert record["largest_deviation_pct"] == pytest.approx(3.09)
    path = bench_check.save_record(record, tmp_path / "check.json")
    assert bench_check.load_record(path) == json.loads(json.dumps(record))
    text = bench_check.record_text(bench_check.load_record(path))
    assert "3 rounds per case" in text and "skipped: TF32" in text and "largest deviation: 3.1% (within 5%)" in text
    assert bench_check.load_record(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text(json.dumps({"schema": "classicnets.bench/1", "cases": []}))
    with pytest.raises(ValueError, match="not a harness cross-check record"):
        bench_check.load_record(tmp_path / "bad.json")


def test_a_committed_cross_check_is_a_gpu_record():
    record = bench_check.load_record()
    if record is None:
        pytest.skip("no GPU cross-check recorded yet (benchmarks/gpu_session.sh makes one)")
    assert record["env"]["device_type"] == "cuda"
    assert {tuple(c["case"]) for c in record["cases"]} == set(bench_check.GPU_CASES)
