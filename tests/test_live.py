"""classicnets.live and classicnets.export: the trained LeNet5 that runs in the reader's browser.

* the committed weights are the real thing: loaded into ``lenet5(...)`` they score the recorded
  test accuracy on the whole Fashion-MNIST test set;
* the embedded images are the test set's, prepared exactly as the training data;
* the JavaScript forward pass (under node) gives PyTorch's logits to 1e-4 and its predicted class
  for every embedded image, and every intermediate map; its receptive fields are the arithmetic's;
* the HTML is self-contained and within the page's budget.

The same forward pass is checked in Chromium by tests/test_browser_live.py.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from conftest import REPO
from test_explorer import parse

from classicnets import export
from classicnets.arithmetic import trace
from classicnets.live import live_html, live_js, live_payload
from classicnets.models import lenet5
from classicnets.specs import lenet5_spec

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (the browser tests cover this)")
BUDGET_BYTES = 420_000  # the page adds at most ~400 KB
SPEC_LAYERS = ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "fc1", "act3", "fc2", "act4", "fc3"]


@pytest.fixture(scope="module")
def data():
    from classicnets.data import load_fashion_mnist

    return load_fashion_mnist(pad=export.PAD, progress=False)


@pytest.fixture(scope="module")
def images():
    return export.read_images()


def torch_outputs(model: torch.nn.Module, variant: str, x: torch.Tensor) -> dict:
    """Every layer's output by the spec's layer names, with PyTorch's functional ops on the model's own
    weights (float32); the last one is checked against the model's forward."""
    F = torch.nn.functional
    p = dict(export.model_tensors(model))
    act = torch.tanh if variant == "blog" else torch.relu  # as lenet5_spec says
    pool = F.avg_pool2d if variant == "blog" else F.max_pool2d
    out = {}
    with torch.no_grad():
        out["conv1"] = F.conv2d(x, p["conv1.weight"], p["conv1.bias"])
        out["act1"] = act(out["conv1"])
        out["pool1"] = pool(out["act1"], 2)
        out["conv2"] = F.conv2d(out["pool1"], p["conv2.weight"], p["conv2.bias"])
        out["act2"] = act(out["conv2"])
        out["pool2"] = pool(out["act2"], 2)
        out["fc1"] = F.linear(out["pool2"].flatten(1), p["fc1.weight"], p["fc1.bias"])
        out["act3"] = act(out["fc1"])
        out["fc2"] = F.linear(out["act3"], p["fc2.weight"], p["fc2.bias"])
        out["act4"] = act(out["fc2"])
        out["fc3"] = F.linear(out["act4"], p["fc3.weight"], p["fc3.bias"])
        torch.testing.assert_close(out["fc3"], model(x))
    assert sorted(out) == sorted(SPEC_LAYERS)
    return out


# --------------------------------------------------------------------------- the weights and their record


def test_record_names_the_command_the_versions_and_the_files():
    rec = export.read_record()
    assert rec.kind == export.RECORD_KIND
    assert rec.command.startswith("python -m classicnets.export")
    for key in ("date", "torch", "python", "classicnets"):
        assert rec.env[key], key
    record = rec.payload
    assert record["settings"]["seed"] == export.SETTINGS["seed"]
    assert record["weights_sha256"] == export.sha256(export.WEIGHTS_PATH), "weights file changed since its record"
    assert record["images_sha256"] == export.sha256(export.IMAGES_PATH), "images file changed since its record"
    assert set(record["networks"]) == set(export.VARIANTS)


@pytest.mark.parametrize("variant", export.VARIANTS)
def test_stored_weights_score_the_recorded_accuracy(variant, data, one_thread):
    from classicnets.train import evaluate

    recorded = export.read_record().payload["networks"][variant]
    model = export.load_lenet5(variant)
    acc = evaluate(model, data.x_test, data.y_test)
    assert len(data.y_test) == recorded["n_test"] == 10_000
    assert acc == pytest.approx(recorded["test_acc_stored"], abs=0.002)
    assert acc > 0.85, f"{variant}: {acc:.4f} is not a trained LeNet5 on Fashion-MNIST"


