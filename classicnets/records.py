"""Records: measurements kept as JSON, written whole, read back with their provenance, shown as tables and plots.

Every record has one envelope::

    {"schema": "classicnets.timing", "version": 2, "date": "...", "command": "...", "env": {...}, "payload": {...}}

and one of four payloads: ``timing`` (``python -m classicnets.bench --out``: preset, peaks, cases),
``harness_check`` (the harness against two independent timers: rounds, cases), ``training`` (AlexNet on
Fashion-MNIST: config, per-epoch history, test accuracy, seconds) and ``lenet5_weights`` (``python -m
classicnets.export``: the settings, each network's accuracy as stored, the checksums of the files it wrote).
:func:`write_text_atomic` writes every one; :func:`load` reads and validates any one, naming the file on any
fault. Loading and printing need no torch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import __version__
from .atomic import WriteError, write_text_atomic

PathLike = Union[str, "os.PathLike[str]"]
#: Where the book reads its records: ``classicnets/records/``, or the folder that ``CLASSICNETS_RECORDS`` names
#: (read here only, at import; tests/test_gpu_pages.py renders chapters 6 and 8 with and without a record that way).
RECORDS_DIR = Path(os.environ.get("CLASSICNETS_RECORDS") or Path(__file__).resolve().parent / "records")
VERSION = 2
ALEXNET_GPU_RECORD = RECORDS_DIR / "alexnet_fashion_gpu.json"
ALEXNET_CPU_RECORD = RECORDS_DIR / "alexnet_fashion_cpu.json"
CHECK_GPU_RECORD = RECORDS_DIR / "harness_check_gpu.json"  # made by benchmarks/gpu_session.sh on a GPU machine
#: The one command that makes the GPU training record (run from the repository root on a GPU machine).
ALEXNET_GPU_COMMAND = "python benchmarks/train_alexnet_gpu.py"
#: The command that made the CPU training record (all the data at the smallest input the network takes).
ALEXNET_CPU_COMMAND = (
    "python benchmarks/train_alexnet_gpu.py --device cpu --input-size 67 --epochs 4 --batch-size 64 "
    "--out classicnets/records/alexnet_fashion_cpu.json"
)
#: What the full GPU training run aims for.
TARGET_TEST_ACC = 0.92
TARGET_SECONDS = 40.0

MODE_ORDER = ("fp32", "tf32", "bf16-cl", "bf16-cl-compile")
TASK_ORDER = ("train", "infer")
NET_ORDER = ("lenet5", "alexnet")
MODE_COLORS = {"fp32": "tab:blue", "tf32": "tab:orange", "bf16-cl": "tab:green", "bf16-cl-compile": "tab:red"}
PRECISION_COLORS = {"fp32": "tab:blue", "tf32": "tab:orange", "bf16": "tab:green"}


class RecordError(WriteError):
    """A record that cannot be read or written; the message names the file and the fault."""


# --------------------------------------------------------------------------- writing


# --------------------------------------------------------------------------- the envelope


def environment(device: Any = None) -> Dict[str, Any]:
    """Where and when: device type and name, versions, CPU, threads, date (UTC, ISO 8601)."""
    import torch

    device = torch.device(device or "cpu")
    env: Dict[str, Any] = {
        "device_type": device.type,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "classicnets": __version__,
        "cpu": _cpu_name(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            device_name=props.name,
            capability=f"{props.major}.{props.minor}",
            multiprocessors=props.multi_processor_count,
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
        )
        with contextlib.suppress(Exception):
            env["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.split()[0]
    else:
        n = env["cpu_threads"]
        env["device_name"] = f"CPU: {env['cpu']} ({n} thread{'s' if n != 1 else ''})"
    return env


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


@dataclass
class Record:
    """One record: its kind, where and when it was made (``env``, ``date``), what made it (``command``), its payload."""

    kind: str
    payload: Dict[str, Any]
    env: Dict[str, Any]
    command: str = ""
    date: str = ""
    path: Optional[str] = None

    def __post_init__(self) -> None:
        self.date = self.date or str(self.env.get("date", ""))

    @property
    def on_gpu(self) -> bool:
        return self.env.get("device_type") == "cuda"

    @property
    def label(self) -> str:
        """``recorded on NVIDIA H100 … (torch 2.x, CUDA 13.0, 2026-11-28)`` for captions and legends."""
        env = self.env
        cuda = f", CUDA {env.get('cuda')}" if self.on_gpu else ""
        return f"recorded on {env.get('device_name', '?')} (torch {env.get('torch', '?')}{cuda}, {self.date[:10]})"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "schema": f"classicnets.{self.kind}",
            "version": VERSION,
            "date": self.date,
            "command": self.command,
            "env": self.env,
            "payload": self.payload,
        }

    def save(self, path: PathLike) -> Path:
        """Write atomically (:func:`write_text_atomic`); remembers the path."""
        written = write_text_atomic(path, json.dumps(self.to_dict(), indent=1) + "\n")
        self.path = str(written)
        return written


def _require(where: str, data: Dict[str, Any], keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise RecordError(f"{where}: {what} lacks {', '.join(missing)}")


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


# per kind: what the payload holds, what each of its ``cases`` holds, and what a measured ("ok") case adds
_SCHEMAS: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "timing": {
        "payload": ("preset", "peaks", "cases"),
        "case": ("net", "task", "mode", "batch", "status"),
        "ok": ("ms", "images_per_s", "flops_per_batch", "tflops"),
    },
    "harness_check": {
        "payload": ("rounds", "cases"),
        "case": ("case", "status"),
        "ok": ("harness_ms", "timer_ms", "loop_ms", "vs_timer_pct", "vs_loop_pct"),
    },
    "training": {"payload": ("device", "device_type", "torch", "config", "history", "test_acc", "seconds")},
    "lenet5_weights": {"payload": ("settings", "networks", "weights_sha256", "images_sha256")},
}


KINDS = tuple(_SCHEMAS)


def _check_payload(where: str, kind: str, payload: Dict[str, Any]) -> None:
    spec = _SCHEMAS[kind]
    _require(where, payload, spec["payload"], f"the {kind} payload")
    for i, case in enumerate(payload.get("cases", []) if "case" in spec else []):
        if not isinstance(case, dict):
            raise RecordError(f"{where}: case {i} is not an object")
        _require(where, case, spec["case"], f"case {i}")
        if case["status"] == "ok":
            _require(where, case, spec["ok"], f"case {i}")
            bad = [k for k in spec["ok"] if kind == "timing" and not _positive(case[k])]
            if bad:
                what = " ".join(str(case[k]) for k in spec["case"][:4])
                raise RecordError(f"{where}: case {i} ({what}): {', '.join(bad)} must be positive numbers")


def from_dict(data: Any, where: str = "record", kind: Optional[str] = None) -> Record:
    """Validate an envelope (and its payload, per kind); :class:`RecordError` names ``where`` and the fault."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: a record is a JSON object, got {type(data).__name__}")
    schema, version = str(data.get("schema")), data.get("version")
    found = schema.removeprefix("classicnets.")
    if found not in KINDS or version != VERSION:
        raise RecordError(
            f"{where}: schema {schema!r} version {version!r} is not a classicnets record "
            f"(classicnets.{{{','.join(KINDS)}}} version {VERSION}): re-make it with this classicnets"
        )
    if kind is not None and found != kind:
        raise RecordError(f"{where}: a {found} record, not a {kind} record")
    _require(where, data, ("env", "payload"), "the record")
    if not isinstance(data["env"], dict) or not isinstance(data["payload"], dict):
        raise RecordError(f"{where}: env and payload must be objects")
    missing = [k for k in ("device_type", "device_name", "torch", "date") if not data["env"].get(k)]
    if missing:
        raise RecordError(f"{where}: env lacks {', '.join(missing)}: a record must say where and when it ran")
    if not isinstance(data["payload"].get("cases", []), list):
        raise RecordError(f"{where}: cases must be a list")
    _check_payload(where, found, data["payload"])
    return Record(
        found,
        data["payload"],
        data["env"],
        str(data.get("command") or ""),
        str(data.get("date") or ""),
        path=None if where == "record" else where,
    )


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except UnicodeDecodeError as err:
        raise RecordError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise RecordError(f"{path}: cannot be read ({err.strerror})") from None


