"""Waiting for a device: the one helper both the training loop and the timing harness need, below both."""

from __future__ import annotations

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA and MPS run asynchronously; a CPU has nothing to wait for)."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()
