"""classicnets.train: fit, evaluate, predict, History, augmentation, device picking."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from classicnets import train as T  # noqa: E402

TIMING = {"seconds", "images_per_s", "eval_seconds"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is fastest (conftest)


def tiny_net(seed: int = 0, classes: int = 2, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(4 * 4 * 4, classes),
    )


def separable(n: int = 600, seed: int = 0):
    """8x8 images: class 1 is brighter in the top half, class 0 in the bottom half (plus noise)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 1, 8, 8, generator=g) * 0.5
    sign = (y * 2 - 1).float()[:, None, None]
    x[:, 0, :4, :] += sign
    x[:, 0, 4:, :] -= sign
    return x, y


@pytest.fixture(scope="module")
def problem():
    x, y = separable(600, 0)
    xt, yt = separable(200, 1)
    return x, y, xt, yt


def metrics(history: T.History):
    return [{k: v for k, v in asdict(r).items() if k not in TIMING} for r in history]


def test_fit_is_reproducible_with_the_same_seed(problem):
    runs = [
        T.fit(
            tiny_net(0, dropout=0.2),
            problem,
            epochs=2,
            batch_size=64,
            seed=3,
            progress=False,
            device="cpu",
            augment=T.random_crop_flip(pad=1),
        )
        for _ in range(2)
    ]
    assert metrics(runs[0]) == metrics(runs[1])
    other = T.fit(
        tiny_net(0, dropout=0.2),
        problem,
        epochs=2,
        batch_size=64,
        seed=4,
        progress=False,
        device="cpu",
        augment=T.random_crop_flip(pad=1),
    )
    assert metrics(other) != metrics(runs[0])


def test_history_fields_json_and_plot(problem, tmp_path):
    h = T.fit(tiny_net(), problem, epochs=3, batch_size=100, progress=False, device="cpu")
    assert len(h) == 3 and [r.epoch for r in h] == [1, 2, 3] and h.final is h[-1]
    rows = h.as_dicts()
    assert set(rows[0]) >= {"epoch", "train_loss", "train_acc", "test_acc", "seconds", "images_per_s", "eval_seconds"}
    for r in h:
        assert r.seconds > 0 and r.eval_seconds > 0
        assert r.images_per_s == pytest.approx(600 / r.seconds)
        assert 0 <= r.train_acc <= 1 and 0 <= r.test_acc <= 1 and r.train_loss > 0
        assert r.lr == pytest.approx(1e-3)
    assert h.meta["optimizer"] == "adam" and h.meta["n_train"] == 600 and h.meta["n_test"] == 200
    assert h.meta["device"] == "cpu" and h.meta["batch_size"] == 100 and h.seconds_per_epoch > 0
    assert "3 epochs" in repr(h)

    text = h.to_json(tmp_path / "h.json")
    assert json.loads(text)["epochs"] == rows
    for back in (T.History.from_json(text), T.History.from_json(tmp_path / "h.json")):
        assert back.as_dicts() == rows and back.meta == json.loads(text)["meta"]

    fig = h.plot()
    assert len(fig.axes) == 2
    fig2, ax = plt.subplots()
    assert h.plot(ax) is fig2 and len(fig2.axes) == 2  # accuracy on a twin axis
    fig3, axes = plt.subplots(1, 2)
    assert h.plot(axes) is fig3
    plt.close("all")
    with pytest.raises(ValueError):
        _ = T.History().final


def test_evaluate_and_predict_match_a_manual_computation(problem):
    _, _, xt, yt = problem
    model = tiny_net(1, dropout=0.5)
    model.train()
    with torch.no_grad():
        model.eval()
        logits = model(xt)
        model.train()
    manual = (logits.argmax(1) == yt).float().mean().item()
    assert T.evaluate(model, xt, yt) == pytest.approx(manual)
    assert T.evaluate(model, xt, yt, batch_size=7) == pytest.approx(manual)
    assert model.training  # mode restored
    out = T.predict(model, xt, batch_size=33)
    assert out.device.type == "cpu" and out.shape == (200, 2)
    assert torch.allclose(out, logits, atol=1e-6)
    with pytest.raises(ValueError):
        T.evaluate(model, xt, yt[:-1])


def test_learns_a_separable_problem(problem):
    model = tiny_net(0)
    h = T.fit(model, problem, epochs=4, batch_size=32, lr=3e-3, progress=False, device="cpu")
    assert h.final.test_acc > 0.95
    assert T.evaluate(model, problem[2], problem[3]) == pytest.approx(h.final.test_acc)
    assert not model.training  # fit leaves the model ready for inference


