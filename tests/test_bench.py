"""The timing harness (classicnets.bench) and its reports (classicnets.bench_report).

On a CPU with tiny configurations; no timed assertions (speed claims belong to
the benchmark's own records, not to tests).
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from classicnets import bench, bench_report, timing
from classicnets.arithmetic import trace
from classicnets.bench_report import BenchResult, RecordError, load_record, load_records
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
        for key in ("ms", "ms_min", "ms_max", "ms_q1", "ms_q3", "images_per_s", "tflops", "first_call_s",
                    "pct_peak", "peak_tflops"):
            assert isinstance(c[key], float) and math.isfinite(c[key]) and c[key] > 0, key
        assert c["ms_min"] <= c["ms_q1"] <= c["ms"] <= c["ms_q3"] <= c["ms_max"]
        assert len(c["samples_ms"]) == 5 and c["reps"] >= 1
        assert c["images_per_s"] == pytest.approx(c["batch"] / (c["ms"] / 1e3))
        assert c["tflops"] == pytest.approx(c["flops_per_batch"] / (c["ms"] / 1e3) / 1e12)
        assert c["flops_per_batch"] == bench.count_flops(c["net"], c["batch"], c["task"])
        assert c["peak_precision"] == "fp32" and c["pct_peak"] == pytest.approx(100 * c["tflops"] / c["peak_tflops"])
        assert c["peak_mem_mb"] is None and c["compile_s"] is None  # no CUDA, no compile
        assert c["input"] == list(bench.NETS[c["net"]].input_shape)
    assert result.peaks["fp32"]["status"] == "ok" and result.peaks["fp32"]["tflops"] > 0
    assert result.total_s > 0


def test_environment_is_recorded(tiny):
    env = tiny[0].env
    assert env["device_type"] == "cpu" and env["device_name"].startswith("CPU")
    assert env["torch"] == torch.__version__
    assert env["date"][:4].isdigit() and "T" in env["date"]
    assert env["cpu_threads"] == 1
    assert torch.get_num_threads() >= 1  # restored
    import platform

    assert env["malloc_pinned"] is (platform.libc_ver()[0] == "glibc")  # CPU runs pin glibc's malloc


def test_pinning_malloc_can_be_left_off():
    result = bench.run_benchmark("tiny", device="cpu", verbose=False, cpu_threads=1, pin_malloc=False,
                                 nets=("lenet5",), tasks=("infer",), modes=("fp32",))
    assert result.env["malloc_pinned"] is False and result.complete


def test_json_round_trip(tiny):
    result, out = tiny
    files = list(out.glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith("tiny_cpu")
    loaded = load_record(files[0])
    assert loaded.source == "recorded" and loaded.path == str(files[0])
    assert loaded.to_dict() == json.loads(json.dumps(result.to_dict()))
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
    r = bench.run_benchmark("tiny", device="cpu", verbose=False, nets=("lenet5",), tasks=("infer",),
                            modes=("bf16-cl",), force_modes=True, cpu_threads=1)
    (case,) = r.cases
    assert case["status"] == "ok" and case["peak_precision"] == "bf16"
    assert r.peaks["bf16"]["status"] == "ok"


def test_budget_skips_remaining_cases_with_a_reason():
    r = bench.run_benchmark("tiny", device="cpu", verbose=False, nets=("lenet5",), modes=("fp32",),
                            budget_s=1e-9, cpu_threads=1)
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
    s = timing.summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.min, s.max, s.q1, s.q3, s.n) == (3.0, 1.0, 5.0, 2.0, 4.0, 5)
    assert timing.summarize([2.0, 1.0]).median == 1.5
    one = timing.summarize([7.0])
    assert one.median == one.q1 == one.q3 == one.min == one.max == 7.0
    with pytest.raises(ValueError):
        timing.summarize([])


def test_measure_calibrates_reps_and_takes_the_median_per_call():
    fake = FakeClock()
    clock = timing.WallClock(timer=fake.timer, sync=fake.sync)

    def fn():
        fake.now += 0.004  # 4 ms a call

    t = timing.measure(fn, clock, warmup=2, min_sample_s=0.05, samples=5)
    assert t.reps * 0.004 >= 0.05 and t.reps < 2 * 0.05 / 0.004  # long enough, not far beyond
    assert t.stats.median == pytest.approx(0.004) and t.stats.n == 5
    assert t.calls == 2 + 1 + t.reps + 5 * t.reps  # warm-up, first calibration, second calibration, samples
    assert fake.syncs >= 2 * (5 + 2)  # before and after every sample


def test_measure_median_ignores_an_outlier_sample():
    fake = FakeClock()
    clock = timing.WallClock(timer=fake.timer, sync=fake.sync)
    durations = iter([0.01] * 3 + [0.010, 0.011, 0.5, 0.012, 0.009])  # warm-up, calibration, 5 samples

    def fn():
        fake.now += next(durations)

    t = timing.measure(fn, clock, warmup=2, min_sample_s=0.0, samples=5)
    assert t.reps == 1
    assert t.stats.median == pytest.approx(0.011) and t.stats.max == pytest.approx(0.5)
    assert t.stats.min == pytest.approx(0.009)
    assert t.samples_s == pytest.approx((0.010, 0.011, 0.5, 0.012, 0.009))


def test_measure_respects_max_reps():
    fake = FakeClock()
    clock = timing.WallClock(timer=fake.timer, sync=fake.sync)

    def fn():
        fake.now += 1e-9

    t = timing.measure(fn, clock, warmup=0, min_sample_s=1.0, samples=5, max_reps=1000)
    assert t.reps == 1000


def test_precision_flags_set_both_and_restore_even_after_an_error():
    before = timing.tf32_state()
    for tf32 in (True, False):
        with timing.precision_flags(tf32, benchmark=True):
            assert timing.tf32_active() == (tf32, tf32)  # matmuls and convolutions alike
            assert torch.backends.cudnn.benchmark
        assert timing.tf32_state() == before
    with pytest.raises(RuntimeError):
        with timing.precision_flags(True, benchmark=not before[-1]):
            raise RuntimeError("boom")
    assert timing.tf32_state() == before


def test_precision_flags_work_where_the_new_tf32_api_was_used():
    matmul = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    if matmul is None:
        pytest.skip("torch < 2.9 has no fp32_precision API")
    conv, rnn = torch.backends.cudnn.conv.fp32_precision, torch.backends.cudnn.rnn.fp32_precision
    try:
        torch.backends.cuda.matmul.fp32_precision = "tf32"  # legacy allow_tf32 can no longer be read
        before = timing.tf32_state()
        with timing.precision_flags(False):
            assert timing.tf32_active() == (False, False)
        assert timing.tf32_state() == before
    finally:
        torch.backends.cuda.matmul.fp32_precision = matmul
        torch.backends.cudnn.conv.fp32_precision, torch.backends.cudnn.rnn.fp32_precision = conv, rnn


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize("name", bench.PRESETS)
def test_presets_are_consistent(name):
    cfg = bench.preset(name)
    cases = cfg.cases()
    assert len(cases) == len(set(cases))
    assert list(cases[:len(cfg.first)]) == list(cfg.first), "every 'first' case exists and runs first"
    compiled = [i for i, c in enumerate(cases) if bench.MODES[c[3]].compile and c not in cfg.first]
    eager = [i for i, c in enumerate(cases) if not bench.MODES[c[3]].compile and c not in cfg.first]
    assert not compiled or not eager or min(compiled) > max(eager)
    assert cfg.samples >= 5
    assert bench.describe(cfg).startswith(f"preset {name}")


def test_gpu_presets_cover_the_reference_cases():
    cases = set(bench.preset("gpu-record").cases())
    for net, task, mode, batch in bench_report.REFERENCE["cases"]:
        assert (net, task, batch, mode) in cases
    assert bench.preset("gpu-record").budget_s <= 480 and bench.preset("chapter").budget_s <= 60


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="preset"):
        bench.preset("nope")
    with pytest.raises(ValueError, match="mode"):
        bench.preset("tiny", modes=("fp64",))


# --------------------------------------------------------------------------- records


def _fake(device="NVIDIA H200", device_type="cuda", cases=(), date="2026-11-28T10:00:00+00:00"):
    def case(net, task, mode, batch, ms):
        flops = bench.count_flops(net, batch, task)
        return {"net": net, "task": task, "mode": mode, "batch": batch, "status": "ok", "ms": ms,
                "ms_min": ms, "ms_max": ms, "images_per_s": batch / ms * 1e3, "flops_per_batch": flops,
                "tflops": flops / ms / 1e9}
    return BenchResult(preset="gpu-record", env={"device_type": device_type, "device_name": device,
                                                 "torch": "2.11.0", "cuda": "13.0", "date": date},
                       peaks={"bf16": {"status": "ok", "tflops": 700.0, "n": 8192}},
                       cases=[case(*c) for c in cases], source="live")


def test_loader_labels_records(tmp_path):
    path = _fake(cases=[("alexnet", "train", "fp32", 512, 62.0)]).save(tmp_path)
    (rec,) = load_records(tmp_path)
    assert rec.label == "recorded on NVIDIA H200, 2026-11-28, torch 2.11.0, CUDA 13.0"
    assert rec.path == str(path) and rec.find("alexnet", "train", "fp32", 512)["ms"] == 62.0


def test_loader_keeps_gpu_records_only_unless_asked(tiny, tmp_path):
    tiny[0].save(tmp_path)
    assert load_records(tmp_path) == []
    assert len(load_records(tmp_path, gpu_only=False)) == 1
    assert load_records(tmp_path / "missing") == []


@pytest.mark.parametrize("mangle, message", [
    (lambda d: "{not json", "not valid JSON"),
    (lambda d: {k: v for k, v in d.items() if k != "env"}, "missing env"),
    (lambda d: {**d, "env": {**d["env"], "date": ""}}, "env lacks date"),
    (lambda d: {**d, "schema": "other/9"}, "schema"),
    (lambda d: {**d, "cases": [{**d["cases"][0], "ms": -1.0}]}, "must be positive"),
    (lambda d: {**d, "cases": [{"net": "lenet5"}]}, "lacks"),
])
def test_loader_rejects_a_malformed_record_clearly(tmp_path, mangle, message):
    data = mangle(_fake(cases=[("lenet5", "train", "fp32", 256, 2.0)]).to_dict())
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(RecordError, match=message) as err:
        load_records(tmp_path)
    assert "bad.json" in str(err.value)


def test_committed_records_are_valid_gpu_records():
    for rec in load_records(gpu_only=False):
        assert rec.on_gpu, f"{rec.path}: classicnets/records/ holds GPU records only"
        assert rec.ok(), f"{rec.path}: no measured case"


# --------------------------------------------------------------------------- reports


def test_table_renders(tiny):
    result = tiny[0]
    md = result.table()
    assert md.splitlines()[0].startswith("| net | task | mode | batch | ms/batch")
    assert "| lenet5 | train | fp32 | 4 |" in md and "| alexnet | infer | fp32 | 1 |" in md
    assert "Dense matmul peak measured in this run: fp32" in md
    assert "- skipped: tf32" in md and "TF32 is a tensor-core format" in md
    text = result.table("text")
    assert "images/s" in text.splitlines()[0] and "alexnet" in text
    assert result._repr_markdown_().startswith("**live on CPU")
    with pytest.raises(ValueError):
        result.table("html")


def test_plots_render(tiny):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = _fake(cases=[("lenet5", "train", "fp32", 256, 2.0), ("lenet5", "train", "fp32", 8192, 4.0),
                       ("alexnet", "train", "bf16-cl", 512, 16.0)])
    fig = bench_report.plot_throughput([tiny[0], rec])
    assert sum(len(ax.lines) for ax in fig.axes) >= 4
    fig2 = bench_report.plot_tflops(rec)
    assert any(line.get_linestyle() == "--" for ax in fig2.axes for line in ax.lines)  # the peak
    plt.close("all")


def test_time_ratio_and_fallback():
    rec = _fake(cases=[("lenet5", "train", "fp32", 256, 2.0), ("alexnet", "train", "fp32", 256, 31.0)])
    r = bench_report.time_ratio(rec, batch=256)
    assert r["ratio"] == pytest.approx(15.5) and r["mode"] == "fp32" and "batch of 256" in r["note"]
    cpu = _fake(cases=[("lenet5", "train", "fp32", 256, 10.0), ("alexnet", "train", "fp32", 2, 500.0)])
    r = bench_report.time_ratio(cpu, batch=256)
    assert r["ratio"] == pytest.approx((500 / 2) / (10 / 256)) and "per image" in r["note"]
    assert bench_report.time_ratio(_fake(), batch=256) is None


def test_reference_comparison():
    rec = _fake(cases=[("alexnet", "train", "fp32", 512, 512 / 8255 * 1e3),
                       ("lenet5", "train", "fp32", 8192, 8192 / 2.5e6 * 1e3)])
    rows = {(r["net"], r["batch"]): r for r in bench_report.compare_with_reference(rec)}
    assert rows[("alexnet", 512)]["within_5pct"] and rows[("alexnet", 512)]["same_gpu"]
    assert not rows[("lenet5", 8192)]["within_5pct"]
    other = _fake(device="NVIDIA H100 80GB HBM3", cases=[("alexnet", "train", "fp32", 512, 60.0)])
    assert "different GPU" in bench_report.reference_text(other)


def test_mode_speedups():
    rec = _fake(cases=[("alexnet", "train", "fp32", 512, 62.0), ("alexnet", "train", "bf16-cl", 512, 16.5),
                       ("lenet5", "train", "fp32", 16384, 8.0), ("lenet5", "train", "fp32", 8192, 4.0),
                       ("lenet5", "train", "bf16-cl-compile", 8192, 2.0)])
    rows = bench_report.mode_speedups(rec)
    assert [(r["net"], r["mode"], r["batch"]) for r in rows] == [
        ("lenet5", "fp32", 8192), ("lenet5", "bf16-cl-compile", 8192), ("alexnet", "fp32", 512),
        ("alexnet", "bf16-cl", 512)]  # the batch where most modes were measured
    assert rows[1]["speedup"] == pytest.approx(2.0) and rows[3]["speedup"] == pytest.approx(62.0 / 16.5)


# --------------------------------------------------------------------------- command line


def test_cli(tmp_path, capsys):
    assert bench.main(["--list"]) == 0
    assert "preset gpu-record" in capsys.readouterr().out
    assert bench.main(["--preset", "tiny", "--device", "cpu", "--nets", "lenet5", "--tasks", "infer",
                       "--modes", "fp32,tf32", "--threads", "1", "-q", "--out", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "lenet5  infer  fp32" in out and "wrote" in out
    rec = load_record(tmp_path / "r.json")
    assert [c["status"] for c in rec.cases] == ["ok", "skipped"]
    with pytest.raises(SystemExit):  # a CPU run is refused a place among the GPU records
        bench.main(["--preset", "tiny", "--device", "cpu", "--out", str(bench_report.RECORDS_DIR)])
    assert "holds GPU records" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_path_runs():
    r = bench.run_benchmark("tiny", device="cuda", verbose=False, modes=("fp32", "tf32", "bf16-cl"),
                            peak_n=1024)
    assert all(c["status"] == "ok" for c in r.cases)
    assert all(c["peak_mem_mb"] > 0 for c in r.cases)
    assert r.env["device_type"] == "cuda" and r.env["cuda"]


def test_records_of_other_schemas_are_left_to_their_own_loaders(tmp_path):
    (tmp_path / "alexnet_fashion_gpu.json").write_text('{"schema": "classicnets.alexnet_fashion/1", "device": "x"}')
    (tmp_path / "harness_check_gpu.json").write_text('{"schema": "classicnets.harness_check/1", "cases": []}')
    assert load_records(tmp_path, gpu_only=False) == []
    (tmp_path / "broken.json").write_text('{"schema": "classicnets.bench/1"}')
    with pytest.raises(RecordError):
        load_records(tmp_path, gpu_only=False)