def load(path: PathLike, kind: Optional[str] = None) -> Record:
    """Read and validate one record (of ``kind``, if given); :class:`RecordError` names the file and the fault."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: {'is not a file' if path.exists() else 'does not exist'}")
    return from_dict(_read(path), str(path), kind)


def load_if_exists(path: PathLike, kind: Optional[str] = None) -> Optional[Record]:
    """:func:`load`, or ``None`` when there is no such file (a record not made yet)."""
    return load(path, kind) if Path(path).is_file() else None


def load_all(kind: str, folder: Optional[PathLike] = None) -> List[Record]:
    """Every record of ``kind`` in ``folder`` (default ``classicnets/records/``), oldest first.

    Files that are not ``*.json`` files, hidden files and records of other kinds are skipped; a malformed record
    raises :class:`RecordError` naming it rather than being skipped silently."""
    folder = RECORDS_DIR if folder is None else Path(folder)
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.startswith(".") or not path.is_file():
            continue
        data = _read(path)
        schema = data.get("schema") if isinstance(data, dict) else None
        if isinstance(schema, str) and schema.removeprefix("classicnets.") in KINDS and schema != f"classicnets.{kind}":
            continue
        found.append(from_dict(data, str(path), kind))
    return sorted(found, key=lambda r: r.date)


# --------------------------------------------------------------------------- timing records


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


# --------------------------------------------------------------------------- training records


def record_history(record: Record) -> Any:
    """A training record's per-epoch history as a :class:`classicnets.train.History`."""
    from .train import EpochRecord, History

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


