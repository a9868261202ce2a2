"""The in-browser LeNet5 trainer (classicnets/assets/lenet_train*.js) under node, against PyTorch.

What is proven here (and again in Chromium by tests/test_browser_train.py):

* from one state_dict and one batch, the JavaScript's mean cross-entropy and every parameter's gradient
  equal ``torch.autograd``'s on ``lenet5("blog")`` and ``lenet5("modern")`` (float32 PyTorch; the
  JavaScript keeps float32 parameters and sums in float64): within :data:`GRAD_TOL` (relative to the
  largest gradient of each tensor) and the loss within :data:`LOSS_TOL`;
* three SGD steps with momentum 0.9 (three batches) give ``torch.optim.SGD``'s weights within
  :data:`WEIGHT_TOL`;
* the embedded data decodes to exactly :func:`classicnets.browser_train.subset`'s pixels and labels,
  prepared as :func:`classicnets.browser_train.prepare` (to float32 rounding);
* the trainer stops on a diverging learning rate with the page's message, and bad settings are answered
  with a message naming the input, the value and the fix;
* the HTML is self-contained and within the page's budget.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import REPO
from test_explorer import parse

from classicnets import browser_train as bt
from classicnets.models import lenet5

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (the browser tests cover this)")
ASSETS = REPO / "classicnets" / "assets"
NAMES = ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias"]
NAMES += ["fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
GRAD_TOL = 1e-5  # max |JS − torch| / max |torch| per tensor (measured 3e-6)
LOSS_TOL = 1e-6  # measured 4e-7
WEIGHT_TOL = 1e-7  # absolute, after three SGD steps (weights are ~0.1; measured 1.5e-8)
HTML_BUDGET = 1_200_000  # the fragment; the built page adds the book's own HTML (tests/test_browser_train.py)

HARNESS = r"""
const fs = require("fs");
const T = require(process.argv[2]);
const job = JSON.parse(fs.readFileSync(0, "utf8"));
(async () => {
  const out = {};
  if (job.grads) {
    const g = job.grads, net = T.createNet(g.variant, T.paramsFrom(g.state));
    out.loss = T.lossAndGrad(net, Float32Array.from(g.x), g.labels, g.labels.length);
    out.grad = {};
    for (const n of T.NAMES) out.grad[n] = Array.from(net.grad[n]);
    out.after = [];
    for (const b of g.steps) {
      T.lossAndGrad(net, Float32Array.from(b.x), b.labels, b.labels.length);
      T.sgdStep(net, g.lr, g.momentum);
      const p = {};
      for (const n of T.NAMES) p[n] = Array.from(net.params[n]);
      out.after.push(p);
    }
  }
  if (job.payload) {
    const d = await T.decodeData(job.payload.data);
    out.data = {};
    for (const s of ["train", "test"]) {
      const x = Array.from(d[s].x.subarray(0, 8 * 1024));
      out.data[s] = {pixels: Array.from(d[s].pixels), labels: Array.from(d[s].labels), x: x};
    }
    const tr = T.createTrainer(d, Object.assign({}, job.payload.settings, job.trainer));
    out.messages = job.bad.map(([k, v]) => tr.set({[k]: v}));
    tr.start();
    for (let i = 0; i < 400 && tr.state.status === "training"; i++) tr.work(50);
    out.trainer = {status: tr.state.status, message: tr.state.message, step: tr.state.step, losses: tr.state.losses};
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e.stack); process.exit(1); });
"""


def node(job: dict, tmp_path) -> dict:
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS, encoding="utf-8")
    proc = subprocess.run(
        [NODE, str(harness), str(ASSETS / "lenet_train_loop.js")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def batch(start: int, n: int = 8):
    s = bt.subset()
    x = bt.prepare(s["x_train"][start : start + n], s["mean"], s["std"])
    return x, torch.tensor(s["y_train"][start : start + n], dtype=torch.long)


def torch_reference(variant: str, lr: float, momentum: float, batches):
    """The loss and gradients on batches[0], then the weights after one SGD step on each later batch."""
    torch.manual_seed(20)
    model = lenet5(variant)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = batches[0]
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    after = []
    for xb, yb in batches[1:]:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
        after.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    return state, loss.item(), grads, after


def short(key: str) -> str:
    """``features.conv1.weight`` -> ``conv1.weight`` (the JavaScript's names)."""
    return ".".join(key.split(".")[-2:])


@pytest.mark.parametrize("variant", bt.VARIANTS)
def test_loss_gradients_and_sgd_steps_equal_pytorch(variant, tmp_path, one_thread):
    lr, momentum = 0.05, 0.9
    batches = [batch(0), batch(8), batch(16), batch(24)]
    state, loss, grads, after = torch_reference(variant, lr, momentum, batches)
    job = {
        "grads": {
            "variant": variant,
            "state": {short(k): v.flatten().tolist() for k, v in state.items()},
            "x": batches[0][0].flatten().tolist(),
            "labels": batches[0][1].tolist(),
            "lr": lr,
            "momentum": momentum,
            "steps": [{"x": xb.flatten().tolist(), "labels": yb.tolist()} for xb, yb in batches[1:]],
        }
    }
    got = node(job, tmp_path)
    assert sorted(short(k) for k in grads) == sorted(NAMES)
    assert abs(got["loss"] - loss) < LOSS_TOL, (got["loss"], loss)
    for key, g in grads.items():
        js = torch.tensor(got["grad"][short(key)], dtype=torch.float64).reshape(g.shape)
        rel = ((js - g.double()).abs().max() / g.abs().max()).item()
        assert g.abs().max() > 0, f"{key}: PyTorch's gradient is all zero; the test would prove nothing"
        assert rel < GRAD_TOL, f"{variant} {key}: JavaScript and torch.autograd differ by {rel:.1e} of the largest"
    for k, (js_step, want) in enumerate(zip(got["after"], after)):
        for key, w in want.items():
            js = torch.tensor(js_step[short(key)], dtype=torch.float64).reshape(w.shape)
            diff = (js - w.double()).abs().max().item()
            assert diff < WEIGHT_TOL, f"{variant} {key} after SGD step {k + 1}: differs by {diff:.1e}"
            assert not torch.equal(w, state[key]), f"{key}: the step changed nothing"


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    job = {
        "payload": bt.train_payload(),
        "trainer": {"variant": "modern", "lr": 1e4, "batch": 8},
        "bad": [["batch", "0"], ["lr", "abc"], ["lr", "-1"], ["epochs", "2.5"], ["batch", "3001"]],
    }
    return node(job, tmp_path_factory.mktemp("train"))


def test_embedded_data_decodes_to_the_subset(decoded):
    s = bt.subset()
    for split, n in (("train", 3000), ("test", 500)):
        got = decoded["data"][split]
        assert len(got["labels"]) == n
        np.testing.assert_array_equal(np.array(got["pixels"], dtype=np.uint8).reshape(n, 28, 28), s[f"x_{split}"])
        np.testing.assert_array_equal(got["labels"], s[f"y_{split}"])
        assert np.bincount(got["labels"]).tolist() == [n // 10] * 10
        want = bt.prepare(s[f"x_{split}"][:8], s["mean"], s["std"]).flatten()
        torch.testing.assert_close(torch.tensor(got["x"]), want, rtol=0, atol=1e-6)


def test_subset_is_the_first_images_of_each_class_rounded_to_16_levels():
    from classicnets.data import load_fashion_mnist

    s = bt.subset()
    full = load_fashion_mnist(pad=0, normalize=False, progress=False)
    for split in ("train", "test"):
        labels = getattr(full, f"y_{split}").numpy()
        idx = s[f"index_{split}"]
        for c in range(10):
            assert sorted(i for i in idx if labels[i] == c) == list(np.flatnonzero(labels == c)[: len(idx) // 10])
        raw = np.rint(getattr(full, f"x_{split}")[idx, 0].numpy() * 255)
        assert np.abs(s[f"x_{split}"] - raw).max() <= 8  # rounding to the nearest multiple of 17
        assert set(np.unique(s[f"x_{split}"])) <= set(range(0, 256, 17))
    np.testing.assert_array_equal(bt.unpack(bt.pack(s["x_test"]), s["x_test"].size), s["x_test"].ravel())


def test_a_diverging_learning_rate_stops_with_the_message(decoded):
    t = decoded["trainer"]
    assert t["status"] == "diverged"
    assert t["message"].startswith(f"loss is NaN at step {t['step'] + 1} — lower the learning rate") or (
        t["message"].startswith("loss is ") and f"at step {t['step'] + 1} — lower the learning rate" in t["message"]
    ), t["message"]
    assert all(np.isfinite(t["losses"])), "a non-finite loss was recorded as a step"


def test_bad_settings_name_the_input_the_value_and_the_fix(decoded):
    assert decoded["messages"] == [
        'batch size must be a whole number from 1 to 3000, got "0": type e.g. 32',
        'learning rate must be a positive number, got "abc": type e.g. 0.05',
        'learning rate must be a positive number, got "-1": type e.g. 0.05',
        'epochs must be a whole number from 1 to 50, got "2.5": type e.g. 4',
        'batch size must be a whole number from 1 to 3000, got "3001": type e.g. 32',
    ]


def test_html_is_self_contained_and_within_budget():
    html = bt.train_html()
    tags = parse(html).tags
    assert [t[0] for t in tags if t[0] in ("script", "style", "link", "img", "iframe")] == [
        "style",
        "script",
        "script",
        "script",
    ]
    for tag, attrs, _ in tags:
        assert "src" not in attrs and "href" not in attrs, f"<{tag}> loads something from elsewhere"
    assert "http://" not in html and "https://" not in html
    size = len(html.encode("utf-8"))
    assert size < HTML_BUDGET, f"the trainer is {size:,} bytes, over its budget"
    with pytest.raises(ValueError, match=r"variant='paper'.*'blog' or 'modern'"):
        bt.train_html("paper")
