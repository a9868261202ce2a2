"""Time LeNet5 and AlexNet on a GPU (or a CPU), correctly, and check the timer against two that share none of its code.

``python -m classicnets.bench --preset chapter`` (≤ 60 s on a GPU), ``--preset cpu-small`` (≤ 25 s on 2 CPU cores),
``--preset gpu-record --out classicnets/records/`` (the book's record: no case starts after 450 s); ``--help``.

A case is network × task × mode × batch size. ``infer``: one forward pass under ``no_grad`` in ``eval()``;
``train``: ``zero_grad``, forward, cross-entropy, backward, ``SGD(momentum=0.9).step()`` in ``train()``.
Modes: ``fp32`` (TF32 *off* for matmuls **and** cuDNN convolutions), ``tf32``, ``bf16-cl`` (bf16 autocast +
channels_last) and ``bf16-cl-compile`` (the same under ``torch.compile``). The pitfalls avoided:

* CUDA is asynchronous: samples are bracketed by CUDA events (:class:`CudaEventClock`) or, on a CPU, the host clock;
* warm-up first (cuDNN autotuning, allocator growth), its time reported as ``first_call_s``; compilation happens in
  the first call and is reported apart (``compile_s``), each compiled case after ``torch._dynamo.reset()``;
* repetitions per sample are calibrated so a sample lasts ≥ ``min_sample_s``; the median of ``samples`` samples;
* TF32 and ``cudnn.benchmark`` are set per mode and restored (:func:`precision_flags`);
* FLOPs are counted once per case by ``FlopCounterMode`` on the ``meta`` device, outside the timed loop;
  "% of peak" divides by a dense matmul timed the same way, in the same run, at the mode's precision;
* peak memory is ``max_memory_allocated`` after a reset at the start of the case;
* on a CPU, glibc's malloc is pinned first (:func:`pin_malloc`).

The cross-check (:func:`cross_check`) times the same work, built again from the public model API, with
``torch.utils.benchmark.Timer`` and a plain synchronised loop; none of the harness's clocks or ``measure`` is used.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import logging
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from . import records, timing_results
from .atomic import check_writable
from .device_sync import sync
from .models import alexnet, lenet5
from .records import MODE_ORDER, Record
from .timing_results import BenchResult

# --------------------------------------------------------------------------- clocks and measure


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
    q1, q3 = statistics.quantiles(v, n=4, method="inclusive")[::2] if len(v) > 1 else (v[0], v[0])
    return Stats(statistics.median(v), v[0], v[-1], q1, q3, len(v))


class WallClock:
    """Host clock: ``sync()`` before start and before stop. ``timer`` and ``sync`` are injectable (tests use a fake)."""

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
    """GPU clock: CUDA events on the current stream around the calls, after draining the queue (so launch gaps of a
    launch-bound network count, as they do for real throughput)."""

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


def measure(
    fn: Callable[[], Any],
    clock: Any,
    *,
    warmup: int = 3,
    min_sample_s: float = 0.05,
    samples: int = 5,
    max_reps: int = 10_000,
) -> Timing:
    """Time ``fn``: ``warmup`` calls, then reps chosen so a sample lasts ≥ ``min_sample_s``, then ``samples``
    samples; statistics are per call."""
    for _ in range(warmup):
        fn()
    reps, calls = 1, warmup + 1
    t = clock.time(fn, reps)
    while t < min_sample_s and reps < max_reps:
        guess = math.ceil(reps * 1.2 * min_sample_s / max(t, 1e-9))  # proportional, with 20% margin
        reps = min(max_reps, max(2 * reps, min(guess, 100 * reps)))
        t = clock.time(fn, reps)
        calls += reps
    per_call = [clock.time(fn, reps) / reps for _ in range(samples)]
    return Timing(reps, summarize(per_call), tuple(per_call), calls + samples * reps)


def _tf32_api() -> str:
    """``"legacy"`` (the ``allow_tf32`` booleans) unless the process set TF32 through torch ≥ 2.9's ``fp32_precision``
    strings in a way the booleans cannot read: mixing the two raises, so the harness keeps to the process's API."""
    try:
        _ = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)  # raises under the new API
        return "legacy"
    except RuntimeError:
        return "new"


def tf32_state() -> Tuple[Any, ...]:
    """The raw TF32 settings (matmul, cuDNN convolution, …) and ``cudnn.benchmark``, last."""
    b = torch.backends
    if _tf32_api() == "new":
        return (
            "new",
            b.cuda.matmul.fp32_precision,
            b.cudnn.conv.fp32_precision,
            b.cudnn.rnn.fp32_precision,
            b.cudnn.benchmark,
        )
    return (
        "legacy",
        b.cuda.matmul.allow_tf32,
        b.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
        b.cudnn.benchmark,
    )


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
    flag = saved[-1] if benchmark is None else benchmark
    value = "tf32" if tf32 else "ieee"
    _set_tf32(
        ("new", value, value, value, flag)
        if saved[0] == "new"
        else ("legacy", tf32, tf32, "high" if tf32 else "highest", flag)
    )
    try:
        yield
    finally:
        _set_tf32(saved)


