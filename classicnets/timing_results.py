"""Timing and harness-check records read as results: :class:`BenchResult`, its tables, ratios and the reference.

A :class:`BenchResult` is one run of chapter 8's harness (``python -m classicnets.bench``), live or loaded from a
``timing`` record; the functions below turn it (and ``harness_check`` records) into the tables and lines chapter 8
prints. Plain data and text: no torch, no plotting (:mod:`classicnets.record_plots` draws them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .records import MODE_ORDER, NET_ORDER, TASK_ORDER, PathLike, Record, load_all


@dataclass
class BenchResult:
    """One run of the timing harness: where it ran (``env``), the matmul peaks, and one dict per case.

    ``source`` is ``"live"`` for a run in this process, ``"recorded"`` for one loaded from JSON."""

    preset: str
    env: Dict[str, Any]
    peaks: Dict[str, Dict[str, Any]]
    cases: List[Dict[str, Any]]
    config: Dict[str, Any] = field(default_factory=dict)
    total_s: Optional[float] = None
    complete: bool = True
    source: str = "live"
    path: Optional[str] = None
    command: str = ""

    @property
    def device(self) -> str:
        return str(self.env.get("device_name", "?"))

    @property
    def on_gpu(self) -> bool:
        return self.env.get("device_type") == "cuda"

    @property
    def label(self) -> str:
        """E.g. ``recorded on NVIDIA H100 80GB HBM3, 2026-11-28, torch 2.11.0, CUDA 13.0``."""
        parts = [
            f"{self.source if self.source == 'recorded' else 'live'} on {self.device}",
            str(self.env.get("date", "?"))[:10],
            f"torch {self.env.get('torch', '?')}",
        ]
        parts += [f"CUDA {self.env['cuda']}"] if self.env.get("cuda") else []
        return ", ".join(parts) + ("" if self.complete else " (incomplete run)")

    def ok(self) -> List[Dict[str, Any]]:
        return [c for c in self.cases if c.get("status") == "ok"]

    def skipped(self) -> List[Dict[str, Any]]:
        return [c for c in self.cases if c.get("status") != "ok"]

    def find(self, net: str, task: str, mode: str, batch: int) -> Optional[Dict[str, Any]]:
        """The measured case, or ``None`` if it was not run (or skipped)."""
        key = (net, task, mode, int(batch))
        return next((c for c in self.ok() if (c["net"], c["task"], c["mode"], int(c["batch"])) == key), None)

    def series(self, net: str, task: str, mode: str) -> List[Dict[str, Any]]:
        """Measured cases of one (net, task, mode), by batch size."""
        return sorted(
            (c for c in self.ok() if (c["net"], c["task"], c["mode"]) == (net, task, mode)), key=lambda c: c["batch"]
        )

    def to_record(self) -> Record:
        payload = {
            "preset": self.preset,
            "complete": self.complete,
            "total_s": self.total_s,
            "config": self.config,
            "peaks": self.peaks,
            "cases": self.cases,
        }
        return Record("timing", payload, self.env, self.command)

    @classmethod
    def from_record(cls, record: Record) -> "BenchResult":
        p = record.payload
        return cls(
            preset=p["preset"],
            env=dict(record.env),
            peaks=dict(p["peaks"]),
            cases=[dict(c) for c in p["cases"]],
            config=dict(p.get("config") or {}),
            total_s=p.get("total_s"),
            complete=bool(p.get("complete", True)),
            source="recorded",
            path=record.path,
            command=record.command,
        )

    def default_filename(self) -> str:
        slug = "-".join("".join(ch if ch.isalnum() else " " for ch in self.device.lower()).split())
        stamp = str(self.env.get("date", "undated"))[:16].replace(":", "").replace("T", "_")
        return f"{self.preset}_{slug or 'device'}_{stamp}.json"

    def save(self, out: PathLike) -> Path:
        """Write the record to ``out`` (a ``.json`` file, or a folder: :meth:`default_filename`), atomically."""
        out = Path(out)
        path = self.to_record().save(out if out.suffix == ".json" else out / self.default_filename())
        self.path = str(path)
        return path

    def table(self, fmt: str = "markdown") -> str:
        """Measured cases as a table (``"markdown"`` or ``"text"``), then peaks and skips."""
        return render_table(self, fmt)

    def _repr_markdown_(self) -> str:  # Jupyter
        return f"**{self.label}** — preset `{self.preset}`\n\n" + self.table("markdown")

    def __repr__(self) -> str:
        return f"<BenchResult {self.label}: {len(self.ok())} measured, {len(self.skipped())} skipped>"


def load_timing(folder: Optional[PathLike] = None, *, gpu_only: bool = True) -> List[BenchResult]:
    """Every timing record in ``folder`` (default ``classicnets/records/``), oldest first; GPU ones only by default."""
    results = [BenchResult.from_record(r) for r in load_all("timing", folder)]
    return [r for r in results if r.on_gpu or not gpu_only]


def fmt_number(x: Optional[float], digits: int = 3) -> str:
    """``digits`` significant figures below 100, whole numbers above; ``–`` for none."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    if ax == 0:
        return "0"
    return f"{x:.{max(0, digits - 1 - int(math.floor(math.log10(ax))))}f}"


