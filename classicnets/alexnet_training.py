"""Training AlexNet on Fashion-MNIST (chapter 06), on a GPU or, briefly, on a CPU.

One function, :func:`train_alexnet_fashion`, is used both by the chapter and
by ``benchmarks/train_alexnet_gpu.py`` (which writes the GPU record the
chapter shows). It trains ``classicnets.alexnet("blog", num_classes=10,
in_channels=1, input_size=...)`` — the network of chapter 04 with a one-channel
input, ten outputs and the flatten size derived for the input — with
:func:`classicnets.fit`.

The recipe (:data:`GPU_RECIPE`, trained by :func:`recipe_model` and
:func:`recipe_fit`, short enough to read on the page): images resized once to
224×224 on the device (bilinear), as in d2l's AlexNet chapter; the stem then
gives 54×54 maps, the last 5×5, and fc1 reads 6,400 values (the derived
flatten size; 227 would give the paper's 55×55 and 9,216). Adam with a peak
learning rate of 2e-4 and a cosine decay to 0, batch 256, dropout 0.5 before
fc1 and fc2 (the blog's placement; the 2012 paper, §4.2, zeroes the outputs
of fc1 and fc2, i.e. before fc2 and fc3), He-normal initial weights with a
zero output layer (:func:`classicnets.ablations.init_weights`). On a GPU:
float16 autocast with loss scaling, channels-last convolutions, cuDNN
autotuning.

Not the paper's: its SGD (momentum 0.9, weight decay 5e-4, learning rate
0.01 divided by 10 by hand on plateaus) from N(0, 0.01) weights. That SGD at
0.01 does not get going from these initial weights in a short run is an
expectation from informal trials, not a measurement the book shows (chapter
06's exercise 2 runs it). Nor: PCA colour noise, ten-crop testing, two GPUs.
No BatchNorm either: it is not AlexNet.

:data:`CPU_RECIPE` is the same code made small enough for a laptop or CI: 67×67
inputs (the smallest the network accepts: the last pooling needs a 3×3 map),
a few thousand images, one epoch.

Records: :meth:`AlexNetRun.save` writes a ``training`` record (:mod:`classicnets.records`, which also reads,
tabulates and plots them; the committed ones are ``records.ALEXNET_GPU_RECORD`` and ``records.ALEXNET_CPU_RECORD``).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from . import records
from .records import environment

RECORD_SCHEMA = "classicnets.alexnet_fashion/1"  # the flat form of to_record; saved in the "training" envelope


@dataclass(frozen=True)
class AlexNetRecipe:
    """Everything that defines a run (stored in the record's ``config``)."""

    input_size: int = 224
    epochs: int = 10
    batch_size: int = 256
    optimizer: str = "adam"  # or "adamw", "sgd" (fit's SGD has momentum 0.9)
    lr: float = 2e-4  # the peak, with the cosine schedule
    weight_decay: float = 0.0
    schedule: Optional[str] = "cosine"
    dropout: float = 0.5
    init: str = "he"  # "he" (He-normal, zero output layer) or "pytorch" (PyTorch's default)
    augment_pad: int = 0  # random shifts of up to this many pixels (0: none)
    flip: bool = False  # random left-right flips (with augment_pad > 0 or alone)
    n_train: Optional[int] = None  # None: all 60,000
    n_test: Optional[int] = None  # None: all 10,000
    seed: int = 0
    amp: Optional[bool] = None  # None: on for CUDA, off elsewhere
    channels_last: Optional[bool] = None  # None: on for CUDA, off elsewhere
    threads: Optional[int] = (
        None  # CPU threads (None: fit's choice; 1 was several times faster on a busy 2-core machine)
    )

    def resolved(self, device_type: str) -> "AlexNetRecipe":
        gpu = device_type == "cuda"
        return replace(
            self,
            amp=gpu if self.amp is None else self.amp,
            channels_last=gpu if self.channels_last is None else self.channels_last,
        )

    def describe(self) -> str:
        data = f"{self.n_train or 60000:,} training images"
        aug = []
        if self.augment_pad:
            aug.append(f"shifts ±{self.augment_pad} px")
        if self.flip:
            aug.append("flips")
        return (
            f"AlexNet at {self.input_size}×{self.input_size}, {data} × {self.epochs} epoch(s), batch "
            f"{self.batch_size}, {self.optimizer} lr {self.lr:g} ({self.schedule or 'constant'}), weight "
            f"decay {self.weight_decay:g}, dropout {self.dropout:g}"
            + (f", augmentation: {' + '.join(aug)}" if aug else ", no augmentation")
        )


#: The full run for one GPU (the record).
GPU_RECIPE = AlexNetRecipe()
#: The same code, small enough for a 2-core CPU: well under a minute.
CPU_RECIPE = AlexNetRecipe(input_size=67, epochs=1, batch_size=32, n_train=3000, n_test=1000, threads=1)


@dataclass
class AlexNetRun:
    """The result of :func:`train_alexnet_fashion`."""

    recipe: AlexNetRecipe
    history: Any  # classicnets.train.History
    device: str  # what ran it, e.g. "NVIDIA H100 80GB HBM3" or the CPU's name
    device_type: str  # "cuda", "cpu", "mps"
    load_seconds: float  # reading, resizing and moving the data
    wall_seconds: float  # the whole call
    parameters: int
    env: Dict[str, Any] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)
    command: Optional[str] = None  # the command line that made the run (for its record)

    @property
    def test_acc(self) -> float:
        return float(self.history.final.test_acc)

    @property
    def train_seconds(self) -> float:
        """Time spent in training steps, all epochs."""
        return float(sum(r.seconds for r in self.history))

    @property
    def eval_seconds(self) -> float:
        """Time spent in the test passes after each epoch."""
        return float(sum(r.eval_seconds for r in self.history))

    @property
    def seconds(self) -> float:
        """All epochs, training and per-epoch test passes (data loading excluded)."""
        return self.train_seconds + self.eval_seconds

    def summary(self) -> str:
        return (
            f"{self.recipe.describe()} on {self.device}: test accuracy {self.test_acc:.4f}, "
            f"{self.seconds:.1f} s for {len(self.history)} epoch(s) "
            f"({self.train_seconds:.1f} s training + {self.eval_seconds:.1f} s testing; "
            f"data {self.load_seconds:.1f} s)"
        )

    def to_record(self) -> Dict[str, Any]:
        """The JSON-ready record: device, versions, date, config, per-epoch history, results."""
        return {
            "schema": RECORD_SCHEMA,
            "device": self.device,
            "device_type": self.device_type,
            "torch": self.env.get("torch"),
            "cuda": self.env.get("cuda"),
            "date": self.env.get("date"),
            "config": asdict(self.recipe),
            "history": self.history.as_dicts(),
            "test_acc": self.test_acc,
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "load_seconds": self.load_seconds,
            "wall_seconds": self.wall_seconds,
            "parameters": self.parameters,
            "targets": {"test_acc": records.TARGET_TEST_ACC, "seconds": records.TARGET_SECONDS},
            "meets_targets": {
                "test_acc": self.test_acc >= records.TARGET_TEST_ACC,
                "seconds": self.seconds <= records.TARGET_SECONDS,
            },
            "env": self.env,
            "command": self.command or records.ALEXNET_GPU_COMMAND,
        }

    def save(self, path: Union[str, os.PathLike, None] = None) -> Path:
        """Write :meth:`to_record` as a ``training`` record (default :data:`classicnets.records.ALEXNET_GPU_RECORD`)."""
        flat = self.to_record()
        env, command, date = flat.pop("env"), flat.pop("command"), flat.pop("date")
        flat.pop("schema")
        return records.Record("training", flat, env, command, date).save(path or records.ALEXNET_GPU_RECORD)


