"""The optimizer, learning-rate schedule and mixed precision that ``fit`` builds from its arguments.

``"adam"``/``"adamw"`` are fused (one kernel per step) where the installed torch has that for the device;
``"sgd"`` is SGD with momentum 0.9; a callable ``f(params, **kw)`` makes any other optimizer.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch

OptimizerArg = Union[str, Callable[..., torch.optim.Optimizer]]

#: Learning rate used when ``fit(lr=None)``, per named optimizer.
DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.1}


def _make_optimizer(
    optimizer: OptimizerArg, params: Any, lr: Optional[float], weight_decay: float
) -> torch.optim.Optimizer:
    if isinstance(optimizer, str):
        name = optimizer.lower()
        if name not in DEFAULT_LR:
            raise ValueError(f"fit(optimizer={optimizer!r}): use one of {sorted(DEFAULT_LR)} or a callable")
        lr = DEFAULT_LR[name] if lr is None else lr
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
        adam = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
        params = list(params)
        try:  # one fused kernel per step instead of a dozen small ones (CPU and CUDA, torch >= 2.4)
            return adam(params, lr=lr, weight_decay=weight_decay, fused=True)
        except (RuntimeError, ValueError, TypeError):  # an older torch, or a device without the fused kernel
            return adam(params, lr=lr, weight_decay=weight_decay)
    if callable(optimizer):
        kwargs: dict[str, Any] = {}
        if lr is not None:
            kwargs["lr"] = lr
        if weight_decay:
            kwargs["weight_decay"] = weight_decay
        return optimizer(params, **kwargs)
    raise TypeError(f"fit(optimizer=...): a name or a callable, got {type(optimizer).__name__}")


def _make_schedule(schedule: Optional[str], opt: torch.optim.Optimizer, total_steps: int) -> Optional[Any]:
    if schedule is None:
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    if schedule == "onecycle":
        peak = opt.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=peak, total_steps=max(total_steps, 1))
    raise ValueError(f"fit(schedule={schedule!r}): use None, 'cosine' or 'onecycle'")


class _Amp:
    """Mixed precision: float16 + GradScaler on CUDA, bfloat16 on CPU, off elsewhere."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.enabled = enabled and device.type in ("cuda", "cpu")
        self.device_type = device.type
        self.dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if self.enabled and device.type == "cuda" else None

    def autocast(self) -> Any:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def backward_and_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        """``loss.backward(); opt.step()`` — with float16, through the gradient scaler."""
        if self.scaler is None:
            loss.backward()
            opt.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            self.scaler.update()