def pin_malloc() -> bool:
    """Stop glibc's malloc returning large freed buffers to the operating system.

    By default glibc maps buffers above an adaptive threshold afresh and gives them back, so a CPU step whose
    activations are a few MB may pay page faults on every call, or not, depending on the allocator's history (the same
    LeNet5 step then takes very different times in two stretches of one process). Fixing both thresholds at 1 GiB
    makes CPU timings measure the network. Process-wide, not undone; ``False`` where glibc is not the allocator."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


# --------------------------------------------------------------------------- what is timed


@dataclass(frozen=True)
class Mode:
    name: str
    tf32: bool
    bf16_autocast: bool
    channels_last: bool
    compile: bool
    precision: str  # which measured matmul peak it is compared with
    about: str


MODES: Dict[str, Mode] = {
    "fp32": Mode(
        "fp32", False, False, False, False, "fp32", "float32 everywhere, TF32 off for matmuls and cuDNN convolutions"
    ),
    "tf32": Mode(
        "tf32", True, False, False, False, "tf32", "float32 tensors, matmuls and convolutions on TF32 tensor cores"
    ),
    "bf16-cl": Mode(
        "bf16-cl",
        True,
        True,
        True,
        False,
        "bf16",
        "bf16 autocast (no grad scaler needed) + channels_last model and input",
    ),
    "bf16-cl-compile": Mode(
        "bf16-cl-compile",
        True,
        True,
        True,
        True,
        "bf16",
        "bf16-cl with the model under torch.compile (default mode, dynamic=False)",
    ),
}
assert tuple(MODES) == MODE_ORDER
# (builder, input shape, classes): the blog networks at their own input sizes
NETS: Dict[str, Tuple[Callable[[], torch.nn.Module], Tuple[int, int, int], int]] = {
    "lenet5": (lambda: lenet5("blog"), (1, 32, 32), 10),
    "alexnet": (lambda: alexnet("blog"), (3, 227, 227), 1000),
}
TASKS = ("train", "infer")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
Case = Tuple[str, str, int, str]  # (net, task, batch, mode)


@dataclass
class BenchConfig:
    """Everything that decides what is run and how long each sample lasts."""

    name: str = "custom"
    nets: Tuple[str, ...] = ("lenet5", "alexnet")
    batches: Dict[str, Tuple[int, ...]] = field(default_factory=lambda: {"lenet5": (256,), "alexnet": (64,)})
    tasks: Tuple[str, ...] = TASKS
    modes: Tuple[str, ...] = MODE_ORDER
    compile_batches: Optional[Dict[str, Tuple[int, ...]]] = None  # None: every batch size
    compile_tasks: Tuple[str, ...] = TASKS  # the tasks compiled modes run for
    first: Tuple[Case, ...] = ()  # cases run before the others (the ones a short budget must not lose)
    warmup: int = 3  # calls after the first one, before calibration
    min_sample_s: float = 0.05
    samples: int = 5
    max_reps: int = 10_000
    peak_n: int = 8192
    peak_min_sample_s: float = 0.05
    budget_s: Optional[float] = None  # cases that would start after it are skipped, with that reason
    compile_reserve_s: float = 30.0  # a compiled case starts only with this much budget left
    force_modes: bool = False  # run modes even where they are skipped by default (CPU bf16/compile)
    compile_mode: Optional[str] = None  # torch.compile(mode=...); None = default
    cpu_threads: Optional[int] = None  # torch.set_num_threads for the run (restored after); None: leave it
    pin_malloc: bool = True  # on a CPU: stop glibc's malloc returning big buffers to the OS (see pin_malloc)
    lr: float = 1e-3
    seed: int = 0

    def cases(self) -> List[Case]:
        """Every case, in execution order: ``first``, then eager modes, then compiled."""

        def runs(net: str, task: str, batch: int, mode: str) -> bool:
            if not MODES[mode].compile:
                return True
            return task in self.compile_tasks and (
                self.compile_batches is None or batch in self.compile_batches.get(net, ())
            )

        every = [
            (n, t, int(b), m)
            for n in self.nets
            for t in self.tasks
            for m in self.modes
            for b in self.batches[n]
            if runs(n, t, int(b), m)
        ]
        first = [c for c in self.first if c in every]
        rest = [c for c in every if c not in first]
        return first + [c for c in rest if not MODES[c[3]].compile] + [c for c in rest if MODES[c[3]].compile]

    def check(self) -> "BenchConfig":
        for kind, names, known in (("net", self.nets, NETS), ("mode", self.modes, MODES), ("task", self.tasks, TASKS)):
            for name in names:
                if name not in known:
                    raise ValueError(f"unknown {kind} {name!r}: choose from {', '.join(known)}")
        for net in self.nets:
            if not self.batches.get(net) or any(int(b) < 1 for b in self.batches[net]):
                raise ValueError(f"batches[{net!r}] = {self.batches.get(net)!r}: give one or more batch sizes ≥ 1")
        if self.samples < 1 or self.min_sample_s < 0 or self.warmup < 0:
            raise ValueError("samples must be ≥ 1, warmup ≥ 0 and min_sample_s ≥ 0")
        return self


def _presets() -> Dict[str, BenchConfig]:
    lenet_rec, alex_rec = (64, 256, 1024, 4096, 8192, 16384), (32, 64, 128, 256, 512)
    return {
        # seconds on any CPU. One thread: on a shared machine a second thread that is not scheduled makes every
        # parallel region wait (a LeNet5 step several times slower with 2 threads than with 1 on a busy 2-core box)
        "cpu-small": BenchConfig(
            name="cpu-small",
            batches={"lenet5": (16, 64, 256), "alexnet": (1, 2)},
            warmup=1,
            min_sample_s=0.02,
            samples=5,
            peak_n=1024,
            peak_min_sample_s=0.02,
            budget_s=16.0,
            compile_reserve_s=0.0,
            cpu_threads=1,
            first=(
                ("lenet5", "train", 256, "fp32"),
                ("alexnet", "train", 2, "fp32"),
                ("alexnet", "infer", 2, "fp32"),
                ("lenet5", "infer", 256, "fp32"),
            ),
        ),
        # ≤ 60 s on one GPU, warm-up and compilation included: the chapter's live run
        "chapter": BenchConfig(
            name="chapter",
            batches={"lenet5": (256, 4096), "alexnet": (64, 256)},
            compile_batches={"lenet5": (256,), "alexnet": (256,)},
            compile_tasks=("train",),
            warmup=3,
            min_sample_s=0.025,
            samples=5,
            peak_n=8192,
            peak_min_sample_s=0.03,
            budget_s=55.0,
            compile_reserve_s=25.0,
            first=(("alexnet", "train", 256, "fp32"), ("lenet5", "train", 256, "fp32")),
        ),
        # the record: no case starts after 450 s, so with one compile in flight it ends within ~8 min
        "gpu-record": BenchConfig(
            name="gpu-record",
            batches={"lenet5": lenet_rec, "alexnet": alex_rec},
            compile_batches={"lenet5": (256, 1024, 8192), "alexnet": (128, 256, 512)},
            warmup=5,
            min_sample_s=0.05,
            samples=7,
            peak_n=8192,
            peak_min_sample_s=0.1,
            budget_s=450.0,
            compile_reserve_s=40.0,
            first=(
                ("alexnet", "train", 512, "fp32"),
                ("alexnet", "train", 512, "tf32"),
                ("alexnet", "train", 512, "bf16-cl"),
                ("lenet5", "train", 256, "fp32"),
                ("lenet5", "train", 8192, "fp32"),
                ("alexnet", "train", 512, "bf16-cl-compile"),
                ("alexnet", "infer", 512, "bf16-cl-compile"),
            ),
        ),
        # for tests: seconds on a CPU
        "tiny": BenchConfig(
            name="tiny",
            batches={"lenet5": (4,), "alexnet": (1,)},
            warmup=1,
            min_sample_s=0.0,
            samples=5,
            max_reps=2,
            peak_n=128,
            peak_min_sample_s=0.0,
            compile_reserve_s=0.0,
        ),
    }


PRESETS = tuple(_presets())


def preset(name: str, **changes: Any) -> BenchConfig:
    """A fresh copy of a named preset (``"auto"``: chapter with a GPU, cpu-small without), with ``changes`` applied."""
    if name == "auto":
        name = "chapter" if torch.cuda.is_available() else "cpu-small"
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose from {', '.join(PRESETS)} or 'auto'")
    return replace(_presets()[name], **changes).check()


def describe(cfg: BenchConfig) -> str:
    """What a configuration will run, in a few lines."""
    threads = f"; {cfg.cpu_threads} CPU thread{'s' if cfg.cpu_threads > 1 else ''}" if cfg.cpu_threads else ""
    lines = [
        f"preset {cfg.name}: {len(cfg.cases())} cases; each the median of {cfg.samples} samples of ≥ "
        f"{cfg.min_sample_s * 1e3:g} ms after {cfg.warmup} warm-up calls"
        + (f"; budget {cfg.budget_s:g} s" if cfg.budget_s else "")
        + threads
    ]
    for net in cfg.nets:
        lines.append(
            f"  {net} {'×'.join(map(str, NETS[net][1]))}: batches {list(cfg.batches[net])}"
            + (f", compiled at {list(cfg.compile_batches.get(net, ()))}" if cfg.compile_batches else "")
            + (f" ({', '.join(cfg.compile_tasks)} only)" if tuple(cfg.compile_tasks) != TASKS else "")
        )
    return "\n".join(lines + [f"  {m:16s} {MODES[m].about}" for m in cfg.modes])


@lru_cache(maxsize=None)
def count_flops(net: str, batch: int, task: str) -> int:
    """FLOPs of one forward (``infer``) or forward + backward (``train``) pass at ``batch``, counted by
    ``FlopCounterMode`` on the meta device (shapes only, no arithmetic done)."""
    build, shape, _ = NETS[net]
    with torch.device("meta"):
        model = build()
        x, y = torch.empty(batch, *shape), torch.zeros(batch, dtype=torch.long)
    model.train(task == "train")
    with FlopCounterMode(display=False) as counter:
        if task == "train":
            F.cross_entropy(model(x), y).backward()
        else:
            with torch.no_grad():
                model(x)
    return int(counter.get_total_flops())


def _has_triton() -> bool:
    try:
        import triton  # noqa: F401
    except Exception:
        return False
    return True


def mode_skip_reason(mode: str, device: torch.device, force: bool = False) -> Optional[str]:
    """Why ``mode`` is not run on ``device``, or ``None`` if it is."""
    m = MODES[mode]
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        if mode == "tf32" and major < 8:
            return f"TF32 needs compute capability 8.0 or later; this GPU is {major}.{minor}"
        if m.bf16_autocast and not torch.cuda.is_bf16_supported():
            return "this GPU has no bf16 support"
        if m.compile and (major < 7 or not _has_triton()):
            return "torch.compile's GPU backend needs Triton and compute capability 7.0 or later"
        return None
    if device.type != "cpu":
        return None if mode == "fp32" or force else f"{mode} is only set up for CUDA and the CPU"
    if mode == "tf32":
        return "TF32 is a tensor-core format of NVIDIA GPUs (Ampere and later): on a CPU it is fp32 again"
    if force:
        return None
    if m.compile:
        return (
            "torch.compile on a CPU needs a C++ compiler and tens of seconds per case on a small machine: "
            "beyond a CPU preset's budget (`force_modes=True` / `--force-modes` runs it)"
        )
    if m.bf16_autocast:
        return (
            "bf16 autocast runs on a CPU but is slow on most CPUs and says nothing about a GPU "
            "(`force_modes=True` / `--force-modes` runs it)"
        )
    return None


# --------------------------------------------------------------------------- running


def _clock(device: torch.device) -> Any:
    return CudaEventClock(device) if device.type == "cuda" else WallClock()


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _error_text(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:300] if text else ''}"


def _peak_skip_reason(prec: str, device: torch.device, cfg: BenchConfig) -> Optional[str]:
    if device.type == "cuda":
        return mode_skip_reason({"fp32": "fp32", "tf32": "tf32", "bf16": "bf16-cl"}[prec], device)
    if prec == "tf32":
        return "no TF32 on a CPU"
    return "bf16 modes are not run on a CPU" if prec == "bf16" and not cfg.force_modes else None


def _matmul_peak(prec: str, device: torch.device, cfg: BenchConfig, clock: Any) -> Dict[str, Any]:
    n, dtype = cfg.peak_n, torch.bfloat16 if prec == "bf16" else torch.float32
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    a, b = (torch.randn(n, n, device=device, generator=gen).to(dtype) for _ in range(2))  # zeros run faster
    c = torch.empty(n, n, device=device, dtype=dtype)
    with precision_flags(prec == "tf32"):
        t = measure(
            lambda: torch.mm(a, b, out=c),
            clock,
            warmup=2,
            min_sample_s=cfg.peak_min_sample_s,
            samples=cfg.samples,
            max_reps=cfg.max_reps,
        )
    flops = 2 * n**3
    return {
        "status": "ok",
        "n": n,
        "ms": t.stats.median * 1e3,
        "tflops": flops / t.stats.median / 1e12,
        "tflops_best": flops / t.stats.min / 1e12,
        "reps": t.reps,
    }


def measure_peaks(
    device: torch.device, cfg: BenchConfig, clock: Any = None, log: Callable[[str], None] = lambda s: None
) -> Dict[str, Dict[str, Any]]:
    """Dense ``n×n @ n×n`` matmul TFLOP/s per precision, timed like the cases."""
    peaks: Dict[str, Dict[str, Any]] = {}
    for prec in ("fp32", "tf32", "bf16"):
        reason = _peak_skip_reason(prec, device, cfg)
        try:
            peaks[prec] = (
                {"status": "skipped", "reason": reason}
                if reason
                else _matmul_peak(prec, device, cfg, clock or _clock(device))
            )
        except Exception as err:  # an out-of-memory GPU, say: record it, go on
            peaks[prec] = {"status": "error", "reason": _error_text(err)}
        if peaks[prec]["status"] == "ok":
            log(f"peak {prec:5s} n={cfg.peak_n}: {peaks[prec]['tflops']:.3g} TFLOP/s")
        _free(device)
    return peaks


def _skip(net: str, task: str, mode: str, batch: int, reason: str, status: str = "skipped") -> Dict[str, Any]:
    return {
        "net": net,
        "input": list(NETS[net][1]),
        "task": task,
        "mode": mode,
        "batch": batch,
        "status": status,
        "reason": reason,
    }


def _case_step(
    net: str, task: str, mode: str, batch: int, device: torch.device, cfg: BenchConfig
) -> Callable[[], None]:
    """The work of one case: the model (compiled for a compile mode), input and step, built on ``device``."""
    m, (build, shape, classes) = MODES[mode], NETS[net]
    with torch.device(device):  # parameters initialised on the device itself
        model = build()
    fmt = torch.channels_last if m.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train(task == "train")
    x = torch.randn(batch, *shape, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, classes, (batch,), device=device)
    if m.compile:
        torch._dynamo.reset()  # one compile cache per case: no recompiles, no cache-limit fallback
    runner = torch.compile(model, dynamic=False, mode=cfg.compile_mode) if m.compile else model

    def amp() -> Any:
        return torch.autocast(device.type, dtype=torch.bfloat16) if m.bf16_autocast else contextlib.nullcontext()

    if task == "infer":

        def infer() -> None:
            with torch.no_grad(), amp():
                runner(x)

        return infer
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        with amp():
            loss = F.cross_entropy(runner(x), y)
        loss.backward()
        opt.step()

    return train


def _timed_call(step: Callable[[], None], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - t0


def _case_result(
    net: str,
    task: str,
    mode: str,
    batch: int,
    device: torch.device,
    timing: Timing,
    peaks: Dict[str, Dict[str, Any]],
    first_call_s: float,
) -> Dict[str, Any]:
    m, med, flops = MODES[mode], timing.stats.median, count_flops(net, batch, task)
    peak = peaks.get(m.precision, {})
    peak_tflops = peak.get("tflops") if peak.get("status") == "ok" else None
    tflops = flops / med / 1e12
    st = timing.stats
    return {
        "net": net,
        "input": list(NETS[net][1]),
        "task": task,
        "mode": mode,
        "batch": batch,
        "status": "ok",
        "ms": med * 1e3,
        "ms_min": st.min * 1e3,
        "ms_max": st.max * 1e3,
        "ms_q1": st.q1 * 1e3,
        "ms_q3": st.q3 * 1e3,
        "samples_ms": [s * 1e3 for s in timing.samples_s],
        "reps": timing.reps,
        "images_per_s": batch / med,
        "flops_per_batch": flops,
        "tflops": tflops,
        "peak_precision": m.precision,
        "peak_tflops": peak_tflops,
        "pct_peak": 100 * tflops / peak_tflops if peak_tflops else None,
        "peak_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
        "first_call_s": first_call_s,
        "compile_s": max(0.0, first_call_s - med) if m.compile else None,
    }


def run_case(
    net: str,
    task: str,
    mode: str,
    batch: int,
    device: torch.device,
    cfg: BenchConfig,
    peaks: Dict[str, Dict[str, Any]],
    clock: Any = None,
    deadline: Optional[float] = None,
) -> Dict[str, Any]:
    """Time one case; a dict with the statistics (or the reason it was not measured)."""
    t_case = time.perf_counter()
    _free(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(cfg.seed)
    with precision_flags(MODES[mode].tf32, benchmark=True if device.type == "cuda" else None):
        step = _case_step(net, task, mode, batch, device, cfg)
        first_call_s = _timed_call(step, device)  # compiles (compile mode), autotunes cuDNN, grows the allocator
        second_s = _timed_call(step, device)
        estimate = second_s * cfg.warmup + (cfg.samples + 2) * max(cfg.min_sample_s, second_s)
        if deadline is not None and time.perf_counter() + estimate > deadline:
            return _skip(
                net,
                task,
                mode,
                batch,
                f"would run past the time budget (~{estimate:.1f} s needed, one call took {second_s:.2f} s)",
            )
        timing = measure(
            step,
            clock or _clock(device),
            warmup=max(0, cfg.warmup - 1),
            min_sample_s=cfg.min_sample_s,
            samples=cfg.samples,
            max_reps=cfg.max_reps,
        )
    result = _case_result(net, task, mode, batch, device, timing, peaks, first_call_s)
    return {**result, "wall_s": time.perf_counter() - t_case}


def _resolve_device(device: Any) -> torch.device:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def run_benchmark(
    config: Any = "auto", device: Any = None, out: Any = None, verbose: bool = True, command: str = "", **changes: Any
) -> BenchResult:
    """Run a preset (name) or a :class:`BenchConfig`; return a :class:`~classicnets.timing_results.BenchResult`.

    With ``out`` (a folder or ``.json`` path) the record is rewritten after every case, so a run cut short keeps every
    case it finished (``complete: false``)."""
    cfg = preset(config, **changes) if isinstance(config, str) else replace(config, **changes).check()
    why = check_writable(out) if out is not None else None
    if why:
        raise ValueError(f"out={str(out)!r}: {why}: choose a writable folder or .json path")
    device = _resolve_device(device)
    log = (lambda s: print(s, flush=True)) if verbose else (lambda s: None)
    threads_before = torch.get_num_threads()
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    try:
        env = records.environment(device)
        if device.type == "cpu":
            env["malloc_pinned"] = cfg.pin_malloc and pin_malloc()
        result = BenchResult(
            preset=cfg.name,
            env=env,
            peaks={},
            cases=[],
            config=_config_dict(cfg),
            complete=False,
            command=command or f"classicnets.bench.run_benchmark({cfg.name!r})",
        )
        return _run(cfg, device, result, out, log)
    finally:
        torch.set_num_threads(threads_before)


def _budget_reason(cfg: BenchConfig, mode: str, t_start: float) -> Optional[str]:
    need, now = cfg.compile_reserve_s if MODES[mode].compile else 0.0, time.perf_counter()
    if cfg.budget_s is None or now + need <= t_start + cfg.budget_s:
        return None
    return f"time budget: {cfg.budget_s:g} s for preset {cfg.name}, {now - t_start:.0f} s used" + (
        f", a compile needs ~{need:g} s" if need else ""
    )


def _case_line(case: Dict[str, Any]) -> str:
    head = f"{case['net']:7s} {case['task']:5s} {case['mode']:15s} b{case['batch']:<6d}"
    if case["status"] != "ok":
        return f"{head} {case['status']}: {case['reason']}"
    return f"{head} {case['ms']:9.3f} ms  {case['images_per_s']:12,.0f} img/s  {case['tflops']:8.3g} TFLOP/s" + (
        f"  compile {case['compile_s']:.1f} s" if case.get("compile_s") is not None else ""
    )


def _run(
    cfg: BenchConfig, device: torch.device, result: BenchResult, out: Any, log: Callable[[str], None]
) -> BenchResult:
    t_start, clock = time.perf_counter(), _clock(device)
    deadline = t_start + cfg.budget_s if cfg.budget_s else None
    log(f"{result.label} — {describe(cfg).splitlines()[0]}")

    def save() -> None:
        result.total_s = time.perf_counter() - t_start
        if out is not None:
            result.save(out)

    with precision_flags(False, benchmark=True if device.type == "cuda" else None):  # restores all flags at the end
        result.peaks = measure_peaks(device, cfg, clock, log)
        save()
        for net, task, batch, mode in cfg.cases():
            reason = mode_skip_reason(mode, device, cfg.force_modes) or _budget_reason(cfg, mode, t_start)
            try:
                case = (
                    _skip(net, task, mode, batch, reason)
                    if reason
                    else run_case(net, task, mode, batch, device, cfg, result.peaks, clock, deadline)
                )
            except Exception as err:  # out of memory, a compile failure: recorded, the run goes on
                case = _skip(net, task, mode, batch, _error_text(err), status="error")
            finally:
                if MODES[mode].compile:
                    torch._dynamo.reset()
                _free(device)
            log(_case_line(case))
            result.cases.append(case)
            save()
    result.complete = True
    save()
    return result


def _config_dict(cfg: BenchConfig) -> Dict[str, Any]:
    d = asdict(cfg)
    d.update(
        batches={k: list(v) for k, v in cfg.batches.items()},
        first=[list(c) for c in cfg.first],
        optimizer="SGD(momentum=0.9)",
        loss="cross_entropy",
    )
    return d


# --------------------------------------------------------------------------- the independent cross-check


def _torch_benchmark() -> Any:
    """``torch.utils.benchmark``, imported when a check runs (its import warns about CUDA_HOME on a CPU-only machine,
    and ``train.py`` imports this module for :func:`sync`)."""
    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import torch.utils.benchmark as tbench
    finally:
        log.setLevel(level)
    return tbench


CheckCase = Tuple[str, str, str, int]  # (net, task, mode, batch)
GPU_CASES: List[CheckCase] = [
    ("alexnet", "train", "fp32", 512),
    ("alexnet", "train", "bf16-cl", 512),
    ("alexnet", "infer", "bf16-cl", 512),
    ("lenet5", "train", "fp32", 256),
    ("lenet5", "train", "fp32", 8192),
    ("lenet5", "infer", "fp32", 8192),
]
CPU_CASES: List[CheckCase] = [
    ("lenet5", "train", "fp32", 256),
    ("lenet5", "infer", "fp32", 1024),
    ("alexnet", "infer", "fp32", 2),
    ("alexnet", "train", "fp32", 2),
]


def independent_step(net: str, task: str, mode: str, batch: int, device: torch.device) -> Callable[[], None]:
    """The work of the harness's case, written out again from the public model API (none of ``_case_step``)."""
    builders = {"lenet5": (lenet5, (1, 32, 32), 10), "alexnet": (alexnet, (3, 227, 227), 1000)}
    if net not in builders:
        raise ValueError(f"unknown net {net!r}: choose from {', '.join(builders)}")
    build, shape, classes = builders[net]
    torch.manual_seed(0)
    model, x = build("blog").to(device), torch.randn(batch, *shape, device=device)
    if mode.startswith("bf16-cl"):
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)
    bf16 = mode.startswith("bf16")
    if task != "train":
        model.eval()

        def infer() -> None:
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                model(x)

        return infer
    opt = torch.optim.SGD(model.train().parameters(), lr=1e-3, momentum=0.9)

    def train() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return train


