"""The timing harness (classicnets.bench): clocks and measure on a fake clock, presets, a tiny CPU run, the
independent cross-check, and the command line's refusals.

On a CPU with tiny configurations; no timed assertions (speed claims belong to the benchmark's own records).
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from classicnets import bench, records, timing_results
from classicnets.arithmetic import trace
from classicnets.specs import alexnet_spec, lenet5_spec

CPU = torch.device("cpu")
SPECS = {"lenet5": lenet5_spec, "alexnet": alexnet_spec}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny run over both networks, both tasks, all modes (only fp32 runs on a CPU)."""
    out = tmp_path_factory.mktemp("record")
    result = bench.run_benchmark("tiny", device="cpu", out=out, verbose=False, cpu_threads=1)
    return result, out


# --------------------------------------------------------------------------- a run


def test_tiny_run_is_well_formed(tiny):
    result, _ = tiny
    assert result.complete and result.source == "live" and result.preset == "tiny"
    ok = result.ok()
    assert {(c["net"], c["task"]) for c in ok} == {(n, t) for n in ("lenet5", "alexnet") for t in ("train", "infer")}
    assert all(c["mode"] == "fp32" for c in ok)
    for c in ok:
        for key in (
            "ms",
            "ms_min",
            "ms_max",
            "ms_q1",
            "ms_q3",
            "images_per_s",
            "tflops",
            "first_call_s",
            "pct_peak",
            "peak_tflops",
        ):
            assert isinstance(c[key], float) and math.isfinite(c[key]) and c[key] > 0, key
        assert c["ms_min"] <= c["ms_q1"] <= c["ms"] <= c["ms_q3"] <= c["ms_max"]
        assert len(c["samples_ms"]) == 5 and c["reps"] >= 1
        assert c["images_per_s"] == pytest.approx(c["batch"] / (c["ms"] / 1e3))
        assert c["tflops"] == pytest.approx(c["flops_per_batch"] / (c["ms"] / 1e3) / 1e12)
        assert c["flops_per_batch"] == bench.count_flops(c["net"], c["batch"], c["task"])
        assert c["peak_precision"] == "fp32" and c["pct_peak"] == pytest.approx(100 * c["tflops"] / c["peak_tflops"])
        assert c["peak_mem_mb"] is None and c["compile_s"] is None  # no CUDA, no compile
        assert c["input"] == list(bench.NETS[c["net"]][1])
    assert result.peaks["fp32"]["status"] == "ok" and result.peaks["fp32"]["tflops"] > 0
    assert result.total_s > 0


def test_environment_is_recorded(tiny):
    env = tiny[0].env
    assert env["device_type"] == "cpu" and env["device_name"].startswith("CPU")
    assert env["torch"] == torch.__version__
    assert env["date"][:4].isdigit() and "T" in env["date"]
    assert env["cpu_threads"] == 1
    import platform

    assert env["malloc_pinned"] is (platform.libc_ver()[0] == "glibc")  # CPU runs pin glibc's malloc


def test_the_thread_count_is_set_for_the_run_and_restored():
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # a distinctive value, not the machine's default
    try:
        r = bench.run_benchmark(
            "tiny", device="cpu", verbose=False, cpu_threads=1, nets=("lenet5",), tasks=("infer",), modes=("fp32",)
        )
        assert r.env["cpu_threads"] == 1 and torch.get_num_threads() == 3
        rows = bench.cross_check(
            [("lenet5", "infer", "fp32", 4)], "cpu", min_s=0.001, rounds=1, threads=1, log=lambda s: None
        )
        assert rows[0]["status"] == "ok" and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_an_unwritable_out_is_refused_before_any_work(tmp_path):
    (tmp_path / "results.txt").write_text("")
    with pytest.raises(ValueError, match="results.txt is a file, not a folder or a .json path"):
        bench.run_benchmark(
            "tiny", device="cpu", verbose=False, out=tmp_path / "results.txt", budget_s=1e-9
        )  # would end at once, but is not started


def test_pinning_malloc_can_be_left_off():
    result = bench.run_benchmark(
        "tiny",
        device="cpu",
        verbose=False,
        cpu_threads=1,
        pin_malloc=False,
        nets=("lenet5",),
        tasks=("infer",),
        modes=("fp32",),
    )
    assert result.env["malloc_pinned"] is False and result.complete


