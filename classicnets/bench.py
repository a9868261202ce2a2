"""Time LeNet5 and AlexNet on a GPU (or a CPU), correctly.

``python -m classicnets.bench --preset chapter`` (≤ 60 s on a GPU),
``--preset cpu-small`` (≤ 25 s on 2 CPU cores), ``--preset gpu-record --out
classicnets/records/`` (the record for the book: estimated 4–6 minutes on an H100, not yet run there;
no case starts after 450 s).
``python -m classicnets.bench --help`` lists the options.

What is timed, per case (network × task × mode × batch size):

* ``infer``: one forward pass under ``torch.no_grad()`` in ``eval()`` mode;
* ``train``: one full training step — ``zero_grad``, forward, cross-entropy,
  backward, ``SGD(momentum=0.9).step()`` — in ``train()`` mode (dropout on).

Modes: ``fp32`` (TF32 *off* for matmuls **and** convolutions — PyTorch leaves
it on for cuDNN convolutions by default), ``tf32``, ``bf16-cl`` (bf16 autocast +
channels_last) and ``bf16-cl-compile`` (the same under ``torch.compile``).

How it is timed (the pitfalls a GPU timing must avoid):

* CUDA runs asynchronously: every sample is bracketed by CUDA events (or, on
  the CPU, ``time.perf_counter``) after a ``synchronize``, and read only after
  the end event completed;
* warm-up calls first (cuDNN autotuning with ``cudnn.benchmark``, allocator
  growth, lazy initialisation), their time reported as ``first_call_s``;
* ``torch.compile``'s compilation happens in the first call and is reported
  apart (``compile_s``), never mixed into the timed samples; each compiled case
  gets a fresh ``torch.compile`` (``dynamic=False``) after ``torch._dynamo.reset()``
  so batch sizes neither share nor exhaust a compile cache;
* repetitions per sample are chosen so one sample lasts ≥ ``min_sample_s``;
  the result is the median over ``samples`` samples, with min, max and quartiles;
* TF32 and ``cudnn.benchmark`` flags are set per mode and restored afterwards;
* FLOPs are counted once per case with ``torch.utils.flop_counter.FlopCounterMode``
  on the ``meta`` device (no compute, outside the timed loop); the optimizer
  step's few elementwise FLOPs per parameter are not counted;
* "% of peak" divides by a dense square matmul timed the same way, in the
  same run, at the mode's precision (fp32 with TF32 off, TF32, bf16);
* peak memory is ``torch.cuda.max_memory_allocated`` after a reset at the
  start of the case (model, gradients, optimizer state, activations, input);
* on a CPU, glibc's malloc is pinned first (:func:`pin_malloc`), or a step's
  time depends on whether the allocator happens to return its buffers to the
  system between calls.

Inputs are random tensors already on the device (no data loading is timed).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .bench_report import RECORDS_DIR, BenchResult, MODE_ORDER, reference_text
from .timing import (  # noqa: F401  (re-exported: the harness's measurement primitives live in classicnets.timing)
    CudaEventClock, Stats, Timing, WallClock, measure, pin_malloc, precision_flags, summarize, tf32_active, tf32_state,
)
from .envinfo import environment
from .models import alexnet, lenet5

__all__ = [
    "MODES", "NETS", "PRESETS", "Mode", "BenchConfig", "Stats", "Timing", "WallClock", "CudaEventClock",
    "summarize", "measure", "count_flops", "precision_flags", "tf32_active", "tf32_state", "mode_skip_reason",
    "measure_peaks", "run_case", "run_benchmark", "pin_malloc", "environment", "preset", "describe", "main",
]

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
    "fp32": Mode("fp32", False, False, False, False, "fp32",
                 "float32 everywhere, TF32 off for matmuls and cuDNN convolutions"),
    "tf32": Mode("tf32", True, False, False, False, "tf32",
                 "float32 tensors, matmuls and convolutions on TF32 tensor cores"),
    "bf16-cl": Mode("bf16-cl", True, True, True, False, "bf16",
                    "bf16 autocast (no grad scaler needed) + channels_last model and input"),
    "bf16-cl-compile": Mode("bf16-cl-compile", True, True, True, True, "bf16",
                            "bf16-cl with the model under torch.compile (default mode, dynamic=False)"),
}
assert tuple(MODES) == MODE_ORDER


@dataclass(frozen=True)
class Net:
    name: str
    build: Callable[[], torch.nn.Module]
    input_shape: Tuple[int, int, int]
    num_classes: int


NETS: Dict[str, Net] = {
    "lenet5": Net("lenet5", lambda: lenet5("blog"), (1, 32, 32), 10),
    "alexnet": Net("alexnet", lambda: alexnet("blog"), (3, 227, 227), 1000),
}
TASKS = ("train", "infer")
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
        all_cases = []
        for net in self.nets:
            for task in self.tasks:
                for mode in self.modes:
                    for batch in self.batches[net]:
                        if MODES[mode].compile and (task not in self.compile_tasks or (
                                self.compile_batches is not None and batch not in self.compile_batches.get(net, ()))):
                            continue
                        all_cases.append((net, task, int(batch), mode))
        first = [c for c in self.first if c in all_cases]
        rest = [c for c in all_cases if c not in first]
        return first + [c for c in rest if not MODES[c[3]].compile] + [c for c in rest if MODES[c[3]].compile]

    def check(self) -> "BenchConfig":
        for net in self.nets:
            if net not in NETS:
                raise ValueError(f"unknown net {net!r}: choose from {', '.join(NETS)}")
            if not self.batches.get(net):
                raise ValueError(f"no batch sizes for {net}: set batches[{net!r}]")
        for mode in self.modes:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}: choose from {', '.join(MODES)}")
        for task in self.tasks:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}: choose from {', '.join(TASKS)}")
        if self.samples < 1 or self.min_sample_s < 0:
            raise ValueError("samples must be ≥ 1 and min_sample_s ≥ 0")
        return self


def _presets() -> Dict[str, BenchConfig]:
    lenet_rec, alex_rec = (64, 256, 1024, 4096, 8192, 16384), (32, 64, 128, 256, 512)
    return {
        # seconds on any CPU: what the notebook runs without a GPU. One thread: on a shared or
        # hosted machine a second thread that is not scheduled makes every parallel region wait
        # (seen here: a LeNet5 step 20× slower with 2 threads than with 1 on a busy 2-core box)
        "cpu-small": BenchConfig(
            name="cpu-small", batches={"lenet5": (16, 64, 256), "alexnet": (1, 2)},
            warmup=1, min_sample_s=0.02, samples=5, peak_n=1024, peak_min_sample_s=0.02,
            budget_s=16.0, compile_reserve_s=0.0, cpu_threads=1,
            first=(("lenet5", "train", 256, "fp32"), ("alexnet", "train", 2, "fp32"),
                   ("alexnet", "infer", 2, "fp32"), ("lenet5", "infer", 256, "fp32"))),
        # ≤ 60 s on one GPU, warm-up and compilation included: the chapter's live run
        "chapter": BenchConfig(
            name="chapter", batches={"lenet5": (256, 4096), "alexnet": (64, 256)},
            compile_batches={"lenet5": (256,), "alexnet": (256,)}, compile_tasks=("train",),
            warmup=3, min_sample_s=0.025, samples=5, peak_n=8192, peak_min_sample_s=0.03,
            budget_s=55.0, compile_reserve_s=25.0,
            first=(("alexnet", "train", 256, "fp32"), ("lenet5", "train", 256, "fp32"))),
        # the record: estimated 4–6 min on an H100 (not yet run on one); no case starts after 450 s,
        # so with one compile in flight it ends within ~8 min (a GPU lease has 15 min in all)
        "gpu-record": BenchConfig(
            name="gpu-record", batches={"lenet5": lenet_rec, "alexnet": alex_rec},
            compile_batches={"lenet5": (256, 1024, 8192), "alexnet": (128, 256, 512)},
            warmup=5, min_sample_s=0.05, samples=7, peak_n=8192, peak_min_sample_s=0.1,
            budget_s=450.0, compile_reserve_s=40.0,
            first=(("alexnet", "train", 512, "fp32"), ("alexnet", "train", 512, "tf32"),
                   ("alexnet", "train", 512, "bf16-cl"), ("lenet5", "train", 256, "fp32"),
                   ("lenet5", "train", 8192, "fp32"), ("alexnet", "train", 512, "bf16-cl-compile"),
                   ("alexnet", "infer", 512, "bf16-cl-compile"))),
        # for tests: seconds on a CPU
        "tiny": BenchConfig(
            name="tiny", batches={"lenet5": (4,), "alexnet": (1,)}, tasks=TASKS,
            warmup=1, min_sample_s=0.0, samples=5, max_reps=2, peak_n=128, peak_min_sample_s=0.0,
            budget_s=None, compile_reserve_s=0.0),
    }


PRESETS = tuple(_presets())


def preset(name: str, **changes: Any) -> BenchConfig:
    """A fresh copy of a named preset, with ``changes`` applied."""
    presets = _presets()
    if name == "auto":
        name = "chapter" if torch.cuda.is_available() else "cpu-small"
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}: choose from {', '.join(presets)} or 'auto'")
    return replace(presets[name], **changes).check()


def describe(cfg: BenchConfig) -> str:
    """What a configuration will run, in a few lines."""
    n_cases = len(cfg.cases())
    lines = [f"preset {cfg.name}: {n_cases} cases; each the median of {cfg.samples} samples of ≥ "
             f"{cfg.min_sample_s * 1e3:g} ms after {cfg.warmup} warm-up calls"
             + (f"; budget {cfg.budget_s:g} s" if cfg.budget_s else "")
             + (f"; {cfg.cpu_threads} CPU thread{'s' if cfg.cpu_threads > 1 else ''}" if cfg.cpu_threads else "")]
    for net in cfg.nets:
        lines.append(f"  {net} {'×'.join(map(str, NETS[net].input_shape))}: batches {list(cfg.batches[net])}"
                     + (f", compiled at {list(cfg.compile_batches.get(net, ()))}" if cfg.compile_batches else "")
                     + (f" ({', '.join(cfg.compile_tasks)} only)" if tuple(cfg.compile_tasks) != TASKS else ""))
    for m in cfg.modes:
        lines.append(f"  {m:16s} {MODES[m].about}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- FLOPs and modes


@lru_cache(maxsize=None)
def count_flops(net: str, batch: int, task: str) -> int:
    """FLOPs of one forward (``infer``) or forward + backward (``train``) pass at ``batch``,
    counted by ``FlopCounterMode`` on the meta device (shapes only, no arithmetic done)."""
    from torch.utils.flop_counter import FlopCounterMode

    info = NETS[net]
    with torch.device("meta"):
        model = info.build()
        x = torch.empty(batch, *info.input_shape)
        y = torch.zeros(batch, dtype=torch.long)
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
        if m.tf32 and major < 8 and mode == "tf32":
            return f"TF32 needs compute capability 8.0 or later; this GPU is {major}.{minor}"
        if m.bf16_autocast and not torch.cuda.is_bf16_supported():
            return "this GPU has no bf16 support"
        if m.compile and (major < 7 or not _has_triton()):
            return "torch.compile's GPU backend needs Triton and compute capability 7.0 or later"
        return None
    if device.type != "cpu":
        return None if m.name == "fp32" or force else f"{mode} is only set up for CUDA and the CPU"
    if m.name == "tf32":
        return "TF32 is a tensor-core format of NVIDIA GPUs (Ampere and later): on a CPU it is fp32 again"
    if force:
        return None
    if m.compile:
        return ("torch.compile on a CPU needs a C++ compiler and tens of seconds per case on a small machine: "
                "beyond a CPU preset's budget (`force_modes=True` / `--force-modes` runs it)")
    if m.bf16_autocast:
        return ("bf16 autocast runs on a CPU but is slow on most CPUs and says nothing about a GPU "
                "(`force_modes=True` / `--force-modes` runs it)")
    return None


# --------------------------------------------------------------------------- running


def _clock(device: torch.device):
    return CudaEventClock(device) if device.type == "cuda" else WallClock()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure_peaks(device: torch.device, cfg: BenchConfig, clock: Any = None,
                  log: Callable[[str], None] = lambda s: None) -> Dict[str, Dict[str, Any]]:
    """Dense ``n×n @ n×n`` matmul TFLOP/s per precision, timed like the cases."""
    clock = clock or _clock(device)
    peaks: Dict[str, Dict[str, Any]] = {}
    n = cfg.peak_n
    for prec in ("fp32", "tf32", "bf16"):
        reason = None
        if device.type == "cpu" and prec == "tf32":
            reason = "no TF32 on a CPU"
        elif device.type == "cpu" and prec == "bf16" and not cfg.force_modes:
            reason = "bf16 modes are not run on a CPU"
        elif device.type == "cuda":
            reason = mode_skip_reason({"fp32": "fp32", "tf32": "tf32", "bf16": "bf16-cl"}[prec], device)
        if reason:
            peaks[prec] = {"status": "skipped", "reason": reason}
            continue
        try:
            dtype = torch.bfloat16 if prec == "bf16" else torch.float32
            gen = torch.Generator(device=device).manual_seed(cfg.seed)
            a = torch.randn(n, n, device=device, generator=gen).to(dtype)  # random data: zeros run faster
            b = torch.randn(n, n, device=device, generator=gen).to(dtype)
            c = torch.empty(n, n, device=device, dtype=dtype)
            with precision_flags(prec == "tf32"):
                t = measure(lambda: torch.mm(a, b, out=c), clock, warmup=2, min_sample_s=cfg.peak_min_sample_s,
                            samples=cfg.samples, max_reps=cfg.max_reps)
            flops = 2 * n ** 3
            peaks[prec] = {"status": "ok", "n": n, "ms": t.stats.median * 1e3, "tflops": flops / t.stats.median / 1e12,
                           "tflops_best": flops / t.stats.min / 1e12, "reps": t.reps}
            log(f"peak {prec:5s} n={n}: {peaks[prec]['tflops']:.3g} TFLOP/s")
            del a, b, c
        except Exception as err:  # an out-of-memory GPU, say: record it, go on
            peaks[prec] = {"status": "error", "reason": _error_text(err)}
        _free(device)
    return peaks


def _skip(net: str, task: str, mode: str, batch: int, reason: str, status: str = "skipped") -> Dict[str, Any]:
    return {"net": net, "input": list(NETS[net].input_shape), "task": task, "mode": mode, "batch": batch,
            "status": status, "reason": reason}


def run_case(net: str, task: str, mode: str, batch: int, device: torch.device, cfg: BenchConfig,
             peaks: Dict[str, Dict[str, Any]], clock: Any = None, deadline: Optional[float] = None) -> Dict[str, Any]:
    """Time one case; a dict with the statistics (or the reason it was not measured)."""
    m, info = MODES[mode], NETS[net]
    clock = clock or _clock(device)
    t_case = time.perf_counter()
    _free(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(cfg.seed)
    with precision_flags(m.tf32, benchmark=True if device.type == "cuda" else None):
        with torch.device(device):  # parameters initialised on the device itself
            model = info.build()
        fmt = torch.channels_last if m.channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        x = torch.randn(batch, *info.input_shape, device=device).contiguous(memory_format=fmt)
        y = torch.randint(0, info.num_classes, (batch,), device=device)
        if m.compile:
            torch._dynamo.reset()  # one compile cache per case: no recompiles, no cache-limit fallback
            runner = torch.compile(model, dynamic=False, mode=cfg.compile_mode)
        else:
            runner = model

        def amp():
            return torch.autocast(device.type, dtype=torch.bfloat16) if m.bf16_autocast else contextlib.nullcontext()

        if task == "train":
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)

            def step():
                opt.zero_grad(set_to_none=True)
                with amp():
                    loss = F.cross_entropy(runner(x), y)
                loss.backward()
                opt.step()
        else:
            model.eval()

            def step():
                with torch.no_grad(), amp():
                    runner(x)

        _sync(device)
        t0 = time.perf_counter()
        step()  # compiles (compile mode), autotunes cuDNN, grows the allocator
        _sync(device)
        first_call_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        step()
        _sync(device)
        second_s = time.perf_counter() - t0
        if deadline is not None:
            estimate = second_s * cfg.warmup + (cfg.samples + 2) * max(cfg.min_sample_s, second_s)
            if time.perf_counter() + estimate > deadline:
                return _skip(net, task, mode, batch, f"would run past the time budget "
                                                     f"(~{estimate:.1f} s needed, one call took {second_s:.2f} s)")
        timing = measure(step, clock, warmup=max(0, cfg.warmup - 1), min_sample_s=cfg.min_sample_s,
                         samples=cfg.samples, max_reps=cfg.max_reps)
    peak_mem = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    med = timing.stats.median
    flops = count_flops(net, batch, task)
    peak = peaks.get(m.precision, {})
    peak_tflops = peak.get("tflops") if peak.get("status") == "ok" else None
    tflops = flops / med / 1e12
    return {
        "net": net, "input": list(info.input_shape), "task": task, "mode": mode, "batch": batch, "status": "ok",
        "ms": med * 1e3, "ms_min": timing.stats.min * 1e3, "ms_max": timing.stats.max * 1e3,
        "ms_q1": timing.stats.q1 * 1e3, "ms_q3": timing.stats.q3 * 1e3,
        "samples_ms": [s * 1e3 for s in timing.samples_s], "reps": timing.reps,
        "images_per_s": batch / med, "flops_per_batch": flops, "tflops": tflops,
        "peak_precision": m.precision, "peak_tflops": peak_tflops,
        "pct_peak": 100 * tflops / peak_tflops if peak_tflops else None,
        "peak_mem_mb": peak_mem, "first_call_s": first_call_s,
        "compile_s": max(0.0, first_call_s - med) if m.compile else None,
        "wall_s": time.perf_counter() - t_case,
    }


def run_benchmark(config: Any = "auto", device: Any = None, out: Any = None, verbose: bool = True,
                  **changes: Any) -> BenchResult:
    """Run a preset (name) or a :class:`BenchConfig`; return a :class:`BenchResult`.

    With ``out`` (a folder or ``.json`` path) the JSON is rewritten after every
    case, so a run cut short still leaves every case it finished
    (``complete: false``).
    """
    cfg = preset(config, **changes) if isinstance(config, str) else replace(config, **changes).check()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    log = (lambda s: print(s, flush=True)) if verbose else (lambda s: None)
    t_start = time.perf_counter()
    deadline = t_start + cfg.budget_s if cfg.budget_s else None
    clock = _clock(device)
    threads_before = torch.get_num_threads()
    if cfg.cpu_threads:
        torch.set_num_threads(cfg.cpu_threads)
    pinned = device.type == "cpu" and cfg.pin_malloc and pin_malloc()
    try:
        return _run(cfg, device, out, log, t_start, deadline, clock, pinned)
    finally:
        torch.set_num_threads(threads_before)


def _run(cfg: BenchConfig, device: torch.device, out: Any, log: Callable[[str], None], t_start: float,
         deadline: Optional[float], clock: Any, malloc_pinned: bool = False) -> BenchResult:
    env = environment(device)
    if device.type == "cpu":
        env["malloc_pinned"] = malloc_pinned
    result = BenchResult(preset=cfg.name, env=env, peaks={}, cases=[],
                         config=_config_dict(cfg), complete=False, source="live")
    log(f"{result.label} — {describe(cfg).splitlines()[0]}")

    def save():
        result.total_s = time.perf_counter() - t_start
        if out is not None:
            result.save(out)

    with precision_flags(False, benchmark=True if device.type == "cuda" else None):  # restores all flags at the end
        result.peaks = measure_peaks(device, cfg, clock, log)
        save()
        for net, task, batch, mode in cfg.cases():
            reason = mode_skip_reason(mode, device, cfg.force_modes)
            now = time.perf_counter()
            if reason is None and deadline is not None:
                need = cfg.compile_reserve_s if MODES[mode].compile else 0.0
                if now + need > deadline:
                    reason = (f"time budget: {cfg.budget_s:g} s for preset {cfg.name}, {now - t_start:.0f} s used"
                              + (f", a compile needs ~{need:g} s" if need else ""))
            if reason:
                case = _skip(net, task, mode, batch, reason)
            else:
                try:
                    case = run_case(net, task, mode, batch, device, cfg, result.peaks, clock, deadline)
                except Exception as err:  # out of memory, a compile failure: recorded, the run goes on
                    case = _skip(net, task, mode, batch, _error_text(err), status="error")
                finally:
                    if MODES[mode].compile:
                        torch._dynamo.reset()
                    _free(device)
                if case["status"] == "ok":
                    log(f"{net:7s} {task:5s} {mode:15s} b{batch:<6d} {case['ms']:9.3f} ms  "
                        f"{case['images_per_s']:12,.0f} img/s  {case['tflops']:8.3g} TFLOP/s"
                        + (f"  compile {case['compile_s']:.1f} s" if case.get("compile_s") is not None else ""))
                else:
                    log(f"{net:7s} {task:5s} {mode:15s} b{batch:<6d} {case['status']}: {case['reason']}")
            result.cases.append(case)
            save()
    result.complete = True
    save()
    return result


def _error_text(err: BaseException) -> str:
    first = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}"


def _config_dict(cfg: BenchConfig) -> Dict[str, Any]:
    d = asdict(cfg)
    d["batches"] = {k: list(v) for k, v in cfg.batches.items()}
    d["first"] = [list(c) for c in cfg.first]
    d["optimizer"] = "SGD(momentum=0.9)"
    d["loss"] = "cross_entropy"
    return d


# --------------------------------------------------------------------------- command line


def _ints(text: str) -> Tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _names(text: str) -> Tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m classicnets.bench",
        description="Time LeNet5 and AlexNet (inference and a training step) in fp32, TF32, bf16+channels_last "
                    "and torch.compile, with a matmul peak measured in the same run.",
        epilog="The record for the book: python -m classicnets.bench --preset gpu-record --out classicnets/records/")
    p.add_argument("--preset", default="auto", help=f"one of {', '.join(PRESETS)}, or auto "
                   "(chapter with a GPU, cpu-small without); default auto")
    p.add_argument("--device", default=None, help="cuda, cuda:1 or cpu (default: cuda if available)")
    p.add_argument("--nets", type=_names, help="comma-separated: lenet5,alexnet")
    p.add_argument("--tasks", type=_names, help="comma-separated: train,infer")
    p.add_argument("--modes", type=_names, help=f"comma-separated: {','.join(MODES)}")
    p.add_argument("--lenet5-batches", type=_ints, help="e.g. 256,8192")
    p.add_argument("--alexnet-batches", type=_ints, help="e.g. 64,512")
    p.add_argument("--samples", type=int, help="samples per case (the median is reported)")
    p.add_argument("--min-sample-ms", type=float, help="repeat calls until a sample lasts this long")
    p.add_argument("--budget", type=float, help="seconds; cases that would start later are skipped (0: none)")
    p.add_argument("--compile-mode", help="torch.compile mode, e.g. max-autotune (default: default mode)")
    p.add_argument("--force-modes", action="store_true", help="run bf16 and compiled modes on a CPU too")
    p.add_argument("--threads", type=int, help="CPU threads for the run (torch.set_num_threads)")
    p.add_argument("--no-pin-malloc", action="store_true", help="leave glibc's malloc adaptive on a CPU")
    p.add_argument("--out", help="write the JSON record here (a folder, or a .json path); rewritten after each case")
    p.add_argument("--list", action="store_true", help="describe the presets and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-case progress lines")
    a = p.parse_args(argv)

    if a.list:
        for name in PRESETS:
            print(describe(preset(name)), end="\n\n")
        return 0
    changes: Dict[str, Any] = {}
    cfg = preset(a.preset)
    if a.nets:
        changes["nets"] = a.nets
    if a.tasks:
        changes["tasks"] = a.tasks
    if a.modes:
        changes["modes"] = a.modes
    if a.lenet5_batches or a.alexnet_batches:
        batches = dict(cfg.batches)
        if a.lenet5_batches:
            batches["lenet5"] = a.lenet5_batches
        if a.alexnet_batches:
            batches["alexnet"] = a.alexnet_batches
        changes["batches"] = batches
        changes["compile_batches"] = None if cfg.compile_batches is None else {
            net: tuple(b for b in batches[net] if b in cfg.compile_batches.get(net, ())) or batches[net][:1]
            for net in batches}
        changes["first"] = ()
    if a.samples:
        changes["samples"] = a.samples
    if a.min_sample_ms is not None:
        changes["min_sample_s"] = a.min_sample_ms / 1e3
    if a.budget is not None:
        changes["budget_s"] = a.budget or None
    if a.compile_mode:
        changes["compile_mode"] = a.compile_mode
    if a.force_modes:
        changes["force_modes"] = True
    if a.threads:
        changes["cpu_threads"] = a.threads
    if a.no_pin_malloc:
        changes["pin_malloc"] = False
    device = torch.device(a.device) if a.device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if a.out and device.type != "cuda":
        target = Path(a.out).resolve()
        if target == RECORDS_DIR or RECORDS_DIR in target.parents:
            p.error(f"{RECORDS_DIR} holds GPU records, shown by the book as such: write a {device.type} run elsewhere")
    result = run_benchmark(cfg, device=device, out=a.out, verbose=not a.quiet, **changes)
    print()
    print(result.label)
    print(result.table("text"))
    if result.on_gpu:
        print()
        print(reference_text(result))
    if result.path:
        print(f"\nwrote {result.path}")
    print(f"total {result.total_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
