"""classicnets.ablations (chapter 05's experiments) on tiny settings that run in seconds on a CPU, and the
record half of classicnets.alexnet_training (the training half: tests/test_alexnet_training.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from classicnets import ablations as ab  # noqa: E402
from classicnets import alexnet_training as at  # noqa: E402
from classicnets import record_plots, records, training_records  # noqa: E402
from classicnets.arithmetic import trace  # noqa: E402
from classicnets.layers import LRN, Dropout  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: A setup small enough for tests: 2-map convolutions, a few dozen images, one epoch.
TINY = ab.Setup(n_train=64, n_test=64, epochs=1, batch_size=32, widths=(2, 2, 2, 2, 2), hidden=8)
VERDICTS = {"reproduces", "partly", "within noise", "does not reproduce", "inconclusive"}


@pytest.fixture(autouse=True)
def one_thread_and_no_figures(one_thread):
    yield
    plt.close("all")


# --------------------------------------------------------------------------- the network


def test_mini_alexnet_has_alexnets_layer_order_and_equal_pooling_arms():
    spec = ab.mini_alexnet_spec()
    kinds = [l.kind for l in spec.layers]
    assert kinds.count("conv") == 5 and kinds.count("pool") == 3 and kinds.count("linear") == 3
    assert [l.name for l in spec.layers if l.kind == "dropout"] == ["drop1", "drop2"]
    t_overlap, t_plain = trace(ab.mini_alexnet_spec(pool="overlap")), trace(ab.mini_alexnet_spec(pool="no-overlap"))
    pools = lambda t: [r.out_shape for r in t.rows if r.kind == "pool"]  # noqa: E731
    assert pools(t_overlap) == pools(t_plain) == [(16, 16, 16), (32, 8, 8), (32, 4, 4)]
    assert t_overlap.total_params == t_plain.total_params
    assert trace(spec).total_params < 300_000
    lrn = ab.mini_alexnet_spec(lrn=True)
    assert [l.name for l in lrn.layers if isinstance(l, LRN)] == ["norm1", "norm2"]
    assert lrn.layer("norm1").k == 2.0 and lrn.layer("norm1").alpha == 1e-4
    assert not [l for l in ab.mini_alexnet_spec(dropout=0).layers if isinstance(l, Dropout)]
    assert {l.fn for l in ab.mini_alexnet_spec(act="tanh").layers if l.kind == "act"} == {"tanh"}


@pytest.mark.parametrize("bad", [dict(pool="average"), dict(widths=(1, 2, 3)), dict(dropout=1.0)])
def test_mini_alexnet_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        ab.mini_alexnet_spec(**bad)


def test_build_is_seeded_and_scales_the_same_draws_for_each_activation():
    spec = ab.mini_alexnet_spec(widths=(2, 2, 2, 2, 2), hidden=8)
    a, b = ab.build(spec, 3), ab.build(spec, 3)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), n
    assert a(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    relu = ab.build(spec, 0)
    tanh = ab.build(ab.mini_alexnet_spec(act="tanh", widths=(2, 2, 2, 2, 2), hidden=8), 0)
    ratio = tanh.features.conv2.weight / relu.features.conv2.weight
    assert torch.allclose(ratio, torch.full_like(ratio, (5 / 3) / math.sqrt(2)), atol=1e-5)
    assert torch.count_nonzero(relu.classifier.fc3.weight) == 0  # zero output layer: loss starts at log 10
    assert torch.count_nonzero(relu.features.conv1.bias) == 0
    default = ab.build(spec, 0, init="pytorch")
    assert torch.count_nonzero(default.classifier.fc3.weight) > 0
    with pytest.raises(ValueError, match="init"):
        ab.build(spec, 0, init="xavier")


@pytest.mark.parametrize("size", [5, 4, 3, 1])
def test_band_lrn_computes_what_local_response_norm_does(size):
    torch.manual_seed(size)
    ref = nn.LocalResponseNorm(size, alpha=5e-4, beta=0.75, k=2.0)
    fast = ab.band_lrn(ref)
    x = torch.randn(3, 7, 5, 6) * 40  # large activations, so the neighbours matter
    assert torch.allclose(fast(x), ref(x), rtol=1e-5, atol=1e-5)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(fast(cl), ref(cl), rtol=1e-5, atol=1e-5)
    assert not list(fast.parameters())


def test_build_swaps_in_the_fast_lrn_and_lrn_share_sees_it():
    spec = ab.mini_alexnet_spec(lrn=True, widths=(4, 4, 4, 4, 4), hidden=8)
    fast, slow = ab.build(spec, 0), ab.build(spec, 0, fast_lrn=False)
    assert type(fast.features.norm1).__name__ == "BandLRN"
    assert isinstance(slow.features.norm1, nn.LocalResponseNorm)
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(fast(x), slow(x), atol=1e-6)
    share = ab.lrn_share(fast, x)
    assert 0 <= share < 0.01  # standardised inputs: α·Σa² is tiny next to k
    assert ab.lrn_share(fast, x * 1000) > share
    assert ab.lrn_share(ab.build(ab.mini_alexnet_spec(widths=(2, 2, 2, 2, 2), hidden=8)), x) == 0.0


# --------------------------------------------------------------------------- small helpers


def test_smoothed_and_steps_to():
    assert ab.smoothed([1, 0, 1, 0], 2) == [1, 0.5, 0.5, 0.5]
    errors = [0.9] * 5 + [0.2] * 5
    assert ab.steps_to(errors, 0.25, 3) == 8  # the first step whose last 3 batches average ≤ 0.25
    assert ab.steps_to(errors, 0.1, 3) is None
    assert ab.steps_to([0.0] * 5, 0.25, 10) is None  # never a full window


def test_accuracy_standard_error():
    assert ab.accuracy_se(0.5, 100) == pytest.approx(0.05)
    assert ab.accuracy_se(1.0, 100) < 1e-5


def _arm(label, train, test):
    return ab.Arm(label, ab.mini_alexnet_spec(), history=[], train_acc=train, test_acc=test, seconds=1.0)


@pytest.mark.parametrize(
    "ours, alt, verdict",
    [
        ((0.95, 0.90), (0.95, 0.80), "reproduces"),
        ((0.95, 0.80), (0.95, 0.801), "within noise"),
        ((0.95, 0.80), (0.95, 0.90), "does not reproduce"),
    ],
)
def test_accuracy_verdicts(ours, alt, verdict):
    r = ab._accuracy_result(
        "x",
        "claim",
        "paper",
        _arm("a", *ours),
        _arm("b", *alt),
        ab.SMALL,
        "setup",
        why_noise="noise",
        why_opposite="opposite",
    )
    assert r.verdict == verdict
    assert r.why == {"reproduces": "", "within noise": "noise", "does not reproduce": "opposite"}[verdict]


@pytest.mark.parametrize(
    "ours, alt, verdict, why",
    [
        ((0.95, 0.92), (1.00, 0.85), "reproduces", ""),  # gap 15 → 3 pp, test accuracy up 7 pp
        ((0.90, 0.85), (1.00, 0.85), "partly", "partly"),  # gap 15 → 5 pp, same test accuracy
        ((0.80, 0.75), (1.00, 0.85), "does not reproduce", "slow"),  # gap shrinks but test accuracy falls 10 pp
        ((0.84, 0.80), (0.90, 0.85), "does not reproduce", "slow"),  # test accuracy falls 5 pp, gap about equal
        ((1.00, 0.85), (1.00, 0.851), "within noise", "none"),
        ((1.00, 0.84), (0.90, 0.85), "does not reproduce", "none"),  # the gap grows, test accuracy within noise
    ],
)
def test_overfitting_verdicts(ours, alt, verdict, why):
    r = ab._overfitting_result(
        "x",
        "claim",
        "paper",
        _arm("a", *ours),
        _arm("b", *alt),
        ab.SMALL,
        "setup",
        why_slow="slow",
        why_none="none",
        why_partly="partly",
    )
    assert r.verdict == verdict and r.why == why
    assert r.numbers["gap_shrink"] == pytest.approx((alt[0] - alt[1]) - (ours[0] - ours[1]))
    assert r.numbers["test_change"] == pytest.approx(ours[1] - alt[1])


@pytest.mark.parametrize("ours_err, alt_err", [(0.2475, 0.2525), (0.1, 0.1049), (0.3, 0.25), (0.12345, 0.12355)])
def test_printed_error_change_is_the_difference_of_the_printed_errors(ours_err, alt_err):
    r = ab._accuracy_result(
        "x",
        "claim",
        "paper",
        _arm("a", 1.0, 1 - ours_err),
        _arm("b", 1.0, 1 - alt_err),
        ab.SMALL,
        "setup",
        why_noise="noise",
        why_opposite="opposite",
    )
    before, after, change = (float(v) for v in re.findall(r"([-+]?\d+\.\d)(?:%| pp)", r.measured)[:3])
    assert change == pytest.approx(after - before, abs=1e-9), r.measured


def test_saturated_share_counts_tanh_outputs_beyond_the_threshold():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 50), nn.Tanh(), nn.Linear(50, 30), nn.Tanh())
    x = torch.randn(20, 4) * 3
    with torch.no_grad():
        a1 = torch.tanh(net[0](x))
        a2 = torch.tanh(net[2](a1))
    expected = float(((a1.abs() > 0.9).sum() + (a2.abs() > 0.9).sum()) / (a1.numel() + a2.numel()))
    assert ab.saturated_share(net, x) == pytest.approx(expected)
    assert 0 < expected < 1
    assert ab.saturated_share(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), x) == 0.0
    assert net.training  # the mode is restored


# --------------------------------------------------------------------------- the experiments, tiny


def test_every_experiment_runs_tiny_and_reports_claim_number_measurement_verdict():
    ab.clear_cache()
    results = [
        ab.relu_vs_tanh(TINY, progress=False),
        ab.dropout_gap(TINY, progress=False),
        ab.overlap_pooling(TINY, progress=False),
        ab.lrn_vs_none(TINY, progress=False),
        ab.augmentation(TINY, progress=False),
    ]
    for r in results:
        assert r.verdict in VERDICTS, r
        assert r.claim and r.paper and r.measured and r.setup
        assert len(r.arms) == 2
        text = r.summary()
        assert r.name in text and r.paper in text and r.measured in text
        if r.verdict not in ("reproduces",):
            assert r.why, f"{r.name}: a verdict other than 'reproduces' must say why"
    table = ab.results_table(results)
    assert table.count("\n") == 2 + len(results) - 1
    assert "6×" in table and "**" in table
    # the default network is trained once and shared by four experiments
    assert results[2].arms["3×3 stride 2"].extra.get("shared")
    assert results[3].arms["no LRN"].extra.get("shared")
    assert results[4].arms["no augmentation"].extra.get("shared")
    assert "neighbour_share" in results[3].numbers
    fig = ab.plot_arms(results)
    assert fig.axes and len(fig.axes[0].patches) == 2 * 10  # 5 experiments × 2 arms × (train, test)
    assert fig.axes[0].get_xlim() == (0.0, 1.0)
    assert results[0].plot().axes[0].get_xlabel() == "mini-batch step"


def test_relu_vs_tanh_counts_steps_and_picks_each_networks_fastest_rate():
    r = ab.relu_vs_tanh(TINY, target=0.99, window=2, lrs=(0.01, 0.02), progress=False)  # any net gets there
    assert r.numbers["steps_relu"] == 2 and r.numbers["steps_tanh"] == 2
    assert r.verdict == "within noise" and r.numbers["speedup"] == 1
    assert "fastest of lr 0.01, 0.02" in r.setup
    for arm in r.arms.values():  # fit's on_step stopped the run: a history, and accuracies measured after it
        assert arm.history.meta["stopped_at_step"] == 2 and len(arm.history) == 1
        assert 0 <= arm.test_acc <= 1 and 0 <= arm.train_acc <= 1
    assert 0 <= r.numbers["tanh_saturated_start"] <= 1 and 0 <= r.numbers["tanh_saturated_end"] <= 1
    assert f"{100 * r.numbers['tanh_saturated_end']:.1f}%" in r.why
    never = ab.relu_vs_tanh(TINY, target=0.0, window=2, progress=False)
    assert never.verdict == "inconclusive" and "neither reached" in never.measured


def test_experiments_are_seeded():
    ab.clear_cache()
    a = ab.dropout_gap(TINY, progress=False)
    ab.clear_cache()
    b = ab.dropout_gap(TINY, progress=False)
    assert a.measured == b.measured


def test_setup_overrides():
    s = ab._setup(None, ab.SMALL, {"widths": [1, 2, 3, 4, 5], "epochs": 3})
    assert s.widths == (1, 2, 3, 4, 5) and s.epochs == 3 and s.n_train == ab.SMALL.n_train
    assert "1000 training images" in ab.SMALL.describe()


# --------------------------------------------------------------------------- chapter 06: the records of a run

TINY_RUN = dict(device="cpu", epochs=1, input_size=67, subset=(96, 64), batch_size=32, progress=False)


@pytest.fixture(scope="module")
def tiny_run():
    torch.set_num_threads(1)
    return at.train_alexnet_fashion(**TINY_RUN)


def test_record_round_trip(tiny_run, tmp_path):
    rec = tiny_run.to_record()
    for key in ("device", "torch", "cuda", "date", "config", "history", "test_acc", "seconds"):
        assert key in rec
    assert rec["schema"] == at.RECORD_SCHEMA and rec["config"]["input_size"] == 67
    path = tiny_run.save(tmp_path / "r.json")
    loaded = records.load(path, "training")
    assert loaded.payload["test_acc"] == pytest.approx(tiny_run.test_acc) and loaded.command == rec["command"]
    h = training_records.record_history(loaded)
    assert [r.test_acc for r in h] == [r.test_acc for r in tiny_run.history]
    assert "recorded on" in loaded.label and "test accuracy" in training_records.describe_record(loaded)
    fig = record_plots.plot_runs(tiny_run, loaded)
    assert len(fig.axes) == 2
    assert records.load_if_exists(tmp_path / "missing.json", "training") is None
    (tmp_path / "bad.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ValueError, match="bad.json: schema 'other'"):
        records.load(tmp_path / "bad.json", "training")
    with pytest.raises(ValueError, match="nothing to plot"):
        record_plots.plot_runs()


def test_record_report_and_comparison_table(tiny_run, tmp_path):
    no_record = training_records.record_report(None)
    assert records.ALEXNET_GPU_COMMAND in no_record and "No GPU" in no_record
    record = records.load(tiny_run.save(tmp_path / "r.json"), "training")
    report = training_records.record_report(record).splitlines()
    assert report[0] == training_records.describe_record(record) and len(report) == 4 + len(record.payload["history"])
    table = training_records.comparison_table(tiny_run).splitlines()
    assert table[2].startswith("| this run |") and f"{tiny_run.test_acc:.4f}" in table[2]
    assert [l.split("|")[1].strip() for l in table[3:]] == ["the aim"]
    assert "d2l" not in "\n".join(table)  # no reference figure without a traceable source
    # the tiny run ran on the CPU
    assert "| CPU record | recorded on" in training_records.comparison_table(tiny_run, record)
    gpu = dataclasses.replace(record, env={**record.env, "device_type": "cuda", "device_name": "NVIDIA H100 80GB HBM3"})
    rows = training_records.comparison_table(tiny_run, gpu, None, record).splitlines()
    assert [l.split("|")[1].strip() for l in rows[2:]] == ["this run", "GPU record", "CPU record", "the aim"]
    assert "targets ≥" in training_records.describe_record(gpu)
    assert "targets" not in training_records.describe_record(record)
    fig = record_plots.plot_runs(tiny_run, gpu, None, record)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(l.startswith("GPU record (NVIDIA H100") for l in labels)
    assert any(l.startswith("CPU record") for l in labels)


def test_committed_cpu_record_is_what_its_command_makes():
    loaded = records.load_if_exists(records.ALEXNET_CPU_RECORD, "training")
    if loaded is None:
        pytest.skip(f"no CPU record committed ({records.ALEXNET_CPU_COMMAND})")
    record = loaded.payload
    cfg = record["config"]
    assert record["device_type"] == "cpu" and loaded.command == records.ALEXNET_CPU_COMMAND
    assert (cfg["input_size"], cfg["epochs"], cfg["batch_size"]) == (67, 4, 64)
    assert cfg["n_train"] is None and cfg["n_test"] is None  # all 60,000 / 10,000 images
    assert len(record["history"]) == cfg["epochs"]
    assert record["test_acc"] == record["history"][-1]["test_acc"]
    assert record["seconds"] == pytest.approx(sum(e["seconds"] + e["eval_seconds"] for e in record["history"]))
