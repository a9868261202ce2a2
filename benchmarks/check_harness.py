"""Cross-check the timing harness against two measurements that share none of its code.

    python benchmarks/check_harness.py              # GPU if there is one, else a CPU set (one thread)
    python benchmarks/check_harness.py --device cpu --out check.json

Per case, milliseconds per call from the harness (``classicnets.bench.run_case``),
from ``torch.utils.benchmark.Timer.blocked_autorange`` and from a plain
synchronised loop, and the harness's deviation from each (issue 5 asks for
agreement with a careful independent measurement within 5 %). The method is
in :mod:`classicnets.bench_check`. On a CPU, glibc's malloc is pinned first
(``--no-pin-malloc`` to see why: the same LeNet5 step then takes 17 or 27 ms
depending on the allocator's history).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

from classicnets import bench_check, timing  # noqa: E402
from classicnets.envinfo import environment  # noqa: E402


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (CPU runs only; default 1, the quietest)")
    p.add_argument("--min-sample-ms", type=float, default=None, help="each sample lasts at least this long")
    p.add_argument("--rounds", type=int, default=3, help="rounds per case, the methods in rotating order")
    p.add_argument("--no-pin-malloc", dest="pin", action="store_false", help="leave glibc's malloc adaptive (CPU)")
    p.add_argument("--quick", action="store_true", help="one small case, one round (checks the script runs)")
    p.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    a = p.parse_args(argv)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    pinned = False
    if device.type == "cpu":
        torch.set_num_threads(a.threads)
        pinned = a.pin and timing.pin_malloc()
    cases = None
    min_s = a.min_sample_ms / 1e3 if a.min_sample_ms else None
    if a.quick:
        cases, min_s, a.rounds = [("lenet5", "train", "fp32", 16)], 0.005, 1
    env = environment(device)
    print(f"{env.get('device_name')} · torch {env.get('torch')}"
          + (f" · malloc pinned: {pinned}" if device.type == "cpu" else ""))
    def save(rows: List[dict]) -> None:  # after every case: a run stopped by a timeout keeps what it measured
        if a.out:
            bench_check.save_record(bench_check.make_record(rows, device, a.rounds, pinned), a.out)

    bench_check.cross_check(cases, device, min_s, a.rounds, on_row=save)
    if a.out:
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
