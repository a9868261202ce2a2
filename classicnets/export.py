"""Trained LeNet5 weights for the in-browser page (``book/lenet5_inside.ipynb``).

``python -m classicnets.export`` trains ``lenet5("blog")`` and ``lenet5("modern")`` on Fashion-MNIST
(padded to 32×32 and normalised, as chapter 3 does) with a fixed seed, and writes three files:

* ``classicnets/assets/lenet5_weights.json`` — both networks' parameters as little-endian float16,
  base64-encoded, one blob per network, with each tensor's name (the spec's layer names:
  ``conv1.weight`` … ``fc3.bias``) and shape, plus the input preparation (pad, mean, std);
* ``classicnets/assets/lenet5_test_images.json`` — ten test images of each class (the first ten of
  that class in the test set), 28×28 uint8, with their test-set index and label;
* ``classicnets/records/lenet5_weights.json`` — how they were made: command, date, versions,
  training settings, and each network's test accuracy **of the weights as stored** (after float16
  rounding, loaded back into ``lenet5(...)``), with the SHA-256 of both asset files.

Why float16 + base85: the page embeds both networks (2 × 61,706 parameters) and has a budget of about
400 KB. Float32 would be ~494 KB raw; float16 halves that (246,824 bytes) and changes the test accuracy by
at most a few test images (the record keeps both numbers). As text, base85 costs 5 characters per 4
bytes (309 KB) where base64 costs 4 per 3 (329 KB); we use Python's ``base64.b85encode`` with its three
characters that HTML would escape (``<``, ``>``, ``&``) swapped for ``,``, ``.``, ``:``, which the
alphabet does not use, so the JSON sits in a ``<script>`` element unescaped. JavaScript decodes it in a
dozen lines, no library. Images: 100 × 784 uint8 pixels; Fashion-MNIST's background is exactly 0 on
about half the pixels, so each image is stored as runs (a zero-run byte, then literal bytes; see
:func:`encode_image`), base64, about 64 KB in all.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .atomic import write_text_atomic
from .records import Record, environment, load

PACKAGE = Path(__file__).resolve().parent
WEIGHTS_PATH = PACKAGE / "assets" / "lenet5_weights.json"
IMAGES_PATH = PACKAGE / "assets" / "lenet5_test_images.json"
RECORD_PATH = PACKAGE / "records" / "lenet5_weights.json"
VARIANTS = ("blog", "modern")
LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")  # the spec's names of the layers with parameters
WEIGHTS_SCHEMA = "classicnets.lenet5_weights/1"
RECORD_KIND = "lenet5_weights"  # a classicnets.records envelope
COMMAND = "python -m classicnets.export"
SETTINGS = dict(batch_size=128, lr=4e-3, schedule="cosine", seed=0)  # chapter 3's settings
EPOCHS = 6
PAD = 2
IMAGES_PER_CLASS = 10


class WeightsError(ValueError):
    """A weights file that does not fit the network it is loaded into."""


# --------------------------------------------------------------------------- tensors <-> text


def named_layers(model: nn.Module) -> Dict[str, nn.Module]:
    """The modules of ``model`` called conv1, conv2, fc1, fc2, fc3 (wherever they sit in it)."""
    found: Dict[str, nn.Module] = {}
    for path, module in model.named_modules():
        name = path.rsplit(".", 1)[-1]
        if name in LAYERS:
            if name in found:
                raise WeightsError(f"{type(model).__name__} has two modules called {name!r}: cannot tell which to load")
            found[name] = module
    missing = [n for n in LAYERS if n not in found]
    if missing:
        raise WeightsError(
            f"{type(model).__name__} has no module called {', '.join(missing)}: is it a LeNet5 blog/modern?"
        )
    return found


def model_tensors(model: nn.Module) -> List[Tuple[str, torch.Tensor]]:
    """``[("conv1.weight", tensor), ("conv1.bias", tensor), …]`` in the spec's layer order."""
    layers = named_layers(model)
    return [(f"{n}.{p}", getattr(layers[n], p).detach().cpu()) for n in LAYERS for p in ("weight", "bias")]


def encode_network(model: nn.Module) -> Dict[str, Any]:
    """``{"tensors": [{"name", "shape"}…], "data": base64 of float16 little-endian}``."""
    tensors = model_tensors(model)
    blob = b"".join(t.to(torch.float16).numpy().astype("<f2").tobytes() for _, t in tensors)
    return {
        "tensors": [{"name": name, "shape": list(t.shape)} for name, t in tensors],
        "bytes": len(blob),
        "data": b85_text(blob),
    }


_B85_SWAP = str.maketrans("<>&", ",.:")
_B85_BACK = str.maketrans(",.:", "<>&")


def b85_text(blob: bytes) -> str:
    """``base64.b85encode`` (padded to 4 bytes) with ``<>&`` written as ``,.:`` (safe inside HTML)."""
    return base64.b85encode(blob, pad=True).decode("ascii").translate(_B85_SWAP)