def recipe_model(r: AlexNetRecipe) -> Any:
    """AlexNet (``blog``) for one-channel, ten-class images of ``r.input_size``, with the recipe's initial weights."""
    import torch

    from .ablations import init_weights
    from .models import alexnet

    torch.manual_seed(r.seed)
    model = alexnet("blog", num_classes=10, in_channels=1, input_size=r.input_size, dropout=r.dropout)
    if r.init == "he":
        torch.manual_seed(r.seed)
        init_weights(model, "relu")  # He-normal weights, zero biases, a zero output layer
    return model


def recipe_fit(model: Any, data: Any, r: AlexNetRecipe, device: Any, progress: bool = True) -> Any:
    """Train ``model`` with the recipe ``r`` (resolved for the device): :func:`classicnets.fit` with its settings."""
    from .train import fit, random_crop_flip

    augment = random_crop_flip(pad=r.augment_pad, flip=r.flip) if (r.augment_pad or r.flip) else None
    return fit(
        model,
        data,
        epochs=r.epochs,
        batch_size=r.batch_size,
        seed=r.seed,
        device=device,
        progress=progress,
        optimizer=r.optimizer,
        lr=r.lr,
        weight_decay=r.weight_decay,  # Adam at a peak of 2e-4, no decay
        schedule=r.schedule,  # cosine: the learning rate falls to 0 over the run
        augment=augment,  # none in the 10-epoch run (random shifts and flips when asked for)
        amp=bool(r.amp),  # on a GPU: float16 autocast with loss scaling
        channels_last=bool(r.channels_last),  # on a GPU: NHWC convolutions
    )


