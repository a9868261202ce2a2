"""Train AlexNet on Fashion-MNIST on one GPU and write the record chapter 06 shows.

    python benchmarks/train_alexnet_gpu.py     # the full run -> classicnets/records/alexnet_fashion_gpu.json

The full run is :data:`classicnets.alexnet_training.GPU_RECIPE`: AlexNet at
224×224 (resized once, on the GPU), all 60,000 training images, 10 epochs,
batch 256, float16 autocast, channels-last; the test set after every epoch.
Aim: at least 0.92 test accuracy in at most 40 s of training and testing on
one H100/H200. The record
says whether both were met. Not yet run on a GPU: the estimate (about 1.7e15
multiply–accumulates of training) is well under 3 minutes in all, start-up
and data loading included.

Options override the recipe (``--epochs``, ``--input-size``, ``--lr``…);
``--out`` writes elsewhere. A run that is not the full recipe on a CUDA GPU
is refused a place at the default record path: pass ``--out`` for it (this
is how the tests run the code path on a CPU).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from classicnets import bench, records  # noqa: E402
from classicnets.alexnet_training import GPU_RECIPE, train_alexnet_fashion  # noqa: E402

RECORD_PATH = records.ALEXNET_GPU_RECORD


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--device", default="cuda", help="cuda (the record), or cpu to try the code path")
    p.add_argument("--out", type=Path, default=None, help=f"where to write the record (default {RECORD_PATH})")
    p.add_argument("--epochs", type=bench.positive_int, default=GPU_RECIPE.epochs)
    p.add_argument(
        "--input-size",
        type=bench.positive_int,
        default=GPU_RECIPE.input_size,
        help="at least 67 (the smallest input AlexNet's last pooling accepts)",
    )
    p.add_argument("--batch-size", type=bench.positive_int, default=GPU_RECIPE.batch_size)
    p.add_argument("--optimizer", default=GPU_RECIPE.optimizer, choices=["adam", "adamw", "sgd"])
    p.add_argument("--lr", type=positive_float, default=GPU_RECIPE.lr)
    p.add_argument("--weight-decay", type=bench.non_negative_float, default=GPU_RECIPE.weight_decay)
    p.add_argument("--schedule", default=GPU_RECIPE.schedule or "none", choices=["cosine", "none"])
    p.add_argument(
        "--augment",
        type=non_negative_int,
        default=GPU_RECIPE.augment_pad,
        metavar="PAD",
        help="random shifts of up to PAD pixels",
    )
    p.add_argument("--flip", action="store_true", default=GPU_RECIPE.flip, help="random left-right flips")
    p.add_argument(
        "--subset",
        type=bench.positive_int,
        nargs=2,
        default=None,
        metavar=("N_TRAIN", "N_TEST"),
        help="train/test on a random subset (not the record)",
    )
    p.add_argument("--no-amp", dest="amp", action="store_false", default=None, help="float32 throughout")
    p.add_argument("--seed", type=int, default=GPU_RECIPE.seed)
    p.add_argument("--progress", action="store_true", help="tqdm bars per epoch")
    args = p.parse_args(argv)
    if args.input_size < 67:
        p.error(f"argument --input-size: {args.input_size} is too small for AlexNet: give 67 or more")
    args.torch_device = bench.checked_device(p, args.device)
    bench.checked_out(p, args.out, folder_ok=False)
    return args


def positive_float(text: str) -> float:
    value = bench.non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 is not a learning rate: give a number > 0")
    return value


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else bench.positive_int(text)


def gpu_line() -> str:
    """nvidia-smi's view of the card (read-only; nothing is changed)."""
    try:
        out = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return out.stdout.strip() or out.stderr.strip() or "nvidia-smi printed nothing"
    except (OSError, subprocess.SubprocessError) as err:
        return f"nvidia-smi unavailable ({err})"


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as stop:  # argparse's message is printed; the status (2 for a bad value) is returned
        return int(stop.code or 0)
    recipe = replace(
        GPU_RECIPE,
        epochs=args.epochs,
        input_size=args.input_size,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=None if args.schedule == "none" else args.schedule,
        augment_pad=args.augment,
        flip=args.flip,
        seed=args.seed,
        amp=args.amp,
        n_train=args.subset[0] if args.subset else None,
        n_test=args.subset[1] if args.subset else None,
    )
    full = replace(recipe, amp=GPU_RECIPE.amp) == GPU_RECIPE and args.amp is None
    if args.out is None and not (args.torch_device.type == "cuda" and full):
        print(
            f"error: {RECORD_PATH} holds the full run on a CUDA GPU only; this run is "
            f"{'not on CUDA' if args.torch_device.type != 'cuda' else 'not the full recipe'}: pass --out PATH",
            file=sys.stderr,
        )
        return 2
    out = args.out or RECORD_PATH
    if args.torch_device.type == "cuda":
        print("GPU:", gpu_line(), flush=True)
    print("recipe:", asdict(recipe), flush=True)
    run = train_alexnet_fashion(device=args.torch_device, recipe=recipe, progress=args.progress)
    given = sys.argv[1:] if argv is None else argv
    run.command = "python benchmarks/train_alexnet_gpu.py" + "".join(f" {a}" for a in given)
    path = run.save(out)  # first: nothing printed below can lose the run
    print(f"{'epoch':>5} {'train s':>8} {'images/s':>10} {'loss':>8} {'train acc':>9} {'test acc':>8} {'test s':>7}")
    for r in run.history:
        print(
            f"{r.epoch:5d} {r.seconds:8.2f} {r.images_per_s:10,.0f} {r.train_loss:8.4f} {r.train_acc:9.4f} "
            f"{r.test_acc:8.4f} {r.eval_seconds:7.2f}"
        )
    print(run.summary())
    acc, secs = records.TARGET_TEST_ACC, records.TARGET_SECONDS
    ok_acc, ok_time = run.test_acc >= acc, run.seconds <= secs
    print(
        f"targets: test accuracy ≥ {acc}: {'met' if ok_acc else 'NOT met'} ({run.test_acc:.4f}); "
        f"≤ {secs:g} s: {'met' if ok_time else 'NOT met'} ({run.seconds:.1f} s); "
        f"whole script so far {run.wall_seconds:.1f} s"
    )
    print(f"record written: {path} ({os.path.getsize(path):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
