"""The 2012 two-GPU AlexNet as two processes: each rank holds half the kernels of every layer.

Krizhevsky, Sutskever & Hinton (2012), §3.2: "the GPUs communicate only in
certain layers" — the kernels of conv3 and of the fully connected layers read
the maps of both GPUs; conv2, conv4 and conv5 read only their own GPU's. One
device shows this as ``groups=2`` (``classicnets.alexnet("paper")``).
:class:`HalfAlexNet` is rank ``r``'s half of such a model, its weights cut
from it, and the ranks exchange maps with ``torch.distributed`` exactly
where a layer reads both halves:

* a convolution with ``groups == world`` reads its own half: no exchange;
* conv1 reads the image, which every rank holds: no exchange;
* any other convolution or linear layer first gathers the other rank's half
  of its input (``all_gather``, differentiable, so the backward pass sends
  the gradients back the same way);
* local response normalisation mixes 5 neighbouring maps: at the cut the
  one-device model's maps 46–49 read across it, so the ranks swap the 2
  border maps each needs (``lrn_border=False`` skips that: each rank then
  normalises only its own maps, and the result no longer equals ``groups=2``);
* the logits (each rank computes half the classes) are gathered at the end.

Every exchange is recorded in :attr:`HalfAlexNet.sent` (bytes this rank sent,
per layer) from the tensors actually sent.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F
from torch import Tensor, nn

from ..cost import _STORED_KINDS
from ..layers import LRN, Conv, Flatten, Linear, NetSpec

# torch 2.x marks this public, differentiable all_gather deprecated in favour of one in a private module
# (torch.distributed._functional_collectives); the book keeps to the public API.
warnings.filterwarnings(
    "ignore", message="torch.distributed.nn.functional.all_gather is deprecated", category=FutureWarning
)

#: Layer kinds whose outputs are kept for the backward pass (as counted by classicnets.cost.stored_values).
KEPT_KINDS = _STORED_KINDS


def gather_halves(x: Tensor, sent: Dict[str, int], name: str) -> Tensor:
    """Every rank's ``x`` concatenated along dim 1 (channels or units), in rank order; counts the bytes sent."""
    parts = dist_fn.all_gather(x)  # differentiable: backward sends the gradients back
    sent[name] += x.numel() * x.element_size() * (len(parts) - 1)
    return torch.cat(parts, dim=1)


def lrn_with_border(x: Tensor, lrn: nn.LocalResponseNorm, sent: Dict[str, int], name: str) -> Tensor:
    """Local response normalisation of this rank's maps, reading ``size // 2`` maps across the cut."""
    rank, world = dist.get_rank(), dist.get_world_size()
    if world != 2:
        raise ValueError(f"{name}: the LRN border exchange is written for 2 ranks, not {world}")
    b = lrn.size // 2
    mine = x[:, -b:] if rank == 0 else x[:, :b]  # the maps the other rank needs from me
    theirs = dist_fn.all_gather(mine)[1 - rank]
    sent[name] += mine.numel() * mine.element_size()
    wide = torch.cat([x, theirs], 1) if rank == 0 else torch.cat([theirs, x], 1)
    y = lrn(wide)
    return y[:, : x.shape[1]] if rank == 0 else y[:, b:]


