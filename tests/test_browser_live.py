"""The in-browser LeNet5 of book/lenet5_inside, driven in headless Chromium against the built book.

The forward pass gives PyTorch's logits (to 1e-4) for every embedded image in Chromium too; picking
an image shows PyTorch's class; a stroke drawn with the mouse (or a finger) redraws the maps and the
prediction is PyTorch's on the same 28×28 drawing; switching networks changes the maps; hovering a
unit draws a receptive-field box of the size classicnets.arithmetic gives. No request leaves the
local server and no console error is printed (``Visit`` from test_browser.py records both).

Run:  CLASSICNETS_BOOK_BUILT=1 pytest -m browser tests/test_browser_live.py   (with a fresh _build/html)
"""

from __future__ import annotations

import hashlib
from typing import List

import numpy as np
import pytest
import torch
from conftest import Visit, toc_pages
from test_browser import SHOTS

from classicnets import export
from classicnets.arithmetic import trace
from classicnets.specs import lenet5_spec

pytestmark = pytest.mark.browser
PAGE = "book/lenet5_inside"
MAPS = ("conv1", "pool1", "conv2", "pool2")


@pytest.fixture
def live(chromium, book_url):
    """The page opened, its viewer mounted; closed (after checking for problems by each test) at the end."""
    assert PAGE in toc_pages(), f"{PAGE} is not in _toc.yml"
    opened: List[Visit] = []

    def open_page() -> Visit:
        v = Visit(chromium, book_url, f"{PAGE}.html", viewport=(1400, 1000))
        opened.append(v)
        v.root = v.page.locator(".lnl-root").first
        v.root.wait_for()
        v.page.wait_for_function("() => document.querySelector('.lnl-root').getAttribute('data-state') === 'ok'")
        return v

    yield open_page
    for v in opened:
        v.close()


def pytorch_logits(variant: str, pixels01: np.ndarray) -> torch.Tensor:
    weights = export.read_weights()["input"]
    x = export.prepare(np.asarray(pixels01, dtype=np.float64) * 255.0, weights["mean"], weights["std"])
    with torch.no_grad():
        return export.load_lenet5(variant)(x.float())


def canvas_digest(v: Visit, selector: str) -> str:
    data = v.page.evaluate(
        """(sel) => { const c = document.querySelector(sel);
                      return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""",
        selector,
    )
    return hashlib.sha256(bytes(data)).hexdigest()


def renders(v: Visit) -> int:
    return int(v.root.get_attribute("data-renders"))


def test_forward_pass_matches_pytorch_in_chromium(live):
    v = live()
    got = v.page.evaluate(
        """() => {
            const root = document.querySelector('.lnl-root');
            const read = (part) => JSON.parse(document.getElementById(root.id + '-' + part).textContent);
            const specs = read('specs'), weights = read('weights'), images = read('images');
            const live = window.classicnetsLive, out = {};
            for (const v of Object.keys(specs)) {
              const params = live.unpackNetwork(weights.networks[v]);
              out[v] = images.data.map((b64) => {
                const px = Array.from(live.decodeImage(b64, 784), (b) => b / 255);
                return live.forward(specs[v].spec, params, live.prepare(px, 28, 28, weights.input)).logits;
              });
            }
            return out;
        }"""
    )
    images = export.read_images()
    assert set(got) == set(export.VARIANTS)
    for variant in export.VARIANTS:
        want = pytorch_logits(variant, images["pixels"] / 255.0)
        js = torch.tensor(got[variant], dtype=torch.float64)
        assert js.shape == (100, 10)
        diff = (js - want.double()).abs().max().item()
        assert diff < 1e-4, f"{variant}: Chromium and PyTorch logits differ by up to {diff:.2e}"
        assert js.argmax(1).tolist() == want.argmax(1).tolist()
    assert not v.problems, "\n".join(v.problems)


