"""Is the timing harness right? Compare it with two measurements that share none of its code.

For one case (network, task, mode, batch size) three numbers of seconds per call:

* ``harness``: :func:`classicnets.bench.run_case` (CUDA events or the wall clock,
  warm-up, calibrated repetitions, the median of samples);
* ``timer``: ``torch.utils.benchmark.Timer(...).blocked_autorange()``, PyTorch's
  own benchmarking utility (it synchronises CUDA itself and picks its own block size);
* ``loop``: the plainest honest measurement — ``synchronize``, ``time.perf_counter``
  around N calls, ``synchronize`` — repeated, the median taken.

The model, input, optimizer and step for ``timer`` and ``loop`` are built
here from the public :mod:`classicnets.models` API, not taken from the harness.
Each case is measured in rounds, the three methods in a rotating order, and
each method's median over the rounds is compared: a machine that drifts during
the check then affects the three alike.

On a CPU, glibc's allocator can make the *same* training step differ by half
its time from one stretch to the next: buffers of a few MB are returned to
the system and mapped again (page faults: kernel time) or kept (no faults),
depending on the allocator's history. :func:`classicnets.timing.pin_malloc`
switches that adaptation off for the process (the harness does so for CPU
runs), so that a CPU check compares timers, not allocator states. ``benchmarks/check_harness.py`` is the command line.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from . import bench, timing
from .bench_report import RECORDS_DIR
from .envinfo import environment
from .fileio import write_text_atomic
from .models import alexnet, lenet5

_cpp_log = logging.getLogger("torch.utils.cpp_extension")
_level = _cpp_log.level
_cpp_log.setLevel(logging.ERROR)  # importing the benchmark utilities warns about CUDA_HOME on a CPU-only machine
try:
    import torch.utils.benchmark as tbench
finally:
    _cpp_log.setLevel(_level)

__all__ = ["GPU_CASES", "CPU_CASES", "SCHEMA", "RECORD_PATH", "independent_step", "plain_loop", "cross_check_case",
           "cross_check", "largest_deviation", "make_record", "save_record", "load_record", "record_text"]

SCHEMA = "classicnets.harness_check/1"
RECORD_PATH = RECORDS_DIR / "harness_check_gpu.json"  # made by benchmarks/gpu_session.sh on a GPU machine

CheckCase = Tuple[str, str, str, int]  # (net, task, mode, batch)
GPU_CASES: List[CheckCase] = [
    ("alexnet", "train", "fp32", 512), ("alexnet", "train", "bf16-cl", 512), ("alexnet", "infer", "bf16-cl", 512),
    ("lenet5", "train", "fp32", 256), ("lenet5", "train", "fp32", 8192), ("lenet5", "infer", "fp32", 8192)]
CPU_CASES: List[CheckCase] = [
    ("lenet5", "train", "fp32", 256), ("lenet5", "infer", "fp32", 1024),
    ("alexnet", "infer", "fp32", 2), ("alexnet", "train", "fp32", 2)]
_BUILD = {"lenet5": (lambda: lenet5("blog"), (1, 32, 32), 10),
          "alexnet": (lambda: alexnet("blog"), (3, 227, 227), 1000)}


def independent_step(net: str, task: str, mode: str, batch: int, device: torch.device) -> Callable[[], None]:
    """The work of the harness's case, written out again from the public API."""
    if net not in _BUILD:
        raise ValueError(f"unknown net {net!r}: choose from {', '.join(_BUILD)}")
    build, shape, classes = _BUILD[net]
    torch.manual_seed(0)
    model = build().to(device)
    channels_last = mode.startswith("bf16-cl")
    x = torch.randn(batch, *shape, device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)
    if mode.startswith("bf16"):
        def autocast() -> Any:
            return torch.autocast(device.type, dtype=torch.bfloat16)
    else:
        autocast = contextlib.nullcontext
    if task == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with autocast():
                loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step() -> None:
            with torch.no_grad(), autocast():
                model(x)
    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(step: Callable[[], None], device: torch.device, min_s: float, samples: int) -> float:
    """Median seconds per call: ``synchronize``, ``perf_counter`` around n calls, ``synchronize``."""
    for _ in range(5):
        step()
    _sync(device)
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        _sync(device)
        if time.perf_counter() - t0 >= min_s or n >= 100_000:
            break
        n *= 2
    per_call = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        _sync(device)
        per_call.append((time.perf_counter() - t0) / n)
    return statistics.median(per_call)


def cross_check_case(case: CheckCase, device: Any, min_s: float, rounds: int = 3,
                     cfg: Optional[bench.BenchConfig] = None) -> Dict[str, Any]:
    """The three measurements of one case; milliseconds and the harness's deviation in %."""
    net, task, mode, batch = case
    device = torch.device(device)
    reason = bench.mode_skip_reason(mode, device, force=True)
    if reason:
        return {"case": list(case), "status": "skipped", "reason": reason}
    cfg = cfg or bench.BenchConfig(name="check", warmup=5, min_sample_s=min_s, samples=7)
    times: Dict[str, List[float]] = {"harness": [], "timer": [], "loop": []}
    with timing.precision_flags(tf32=bench.MODES[mode].tf32, benchmark=True if device.type == "cuda" else None):
        step = independent_step(net, task, mode, batch, device)
        for _ in range(3):
            step()
        _sync(device)
        timer = tbench.Timer(stmt="step()", globals={"step": step},
                                            num_threads=torch.get_num_threads())
        methods = {
            "harness": lambda: bench.run_case(net, task, mode, batch, device, cfg, peaks={})["ms"] / 1e3,
            "timer": lambda: timer.blocked_autorange(min_run_time=max(5 * min_s, 0.2)).median,
            "loop": lambda: plain_loop(step, device, min_s, cfg.samples),
        }
        order = list(methods)
        for r in range(rounds):
            for name in order[r % 3:] + order[:r % 3]:
                times[name].append(methods[name]())
    h, t, lp = (statistics.median(times[k]) for k in ("harness", "timer", "loop"))
    return {"case": list(case), "status": "ok", "harness_ms": h * 1e3, "timer_ms": t * 1e3, "loop_ms": lp * 1e3,
            "vs_timer_pct": 100 * (h / t - 1), "vs_loop_pct": 100 * (h / lp - 1),
            "rounds_ms": {k: [v * 1e3 for v in vs] for k, vs in times.items()},
            "images_per_s": {"harness": batch / h, "timer": batch / t, "loop": batch / lp}}


