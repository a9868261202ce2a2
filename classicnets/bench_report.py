"""Results of :mod:`classicnets.bench`: the result object, JSON records, tables, plots.

Plain Python plus matplotlib (imported when a plot is drawn): loading and
printing a record needs no torch and no GPU.

A *record* is the JSON that ``python -m classicnets.bench --out ...`` writes.
The ones in ``classicnets/records/`` were made on a real GPU and are shown by
the timing chapter, always with their device, date and versions
(:attr:`BenchResult.label`), never as if they were measured live.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .fileio import write_text_atomic

__all__ = [
    "SCHEMA", "RECORDS_DIR", "MODE_ORDER", "PRECISION_OF_MODE", "RecordError", "BenchResult",
    "load_record", "load_records", "plot_throughput", "plot_tflops", "time_ratio", "mode_speedups",
    "REFERENCE", "compare_with_reference",
]

SCHEMA = "classicnets.bench/1"
RECORDS_DIR = Path(__file__).resolve().parent / "records"
MODE_ORDER = ("fp32", "tf32", "bf16-cl", "bf16-cl-compile")
TASK_ORDER = ("train", "infer")
NET_ORDER = ("lenet5", "alexnet")
PRECISION_OF_MODE = {"fp32": "fp32", "tf32": "tf32", "bf16-cl": "bf16", "bf16-cl-compile": "bf16"}
MODE_COLORS = {"fp32": "tab:blue", "tf32": "tab:orange", "bf16-cl": "tab:green", "bf16-cl-compile": "tab:red"}
PRECISION_COLORS = {"fp32": "tab:blue", "tf32": "tab:orange", "bf16": "tab:green"}
NET_STYLES = {"lenet5": ("--", "o"), "alexnet": ("-", "s")}

# what a well-formed record must hold (checked by load_record)
_REQUIRED = {
    "": ("schema", "preset", "env", "peaks", "cases"),
    "env": ("device_type", "device_name", "torch", "date"),
    "case": ("net", "task", "mode", "batch", "status"),
    "ok_case": ("ms", "images_per_s", "flops_per_batch", "tflops"),
}


class RecordError(ValueError):
    """A benchmark record that cannot be read; the message names the file and the fault."""


# --------------------------------------------------------------------------- the result


@dataclass
class BenchResult:
    """One benchmark run: where it ran (``env``), the matmul peaks, and one dict per case.

    ``source`` is ``"live"`` for a run in this process and ``"recorded"`` for
    one loaded from JSON; :attr:`label` says which, with device, date and versions.
    """

    preset: str
    env: Dict[str, Any]
    peaks: Dict[str, Dict[str, Any]]
    cases: List[Dict[str, Any]]
    config: Dict[str, Any] = field(default_factory=dict)
    total_s: Optional[float] = None
    complete: bool = True
    source: str = "live"
    path: Optional[str] = None

    # ---- identity
    @property
    def device(self) -> str:
        return str(self.env.get("device_name", "?"))

    @property
    def on_gpu(self) -> bool:
        return self.env.get("device_type") == "cuda"

    @property
    def label(self) -> str:
        """E.g. ``recorded on NVIDIA H100 80GB HBM3, 2026-11-28, torch 2.11.0, CUDA 13.0``."""
        env = self.env
        parts = [f"{'recorded' if self.source == 'recorded' else 'live'} on {self.device}",
                 str(env.get("date", "?"))[:10], f"torch {env.get('torch', '?')}"]
        if env.get("cuda"):
            parts.append(f"CUDA {env['cuda']}")
        text = ", ".join(parts)
        if not self.complete:
            text += " (incomplete run)"
        return text

    # ---- cases
    def ok(self) -> List[Dict[str, Any]]:
        return [c for c in self.cases if c.get("status") == "ok"]

    def skipped(self) -> List[Dict[str, Any]]:
        return [c for c in self.cases if c.get("status") != "ok"]

    def find(self, net: str, task: str, mode: str, batch: int) -> Optional[Dict[str, Any]]:
        """The measured case, or ``None`` if it was not run (or skipped)."""
        for c in self.ok():
            if (c["net"], c["task"], c["mode"], int(c["batch"])) == (net, task, mode, int(batch)):
                return c
        return None

    def series(self, net: str, task: str, mode: str) -> List[Dict[str, Any]]:
        """Measured cases of one (net, task, mode), by batch size."""
        return sorted((c for c in self.ok() if (c["net"], c["task"], c["mode"]) == (net, task, mode)),
                      key=lambda c: c["batch"])

    # ---- JSON
    def to_dict(self) -> Dict[str, Any]:
        return {"schema": SCHEMA, "preset": self.preset, "complete": self.complete, "total_s": self.total_s,
                "env": self.env, "config": self.config, "peaks": self.peaks, "cases": self.cases}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Dict[str, Any], *, source: str = "recorded", path: Optional[str] = None) -> "BenchResult":
        where = path or "record"
        _validate(data, where)
        return cls(preset=data["preset"], env=dict(data["env"]), peaks=dict(data["peaks"]),
                   cases=[dict(c) for c in data["cases"]], config=dict(data.get("config") or {}),
                   total_s=data.get("total_s"), complete=bool(data.get("complete", True)),
                   source=source, path=path)

    def default_filename(self) -> str:
        slug = "".join(ch if ch.isalnum() else "-" for ch in self.device.lower()).strip("-")
        while "--" in slug:
            slug = slug.replace("--", "-")
        stamp = str(self.env.get("date", "undated"))[:16].replace(":", "").replace("T", "_")
        return f"{self.preset}_{slug or 'device'}_{stamp}.json"

    def save(self, out: Union[str, Path]) -> Path:
        """Write JSON to ``out`` (a ``.json`` file, or a folder that gets :meth:`default_filename`).

        The write is atomic (temporary file, then rename), so a run stopped
        half-way leaves the last complete snapshot, never half a file.
        """
        out = Path(out)
        path = write_text_atomic(out if out.suffix == ".json" else out / self.default_filename(), self.to_json() + "\n")
        self.path = str(path)
        return path

    # ---- text
    def table(self, fmt: str = "markdown") -> str:
        """Measured cases as a table (``"markdown"`` or ``"text"``), then peaks and skips."""
        return render_table(self, fmt)

    def _repr_markdown_(self) -> str:  # Jupyter
        return f"**{self.label}** — preset `{self.preset}`\n\n" + self.table("markdown")

    def __repr__(self) -> str:
        return f"<BenchResult {self.label}: {len(self.ok())} measured, {len(self.skipped())} skipped>"


def _validate(data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise RecordError(f"{where}: a benchmark record is a JSON object, got {type(data).__name__}")
    missing = [k for k in _REQUIRED[""] if k not in data]
    if missing:
        raise RecordError(f"{where}: not a classicnets benchmark record, missing {', '.join(missing)} "
                          f"(expected the JSON written by `python -m classicnets.bench --out ...`)")
    if data["schema"] != SCHEMA:
        raise RecordError(f"{where}: schema {data['schema']!r} is not {SCHEMA!r}: re-run the benchmark "
                          f"with this version of classicnets")
    env = data["env"]
    if not isinstance(env, dict):
        raise RecordError(f"{where}: env must be an object with the device, torch version and date")
    missing = [k for k in _REQUIRED["env"] if not env.get(k)]
    if missing:
        raise RecordError(f"{where}: env lacks {', '.join(missing)}: a record must say where and when it ran")
    if not isinstance(data["cases"], list):
        raise RecordError(f"{where}: cases must be a list")
    for i, case in enumerate(data["cases"]):
        if not isinstance(case, dict):
            raise RecordError(f"{where}: case {i} is not an object")
        missing = [k for k in _REQUIRED["case"] if k not in case]
        if case.get("status") == "ok":
            missing += [k for k in _REQUIRED["ok_case"] if k not in case]
            bad = [k for k in _REQUIRED["ok_case"] if k in case and not _positive(case[k])]
            if bad:
                raise RecordError(f"{where}: case {i} ({case.get('net')} {case.get('task')} {case.get('mode')} "
                                  f"batch {case.get('batch')}): {', '.join(bad)} must be positive numbers")
        if missing:
            raise RecordError(f"{where}: case {i} lacks {', '.join(missing)}")


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


# --------------------------------------------------------------------------- records


def load_record(path: Union[str, Path]) -> BenchResult:
    """Read one record; :class:`RecordError` says which file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except OSError as err:
        raise RecordError(f"{path}: cannot be read ({err.strerror})") from None
    return BenchResult.from_dict(data, source="recorded", path=str(path))


