"""The LeNet5 and AlexNet code that circulates in blog posts, bugs included.

These classes re-create, in our own words, the shape of the code the book
corrects, so that each chapter can *run* the mistakes and show what they do.
Do not train with them; use :func:`classicnets.lenet5` and
:func:`classicnets.alexnet`.

Each class takes ``fixes``: names of bugs to repair, so a chapter can fix
them one at a time. With every fix applied they match our models' parameter
counts (``BlogLeNet5(fixes=BlogLeNet5.BUGS)`` has the 61,706 parameters of
``lenet5("blog")``).

:class:`BlogLeNet5` bugs (``BlogLeNet5.BUGS``):

* ``"return"`` — ``forward`` computes its output and never returns it, so
  the model returns ``None``;
* ``"fc3"`` — there is no 84→10 layer: the last layer is fc2 (120→84) and
  the softmax runs over 84 "classes";
* ``"logits"`` — softmax inside ``forward``, while training applies
  ``cross_entropy`` (which does its own log-softmax) to that output.

:class:`BlogAlexNet` bugs (``BlogAlexNet.BUGS``):

* ``"dropout"`` — ``F.dropout(x, p=0.5)`` without ``training=self.training``:
  dropout stays on in ``eval()`` mode, so predictions are random;
* ``"logits"`` — softmax inside ``forward``;
* ``"flatten"`` — ``x.view(-1, 6 * 6 * 256)``: the flatten size written by
  hand, right only for 227×227 inputs; another size either fails with a
  reshape error or, worse, silently regroups the batch into a different
  number of rows.

(The blog's AlexNet ``forward`` forgets its ``return`` too; ``BlogAlexNet``
returns, so that its three other bugs can be seen.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BlogLeNet5", "BlogAlexNet", "caught", "softmax_loss_floor"]


def _check_fixes(cls: type, fixes: Iterable[str]) -> frozenset:
    fixes = frozenset(fixes)
    unknown = fixes - set(cls.BUGS)  # type: ignore[attr-defined]
    if unknown:
        raise ValueError(f"{cls.__name__} has no bug(s) {sorted(unknown)}; its bugs are {sorted(cls.BUGS)}")  # type: ignore[attr-defined]
    return fixes


class BlogLeNet5(nn.Module):
    """LeNet5 as the usual blog post writes it, re-created with its three bugs
    (``# BUG`` below). ``fixes`` names the bugs to repair, from :attr:`BUGS`.
    Input: (N, 1, 32, 32)."""

    BUGS: Dict[str, str] = {
        "return": "forward computes the output but never returns it",
        "fc3": "no 84→10 layer: the softmax runs over the 84 outputs of fc2",
        "logits": "softmax in forward, then cross_entropy (a second log-softmax) on it",
    }

    def __init__(self, fixes: Iterable[str] = (), num_classes: int = 10) -> None:
        super().__init__()
        self.fixes = _check_fixes(type(self), fixes)
        self.conv1 = nn.Conv2d(1, 6, 5)  # 32 → 28
        self.pool1 = nn.AvgPool2d(kernel_size=2, stride=2)  # 28 → 14
        self.conv2 = nn.Conv2d(6, 16, 5)  # 14 → 10
        self.pool2 = nn.AvgPool2d(2)  # 10 → 5
        self.fc1 = nn.Linear(16 * 5 * 5, 120)  # 400 by hand: right for 32×32 only
        self.fc2 = nn.Linear(120, 84)  # BUG "fc3": the blog's last layer
        if "fc3" in self.fixes:
            self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Optional[Tensor]:
        x = self.pool1(torch.tanh(self.conv1(x)))
        x = self.pool2(torch.tanh(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)  # hard-coded: right for 32×32 input only
        x = torch.tanh(self.fc1(x))
        x = self.fc2(x)  # BUG "fc3": 84 scores, not one per class
        if "fc3" in self.fixes:
            x = self.fc3(torch.tanh(x))
        if "logits" not in self.fixes:
            x = F.softmax(x, dim=1)  # BUG "logits": then cross_entropy in training
        if "return" in self.fixes:
            return x
        return None  # BUG "return": the blog's forward ends without a return

    def extra_repr(self) -> str:
        left = sorted(set(self.BUGS) - self.fixes)
        return f"bugs={left}"


class BlogAlexNet(nn.Module):
    """AlexNet as the usual blog post writes it (one GPU, no LRN), re-created
    with its three bugs (``# BUG`` below). ``fixes`` names the bugs to repair,
    from :attr:`BUGS`. Input: (N, in_channels, 227, 227)."""

    BUGS: Dict[str, str] = {
        "flatten": "x.view(-1, 6*6*256): flatten size by hand, right for 227×227 only",
        "dropout": "F.dropout without training=self.training: on in eval mode too",
        "logits": "softmax in forward, then cross_entropy (a second log-softmax) on it",
    }

    def __init__(
        self,
        fixes: Iterable[str] = (),
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.fixes = _check_fixes(type(self), fixes)
        self.conv1 = nn.Conv2d(in_channels, 96, kernel_size=11, stride=4)
        self.pool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.conv2 = nn.Conv2d(96, 256, kernel_size=5, padding=2)
        self.pool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.conv3 = nn.Conv2d(256, 384, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, kernel_size=3, padding=1)
        self.conv5 = nn.Conv2d(384, 256, kernel_size=3, padding=1)
        self.pool3 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.fc1 = nn.Linear(6 * 6 * 256, 4096)  # 9,216 by hand: right for 227 only
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = F.relu(self.conv4(x))
        x = self.pool3(F.relu(self.conv5(x)))
        if "flatten" in self.fixes:
            x = torch.flatten(x, 1)  # one row per image: a wrong size fails at fc1
        else:
            x = x.view(-1, 6 * 6 * 256)  # BUG "flatten": regroups the batch if not 6×6
        x = self._dropout(x)
        x = F.relu(self._dropout(self.fc1(x)))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        if "logits" not in self.fixes:
            x = F.softmax(x, dim=1)  # BUG "logits": then cross_entropy in training
        return x  # (the blog forgets this return too; kept so the other bugs show)

    def _dropout(self, x: Tensor) -> Tensor:
        if "dropout" in self.fixes:
            return F.dropout(x, p=0.5, training=self.training)
        return F.dropout(x, p=0.5)  # BUG "dropout": training=True, even in eval()

    def extra_repr(self) -> str:
        left = sorted(set(self.BUGS) - self.fixes)
        return f"bugs={left}"


def caught(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Optional[str]:
    """Run ``fn(*args, **kwargs)``; return ``"ErrorType: first line of the message"``
    if it raises, ``None`` if it does not (for showing a failure in a chapter)."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - showing any failure is the point
        text = str(exc).strip()
        first = text.splitlines()[0] if text else ""
        return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return None


def softmax_loss_floor(num_classes: int) -> float:
    """The lowest cross-entropy a model can reach when its outputs are already
    probabilities (softmax inside ``forward``): log(1 + (K − 1)/e), reached by a
    perfect one-hot output. With logits the floor is 0."""
    if num_classes < 2:
        raise ValueError("need at least 2 classes")
    return math.log(1 + (num_classes - 1) / math.e)
