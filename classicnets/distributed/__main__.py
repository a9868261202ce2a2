"""``python -m classicnets.distributed JOB [options]``: run one job on a group of ranks and print rank 0's result.

Under ``torchrun`` (which sets ``RANK`` and ``WORLD_SIZE``) every process runs
its rank; started plainly, it spawns ``--nproc`` ranks itself. Jobs:
``hello`` (an all-reduce), ``split-check`` (the 2012 two-rank AlexNet against
``groups=2``), ``ddp-check`` (DDP against one process on the whole batch),
``train`` (a short timed Fashion-MNIST run with DDP). Examples::

    torchrun --nproc-per-node 2 -m classicnets.distributed ddp-check --out ddp.json
    python -m classicnets.distributed split-check --nproc 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

from .data_parallel import check_ddp, train_fashion
from .launch import hello, run_ranks, torchrun_main
from .split import check_split

JOBS = {"hello": hello, "split-check": check_split, "ddp-check": check_ddp, "train": train_fashion}


def parse(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m classicnets.distributed", description=__doc__.split("\n")[0])
    p.add_argument("job", choices=sorted(JOBS))
    p.add_argument("--nproc", type=int, default=2, help="ranks to spawn when not started by torchrun (default 2)")
    p.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default=None,
        help="default: one GPU per rank if there are enough (nccl), else the CPU (gloo)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds before the run is stopped (default 300)")
    p.add_argument("--steps", type=int, help="ddp-check, train: optimizer steps")
    p.add_argument("--batch", type=int, help="images per step, all ranks together")
    p.add_argument("--input-size", type=int, help="image side (default 67)")
    p.add_argument("--fail-rank", type=int, help="hello: the rank that raises")
    p.add_argument("--out", help="write rank 0's result here (JSON)")
    return p.parse_args(argv)


def job_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    names = {"steps": "steps", "batch": "batch", "input_size": "input_size", "fail_rank": "fail_rank"}
    kwargs = {k: getattr(args, a) for a, k in names.items() if getattr(args, a) is not None}
    return {"device": args.device, **kwargs}


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    fn, kwargs = JOBS[args.job], job_kwargs(args)
    if "RANK" in os.environ:  # started by torchrun
        result = torchrun_main(fn, out=args.out, timeout_s=args.timeout, **kwargs)
        if int(os.environ["RANK"]) != 0:
            return 0
    else:
        result = run_ranks(fn, args.nproc, timeout_s=args.timeout, **kwargs)[0]
        if args.out:
            from ..atomic import write_text_atomic

            write_text_atomic(args.out, json.dumps(result))
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
