"""Data parallelism with ``DistributedDataParallel`` (DDP): every rank holds the whole network, sees part of the batch.

After each backward pass DDP all-reduces the gradients (averaging them over
the ranks), so every rank takes the same optimizer step — the step one
process would take on the whole batch. :func:`check_ddp` proves that on a
few steps; :func:`train_fashion` runs a short timed Fashion-MNIST training
(the chapter-06 recipe, small) and splits each step into compute and
all-reduce with :func:`timed_allreduce_hook`, which also counts the bytes.
"""

# no "from __future__ import annotations": DDP checks the hook's annotations are the real types
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from .launch import exact_float32, rank_device
from .split import paper_model


@dataclass
class CommStats:
    """What :func:`timed_allreduce_hook` saw: buckets all-reduced, their bytes, seconds spent."""

    calls: int = 0
    bytes: int = 0
    seconds: float = 0.0


def timed_allreduce_hook(state: CommStats, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """A DDP communication hook: average one bucket of gradients over the ranks, timed and counted.

    DDP's default hook starts the all-reduce and lets the backward pass go on
    (they overlap); this one waits for it, so the time it measures is the
    all-reduce alone and the rest of the step is compute.
    """
    grads = bucket.buffer()
    start = time.perf_counter()
    dist.all_reduce(grads.div_(dist.get_world_size()))  # sum over ranks / world = the mean
    if grads.is_cuda:
        torch.cuda.synchronize(grads.device)
    state.seconds += time.perf_counter() - start
    state.bytes += grads.numel() * grads.element_size()
    state.calls += 1
    done: torch.futures.Future[torch.Tensor] = torch.futures.Future()
    done.set_result(grads)
    return done


def check_batch(batch: int, world: int) -> int:
    """Images per rank; a batch must split evenly for DDP's mean to be the whole batch's mean."""
    if batch < world or batch % world:
        raise ValueError(
            f"batch={batch} does not split evenly over {world} ranks: use a multiple of {world} "
            f"(e.g. batch={max(world, batch - batch % world)})"
        )
    return batch // world


def _model(input_size: int, seed: int, dropout: float, device: torch.device, fc_width: Optional[int] = None):
    torch.manual_seed(seed)
    return paper_model(input_size, 10, 1, dropout, fc_width).to(device)


def check_ddp(
    rank: int,
    world: int,
    *,
    steps: int = 3,
    batch: int = 8,
    input_size: int = 67,
    lr: float = 0.01,
    seed: int = 0,
    fc_width: Optional[int] = None,
    device: Any = None,
) -> Dict[str, Any]:
    """``steps`` SGD steps of DDP on this rank's share of each batch against one process on the whole batch.

    Returns the largest relative difference of any weight after the steps
    (the ranks' answers are combined with an all-reduce MAX).
    """
    check_batch(batch, world)
    exact_float32()  # no TF32 on GPUs: the comparison is to float32 tolerance
    dev = rank_device(dist.get_backend(), rank)
    one = _model(input_size, seed, 0.0, dev, fc_width)  # the single process, whole batch
    ddp = DDP(_model(input_size, seed, 0.0, dev, fc_width))  # this rank's share of the batch
    opt_one = torch.optim.SGD(one.parameters(), lr=lr, momentum=0.9)
    opt_ddp = torch.optim.SGD(ddp.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(seed + 1)  # the same batches on every rank
    for _ in range(steps):
        x = torch.randn(batch, 1, input_size, input_size, generator=gen).to(dev)
        y = torch.randint(10, (batch,), generator=gen).to(dev)
        mine = (x.chunk(world)[rank], y.chunk(world)[rank])  # this rank's share of the batch
        for model, opt, (xb, yb) in ((one, opt_one, (x, y)), (ddp, opt_ddp, mine)):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()  # DDP all-reduces the gradients here
            opt.step()
    with torch.no_grad():
        worst = max(
            float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
            for a, b in zip(ddp.module.parameters(), one.parameters())
        )
    worst_all = torch.tensor([worst], device=dev)
    dist.all_reduce(worst_all, op=dist.ReduceOp.MAX)
    n_params = sum(p.numel() for p in one.parameters())
    return {
        "rank": rank,
        "world": world,
        "backend": dist.get_backend(),
        "steps": steps,
        "batch": batch,
        "per_rank": len(mine[1]),
        "params": n_params,
        "max_rel_diff": float(worst_all),
    }


def _fashion(n_train: int, input_size: int, seed: int) -> Any:
    from ..data import load_fashion_mnist

    # resize and pad given explicitly: the chapter-06 input, whatever the loader's defaults become
    return load_fashion_mnist(resize=input_size, pad=0, n_train=n_train, n_test=1, seed=seed, progress=False)


def train_fashion(
    rank: int,
    world: int,
    *,
    steps: int = 20,
    batch: int = 64,
    input_size: int = 67,
    lr: float = 2e-4,
    seed: int = 0,
    fc_width: Optional[int] = None,
    device: Any = None,
) -> Dict[str, Any]:
    """``steps`` Adam steps of AlexNet (``paper``) on Fashion-MNIST, each rank on ``batch / world`` images a step.

    The chapter-06 recipe made small: ``input_size``×``input_size`` inputs,
    He-normal weights with a zero output layer, Adam at ``lr``, dropout 0.5.
    Per step: seconds in all, seconds in the all-reduce (the rest is
    compute), bytes all-reduced, and the loss averaged over the ranks.
    """
    from ..ablations import init_weights
    from .launch import report_progress

    check_batch(batch, world)
    dev = rank_device(dist.get_backend(), rank)
    data = _fashion(steps * batch, input_size, seed).to(dev)
    torch.manual_seed(seed)
    model = DDP(init_weights(_model(input_size, seed, 0.5, dev, fc_width)))
    stats = CommStats()
    model.register_comm_hook(stats, timed_allreduce_hook)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(seed + 1 + rank)  # each rank its own dropout masks
    rows: List[Dict[str, float]] = []
    for step in range(steps):
        sl = slice(step * batch, (step + 1) * batch)
        x, y = data.x_train[sl].chunk(world)[rank], data.y_train[sl].chunk(world)[rank]
        before = asdict(stats)
        start = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()  # the hook all-reduces the gradients, bucket by bucket
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - start
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)  # for the record only, outside the timed step
        rows.append(
            {
                "seconds": seconds,
                "allreduce_seconds": stats.seconds - before["seconds"],
                "bytes": stats.bytes - before["bytes"],
                "loss": float(mean_loss) / world,
            }
        )
        report_progress(step + 1)
    return {
        "rank": rank,
        "world": world,
        "backend": dist.get_backend(),
        "batch": batch,
        "per_rank": len(y),
        "input_size": input_size,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": rows,
    }
