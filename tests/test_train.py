"""classicnets.train: fit, evaluate, predict, History, augmentation, device picking."""
from __future__ import annotations

import json
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
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(dropout), nn.Linear(4 * 4 * 4, classes),
    )  # fmt: skip


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
        T.fit(tiny_net(0, dropout=0.2), problem, epochs=2, batch_size=64, seed=3, progress=False, device="cpu",
              augment=T.random_crop_flip(pad=1))
        for _ in range(2)
    ]  # fmt: skip
    assert metrics(runs[0]) == metrics(runs[1])
    other = T.fit(tiny_net(0, dropout=0.2), problem, epochs=2, batch_size=64, seed=4, progress=False, device="cpu",
                  augment=T.random_crop_flip(pad=1))  # fmt: skip
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
    h = T.fit(tiny_net(), (x, y), epochs=2, optimizer=torch.optim.RMSprop, lr=1e-3, schedule="cosine",
              progress=False, device="cpu")  # fmt: skip
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
        crops = [
            padded[i, :, dy : dy + 10, dx : dx + 12] for dy in range(5) for dx in range(5)
        ]
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
