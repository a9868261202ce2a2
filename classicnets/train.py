"""A small, fast, reproducible training loop over preloaded tensors.

``fit`` moves the data to the device once, shuffles it each epoch with a
seeded ``torch.Generator`` and slices batches out of it: no ``DataLoader``
and no per-sample Python. Loss and accuracy are summed on the device and
read once per epoch, so the loop never waits on ``.item()``.

Defaults: Adam with learning rate 1e-3 (safe for any model), or SGD with
learning rate 0.1 and momentum 0.9; batch size 256; 5 epochs; channels-last
memory format on CPU and CUDA (faster for convolutions on a CPU, same
results: ``benchmarks/train_lenet5.py --no-channels-last`` compares). The learning
rate is constant unless a ``schedule`` is passed (``"cosine"``,
``"onecycle"``); for LeNet-5 on Fashion-MNIST ``lr=5e-3, schedule="cosine"``
gains about 1.5 points of test accuracy in 5 epochs.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .atomic import write_text_atomic  # the one atomic writer for files the package writes
from .device_sync import sync

__all__ = [
    "pick_device",
    "fit",
    "epoch_steps",
    "StepCallback",
    "evaluate",
    "predict",
    "random_crop_flip",
    "History",
    "EpochRecord",
    "DEFAULT_LR",
]

DeviceLike = Union[str, torch.device, None]
Augment = Callable[[torch.Tensor], torch.Tensor]
OptimizerArg = Union[str, Callable[..., torch.optim.Optimizer]]
#: ``on_step(step, loss, logits, labels)``; a true return value stops training.
StepCallback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], Optional[bool]]

#: Learning rate used when ``fit(lr=None)``, per named optimizer.
DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.1}


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def pick_device(prefer: DeviceLike = None) -> torch.device:
    """The device to train on: ``prefer`` if given, else CUDA, then MPS, then CPU.

    Asking for a device that is not available raises ``RuntimeError`` saying
    which devices there are.
    """
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"{device} was asked for but CUDA is not available here; use pick_device() or 'cpu'.")
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(f"{device} was asked for but MPS is not available here; use pick_device() or 'cpu'.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _tune_cpu() -> None:
    """Don't oversubscribe the cores we may use; flush denormals (they are slow and harmless to drop)."""
    cpus = _usable_cpus()
    if torch.get_num_threads() > cpus:
        torch.set_num_threads(cpus)
    torch.set_flush_denormal(True)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


# --------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------


@dataclass
class EpochRecord:
    """What one epoch did. ``seconds`` is training time only; the test pass is ``eval_seconds``."""

    epoch: int
    train_loss: float
    train_acc: float
    test_acc: Optional[float]
    seconds: float
    images_per_s: float
    eval_seconds: float = 0.0
    lr: float = float("nan")  # learning rate of the epoch's last step