def b85_bytes(text: str, size: int) -> bytes:
    """Inverse of :func:`b85_text`: the first ``size`` bytes."""
    return base64.b85decode(text.translate(_B85_BACK))[:size]


def decode_network(entry: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
    """The float32 tensors of one network of the weights file, by name."""
    raw = np.frombuffer(b85_bytes(entry["data"], entry["bytes"]), dtype="<f2")
    out: Dict[str, torch.Tensor] = {}
    start = 0
    for t in entry["tensors"]:
        n = int(np.prod(t["shape"]))
        out[t["name"]] = torch.from_numpy(raw[start : start + n].astype(np.float32).reshape(t["shape"]))
        start += n
    if start != raw.size:
        raise WeightsError(f"the weights blob holds {raw.size} numbers but its tensors list {start}")
    return out


def read_weights(path: Optional[Path] = None) -> Dict[str, Any]:
    """The parsed weights file (default: the one shipped in ``classicnets/assets``)."""
    path = WEIGHTS_PATH if path is None else Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != WEIGHTS_SCHEMA:
        raise WeightsError(f"{path} has schema {data.get('schema')!r}, not {WEIGHTS_SCHEMA!r}: rerun {COMMAND}")
    return data


def load_into(model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy ``tensors`` (named ``conv1.weight`` …) into the matching layers of ``model``."""
    layers = named_layers(model)
    expected = {f"{n}.{p}" for n in LAYERS for p in ("weight", "bias")}
    if set(tensors) != expected:
        raise WeightsError(f"weights name {sorted(tensors)}, expected {sorted(expected)}")
    with torch.no_grad():
        for name, value in tensors.items():
            layer, param = name.split(".")
            target = getattr(layers[layer], param)
            if tuple(target.shape) != tuple(value.shape):
                raise WeightsError(
                    f"{name}: the file holds shape {tuple(value.shape)}, the model has "
                    f"{tuple(target.shape)}: rerun {COMMAND}"
                )
            target.copy_(value)
    return model


def load_lenet5(variant: str = "modern", path: Optional[Path] = None) -> nn.Module:
    """``lenet5(variant)`` with the trained weights of the page, in eval mode."""
    from .models import lenet5

    data = read_weights(path)
    if variant not in data["networks"]:
        raise WeightsError(f"no trained weights for variant {variant!r}: choose one of {', '.join(data['networks'])}")
    return load_into(lenet5(variant), decode_network(data["networks"][variant])).eval()


# --------------------------------------------------------------------------- images


def encode_image(pixels: np.ndarray) -> bytes:
    """Runs of a flat uint8 image: repeated (zeros, count, literal bytes…), each count 0..255."""
    flat = np.asarray(pixels, dtype=np.uint8).ravel().tolist()
    out = bytearray()
    i = 0
    while i < len(flat):
        zeros = 0
        while i < len(flat) and flat[i] == 0 and zeros < 255:
            zeros += 1
            i += 1
        lit = []
        while i < len(flat) and flat[i] != 0 and len(lit) < 255:
            lit.append(flat[i])
            i += 1
        out += bytes([zeros, len(lit)] + lit)
    return bytes(out)


def decode_image(blob: bytes, size: int) -> np.ndarray:
    """Inverse of :func:`encode_image`: ``size`` uint8 pixels."""
    out: List[int] = []
    i = 0
    while i < len(blob):
        zeros, n = blob[i], blob[i + 1]
        out += [0] * zeros + list(blob[i + 2 : i + 2 + n])
        i += 2 + n
    if len(out) != size:
        raise WeightsError(f"an encoded image decodes to {len(out)} pixels, expected {size}")
    return np.array(out, dtype=np.uint8)


def pick_test_images(labels: Sequence[int], per_class: int = IMAGES_PER_CLASS) -> List[int]:
    """Test-set indices: the first ``per_class`` of each class, interleaved class by class."""
    by_class: Dict[int, List[int]] = {}
    for i, y in enumerate(labels):
        if len(by_class.setdefault(int(y), [])) < per_class:
            by_class[int(y)].append(i)
    return [by_class[c][k] for k in range(per_class) for c in sorted(by_class)]


def images_payload(raw_test: np.ndarray, labels: Sequence[int], classes: Sequence[str]) -> Dict[str, Any]:
    """The embedded strip: indices, labels and run-length-encoded pixels."""
    idx = pick_test_images(labels)
    encoded = [encode_image(raw_test[i]) for i in idx]
    return {
        "schema": "classicnets.lenet5_test_images/1",
        "source": "Fashion-MNIST test set (t10k-images-idx3-ubyte), first images of each class",
        "height": int(raw_test.shape[1]),
        "width": int(raw_test.shape[2]),
        "classes": list(classes),
        "index": idx,
        "label": [int(labels[i]) for i in idx],
        "encoding": "runs of (zeros, n, n bytes), base64",
        "data": [base64.b64encode(e).decode("ascii") for e in encoded],
    }


def read_images(path: Optional[Path] = None) -> Dict[str, Any]:
    """The embedded images as ``{"index", "label", "pixels": uint8 (N, 28, 28)}``."""
    data = json.loads((IMAGES_PATH if path is None else Path(path)).read_text(encoding="utf-8"))
    h, w = data["height"], data["width"]
    pixels = np.stack([decode_image(base64.b64decode(d), h * w).reshape(h, w) for d in data["data"]])
    return {**data, "pixels": pixels}


def prepare(pixels: np.ndarray, mean: float, std: float, pad: int = PAD) -> torch.Tensor:
    """uint8 (N, 28, 28) -> (N, 1, 32, 32) as the training data: /255, zero-pad, normalise."""
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 255.0).unsqueeze(1)
    x = nn.functional.pad(x, (pad, pad, pad, pad))
    return (x - mean) / std


# --------------------------------------------------------------------------- the command


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _train_one(variant: str, data: Any, epochs: int, progress: bool) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Train one network with chapter 3's settings: its encoded weights, and its accuracies (float32, as stored)."""
    from .models import lenet5
    from .train import evaluate, fit

    torch.manual_seed(SETTINGS["seed"])
    model = lenet5(variant)
    history = fit(model, data, epochs=epochs, device="cpu", progress=progress, **SETTINGS)
    encoded = encode_network(model)
    stored = load_into(lenet5(variant), decode_network(encoded)).eval()
    result = {
        "epochs": epochs,
        "test_acc_float32": history.final.test_acc,
        "test_acc_stored": evaluate(stored, data.x_test, data.y_test),
        "n_test": len(data.y_test),
        "seconds_per_epoch": round(history.seconds_per_epoch, 2),
    }
    print(
        f"{variant}: test accuracy {result['test_acc_float32']:.4f} (float32), "
        f"{result['test_acc_stored']:.4f} (as stored, float16)"
    )
    return encoded, result


def _write_assets(networks: Dict[str, Any], data: Any, weights_path: Path, images_path: Path) -> None:
    """The weights file and the embedded test images (the first ten of each class, from the raw test set)."""
    from .data import FASHION_MNIST, find_dataset_dir, read_idx

    weights = {
        "schema": WEIGHTS_SCHEMA,
        "dtype": "float16",
        "byte_order": "little",
        "encoding": "base85 (Python's base64.b85encode, padded; '<>&' written as ',.:')",
        "input": {"dataset": "Fashion-MNIST", "size": 28 + 2 * PAD, "pad": PAD, "mean": data.mean, "std": data.std},
        "classes": list(data.classes),
        "networks": networks,
    }
    folder = find_dataset_dir(FASHION_MNIST)
    raw_test = read_idx(folder / FASHION_MNIST.test_images.filename, FASHION_MNIST.test_images, FASHION_MNIST)
    labels = read_idx(folder / FASHION_MNIST.test_labels.filename, FASHION_MNIST.test_labels, FASHION_MNIST)
    write_text_atomic(weights_path, json.dumps(weights, separators=(",", ":")) + "\n")
    images = images_payload(raw_test, labels, data.classes)
    write_text_atomic(images_path, json.dumps(images, separators=(",", ":")) + "\n")


def train_and_export(epochs: int = EPOCHS, out_dir: Optional[Path] = None, progress: bool = True) -> Record:
    """Train both networks, write the three files (weights, images, record), return the record."""
    from .data import load_fashion_mnist

    weights_path, images_path, record_path = WEIGHTS_PATH, IMAGES_PATH, RECORD_PATH
    if out_dir is not None:
        out_dir = Path(out_dir)
        weights_path, images_path, record_path = (out_dir / p.name for p in (WEIGHTS_PATH, IMAGES_PATH, RECORD_PATH))
    data = load_fashion_mnist(pad=PAD, progress=progress)
    networks, results = {}, {}
    for variant in VARIANTS:
        networks[variant], results[variant] = _train_one(variant, data, epochs, progress)
    _write_assets(networks, data, weights_path, images_path)
    command = (
        COMMAND + ("" if epochs == EPOCHS else f" --epochs {epochs}") + ("" if out_dir is None else f" --out {out_dir}")
    )
    shown = (lambda p: f"classicnets/{p.parent.name}/{p.name}") if out_dir is None else str
    payload = {
        "settings": {
            **SETTINGS,
            "epochs": epochs,
            "optimizer": "adam",
            "data": f"load_fashion_mnist(pad={PAD}) (normalised with the training set's mean and std)",
        },
        "networks": results,
        "weights_file": shown(weights_path),
        "weights_sha256": sha256(weights_path),
        "images_file": shown(images_path),
        "images_sha256": sha256(images_path),
    }
    record = Record(RECORD_KIND, payload, environment(torch.device("cpu")), command=command)
    record.save(record_path)
    return record


def read_record(path: Optional[Path] = None) -> Record:
    """The weights' record (validated; :class:`classicnets.records.RecordError` names the file on a fault)."""
    return load(RECORD_PATH if path is None else Path(path), RECORD_KIND)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs per network (default {EPOCHS})")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the three files into this folder instead of classicnets/assets and records",
    )
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    record = train_and_export(args.epochs, args.out)
    print(json.dumps(record.payload["networks"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