def test_sgd_callable_schedule_and_two_tuple_data(problem):
    x, y, _, _ = problem
    h = T.fit(tiny_net(), (x, y), epochs=1, optimizer="sgd", progress=False, device="cpu", max_train=128)
    assert h.meta["lr"] == 0.1 and h.meta["n_train"] == 128 and h.final.test_acc is None
    h = T.fit(
        tiny_net(),
        (x, y),
        epochs=2,
        optimizer=torch.optim.RMSprop,
        lr=1e-3,
        schedule="cosine",
        progress=False,
        device="cpu",
    )
    assert h.meta["optimizer"] == "RMSprop" and 0 < h.final.lr < 1e-4
    h = T.fit(tiny_net(), (x, y), epochs=2, lr=1e-2, schedule="onecycle", progress=False, device="cpu")
    assert h.meta["schedule"] == "onecycle" and h.final.lr < 1e-2 / 1000
    with pytest.raises(ValueError, match="schedule"):
        T.fit(tiny_net(), (x, y), schedule="step", progress=False, device="cpu")
    with pytest.raises(ValueError, match="optimizer"):
        T.fit(tiny_net(), (x, y), optimizer="lbfgs", progress=False, device="cpu")
    with pytest.raises(TypeError, match="Dataset"):
        T.fit(tiny_net(), x, progress=False, device="cpu")


def test_progress_bar_channels_last_and_amp(problem, capsys):
    h = T.fit(tiny_net(), problem, epochs=1, batch_size=200, progress=True, device="cpu", channels_last=True)
    err = capsys.readouterr()
    assert "epoch 1/1" in err.out + err.err
    h_amp = T.fit(tiny_net(), problem, epochs=1, batch_size=200, progress=False, device="cpu", amp=True)
    assert 0 <= h_amp.final.test_acc <= 1 and h.meta["channels_last"] and h_amp.meta["amp"]


def test_augment_is_applied_to_every_batch(problem):
    seen = []

    def spy(xb):
        seen.append(tuple(xb.shape))
        return xb

    T.fit(tiny_net(), problem, epochs=2, batch_size=256, augment=spy, progress=False, device="cpu")
    assert seen == [(256, 1, 8, 8), (256, 1, 8, 8), (88, 1, 8, 8)] * 2


def test_random_crop_flip_shifts_and_flips():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 10, 12)
    aug = T.random_crop_flip(pad=2, fill=0.0)
    out = aug(x)
    assert out.shape == x.shape and not torch.equal(out, x)
    # every output image is the input shifted by (dy, dx) in [-2, 2], maybe mirrored, zero-filled
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(len(x)):
        crops = [padded[i, :, dy : dy + 10, dx : dx + 12] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in crops)
    # seeded, and the identity when there is nothing to do
    torch.manual_seed(1)
    a = aug(x)
    torch.manual_seed(1)
    assert torch.equal(a, aug(x))
    assert torch.equal(T.random_crop_flip(pad=0, flip=False)(x), x)
    flipped = T.random_crop_flip(pad=0, flip=True)(x)
    assert all(torch.equal(f, o) or torch.equal(f, o.flip(-1)) for f, o in zip(flipped, x))
    # default fill is the batch minimum (the background)
    one = torch.ones(4, 1, 5, 5)
    one[:, :, 2, 2] = 5.0
    assert float(T.random_crop_flip(pad=3, flip=False)(one).min()) == 1.0
    with pytest.raises(ValueError):
        T.random_crop_flip(pad=-1)


def test_pick_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(T, "_mps_available", lambda: False)
    assert T.pick_device() == torch.device("cpu")
    assert T.pick_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        T.pick_device("cuda")
    with pytest.raises(RuntimeError, match="MPS is not available"):
        T.pick_device("mps")
    monkeypatch.setattr(T, "_mps_available", lambda: True)
    assert T.pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert T.pick_device() == torch.device("cuda")
    assert T.pick_device(torch.device("cuda", 0)) == torch.device("cuda", 0)