def plot_runs(run: Any = None, *records: Optional[Record]) -> Any:
    """Training curves of a run and of the training records given (``None``s skipped), each labelled with where."""
    from .plots import training_curves

    runs: Dict[str, Any] = {}
    for rec in filter(None, records):
        size = rec.payload["config"]["input_size"]
        runs[f"{_record_name(rec)} ({rec.env.get('device_name')}, {size} px)"] = record_history(rec)
    if run is not None:
        runs[f"this run ({run.device_type}, {run.recipe.input_size} px)"] = run.history
    if not runs:
        raise ValueError("nothing to plot: give a run, a record or both")
    return training_curves(runs, title="AlexNet on Fashion-MNIST")


# --------------------------------------------------------------------------- timing plots


def _as_list(results: Union[BenchResult, Iterable[BenchResult]]) -> List[BenchResult]:
    return [results] if isinstance(results, BenchResult) else [r for r in results if r is not None]


def _style_axes(ax: Any, eng: bool) -> None:
    """Log–log axes in plain numbers: the measured batch sizes on x; on y at least three labelled ticks (1-2-5)."""
    from matplotlib.ticker import EngFormatter, FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    xs = sorted({float(x) for line in ax.lines if line.get_gid() != "peak" for x in line.get_xdata() if x > 0})
    if xs:
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlim(xs[0] / 1.5, xs[-1] * 1.5)
        for tick in ax.get_xticklabels():
            tick.set_rotation(45 if len(xs) > 5 else 0)
    ys = [float(y) for line in ax.lines for y in line.get_ydata() if y > 0]
    if ys:
        lo, hi = min(ys), max(ys)
        if hi / lo < 5:  # a 1-2-5 log axis shows at least three ticks over a factor of five
            mid = math.sqrt(lo * hi)
            lo, hi = mid / math.sqrt(5), mid * math.sqrt(5)
        ax.set_ylim(lo / 1.2, hi * 1.2)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(EngFormatter(sep="") if eng else FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_throughput(
    results: Union[BenchResult, Iterable[BenchResult]],
    tasks: Sequence[str] = TASK_ORDER,
    figsize: Tuple[float, float] = (11, 4.2),
) -> Any:
    """Images/s against batch size, log–log, a panel per task, a line per network and mode (LeNet5 dashed).

    Several results (a live CPU run and a recorded GPU run, say) share the panels, their labels naming the device."""
    import matplotlib.pyplot as plt

    results = _as_list(results)
    fig, axes = plt.subplots(1, len(tasks), figsize=figsize, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for k, res in enumerate(results):
            for net in NET_ORDER:
                for mode in MODE_ORDER:
                    s = res.series(net, task, mode)
                    if s:
                        ax.plot(
                            [c["batch"] for c in s],
                            [c["images_per_s"] for c in s],
                            ls="--" if net == "lenet5" else "-",
                            marker="o" if net == "lenet5" else "s",
                            ms=4,
                            color=MODE_COLORS.get(mode),
                            alpha=1.0 if k == 0 else 0.55,
                            label=f"{net} {mode}" + (f" — {res.device}" if len(results) > 1 else ""),
                        )
        _style_axes(ax, eng=True)
        if not ax.lines:
            ax.text(0.5, 0.5, f"no {task} case measured", transform=ax.transAxes, ha="center", va="center")
        ax.set(
            xlabel="batch size",
            ylabel="images / s",
            title={"train": "training step (fwd + bwd + SGD)", "infer": "inference"}.get(task, task),
        )
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle("; ".join(r.label for r in results), fontsize=9)
    fig.tight_layout()
    return fig


def plot_tflops(
    results: Union[BenchResult, Iterable[BenchResult]], task: str = "train", figsize: Tuple[float, float] = (11, 4.2)
) -> Any:
    """Achieved TFLOP/s against batch size, a panel per network (a row per result), with the matmul peak measured in
    the same run as a dashed line per precision."""
    import matplotlib.pyplot as plt

    results = _as_list(results)
    rows = max(1, len(results))
    fig, axes = plt.subplots(rows, 2, figsize=(figsize[0], figsize[1] * rows), squeeze=False)
    for row, res in zip(axes, results):
        for ax, net in zip(row, NET_ORDER):
            for mode in MODE_ORDER:
                s = res.series(net, task, mode)
                if s:
                    ax.plot(
                        [c["batch"] for c in s],
                        [c["tflops"] for c in s],
                        marker="o",
                        ms=4,
                        color=MODE_COLORS[mode],
                        label=mode,
                    )
            for prec, p in res.peaks.items():
                if p.get("status") == "ok":
                    ax.axhline(
                        p["tflops"],
                        ls="--",
                        lw=1,
                        color=PRECISION_COLORS.get(prec, "grey"),
                        gid="peak",
                        label=f"{prec} matmul peak {fmt_number(p['tflops'])}",
                    )
            _style_axes(ax, eng=False)
            ax.set(xlabel="batch size", ylabel="achieved TFLOP/s")
            ax.set_title(f"{net}, {task} — {res.device}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