def test_json_round_trip(tiny):
    result, out = tiny
    files = list(out.glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith("tiny_cpu")
    loaded = timing_results.BenchResult.from_record(records.load(files[0], "timing"))
    assert loaded.source == "recorded" and loaded.path == str(files[0])
    assert loaded.to_record().to_dict() == json.loads(json.dumps(result.to_record().to_dict()))
    assert loaded.env["device_name"] == result.env["device_name"]
    assert loaded.env["torch"] == torch.__version__ and loaded.env["date"] == result.env["date"]
    assert not list(out.glob(".tmp-*")), "atomic save leaves no temporary file"


def test_modes_unavailable_on_cpu_are_skipped_with_a_reason(tiny):
    result, _ = tiny
    skipped = result.skipped()
    assert {c["mode"] for c in skipped} == {"tf32", "bf16-cl", "bf16-cl-compile"}
    assert len(skipped) == 3 * 4
    for c in skipped:
        assert c["status"] == "skipped" and len(c["reason"]) > 20
    assert "TF32" in bench.mode_skip_reason("tf32", CPU)
    assert "bf16" in bench.mode_skip_reason("bf16-cl", CPU)
    assert "torch.compile" in bench.mode_skip_reason("bf16-cl-compile", CPU)
    assert bench.mode_skip_reason("fp32", CPU) is None
    # forcing runs bf16 and compile on a CPU, but TF32 does not exist there
    assert bench.mode_skip_reason("bf16-cl", CPU, force=True) is None
    assert bench.mode_skip_reason("tf32", CPU, force=True) is not None
    assert result.peaks["tf32"]["status"] == "skipped" and result.peaks["tf32"]["reason"]


def test_forced_bf16_channels_last_runs_on_cpu():
    r = bench.run_benchmark(
        "tiny",
        device="cpu",
        verbose=False,
        nets=("lenet5",),
        tasks=("infer",),
        modes=("bf16-cl",),
        force_modes=True,
        cpu_threads=1,
    )
    (case,) = r.cases
    assert case["status"] == "ok" and case["peak_precision"] == "bf16"
    assert r.peaks["bf16"]["status"] == "ok"


def test_budget_skips_remaining_cases_with_a_reason():
    r = bench.run_benchmark(
        "tiny", device="cpu", verbose=False, nets=("lenet5",), modes=("fp32",), budget_s=1e-9, cpu_threads=1
    )
    assert r.complete and not r.ok()
    assert all(c["status"] == "skipped" and "time budget" in c["reason"] for c in r.cases)


def test_a_failing_case_is_recorded_and_the_run_goes_on(monkeypatch):
    real = bench.run_case

    def flaky(net, *args, **kwargs):
        if net == "alexnet":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB\nmore detail")
        return real(net, *args, **kwargs)

    monkeypatch.setattr(bench, "run_case", flaky)
    r = bench.run_benchmark("tiny", device="cpu", verbose=False, modes=("fp32",), tasks=("infer",), cpu_threads=1)
    by_net = {c["net"]: c for c in r.cases}
    assert by_net["lenet5"]["status"] == "ok"
    assert by_net["alexnet"]["status"] == "error"
    assert by_net["alexnet"]["reason"] == "OutOfMemoryError: CUDA out of memory. Tried to allocate 9 GiB"
    assert "- error: fp32 (alexnet infer b1) — OutOfMemoryError: CUDA out of memory" in r.table()


# --------------------------------------------------------------------------- FLOPs against the arithmetic


@pytest.mark.parametrize("net", ["lenet5", "alexnet"])
@pytest.mark.parametrize("batch", [1, 3])
def test_forward_flops_are_twice_the_arithmetic_macs(net, batch):
    macs = trace(SPECS[net]()).total_macs
    assert bench.count_flops(net, batch, "infer") == 2 * macs * batch


def test_seed_macs_per_image():
    assert trace(lenet5_spec()).total_macs == 416_520
    assert trace(alexnet_spec()).total_macs == 1_135_256_096


@pytest.mark.parametrize("net", ["lenet5", "alexnet"])
def test_training_flops_are_three_forwards_less_the_first_input_gradient(net):
    # backward = gradient w.r.t. weights (= forward) + w.r.t. inputs (= forward), except that
    # no gradient flows into the image: conv1's input gradient is not computed
    t = trace(SPECS[net]())
    expected = 2 * (3 * t.total_macs - t.row("conv1").macs)
    assert bench.count_flops(net, 2, "train") == 2 * expected


# --------------------------------------------------------------------------- timing statistics on a fake clock


class FakeClock:
    """Time advances only when the timed function says so."""

    def __init__(self):
        self.now = 0.0
        self.syncs = 0

    def timer(self):
        return self.now

    def sync(self):
        self.syncs += 1


def test_summarize():
    s = bench.summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.min, s.max, s.q1, s.q3, s.n) == (3.0, 1.0, 5.0, 2.0, 4.0, 5)
    assert bench.summarize([2.0, 1.0]).median == 1.5
    one = bench.summarize([7.0])
    assert one.median == one.q1 == one.q3 == one.min == one.max == 7.0
    with pytest.raises(ValueError):
        bench.summarize([])