def _order(c: Dict[str, Any]) -> Tuple[int, int, int, int]:
    def idx(seq: Sequence[str], v: str) -> int:
        return seq.index(v) if v in seq else len(seq)

    return (idx(NET_ORDER, c["net"]), idx(TASK_ORDER, c["task"]), idx(MODE_ORDER, c["mode"]), int(c["batch"]))


def render_table(result: BenchResult, fmt: str = "markdown") -> str:
    if fmt not in ("markdown", "text"):
        raise ValueError(f"fmt must be 'markdown' or 'text', got {fmt!r}")
    head = [
        "net",
        "task",
        "mode",
        "batch",
        "ms/batch",
        "min–max ms",
        "images/s",
        "TFLOP/s",
        "% peak",
        "peak MB",
        "compile s",
    ]
    f = fmt_number
    rows = [
        [
            c["net"],
            c["task"],
            c["mode"],
            str(c["batch"]),
            f(c["ms"]),
            f"{f(c.get('ms_min'))}–{f(c.get('ms_max'))}",
            f"{c['images_per_s']:,.0f}",
            f(c["tflops"]),
            f(c.get("pct_peak"), 2),
            f(c.get("peak_mem_mb")),
            f(c.get("compile_s"), 2),
        ]
        for c in sorted(result.ok(), key=_order)
    ]
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
        lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in [head] + rows]
    lines += [] if rows else ["(no case was measured)"]
    return "\n".join(lines + ["", peaks_line(result)] + [f"- {line}" for line in skip_summary(result)])


def peaks_line(result: BenchResult) -> str:
    parts = [
        f"{prec} {fmt_number(p['tflops'])} TFLOP/s (n={p['n']})"
        if p.get("status") == "ok"
        else f"{prec} not measured ({p.get('reason', 'skipped')})"
        for prec, p in ((k, result.peaks.get(k)) for k in ("fp32", "tf32", "bf16"))
        if p
    ]
    return "Dense matmul peak measured in this run: " + ("; ".join(parts) if parts else "none")


def skip_summary(result: BenchResult) -> List[str]:
    """One line per (status, mode, reason) over the cases not measured: ``"skipped: tf32 (…) — why"``."""
    groups: Dict[Tuple[str, str, str], List[str]] = {}
    for c in sorted(result.skipped(), key=_order):
        key = (str(c.get("status")), c["mode"], str(c.get("reason", "")))
        groups.setdefault(key, []).append(f"{c['net']} {c['task']} b{c['batch']}")
    return [
        f"{status}: {mode} ({', '.join(what[:4])}{f' and {len(what) - 4} more' if len(what) > 4 else ''}) — {why}"
        for (status, mode, why), what in groups.items()
    ]


def time_ratio(
    result: BenchResult, batch: int = 256, task: str = "train", modes: Sequence[str] = MODE_ORDER
) -> Optional[Dict[str, Any]]:
    """AlexNet's time over LeNet5's: per batch at ``batch`` in the first mode both ran it, else per image at the
    largest batch each network ran in a mode (``unit`` and ``note`` say which). ``None`` if nothing fits."""
    for mode in modes:
        a, l = result.find("alexnet", task, mode, batch), result.find("lenet5", task, mode, batch)
        if a and l:
            return {
                "mode": mode,
                "task": task,
                "alexnet": a["ms"],
                "lenet5": l["ms"],
                "ratio": a["ms"] / l["ms"],
                "unit": f"ms per batch of {batch}",
                "note": f"time per batch of {batch}",
            }
    for mode in modes:
        sa, sl = result.series("alexnet", task, mode), result.series("lenet5", task, mode)
        if sa and sl:
            a, l = sa[-1]["ms"] / sa[-1]["batch"], sl[-1]["ms"] / sl[-1]["batch"]
            return {
                "mode": mode,
                "task": task,
                "alexnet": a,
                "lenet5": l,
                "ratio": a / l,
                "unit": "ms per image",
                "note": f"time per image (AlexNet at batch {sa[-1]['batch']}, LeNet5 at batch {sl[-1]['batch']}; "
                f"batch {batch} was not run for both)",
            }
    return None


def mode_speedups(result: BenchResult, task: str = "train") -> List[Dict[str, Any]]:
    """Images/s of each mode over fp32, per network, at the fp32 batch size where the most modes were measured."""
    rows = []
    for net in NET_ORDER:
        fp32 = result.series(net, task, "fp32")
        if not fp32:
            continue
        base = max(
            fp32, key=lambda c: (sum(result.find(net, task, m, c["batch"]) is not None for m in MODE_ORDER), c["batch"])
        )
        for mode in MODE_ORDER:
            c = result.find(net, task, mode, base["batch"])
            if c:
                rows.append(
                    {
                        "net": net,
                        "task": task,
                        "batch": base["batch"],
                        "mode": mode,
                        "images_per_s": c["images_per_s"],
                        "speedup": c["images_per_s"] / base["images_per_s"],
                    }
                )
    return rows


