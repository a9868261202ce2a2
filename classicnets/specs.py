"""The one description of each network (plain Python, no torch).

``lenet5_spec`` and ``alexnet_spec`` return :class:`~classicnets.layers.NetSpec`
objects. ``classicnets.lenet5()``/``alexnet()`` build their ``nn.Module`` from
these, and the tables, widgets and the book's explorer read the same objects.
Shape comments give ``(C, H, W)`` after each layer at the default input.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

from .layers import (
    LRN,
    RBF,
    Act,
    ArchitectureError,
    Conv,
    Dropout,
    IntPair,
    Layer,
    Linear,
    NetSpec,
    Pool,
    pair,
    whole,
)

LENET5_VARIANTS = ("blog", "paper", "modern")
ALEXNET_VARIANTS = ("blog", "paper")

# LeNet-5's C3 connection table (LeCun et al. 1998, Table I): output map o of C3
# reads the S2 maps listed in row o. Maps 0-5 read 3 neighbouring maps, 6-11 read
# 4 neighbouring maps, 12-14 read 4 non-neighbouring maps, 15 reads all 6.
C3_TABLE: Tuple[Tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def _check_variant(net: str, variant: str, allowed: Tuple[str, ...]) -> None:
    if variant not in allowed:
        raise ValueError(f"{net} variant {variant!r} is unknown: choose one of {', '.join(map(repr, allowed))}")


def _input(net: str, num_classes: object, in_channels: object, input_size: object) -> Tuple[int, Tuple[int, int, int]]:
    """The checked ``num_classes`` and ``(in_channels, height, width)``: whole numbers ≥ 1, never truncated."""
    n = whole(num_classes, "num_classes", net, example=10)
    c = whole(in_channels, "in_channels", net, example=1)
    h, w = pair(input_size, "input_size", net, example=32)
    for what, v in (("num_classes", n), ("in_channels", c), ("input_size", min(h, w))):
        if v < 1:
            raise ArchitectureError(net, f"{what} must be at least 1, got {v}: use a positive {what}")
    return n, (c, h, w)


def lenet5_spec(
    variant: str = "blog", num_classes: int = 10, in_channels: int = 1, input_size: IntPair = 32
) -> NetSpec:
    """LeNet-5 on 1×32×32 images.

    * ``blog``: the source blog's choices (tanh, average pooling, 6/16 maps,
      120/84 units) with its bugs fixed: an 84→``num_classes`` output layer.
    * ``modern``: the same shape with ReLU and max pooling.
    * ``paper``: LeCun et al. (1998) as published: scaled-tanh squashing,
      trainable subsampling, the partial C3 table, C5 as a 5×5 convolution,
      F6 of 84 units and an RBF output layer with fixed ±1 codes.
    """
    _check_variant("lenet5", variant, LENET5_VARIANTS)
    num_classes, shape = _input("lenet5", num_classes, in_channels, input_size)
    if variant in ("blog", "modern"):
        act, pool = ("tanh", "avg") if variant == "blog" else ("relu", "max")
        features = (
            Conv("conv1", out_channels=6, kernel=5),  # (6, 28, 28)
            Act("act1", act),
            Pool("pool1", op=pool, kernel=2),  # (6, 14, 14)
            Conv("conv2", out_channels=16, kernel=5),  # (16, 10, 10)
            Act("act2", act),
            Pool("pool2", op=pool, kernel=2),  # (16, 5, 5) -> flatten: 400
        )
        classifier = (
            Linear("fc1", out_features=120),  # (120,)
            Act("act3", act),
            Linear("fc2", out_features=84),  # (84,)
            Act("act4", act),
            Linear("fc3", out_features=num_classes),  # (10,) logits
        )
        return NetSpec("LeNet5", variant, shape, features, classifier)
    features = (
        Conv("C1", out_channels=6, kernel=5),  # (6, 28, 28)
        Act("squash1", "scaled_tanh"),
        Pool("S2", op="subsample", kernel=2),  # (6, 14, 14)
        Act("squash2", "scaled_tanh"),
        Conv("C3", out_channels=16, kernel=5, table=C3_TABLE),  # (16, 10, 10)
        Act("squash3", "scaled_tanh"),
        Pool("S4", op="subsample", kernel=2),  # (16, 5, 5)
        Act("squash4", "scaled_tanh"),
        Conv("C5", out_channels=120, kernel=5),  # (120, 1, 1)
        Act("squash5", "scaled_tanh"),
    )
    classifier = (
        Linear("F6", out_features=84),  # (84,)
        Act("squash6", "scaled_tanh"),
        RBF("output", out_features=num_classes),  # (10,) −distances as logits
    )
    return NetSpec("LeNet5", variant, shape, features, classifier)


def alexnet_spec(
    variant: str = "blog",
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: IntPair = 227,
    dropout: float = 0.5,
) -> NetSpec:
    """AlexNet (Krizhevsky, Sutskever & Hinton 2012) on 3×227×227 images.

    * ``blog``: one-GPU AlexNet as the source blog wrote it (96-channel 11×11
      stride-4 stem, overlapping 3×3/2 max pooling, ReLU, dropout before fc1
      and fc2 — torchvision's placement too), without its bugs (dropout as
      modules, logits out).
    * ``paper``: adds local response normalisation after the first two
      convolutions and the two-GPU split as ``groups=2`` on conv2, conv4 and
      conv5 (the layers whose kernels only saw their own GPU's maps), and
      drops the outputs of fc1 and fc2 (§4.2), i.e. dropout before fc2 and fc3.
    """
    _check_variant("alexnet", variant, ALEXNET_VARIANTS)
    num_classes, shape = _input("alexnet", num_classes, in_channels, input_size)
    paper = variant == "paper"
    g = 2 if paper else 1

    def norm(name: str) -> Tuple[Layer, ...]:
        return (LRN(name, size=5, alpha=1e-4, beta=0.75, k=2.0),) if paper else ()

    features = (
        Conv("conv1", out_channels=96, kernel=11, stride=4),  # (96, 55, 55)
        Act("relu1", "relu"),
        *norm("norm1"),
        Pool("pool1", op="max", kernel=3, stride=2),  # (96, 27, 27)
        Conv("conv2", out_channels=256, kernel=5, padding=2, groups=g),  # (256, 27, 27)
        Act("relu2", "relu"),
        *norm("norm2"),
        Pool("pool2", op="max", kernel=3, stride=2),  # (256, 13, 13)
        Conv("conv3", out_channels=384, kernel=3, padding=1),  # (384, 13, 13)
        Act("relu3", "relu"),
        Conv("conv4", out_channels=384, kernel=3, padding=1, groups=g),  # (384, 13, 13)
        Act("relu4", "relu"),
        Conv("conv5", out_channels=256, kernel=3, padding=1, groups=g),  # (256, 13, 13)
        Act("relu5", "relu"),
        Pool("pool3", op="max", kernel=3, stride=2),  # (256, 6, 6) -> flatten: 9216
    )
    if paper:  # §4.2: dropout zeroes the outputs of fc1 and fc2, i.e. before fc2 and fc3
        classifier = (
            Linear("fc1", out_features=4096),  # (4096,)
            Act("relu6", "relu"),
            Dropout("drop1", p=dropout),
            Linear("fc2", out_features=4096),  # (4096,)
            Act("relu7", "relu"),
            Dropout("drop2", p=dropout),
            Linear("fc3", out_features=num_classes),  # (1000,) logits
        )
    else:  # the blog's (and torchvision's) placement: before fc1 and fc2
        classifier = (
            Dropout("drop1", p=dropout),
            Linear("fc1", out_features=4096),  # (4096,)
            Act("relu6", "relu"),
            Dropout("drop2", p=dropout),
            Linear("fc2", out_features=4096),  # (4096,)
            Act("relu7", "relu"),
            Linear("fc3", out_features=num_classes),  # (1000,) logits
        )
    return NetSpec("AlexNet", variant, shape, features, classifier)


SPECS: Dict[str, Callable[..., NetSpec]] = {"lenet5": lenet5_spec, "alexnet": alexnet_spec}


def spec_for(net: str, variant: str = "blog", **kwargs: object) -> NetSpec:
    """``spec_for("alexnet", "paper")``: the description of a network by name."""
    if not isinstance(net, str):
        raise ValueError(f"network must be a name, got {net!r}: choose 'lenet5' or 'alexnet'")
    key = net.lower().replace("-", "").replace("_", "")
    if key not in SPECS:
        raise ValueError(f"unknown network {net!r}: choose 'lenet5' or 'alexnet'")
    return SPECS[key](variant, **kwargs)


def all_specs() -> Dict[str, NetSpec]:
    """Every variant at its default input, keyed ``"lenet5/blog"`` etc."""
    out = {f"lenet5/{v}": lenet5_spec(v) for v in LENET5_VARIANTS}
    out.update({f"alexnet/{v}": alexnet_spec(v) for v in ALEXNET_VARIANTS})
    return out


__all__ = ["C3_TABLE", "LENET5_VARIANTS", "ALEXNET_VARIANTS", "lenet5_spec", "alexnet_spec", "spec_for", "all_specs"]