def test_measure_calibrates_reps_and_takes_the_median_per_call():
    fake = FakeClock()
    clock = bench.WallClock(timer=fake.timer, sync=fake.sync)

    def fn():
        fake.now += 0.004  # 4 ms a call

    t = bench.measure(fn, clock, warmup=2, min_sample_s=0.05, samples=5)
    assert t.reps * 0.004 >= 0.05 and t.reps < 2 * 0.05 / 0.004  # long enough, not far beyond
    assert t.stats.median == pytest.approx(0.004) and t.stats.n == 5
    assert t.calls == 2 + 1 + t.reps + 5 * t.reps  # warm-up, first calibration, second calibration, samples
    assert fake.syncs >= 2 * (5 + 2)  # before and after every sample


def test_measure_median_ignores_an_outlier_sample():
    fake = FakeClock()
    clock = bench.WallClock(timer=fake.timer, sync=fake.sync)
    durations = iter([0.01] * 3 + [0.010, 0.011, 0.5, 0.012, 0.009])  # warm-up, calibration, 5 samples

    def fn():
        fake.now += next(durations)

    t = bench.measure(fn, clock, warmup=2, min_sample_s=0.0, samples=5)
    assert t.reps == 1
    assert t.stats.median == pytest.approx(0.011) and t.stats.max == pytest.approx(0.5)
    assert t.stats.min == pytest.approx(0.009)
    assert t.samples_s == pytest.approx((0.010, 0.011, 0.5, 0.012, 0.009))


def test_measure_respects_max_reps():
    fake = FakeClock()
    clock = bench.WallClock(timer=fake.timer, sync=fake.sync)

    def fn():
        fake.now += 1e-9

    t = bench.measure(fn, clock, warmup=0, min_sample_s=1.0, samples=5, max_reps=1000)
    assert t.reps == 1000


def test_precision_flags_set_both_and_restore_even_after_an_error():
    before = bench.tf32_state()
    for tf32 in (True, False):
        with bench.precision_flags(tf32, benchmark=True):
            assert bench.tf32_active() == (tf32, tf32)  # matmuls and convolutions alike
            assert torch.backends.cudnn.benchmark
        assert bench.tf32_state() == before
    with pytest.raises(RuntimeError):
        with bench.precision_flags(True, benchmark=not before[-1]):
            raise RuntimeError("boom")
    assert bench.tf32_state() == before


def test_precision_flags_work_where_the_new_tf32_api_was_used():
    matmul = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    if matmul is None:
        pytest.skip("torch < 2.9 has no fp32_precision API")
    conv, rnn = torch.backends.cudnn.conv.fp32_precision, torch.backends.cudnn.rnn.fp32_precision
    try:
        torch.backends.cuda.matmul.fp32_precision = "tf32"  # legacy allow_tf32 can no longer be read
        before = bench.tf32_state()
        with bench.precision_flags(False):
            assert bench.tf32_active() == (False, False)
        assert bench.tf32_state() == before
    finally:
        torch.backends.cuda.matmul.fp32_precision = matmul
        torch.backends.cudnn.conv.fp32_precision, torch.backends.cudnn.rnn.fp32_precision = conv, rnn


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", bench.PRESETS)
def test_presets_are_consistent(name):
    cfg = bench.preset(name)
    cases = cfg.cases()
    assert len(cases) == len(set(cases))
    assert list(cases[: len(cfg.first)]) == list(cfg.first), "every 'first' case exists and runs first"
    compiled = [i for i, c in enumerate(cases) if bench.MODES[c[3]].compile and c not in cfg.first]
    eager = [i for i, c in enumerate(cases) if not bench.MODES[c[3]].compile and c not in cfg.first]
    assert not compiled or not eager or min(compiled) > max(eager)
    assert cfg.samples >= 5
    assert bench.describe(cfg).startswith(f"preset {name}")