def _find(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` in the spec (``features.conv3`` or any path ending in ``.conv3``)."""
    hits = [m for path, m in model.named_modules() if path == name or path.endswith("." + name)]
    if len(hits) != 1:
        raise KeyError(f"expected one submodule named {name!r} in {type(model).__name__}, found {len(hits)}")
    return hits[0]


def _shard(full: nn.Module, name: str, rank: int, world: int, in_features: int) -> nn.Module:
    """Rank ``rank``'s share of the output kernels/units of a Conv2d or Linear, weights copied."""
    out = full.weight.shape[0]
    if out % world:
        raise ValueError(
            f"{name}: its {out} outputs do not split evenly over {world} ranks; give it a multiple "
            f"of {world} (e.g. num_classes={out + world - out % world})"
        )
    w = full.weight.detach().chunk(world, 0)[rank]
    if isinstance(full, nn.Conv2d):
        part = nn.Conv2d(
            in_features,
            out // world,
            full.kernel_size,
            full.stride,
            full.padding,
            full.dilation,
            bias=full.bias is not None,
        )
    else:
        part = nn.Linear(in_features, out // world, bias=full.bias is not None)
    with torch.no_grad():
        part.weight.copy_(w)
        if full.bias is not None:
            part.bias.copy_(full.bias.detach().chunk(world, 0)[rank])
    return part


def _plan(spec: NetSpec, world: int) -> List[Tuple[str, str]]:
    """(layer, how) in forward order; how: whole | local | gather | lrn | flatten | plain."""
    plan, first = [], True
    for layer in spec.layers:
        if isinstance(layer, (Conv, Linear)):
            groups = getattr(layer, "groups", 1)
            if groups not in (1, world) or getattr(layer, "table", None) is not None:
                raise ValueError(f"{layer.name}: groups={groups} cannot be split over {world} ranks")
            how = "whole" if first else ("local" if groups == world else "gather")
            first = False
        else:
            how = {LRN: "lrn", Flatten: "flatten"}.get(type(layer), "plain")
        plan.append((layer.name, how))
    return plan


class HalfAlexNet(nn.Module):
    """Rank ``rank``'s half of a ``groups=2`` network (``classicnets.alexnet("paper")``), weights cut from it.

    ``forward`` must run on every rank at once (the exchanges are
    collectives) and returns the full logits on each.
    """

    def __init__(self, full: nn.Module, rank: int, world: int = 2, lrn_border: bool = True) -> None:
        super().__init__()
        if not isinstance(getattr(full, "spec", None), NetSpec):
            raise TypeError(
                f"HalfAlexNet cuts a model built from a spec (classicnets.alexnet('paper', ...)); "
                f"{type(full).__name__} carries no .spec"
            )
        self.spec: NetSpec = full.spec
        self.rank, self.world, self.lrn_border = rank, world, lrn_border
        self.plan = _plan(self.spec, world)
        self.layers = nn.ModuleDict()
        for name, how in self.plan:
            m = _find(full, name) if how != "flatten" else nn.Flatten()
            if how in ("whole", "local", "gather"):
                w_in = m.weight.shape[1]  # per group for a grouped convolution
                m = _shard(m, name, rank, world, w_in)
            self.layers[name] = m
        self.sent: Dict[str, int] = defaultdict(int)  # bytes this rank sent, by layer
        self.kept: Dict[str, int] = {}  # values this rank keeps for the backward pass, by layer (last forward)

    def forward(self, x: Tensor) -> Tensor:
        self.kept = {"input": x.numel()}
        for name, how in self.plan:
            layer = self.layers[name]
            if how == "gather":  # conv3, fc1, fc2, fc3: read both ranks' halves
                mine = x.numel()
                x = gather_halves(x, self.sent, name)
                self.kept[f"{name} input from the other rank"] = x.numel() - mine
            if how == "lrn" and self.lrn_border:
                x = lrn_with_border(x, layer, self.sent, name)
            else:
                x = layer(x)  # conv1 (whole image), conv2/4/5 (own half), pools, ReLUs...
            if type(self.spec.layer(name)).kind in KEPT_KINDS:
                self.kept[name] = x.numel()
        return gather_halves(x, self.sent, "logits")  # each rank computed half the classes


def split_loss(logits: Tensor, y: Tensor, rank: int, world: int) -> Tensor:
    """This rank's part of the batch's mean cross-entropy: it scores its share of the images.

    Every rank holds the same gathered logits; the group's loss is the sum of
    the ranks' losses, so each sums over its own rows and divides by the
    whole batch.
    """
    rows = torch.arange(len(y)).chunk(world)[rank]
    return F.cross_entropy(logits[rows], y[rows], reduction="sum") / len(y)


def paper_model(
    input_size: int = 67,
    num_classes: int = 10,
    in_channels: int = 1,
    dropout: float = 0.0,
    fc_width: Optional[int] = None,
) -> nn.Module:
    """``classicnets.alexnet("paper", ...)``; with ``fc_width``, the same network with fc1 and fc2 that wide
    (built from the edited spec), small enough for quick tests."""
    from ..models import alexnet, build_model
    from ..specs import alexnet_spec

    if fc_width is None:
        return alexnet("paper", num_classes, in_channels, input_size=input_size, dropout=dropout)
    spec = alexnet_spec("paper", num_classes, in_channels, input_size, dropout)
    return build_model(spec.with_layer("fc1", out_features=fc_width).with_layer("fc2", out_features=fc_width))


def _max_rel(a: Tensor, b: Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def check_split(
    rank: int,
    world: int,
    *,
    input_size: int = 67,
    batch: int = 4,
    num_classes: int = 10,
    in_channels: int = 1,
    lrn_border: bool = True,
    seed: int = 0,
    fc_width: Optional[int] = None,
    device: Any = None,
) -> Dict[str, Any]:
    """One forward and backward of :class:`HalfAlexNet` against the one-process ``alexnet("paper")``.

    Every rank builds the same full model (:func:`paper_model`) and the same batch from ``seed``;
    rank ``r`` cuts its half from it. Returns the largest relative
    differences (logits; each layer's weight and bias gradients against the
    same rows of the full model's), the bytes this rank sent per image at
    each exchange, its parameters and the values per image it kept.
    """
    from .launch import exact_float32, rank_device

    exact_float32()  # no TF32 on GPUs: the comparison is to float32 tolerance
    dev = rank_device(dist.get_backend(), rank)  # device="cpu" made run_ranks pick gloo
    torch.manual_seed(seed)
    full = paper_model(input_size, num_classes, in_channels, 0.0, fc_width).to(dev)
    x = torch.randn(batch, in_channels, input_size, input_size, device=dev)
    y = torch.randint(num_classes, (batch,), device=dev)
    half = HalfAlexNet(full, rank, world, lrn_border=lrn_border)
    ref = full(x)
    F.cross_entropy(ref, y).backward()
    out = half(x)
    split_loss(out, y, rank, world).backward()
    grads = {}
    for name, how in half.plan:
        if how in ("whole", "local", "gather"):
            mine, theirs = half.layers[name], _find(full, name)
            grads[name] = max(
                _max_rel(getattr(mine, p).grad, getattr(theirs, p).grad.chunk(world, 0)[rank])
                for p in ("weight", "bias")
            )
    return {
        "rank": rank,
        "world": world,
        "backend": dist.get_backend(),
        "batch": batch,
        "input_shape": [in_channels, input_size, input_size],
        "lrn_border": lrn_border,
        "logits_rel_diff": _max_rel(out.detach(), ref.detach()),
        "grad_rel_diff": grads,
        "sent_bytes_per_image": {k: v / batch for k, v in half.sent.items()},
        "params": sum(p.numel() for p in half.parameters()),
        "kept_values_per_image": {k: v / batch for k, v in half.kept.items()},
    }
