"""What ``fit`` and ``evaluate`` check before they start: one clear message per problem, naming the argument.

The data's shapes, lengths, dtypes and values, the labels against the model's outputs, the counts
(epochs, batch sizes), the model's return value, and whether the model takes channels-last batches
(``fit``'s fast path, with one message when it does not).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn as nn


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


def _warn(text: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(text)