def test_maps_are_labelled_with_the_arithmetic_shapes(live):
    v = live()
    rows = {r.name: r for r in trace(lenet5_spec("modern")).rows}
    titles = v.root.locator(".lnl-title").all_inner_texts()
    for name in MAPS + ("fc1", "fc2", "fc3"):
        shape = "×".join(map(str, rows[name].out_shape))
        assert any(t.startswith(name) and t.endswith(shape) or f"{name} → softmax · {shape}" in t for t in titles), (
            name,
            shape,
            titles,
        )
    counts = {name: v.root.locator(f'.lnl-maps canvas[data-layer="{name}"]').count() for name in MAPS}
    assert counts == {"conv1": 6, "pool1": 6, "conv2": 16, "pool2": 16}
    assert v.root.locator(".lnl-thumb").count() == 100
    assert v.root.locator(".lnl-prob").count() == 10
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.parametrize("variant", export.VARIANTS)
def test_picking_an_image_shows_pytorchs_class(live, variant):
    v = live()
    images = export.read_images()
    v.root.locator("select.lnl-network").select_option(variant)
    assert v.root.get_attribute("data-variant") == variant
    want = pytorch_logits(variant, images["pixels"] / 255.0).argmax(1).tolist()
    picks = [n for n in range(100) if want[n] != want[0]][:3] + [0]  # the shown class must change
    classes = export.read_weights()["classes"]
    for n in picks:
        before = renders(v)
        v.root.locator(f'.lnl-thumb[data-index="{n}"]').click()
        assert renders(v) == before + 1
        assert int(v.root.get_attribute("data-prediction")) == want[n], f"image {n}"
        shown = v.root.locator(".lnl-prediction").inner_text()
        assert shown.startswith(f"Prediction: {classes[want[n]]} ("), shown
        assert f"test image {images['index'][n]}, label {classes[images['label'][n]]}" in shown
        assert v.root.locator(".lnl-prob.lnl-best").get_attribute("data-class") == str(want[n])
    thumb = v.root.locator(f'.lnl-thumb[data-index="{picks[0]}"]')  # the keyboard picks too
    thumb.focus()
    v.page.keyboard.press("Enter")
    assert int(v.root.get_attribute("data-prediction")) == want[picks[0]]
    assert not v.problems, "\n".join(v.problems)


def test_switching_networks_redraws_the_maps(live):
    v = live()
    digests = {}
    for variant in ("modern", "blog", "modern"):
        v.root.locator("select.lnl-network").select_option(variant)
        assert v.root.get_attribute("data-variant") == variant
        digests.setdefault(variant, []).append(canvas_digest(v, '.lnl-maps canvas[data-layer="conv1"]'))
    assert digests["modern"][0] == digests["modern"][1], "the same network and image drew different maps"
    assert digests["modern"][0] != digests["blog"][0], "blog and modern drew the same conv1 map"
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "lenet5_inside-blog.png"), full_page=True)
    assert not v.problems, "\n".join(v.problems)


