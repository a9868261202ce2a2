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
import sys
import textwrap
from pathlib import Path

import pytest

from classicnets import alexnet_training
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
    check = json.loads((out / "check_harness.json").read_text())
    assert [c["status"] for c in check["cases"]] == ["ok"]


def test_cross_check_compares_three_measurements():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import check_harness
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    import torch

    from classicnets import bench

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = bench.BenchConfig(name="check", warmup=1, min_sample_s=0.002, samples=3)
        row = check_harness.check_case(("lenet5", "infer", "fp32", 8), torch.device("cpu"), cfg, 0.002, rounds=2)
        skipped = check_harness.check_case(("lenet5", "train", "tf32", 8), torch.device("cpu"), cfg, 0.002)
    finally:
        torch.set_num_threads(threads)
    assert row["status"] == "ok" and all(len(v) == 2 for v in row["rounds_ms"].values())
    for key in ("harness_ms", "timer_ms", "loop_ms"):
        assert row[key] > 0
    assert row["vs_timer_pct"] == pytest.approx(100 * (row["harness_ms"] / row["timer_ms"] - 1))
    assert skipped["status"] == "skipped" and "TF32" in skipped["reason"]