@dataclass
class History:
    """Per-epoch records of a ``fit`` run, plus what the run was (``meta``)."""

    records: list[EpochRecord] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[EpochRecord]:
        return iter(self.records)

    def __getitem__(self, i: int) -> EpochRecord:
        return self.records[i]

    def __repr__(self) -> str:
        if not self.records:
            return "History(no epochs)"
        f = self.final
        test = f"{f.test_acc:.4f}" if f.test_acc is not None else "n/a"
        return (
            f"History({len(self)} epochs, final train_loss={f.train_loss:.4f}, train_acc={f.train_acc:.4f}, "
            f"test_acc={test}, {self.seconds_per_epoch:.2f} s/epoch)"
        )

    @property
    def final(self) -> EpochRecord:
        """The last epoch's record."""
        if not self.records:
            raise ValueError("this History has no epochs yet")
        return self.records[-1]

    @property
    def seconds_per_epoch(self) -> float:
        """Mean training seconds per epoch."""
        return sum(r.seconds for r in self.records) / max(len(self.records), 1)

    def as_dicts(self) -> list[dict[str, Any]]:
        """One plain dict per epoch (e.g. for ``pandas.DataFrame``)."""
        return [asdict(r) for r in self.records]

    def to_json(self, path: Union[str, os.PathLike, None] = None) -> str:
        """The history as JSON text; also written to ``path`` when given (atomically: a crash leaves the old file)."""
        text = json.dumps({"meta": self.meta, "epochs": self.as_dicts()}, indent=2, default=str)
        if path is not None:
            write_text_atomic(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, text_or_path: Union[str, os.PathLike]) -> "History":
        """Read what :meth:`to_json` wrote: JSON text or a path to a file of it."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        obj = json.loads(text)
        known = {f.name for f in fields(EpochRecord)}
        records = [EpochRecord(**{k: v for k, v in d.items() if k in known}) for d in obj.get("epochs", [])]
        return cls(records=records, meta=dict(obj.get("meta", {})))

    def plot(self, ax: Any = None) -> Any:
        """Loss and accuracy per epoch; returns the matplotlib figure.

        With ``ax=None`` a new figure with two panels (loss, accuracy) is made;
        with one ``Axes`` the accuracy goes on a twin y axis; with a pair of
        ``Axes`` each gets one panel.
        """
        import matplotlib.pyplot as plt

        epochs = [r.epoch for r in self.records]
        twin = False
        if ax is None:
            fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2), constrained_layout=True)
        elif isinstance(ax, (list, tuple)) or getattr(ax, "ndim", 0) == 1:
            ax_loss, ax_acc = ax[0], ax[1]
            fig = ax_loss.figure
        else:
            ax_loss, ax_acc, twin = ax, ax.twinx(), True
            fig = ax.figure
        ax_loss.plot(epochs, [r.train_loss for r in self.records], "o-", color="C0", label="train loss")
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("loss")
        ax_acc.plot(epochs, [r.train_acc for r in self.records], "o-", color="C1", label="train accuracy")
        if any(r.test_acc is not None for r in self.records):
            test = [float("nan") if r.test_acc is None else r.test_acc for r in self.records]
            ax_acc.plot(epochs, test, "s-", color="C2", label="test accuracy")
        ax_acc.set_xlabel("epoch")
        ax_acc.set_ylabel("accuracy")
        if twin:  # one legend for both axes
            (h1, l1), (h2, l2) = ax_loss.get_legend_handles_labels(), ax_acc.get_legend_handles_labels()
            ax_acc.legend(h1 + h2, l1 + l2, loc="center right")
        else:
            ax_loss.legend(loc="upper right")
            ax_acc.legend(loc="lower right")
        title = self.meta.get("model")
        if title:
            fig.suptitle(str(title))
        return fig


# --------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------


def _batches(n: int, size: int) -> Iterator[slice]:
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, *, device: DeviceLike = None) -> torch.Tensor:
    """Logits for every row of ``x``, as a CPU tensor (the model is run in eval mode)."""
    dev = torch.device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    try:
        outs = [model(x[s].to(dev, non_blocking=True)).float().cpu() for s in _batches(len(x), batch_size)]
    finally:
        model.train(was_training)
    if not outs:
        return torch.empty(0)
    return torch.cat(outs)


@torch.inference_mode()
def _count_correct(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    device: torch.device,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> int:
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for s in _batches(len(x), batch_size):
        xb = x[s].to(device, non_blocking=True)
        if memory_format is not torch.contiguous_format:
            xb = xb.contiguous(memory_format=memory_format)
        correct += (model(xb).argmax(1) == y[s].to(device, non_blocking=True)).sum()
    return int(correct.item())


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024, device: DeviceLike = None
) -> float:
    """Accuracy (0..1) of ``model`` on ``(x, y)``.

    Runs in eval mode under ``torch.inference_mode()`` and restores the
    model's mode afterwards. ``device`` defaults to where the model is.
    Mismatched lengths, one-hot or float labels, labels outside the model's
    outputs, NaN/inf images and ``batch_size < 1`` raise one ``ValueError``.
    """
    _check_count("evaluate", "batch_size", batch_size, 1, "1024")
    _check_xy("evaluate", x, y, ("x", "y"))
    if len(y) == 0:
        raise ValueError("evaluate: x and y are empty; give at least one image")
    dev = torch.device(device) if device is not None else _model_device(model)
    _check_labels("evaluate", y, _output_width(model, x, dev), "y")
    was_training = model.training
    model.eval()
    try:
        return _count_correct(model, x, y, batch_size, dev) / len(y)
    finally:
        model.train(was_training)


# --------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------


def random_crop_flip(pad: int = 2, flip: bool = True, fill: Optional[float] = None) -> Augment:
    """A batch-wise augmentation: random shifts of up to ``pad`` pixels, then random horizontal flips.

    Equivalent to padding by ``pad`` and cropping back to the original size at
    a random offset, per image, all in a few tensor ops on the batch's device.
    ``fill`` is the value of the padding; ``None`` uses each batch's minimum
    (the background of MNIST-like images, whatever the normalisation).
    Randomness comes from torch's global generator, which ``fit`` seeds.
    Pass ``flip=False`` for digits.
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")

    def augment(x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        out = x
        if pad:
            value = float(x.amin()) if fill is None else float(fill)
            padded = F.pad(x, (pad, pad, pad, pad), value=value)
            dy = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
            dx = torch.randint(0, 2 * pad + 1, (b,), device=x.device)
            rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
            out = padded.gather(2, rows.expand(b, c, h, w + 2 * pad)).gather(3, cols.expand(b, c, h, w))
        if flip:
            mask = torch.rand(b, device=x.device) < 0.5
            out = torch.where(mask[:, None, None, None], out.flip(3), out)
        return out

    augment.__name__ = f"random_crop_flip(pad={pad}, flip={flip})"
    augment.__qualname__ = augment.__name__
    return augment


# --------------------------------------------------------------------------
# Checking what fit and evaluate are given
# --------------------------------------------------------------------------


def _split(data: Any) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    """``data`` as (x_train, y_train, x_test, y_test): a Dataset, a 4-tuple, or a 2-tuple (no test set)."""
    if hasattr(data, "x_train"):
        return data.x_train, data.y_train, getattr(data, "x_test", None), getattr(data, "y_test", None)
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        return tuple(data) + (None, None) * (len(data) == 2)  # type: ignore[return-value]
    raise TypeError(
        "fit(data=...): data must be a classicnets Dataset (see load_fashion_mnist), or a tuple "
        f"(x_train, y_train, x_test, y_test) or (x_train, y_train); got {type(data).__name__}"
    )


def _check_count(where: str, name: str, value: Any, smallest: int, example: str) -> None:
    """``value`` must be an int (not a bool) >= ``smallest``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
        raise ValueError(f"{where}({name}={value!r}): {name} must be an integer >= {smallest}, e.g. {name}={example}")


def _check_xy(where: str, x: Any, y: Any, names: tuple[str, str]) -> None:
    """Images and labels: tensors of equal length, finite images, 1-D integer labels."""
    nx, ny = names
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"{where}: {nx} and {ny} must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.dim() < 2:
        raise ValueError(
            f"{where}: {nx} must have a batch dimension first, e.g. (N, C, H, W); got shape {tuple(x.shape)}"
        )
    if len(x) != len(y):
        raise ValueError(f"{where}: {nx} has {len(x)} images but {ny} has {len(y)} labels; give one label per image")
    if y.dim() == 2 and y.shape[1] > 1:
        raise ValueError(f"{where}: {ny} looks one-hot (shape {tuple(y.shape)}); give class indices: {ny}.argmax(1)")
    if y.dim() != 1 or y.dtype == torch.bool or y.dtype.is_floating_point or y.dtype.is_complex:
        raise ValueError(
            f"{where}: {ny} must be a 1-D tensor of integer class indices (dtype int64), "
            f"got shape {tuple(y.shape)} and dtype {y.dtype}; e.g. {ny}.long()"
        )
    if x.dtype.is_floating_point and len(x) and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).flatten(1).any(1).sum())
        raise ValueError(
            f"{where}: {nx} holds NaN or infinite values in {bad} of {len(x)} images; "
            f"drop or repair them first (torch.isfinite({nx}) finds them)"
        )


def _nhwc_refusal(model: nn.Module, x: torch.Tensor) -> Optional[str]:
    """Why the model cannot take channels-last (NHWC) batches, or ``None`` when it can: one image forward in
    eval mode without grad, in NHWC and then (if that failed) in NCHW. A model that fails in NCHW too is left
    to the data checks to explain. The model is returned to its layout and mode."""
    was_training = model.training
    model.eval()
    one = x[:1]
    try:
        with torch.no_grad():
            try:
                model.to(memory_format=torch.channels_last)(one.contiguous(memory_format=torch.channels_last))
                return None
            except RuntimeError as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            try:
                model.to(memory_format=torch.contiguous_format)(one.contiguous())
            except Exception:
                return None  # not a layout problem: _output_width names it
            return first
    finally:
        model.to(memory_format=torch.contiguous_format)
        model.train(was_training)


def _resolve_channels_last(channels_last: Optional[bool], model: nn.Module, x: torch.Tensor) -> bool:
    """``None`` (the default): channels-last for image batches when the model takes them, else NCHW, said once."""
    if channels_last is not None:
        return bool(channels_last)
    if x.dim() != 4:
        return False
    why = _nhwc_refusal(model, x)
    if why is None:
        return True
    _warn(
        f"fit: {type(model).__name__} fails on channels-last (NHWC) batches ({why}): training in the default "
        "layout, NCHW, which is slower. A flatten written as x.view(N, -1) is the usual cause: torch.flatten(x, 1) "
        "or x.reshape works in both layouts. channels_last=False silences this message."
    )
    return False


def _output_width(model: nn.Module, x: torch.Tensor, device: torch.device) -> int:
    """The number of classes the model predicts: the width of its logits for one image (eval mode, no grad)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:1].to(device))
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"the model must return a tensor of logits (N, classes); it returned {type(out).__name__} "
            "(does its forward end with `return`?)"
        )
    if out.dim() != 2:
        raise ValueError(f"the model must return logits of shape (N, classes); it returned shape {tuple(out.shape)}")
    return int(out.shape[1])


