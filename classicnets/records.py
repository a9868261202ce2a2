"""Records: measurements kept as JSON, written whole, read back with their provenance.

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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._version import __version__
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
