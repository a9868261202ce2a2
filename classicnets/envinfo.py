"""Where and when a measurement ran: device, versions, date (for records)."""
from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from typing import Any, Dict

import torch

from . import __version__


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def environment(device: torch.device) -> Dict[str, Any]:
    """Where and when: device name, versions, date (UTC, ISO 8601)."""
    env: Dict[str, Any] = {
        "device_type": device.type,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "classicnets": __version__,
        "cpu": cpu_name(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                   multiprocessors=props.multi_processor_count, gpu_memory_gb=round(props.total_memory / 2**30, 1))
        try:
            env["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except Exception:
            pass
    else:
        n = env["cpu_threads"]
        env["device_name"] = f"CPU: {env['cpu']} ({n} thread{'s' if n != 1 else ''})"
    return env