def cross_check(cases: Optional[Sequence[CheckCase]] = None, device: Any = None, min_s: Optional[float] = None,
                rounds: int = 3, log: Callable[[str], None] = print,
                on_row: Optional[Callable[[List[Dict[str, Any]]], None]] = None) -> List[Dict[str, Any]]:
    """:func:`cross_check_case` for each case (default: :data:`GPU_CASES` or :data:`CPU_CASES`),
    printing a table row per case and the largest deviation. ``on_row(rows_so_far)`` is called
    after each case (the command line saves its record there, so a run cut short keeps its rows)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cases = list(cases or (GPU_CASES if device.type == "cuda" else CPU_CASES))
    min_s = min_s if min_s is not None else (0.1 if device.type == "cuda" else 0.3)
    log(f"{'case':34s} {'harness ms':>11s} {'Timer ms':>10s} {'loop ms':>10s} {'vs Timer':>9s} {'vs loop':>8s}")
    rows = []
    for case in cases:
        row = cross_check_case(case, device, min_s, rounds)
        rows.append(row)
        if on_row is not None:
            on_row(rows)
        name = " ".join(map(str, case))
        if row["status"] != "ok":
            log(f"{name:34s} skipped: {row['reason']}")
            continue
        log(f"{name:34s} {row['harness_ms']:11.3f} {row['timer_ms']:10.3f} {row['loop_ms']:10.3f} "
            f"{row['vs_timer_pct']:+8.1f}% {row['vs_loop_pct']:+7.1f}%")
    worst = largest_deviation(rows)
    if worst is not None:
        log(f"largest deviation of the harness from an independent measurement: {worst:.1f}% "
            f"({'within' if worst <= 5 else 'OUTSIDE'} 5%)")
    return rows


def largest_deviation(rows: Sequence[Dict[str, Any]]) -> Optional[float]:
    """The largest |deviation| in % of the harness from either independent measurement."""
    ok = [r for r in rows if r["status"] == "ok"]
    return max((max(abs(r["vs_timer_pct"]), abs(r["vs_loop_pct"])) for r in ok), default=None)


# --------------------------------------------------------------------------- the record


def make_record(rows: Sequence[Dict[str, Any]], device: Any, rounds: int, malloc_pinned: bool = False) -> Dict[str, Any]:
    """The JSON record of a cross-check: where and when, how, and the rows."""
    return {"schema": SCHEMA, "env": environment(torch.device(device)), "rounds": rounds,
            "malloc_pinned": malloc_pinned, "largest_deviation_pct": largest_deviation(rows), "cases": list(rows)}


def save_record(record: Dict[str, Any], path: Union[str, "os.PathLike[str]"]) -> Path:
    """Write atomically (a temporary file, then a rename)."""
    return write_text_atomic(path, json.dumps(record, indent=1) + "\n")


def load_record(path: Union[str, "os.PathLike[str]", None] = None) -> Optional[Dict[str, Any]]:
    """A recorded cross-check (default: the GPU one in ``classicnets/records/``), or ``None`` if there is none.
    A file that is not such a record raises ``ValueError`` saying why."""
    path = Path(path) if path is not None else RECORD_PATH
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA or not isinstance(data.get("cases"), list) or "env" not in data:
        raise ValueError(f"{path} is not a harness cross-check record ({SCHEMA})")
    return data


def record_text(record: Dict[str, Any]) -> str:
    """The record as the table :func:`cross_check` prints, under a line saying where and when it was made."""
    env = record["env"]
    lines = [f"recorded on {env.get('device_name')} (torch {env.get('torch')}, CUDA {env.get('cuda')}, "
             f"{str(env.get('date'))[:10]}), {record['rounds']} round{'s' if record['rounds'] != 1 else ''} per case",
             f"{'case':34s} {'harness ms':>11s} {'Timer ms':>10s} {'loop ms':>10s} {'vs Timer':>9s} {'vs loop':>8s}"]
    for row in record["cases"]:
        name = " ".join(map(str, row["case"]))
        if row["status"] != "ok":
            lines.append(f"{name:34s} skipped: {row.get('reason')}")
            continue
        lines.append(f"{name:34s} {row['harness_ms']:11.3f} {row['timer_ms']:10.3f} {row['loop_ms']:10.3f} "
                     f"{row['vs_timer_pct']:+8.1f}% {row['vs_loop_pct']:+7.1f}%")
    worst = largest_deviation(record["cases"])
    if worst is not None:
        lines.append(f"largest deviation: {worst:.1f}% ({'within' if worst <= 5 else 'OUTSIDE'} 5%)")
    return "\n".join(lines)
