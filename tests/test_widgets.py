"""The widgets, driven without a browser: change a value, read what they show."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from classicnets.arithmetic import trace
from classicnets.specs import alexnet_spec, lenet5_spec
from classicnets.widgets import (
    ConvLayerWidget,
    NetworkExplorer,
    conv_layer_widget,
    editable_layers,
    network_explorer,
    plain,
)

PNG = b"\x89PNG\r\n\x1a\n"
VIEW = "application/vnd.jupyter.widget-view+json"


# ------------------------------------------------------------------ widget 1: one layer


def test_conv_widget_default_and_torch_agree():
    w = ConvLayerWidget()
    assert w.values["size"] == 7 and w.values["kernel"] == 3
    assert w.output_size.value == "4 × 4"
    assert w.out == 4
    assert w.message.value == ""
    assert "1×1×4×4" in w.torch_check.value
    assert "= 4" in w.formula.value
    assert w.png.startswith(PNG)


def test_conv_widget_impossible_setting_shows_message_not_traceback():
    w = ConvLayerWidget()
    w.set(kernel=7, padding=0, size=3)
    assert "larger than its padded input" in w.message.value
    assert w.output_size.value == "—"
    assert w.out is None
    assert "refuses too" in w.torch_check.value
    assert w.png.startswith(PNG)  # still a picture
    w.set(padding=2)  # 3 + 2·2 = 7 fits a 7×7 kernel exactly
    assert w.message.value == ""
    assert w.output_size.value == "1 × 1"


def test_conv_widget_slider_change_updates_without_set():
    w = ConvLayerWidget(size=32, kernel=5, stride=1, padding=0)
    assert w.output_size.value == "28 × 28"
    before = w.png
    w.stride.value = 2
    assert w.output_size.value == "14 × 14"
    assert w.png != before
    w.dilation.value = 2  # span 9: (32 − 9) // 2 + 1
    assert w.output_size.value == "12 × 12"
    assert "1×1×12×12" in w.torch_check.value


def test_conv_widget_pooling_and_ceil_mode():
    w = conv_layer_widget(kind="max", size=6, kernel=3, stride=2, padding=0)
    assert not w.ceil_mode.disabled
    assert w.output_size.value == "2 × 2"
    w.ceil_mode.value = True
    assert w.output_size.value == "3 × 3"
    assert "⌈" in w.formula.value
    assert "MaxPool2d" in w.torch_check.value and "1×1×3×3" in w.torch_check.value
    w.set(kind="conv")
    assert w.ceil_mode.disabled
    assert w.output_size.value == "2 × 2"  # ceil_mode is ignored for convolutions


def test_conv_widget_pool_padding_rule_and_avg_dilation():
    w = ConvLayerWidget(kind="max", size=8, kernel=2, stride=2, padding=0)
    w.set(padding=2)
    assert "more than half the kernel" in w.message.value
    w.set(kind="avg", padding=0, dilation=2)
    assert "no dilation" in w.message.value
    assert w.output_size.value == "—"


def test_conv_widget_set_refuses_unknown_names_and_widens_sliders():
    w = ConvLayerWidget()
    w.set(kernal=3)
    assert "unknown setting 'kernal'" in w.refused and "unknown setting" in w.message.value
    w.set(size=100)
    assert w.size.value == 100 and w.size.max >= 100 and w.refused is None


@pytest.mark.parametrize(
    "values, words",
    [
        (dict(stride=0), "conv: stride must be at least 1, got 0"),  # the arithmetic explains it
        (dict(kernel="3"), "conv: kernel must be a whole number, got '3' (a str)"),
        (dict(kernel=2.5), "conv: kernel must be a whole number, got 2.5"),
        (dict(kind="median"), "unknown kind 'median': choose one of 'conv', 'max', 'avg'"),
        (dict(kind="max", ceil_mode="yes"), "pool: ceil_mode must be True or False"),
        (dict(size=20000), "size 20000 is more than the widget draws (at most 256)"),
        (dict(dilation=None), "dilation must be a whole number, got None"),
    ],
)
def test_conv_widget_never_raises_into_the_notebook(values, words):
    w = conv_layer_widget(**values)  # the constructor goes through set() too
    assert words in plain(w.message.value)
    assert w.png.startswith(PNG)
    w.set(**values)  # and so does a later change
    assert words in plain(w.message.value)


def test_conv_widget_one_update_at_its_limits_stays_under_a_second():
    import time

    w = ConvLayerWidget()
    slowest = 0.0
    for values in (
        dict(size=256, kernel=3, dilation=1, padding=32, stride=1),
        dict(size=256, kernel=64, dilation=4, padding=32, stride=1),
        dict(size=256, kernel=64, dilation=16, padding=32, stride=64, kind="max"),
    ):
        start = time.perf_counter()
        w.set(**values)
        slowest = max(slowest, time.perf_counter() - start)
        assert w.refused is None
    assert slowest < 3.0, f"{slowest:.2f} s (under half a second on an idle machine; this allows a busy one)"


def test_explorer_one_update_at_its_largest_input_stays_quick():
    import time

    e = NetworkExplorer("alexnet", "paper", input_size=512)
    slowest = 0.0
    for kernel in (3, 11, 15):
        start = time.perf_counter()
        e.set(kernel=kernel)
        slowest = max(slowest, time.perf_counter() - start)
        assert e.refused is None and e.error is None
    assert slowest < 3.0, f"{slowest:.2f} s (about 0.4 s on an idle machine; this allows a busy one)"


def test_conv_widget_bundle_has_live_view_and_static_png():
    w = ConvLayerWidget()
    bundle = w._repr_mimebundle_()
    assert VIEW in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(PNG)
    assert "4 × 4" in bundle["text/plain"]


def test_widgets_leave_no_pyplot_figures():
    before = len(plt.get_fignums())
    w = ConvLayerWidget()
    for k in range(1, 6):
        w.kernel.value = k
    NetworkExplorer().set(layer="conv2", kernel=3)
    assert len(plt.get_fignums()) == before


# ------------------------------------------------------------------ widget 2: whole network


def test_explorer_default_lenet():
    e = NetworkExplorer()
    assert e.net.value == "lenet5" and e.variant.value == "blog"
    assert list(e.layer.options) == editable_layers(lenet5_spec("blog")) == ["conv1", "pool1", "conv2", "pool2"]
    assert e.total_params == 61_706
    assert e.kernel.value == 5 and e.stride.value == 1 and e.padding.value == 0
    assert "61,706" in e.summary.value
    assert e.message.value == ""
    assert e.png.startswith(PNG)


def test_explorer_fc1_follows_the_last_map():
    e = network_explorer("lenet5", layer="conv2")
    e.kernel.value = 3  # conv2 12×12, pool2 6×6: fc1 sees 16·6·6 = 576 inputs
    assert e.trace.row("pool2").out_shape == (16, 6, 6)
    assert e.trace.row("fc1").params == 576 * 120 + 120
    assert e.total_params == trace(lenet5_spec("blog").with_layer("conv2", kernel=3)).total_params
    assert "+19,584" in e.summary.value  # the change column
    assert e.changed


def test_explorer_layer_switch_loads_its_settings_and_edits_accumulate():
    e = NetworkExplorer()
    e.set(layer="conv1", padding=2)
    e.set(layer="pool1")
    assert (e.kernel.value, e.stride.value, e.padding.value) == (2, 2, 0)
    e.set(kernel=3, stride=1)
    assert e.spec.layer("conv1").padding == 2  # still there
    assert e.trace.row("pool1").out_shape == (6, 30, 30)
    e.reset()
    assert not e.changed and e.total_params == 61_706


def test_explorer_invalid_setting_names_the_layer():
    e = NetworkExplorer()
    e.set(layer="conv2", kernel=15)
    assert "conv2" in e.message.value and "larger than its padded input" in e.message.value
    assert e.trace is None and e.total_params is None
    assert e.check_button.disabled
    assert e.png.startswith(PNG)
    assert e.check() is False and "nothing to build" in e.check_result.value
    e.set(kernel=5)
    assert e.message.value == "" and not e.check_button.disabled


def test_explorer_input_size_breaks_a_later_layer():
    e = NetworkExplorer()
    e.set(input_size=12)  # conv1 8, pool1 4, conv2 needs 5
    assert "conv2" in e.message.value
    e.input_size.value = 36
    assert e.message.value == ""
    assert e.trace.row("pool2").out_shape == (16, 6, 6)


def test_explorer_build_and_check_agrees_with_trace():
    e = NetworkExplorer()
    e.set(layer="conv1", kernel=3, padding=1, input_size=28)
    assert e.check() is True
    assert "all" in e.check_result.value and "(1, 10)" in e.check_result.value
    assert e.last_check["fc1"] == ((120,), (120,))
    assert e.last_check["pool2"][0] == e.last_check["pool2"][1] == tuple(e.trace.row("pool2").out_shape)
    e.set(kernel=5)  # any change clears the verdict
    assert e.check_result.value == "" and e.last_check is None


def test_explorer_paper_variant_edits_its_special_layers_too():
    e = NetworkExplorer(variant="paper")
    assert e.total_params == 60_000
    assert list(e.layer.options) == ["C1", "S2", "C3", "S4", "C5"]
    e.set(layer="C3", padding=2)  # the partial-connection convolution
    assert not e.stride.disabled and not e.padding.disabled
    assert e.trace.row("C3").out_shape == (16, 14, 14)
    e.set(layer="S2", stride=1)  # trainable subsampling
    assert e.trace.row("S2").out_shape == (6, 27, 27)
    e.set(input_size=40)
    assert e.check() is True


def test_explorer_network_and_variant_dropdowns():
    e = NetworkExplorer()
    e.variant.value = "modern"
    assert e.spec.variant == "modern" and e.total_params == 61_706
    e.net.value = "alexnet"
    assert e.variant.value == "blog"
    assert list(e.variant.options) == ["blog", "paper"]
    assert e.input_size.value == 227
    assert e.total_params == trace(alexnet_spec("blog")).total_params
    assert e.layer.value == "conv1" and e.kernel.value == 11 and e.stride.value == 4


def test_explorer_alexnet_edit_and_check():
    e = network_explorer(net="alexnet", variant="blog", layer="pool3", kernel=2)
    assert e.trace.row("pool3").out_shape == (256, 6, 6)
    e.set(stride=1)
    assert e.trace.row("pool3").out_shape == (256, 12, 12)
    assert e.trace.row("fc1").params == 256 * 12 * 12 * 4096 + 4096
    e.set(stride=2, input_size=131)
    assert e.check() is True


def test_explorer_bundle_and_bad_arguments():
    e = NetworkExplorer()
    bundle = e._repr_mimebundle_()
    assert VIEW in bundle and base64.b64decode(bundle["image/png"]).startswith(PNG)
    assert "61,706" in bundle["text/plain"]
    for explorer, words in [
        (NetworkExplorer(net="vgg"), "unknown network 'vgg': choose one of 'lenet5', 'alexnet'"),
        (NetworkExplorer(variant="nope"), "unknown LeNet5 variant 'nope'"),
        (NetworkExplorer().set(dilation=2), "unknown setting 'dilation'"),
        (NetworkExplorer().set(layer="fc1"), "no convolution or pooling layer 'fc1'"),
        (NetworkExplorer(variant="paper", layer="conv1"), "pick one of C1, S2"),
        (NetworkExplorer(kernel="3"), "conv1: kernel must be a whole number, got '3'"),
        (NetworkExplorer(stride=2.5), "conv1: stride must be a whole number, got 2.5"),
        (NetworkExplorer(input_size=20000), "input: input_size 20000 is more than the widget draws (at most 256)"),
        (NetworkExplorer("alexnet", input_size=None), ""),  # None: not given
    ]:
        assert words in plain(explorer.message.value) and words in (explorer.refused or "")
        assert explorer.png.startswith(PNG)
    assert NetworkExplorer(net="vgg").total_params == 61_706  # shown: the default network


def test_explorer_stride_zero_is_explained_by_the_arithmetic():
    e = NetworkExplorer(stride=0)
    assert e.refused is None and "conv1: stride must be at least 1, got 0" in plain(e.message.value)


def test_explorer_writes_only_the_field_that_moved():
    e = NetworkExplorer(spec=lenet5_spec().with_layer("conv1", kernel=(3, 5), padding="same"))
    assert (e.kernel.value, e.padding.value) == (3, 1)
    e.stride.value = 2  # padding="same" cannot stride: the message says so...
    assert "padding='same' needs stride 1" in e.message.value
    e.stride.value = 1  # ...and moving back restores the network exactly
    layer = e.spec.layer("conv1")
    assert layer.kernel == (3, 5) and layer.padding == "same" and not e.changed
    e.input_size.value = 40
    e.input_size.value = 32
    assert e.spec.layer("conv1").kernel == (3, 5) and not e.changed
    e.padding.value = 2  # the field that moved is written
    assert e.spec.layer("conv1").padding == 2 and e.spec.layer("conv1").kernel == (3, 5)


def test_build_and_check_refuses_what_would_not_fit_the_memory_budget():
    e = NetworkExplorer("alexnet", input_size=512)
    assert e.trace is not None and e.trace.total_params > 200_000_000
    assert e.check() is False
    assert "more than the 1.0 GiB this check allows" in plain(e.check_result.value)


def test_explorer_takes_any_spec():
    from torch import nn

    from classicnets.from_torch import spec_from_module

    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 8 * 8, 5)
    )
    spec = spec_from_module(module, (3, 16, 16))
    e = network_explorer(spec=spec)
    assert e.net.value == "custom" and ("Sequential", "custom") in e.net.options
    assert list(e.layer.options) == ["0", "2"]
    assert e.total_params == sum(p.numel() for p in module.parameters())
    e.set(layer="2", kernel=4, stride=4)
    assert e.trace.row("4").in_shape == (8 * 4 * 4,)
    assert e.check() is True
    e.set(net="lenet5")
    assert e.total_params == 61_706


def test_network_dropdown_starts_a_new_network_at_its_first_variant_like_set():
    """Found in the browser: the network dropdown kept the variant shown before (LeNet5 "paper" gave AlexNet
    "paper"), while ``set(net=...)`` starts at the first variant, as ``pick_network`` promises."""
    w = network_explorer("lenet5")
    w.variant.value = "paper"
    w.net.value = "alexnet"  # what the dropdown does
    assert (w.variant.value, w.spec) == ("blog", alexnet_spec("blog"))
    assert w.total_params == trace(alexnet_spec("blog")).total_params


def test_each_widget_brings_the_notebook7_slider_key_fix():
    """The hidden Output that lets arrow keys reach a slider in Notebook 7 (classicnets/slider_keys.py) is a child
    of both widgets, holds the listener as JavaScript, and is not displayed; the static picture is unchanged."""
    from classicnets.slider_keys import SCRIPT, SLIDER_KEYS

    for w in (ConvLayerWidget(), NetworkExplorer()):
        fix = w.key_fix
        assert fix in w.children and fix.layout.display == "none"
        (output,) = fix.outputs
        assert output["data"]["application/javascript"] == SCRIPT
        assert "data-lm-suppress-shortcuts" in SCRIPT and all(k in SCRIPT for k in SLIDER_KEYS)
        assert base64.b64decode(w._repr_mimebundle_()["image/png"]).startswith(PNG)
