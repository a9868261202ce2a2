"""Cross-check the timing harness against two measurements that share none of its code.

    python benchmarks/check_harness.py              # GPU if there is one, else a CPU set (one thread)
    python benchmarks/check_harness.py --device cpu --out check.json

Per case, milliseconds per call from the harness (``classicnets.bench.run_case``), from
``torch.utils.benchmark.Timer.blocked_autorange`` and from a plain synchronised loop, and the harness's deviation
from each (agreement within 5 % is the aim). The method is :func:`classicnets.bench.cross_check`. On a CPU, glibc's
malloc is pinned first (``--no-pin-malloc`` shows why) and the check runs on ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from classicnets import bench, records  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    p.add_argument("--threads", type=bench.positive_int, default=1, help="CPU threads (CPU runs; default 1)")
    p.add_argument(
        "--min-sample-ms", type=bench.non_negative_float, default=None, help="each sample lasts at least this long"
    )
    p.add_argument("--rounds", type=bench.positive_int, default=3, help="rounds per case, methods in rotating order")
    p.add_argument("--no-pin-malloc", dest="pin", action="store_false", help="leave glibc's malloc adaptive (CPU)")
    p.add_argument("--quick", action="store_true", help="one small case, one round (checks the script runs)")
    p.add_argument("--out", type=Path, default=None, help="also write the record (JSON) here")
    a = p.parse_args(argv)
    a.device = bench.checked_device(p, a.device)
    bench.checked_out(p, a.out, folder_ok=False)
    return a


def main(argv: Optional[List[str]] = None) -> int:
    a = parse_args(argv)
    device, threads = a.device, a.threads if a.device.type == "cpu" else None
    pinned = device.type == "cpu" and a.pin and bench.pin_malloc()
    cases, min_s = None, a.min_sample_ms / 1e3 if a.min_sample_ms else None
    if a.quick:
        cases, min_s, a.rounds = [("lenet5", "train", "fp32", 16)], 0.005, 1
    env = records.environment(device)
    pin_note = f" · malloc pinned: {pinned}" if device.type == "cpu" else ""
    print(f"{env['device_name']} · torch {env['torch']}{pin_note}")
    command = "python benchmarks/check_harness.py " + " ".join(sys.argv[1:] if argv is None else argv)

    def save(rows: List[dict]) -> None:  # after every case: a run stopped by a timeout keeps what it measured
        if a.out:
            bench.check_record(rows, device, a.rounds, threads, pinned, command.strip()).save(a.out)

    bench.cross_check(cases, device, min_s, a.rounds, threads=threads, on_row=save)
    if a.out:
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