def _is_bench_file(path: Path) -> bool:
    """Timing records share the folder with other records (e.g. training runs):
    a file belongs to the timing harness unless it names another schema."""
    if path.name.startswith("."):
        return False
    try:
        schema = json.loads(path.read_text()).get("schema", SCHEMA)
    except (ValueError, AttributeError):
        return True  # malformed: let load_record say what is wrong
    # another classicnets record (e.g. "classicnets.alexnet_fashion/1"): not ours to load
    return not (isinstance(schema, str) and schema.startswith("classicnets.") and not schema.startswith("classicnets.bench"))


def load_records(folder: Union[str, Path, None] = None, *, gpu_only: bool = True) -> List[BenchResult]:
    """Every record in ``folder`` (default: ``classicnets/records/``), oldest first.

    ``gpu_only`` keeps only records made on a GPU. A malformed file raises
    :class:`RecordError` rather than being skipped silently.
    """
    folder = RECORDS_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    records = [load_record(p) for p in sorted(folder.glob("*.json")) if _is_bench_file(p)]
    if gpu_only:
        records = [r for r in records if r.on_gpu]
    return sorted(records, key=lambda r: str(r.env.get("date", "")))


# --------------------------------------------------------------------------- tables


def _fmt(x: Optional[float], digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax == 0:
        return "0"
    return f"{x:.{max(0, digits - 1 - int(math.floor(math.log10(ax))))}f}"


def _sort_key(c: Dict[str, Any]) -> Tuple:
    def idx(seq: Sequence[str], v: str) -> int:
        return seq.index(v) if v in seq else len(seq)
    return (idx(NET_ORDER, c["net"]), idx(TASK_ORDER, c["task"]), idx(MODE_ORDER, c["mode"]), int(c["batch"]))


def render_table(result: BenchResult, fmt: str = "markdown") -> str:
    head = ["net", "task", "mode", "batch", "ms/batch", "min–max ms", "images/s", "TFLOP/s", "% peak",
            "peak MB", "compile s"]
    rows = []
    for c in sorted(result.ok(), key=_sort_key):
        rows.append([c["net"], c["task"], c["mode"], str(c["batch"]), _fmt(c["ms"]),
                     f"{_fmt(c.get('ms_min'))}–{_fmt(c.get('ms_max'))}", f"{c['images_per_s']:,.0f}",
                     _fmt(c["tflops"]), _fmt(c.get("pct_peak"), 2),
                     _fmt(c.get("peak_mem_mb")), _fmt(c.get("compile_s"), 2)])
    if fmt == "markdown":
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    elif fmt == "text":
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
        lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    else:
        raise ValueError(f"fmt must be 'markdown' or 'text', got {fmt!r}")
    if not rows:
        lines.append("(no case was measured)")
    out = ["\n".join(lines), "", peaks_line(result)]
    out += [f"- {line}" for line in skip_summary(result)]
    return "\n".join(out)


def peaks_line(result: BenchResult) -> str:
    parts = []
    for prec in ("fp32", "tf32", "bf16"):
        p = result.peaks.get(prec)
        if not p:
            continue
        if p.get("status") == "ok":
            parts.append(f"{prec} {_fmt(p['tflops'])} TFLOP/s (n={p['n']})")
        else:
            parts.append(f"{prec} not measured ({p.get('reason', 'skipped')})")
    return "Dense matmul peak measured in this run: " + ("; ".join(parts) if parts else "none")


def skip_summary(result: BenchResult) -> List[str]:
    """One line per (status, mode, reason) over the cases not measured: ``"skipped: tf32 (…) — why"``."""
    groups: Dict[Tuple[str, str, str], List[str]] = {}
    for c in sorted(result.skipped(), key=_sort_key):
        key = (str(c.get("status")), c["mode"], str(c.get("reason", "")))
        groups.setdefault(key, []).append(f"{c['net']} {c['task']} b{c['batch']}")
    lines = []
    for (status, mode, why), what in groups.items():
        shown = ", ".join(what[:4]) + (f" and {len(what) - 4} more" if len(what) > 4 else "")
        lines.append(f"{status}: {mode} ({shown}) — {why}")
    return lines


# --------------------------------------------------------------------------- story helpers


def time_ratio(result: BenchResult, batch: int = 256, task: str = "train",
               modes: Sequence[str] = MODE_ORDER) -> Optional[Dict[str, Any]]:
    """AlexNet's time per batch over LeNet5's, at one batch size, in the first mode both have.

    If that batch size was not run for both (a CPU preset runs AlexNet at a
    batch of 1 or 2), fall back to the time *per image* at the largest batch each
    network ran in that mode, and say so in ``note``. ``None`` if nothing fits.
    """
    for mode in modes:
        a, l = result.find("alexnet", task, mode, batch), result.find("lenet5", task, mode, batch)
        if a and l:
            return {"mode": mode, "task": task, "batch_alexnet": batch, "batch_lenet5": batch,
                    "alexnet_ms": a["ms"], "lenet5_ms": l["ms"], "ratio": a["ms"] / l["ms"],
                    "note": f"time per batch of {batch}"}
    for mode in modes:
        sa, sl = result.series("alexnet", task, mode), result.series("lenet5", task, mode)
        if sa and sl:
            a, l = sa[-1], sl[-1]
            pa, pl = a["ms"] / a["batch"], l["ms"] / l["batch"]
            return {"mode": mode, "task": task, "batch_alexnet": a["batch"], "batch_lenet5": l["batch"],
                    "alexnet_ms": a["ms"], "lenet5_ms": l["ms"], "ratio": pa / pl,
                    "note": f"time per image (AlexNet at batch {a['batch']}, LeNet5 at batch {l['batch']}; "
                            f"batch {batch} was not run for both)"}
    return None


def mode_speedups(result: BenchResult, task: str = "train") -> List[Dict[str, Any]]:
    """Images/s of each mode over fp32, per network, at the largest batch measured in fp32 and
    in as many other modes as any batch was."""
    rows = []
    for net in NET_ORDER:
        base_series = result.series(net, task, "fp32")
        if not base_series:
            continue
        base = max(base_series, key=lambda c: (sum(result.find(net, task, m, c["batch"]) is not None
                                                   for m in MODE_ORDER), c["batch"]))
        for mode in MODE_ORDER:
            c = result.find(net, task, mode, base["batch"])
            if c:
                rows.append({"net": net, "task": task, "batch": base["batch"], "mode": mode,
                             "images_per_s": c["images_per_s"], "speedup": c["images_per_s"] / base["images_per_s"]})
    return rows


# --------------------------------------------------------------------------- reference

#: An independent careful measurement quoted in the issue that asked for this harness:
#: NVIDIA H200, torch 2.11, blog networks at their own input sizes. (net, task, mode, batch) -> (low, high) img/s.
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
    """Each reference case this result measured: measured img/s, reference, ratio, within 5%.

    The reference was taken on an H200 with torch 2.11: ``same_gpu`` is False
    when this result ran elsewhere, and then the 5% criterion does not apply.
    """
    same_gpu = "H200" in result.device
    rows = []
    for (net, task, mode, batch), (lo, hi) in REFERENCE["cases"].items():
        c = result.find(net, task, mode, batch)
        if c is None:
            continue
        v = c["images_per_s"]
        tol = REFERENCE["tolerance"]
        rows.append({"net": net, "task": task, "mode": mode, "batch": batch, "measured": v,
                     "reference": (lo, hi), "ratio": v / ((lo + hi) / 2),
                     "within_5pct": lo * (1 - tol) <= v <= hi * (1 + tol), "same_gpu": same_gpu})
    return rows


def reference_text(result: BenchResult) -> str:
    rows = compare_with_reference(result)
    if not rows:
        return "No case of the H200 reference measurement was run."
    head = (f"Against the reference measurement ({REFERENCE['device']}, torch {REFERENCE['torch']}); "
            f"this run: {result.device}, torch {result.env.get('torch')}"
            + ("" if rows[0]["same_gpu"] else " — a different GPU, so the 5% criterion does not apply"))
    lines = [head]
    for r in rows:
        lo, hi = r["reference"]
        ref = f"{lo:,.0f}" if lo == hi else f"{lo:,.0f}–{hi:,.0f}"
        flag = ("ok" if r["within_5pct"] else "OFF by more than 5%") if r["same_gpu"] else f"×{r['ratio']:.2f}"
        lines.append(f"  {r['net']:7s} {r['task']:5s} {r['mode']:15s} b{r['batch']:<5d} "
                     f"{r['measured']:>12,.0f} img/s  ref {ref:>17s}  {flag}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def _as_list(results: Union[BenchResult, Iterable[BenchResult]]) -> List[BenchResult]:
    return [results] if isinstance(results, BenchResult) else [r for r in results if r is not None]


def _style_axes(ax, eng: bool) -> None:
    """Log–log axes labelled in plain numbers: the measured batch sizes on x; on y, at least a decade."""
    from matplotlib.ticker import EngFormatter, FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    data = [line for line in ax.lines if line.get_gid() != "peak"]  # peak lines span the axes, not batches
    xs = sorted({float(x) for line in data for x in line.get_xdata() if x > 0})
    if xs:
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlim(xs[0] / 1.5, xs[-1] * 1.5)
    ys = [float(y) for line in ax.lines for y in line.get_ydata() if y > 0]
    if ys:
        lo, hi = min(ys), max(ys)
        if hi / lo < 10:  # show at least one decade, so that log ticks exist
            mid = math.sqrt(lo * hi)
            lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
        ax.set_ylim(lo / 1.3, hi * 1.3)
    ax.yaxis.set_major_formatter(EngFormatter(sep="") if eng else FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    for tick in ax.get_xticklabels():
        tick.set_rotation(45 if len(xs) > 5 else 0)


def plot_throughput(results: Union[BenchResult, Iterable[BenchResult]], tasks: Sequence[str] = ("train", "infer"),
                    figsize: Tuple[float, float] = (11, 4.2)):
    """Images/s against batch size, log–log, one panel per task; a line per network and mode.

    Several results (say, a live CPU run and a recorded GPU run) share the
    panels, their labels naming the device. Returns the figure.
    """
    import matplotlib.pyplot as plt

    results = _as_list(results)
    fig, axes = plt.subplots(1, len(tasks), figsize=figsize, squeeze=False)
    several = len(results) > 1
    for ax, task in zip(axes[0], tasks):
        for k, res in enumerate(results):
            alpha = 1.0 if k == 0 or not several else 0.55
            for net in NET_ORDER:
                ls, marker = NET_STYLES[net]
                for mode in MODE_ORDER:
                    s = res.series(net, task, mode)
                    if not s:
                        continue
                    label = f"{net} {mode}" + (f" — {res.device}" if several else "")
                    ax.plot([c["batch"] for c in s], [c["images_per_s"] for c in s], ls=ls, marker=marker,
                            color=MODE_COLORS.get(mode), alpha=alpha, label=label, ms=4)
        _style_axes(ax, eng=True)
        if not ax.lines:
            ax.text(0.5, 0.5, f"no {task} case measured", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlabel("batch size")
        ax.set_ylabel("images / s")
        ax.set_title({"train": "training step (fwd + bwd + SGD)", "infer": "inference"}.get(task, task))
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle("; ".join(r.label for r in results), fontsize=9)
    fig.tight_layout()
    return fig


def plot_tflops(results: Union[BenchResult, Iterable[BenchResult]], task: str = "train",
                figsize: Tuple[float, float] = (11, 4.2)):
    """Achieved TFLOP/s against batch size, a panel per network (one row per result),
    with the matmul peak measured in the same run as a dashed line per precision."""
    import matplotlib.pyplot as plt

    results = _as_list(results)
    fig, axes = plt.subplots(max(1, len(results)), 2, figsize=(figsize[0], figsize[1] * max(1, len(results))),
                             squeeze=False)
    for row, res in zip(axes, results):
        for ax, net in zip(row, NET_ORDER):
            for mode in MODE_ORDER:
                s = res.series(net, task, mode)
                if s:
                    ax.plot([c["batch"] for c in s], [c["tflops"] for c in s], marker="o", ms=4,
                            color=MODE_COLORS[mode], label=mode)
            for prec, p in res.peaks.items():
                if p.get("status") == "ok":
                    ax.axhline(p["tflops"], ls="--", lw=1, color=PRECISION_COLORS.get(prec, "grey"), gid="peak",
                               label=f"{prec} matmul peak {_fmt(p['tflops'])}")
            _style_axes(ax, eng=False)
            ax.set_xlabel("batch size")
            ax.set_ylabel("achieved TFLOP/s")
            ax.set_title(f"{net}, {task} — {res.device}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
