"""Training records (chapter 6) read back: as a training history, one line, an epoch table, and beside a live run.

A ``training`` record stores plain data (config, per-epoch history as dicts, test accuracy, seconds); this module
turns it into :class:`classicnets.history.History` for the plots and into the Markdown chapter 6 prints, in both
states of the page: a record present, or ``None`` (then it says how to make one).
"""

from __future__ import annotations

from typing import Any, Optional

from .history import EpochRecord, History
from .records import (
    ALEXNET_GPU_COMMAND,
    ALEXNET_GPU_RECORD,
    RECORDS_DIR,
    TARGET_SECONDS,
    TARGET_TEST_ACC,
    Record,
)


def record_history(record: Record) -> History:
    """A training record's per-epoch history as a :class:`classicnets.history.History`."""
    known = set(EpochRecord.__dataclass_fields__)
    epochs = [EpochRecord(**{k: v for k, v in e.items() if k in known}) for e in record.payload["history"]]
    return History(records=epochs, meta={"device": record.payload["device"], "date": record.date})


def describe_record(record: Record) -> str:
    """One line: where, the run's size, test accuracy and seconds (and the GPU targets for a GPU record)."""
    p, cfg = record.payload, record.payload["config"]
    return (
        f"{record.label}: input {cfg['input_size']}×{cfg['input_size']}, "
        f"{cfg.get('n_train') or 60_000:,} training images × {len(p['history'])} epochs, "
        f"batch {cfg['batch_size']}: test accuracy {p['test_acc']:.4f}, {p['seconds']:.1f} s "
        f"(training + per-epoch tests"
        + (f"; targets ≥ {TARGET_TEST_ACC} and ≤ {TARGET_SECONDS:g} s)" if record.on_gpu else ")")
    )


def record_report(record: Optional[Record]) -> str:
    """Markdown: a training record epoch by epoch, or (``None``) how to make the GPU record."""
    if record is None:
        where = ALEXNET_GPU_RECORD.relative_to(RECORDS_DIR.parents[1])
        return (
            f"No GPU record has been made yet: `{where}` does not exist. To make it, run this on a machine "
            f"with an NVIDIA GPU, from the root of the repository (it trains the full recipe, 10 epochs at "
            f"224×224, and writes the record; commit the JSON file):\n\n```\n{ALEXNET_GPU_COMMAND}\n```"
        )
    lines = [
        describe_record(record),
        "",
        "| epoch | train loss | train accuracy | test accuracy | seconds (train + test) | images/s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {e['epoch']} | {e['train_loss']:.4f} | {e['train_acc']:.4f} | {e['test_acc']:.4f} | "
        f"{e['seconds'] + e['eval_seconds']:.2f} | {e['images_per_s']:,.0f} |"
        for e in record.payload["history"]
    ]
    return "\n".join(lines)


def _record_name(record: Record) -> str:
    return "GPU record" if record.on_gpu else f"{str(record.env.get('device_type')).upper()} record"


def comparison_table(run: Any, *records: Optional[Record]) -> str:
    """Markdown: a run (an ``AlexNetRun``), the training records given (``None``s skipped) and the aim."""
    r = run.recipe
    rows = [
        ("this run", f"{run.device} ({run.device_type})", r.input_size, r.n_train, r.epochs, run.test_acc, run.seconds)
    ]
    for rec in filter(None, records):
        cfg = rec.payload["config"]
        rows.append(
            (
                _record_name(rec),
                rec.label,
                cfg["input_size"],
                cfg.get("n_train"),
                cfg["epochs"],
                rec.payload["test_acc"],
                rec.payload["seconds"],
            )
        )
    lines = ["| | where | input | training images × epochs | test accuracy | seconds |", "|---|---|---|---|---:|---:|"]
    lines += [
        f"| {name} | {where} | {size}×{size} | {n or 60_000:,} × {epochs} | {acc:.4f} | {sec:.1f} |"
        for name, where, size, n, epochs, acc, sec in rows
    ]
    lines.append(f"| the aim | one H100/H200 | 224×224 | 60,000 × 10 | ≥ {TARGET_TEST_ACC} | ≤ {TARGET_SECONDS:g} |")
    return "\n".join(lines)
