"""classicnets.records: one envelope for every record, written whole, read back with the file named on any fault,
and the tables and plots of timing, cross-check and training records (no torch needed to read or print them)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from classicnets import record_plots, records, timing_results, training_records
from classicnets.records import Record, RecordError, load, load_all
from classicnets.timing_results import BenchResult, load_timing

ENV = {
    "device_type": "cuda",
    "device_name": "NVIDIA H200",
    "torch": "2.11.0",
    "cuda": "13.0",
    "date": "2026-11-28T10:00:00+00:00",
}


def _fake(device="NVIDIA H200", device_type="cuda", cases=(), date="2026-11-28T10:00:00+00:00"):
    def case(net, task, mode, batch, ms):
        flops = {"lenet5": 2 * 416_520, "alexnet": 2 * 1_135_256_096}[net] * batch * (3 if task == "train" else 1)
        return {
            "net": net,
            "task": task,
            "mode": mode,
            "batch": batch,
            "status": "ok",
            "ms": ms,
            "ms_min": ms,
            "ms_max": ms,
            "images_per_s": batch / ms * 1e3,
            "flops_per_batch": flops,
            "tflops": flops / ms / 1e9,
        }

    env = {**ENV, "device_type": device_type, "device_name": device, "date": date}
    return BenchResult(
        preset="gpu-record",
        env=env,
        peaks={"bf16": {"status": "ok", "tflops": 700.0, "n": 8192}},
        cases=[case(*c) for c in cases],
        source="live",
    )


def _training(device_type="cpu"):
    history = [
        {
            "epoch": 1,
            "train_loss": 0.6,
            "train_acc": 0.78,
            "test_acc": 0.86,
            "seconds": 10.0,
            "images_per_s": 300.0,
            "eval_seconds": 1.0,
            "lr": 1e-4,
        }
    ]
    payload = {
        "device": "CPU: test",
        "device_type": device_type,
        "torch": "2.14",
        "cuda": None,
        "config": {"input_size": 67, "epochs": 1, "batch_size": 64, "n_train": 512},
        "history": history,
        "test_acc": 0.86,
        "seconds": 11.0,
    }
    env = {**ENV, "device_type": device_type, "device_name": "NVIDIA H100" if device_type == "cuda" else "CPU: test"}
    return Record("training", payload, env, "python benchmarks/train_alexnet_gpu.py --device cpu")


# --------------------------------------------------------------------------- the envelope and the loader


def test_every_kind_round_trips_through_one_envelope(tmp_path):
    timing = _fake(cases=[("alexnet", "train", "fp32", 512, 62.0)]).to_record()
    check = Record("harness_check", {"rounds": 3, "cases": []}, ENV, "python benchmarks/check_harness.py")
    for rec in (timing, check, _training()):
        path = rec.save(tmp_path / f"{rec.kind}.json")
        data = json.loads(path.read_text())
        assert list(data) == ["schema", "version", "date", "command", "env", "payload"]
        assert data["schema"] == f"classicnets.{rec.kind}" and data["version"] == records.VERSION
        back = load(path, rec.kind)
        assert (back.kind, back.payload, back.env, back.command, back.date) == (
            rec.kind,
            json.loads(json.dumps(rec.payload)),
            rec.env,
            rec.command,
            ENV["date"],
        )
        assert back.path == str(path)
    with pytest.raises(RecordError, match="a timing record, not a training record"):
        load(tmp_path / "timing.json", "training")


def test_loader_labels_timing_records(tmp_path):
    path = _fake(cases=[("alexnet", "train", "fp32", 512, 62.0)]).save(tmp_path)
    (rec,) = load_timing(tmp_path)
    assert rec.label == "recorded on NVIDIA H200, 2026-11-28, torch 2.11.0, CUDA 13.0"
    assert rec.path == str(path) and rec.find("alexnet", "train", "fp32", 512)["ms"] == 62.0


def test_loader_keeps_gpu_records_only_unless_asked(tmp_path):
    _fake(device="CPU: x", device_type="cpu").save(tmp_path)
    assert load_timing(tmp_path) == []
    assert len(load_timing(tmp_path, gpu_only=False)) == 1
    assert load_timing(tmp_path / "missing") == []


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda d: "{not json", "not valid JSON"),
        (lambda d: {k: v for k, v in d.items() if k != "env"}, "lacks env"),
        (lambda d: {**d, "env": {**d["env"], "date": ""}}, "env lacks date"),
        (lambda d: {**d, "schema": "other/9"}, "schema"),
        (lambda d: {**d, "version": 1}, "version 1"),
        (
            lambda d: {**d, "payload": {**d["payload"], "cases": [{**d["payload"]["cases"][0], "ms": -1.0}]}},
            "must be positive",
        ),
        (lambda d: {**d, "payload": {**d["payload"], "cases": [{"net": "lenet5"}]}}, "lacks"),
        (lambda d: [d], "a JSON object"),
    ],
)
def test_loader_rejects_a_malformed_record_naming_the_file(tmp_path, mangle, message):
    data = mangle(_fake(cases=[("lenet5", "train", "fp32", 256, 2.0)]).to_record().to_dict())
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(RecordError, match=message) as err:
        load_all("timing", tmp_path)
    assert "bad.json" in str(err.value)


def test_a_file_that_is_not_text_is_named(tmp_path):
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RecordError, match=r"binary\.json: not UTF-8") as err:
        load_all("timing", tmp_path)
    assert "binary.json" in str(err.value)


def test_the_loader_skips_non_files_hidden_files_and_other_kinds(tmp_path):
    (tmp_path / "folder.json").mkdir()
    (tmp_path / ".r.json.abc.part").write_text("{half")
    _training().save(tmp_path / "training.json")
    Record("harness_check", {"rounds": 1, "cases": []}, ENV).save(tmp_path / "check.json")
    assert load_all("timing", tmp_path) == []
    assert [r.kind for r in load_all("training", tmp_path)] == ["training"]
    with pytest.raises(RecordError, match="is not a file"):
        load(tmp_path / "folder.json")
    assert records.load_if_exists(tmp_path / "none.json") is None


def test_an_old_flat_record_is_named_not_skipped(tmp_path):
    (tmp_path / "old.json").write_text(json.dumps({"schema": "classicnets.bench/1", "env": ENV, "cases": []}))
    with pytest.raises(RecordError, match="old.json.*re-make it"):
        load_all("timing", tmp_path)


def test_committed_records_load_and_timing_ones_are_gpu_records():
    for rec in load_timing(gpu_only=False):
        assert rec.on_gpu and rec.ok(), f"{rec.path}: classicnets/records/ holds measured GPU timing records only"
    cpu = records.load_if_exists(records.ALEXNET_CPU_RECORD, "training")
    if cpu is not None:  # migrated from the flat format: the command and payload are what they were
        assert cpu.command == records.ALEXNET_CPU_COMMAND and cpu.env["device_type"] == "cpu"
        assert cpu.payload["config"]["epochs"] == len(cpu.payload["history"]) == 4
    check = records.load_if_exists(records.CHECK_GPU_RECORD, "harness_check")
    assert check is None or check.on_gpu


def test_environment_says_where_and_when():
    env = records.environment("cpu")
    assert env["device_type"] == "cpu" and env["device_name"].startswith("CPU: ")
    assert env["date"][:4].isdigit() and "T" in env["date"] and env["torch"] and env["cpu_threads"] >= 1


# --------------------------------------------------------------------------- timing tables and plots


def test_table_renders_and_refuses_an_unknown_format():
    result = _fake(cases=[("lenet5", "train", "fp32", 256, 2.0)])
    result.cases.append(
        {
            "net": "alexnet",
            "task": "infer",
            "mode": "tf32",
            "batch": 1,
            "status": "skipped",
            "reason": "TF32 is a tensor-core format",
        }
    )
    md = result.table()
    assert md.splitlines()[0].startswith("| net | task | mode | batch | ms/batch")
    assert "| lenet5 | train | fp32 | 256 | 2.00 |" in md and "bf16 700 TFLOP/s (n=8192)" in md
    assert "- skipped: tf32 (alexnet infer b1) — TF32 is a tensor-core format" in md
    assert "images/s" in result.table("text").splitlines()[0]
    with pytest.raises(ValueError, match="fmt"):
        result.table("html")


def test_plots_render_with_several_labelled_y_ticks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = _fake(
        cases=[
            ("lenet5", "train", "fp32", 256, 2.0),
            ("lenet5", "train", "fp32", 8192, 4.0),
            ("alexnet", "train", "bf16-cl", 512, 16.0),
            ("alexnet", "train", "bf16-cl", 256, 8.5),
        ]
    )
    fig = record_plots.plot_throughput([rec, _fake(device="CPU: x", device_type="cpu")])
    assert sum(len(ax.lines) for ax in fig.axes) >= 2
    fig2 = record_plots.plot_tflops(rec)
    assert any(line.get_linestyle() == "--" for ax in fig2.axes for line in ax.lines)  # the peak
    fig2.canvas.draw()
    for ax in fig2.axes + fig.axes[:1]:  # the TFLOP/s panels used to show a single y tick
        lo, hi = ax.get_ylim()
        shown = [t for t in ax.yaxis.get_major_ticks() if lo <= t.get_loc() <= hi and t.label1.get_text()]
        assert len(shown) >= 3, [t.label1.get_text() for t in shown]
    plt.close("all")


def test_time_ratio_per_batch_and_per_image():
    rec = _fake(cases=[("lenet5", "train", "fp32", 256, 2.0), ("alexnet", "train", "fp32", 256, 31.0)])
    r = timing_results.time_ratio(rec, batch=256)
    assert r["ratio"] == pytest.approx(15.5) and r["unit"] == "ms per batch of 256" and r["alexnet"] == 31.0
    cpu = _fake(cases=[("lenet5", "train", "fp32", 256, 10.0), ("alexnet", "train", "fp32", 2, 500.0)])
    r = timing_results.time_ratio(cpu, batch=256)
    assert r["unit"] == "ms per image" and "per image" in r["note"]
    assert (r["alexnet"], r["lenet5"]) == pytest.approx((250.0, 10 / 256))  # per image, as the unit says
    assert r["ratio"] == pytest.approx((500 / 2) / (10 / 256))
    assert timing_results.time_ratio(_fake(), batch=256) is None


def test_reference_comparison():
    rec = _fake(
        cases=[
            ("alexnet", "train", "fp32", 512, 512 / 8255 * 1e3),
            ("lenet5", "train", "fp32", 8192, 8192 / 2.5e6 * 1e3),
        ]
    )
    rows = {(r["net"], r["batch"]): r for r in timing_results.compare_with_reference(rec)}
    assert rows[("alexnet", 512)]["within_5pct"] and rows[("alexnet", 512)]["same_gpu"]
    assert not rows[("lenet5", 8192)]["within_5pct"]
    other = _fake(device="NVIDIA H100 80GB HBM3", cases=[("alexnet", "train", "fp32", 512, 60.0)])
    assert "different GPU" in timing_results.reference_text(other)


def test_mode_speedups():
    rec = _fake(
        cases=[
            ("alexnet", "train", "fp32", 512, 62.0),
            ("alexnet", "train", "bf16-cl", 512, 16.5),
            ("lenet5", "train", "fp32", 16384, 8.0),
            ("lenet5", "train", "fp32", 8192, 4.0),
            ("lenet5", "train", "bf16-cl-compile", 8192, 2.0),
        ]
    )
    rows = timing_results.mode_speedups(rec)
    assert [(r["net"], r["mode"], r["batch"]) for r in rows] == [
        ("lenet5", "fp32", 8192),
        ("lenet5", "bf16-cl-compile", 8192),
        ("alexnet", "fp32", 512),
        ("alexnet", "bf16-cl", 512),
    ]  # the batch where most modes were measured
    assert rows[1]["speedup"] == pytest.approx(2.0) and rows[3]["speedup"] == pytest.approx(62.0 / 16.5)


# --------------------------------------------------------------------------- cross-check and training records


def test_cross_check_text():
    rows = [
        {
            "case": ["lenet5", "infer", "fp32", 8],
            "status": "ok",
            "harness_ms": 1.0,
            "timer_ms": 1.02,
            "loop_ms": 0.97,
            "vs_timer_pct": -1.96,
            "vs_loop_pct": 3.09,
        },
        {"case": ["lenet5", "train", "tf32", 8], "status": "skipped", "reason": "TF32 is a tensor-core format"},
    ]
    assert timing_results.largest_deviation(rows) == pytest.approx(3.09)
    rec = Record("harness_check", {"rounds": 3, "threads": 1, "cases": rows}, {**ENV, "device_type": "cpu"})
    text = timing_results.check_text(rec)
    assert "3 rounds per case, 1 CPU thread" in text and "skipped: TF32" in text
    assert text.splitlines()[-1] == "largest deviation: 3.1% (within 5%)"


def test_training_record_report_table_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    cpu, gpu = _training("cpu"), _training("cuda")
    no_record = training_records.record_report(None)
    assert records.ALEXNET_GPU_COMMAND in no_record and "No GPU record" in no_record
    report = training_records.record_report(cpu).splitlines()
    assert report[0] == training_records.describe_record(cpu) and len(report) == 4 + 1
    assert "targets ≥" in training_records.describe_record(gpu)
    assert "targets" not in training_records.describe_record(cpu)
    recipe = SimpleNamespace(input_size=67, n_train=64, epochs=1)
    run = SimpleNamespace(
        device="CPU: here",
        device_type="cpu",
        recipe=recipe,
        test_acc=0.5,
        seconds=3.0,
        history=training_records.record_history(cpu),
    )
    rows = training_records.comparison_table(run, gpu, None, cpu).splitlines()
    assert [line.split("|")[1].strip() for line in rows[2:]] == ["this run", "GPU record", "CPU record", "the aim"]
    assert "d2l" not in "\n".join(rows)  # no reference figure without a traceable source
    fig = record_plots.plot_runs(run, gpu, None, cpu)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("GPU record (NVIDIA H100") for label in labels)
    with pytest.raises(ValueError, match="nothing to plot"):
        record_plots.plot_runs()