def plain_loop(step: Callable[[], None], device: torch.device, min_s: float, samples: int) -> float:
    """Median seconds per call: ``synchronize``, ``perf_counter`` around n calls, ``synchronize``."""

    def per_call(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync(device)
        return (time.perf_counter() - t0) / n

    for _ in range(5):
        step()
    sync(device)
    n = 1
    while per_call(n) * n < min_s and n < 100_000:
        n *= 2
    return statistics.median(per_call(n) for _ in range(samples))


def cross_check_case(
    case: CheckCase, device: Any, min_s: float, rounds: int = 3, cfg: Optional[BenchConfig] = None
) -> Dict[str, Any]:
    """The three measurements of one case, in ``rounds`` rounds in rotating order; ms and the harness's deviation."""
    net, task, mode, batch = case
    device = torch.device(device)
    reason = mode_skip_reason(mode, device, force=True)
    if reason:
        return {"case": list(case), "status": "skipped", "reason": reason}
    cfg = cfg or BenchConfig(name="check", warmup=5, min_sample_s=min_s, samples=7)
    times: Dict[str, List[float]] = {"harness": [], "timer": [], "loop": []}
    with precision_flags(tf32=MODES[mode].tf32, benchmark=True if device.type == "cuda" else None):
        step = independent_step(net, task, mode, batch, device)
        timer = _torch_benchmark().Timer(stmt="step()", globals={"step": step}, num_threads=torch.get_num_threads())
        methods = {
            "harness": lambda: run_case(net, task, mode, batch, device, cfg, peaks={})["ms"] / 1e3,
            "timer": lambda: timer.blocked_autorange(min_run_time=max(5 * min_s, 0.2)).median,
            "loop": lambda: plain_loop(step, device, min_s, cfg.samples),
        }
        order = list(methods)
        for r in range(rounds):
            for name in order[r % 3 :] + order[: r % 3]:
                times[name].append(methods[name]())
    h, t, lp = (statistics.median(times[k]) for k in ("harness", "timer", "loop"))
    return {
        "case": list(case),
        "status": "ok",
        "harness_ms": h * 1e3,
        "timer_ms": t * 1e3,
        "loop_ms": lp * 1e3,
        "vs_timer_pct": 100 * (h / t - 1),
        "vs_loop_pct": 100 * (h / lp - 1),
        "rounds_ms": {k: [v * 1e3 for v in vs] for k, vs in times.items()},
        "images_per_s": {"harness": batch / h, "timer": batch / t, "loop": batch / lp},
    }


def cross_check(
    cases: Optional[Sequence[CheckCase]] = None,
    device: Any = None,
    min_s: Optional[float] = None,
    rounds: int = 3,
    log: Callable[[str], None] = print,
    threads: Optional[int] = None,
    on_row: Optional[Callable[[List[Dict[str, Any]]], None]] = None,
) -> List[Dict[str, Any]]:
    """:func:`cross_check_case` per case (default :data:`GPU_CASES` or :data:`CPU_CASES`), a table row printed each.

    ``threads``: CPU threads for the check (restored after); give the timing run's, or the two are not comparable.
    ``on_row(rows_so_far)`` runs after each case (the command line saves its record there)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cases = list(cases or (GPU_CASES if device.type == "cuda" else CPU_CASES))
    min_s = min_s if min_s is not None else (0.1 if device.type == "cuda" else 0.3)
    before = torch.get_num_threads()
    if threads and device.type == "cpu":
        torch.set_num_threads(threads)
    n_threads = torch.get_num_threads()
    log(f"{timing_results.CHECK_HEAD}  ({n_threads} CPU thread{'s' if n_threads > 1 else ''})")
    rows: List[Dict[str, Any]] = []
    try:
        for case in cases:
            rows.append(cross_check_case(case, device, min_s, rounds))
            if on_row is not None:
                on_row(rows)
            log(timing_results.check_row_text(rows[-1]))
    finally:
        torch.set_num_threads(before)
    worst = timing_results.deviation_line(rows, "largest deviation of the harness from an independent measurement")
    if worst:
        log(worst)
    return rows


def check_record(
    rows: Sequence[Dict[str, Any]],
    device: Any,
    rounds: int,
    threads: Optional[int],
    malloc_pinned: bool = False,
    command: str = "",
) -> Record:
    """The record of a cross-check: where and when, how (rounds, threads, malloc), and the rows."""
    payload = {
        "rounds": rounds,
        "threads": threads,
        "malloc_pinned": malloc_pinned,
        "largest_deviation_pct": timing_results.largest_deviation(rows),
        "cases": list(rows),
    }
    return Record("harness_check", payload, records.environment(device), command)


# --------------------------------------------------------------------------- command-line values (benchmarks/ too)


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    if not text.strip().removeprefix("-").isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer: give a whole number ≥ 1")
    if int(text) < 1:
        raise argparse.ArgumentTypeError(f"{int(text)} is too small: give a whole number ≥ 1")
    return int(text)


def non_negative_float(text: str) -> float:
    """argparse type: a finite number ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number ≥ 0")
    return value


def positive_ints(text: str) -> Tuple[int, ...]:
    """argparse type: comma-separated integers ≥ 1, at least one."""
    values = tuple(positive_int(v) for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("give at least one value, e.g. 64,256")
    return values


def names_from(known: Sequence[str]) -> Callable[[str], Tuple[str, ...]]:
    """argparse type: comma-separated names, each one of ``known``."""

    def parse(text: str) -> Tuple[str, ...]:
        names = tuple(v.strip() for v in text.split(",") if v.strip())
        bad = [n for n in names if n not in known] or ([] if names else [text])
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad[0]!r}: choose from {', '.join(known)}")
        return names

    return parse


def checked_device(parser: argparse.ArgumentParser, text: Optional[str]) -> torch.device:
    """The device named on the command line, or the parser's error (exit 2) if it does not exist here."""
    try:
        device = torch.device(text) if text else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    except RuntimeError:
        parser.error(f"argument --device: {text!r} is not a device: use cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"argument --device: {text} asked for, but torch finds no CUDA GPU here: use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        parser.error(f"argument --device: {text}: this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"argument --device: {text}: only cpu and cuda are set up")
    return device


def checked_out(parser: argparse.ArgumentParser, out: Any, flag: str = "--out", folder_ok: bool = True) -> None:
    """The parser's error (exit 2) when the record could not be written at ``out``: checked before any work."""
    why = check_writable(out, folder_ok=folder_ok) if out is not None else None
    if why:
        parser.error(f"argument {flag}: {why}: choose a writable path")


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m classicnets.bench",
        description="Time LeNet5 and AlexNet (inference and a training step) in fp32, TF32, bf16+channels_last "
        "and torch.compile, with a matmul peak measured in the same run.",
        epilog="The record for the book: python -m classicnets.bench --preset gpu-record --out classicnets/records/",
    )
    p.add_argument(
        "--preset",
        default="auto",
        choices=(*PRESETS, "auto"),
        help="auto: chapter with a GPU, cpu-small without (default)",
    )
    p.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if available)")
    p.add_argument("--nets", type=names_from(tuple(NETS)), help="comma-separated: lenet5,alexnet")
    p.add_argument("--tasks", type=names_from(TASKS), help="comma-separated: train,infer")
    p.add_argument("--modes", type=names_from(tuple(MODES)), help=f"comma-separated: {','.join(MODES)}")
    p.add_argument("--lenet5-batches", type=positive_ints, help="e.g. 256,8192")
    p.add_argument("--alexnet-batches", type=positive_ints, help="e.g. 64,512")
    p.add_argument("--samples", type=positive_int, help="samples per case (the median is reported)")
    p.add_argument("--min-sample-ms", type=non_negative_float, help="repeat calls until a sample lasts this long")
    p.add_argument("--budget", type=non_negative_float, help="seconds; later cases are skipped (0: no budget)")
    p.add_argument("--compile-mode", choices=COMPILE_MODES, help="torch.compile mode (default: default)")
    p.add_argument("--force-modes", action="store_true", help="run bf16 and compiled modes on a CPU too")
    p.add_argument("--threads", type=positive_int, help="CPU threads for the run (torch.set_num_threads)")
    p.add_argument("--no-pin-malloc", action="store_true", help="leave glibc's malloc adaptive on a CPU")
    p.add_argument("--out", help="write the JSON record here (a folder, or a .json path); rewritten after each case")
    p.add_argument("--list", action="store_true", help="describe the presets and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-case progress lines")
    return p


def _changes(a: argparse.Namespace, cfg: BenchConfig) -> Dict[str, Any]:
    """The command line's changes to the preset ``cfg``."""
    changes: Dict[str, Any] = {
        k: v
        for k, v in (
            ("nets", a.nets),
            ("tasks", a.tasks),
            ("modes", a.modes),
            ("samples", a.samples),
            ("compile_mode", a.compile_mode),
            ("cpu_threads", a.threads),
        )
        if v
    }
    if a.lenet5_batches or a.alexnet_batches:
        batches = {
            **cfg.batches,
            **({"lenet5": a.lenet5_batches} if a.lenet5_batches else {}),
            **({"alexnet": a.alexnet_batches} if a.alexnet_batches else {}),
        }
        compiled = (
            None
            if cfg.compile_batches is None
            else {
                net: tuple(b for b in batches[net] if b in cfg.compile_batches.get(net, ())) or batches[net][:1]
                for net in batches
            }
        )
        changes.update(batches=batches, compile_batches=compiled, first=())
    if a.min_sample_ms is not None:
        changes["min_sample_s"] = a.min_sample_ms / 1e3
    if a.budget is not None:
        changes["budget_s"] = a.budget or None
    if a.force_modes:
        changes["force_modes"] = True
    if a.no_pin_malloc:
        changes["pin_malloc"] = False
    return changes


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    if a.list:
        for name in PRESETS:
            print(describe(preset(name)), end="\n\n")
        return 0
    device = checked_device(p, a.device)
    checked_out(p, a.out)
    if a.out and device.type != "cuda":
        target = Path(a.out).resolve()
        if target == records.RECORDS_DIR or records.RECORDS_DIR in target.parents:
            p.error(
                f"argument --out: {records.RECORDS_DIR} holds GPU records, shown by the book as such: "
                f"write a {device.type} run elsewhere"
            )
    cfg = preset(a.preset)
    command = "python -m classicnets.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    result = run_benchmark(cfg, device=device, out=a.out, verbose=not a.quiet, command=command, **_changes(a, cfg))
    print(f"\n{result.label}\n{result.table('text')}")
    if result.on_gpu:
        print("\n" + timing_results.reference_text(result))
    if result.path:
        print(f"\nwrote {result.path}")
    print(f"total {result.total_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
