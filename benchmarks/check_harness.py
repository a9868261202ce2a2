"""Cross-check the timing harness against two measurements that share none of its code.

    python benchmarks/check_harness.py              # GPU if there is one, else a CPU set (one thread)
    python benchmarks/check_harness.py --device cpu --out check.json

For each case, three numbers of milliseconds per call:

* ``harness``: :func:`classicnets.bench.run_case` (CUDA events or the wall clock,
  warm-up, calibrated repetitions, the median of samples);
* ``timer``: ``torch.utils.benchmark.Timer(...).blocked_autorange()`` (PyTorch's
  own benchmarking utility: it synchronises CUDA itself and picks its own block size),
  median per call;
* ``loop``: the plainest honest measurement — ``synchronize``, ``time.perf_counter``
  around N calls, ``synchronize`` — repeated and the median taken.

Each case is measured in three rounds, the three methods in a rotating order,
and each method's median over the rounds is compared (a machine that drifts
during the check then affects all three alike).

The model, input, optimizer and step function for ``timer`` and ``loop`` are
built here, from the public ``classicnets.models`` API, not taken from the
harness. The script prints the three and the harness's deviation from the
other two; issue 5 asks the harness to agree with a careful independent
measurement within 5 %.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.utils.benchmark as tbench  # noqa: E402

from classicnets import bench  # noqa: E402
from classicnets.models import alexnet, lenet5  # noqa: E402

# (net, task, mode, batch): what is checked on each device type
GPU_CASES = [("alexnet", "train", "fp32", 512), ("alexnet", "train", "bf16-cl", 512),
             ("alexnet", "infer", "bf16-cl", 512), ("lenet5", "train", "fp32", 256),
             ("lenet5", "train", "fp32", 8192), ("lenet5", "infer", "fp32", 8192)]
CPU_CASES = [("lenet5", "train", "fp32", 256), ("lenet5", "infer", "fp32", 1024),
             ("alexnet", "infer", "fp32", 2), ("alexnet", "train", "fp32", 2)]
BUILD = {"lenet5": (lambda: lenet5("seed"), (1, 32, 32), 10), "alexnet": (lambda: alexnet("seed"), (3, 227, 227), 1000)}


def independent_step(net: str, task: str, mode: str, batch: int, device: torch.device) -> Callable[[], None]:
    """The same work as the harness's case, written out again from the public API."""
    build, shape, classes = BUILD[net]
    torch.manual_seed(0)
    model = build().to(device)
    channels_last = mode.startswith("bf16-cl")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, *shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if mode.startswith("bf16") \
        else contextlib.nullcontext
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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(step: Callable[[], None], device: torch.device, min_s: float, samples: int) -> float:
    """Median seconds per call: synchronize, perf_counter around n calls, synchronize."""
    for _ in range(5):
        step()
    sync(device)
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync(device)
        t = time.perf_counter() - t0
        if t >= min_s or n >= 100_000:
            break
        n *= 2
    per_call = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync(device)
        per_call.append((time.perf_counter() - t0) / n)
    return statistics.median(per_call)


def check_case(case: Tuple[str, str, str, int], device: torch.device, cfg: bench.BenchConfig,
               min_s: float, rounds: int = 3) -> Dict[str, object]:
    """The three measurements of one case, in ``rounds`` rounds of rotating order (a machine that
    speeds up or slows down during the check then hits each method alike); medians over rounds."""
    net, task, mode, batch = case
    reason = bench.mode_skip_reason(mode, device, force=True)
    if reason:
        return {"case": list(case), "status": "skipped", "reason": reason}
    times: Dict[str, List[float]] = {"harness": [], "timer": [], "loop": []}
    with bench.precision_flags(tf32=bench.MODES[mode].tf32, benchmark=device.type == "cuda" or None):
        step = independent_step(net, task, mode, batch, device)
        for _ in range(3):
            step()
        sync(device)
        timer = tbench.Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads())
        methods = {
            "harness": lambda: bench.run_case(net, task, mode, batch, device, cfg, peaks={})["ms"] / 1e3,
            "timer": lambda: timer.blocked_autorange(min_run_time=max(min_s * 5, 0.2)).median,
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


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (CPU runs only; default 1, the quietest)")
    p.add_argument("--min-sample-ms", type=float, default=None, help="each sample lasts at least this long")
    p.add_argument("--rounds", type=int, default=3, help="rounds per case, methods in rotating order")
    p.add_argument("--quick", action="store_true", help="one small case, one round (checks the script runs)")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    a = p.parse_args(argv)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(a.threads)
    cases = GPU_CASES if device.type == "cuda" else CPU_CASES
    min_s = (a.min_sample_ms / 1e3) if a.min_sample_ms else (0.1 if device.type == "cuda" else 0.3)
    if a.quick:
        cases, min_s, a.rounds = [("lenet5", "train", "fp32", 16)], 0.005, 1
    cfg = bench.BenchConfig(name="check", warmup=5, min_sample_s=min_s, samples=7 if not a.quick else 3)
    env = bench.environment(device)
    print(f"{env.get('device_name')} · torch {env.get('torch')} · {torch.get_num_threads()} CPU thread(s)")
    print(f"{'case':38s} {'harness ms':>11s} {'Timer ms':>10s} {'loop ms':>10s} {'vs Timer':>9s} {'vs loop':>8s}")
    rows = []
    for case in cases:
        r = check_case(case, device, cfg, min_s, a.rounds)
        rows.append(r)
        name = " ".join(map(str, case))
        if r["status"] != "ok":
            print(f"{name:38s} skipped: {r['reason']}")
            continue
        print(f"{name:38s} {r['harness_ms']:11.3f} {r['timer_ms']:10.3f} {r['loop_ms']:10.3f} "
              f"{r['vs_timer_pct']:+8.1f}% {r['vs_loop_pct']:+7.1f}%", flush=True)
    ok = [r for r in rows if r["status"] == "ok"]
    worst = max((max(abs(r["vs_timer_pct"]), abs(r["vs_loop_pct"])) for r in ok), default=float("nan"))
    print(f"largest deviation of the harness from an independent measurement: {worst:.1f}% "
          f"({'within' if worst <= 5 else 'OUTSIDE'} 5%)")
    if a.out:
        a.out.write_text(json.dumps({"env": env, "min_sample_s": min_s, "cases": rows}, indent=1))
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