def test_gpu_presets_cover_the_reference_cases():
    cases = set(bench.preset("gpu-record").cases())
    for net, task, mode, batch in timing_results.REFERENCE["cases"]:
        assert (net, task, batch, mode) in cases
    assert bench.preset("gpu-record").budget_s <= 480 and bench.preset("chapter").budget_s <= 60


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="preset"):
        bench.preset("nope")
    with pytest.raises(ValueError, match="mode"):
        bench.preset("tiny", modes=("fp64",))
    with pytest.raises(ValueError, match="batch sizes ≥ 1"):
        bench.preset("tiny", batches={"lenet5": (0,), "alexnet": (1,)})


# --------------------------------------------------------------------------- records


# --------------------------------------------------------------------------- command line


def test_cli(tmp_path, capsys):
    assert bench.main(["--list"]) == 0
    assert "preset gpu-record" in capsys.readouterr().out
    assert (
        bench.main(
            [
                "--preset",
                "tiny",
                "--device",
                "cpu",
                "--nets",
                "lenet5",
                "--tasks",
                "infer",
                "--modes",
                "fp32,tf32",
                "--threads",
                "1",
                "-q",
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "lenet5  infer  fp32" in out and "wrote" in out
    rec = records.load(tmp_path / "r.json", "timing")
    assert [c["status"] for c in rec.payload["cases"]] == ["ok", "skipped"]
    assert rec.command.startswith("python -m classicnets.bench --preset tiny")


def _read_only_dir(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "r.json").write_text("{}")
    (ro / "r.json").chmod(0o444)
    return ro / "r.json"


BAD_FLAGS = [
    (["--samples", "0"], "--samples: 0 is too small"),
    (["--samples", "-3"], "--samples: -3 is too small"),
    (["--threads", "0"], "--threads: 0 is too small"),
    (["--samples", "2.5"], "'2.5' is not an integer"),
    (["--lenet5-batches", "256,0"], "--lenet5-batches: 0 is too small"),
    (["--alexnet-batches", ","], "--alexnet-batches: give at least one value"),
    (["--min-sample-ms", "-1"], "--min-sample-ms: -1 must be a finite number ≥ 0"),
    (["--budget", "nan"], "--budget: nan must be a finite number"),
    (["--preset", "huge"], "--preset: invalid choice: 'huge'"),
    (["--nets", "lenet5,vgg"], "--nets: unknown 'vgg': choose from lenet5, alexnet"),
    (["--tasks", "eval"], "--tasks: unknown 'eval'"),
    (["--modes", "fp64"], "--modes: unknown 'fp64'"),
    (["--compile-mode", "fast"], "--compile-mode: invalid choice"),
    (["--device", "tpu"], "--device: 'tpu' is not a device"),
    (["--device", "mps"], "--device: mps: only cpu and cuda are set up"),
]


@pytest.mark.parametrize("argv, message", BAD_FLAGS)
def test_cli_refuses_a_bad_value_before_any_work(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(SystemExit) as stop:
        bench.main(["--preset", "tiny", *argv] if "--preset" not in argv else argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m classicnets.bench") and message in err, err


def test_cli_refuses_cuda_without_a_gpu_and_unwritable_outputs(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "run_benchmark", lambda *a, **k: pytest.fail("work started"))
    cases = [
        (["--out", str(_read_only_dir(tmp_path))], "--out: ", "is read-only"),
        (["--device", "cpu", "--out", str(records.RECORDS_DIR)], "--out: ", "holds GPU records"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "--device: cuda asked for", "no CUDA GPU"))
    (tmp_path / "file").write_text("")
    cases.append((["--out", str(tmp_path / "file" / "r.json")], "--out: ", "cannot be written"))
    for argv, flag, why in cases:
        with pytest.raises(SystemExit) as stop:
            bench.main(["--preset", "tiny", *argv])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and flag in err and why in err, err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_path_runs():
    r = bench.run_benchmark("tiny", device="cuda", verbose=False, modes=("fp32", "tf32", "bf16-cl"), peak_n=1024)
    assert all(c["status"] == "ok" for c in r.cases)
    assert all(c["peak_mem_mb"] > 0 for c in r.cases)
    assert r.env["device_type"] == "cuda" and r.env["cuda"]


# --------------------------------------------------------------------------- the independent cross-check


def test_cross_check_compares_three_measurements():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = bench.BenchConfig(name="check", warmup=1, min_sample_s=0.002, samples=3)
        row = bench.cross_check_case(("lenet5", "infer", "fp32", 8), "cpu", 0.002, rounds=2, cfg=cfg)
        skipped = bench.cross_check_case(("lenet5", "train", "tf32", 8), "cpu", 0.002, cfg=cfg)
    finally:
        torch.set_num_threads(threads)
    assert row["status"] == "ok" and all(len(v) == 2 for v in row["rounds_ms"].values())
    for key in ("harness_ms", "timer_ms", "loop_ms"):
        assert row[key] > 0
    assert row["vs_timer_pct"] == pytest.approx(100 * (row["harness_ms"] / row["timer_ms"] - 1))
    assert timing_results.largest_deviation([row, skipped]) == max(abs(row["vs_timer_pct"]), abs(row["vs_loop_pct"]))
    assert skipped["status"] == "skipped" and "TF32" in skipped["reason"]


def test_cross_check_prints_a_row_per_case_and_reports_progress():
    lines, seen = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = bench.cross_check(
            [("lenet5", "infer", "fp32", 4), ("lenet5", "infer", "tf32", 4)],
            "cpu",
            min_s=0.001,
            rounds=1,
            log=lines.append,
            on_row=lambda r: seen.append(len(r)),
        )
    finally:
        torch.set_num_threads(threads)
    assert seen == [1, 2] and [r["status"] for r in rows] == ["ok", "skipped"]
    assert lines[0].split()[:2] == ["case", "harness"] and lines[1].startswith("lenet5 infer fp32 4")
    assert "skipped" in lines[2] and lines[-1].startswith("largest deviation")


def test_independent_step_does_the_harness_work():
    """The step the cross-check times changes the same parameters the same way as a hand-written one."""
    import torch.nn.functional as F

    from classicnets.models import lenet5

    step = bench.independent_step("lenet5", "train", "fp32", 4, torch.device("cpu"))
    cells = [c.cell_contents for c in step.__closure__]  # the closure holds the model and optimizer it trains
    net = next(c for c in cells if isinstance(c, torch.nn.Module))
    before = [p.detach().clone() for p in net.parameters()]
    step()
    torch.manual_seed(0)
    ref = lenet5("blog")
    x = torch.randn(4, 1, 32, 32)
    y = torch.randint(0, 10, (4,))
    for p, q in zip(before, ref.parameters()):
        assert torch.equal(p, q)  # same seed, same initial weights
    F.cross_entropy(ref(x), y).backward()
    grads = [p.grad for p in ref.parameters()]
    for p0, p1, g in zip(before, net.parameters(), grads):
        assert torch.allclose(p1, p0 - 1e-3 * g, atol=1e-6)  # SGD's first step: momentum buffer = gradient
    with pytest.raises(ValueError, match="unknown net"):
        bench.independent_step("vgg", "train", "fp32", 4, torch.device("cpu"))


def test_pin_malloc_works_on_glibc():
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert bench.pin_malloc() is True


def test_cross_check_record_round_trip(tmp_path):
    rows = [
        {
            "case": ["lenet5", "infer", "fp32", 8],
            "status": "ok",
            "harness_ms": 1.0,
            "timer_ms": 1.02,
            "loop_ms": 0.97,
            "vs_timer_pct": -1.96,
            "vs_loop_pct": 3.09,
        }
    ]
    record = bench.check_record(rows, "cpu", rounds=3, threads=1, command="python benchmarks/check_harness.py")
    assert record.payload["largest_deviation_pct"] == pytest.approx(3.09) and record.payload["threads"] == 1
    back = records.load(record.save(tmp_path / "check.json"), "harness_check")
    assert back.payload == json.loads(json.dumps(record.payload)) and back.command == record.command
    assert "largest deviation: 3.1% (within 5%)" in timing_results.check_text(back)