def test_cpu_threads_are_not_oversubscribed(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(T, "_usable_cpus", lambda: 1)
        torch.set_num_threads(2)
        T._tune_cpu()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------------------- bad input: one message, before training


class Untrainable(nn.Module):
    """Counts forward passes in training mode: a refused call must not have trained at all."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.net = tiny_net(classes=classes)
        self.trained_steps = 0

    def forward(self, x):
        if self.training:
            self.trained_steps += 1
        return self.net(x)


def _refused(match, data, error=ValueError, **kw):
    model = Untrainable()
    with pytest.raises(error, match=match):
        T.fit(model, data, progress=False, device="cpu", **kw)
    assert model.trained_steps == 0, "the check must come before the first training step"


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"batch_size": 0}, r"fit\(batch_size=0\).*integer >= 1"),
        ({"batch_size": -5}, r"batch_size=-5"),
        ({"batch_size": 2.5}, r"batch_size=2.5"),
        ({"batch_size": True}, r"batch_size=True"),
        ({"epochs": -1}, r"fit\(epochs=-1\).*integer >= 0"),
        ({"max_train": -3}, r"fit\(max_train=-3\)"),
        ({"max_train": 0}, r"max_train=0"),
        ({"eval_batch_size": 0}, r"eval_batch_size=0"),
    ],
)
def test_fit_refuses_bad_counts(problem, kw, match):
    _refused(match, problem, **kw)


def test_epochs_zero_trains_nothing_and_returns_an_empty_history(problem):
    model = Untrainable()
    h = T.fit(model, problem, epochs=0, progress=False, device="cpu")
    assert len(h) == 0 and model.trained_steps == 0


def test_fit_refuses_mismatched_lengths(problem):
    x, y, xt, yt = problem
    _refused(r"x_train has 600 images but y_train has 599 labels", (x, y[:-1], xt, yt))
    _refused(r"x_test has 200 images but y_test has 10 labels", (x, y, xt, yt[:10]))


def test_fit_and_evaluate_refuse_labels_outside_the_models_classes(problem):
    x, y, xt, yt = problem
    _refused(r"y_train holds labels from 0 to 2, but the model has 2 outputs.*num_classes=3", (x, y + (y == 1), xt, yt))
    _refused(r"y_train holds labels from -1 to 1", (x, y - (y == 0).long(), xt, yt))
    _refused(r"y_test holds labels from 0 to 7", (x, y, xt, yt * 7))
    with pytest.raises(ValueError, match=r"evaluate: y holds labels from 0 to 5"):
        T.evaluate(tiny_net(), xt, yt * 5)


def test_fit_and_evaluate_refuse_one_hot_and_float_labels(problem):
    x, y, xt, yt = problem
    _refused(r"y_train looks one-hot \(shape \(600, 2\)\).*argmax\(1\)", (x, nn.functional.one_hot(y, 2), xt, yt))
    _refused(r"y_train must be a 1-D tensor of integer class indices.*torch.float32", (x, y.float(), xt, yt))
    _refused(r"dtype torch.bool", (x, y.bool(), xt, yt))
    _refused(r"shape \(600, 1\)", (x, y[:, None], xt, yt))
    _refused(r"must be torch tensors", (x.numpy(), y, xt, yt), error=TypeError)
    with pytest.raises(ValueError, match=r"evaluate: y must be a 1-D tensor"):
        T.evaluate(tiny_net(), xt, yt.float())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_fit_and_evaluate_refuse_non_finite_images(problem, bad):
    x, y, xt, yt = problem
    x = x.clone()
    x[3, 0, 2, 2] = bad
    x[7, 0, 0, 0] = bad
    _refused(r"x_train holds NaN or infinite values in 2 of 600 images", (x, y, xt, yt))
    xt = xt.clone()
    xt[0, 0, 0, 0] = bad
    _refused(r"x_test holds NaN or infinite values in 1 of 200", (problem[0], y, xt, yt))
    with pytest.raises(ValueError, match=r"evaluate: x holds NaN"):
        T.evaluate(tiny_net(), xt, yt)


def test_evaluate_refuses_bad_batch_size_and_empty_sets(problem):
    _, _, xt, yt = problem
    with pytest.raises(ValueError, match=r"evaluate\(batch_size=0\)"):
        T.evaluate(tiny_net(), xt, yt, batch_size=0)
    with pytest.raises(ValueError, match="x has 200 images but y has 3"):
        T.evaluate(tiny_net(), xt, yt[:3])
    with pytest.raises(ValueError, match="empty"):
        T.evaluate(tiny_net(), xt[:0], yt[:0])


def test_a_non_finite_loss_stops_training_at_its_step(problem):
    """lr=1e30 makes the weights explode; the message names the first step whose loss was not finite."""
    losses, calls = [], []

    def recording_loss(logits, y):  # an independent record of every step's loss
        loss = nn.functional.cross_entropy(logits, y)
        losses.append(float(loss.detach()))
        return loss

    with pytest.raises(FloatingPointError, match=r"became NaN or infinite at step (\d+)") as info:
        T.fit(
            tiny_net(),
            problem,
            epochs=3,
            batch_size=50,
            optimizer="sgd",
            lr=1e30,
            progress=False,
            device="cpu",
            loss_fn=recording_loss,
            on_step=lambda *a: calls.append(a[0]),
        )
    step = int(re.search(r"step (\d+)", str(info.value)).group(1))
    first_bad = next(i for i, v in enumerate(losses, 1) if not math.isfinite(v))
    assert step == first_bad and len(losses) == step  # nothing trained after the bad step
    assert calls == list(range(1, step))  # the callback never sees the bad step
    assert "learning rate 1e+30" in str(info.value)


def test_on_step_sees_every_step_and_can_stop(problem):
    seen = []

    def on_step(step, loss, logits, y):
        seen.append((step, loss.shape, logits.shape, len(y)))
        return step == 15

    h = T.fit(tiny_net(), problem, epochs=3, batch_size=100, progress=False, device="cpu", on_step=on_step)
    assert [s for s, *_ in seen] == list(range(1, 16))  # 6 steps per epoch: stopped in epoch 3
    assert seen[0][1:] == (torch.Size([]), torch.Size([100, 2]), 100)
    assert len(h) == 3 and h.meta["stopped_at_step"] == 15 and "interrupted" not in h.meta
    assert h.final.images_per_s * h.final.seconds == pytest.approx(300)  # the partial epoch saw 3 batches
    full = T.fit(tiny_net(), problem, epochs=1, batch_size=100, progress=False, device="cpu", on_step=lambda *a: None)
    assert "stopped_at_step" not in full.meta and len(full) == 1


def test_keyboard_interrupt_returns_the_finished_epochs(problem, capsys):
    def on_step(step, loss, logits, y):
        if step == 8:  # in epoch 2 of 6 steps each
            raise KeyboardInterrupt

    model = tiny_net()
    h = T.fit(model, problem, epochs=4, batch_size=100, progress=False, device="cpu", on_step=on_step)
    assert len(h) == 1 and h.meta["interrupted"] is True and h.final.test_acc is not None
    assert not model.training  # left ready for inference, as after a full run
    assert "interrupted; returning the history of the 1 finished epoch" in capsys.readouterr().out


def test_history_to_json_is_atomic(problem, tmp_path, monkeypatch):
    h = T.fit(tiny_net(), problem, epochs=1, progress=False, device="cpu")
    target = tmp_path / "h.json"
    target.write_text("old")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)  # the rename that would publish the new file
    with pytest.raises(OSError, match="disk full"):
        h.to_json(target)
    assert target.read_text() == "old"  # the old file survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["h.json"]  # and no temporary file is left behind
    monkeypatch.undo()
    h.to_json(target)
    assert T.History.from_json(target).as_dicts() == h.as_dicts()


def test_channels_last_is_the_default_and_changes_the_speed_not_the_answer(problem):
    h = T.fit(tiny_net(), problem, epochs=1, progress=False, device="cpu")
    off = T.fit(tiny_net(), problem, epochs=1, progress=False, device="cpu", channels_last=False)
    assert h.meta["channels_last"] is True and off.meta["channels_last"] is False
    assert [r.test_acc for r in h] == [r.test_acc for r in off]  # the layout changes the speed, not the answer


class ViewFlatten(nn.Module):  # flattens as the blog post's LeNet5 does: x.view(N, -1) needs NCHW strides
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 8 * 8, 2)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


def test_a_view_flattening_model_trains_in_nchw_and_fit_says_so_once(problem, capsys):
    with pytest.raises(RuntimeError, match="view"):  # what NHWC does to it, forced
        T.fit(ViewFlatten(), problem, epochs=1, progress=False, device="cpu", channels_last=True)
    capsys.readouterr()
    model = ViewFlatten()
    h = T.fit(model, problem, epochs=2, progress=False, device="cpu")
    said = capsys.readouterr()
    text = said.out + said.err
    assert h.meta["channels_last"] is False and text.count("fails on channels-last (NHWC) batches") == 1
    assert "ViewFlatten" in text and "torch.flatten(x, 1)" in text and "channels_last=False silences" in text
    assert model.conv.weight.is_contiguous()  # left in the layout it trained in
    ref = T.fit(ViewFlatten(), problem, epochs=2, progress=False, device="cpu", channels_last=False)
    assert [r.test_acc for r in h] == [r.test_acc for r in ref]  # the fallback is exactly the NCHW run
    assert "channels-last" not in capsys.readouterr().out


def test_adam_is_fused_where_torch_has_it():
    opt = T._make_optimizer("adam", tiny_net().parameters(), None, 0.0)
    assert opt.defaults.get("fused") is True  # torch >= 2.4 on a CPU
    sgd = T._make_optimizer("sgd", tiny_net().parameters(), None, 0.0)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9


def test_a_model_that_returns_nothing_or_the_wrong_shape_is_named_before_training(problem):
    class NoReturn(nn.Module):  # the blog's LeNet5 bug: forward computes but returns nothing
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 2)

        def forward(self, x):
            self.fc(x.flatten(1))

    with pytest.raises(TypeError, match=r"returned NoneType \(does its forward end with `return`\?\)"):
        T.fit(NoReturn(), problem, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"logits of shape \(N, classes\); it returned shape \(1, 1, 8, 8\)"):
        T.fit(nn.Identity(), problem, progress=False, device="cpu")