@pytest.mark.parametrize("variant", export.VARIANTS)
def test_loader_fills_every_layer_with_the_stored_float16_values(variant):
    stored = json.loads(export.WEIGHTS_PATH.read_text())["networks"][variant]
    raw = np.frombuffer(base64.b85decode(stored["data"].translate(str.maketrans(",.:", "<>&"))), dtype="<f2")
    raw = raw[: stored["bytes"] // 2]
    model = export.load_lenet5(variant)
    params = export.model_tensors(model)
    assert [name for name, _ in params] == [t["name"] for t in stored["tensors"]]
    assert sum(t.numel() for _, t in params) == raw.size == 61_706
    flat = torch.cat([t.flatten() for _, t in params]).numpy()
    np.testing.assert_array_equal(flat, raw.astype(np.float32))
    # the same values under the model's own state_dict keys, whatever they are
    assert sum(v.numel() for v in model.state_dict().values()) == 61_706


def test_loader_names_the_layer_that_does_not_fit():
    tensors = export.decode_network(json.loads(export.WEIGHTS_PATH.read_text())["networks"]["blog"])
    with pytest.raises(export.WeightsError, match=r"fc3\.weight: the file holds shape \(10, 84\).*\(5, 84\)"):
        export.load_into(lenet5("blog", num_classes=5), tensors)
    with pytest.raises(export.WeightsError, match="no module called conv1"):
        export.load_into(torch.nn.Sequential(torch.nn.Linear(2, 2)), tensors)
    with pytest.raises(export.WeightsError, match="no trained weights for variant 'paper'"):
        export.load_lenet5("paper")


def test_float16_blob_round_trips():
    model = lenet5("modern")
    back = export.decode_network(export.encode_network(model))
    for name, t in export.model_tensors(model):
        torch.testing.assert_close(back[name], t.to(torch.float16).float(), rtol=0, atol=0)


# --------------------------------------------------------------------------- the embedded images


def test_run_length_encoding_round_trips():
    rng = np.random.default_rng(0)
    cases = [np.zeros(784), np.full(784, 255), rng.integers(0, 3, 784), rng.integers(0, 256, 784)]
    cases.append(np.concatenate([np.zeros(600), np.arange(1, 185)]))
    for pixels in cases:
        pixels = pixels.astype(np.uint8)
        np.testing.assert_array_equal(export.decode_image(export.encode_image(pixels), 784), pixels)
    with pytest.raises(export.WeightsError, match="decodes to 3 pixels"):
        export.decode_image(bytes([3, 0]), 784)


def test_embedded_images_are_the_first_ten_test_images_of_each_class(images):
    from classicnets.data import FASHION_MNIST, find_dataset_dir, read_idx

    folder = find_dataset_dir(FASHION_MNIST)
    raw = read_idx(folder / FASHION_MNIST.test_images.filename, FASHION_MNIST.test_images, FASHION_MNIST)
    labels = read_idx(folder / FASHION_MNIST.test_labels.filename, FASHION_MNIST.test_labels, FASHION_MNIST)
    idx = images["index"]
    assert len(idx) == 100 and len(set(idx)) == 100
    np.testing.assert_array_equal(images["pixels"], raw[idx])
    assert images["label"] == [int(labels[i]) for i in idx]
    assert np.bincount(images["label"]).tolist() == [10] * 10
    for c in range(10):  # the first ten of class c, none skipped
        assert [i for i in idx if labels[i] == c] == list(np.flatnonzero(labels == c)[:10])


def test_prepare_matches_the_training_data(images, data):
    weights = export.read_weights()
    assert weights["input"]["mean"] == data.mean and weights["input"]["std"] == data.std
    x = export.prepare(images["pixels"], data.mean, data.std)
    torch.testing.assert_close(x, data.x_test[images["index"]], rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- the HTML


def test_html_is_self_contained_and_within_budget():
    html = live_html()
    tags = parse(html).tags
    kinds = [t[0] for t in tags if t[0] in ("script", "style", "link", "img", "iframe")]
    assert kinds == ["style", "script", "script", "script", "script"]
    for tag, attrs, _ in tags:
        for name in ("src", "href"):
            assert name not in attrs, f"<{tag} {name}={attrs[name]!r}> loads something from elsewhere"
    assert "http://" not in html and "https://" not in html
    code = [text for tag, attrs, text in tags if tag == "script" and not attrs.get("type")][0]
    assert live_js().strip() in code
    data = {
        attrs["id"].rsplit("-", 1)[1]: json.loads(text)
        for tag, attrs, text in tags
        if tag == "script" and attrs.get("type") == "application/json"
    }
    assert data == json.loads(json.dumps(live_payload()))
    for v in export.VARIANTS:
        assert data["specs"][v]["spec"] == json.loads(json.dumps(lenet5_spec(v).to_dict()))
    size = len(html.encode("utf-8"))
    assert size < BUDGET_BYTES, f"the viewer is {size:,} bytes, over the page's budget"


def test_bad_arguments_say_what_to_use():
    with pytest.raises(ValueError, match=r"initial='paper'.*'blog' or 'modern'"):
        live_html(initial="paper")
    with pytest.raises(ValueError, match=r"image=100.*from 0 to 99"):
        live_html(image=100)
    a, b = live_html(), live_html()
    assert parse(a).tags[1][1]["id"] != parse(b).tags[1][1]["id"]


def test_page_displays_it_after_chapter_3():
    nb = json.loads((REPO / "book" / "lenet5_inside.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert any("live_html(" in src and "HTML(" in src for src in code)
    from conftest import toc_pages

    pages = toc_pages()
    assert pages.index("book/lenet5_inside") == pages.index("book/03_lenet5_training") + 1
    explorer = (REPO / "book" / "explorer.ipynb").read_text(encoding="utf-8")
    assert "lenet5_inside" in explorer, "the explorer page does not link to the network viewer"


# --------------------------------------------------------------------------- the JavaScript under node

HARNESS = r"""
const fs = require("fs");
const live = require(process.argv[2]);
const job = JSON.parse(fs.readFileSync(0, "utf8"));
const p = job.payload, input = p.weights.input, H = p.images.height, W = p.images.width;
const out = {};
for (const v of Object.keys(p.specs)) {
  const params = live.unpackNetwork(p.weights.networks[v]);
  const spec = p.specs[v].spec;
  const fields = live.receptiveFields(p.specs[v].geometry, spec);
  const boxes = {};
  for (const [name, f] of Object.entries(fields)) {
    boxes[name] = [];
    for (let i = 0; i < f.shape[1]; i++) {
      for (let j = 0; j < f.shape[2]; j++) boxes[name].push(live.unitBox(f, i, j, [32, 32]));
    }
  }
  out[v] = {logits: [], probs: [], layers: [], fields: fields, boxes: boxes, inputs: []};
  p.images.data.forEach((b64, n) => {
    const px = Array.from(live.decodeImage(b64, H * W), (b) => b / 255);
    const x = live.prepare(px, H, W, input);
    const r = live.forward(spec, params, x);
    out[v].logits.push(r.logits);
    out[v].probs.push(r.probs);
    if (n < job.detailed) {
      out[v].inputs.push(Array.from(x));
      out[v].layers.push(r.outputs.map((o) => ({name: o.name, shape: o.shape, data: Array.from(o.data)})));
    }
  });
}
const d = job.downsample;
out.downsample = Array.from(live.downsample(Uint8ClampedArray.from(d.rgba), d.width, d.height, d.factor));
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node_run(tmp_path_factory):
    if NODE is None:
        pytest.skip("node is not installed")
    harness = tmp_path_factory.mktemp("live") / "harness.js"
    harness.write_text(HARNESS, encoding="utf-8")
    rng = np.random.default_rng(1998)
    rgba = rng.integers(0, 256, (60, 50, 4), dtype=np.uint8)
    job = {
        "payload": live_payload(),
        "detailed": 4,
        "downsample": {"rgba": rgba.ravel().tolist(), "width": 50, "height": 60, "factor": 10},
    }
    assets = REPO / "classicnets" / "assets"
    proc = subprocess.run(
        [NODE, str(harness), str(assets / "lenet_live.js")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(proc.stdout), rgba


@needs_node
@pytest.mark.parametrize("variant", export.VARIANTS)
def test_javascript_logits_match_pytorch(variant, node_run, images):
    js = node_run[0][variant]
    weights = export.read_weights()["input"]
    x = export.prepare(images["pixels"], weights["mean"], weights["std"])
    with torch.no_grad():
        logits = export.load_lenet5(variant)(x)
    got = torch.tensor(js["logits"], dtype=torch.float64)
    diff = (got - logits.double()).abs().max().item()
    assert diff < 1e-4, f"{variant}: JavaScript and PyTorch logits differ by up to {diff:.2e}"
    assert got.argmax(1).tolist() == logits.argmax(1).tolist()
    torch.testing.assert_close(
        torch.tensor(js["probs"], dtype=torch.float64), logits.double().softmax(1), rtol=0, atol=1e-5
    )


@needs_node
@pytest.mark.parametrize("variant", export.VARIANTS)
def test_javascript_maps_match_pytorch_layer_by_layer(variant, node_run, images):
    js = node_run[0][variant]
    weights = export.read_weights()["input"]
    n = len(js["layers"])
    x = export.prepare(images["pixels"][:n], weights["mean"], weights["std"])
    torch.testing.assert_close(
        torch.tensor(js["inputs"], dtype=torch.float64), x.flatten(1).double(), rtol=0, atol=1e-6
    )
    ref = torch_outputs(export.load_lenet5(variant), variant, x)
    for k in range(n):
        assert [layer["name"] for layer in js["layers"][k]] == [
            "conv1",
            "act1",
            "pool1",
            "conv2",
            "act2",
            "pool2",
            "flatten",
            "fc1",
            "act3",
            "fc2",
            "act4",
            "fc3",
        ]
        for layer in js["layers"][k]:
            if layer["name"] == "flatten":
                continue
            want = ref[layer["name"]][k]
            assert layer["shape"] == list(want.shape), layer["name"]
            got = torch.tensor(layer["data"], dtype=torch.float64).reshape(want.shape)
            diff = (got - want.double()).abs().max().item()
            assert diff < 1e-4, f"{variant} image {k} {layer['name']}: differs by {diff:.2e}"


@needs_node
@pytest.mark.parametrize("variant", export.VARIANTS)
def test_javascript_receptive_fields_are_the_arithmetic(variant, node_run):
    fields = node_run[0][variant]["fields"]
    rows = {r.name: r for r in trace(lenet5_spec(variant)).rows if r.kind in ("conv", "pool")}
    assert set(fields) == set(rows) == {"conv1", "pool1", "conv2", "pool2"}
    for name, row in rows.items():
        assert fields[name]["rf"] == list(row.rf) and fields[name]["jump"] == list(row.jump), name
        assert fields[name]["start"] == [0, 0] and fields[name]["shape"] == list(row.out_shape)
        (rf, _), (jump, _) = row.rf, row.jump
        want = [
            {"top": i * jump, "left": j * jump, "height": rf, "width": rf}  # no padding: never clipped
            for i in range(row.out_shape[1])
            for j in range(row.out_shape[2])
        ]
        assert node_run[0][variant]["boxes"][name] == want, name


@needs_node
def test_javascript_downsampling_is_a_block_mean(node_run):
    out, rgba = node_run
    red = torch.tensor(rgba[..., 0], dtype=torch.float64)[None, None] / 255
    want = torch.nn.functional.avg_pool2d(red, 10).flatten()  # 60×50 -> 6×5
    torch.testing.assert_close(torch.tensor(out["downsample"], dtype=torch.float64), want, rtol=0, atol=1e-12)


def test_export_command_rejects_bad_arguments(capsys, tmp_path):
    with pytest.raises(SystemExit):
        export.main(["--epochs", "0"])
    assert "--epochs must be at least 1, got 0" in capsys.readouterr().err
    other = tmp_path / "weights.json"
    other.write_text(json.dumps({"schema": "something/1"}))
    with pytest.raises(export.WeightsError, match=r"schema 'something/1'.*rerun python -m classicnets.export"):
        export.load_lenet5("blog", path=other)
