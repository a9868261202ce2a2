"""A small, fast, reproducible training loop over preloaded tensors.

``fit`` moves the data to the device once, shuffles it each epoch with a
seeded ``torch.Generator`` and slices batches out of it: no ``DataLoader``
and no per-sample Python. Loss and accuracy are summed on the device and
read once per epoch, so the loop never waits on ``.item()``.

Defaults: Adam with learning rate 1e-3 (safe for any model), or SGD with
learning rate 0.1 and momentum 0.9; batch size 256; 5 epochs. The learning
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

__all__ = [
    "pick_device",
    "fit",
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

    Asking for a device this machine lacks raises ``RuntimeError`` saying
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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


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
        """The history as JSON text; also written to ``path`` when given."""
        text = json.dumps({"meta": self.meta, "epochs": self.as_dicts()}, indent=2, default=str)
        if path is not None:
            Path(path).write_text(text + "\n")
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
def predict(
    model: nn.Module, x: torch.Tensor, batch_size: int = 1024, *, device: DeviceLike = None
) -> torch.Tensor:
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
def _count_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
                   memory_format: torch.memory_format = torch.contiguous_format) -> int:  # fmt: skip
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
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    if len(y) == 0:
        raise ValueError("cannot evaluate on an empty set")
    dev = torch.device(device) if device is not None else _model_device(model)
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
# Training
# --------------------------------------------------------------------------


def _split(data: Any) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    """``data`` as (x_train, y_train, x_test, y_test): a Dataset, a 4-tuple, or a 2-tuple (no test set)."""
    if hasattr(data, "x_train"):
        return data.x_train, data.y_train, getattr(data, "x_test", None), getattr(data, "y_test", None)
    if isinstance(data, (tuple, list)) and len(data) in (2, 4):
        return tuple(data) + (None, None) * (len(data) == 2)  # type: ignore[return-value]
    raise TypeError(
        "data must be a classicnets Dataset (see load_fashion_mnist), or a tuple "
        "(x_train, y_train, x_test, y_test) or (x_train, y_train)"
    )


def _make_optimizer(optimizer: OptimizerArg, params: Any, lr: Optional[float], weight_decay: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, str):
        name = optimizer.lower()
        if name not in DEFAULT_LR:
            raise ValueError(f"optimizer must be one of {sorted(DEFAULT_LR)} or a callable, got {optimizer!r}")
        lr = DEFAULT_LR[name] if lr is None else lr
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
        if name == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if callable(optimizer):
        kwargs: dict[str, Any] = {}
        if lr is not None:
            kwargs["lr"] = lr
        if weight_decay:
            kwargs["weight_decay"] = weight_decay
        return optimizer(params, **kwargs)
    raise TypeError(f"optimizer must be a name or a callable, got {type(optimizer).__name__}")


def _make_schedule(schedule: Optional[str], opt: torch.optim.Optimizer, total_steps: int) -> Optional[Any]:
    if schedule is None:
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    if schedule == "onecycle":
        peak = opt.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=peak, total_steps=max(total_steps, 1))
    raise ValueError(f"schedule must be None, 'cosine' or 'onecycle', got {schedule!r}")


class _Amp:
    """Mixed precision: float16 + GradScaler on CUDA, bfloat16 on CPU, off elsewhere."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.enabled = enabled and device.type in ("cuda", "cpu")
        self.device_type = device.type
        self.dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if self.enabled and device.type == "cuda" else None

    def autocast(self) -> Any:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            loss.backward()
            opt.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            self.scaler.update()