#: An independent careful measurement quoted in the issue that asked for the harness: NVIDIA H200, torch 2.11,
#: blog networks at their own input sizes. (net, task, mode, batch) -> (low, high) images/s.
REFERENCE = {
    "device": "NVIDIA H200",
    "torch": "2.11",
    "cases": {
        ("alexnet", "train", "fp32", 512): (8255, 8255),
        ("alexnet", "train", "tf32", 512): (18370, 18370),
        ("alexnet", "train", "bf16-cl", 512): (30973, 30973),
        ("alexnet", "train", "bf16-cl-compile", 512): (34875, 34875),
        ("alexnet", "infer", "bf16-cl-compile", 512): (88991, 88991),
        ("lenet5", "train", "fp32", 256): (137000, 137000),
        ("lenet5", "train", "fp32", 8192): (1.9e6, 2.2e6),
    },
    "tolerance": 0.05,
}


def compare_with_reference(result: BenchResult) -> List[Dict[str, Any]]:
    """Each reference case this result measured: images/s, the reference, their ratio, whether within 5%
    (which applies only on the reference's GPU: ``same_gpu``)."""
    same_gpu, tol, rows = "H200" in result.device, REFERENCE["tolerance"], []
    for (net, task, mode, batch), (lo, hi) in REFERENCE["cases"].items():
        c = result.find(net, task, mode, batch)
        if c is not None:
            v = c["images_per_s"]
            rows.append(
                {
                    "net": net,
                    "task": task,
                    "mode": mode,
                    "batch": batch,
                    "measured": v,
                    "reference": (lo, hi),
                    "ratio": v / ((lo + hi) / 2),
                    "within_5pct": lo * (1 - tol) <= v <= hi * (1 + tol),
                    "same_gpu": same_gpu,
                }
            )
    return rows


def reference_text(result: BenchResult) -> str:
    rows = compare_with_reference(result)
    if not rows:
        return "No case of the H200 reference measurement was run."
    lines = [
        f"Against the reference measurement ({REFERENCE['device']}, torch {REFERENCE['torch']}); this run: "
        f"{result.device}, torch {result.env.get('torch')}"
        + ("" if rows[0]["same_gpu"] else " — a different GPU, so the 5% criterion does not apply")
    ]
    for r in rows:
        lo, hi = r["reference"]
        ref = f"{lo:,.0f}" if lo == hi else f"{lo:,.0f}–{hi:,.0f}"
        flag = ("ok" if r["within_5pct"] else "OFF by more than 5%") if r["same_gpu"] else f"×{r['ratio']:.2f}"
        lines.append(
            f"  {r['net']:7s} {r['task']:5s} {r['mode']:15s} b{r['batch']:<5d} "
            f"{r['measured']:>12,.0f} img/s  ref {ref:>17s}  {flag}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- harness cross-check records

CHECK_HEAD = f"{'case':34s} {'harness ms':>11s} {'Timer ms':>10s} {'loop ms':>10s} {'vs Timer':>9s} {'vs loop':>8s}"


def check_row_text(row: Dict[str, Any]) -> str:
    """One cross-check row as the table line ``benchmarks/check_harness.py`` prints."""
    name = " ".join(map(str, row["case"]))
    if row["status"] != "ok":
        return f"{name:34s} skipped: {row.get('reason')}"
    return (
        f"{name:34s} {row['harness_ms']:11.3f} {row['timer_ms']:10.3f} {row['loop_ms']:10.3f} "
        f"{row['vs_timer_pct']:+8.1f}% {row['vs_loop_pct']:+7.1f}%"
    )


def largest_deviation(rows: Sequence[Dict[str, Any]]) -> Optional[float]:
    """The largest |deviation| in % of the harness from either independent measurement."""
    ok = [r for r in rows if r["status"] == "ok"]
    return max((max(abs(r["vs_timer_pct"]), abs(r["vs_loop_pct"])) for r in ok), default=None)


def deviation_line(rows: Sequence[Dict[str, Any]], prefix: str = "largest deviation") -> Optional[str]:
    worst = largest_deviation(rows)
    return None if worst is None else f"{prefix}: {worst:.1f}% ({'within' if worst <= 5 else 'OUTSIDE'} 5%)"


def check_text(record: Record) -> str:
    """A cross-check record as the table the check prints, under a line saying where, when and with how many threads."""
    p = record.payload
    threads = f", {p['threads']} CPU thread{'s' if p['threads'] != 1 else ''}" if p.get("threads") else ""
    lines = [f"{record.label}, {p['rounds']} round{'s' if p['rounds'] != 1 else ''} per case{threads}", CHECK_HEAD]
    lines += [check_row_text(row) for row in p["cases"]]
    worst = deviation_line(p["cases"])
    return "\n".join(lines + ([worst] if worst else []))