def _drawn_input(v: Visit) -> np.ndarray:
    """The 28×28 input the viewer uses, and a check that it is the block mean of the drawing canvas."""
    pixels = np.array(v.page.evaluate("() => Array.from(document.querySelector('.lnl-root').classicnetsLive.input())"))
    rgba = np.array(
        v.page.evaluate(
            """() => { const c = document.querySelector('.lnl-draw');
                   return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""
        ),
        dtype=np.float64,
    ).reshape(280, 280, 4)
    np.testing.assert_allclose(
        pixels.reshape(28, 28), rgba[..., 0].reshape(28, 10, 28, 10).mean((1, 3)) / 255, atol=1e-12
    )
    return pixels.reshape(1, 28, 28)


def test_drawing_redraws_the_maps_and_predicts_like_pytorch(live):
    v = live()
    v.root.locator("button.lnl-clear").click()
    blank = _drawn_input(v)
    assert not blank.any()
    variant = v.root.get_attribute("data-variant")
    assert int(v.root.get_attribute("data-prediction")) == int(pytorch_logits(variant, blank).argmax())
    conv1 = canvas_digest(v, '.lnl-maps canvas[data-layer="conv1"]')

    box = v.root.locator("canvas.lnl-draw").bounding_box()
    before = renders(v)
    v.page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.2)
    v.page.mouse.down()
    for t in np.linspace(0, 1, 12):
        v.page.mouse.move(box["x"] + box["width"] * (0.3 + 0.4 * t), box["y"] + box["height"] * (0.2 + 0.6 * t))
    v.page.mouse.up()
    v.page.wait_for_function(
        f"() => Number(document.querySelector('.lnl-root').getAttribute('data-renders')) > {before}"
    )
    v.page.wait_for_timeout(100)  # the last animation frame
    drawn = _drawn_input(v)
    assert drawn.sum() > 20, "the stroke left almost no ink on the 28×28 input"
    assert canvas_digest(v, '.lnl-maps canvas[data-layer="conv1"]') != conv1, "the maps were not redrawn"
    assert int(v.root.get_attribute("data-prediction")) == int(pytorch_logits(variant, drawn).argmax())
    assert "your drawing" in v.root.locator(".lnl-prediction").inner_text()

    # a finger: touch pointer events on the same canvas
    ink = drawn.sum()
    v.page.evaluate(
        """() => { const c = document.querySelector('.lnl-draw'), r = c.getBoundingClientRect();
                   const at = (type, fx, fy) => c.dispatchEvent(new PointerEvent(type, {pointerType: 'touch',
                       pointerId: 7, isPrimary: true, bubbles: true, cancelable: true,
                       clientX: r.left + fx * r.width, clientY: r.top + fy * r.height}));
                   at('pointerdown', 0.8, 0.2); at('pointermove', 0.8, 0.5); at('pointermove', 0.75, 0.8);
                   at('pointerup', 0.75, 0.8); }"""
    )
    v.page.wait_for_timeout(150)
    touched = _drawn_input(v)
    assert touched.sum() > ink + 10, "a touch stroke added no ink"
    assert int(v.root.get_attribute("data-prediction")) == int(pytorch_logits(variant, touched).argmax())
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "lenet5_inside-drawing.png"), full_page=True)
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.parametrize(
    "layer, channel, unit", [("conv1", 2, (3, 20)), ("pool1", 0, (13, 0)), ("conv2", 5, (4, 7)), ("pool2", 15, (2, 2))]
)
def test_hover_draws_the_receptive_field_and_the_kernel(live, layer, channel, unit):
    v = live()
    row = trace(lenet5_spec("modern")).row(layer)
    (rf, _), (jump, _) = row.rf, row.jump
    _, h, w = row.out_shape
    cv = v.root.locator(f'.lnl-maps canvas[data-layer="{layer}"][data-channel="{channel}"]')
    v.root.locator(".lnl-input-wrap").scroll_into_view_if_needed()  # the input box and the maps both on screen
    cv.scroll_into_view_if_needed()
    b = cv.bounding_box()
    i, j = unit
    v.page.mouse.move(b["x"] + (j + 0.5) * b["width"] / w, b["y"] + (i + 0.5) * b["height"] / h)
    box = v.root.locator(".lnl-rf")
    assert box.is_visible()
    assert box.get_attribute("data-unit") == f"{channel},{i},{j}"
    assert box.get_attribute("data-size") == f"{rf}×{rf}"
    inp = v.root.locator('.lnl-input-wrap canvas[data-layer="input"]').bounding_box()
    scale = inp["width"] / 32
    r = box.bounding_box()
    assert r["width"] == pytest.approx(rf * scale, abs=0.6) and r["height"] == pytest.approx(rf * scale, abs=0.6)
    assert r["x"] - inp["x"] == pytest.approx(j * jump * scale, abs=0.6)
    assert r["y"] - inp["y"] == pytest.approx(i * jump * scale, abs=0.6)
    conv = layer.replace("pool", "conv")
    in_maps = {"conv1": 1, "conv2": 6}[conv]
    kernels = v.root.locator(f'.lnl-kernels canvas[data-layer="{conv}"][data-channel="{channel}"]')
    assert kernels.count() == in_maps
    assert f"sees {rf}×{rf} input pixels" in v.root.locator(".lnl-kernels").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / f"lenet5_inside-hover-{layer}.png"), full_page=True)
    v.page.mouse.move(0, 0)
    assert not box.is_visible()
    assert not v.problems, "\n".join(v.problems)