def _resolve(
    dev: Any,
    recipe: Optional[AlexNetRecipe],
    epochs: Optional[int],
    input_size: Optional[int],
    subset: Union[None, int, Tuple[Optional[int], Optional[int]]],
    overrides: Dict[str, Any],
) -> AlexNetRecipe:
    """The recipe for the device with the caller's changes."""
    base = recipe if recipe is not None else (GPU_RECIPE if dev.type == "cuda" else CPU_RECIPE)
    if epochs is not None:
        overrides["epochs"] = epochs
    if input_size is not None:
        overrides["input_size"] = input_size
    if subset is not None:
        n_train, n_test = (subset, base.n_test) if isinstance(subset, int) else subset
        overrides.update(n_train=n_train, n_test=n_test)
    r = replace(base, **overrides).resolved(dev.type)
    if r.init not in ("he", "pytorch"):
        raise ValueError(f"init must be 'he' or 'pytorch', got {r.init!r}")
    return r


def _load(r: AlexNetRecipe, dev: Any) -> Tuple[Any, float]:
    """The recipe's data, resized on the device, and the seconds that took."""
    import torch

    from .data import load_fashion_mnist

    t0 = time.perf_counter()
    data = load_fashion_mnist(
        resize=r.input_size, pad=0, n_train=r.n_train, n_test=r.n_test, seed=r.seed, device=dev, progress=False
    )
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return data, time.perf_counter() - t0


def train_alexnet_fashion(
    device: Any = None,
    epochs: Optional[int] = None,
    input_size: Optional[int] = None,
    subset: Union[None, int, Tuple[Optional[int], Optional[int]]] = None,
    recipe: Optional[AlexNetRecipe] = None,
    progress: bool = True,
    **overrides: Any,
) -> AlexNetRun:
    """Train AlexNet on Fashion-MNIST (:func:`recipe_model`, :func:`recipe_fit`); return an :class:`AlexNetRun`.

    ``device``: ``"cuda"``, ``"cpu"``… (default: the best available).
    ``recipe``: default :data:`GPU_RECIPE` on CUDA, :data:`CPU_RECIPE`
    elsewhere. ``epochs``, ``input_size``, ``subset`` (``n_train`` or
    ``(n_train, n_test)``, ``None`` keeps the recipe's) and any
    :class:`AlexNetRecipe` field as a keyword override it.
    """
    import torch

    from .train import pick_device

    start = time.perf_counter()
    dev = pick_device(device)
    r = _resolve(dev, recipe, epochs, input_size, subset, overrides)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # pick the fastest convolution algorithms once
        torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 test passes use tensor cores too
        torch.backends.cudnn.allow_tf32 = True
    threads_before = torch.get_num_threads()
    if r.threads and dev.type == "cpu":
        torch.set_num_threads(r.threads)
    try:
        data, load_seconds = _load(r, dev)
        model = recipe_model(r)
        history = recipe_fit(model, data, r, dev, progress=progress)
        env = environment(dev)
    finally:
        torch.set_num_threads(threads_before)
    return AlexNetRun(
        recipe=r,
        history=history,
        device=str(env.get("device_name")),
        device_type=dev.type,
        load_seconds=load_seconds,
        wall_seconds=time.perf_counter() - start,
        parameters=sum(p.numel() for p in model.parameters()),
        env=env,
        model=model,
    )


def test_split(recipe: AlexNetRecipe, device: Any = None) -> Any:
    """The test images of a run (same subset, same resizing) as a :class:`classicnets.data.Dataset`
    with no training images, e.g. for a confusion matrix after :func:`train_alexnet_fashion`."""
    from .data import load_fashion_mnist

    return load_fashion_mnist(
        resize=recipe.input_size,
        pad=0,
        n_train=0,
        n_test=recipe.n_test,
        seed=recipe.seed,
        device=device,
        progress=False,
    )


__all__ = [
    "RECORD_SCHEMA",
    "AlexNetRecipe",
    "GPU_RECIPE",
    "CPU_RECIPE",
    "AlexNetRun",
    "recipe_model",
    "recipe_fit",
    "train_alexnet_fashion",
    "test_split",
]
