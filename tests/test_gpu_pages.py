"""Chapters 6 and 8 read right with no GPU record (today) and with one (issue 18).

Each test renders (executes, in a Jupyter kernel) the cells of a chapter that find, print and use the GPU records,
twice: with a records folder that holds what this checkout holds but no GPU record, and with the same folder plus
synthetic GPU records, written and validated by :mod:`classicnets.records` itself. The folder is handed to the
kernel with ``CLASSICNETS_RECORDS``, the one hook ``classicnets/records.py`` reads. Then it checks what each state
prints, and that the pages' prose speaks of GPU behaviour only as an expectation or as what a cell prints.

Kept fast: chapter 6's training cells are replaced by a stand-in for their result (the records are what is under
test), chapter 8 runs its harness with the ``tiny`` preset instead of ``cpu-small``; its cross-check is skipped.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import nbformat
import pytest
from conftest import REPO
from nbclient import NotebookClient

from classicnets import records, timing_results

RECORDS = REPO / "classicnets" / "records"
GPU_ENV = {
    "device_type": "cuda",
    "device_name": "NVIDIA H100 80GB HBM3 (synthetic test record)",
    "date": "2031-01-02T03:04:05+00:00",
    "torch": "2.14.1+cu130",
    "cuda": "13.0",
    "cpu": "test CPU",
    "cpu_threads": 16,
}


def records_folder(tmp: Path, with_gpu: bool) -> Path:
    """This checkout's non-GPU records (the CPU training record, LeNet5's weights), and with ``with_gpu`` one GPU
    record of each kind the pages show: training (chapter 6), timing and harness check (chapter 8)."""
    folder = tmp / ("with-gpu" if with_gpu else "no-gpu")
    folder.mkdir()
    for path in RECORDS.glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("env", {}).get("device_type") != "cuda":
            shutil.copy(path, folder / path.name)
    if with_gpu:
        write_gpu_training(folder)
        write_gpu_timing(folder)
        write_gpu_check(folder)
    return folder


def write_gpu_training(folder: Path) -> None:
    cpu = records.load(RECORDS / "alexnet_fashion_cpu.json", "training")
    payload = copy.deepcopy(cpu.payload)
    payload["config"].update(input_size=224, epochs=10, batch_size=256, amp=True, channels_last=True)
    payload.update(device=GPU_ENV["device_name"], device_type="cuda", test_acc=0.9312, seconds=36.5)
    epoch = payload["history"][0]
    payload["history"] = [
        dict(epoch, epoch=i + 1, test_acc=0.85 + 0.008 * i, seconds=3.2, eval_seconds=0.3, images_per_s=18_750.0)
        for i in range(10)
    ]
    records.Record("training", payload, dict(GPU_ENV), "python benchmarks/train_alexnet_gpu.py").save(
        folder / "alexnet_fashion_gpu.json"
    )


def timing_case(net: str, task: str, mode: str, batch: int, ms: float, peak: float) -> Dict:
    flops = {"lenet5": 1.3e6, "alexnet": 6.8e9}[net] * batch * (3 if task == "train" else 1)
    tflops = flops / (ms * 1e-3) / 1e12
    return {
        "net": net,
        "task": task,
        "mode": mode,
        "batch": batch,
        "status": "ok",
        "ms": ms,
        "ms_min": 0.98 * ms,
        "ms_max": 1.03 * ms,
        "images_per_s": batch / (ms * 1e-3),
        "flops_per_batch": flops,
        "tflops": tflops,
        "pct_peak": 100 * tflops / peak,
        "peak_mem_mb": 100.0,
        "compile_s": 21.0 if mode.endswith("compile") else None,
    }


def write_gpu_timing(folder: Path) -> None:
    peaks = {p: {"status": "ok", "tflops": t, "n": 8192} for p, t in (("fp32", 50.0), ("tf32", 300.0), ("bf16", 600.0))}
    peak_of = {"fp32": 50.0, "tf32": 300.0, "bf16-cl": 600.0, "bf16-cl-compile": 600.0}
    cases: List[Dict] = []
    for mode, speed in (("fp32", 1.0), ("tf32", 1.6), ("bf16-cl", 2.5), ("bf16-cl-compile", 3.1)):
        for batch, ms in ((256, 2.0), (8192, 14.0)):
            cases.append(timing_case("lenet5", "train", mode, batch, ms / (1 + (speed - 1) * 0.1), peak_of[mode]))
        for batch, ms in ((256, 120.0), (512, 235.0)):
            cases.append(timing_case("alexnet", "train", mode, batch, ms / speed, peak_of[mode]))
    result = timing_results.BenchResult(
        "gpu-record", dict(GPU_ENV), peaks, cases, total_s=420.0, source="recorded", command="python -m ..."
    )
    result.save(folder)


def write_gpu_check(folder: Path) -> None:
    row = {
        "case": ["alexnet", "train", "bf16-cl", 256],
        "status": "ok",
        "harness_ms": 48.0,
        "timer_ms": 48.3,
        "loop_ms": 48.1,
        "vs_timer_pct": -0.6,
        "vs_loop_pct": -0.2,
    }
    payload = {"rounds": 3, "threads": 16, "malloc_pinned": False, "largest_deviation_pct": 0.6, "cases": [row]}
    records.Record("harness_check", payload, dict(GPU_ENV), "python benchmarks/check_harness.py").save(
        folder / records.CHECK_GPU_RECORD.name
    )


def render(
    chapter: str, ids: Sequence[str], folder: Path, prelude: str = "", edits: Optional[Dict[str, tuple]] = None
) -> Dict:
    """Execute the cells ``ids`` of ``book/<chapter>.ipynb`` (after ``prelude``) with ``CLASSICNETS_RECORDS=folder``;
    the text each cell printed or displayed, by id, and all of it under ``"all"``."""
    nb = nbformat.read(REPO / "book" / f"{chapter}.ipynb", as_version=4)
    by_id = {c.id: c for c in nb.cells}
    cells = []
    for cid in ids:
        cell = copy.deepcopy(by_id[cid])
        for old, new in (edits or {}).get(cid, ()):
            assert old in cell.source, (cid, old)
            cell.source = cell.source.replace(old, new)
        cells.append(cell)
    if prelude:
        cells.insert(0, nbformat.v4.new_code_cell(prelude))
    sub = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    env = {"CLASSICNETS_RECORDS": str(folder), "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"}
    old_env = {k: os.environ.get(k) for k in (*env, "PYTHONPATH")}
    os.environ.update(env, PYTHONPATH=os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))))
    try:
        NotebookClient(sub, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        for k, v in old_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    out = {}
    for cell in sub.cells:
        texts = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                texts.append(o.get("text", ""))
            for mime in ("text/markdown", "text/plain"):
                if mime in o.get("data", {}):
                    texts.append(o["data"][mime])
                    break
        out[cell.get("id", "")] = "".join(texts)
    out["all"] = "\n".join(out.values())
    return out


def prose(chapter: str) -> str:
    nb = nbformat.read(REPO / "book" / f"{chapter}.ipynb", as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


# --------------------------------------------------------------------------- chapter 6

CH6_STANDIN = """
from types import SimpleNamespace
import classicnets.alexnet_training as _at
from classicnets import records as _records
from classicnets import training_records as _training_records
_cpu = _records.load(_records.ALEXNET_CPU_RECORD, "training")
run = SimpleNamespace(  # stands for the page's short training run: the records are under test here
    recipe=_at.CPU_RECIPE, device="CPU (stand-in)", device_type="cpu", test_acc=0.5, seconds=1.0,
    history=_training_records.record_history(_cpu),
)
"""
CH6_CELLS = ("cc9c0c69", "7c8e0346", "484d2f15", "6f076892", "c847f0e4")


@pytest.mark.slow
def test_chapter_6_with_and_without_a_gpu_record(tmp_path):
    none = render("06_alexnet_training", CH6_CELLS, records_folder(tmp_path, False), CH6_STANDIN)
    assert "No GPU record has been made yet" in none["7c8e0346"]
    assert records.ALEXNET_GPU_COMMAND in none["7c8e0346"]
    assert "against the aim" not in none["all"] and "H100" not in none["7c8e0346"]
    assert "(no GPU record yet: the aim's row has nothing beside it)" in none["6f076892"]
    assert "recorded on CPU" in none["all"]  # the committed CPU record is still shown

    gpu = render("06_alexnet_training", CH6_CELLS, records_folder(tmp_path, True), CH6_STANDIN)
    shown = gpu["7c8e0346"]
    assert "No GPU record" not in shown and "synthetic test record" in shown
    assert "test accuracy 0.9312" in shown and "against the aim: test accuracy 0.9312 ≥ 0.92, 36.5 s ≤ 40 s" in shown
    assert "| GPU record |" in gpu["6f076892"] and "no GPU record yet" not in gpu["6f076892"]

    text = prose("06_alexnet_training")
    assert "The next cell shows that record when this checkout has one" in text
    assert "The book shows that record" not in text


# --------------------------------------------------------------------------- chapter 8

CH8_CELLS = (
    "64c34d37",
    "98edc8f0",
    "1a8a09aa",
    "50c70493",
    "0b705636",
    "7bd146e8",
    "c0e54593",
    "bfcb92de",
    "c68ba368",
    "16a74337",
    "b8afa949",
)
CH8_EDITS = {"64c34d37": (('"cpu-small"', '"tiny"'),)}  # seconds instead of a minute on a CPU
CH8_PRELUDE = "import os\nassert 'CLASSICNETS_RECORDS' in os.environ"


@pytest.mark.slow
def test_chapter_8_with_and_without_a_gpu_record(tmp_path):
    none = render("08_gpu_timing", CH8_CELLS, records_folder(tmp_path, False), CH8_PRELUDE, CH8_EDITS)
    assert "GPU timing records found: 0" in none["1a8a09aa"]
    assert "No GPU result on this page" in none["1a8a09aa"] and "is an expectation" in none["1a8a09aa"]
    assert "recorded on" not in none["all"] and "synthetic" not in none["all"]
    assert "live on CPU" in none["c0e54593"] and "as many FLOPs per second" in none["c0e54593"]

    gpu = render("08_gpu_timing", CH8_CELLS, records_folder(tmp_path, True), CH8_PRELUDE, CH8_EDITS)
    assert "GPU timing records found: 1" in gpu["1a8a09aa"] and "No GPU result" not in gpu["1a8a09aa"]
    ratio = gpu["c0e54593"]
    assert "recorded on NVIDIA H100 80GB HBM3 (synthetic test record)" in ratio
    assert "time per batch of 256" in ratio
    assert ratio.index("recorded on NVIDIA") < ratio.index("live on CPU")  # the GPU result first, the CPU run labelled
    assert "compile time, alexnet train batch 256: 21.0 s" in gpu["c68ba368"]
    assert "bf16-cl" in gpu["c68ba368"] and "×2.50 vs fp32" in gpu["c68ba368"]
    assert "recorded on NVIDIA H100" in gpu["b8afa949"]

    text = prose("08_gpu_timing")
    for gone in (
        "Recorded results from an H100/H200",
        "silently fall back",
        "several times longer",
        "tells a different story",
    ):
        assert gone not in text, gone
    assert "What to expect of a GPU result" in text and "What to expect on a GPU" in text
