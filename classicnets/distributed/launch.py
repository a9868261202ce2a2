"""Starting a group of processes with ``torch.distributed`` — and making sure it ends.

* :func:`run_ranks` starts ``world`` processes (``torch.multiprocessing``,
  ``spawn``), joins them into one process group on 127.0.0.1 at a free port
  chosen now, runs ``fn(rank, world, **kwargs)`` in each and returns what every
  rank returned. A rank that raises makes :func:`run_ranks` raise
  :class:`RankFailed` with that rank's traceback (the other ranks are stopped);
  a group that runs past ``timeout_s`` is stopped and :class:`TimeoutError` is
  raised. Every rank destroys its process group on the way out.
* :func:`torchrun_main` does the same for a process started by ``torchrun``,
  which sets ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``.

The backend is ``nccl`` when every rank can have a GPU of its own, else
``gloo`` on the CPU (:func:`pick_backend`).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tqdm.auto import tqdm

from ..atomic import write_text_atomic


class RankFailed(RuntimeError):
    """One rank of a group raised; the message carries its traceback."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pick_backend(world: int, device: Optional[str] = None) -> str:
    """``"nccl"`` when ``device`` is ``"cuda"`` (or None) and there are ``world`` GPUs, else ``"gloo"``.

    NCCL needs one GPU per rank; with fewer, the group runs on the CPU with gloo.
    """
    if device == "cuda" and torch.cuda.device_count() < world:
        raise ValueError(
            f"device='cuda' with world={world} needs {world} GPUs, found {torch.cuda.device_count()}: "
            f"use device='cpu' (gloo) or fewer ranks"
        )
    if device in (None, "cuda") and torch.cuda.is_available() and torch.cuda.device_count() >= world:
        return "nccl"
    return "gloo"


def rank_device(backend: str, rank: int) -> torch.device:
    """Where rank ``rank`` computes: its own GPU under nccl, else the CPU."""
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", rank))  # set by torchrun: the GPU index on this machine
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


_PROGRESS = "CLASSICNETS_RANK_PROGRESS"


def report_progress(done: int) -> None:
    """Rank 0 tells :func:`run_ranks` how many steps are done (it draws the progress bar)."""
    path = os.environ.get(_PROGRESS)
    if path and dist.get_rank() == 0:
        write_text_atomic(path, str(done))