def _progress_bar(progress: bool, total: int, epoch: int, epochs: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not progress, leave=False)


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
    channels_last: bool = False,
    amp: bool = False,
    schedule: Optional[str] = None,
) -> History:
    """Train ``model`` on ``data`` and return its :class:`History`.

    Parameters
    ----------
    model:
        Any module mapping an image batch to logits. It is moved to ``device``
        and trained in place.
    data:
        A :class:`classicnets.data.Dataset`, or ``(x_train, y_train, x_test, y_test)``,
        or ``(x_train, y_train)`` (then ``test_acc`` is ``None``).
    epochs, batch_size:
        Passes over the training set, and images per step (the last batch may be smaller).
    lr:
        Learning rate; ``None`` means 1e-3 for ``"adam"``/``"adamw"``, 0.1 for ``"sgd"``
        (with momentum 0.9), and the optimizer's own default for a callable.
    optimizer:
        ``"adam"``, ``"adamw"``, ``"sgd"``, or a callable ``f(params, **kw) -> Optimizer``
        (e.g. ``torch.optim.RMSprop``); it gets ``lr=``/``weight_decay=`` only when set.
    weight_decay:
        L2 penalty passed to the optimizer.
    seed:
        Seeds torch (dropout, augmentation) and the shuffling generator: the same
        seed and the same starting weights give the same history on CPU.
    device:
        Defaults to :func:`pick_device` (CUDA, then MPS, then CPU).
    augment:
        Called on each training batch (on the device) before the forward pass,
        e.g. :func:`random_crop_flip`.
    progress:
        Show a tqdm bar per epoch with the running loss and accuracy.
    eval_batch_size:
        Batch size of the test pass run after every epoch.
    max_train:
        Train on only the first ``max_train`` training examples.
    loss_fn:
        ``f(logits, targets) -> scalar``; cross-entropy by default.
    channels_last:
        Use the NHWC memory format (often faster for convolutions on CPU and GPU).
    amp:
        Mixed precision (float16 on CUDA with loss scaling, bfloat16 on CPU).
    schedule:
        ``None`` (constant learning rate), ``"cosine"`` (decay from ``lr`` to 0 over
        the run) or ``"onecycle"`` (warm up to ``lr`` then anneal). LeNet-5 on
        Fashion-MNIST reaches about 87% in 5 epochs with the defaults and about
        88.5% with ``lr=5e-3, schedule="cosine"``.

    The model is left in eval mode. Training time per epoch (``seconds``,
    ``images_per_s``) excludes the test pass, timed apart as ``eval_seconds``.
    """
    dev = pick_device(device)
    if dev.type == "cpu":
        _tune_cpu()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)

    x_train, y_train, x_test, y_test = _split(data)
    if max_train is not None:
        x_train, y_train = x_train[:max_train], y_train[:max_train]
    n = len(x_train)
    if n == 0 or len(y_train) != n:
        raise ValueError(f"need a non-empty training set with one label per image (got {n} images, {len(y_train)} labels)")
    mem = torch.channels_last if channels_last and x_train.dim() == 4 else torch.contiguous_format
    x_train = x_train.to(dev).contiguous(memory_format=mem)
    y_train = y_train.to(dev)
    if x_test is not None and y_test is not None:
        x_test, y_test = x_test.to(dev), y_test.to(dev)

    model.to(dev)
    if mem is torch.channels_last:
        model.to(memory_format=torch.channels_last)
    loss_fn = loss_fn or F.cross_entropy
    opt = _make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    steps_per_epoch = math.ceil(n / batch_size)
    sched = _make_schedule(schedule, opt, epochs * steps_per_epoch)
    precision = _Amp(amp, dev)

    meta = _meta(model, dev, n, x_test, epochs, batch_size, opt, optimizer, seed, augment, amp, channels_last, schedule)
    history = History(meta=meta)
    for epoch in range(1, epochs + 1):
        record = _train_epoch(
            model, x_train, y_train, opt, sched, loss_fn, precision, gen,
            batch_size=batch_size, augment=augment, device=dev, epoch=epoch, epochs=epochs, progress=progress,
        )  # fmt: skip
        if x_test is not None and y_test is not None and len(y_test):
            _sync(dev)
            start = time.perf_counter()
            model.eval()
            record.test_acc = _count_correct(model, x_test, y_test, eval_batch_size, dev, mem) / len(y_test)
            _sync(dev)
            record.eval_seconds = time.perf_counter() - start
        history.records.append(record)
        if progress:
            _report(record, epochs)
    model.eval()  # left ready for inference
    return history


def _train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    sched: Optional[Any],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    precision: _Amp,
    gen: torch.Generator,
    *,
    batch_size: int,
    augment: Optional[Augment],
    device: torch.device,
    epoch: int,
    epochs: int,
    progress: bool,
) -> EpochRecord:
    """One pass over the shuffled training set; loss/accuracy are summed on the device."""
    n = len(x)
    model.train()
    _sync(device)
    start = time.perf_counter()
    order = torch.randperm(n, generator=gen).to(device)
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    steps = math.ceil(n / batch_size)
    # reading the running loss forces a device sync: on an accelerator do it ~10x per epoch only
    every = 1 if device.type == "cpu" else max(1, steps // 10)
    lr = opt.param_groups[0]["lr"]
    with _progress_bar(progress, steps, epoch, epochs) as bar:
        for step, s in enumerate(_batches(n, batch_size), 1):
            idx = order[s]
            xb, yb = x[idx], y[idx]
            if augment is not None:
                xb = augment(xb)
            with precision.autocast():
                logits = model(xb)
                loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            lr = opt.param_groups[0]["lr"]  # the rate this step uses
            precision.step(loss, opt)
            if sched is not None:
                sched.step()
            loss_sum += loss.detach().float() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            bar.update(1)
            if progress and (step % every == 0 or step == steps):
                seen = s.stop
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{correct.item() / seen:.4f}", refresh=False)
    train_loss, train_acc = loss_sum.item() / n, correct.item() / n  # syncs the device
    seconds = time.perf_counter() - start
    return EpochRecord(
        epoch=epoch,
        train_loss=train_loss,
        train_acc=train_acc,
        test_acc=None,
        seconds=seconds,
        images_per_s=n / seconds if seconds > 0 else float("inf"),
        lr=float(lr),  # used by the epoch's last step
    )


def _report(record: EpochRecord, epochs: int) -> None:
    from tqdm.auto import tqdm

    test = f", test acc {record.test_acc:.4f}" if record.test_acc is not None else ""
    tqdm.write(
        f"epoch {record.epoch}/{epochs}: loss {record.train_loss:.4f}, train acc {record.train_acc:.4f}{test}"
        f" ({record.seconds:.2f} s, {record.images_per_s:,.0f} images/s)"
    )


def _meta(model: nn.Module, device: torch.device, n_train: int, x_test: Optional[torch.Tensor], epochs: int,
          batch_size: int, opt: torch.optim.Optimizer, optimizer: OptimizerArg, seed: int, augment: Optional[Augment],
          amp: bool, channels_last: bool, schedule: Optional[str]) -> dict[str, Any]:  # fmt: skip
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
