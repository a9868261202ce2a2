"""LeNet5 trained in the page book/lenet5_train_in_browser, driven in headless Chromium against the built book.

Proven here: in Chromium too, the page's JavaScript gives torch.autograd's loss and gradients and
torch.optim.SGD's weights (tolerances of tests/test_train_js.py); pressing Train makes the loss fall and
conv1's kernels change; Pause stops the step count; the numbers shown are the page's state; a button
press is answered within 100 ms while it trains; a diverging learning rate stops with its message and
Reset recovers; bad settings are answered with a message; the built page is within ~1.5 MB. No request
leaves the local server and no console error is printed (``Visit``).

Run:  CLASSICNETS_BOOK_BUILT=1 pytest -m browser tests/test_browser_train.py   (with a fresh _build/html)
"""

from __future__ import annotations

from typing import List

import pytest
import torch
from conftest import HTML, Visit, toc_pages
from test_browser import SHOTS
from test_train_js import GRAD_TOL, LOSS_TOL, WEIGHT_TOL, batch, short, torch_reference

from classicnets import browser_train as bt

pytestmark = pytest.mark.browser
PAGE = "book/lenet5_train_in_browser"
PAGE_BUDGET = 1_500_000
ROOT = "document.querySelector('.lnt-root')"


@pytest.fixture
def trainer(chromium, book_url):
    """The page opened, its data decoded (state 'ready'); closed at the end."""
    assert PAGE in toc_pages(), f"{PAGE} is not in _toc.yml"
    opened: List[Visit] = []

    def open_page() -> Visit:
        v = Visit(chromium, book_url, f"{PAGE}.html", viewport=(1280, 1000))
        opened.append(v)
        v.root = v.page.locator(".lnt-root").first
        v.root.wait_for()
        v.page.wait_for_function(f"() => {ROOT}.dataset.state === 'ready'", timeout=20_000)
        return v

    yield open_page
    for v in opened:
        v.close()


def state(v: Visit) -> dict:
    return v.page.evaluate(f"() => JSON.parse(JSON.stringify({ROOT}.classicnetsTrain.state()))")


def kernels(v: Visit) -> List[float]:
    return v.page.evaluate(f"() => {ROOT}.classicnetsTrain.kernels()")


def kernel_pixels(v: Visit) -> List[List[int]]:
    return v.page.evaluate(
        """() => Array.from(document.querySelectorAll('.lnt-kernel'),
                 (c) => Array.from(c.getContext('2d').getImageData(0, 0, 5, 5).data))"""
    )


def test_built_page_is_within_budget():
    size = (HTML / f"{PAGE}.html").stat().st_size
    assert size < PAGE_BUDGET, f"{PAGE}.html is {size:,} bytes"


def test_gradients_and_sgd_steps_equal_pytorch_in_chromium(trainer):
    v = trainer()
    for variant in bt.VARIANTS:
        check_gradients(v, variant)
    assert not v.problems, "\n".join(v.problems)


def check_gradients(v: Visit, variant: str) -> None:
    lr, momentum = 0.05, 0.9
    batches = [batch(0), batch(8), batch(16)]
    state_dict, loss, grads, after = torch_reference(variant, lr, momentum, batches)
    job = {
        "variant": variant,
        "state": {short(k): t.flatten().tolist() for k, t in state_dict.items()},
        "batches": [{"x": x.flatten().tolist(), "labels": y.tolist()} for x, y in batches],
        "lr": lr,
        "momentum": momentum,
    }
    got = v.page.evaluate(
        """(job) => {
            const T = window.classicnetsTrain, net = T.createNet(job.variant, T.paramsFrom(job.state));
            const run = (b) => T.lossAndGrad(net, Float32Array.from(b.x), b.labels, b.labels.length);
            const out = {loss: run(job.batches[0]), grad: {}, after: []};
            for (const n of T.NAMES) out.grad[n] = Array.from(net.grad[n]);
            for (const b of job.batches.slice(1)) {
              run(b); T.sgdStep(net, job.lr, job.momentum);
              const p = {}; for (const n of T.NAMES) p[n] = Array.from(net.params[n]); out.after.push(p);
            }
            return out;
        }""",
        job,
    )
    assert abs(got["loss"] - loss) < LOSS_TOL
    for key, g in grads.items():
        js = torch.tensor(got["grad"][short(key)], dtype=torch.float64).reshape(g.shape)
        assert ((js - g.double()).abs().max() / g.abs().max()).item() < GRAD_TOL, key
    for js_step, want in zip(got["after"], after):
        for key, w in want.items():
            js = torch.tensor(js_step[short(key)], dtype=torch.float64).reshape(w.shape)
            assert (js - w.double()).abs().max().item() < WEIGHT_TOL, key


