"""What a training run leaves: one :class:`EpochRecord` per epoch in a :class:`History`, as JSON and as a plot.

``fit`` returns a History; ``History.to_json`` writes it whole (:func:`classicnets.atomic.write_text_atomic`)
and ``from_json`` reads it back; ``plot`` draws loss and accuracy per epoch. Plain data: no torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from .atomic import write_text_atomic  # the one atomic writer for files the package writes


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
