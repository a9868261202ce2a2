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

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .device_sync import sync
from .fit_checks import (
    _check_count,
    _check_fit_args,
    _check_labels,
    _check_xy,
    _output_width,
    _resolve_channels_last,
    _split,
    _warn,
)
from .history import EpochRecord, History
from .optimizers import DEFAULT_LR, OptimizerArg, _Amp, _make_optimizer, _make_schedule

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
#: ``on_step(step, loss, logits, labels)``; a true return value stops training.
StepCallback = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor], Optional[bool]]


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
