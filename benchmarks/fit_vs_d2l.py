"""classicnets.fit against d2l's own LeNet pipeline: seconds per epoch and test accuracy, same machine, one run.

    python benchmarks/fit_vs_d2l.py                 # 2 epochs each, batch 128, two rounds (d2l, fit, d2l, fit)
    python benchmarks/fit_vs_d2l.py --epochs 3 --rounds 1

d2l's side is d2l 1.0.3's chapter "Convolutional Neural Networks (LeNet)" as the book runs it:
``d2l.FashionMNIST(batch_size=128)`` (torchvision's dataset, a ``DataLoader`` with d2l's 4 workers),
``d2l.LeNet(lr=0.1)`` with ``apply_init(..., d2l.init_cnn)``, ``d2l.Trainer(max_epochs=E).fit`` —
its ProgressBoard included (what it would draw is sent to an off-screen backend, its printed output
swallowed). It is installed from PyPI with ``--no-deps`` when missing; the Fashion-MNIST files come
from Debian's ``dataset-fashion-mnist`` (gunzipped once into a cache folder that torchvision reads,
so nothing is downloaded).

classicnets' side is ``classicnets.fit(lenet5("blog"), load_fashion_mnist(), epochs=E,
batch_size=128)``: fit's defaults otherwise (Adam 1e-3, channels-last, the test pass after every
epoch), the same batch size as d2l.

Each side's seconds are the wall time of its training call (training plus the test pass of every
epoch; dataset construction excluded on both sides) divided by the epochs; the ratio is d2l's median
over fit's median. The load average is printed first: other work on the machine slows both.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

import classicnets  # noqa: E402
from classicnets.data import FASHION_MNIST, find_dataset_dir, user_cache_dir  # noqa: E402

D2L_VERSION = "1.0.3"
RAW_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def import_d2l():
    """d2l's PyTorch module, installing d2l==1.0.3 (without its pinned dependencies) when it is missing."""
    try:
        return importlib.import_module("d2l.torch")
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"d2l=={D2L_VERSION}"], check=True)
        importlib.invalidate_caches()
        return importlib.import_module("d2l.torch")


def torchvision_root() -> Path:
    """A folder laid out as torchvision's FashionMNIST expects (``<root>/FashionMNIST/raw/*-ubyte``), made once
    from the local .gz files; returns ``<root>``."""
    source = find_dataset_dir(FASHION_MNIST)
    if source is None:
        sys.exit("no local Fashion-MNIST: apt-get install dataset-fashion-mnist (or see classicnets.data)")
    root = user_cache_dir("d2l-data")
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_NAMES:
        if not (raw / name).is_file():
            part = raw / f".{name}.part"
            with gzip.open(source / f"{name}.gz", "rb") as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(part, raw / name)  # whole or absent
    return root


def run_d2l(d2l, root: Path, epochs: int, batch_size: int) -> Dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    cwd = Path.cwd()
    work = root / "cwd"  # d2l reads its data from ../data relative to the working directory
    work.mkdir(exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    if not (root / "data" / "FashionMNIST").exists():
        (root / "data" / "FashionMNIST").symlink_to(root / "FashionMNIST")
    os.chdir(work)
    try:
        torch.manual_seed(0)
        data = d2l.FashionMNIST(batch_size=batch_size)
        model = d2l.LeNet(lr=0.1)
        model.apply_init([next(iter(data.get_dataloader(True)))[0]], d2l.init_cnn)
        trainer = d2l.Trainer(max_epochs=epochs)
        with contextlib.redirect_stdout(io.StringIO()):
            start = time.perf_counter()
            trainer.fit(model, data)
            seconds = time.perf_counter() - start
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for x, y in data.get_dataloader(False):
                correct += int((model(x).argmax(1) == y).sum())
                total += len(y)
    finally:
        os.chdir(cwd)
    return {"s_per_epoch": seconds / epochs, "test_acc": correct / total}


def run_fit(dataset, epochs: int, batch_size: int) -> Dict[str, float]:
    torch.manual_seed(0)
    model = classicnets.lenet5("blog")
    start = time.perf_counter()
    history = classicnets.fit(model, dataset, epochs=epochs, batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - start
    return {"s_per_epoch": seconds / epochs, "test_acc": history.final.test_acc}


def main(argv: List[str] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2, help="alternate d2l and fit this many times")
    args = ap.parse_args(argv)
    d2l = import_d2l()
    root = torchvision_root()
    dataset = classicnets.load_fashion_mnist(progress=False)
    print(
        f"load average {os.getloadavg()[0]:.2f}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"d2l {getattr(importlib.import_module('d2l'), '__version__', '?')}; {args.epochs} epochs, "
        f"batch {args.batch_size}, {args.rounds} rounds"
    )
    runs: Dict[str, List[Dict[str, float]]] = {"d2l": [], "fit": []}
    for r in range(1, args.rounds + 1):
        for name, run in (
            ("d2l", lambda: run_d2l(d2l, root, args.epochs, args.batch_size)),
            ("fit", lambda: run_fit(dataset, args.epochs, args.batch_size)),
        ):
            out = run()
            runs[name].append(out)
            print(f"round {r} {name:3s}: {out['s_per_epoch']:6.2f} s/epoch, test accuracy {out['test_acc']:.4f}")
    med = {k: statistics.median(o["s_per_epoch"] for o in v) for k, v in runs.items()}
    acc = {k: statistics.median(o["test_acc"] for o in v) for k, v in runs.items()}
    print(
        f"d2l LeNet + Trainer: {med['d2l']:.2f} s/epoch (test accuracy {acc['d2l']:.4f}); "
        f"classicnets.fit: {med['fit']:.2f} s/epoch (test accuracy {acc['fit']:.4f}); "
        f"fit is {med['d2l'] / med['fit']:.1f}x faster per epoch after {args.epochs} epochs"
    )


if __name__ == "__main__":
    main()