def _check_labels(where: str, y: torch.Tensor, classes: int, name: str) -> None:
    if len(y) == 0:
        return
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= classes:
        raise ValueError(
            f"{where}: {name} holds labels from {lo} to {hi}, but the model has {classes} outputs "
            f"(classes 0..{classes - 1}); build it with num_classes={hi + 1} or fix the labels"
        )


def _check_fit_args(epochs: Any, batch_size: Any, eval_batch_size: Any, max_train: Any) -> None:
    _check_count("fit", "epochs", epochs, 0, "5")
    _check_count("fit", "batch_size", batch_size, 1, "256")
    _check_count("fit", "eval_batch_size", eval_batch_size, 1, "1024")
    if max_train is not None:
        _check_count("fit", "max_train", max_train, 1, "1000 (or None for all)")


# --------------------------------------------------------------------------
# Training: the pieces
# --------------------------------------------------------------------------


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


@dataclass
class _Run:
    """What every training step needs, fixed for the whole of one ``fit``."""

    model: nn.Module
    opt: torch.optim.Optimizer
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    batch_size: int
    augment: Optional[Augment]
    amp: _Amp
    sched: Optional[Any]
    gen: torch.Generator
    device: torch.device
    memory_format: torch.memory_format


def epoch_steps(
    run: _Run, x: torch.Tensor, y: torch.Tensor
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One pass over the training set, one optimisation step per mini-batch: the heart of ``fit``.

    Yields ``(loss, logits, labels)`` after each step so the caller can keep its
    running sums, progress bar and callback out of the loop.
    """
    model, opt = run.model, run.opt
    model.train()
    order = torch.randperm(len(x), generator=run.gen).to(x.device)  # shuffle
    for start in range(0, len(x), run.batch_size):  # mini-batches
        idx = order[start : start + run.batch_size]
        xb, yb = x[idx], y[idx]
        if run.augment is not None:
            xb = run.augment(xb)
        with run.amp.autocast():  # mixed precision, when asked for
            logits = model(xb)  # forward
            loss = run.loss_fn(logits, yb)  # cross-entropy by default
        opt.zero_grad(set_to_none=True)
        run.amp.backward_and_step(loss, opt)  # loss.backward(); opt.step()
        if run.sched is not None:
            run.sched.step()  # the learning-rate schedule moves once per step
        yield loss.detach(), logits.detach(), yb


def _progress_bar(progress: bool, total: int, epoch: int, epochs: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not progress, leave=False)


@dataclass
class _Tally:
    """Running sums of one epoch, kept on the device (reading them syncs it)."""

    loss: torch.Tensor
    correct: torch.Tensor
    seen: int = 0
    first_bad: Optional[torch.Tensor] = None  # step of the first non-finite loss, 0 while none

    @classmethod
    def zeros(cls, device: torch.device) -> "_Tally":
        z = torch.zeros((), dtype=torch.int64, device=device)
        return cls(torch.zeros((), dtype=torch.float32, device=device), z.clone(), 0, z.clone())

    def add(self, step: int, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.loss += loss.float() * len(y)
        self.correct += (logits.argmax(1) == y).sum()
        self.seen += len(y)
        bad = ~torch.isfinite(loss)
        self.first_bad = torch.where(bad & (self.first_bad == 0), step, self.first_bad)

    def check_finite(self, lr: float) -> None:
        step = int(self.first_bad.item()) if self.first_bad is not None else 0
        if step:
            raise FloatingPointError(
                f"fit: the training loss became NaN or infinite at step {step} (learning rate {lr:g}); the weights "
                "are now unusable. Lower lr=, or check the inputs and loss_fn, and train from fresh weights"
            )


def _train_epoch(
    run: _Run,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epoch: int,
    epochs: int,
    first_step: int,
    progress: bool,
    on_step: Optional[StepCallback],
) -> tuple[EpochRecord, Optional[int]]:
    """One epoch of :func:`epoch_steps` with its bookkeeping; returns its record and the step at which
    ``on_step`` asked to stop (``None``: it did not)."""
    n, dev = len(x), run.device
    steps = math.ceil(n / run.batch_size)
    # reading the running sums forces a device sync: on an accelerator do it ~10x per epoch only
    every = 1 if dev.type == "cpu" else max(1, steps // 10)
    tally, stop = _Tally.zeros(dev), None
    lr = next_lr = run.opt.param_groups[0]["lr"]
    sync(dev)
    start = time.perf_counter()
    with _progress_bar(progress, steps, epoch, epochs) as bar:
        for i, (loss, logits, yb) in enumerate(epoch_steps(run, x, y), 1):
            lr, next_lr = next_lr, run.opt.param_groups[0]["lr"]  # the rate this step used; the schedule moved it
            tally.add(first_step + i, loss, logits, yb)
            if i % every == 0 or i == steps:
                tally.check_finite(lr)
            bar.update(1)
            if progress and (i % every == 0 or i == steps):
                bar.set_postfix(
                    loss=f"{tally.loss.item() / tally.seen:.4f}",
                    acc=f"{tally.correct.item() / tally.seen:.4f}",
                    refresh=False,
                )
            if on_step is not None and on_step(first_step + i, loss, logits, yb):
                stop = first_step + i
                break
    tally.check_finite(lr)
    seconds = time.perf_counter() - start
    record = EpochRecord(
        epoch=epoch,
        train_loss=tally.loss.item() / tally.seen,
        train_acc=tally.correct.item() / tally.seen,
        test_acc=None,
        seconds=seconds,
        images_per_s=tally.seen / seconds if seconds > 0 else float("inf"),
        lr=float(lr),
    )
    return record, stop


def _test_pass(run: _Run, record: EpochRecord, x_test: torch.Tensor, y_test: torch.Tensor, batch_size: int) -> None:
    """Test accuracy after an epoch, timed apart from training."""
    sync(run.device)
    start = time.perf_counter()
    run.model.eval()
    correct = _count_correct(run.model, x_test, y_test, batch_size, run.device, run.memory_format)
    record.test_acc = correct / len(y_test)
    sync(run.device)
    record.eval_seconds = time.perf_counter() - start


def _report(record: EpochRecord, epochs: int) -> None:
    from tqdm.auto import tqdm

    test = f", test acc {record.test_acc:.4f}" if record.test_acc is not None else ""
    tqdm.write(
        f"epoch {record.epoch}/{epochs}: loss {record.train_loss:.4f}, train acc {record.train_acc:.4f}{test}"
        f" ({record.seconds:.2f} s, {record.images_per_s:,.0f} images/s)"
    )


def _meta(
    model: nn.Module,
    device: torch.device,
    n_train: int,
    x_test: Optional[torch.Tensor],
    epochs: int,
    batch_size: int,
    opt: torch.optim.Optimizer,
    optimizer: OptimizerArg,
    seed: int,
    augment: Optional[Augment],
    amp: bool,
    channels_last: bool,
    schedule: Optional[str],
) -> dict[str, Any]:
    """A record of what was run, stored with the history."""
    name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", type(opt).__name__)
    return {
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(device),
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__,
        "n_train": n_train,
        "n_test": None if x_test is None else len(x_test),
        "epochs": epochs,
        "batch_size": batch_size,
        "optimizer": name,
        "lr": opt.param_groups[0]["lr"],
        "weight_decay": opt.param_groups[0].get("weight_decay", 0.0),
        "schedule": schedule,
        "seed": seed,
        "augment": None if augment is None else getattr(augment, "__name__", repr(augment)),
        "amp": amp,
        "channels_last": channels_last,
    }


def _prepare_data(
    data: Any, model: nn.Module, dev: torch.device, max_train: Optional[int], check_labels: bool
) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    """Check the data (one clear message per problem, before any training) and move it to ``dev`` once."""
    x_train, y_train, x_test, y_test = _split(data)
    _check_xy("fit", x_train, y_train, ("x_train", "y_train"))
    if x_test is not None or y_test is not None:
        _check_xy("fit", x_test, y_test, ("x_test", "y_test"))
    if max_train is not None:
        x_train, y_train = x_train[:max_train], y_train[:max_train]
    if len(x_train) == 0:
        raise ValueError("fit: the training set is empty; give at least one image")
    x_train, y_train = x_train.to(dev), y_train.to(dev)
    if x_test is not None and y_test is not None:
        x_test, y_test = x_test.to(dev), y_test.to(dev)
    if check_labels:
        classes = _output_width(model, x_train, dev)
        _check_labels("fit", y_train, classes, "y_train")
        if y_test is not None:
            _check_labels("fit", y_test, classes, "y_test")
    return x_train, y_train, x_test, y_test


# --------------------------------------------------------------------------
# Training: fit
# --------------------------------------------------------------------------


def fit(
    model: nn.Module,
    data: Any,
    *,
    epochs: int = 5,
    batch_size: int = 256,
    lr: Optional[float] = None,
    optimizer: OptimizerArg = "adam",
    weight_decay: float = 0.0,
    seed: int = 0,
    device: DeviceLike = None,
    augment: Optional[Augment] = None,
    progress: bool = True,
    eval_batch_size: int = 1024,
    max_train: Optional[int] = None,
    loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
    channels_last: Optional[bool] = None,
    amp: bool = False,
    schedule: Optional[str] = None,
    on_step: Optional[StepCallback] = None,
) -> History:
    """Train ``model`` on ``data`` and return its :class:`History`.

    The loop is :func:`epoch_steps` (shuffle, mini-batches, forward, loss,
    ``zero_grad``, ``backward``, ``step``) plus a learning-rate schedule, a
    progress bar, a test pass after every epoch, a history and seeding.

    ``data``: a :class:`classicnets.data.Dataset`, ``(x_train, y_train, x_test, y_test)`` or
    ``(x_train, y_train)`` (then ``test_acc`` is ``None``); labels are 1-D integer class indices.
    ``epochs`` (>= 0), ``batch_size`` (>= 1; the last batch may be smaller), ``max_train``
    (train on the first that many images). ``lr``: ``None`` means 1e-3 for ``"adam"``/``"adamw"``,
    0.1 for ``"sgd"`` (momentum 0.9), the optimizer's own default for a callable
    ``f(params, **kw) -> Optimizer``, which gets ``lr=``/``weight_decay=`` only when set.
    ``seed`` seeds torch (dropout, augmentation) and the shuffling: the same seed and starting
    weights give the same history on a CPU. ``device``: :func:`pick_device` by default.
    ``augment(batch)`` runs on each training batch on the device (e.g. :func:`random_crop_flip`).
    ``loss_fn(logits, targets)``: cross-entropy by default. ``channels_last``: the NHWC memory
    format, the faster one for convolutions on a CPU (``benchmarks/train_lenet5.py`` and
    ``benchmarks/fit_vs_d2l.py`` measure it). ``None`` (the default) uses it for image batches
    whenever the model takes NHWC tensors, tried on one image before training; a model that
    cannot (one that flattens with ``.view``, as the blog post's LeNet5 does) trains in NCHW,
    and ``fit`` says so once. ``True``/``False`` force the choice. ``amp``: float16 with loss
    scaling on CUDA, bfloat16 on CPU. ``schedule``: ``None`` (constant), ``"cosine"`` (down to 0
    over the run) or ``"onecycle"`` (warm up to ``lr``, then anneal).

    ``on_step(step, loss, logits, labels)`` is called after every optimisation step (``step``
    counts from 1 over the whole run; the tensors are detached and stay on the device, so reading
    them syncs an accelerator); returning ``True`` stops training after that step, and the
    history's last record covers the images seen so far (``meta["stopped_at_step"]``).

    Bad arguments or data (counts, mismatched lengths, labels outside the model's outputs, one-hot
    or float labels, NaN/inf images) raise one ``ValueError`` or ``TypeError`` before training;
    a NaN/inf loss raises ``FloatingPointError`` naming its step. An interrupt (Ctrl-C, Jupyter's
    stop button) ends training and returns the finished epochs, with ``meta["interrupted"] = True``.
    The model is left in eval mode; ``seconds`` per epoch exclude the test pass (``eval_seconds``).
    """
    _check_fit_args(epochs, batch_size, eval_batch_size, max_train)
    dev = pick_device(device)
    if dev.type == "cpu":
        _tune_cpu()
    model.to(dev)
    x_train, y_train, x_test, y_test = _prepare_data(data, model, dev, max_train, loss_fn is None)
    channels_last = _resolve_channels_last(channels_last, model, x_train)
    if channels_last and x_train.dim() == 4:
        x_train = x_train.contiguous(memory_format=torch.channels_last)
    mem = torch.channels_last if channels_last and x_train.dim() == 4 else torch.contiguous_format
    if mem is torch.channels_last:
        model.to(memory_format=torch.channels_last)
    torch.manual_seed(seed)
    opt = _make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    run = _Run(
        model,
        opt,
        loss_fn or F.cross_entropy,
        batch_size,
        augment,
        _Amp(amp, dev),
        _make_schedule(schedule, opt, epochs * steps_per_epoch),
        torch.Generator().manual_seed(seed),
        dev,
        mem,
    )
    meta = _meta(
        model,
        dev,
        len(x_train),
        x_test,
        epochs,
        batch_size,
        opt,
        optimizer,
        seed,
        augment,
        amp,
        channels_last,
        schedule,
    )
    history = History(meta=meta)
    try:
        _run_epochs(
            run,
            history,
            x_train,
            y_train,
            x_test,
            y_test,
            epochs=epochs,
            progress=progress,
            eval_batch_size=eval_batch_size,
            on_step=on_step,
        )
    except KeyboardInterrupt:
        history.meta["interrupted"] = True
        _warn(f"fit: interrupted; returning the history of the {len(history)} finished epoch(s)")
    model.eval()  # left ready for inference
    return history


def _run_epochs(
    run: _Run,
    history: History,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: Optional[torch.Tensor],
    y_test: Optional[torch.Tensor],
    *,
    epochs: int,
    progress: bool,
    eval_batch_size: int,
    on_step: Optional[StepCallback],
) -> None:
    """Epochs, each followed by a test pass, appended to ``history`` as they finish."""
    steps_per_epoch = math.ceil(len(x_train) / run.batch_size)
    for epoch in range(1, epochs + 1):
        record, stop = _train_epoch(
            run,
            x_train,
            y_train,
            epoch=epoch,
            epochs=epochs,
            progress=progress,
            first_step=(epoch - 1) * steps_per_epoch,
            on_step=on_step,
        )
        if x_test is not None and y_test is not None and len(y_test):
            _test_pass(run, record, x_test, y_test, eval_batch_size)
        history.records.append(record)
        if progress:
            _report(record, epochs)
        if stop is not None:
            history.meta["stopped_at_step"] = stop
            break


def _warn(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)
