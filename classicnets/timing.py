"""Timing PyTorch correctly: clocks, calibrated repetitions, robust statistics, precision flags.

The measurement primitives of :mod:`classicnets.bench` (chapter 07), usable alone::

    from classicnets.timing import CudaEventClock, WallClock, measure
    t = measure(lambda: model(x), CudaEventClock())   # or WallClock() on a CPU
    t.stats.median, t.stats.min, t.reps                 # seconds per call

* :class:`WallClock` (host clock, ``sync`` before start and stop) and
  :class:`CudaEventClock` (CUDA events on the current stream) share one
  interface: ``time(fn, reps)`` returns the seconds of ``reps`` calls;
* :func:`measure` warms up, picks how many calls make one sample last long
  enough for the clock, then takes several samples and summarises them per
  call (:func:`summarize`: median, extremes, quartiles);
* :func:`precision_flags` sets TF32 for matmuls *and* cuDNN convolutions (and
  ``cudnn.benchmark``) and restores them, whichever TF32 API the process uses;
* :func:`pin_malloc` keeps glibc's allocator from turning a CPU timing into a
  measurement of page faults.
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple

import torch

__all__ = ["Stats", "summarize", "WallClock", "CudaEventClock", "Timing", "measure", "precision_flags",
           "tf32_active", "tf32_state", "pin_malloc"]


@dataclass(frozen=True)
class Stats:
    """Summary of repeated measurements (seconds)."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int


def summarize(values: Sequence[float]) -> Stats:
    """Median, extremes and quartiles (inclusive method) of ``values``."""
    if not values:
        raise ValueError("summarize needs at least one value")
    v = sorted(float(x) for x in values)
    q1, q3 = (statistics.quantiles(v, n=4, method="inclusive")[::2] if len(v) > 1 else (v[0], v[0]))
    return Stats(statistics.median(v), v[0], v[-1], q1, q3, len(v))


class WallClock:
    """Host clock: ``sync()`` before start and before stop (CUDA work is asynchronous).

    ``timer`` and ``sync`` are injectable so the statistics can be tested on a fake clock.
    """

    def __init__(self, timer: Callable[[], float] = time.perf_counter, sync: Optional[Callable[[], None]] = None):
        self.timer = timer
        self.sync = sync or (lambda: None)

    def time(self, fn: Callable[[], Any], reps: int) -> float:
        """Seconds for ``reps`` calls of ``fn``."""
        self.sync()
        t0 = self.timer()
        for _ in range(reps):
            fn()
        self.sync()
        return self.timer() - t0


class CudaEventClock:
    """GPU clock: CUDA events recorded on the current stream around the calls.

    The queue is drained first, so the start event fires when the first call's
    work can start; launch gaps (a launch-bound network) therefore count, as
    they do for real throughput.
    """

    def __init__(self, device: Optional[torch.device] = None):
        self.device = device

    def time(self, fn: Callable[[], Any], reps: int) -> float:
        torch.cuda.synchronize(self.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


@dataclass(frozen=True)
class Timing:
    reps: int  # calls per sample
    stats: Stats  # seconds per call
    samples_s: Tuple[float, ...]  # seconds per call, each sample
    calls: int  # every call made by measure (warm-up and calibration included)


def measure(fn: Callable[[], Any], clock: Any, *, warmup: int = 3, min_sample_s: float = 0.05,
            samples: int = 5, max_reps: int = 10_000) -> Timing:
    """Time ``fn``: ``warmup`` calls, then choose reps so a sample lasts ≥ ``min_sample_s``,
    then ``samples`` samples; statistics are per call."""
    calls = 0
    for _ in range(warmup):
        fn()
        calls += 1
    reps = 1
    t = clock.time(fn, reps)
    calls += reps
    while t < min_sample_s and reps < max_reps:
        guess = math.ceil(reps * 1.2 * min_sample_s / max(t, 1e-9))  # proportional, with 20% margin
        reps = min(max_reps, max(2 * reps, min(guess, 100 * reps)))
        t = clock.time(fn, reps)
        calls += reps
    per_call = []
    for _ in range(samples):
        per_call.append(clock.time(fn, reps) / reps)
        calls += reps
    return Timing(reps, summarize(per_call), tuple(per_call), calls)


def _tf32_api() -> str:
    """``"legacy"`` (the ``allow_tf32`` booleans, every torch) unless the process already set TF32
    through torch ≥ 2.9's ``fp32_precision`` strings in a way the booleans cannot read: mixing the
    two APIs raises, so the harness keeps to whichever the process uses."""
    try:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        return "legacy"
    except RuntimeError:
        return "new"


def tf32_state() -> Tuple[Any, ...]:
    """The raw TF32 settings (matmul, cuDNN convolution, …) and ``cudnn.benchmark``, last."""
    b = torch.backends
    if _tf32_api() == "new":
        return ("new", b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision,
                b.cudnn.benchmark)
    return ("legacy", b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, torch.get_float32_matmul_precision(),
            b.cudnn.benchmark)


def tf32_active() -> Tuple[bool, bool]:
    """Whether TF32 is on for (matmuls, cuDNN convolutions)."""
    state = tf32_state()
    return (state[1] == "tf32", state[2] == "tf32") if state[0] == "new" else (bool(state[1]), bool(state[2]))


def _set_tf32(state: Tuple[Any, ...]) -> None:
    b = torch.backends
    if state[0] == "new":
        _, b.cuda.matmul.fp32_precision, b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision, _ = state
    else:
        _, b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, precision, _ = state
        torch.set_float32_matmul_precision(precision)
    b.cudnn.benchmark = state[-1]


@contextlib.contextmanager
def precision_flags(tf32: bool, benchmark: Optional[bool] = None) -> Iterator[None]:
    """Set TF32 for matmuls *and* cuDNN convolutions (and ``cudnn.benchmark``); restore them on exit."""
    saved = tf32_state()
    bench_flag = saved[-1] if benchmark is None else benchmark
    if saved[0] == "new":
        value = "tf32" if tf32 else "ieee"
        _set_tf32(("new", value, value, value, bench_flag))
    else:
        _set_tf32(("legacy", tf32, tf32, "high" if tf32 else "highest", bench_flag))
    try:
        yield
    finally:
        _set_tf32(saved)


def pin_malloc() -> bool:
    """Stop glibc's malloc from returning large freed buffers to the operating system.

    By default glibc serves buffers above an adaptive threshold (128 KiB at first) with fresh
    ``mmap``s and gives freed memory back, so a CPU training step whose activations are a few MB
    may pay page faults (kernel time) on every call, or not, depending on the allocator's history:
    seen here, the same LeNet5 step at batch 256 took 17 or 27 ms in two stretches of one process,
    and a batch-256 step came out slower per image than a batch-64 one. Fixing both thresholds
    (1 GiB) makes CPU timings measure the network, not the allocator. Process-wide and not undone
    (a process then keeps its peak memory); ``False`` where glibc is not the allocator.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    big = 1 << 30
    try:
        return bool(libc.mallopt(m_mmap_threshold, big)) and bool(libc.mallopt(m_trim_threshold, big))
    except AttributeError:
        return False
