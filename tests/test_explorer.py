"""classicnets.explorer: one self-contained piece of HTML generated from the network specs.

The browser tests (tests/test_browser.py, marker ``browser``) drive it in Chromium; here the
HTML is checked in Python, and, where ``node`` is installed, the JavaScript arithmetic is
compared with Python's on the same random cases without a browser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import JS_RESULTS, REPO, compare_results

from classicnets.arithmetic import ArchitectureError, trace
from classicnets.explorer import (
    CHECK_BUDGET_BYTES,
    check_memory,
    check_refusal,
    check_value,
    edit_input,
    edit_layer,
    editable_layers,
    explorer_html,
    explorer_js,
    outcome,
    pick_network,
    slider_values,
    spec_payload,
    summary_rows,
)
from classicnets.specs import alexnet_spec, all_specs, lenet5_spec


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []  # (tag, attrs, text)
        self._open = None

    def handle_starttag(self, tag, attrs):
        self.tags.append([tag, dict(attrs), ""])
        if tag in ("script", "style"):
            self._open = self.tags[-1]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data


def parse(html: str) -> _Elements:
    p = _Elements()
    p.feed(html)
    p.close()
    return p


def test_html_is_self_contained():
    html = explorer_html()
    tags = parse(html).tags
    assert [t[0] for t in tags if t[0] in ("script", "style", "link", "img", "iframe")] == ["style", "script", "script"]
    for tag, attrs, _ in tags:
        for name in ("src", "href"):
            assert name not in attrs, f"<{tag} {name}={attrs[name]!r}> loads something from elsewhere"
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    code = [text for tag, attrs, text in tags if tag == "script" and not attrs.get("type")][0]
    assert explorer_js().strip() in code


def test_html_embeds_every_network_from_the_specs():
    tags = parse(explorer_html()).tags
    data = [text for tag, attrs, text in tags if tag == "script" and attrs.get("type") == "application/json"]
    assert len(data) == 1
    embedded = json.loads(data[0])
    assert embedded == json.loads(json.dumps(spec_payload()))
    assert set(embedded) == set(all_specs())
    for key, spec in all_specs().items():
        assert embedded[key]["spec"] == json.loads(json.dumps(spec.to_dict()))
        assert embedded[key]["title"] == spec.title


def test_embedded_json_cannot_end_its_script():
    hostile = lenet5_spec("blog")
    from dataclasses import replace

    hostile = replace(hostile, variant="</script><script>alert(1)</script><!--")
    html = explorer_html({"x/y": hostile}, initial="x/y")
    tags = parse(html).tags
    assert [t[0] for t in tags if t[0] == "script"] == ["script", "script"]
    data = [text for tag, attrs, text in tags if attrs.get("type") == "application/json"][0]
    assert json.loads(data)["x/y"]["spec"]["variant"] == hostile.variant


def test_each_explorer_has_its_own_element():
    a, b = explorer_html(), explorer_html()
    id_a = [attrs["id"] for tag, attrs, _ in parse(a).tags if tag == "div"][0]
    id_b = [attrs["id"] for tag, attrs, _ in parse(b).tags if tag == "div"][0]
    assert id_a != id_b
    with pytest.raises(KeyError):
        explorer_html(initial="vgg/16")


def test_explorer_page_displays_it():
    nb = json.loads((REPO / "book" / "explorer.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert any("explorer_html()" in src and "HTML(" in src for src in code)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the browser tests cover this)")
def test_javascript_matches_python_under_node(explorer_cases, tmp_path: Path):
    harness = tmp_path / "harness.js"
    harness.write_text(
        "const api = require(process.argv[2]);\n"
        "global.window = {classicnetsExplorer: api};\n"
        f"const run = {JS_RESULTS};\n"
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));\n"
        "process.stdout.write(JSON.stringify(run(cases)));\n",
        encoding="utf-8",
    )
    script = REPO / "classicnets" / "assets" / "explorer.js"
    proc = subprocess.run(
        ["node", str(harness), str(script)],
        input=json.dumps([{"spec": c["spec"]} for c in explorer_cases]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    problems = compare_results(explorer_cases, json.loads(proc.stdout))
    assert not problems, f"{len(problems)} of {len(explorer_cases)} differ:\n" + "\n".join(problems[:15])


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the browser tests cover this)")
def test_javascript_refuses_a_duplicate_table_entry_like_python(tmp_path: Path):
    from classicnets.layers import NetSpec

    d = lenet5_spec("paper").to_dict()
    next(x for x in d["features"] if x["name"] == "C3")["table"][2] = [2, 3, 3]
    with pytest.raises(ArchitectureError) as err:
        NetSpec.from_dict(d)
    harness = tmp_path / "table.js"
    harness.write_text(
        "const api = require(process.argv[2]);\nconsole.log(api.traceResult(JSON.parse(process.argv[3])).error);\n",
        encoding="utf-8",
    )
    script = REPO / "classicnets" / "assets" / "explorer.js"
    proc = subprocess.run(
        ["node", str(harness), str(script), json.dumps(d)], capture_output=True, text=True, timeout=60, check=True
    )
    assert (
        proc.stdout.strip()
        == str(err.value)
        == ("C3: connection table row 2 (2, 3, 3) lists input map 3 twice: list each input map once per row")
    )


# ------------------------------------------------------------------ the explorer's logic, without a widget


def test_sliders_show_a_layer_as_numbers():
    spec = lenet5_spec().with_layer("conv1", kernel=(3, 5), padding="same")
    assert slider_values(spec, "conv1") == {"kernel": 3, "stride": 1, "padding": 1}
    assert slider_values(spec, "pool1") == {"kernel": 2, "stride": 2, "padding": 0}  # stride None shows the kernel
    assert slider_values(spec.with_layer("conv1", padding="valid"), "conv1")["padding"] == 0
    assert editable_layers(lenet5_spec("paper")) == ["C1", "S2", "C3", "S4", "C5"]


def test_edit_layer_writes_only_the_field_that_moved():
    spec = lenet5_spec().with_layer("conv1", kernel=(3, 5), padding="same")
    moved = edit_layer(spec, "conv1", "stride", 2)
    assert moved.layer("conv1").kernel == (3, 5) and moved.layer("conv1").padding == "same"
    back = edit_layer(moved, "conv1", "stride", 1)
    assert back == spec
    assert edit_layer(spec, "conv1", "padding", 1) is spec  # what the slider already shows: nothing to write
    assert edit_layer(spec, "conv1", "padding", 2).layer("conv1").padding == 2
    pool = edit_layer(lenet5_spec(), "pool1", "kernel", 3).layer("pool1")
    assert pool.kernel == 3 and pool.stride is None  # a pooling stride still follows its kernel
    with pytest.raises(ArchitectureError, match="the explorer edits kernel, stride, padding, not 'groups'"):
        edit_layer(spec, "conv1", "groups", 2)


def test_edit_input_keeps_channels_and_is_a_no_op_when_unchanged():
    spec = alexnet_spec()
    assert edit_input(spec, 227) is spec
    assert edit_input(spec, 224).input_shape == (3, 224, 224)


@pytest.mark.parametrize(
    "value, words",
    [
        ("3", "conv1: kernel must be a whole number, got '3'"),
        (2.5, "got 2.5"),
        (None, "got None"),
        (True, "got True"),
        (65, "conv1: kernel 65 is more than the widget draws (at most 64)"),
    ],
)
def test_check_value_refuses_with_the_fix(value, words):
    with pytest.raises(ArchitectureError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_value("kernel", value, 64, "conv1")
    assert check_value("kernel", 0, 64, "conv1") == 0  # too low: the arithmetic explains it


def test_outcome_and_summary_rows():
    base = trace(lenet5_spec())
    t, error = outcome(lenet5_spec().with_layer("conv2", kernel=3))
    assert error is None
    rows = {r.name: r for r in summary_rows(t, base, ("conv", "pool", "linear"))}
    assert rows["fc1"].delta == 576 * 120 - 400 * 120 and rows["pool2"].shape_changed
    assert rows["conv1"].delta == 0 and not rows["conv1"].shape_changed
    t, error = outcome(lenet5_spec().with_layer("conv2", kernel=15))
    assert t is None and error.startswith("conv2: kernel 15 is larger than its padded input")


def test_check_memory_counts_parameters_and_activations():
    t = trace(lenet5_spec())
    acts = 32 * 32 + sum(
        r.out_shape[0] * (r.out_shape[1] * r.out_shape[2] if len(r.out_shape) == 3 else 1) for r in t.rows
    )
    assert check_memory(t) == 4 * (2 * 61_706 + acts)
    assert check_refusal(t) is None
    big = trace(alexnet_spec(input_size=512))
    assert check_memory(big) > CHECK_BUDGET_BYTES
    assert "more than the 1.0 GiB this check allows" in check_refusal(big)


def test_pick_network_refuses_unknown_names_and_keeps_what_is_shown():
    known = {"lenet5": ("LeNet5", ["blog", "paper", "modern"]), "alexnet": ("AlexNet", ["blog", "paper"])}
    assert pick_network(known, ("lenet5", "paper"), variant="modern") == ("lenet5", "modern", [])
    assert pick_network(known, ("lenet5", "paper"), net="alexnet") == ("alexnet", "blog", [])
    assert pick_network(known, ("lenet5", "paper"), net="lenet5") == ("lenet5", "paper", [])
    net, variant, messages = pick_network(known, ("lenet5", "paper"), net="vgg", variant="nope")
    assert (net, variant) == ("lenet5", "paper")
    assert messages == [
        "unknown network 'vgg': choose one of 'lenet5', 'alexnet'",
        "unknown LeNet5 variant 'nope': choose one of 'blog', 'paper', 'modern'",
    ]