def test_training_lowers_the_loss_changes_the_kernels_and_pause_stops(trainer):
    v = trainer()
    before, pixels = kernels(v), kernel_pixels(v)
    v.root.locator("input.lnt-epochs").fill("1")
    v.root.locator("button.lnt-train").click()
    v.page.wait_for_function(f"() => {ROOT}.classicnetsTrain.state().step >= 60", timeout=20_000)
    v.root.locator("button.lnt-pause").click()
    s = state(v)
    assert s["status"] == "paused" and v.root.get_attribute("data-state") == "paused"
    v.page.wait_for_timeout(400)
    assert state(v)["step"] == s["step"], "the steps went on after Pause"
    losses = s["losses"]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 0.3, f"the loss did not fall: {first:.3f} -> {last:.3f}"
    assert kernels(v) != before and kernel_pixels(v) != pixels, "conv1's kernels (or their picture) did not change"
    # the numbers shown are the state's
    fields = {f: v.root.locator(f'.lnt-status [data-field="{f}"]').inner_text() for f in ("step", "loss", "epoch")}
    assert fields == {"step": str(s["step"]), "loss": f"{losses[-1]:.4f}", "epoch": f"{s['epoch']:.2f}"}
    assert v.root.get_attribute("data-step") == str(s["step"])
    # while training, a press waits at most one slice
    assert s["longestSliceMs"] < 100, f"a slice of training took {s['longestSliceMs']:.0f} ms"
    latencies = v.page.evaluate(f"() => {ROOT}.classicnetsTrain.latencies")
    assert latencies and max(latencies) < 100, latencies
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "lenet5_train-paused.png"), full_page=True)
    # Train goes on to the end of the epoch: the accuracy curve and the confusion matrix of the held-out images
    v.root.locator("input.lnt-batch").fill("64")  # from the next step on
    v.root.locator("button.lnt-train").click()
    v.page.wait_for_function(f"() => {ROOT}.dataset.state === 'done'", timeout=30_000)
    s = state(v)
    assert s["batch"] == 64 and s["seen"] >= 3000 and len(s["evals"]) == 2
    accuracy = s["evals"][-1]["accuracy"]
    assert accuracy > 0.5, accuracy
    cells = v.root.locator(".lnt-confusion td")
    assert cells.count() == 100
    counts = [int(t) for t in cells.all_inner_texts()]
    assert counts == s["confusion"] and sum(counts) == 500
    assert sum(counts[i * 11] for i in range(10)) == round(accuracy * 500)
    assert v.root.locator('.lnt-status [data-field="accuracy"]').inner_text() == f"{accuracy:.3f}"
    v.page.screenshot(path=str(SHOTS / "lenet5_train-done.png"), full_page=True)
    assert not v.problems, "\n".join(v.problems)


def test_a_diverging_learning_rate_stops_with_its_message_and_reset_recovers(trainer):
    v = trainer()
    v.root.locator("select.lnt-network").select_option("modern")
    v.root.locator("input.lnt-lr").fill("1000")
    v.root.locator("button.lnt-train").click()
    v.page.wait_for_function(f"() => {ROOT}.dataset.state === 'diverged'", timeout=10_000)
    s = state(v)
    message = v.root.locator(".lnt-message").inner_text()
    assert message == s["message"]
    assert message.startswith("loss is ") and f"at step {s['step'] + 1} — lower the learning rate" in message
    assert v.root.locator("button.lnt-train").is_disabled()
    v.root.locator("input.lnt-lr").fill("0.05")
    v.root.locator("button.lnt-reset").click()
    after = state(v)
    assert after["status"] == "ready" and after["step"] == 0 and after["lr"] == 0.05 and after["variant"] == "modern"
    assert not v.root.locator(".lnt-message").is_visible()
    v.root.locator("button.lnt-train").click()
    v.page.wait_for_function(f"() => {ROOT}.classicnetsTrain.state().step >= 20", timeout=20_000)
    v.root.locator("button.lnt-pause").click()
    losses = state(v)["losses"]
    assert all(loss < 10 for loss in losses) and sum(losses[-5:]) < sum(losses[:5])
    assert not v.problems, "\n".join(v.problems)


BAD = [
    ("input.lnt-batch", "0", "32", 'batch size must be a whole number from 1 to 3000, got "0": type e.g. 32'),
    ("input.lnt-lr", "fast", "0.05", 'learning rate must be a positive number, got "fast": type e.g. 0.05'),
]


def test_bad_settings_are_answered_and_nothing_trains(trainer):
    v = trainer()
    for selector, value, good, message in BAD:
        v.root.locator(selector).fill(value)
        v.root.locator("button.lnt-train").click()
        assert v.root.locator(".lnt-message").inner_text() == message
        v.page.wait_for_timeout(100)
        assert state(v)["step"] == 0 and state(v)["status"] == "ready"
        v.root.locator(selector).fill(good)
    assert not v.problems, "\n".join(v.problems)