def _read_progress(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def exact_float32() -> None:
    """Keep GPU matrix products and convolutions in full float32 (no TF32), for equality checks."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def _worker(
    rank: int,
    fn: Callable[..., Any],
    world: int,
    init_method: str,
    backend: str,
    timeout_s: float,
    out_dir: str,
    threads: int,
    kwargs: Dict[str, Any],
) -> None:
    os.environ[_PROGRESS] = str(Path(out_dir) / "progress")
    torch.set_num_threads(threads)
    dist.init_process_group(
        backend, init_method=init_method, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s)
    )
    try:
        result = fn(rank, world, **kwargs)
        write_text_atomic(Path(out_dir) / f"rank{rank}.json", json.dumps(result))
    except BaseException:
        # when did it fail: a rank that raises first is the cause, the others then lose their peer
        error = {"time": time.time(), "traceback": traceback.format_exc()}
        write_text_atomic(Path(out_dir) / f"rank{rank}.error.json", json.dumps(error))
        raise
    finally:
        dist.destroy_process_group()


def _first_failure(fn_name: str, world: int, out_dir: str, fallback: BaseException) -> RankFailed:
    """The error of the rank that failed first (the others usually fail because it left), naming the rest."""
    errors = {
        r: json.loads(p.read_text()) for r in range(world) if (p := Path(out_dir) / f"rank{r}.error.json").exists()
    }
    if not errors:
        return RankFailed(f"rank {getattr(fallback, 'error_index', '?')} of {world} failed in {fn_name}: {fallback}")
    first = min(errors, key=lambda r: errors[r]["time"])
    others = [f"rank {r}: {e['traceback'].strip().splitlines()[-1]}" for r, e in sorted(errors.items()) if r != first]
    then = "\nafterwards " + "; ".join(others) if others else ""
    return RankFailed(f"rank {first} of {world} failed in {fn_name}:\n{errors[first]['traceback']}{then}")


def run_ranks(
    fn: Callable[..., Any],
    world: int = 2,
    *,
    timeout_s: float = 300.0,
    backend: Optional[str] = None,
    progress_total: Optional[int] = None,
    threads: int = 1,
    **kwargs: Any,
) -> List[Any]:
    """Run ``fn(rank, world, **kwargs)`` in ``world`` new processes joined into one group.

    ``fn`` must be importable (a module-level function) and return something
    JSON can hold. Returns the ranks' results in rank order. With
    ``progress_total``, a progress bar follows rank 0's :func:`report_progress`.
    Each rank computes with ``threads`` CPU threads (default 1: one core per
    rank on a CPU, as one GPU per rank under nccl).
    """
    if world < 1:
        raise ValueError(f"world={world}: a group needs at least 1 process")
    backend = backend or pick_backend(world, kwargs.get("device"))
    init_method = f"tcp://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory(prefix="classicnets-ranks-") as out_dir:
        ctx = mp.start_processes(
            _worker,
            args=(fn, world, init_method, backend, timeout_s, out_dir, threads, kwargs),
            nprocs=world,
            join=False,
            start_method="spawn",
        )
        deadline = time.monotonic() + timeout_s
        bar = tqdm(total=progress_total, desc=f"{fn.__name__} on {world} rank(s)") if progress_total else None
        try:
            while not ctx.join(timeout=0.5):
                if bar is not None:
                    bar.update(_read_progress(Path(out_dir) / "progress") - bar.n)
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{fn.__name__}: the {world} ranks were still running after {timeout_s:g} s "
                        f"and were stopped; give run_ranks a larger timeout_s if the work is big"
                    )
        except (mp.ProcessRaisedException, mp.ProcessExitedException) as e:
            raise _first_failure(fn.__name__, world, out_dir, e) from None
        finally:
            if bar is not None:
                bar.update(_read_progress(Path(out_dir) / "progress") - bar.n)
                bar.close()
            for p in ctx.processes:
                if p.is_alive():
                    p.terminate()
                p.join(5)
        return [json.loads((Path(out_dir) / f"rank{r}.json").read_text()) for r in range(world)]


def hello(
    rank: int, world: int, *, fail_rank: Optional[int] = None, sleep_s: float = 0.0, device: Any = None
) -> Dict[str, Any]:
    """The smallest job: every rank adds ``rank + 1`` into an all-reduce. ``fail_rank`` raises on that rank
    (the others wait in the all-reduce), ``sleep_s`` holds every rank: to see a failure or a timeout end a run."""
    if rank == fail_rank:
        raise RuntimeError(f"rank {rank} failed on purpose (fail_rank={fail_rank})")
    time.sleep(sleep_s)
    total = torch.tensor([rank + 1.0], device=rank_device(dist.get_backend(), rank))
    dist.all_reduce(total)
    return {"rank": rank, "world": world, "backend": dist.get_backend(), "sum": float(total)}


def torchrun_main(fn: Callable[..., Any], out: Optional[str] = None, timeout_s: float = 300.0, **kwargs: Any) -> Any:
    """Run ``fn(rank, world, **kwargs)`` in a process started by ``torchrun``; rank 0 writes ``out`` (JSON)."""
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    backend = pick_backend(world, kwargs.get("device"))
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))  # torchrun sets 1 unless told otherwise
    dist.init_process_group(backend, init_method="env://", timeout=timedelta(seconds=timeout_s))
    try:
        result = fn(rank, world, **kwargs)
        if rank == 0 and out:
            write_text_atomic(out, json.dumps(result))
        return result
    finally:
        dist.destroy_process_group()


__all__ = [
    "RankFailed",
    "exact_float32",
    "free_port",
    "hello",
    "pick_backend",
    "rank_device",
    "report_progress",
    "run_ranks",
    "torchrun_main",
]
