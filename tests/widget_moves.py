"""The reader's moves on each widget of chapters 1 and 2, and what each must show, from the arithmetic.

A model (:class:`LayerModel`, :class:`NetworkModel`) holds the settings a widget should have after each move and
computes what it must then show with ``classicnets.arithmetic`` — ``conv_output_size``/``pool_output_size`` for
the one-layer widget, ``trace`` of the edited description for the network widget — or the ``ArchitectureError``
message when the setting is impossible. :func:`layer_moves` and :func:`network_moves` move every control of a
widget open in a frontend (:class:`jupyter_frontend.OpenNotebook`) and wait for exactly that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional, Tuple

from jupyter_frontend import OpenNotebook

from classicnets.arithmetic import ArchitectureError, conv_output_size, pool_output_size, trace
from classicnets.arithmetic_plots import SIZE_KINDS
from classicnets.explorer import edit_input, edit_layer, editable_layers, slider_values
from classicnets.layers import NetSpec
from classicnets.specs import ALEXNET_VARIANTS, LENET5_VARIANTS, spec_for

VARIANTS = {"lenet5": LENET5_VARIANTS, "alexnet": ALEXNET_VARIANTS}
LABELS = {"lenet5": "LeNet5", "alexnet": "AlexNet"}
SLIDER_LABELS = {"size": "input size", "input_size": "input size", "padding": "padding (per side)"}


def _text(selector: str) -> str:
    return f"(root.querySelector('{selector}')?.innerText || '').trim()"


def _message_is(error: Optional[str]) -> str:
    return (
        f"{_text('.cn-message')} === ''" if error is None else f"{_text('.cn-message')}.includes({json.dumps(error)})"
    )


# --------------------------------------------------------------------------- a key on a slider


def slider(widget, name: str):
    label = SLIDER_LABELS.get(name, name)
    sliders = widget.locator(".widget-hslider").filter(has=widget.page.locator(".widget-label", has_text=label))
    return sliders.locator(".noUi-handle")


def after_key(handle, key: str) -> int:
    """The value a slider takes when ``key`` is pressed on it (the slider's own range, from its ARIA)."""
    now, low, high = (
        round(float(handle.get_attribute(a))) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax")
    )
    step = {"ArrowRight": 1, "ArrowUp": 1, "ArrowLeft": -1, "ArrowDown": -1}
    value = {"Home": low, "End": high}.get(key, now + step.get(key, 0))
    return min(high, max(low, value))


# --------------------------------------------------------------------------- one layer


@dataclass
class LayerModel:
    size: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    kind: str = "conv"
    ceil_mode: bool = False

    def expected(self) -> Tuple[str, Optional[str]]:
        """The output-size read-out (``"4 × 4"``, ``"—"``) and the error message (``None`` when possible)."""
        args = (self.size, self.kernel, self.stride, self.padding, self.dilation)
        try:
            if self.kind == "conv":
                out = conv_output_size(*args)
            else:
                out = pool_output_size(*args, ceil_mode=self.ceil_mode)
        except ArchitectureError as err:
            return "—", str(err)
        return f"{out} × {out}", None

    def shown(self) -> str:
        label, error = self.expected()
        ceil = "⌈" if self.ceil_mode and self.kind != "conv" else "⌊"
        size, formula = _text(".cn-output-size"), _text(".cn-formula")
        return f"{size} === {json.dumps(label)} && {_message_is(error)} && {formula}.startsWith('{ceil}')"


LAYER_KEYS = (("size", "ArrowRight"), ("kernel", "ArrowRight"), ("stride", "ArrowLeft"), ("padding", "ArrowRight"))
LAYER_KEYS += (("dilation", "ArrowRight"),)


def layer_moves(nb: OpenNotebook, code: str, name: str, model: LayerModel, short: bool = False) -> None:
    """Each slider by a key, then (unless ``short``) max pooling, ceil_mode and an impossible input size."""
    widget = nb.widget(code, "cn-conv-layer")
    nb.page.wait_for_function(f"(root) => {model.shown()}", arg=widget.element_handle(), timeout=nb.ms(15_000))
    keys = (("kernel", "ArrowRight"), ("padding", "End")) if short else LAYER_KEYS + (("size", "Home"),)
    for i, (control, key) in enumerate(keys):
        if not short and i == len(keys) - 1:  # before the impossible size: the pooling controls
            _click(nb, widget, name, model, "kind", "max pooling", ".widget-toggle-button", "kind", "max")
            _click(nb, widget, name, model, "ceil_mode", "check", ".widget-checkbox input", "ceil_mode", True)
        handle = slider(widget, control)
        setattr(model, control, after_key(handle, key))
        nb.move(widget, name, control, key, lambda h=handle, k=key: h.press(k), model.shown)
    _one_output(nb, code)


def _click(nb, widget, name, model, control, action, selector, attr, value) -> None:
    target = widget.locator(selector, has_text=action) if action != "check" else widget.locator(selector)
    setattr(model, attr, value)
    if control != "kind":
        nb.move(widget, name, control, action, target.click, model.shown)
        return
    # Convolution and max pooling draw the same picture here: nothing is sent for it. The PyTorch check is the
    # last read-out the update writes, so the move is over when it names the pooling layer.
    module = "MaxPool2d" if value == "max" else "AvgPool2d"
    shown = lambda: f"{model.shown()} && {_text('.cn-torch-check')}.includes('nn.{module}(')"  # noqa: E731
    nb.move(widget, name, control, action, target.click, shown, redraw=False)


def _one_output(nb: OpenNotebook, code: str) -> None:
    """The cell still holds its one widget view: no second picture, no leftover output, no widget error."""
    outputs = nb.outputs(code)
    assert len([o for o in outputs if "widget" in o]) == 1, f"{nb.frontend} {code!r}: outputs {outputs}"
    assert nb.cell(code).locator("img.cn-picture").count() == 1
    assert not nb.widget_errors(), nb.widget_errors()


# --------------------------------------------------------------------------- the whole network


@dataclass
class NetworkModel:
    net: str
    variant: Optional[str] = None
    layer: Optional[str] = None
    kernel: Optional[int] = None
    spec: NetSpec = field(init=False)

    def __post_init__(self) -> None:
        self.load(self.net, self.variant or VARIANTS[self.net][0])
        if self.kernel is not None:
            self.edit("kernel", self.kernel)

    def load(self, net: str, variant: str, layer: Optional[str] = None) -> None:
        self.net, self.variant = net, variant
        self.spec = spec_for(net, variant)
        self.layer = layer or self.layer or editable_layers(self.spec)[0]

    def edit(self, control: str, value: int) -> None:
        if control == "input_size":
            self.spec = edit_input(self.spec, value)
        else:
            self.spec = edit_layer(self.spec, self.layer, control, value)

    def expected(self) -> Tuple[Optional[list], Optional[int], Optional[str]]:
        """Each shown layer's [name, output shape, parameters] and the total, by ``trace``; or the error."""
        try:
            t = trace(self.spec)
        except ArchitectureError as err:
            return None, None, str(err)
        rows = [[r.name, "×".join(map(str, r.out_shape)), f"{r.params:,}"] for r in t.rows if r.kind in SIZE_KINDS]
        return rows, t.total_params, None

    def shown(self) -> str:
        rows, total, error = self.expected()
        table = """[...root.querySelectorAll('.cn-summary tr')].slice(2, -1)
                   .map((tr) => [...tr.cells].slice(0, 3).map((td) => td.innerText.trim()))"""
        if error is not None:
            return f"{_message_is(error)} && !root.querySelector('.cn-summary table')"
        last = "[...root.querySelectorAll('.cn-summary tr')].at(-1)?.cells[2]?.innerText.trim()"
        sliders = " && ".join(f"{_handle(c)} === '{v}'" for c, v in slider_values(self.spec, self.layer).items())
        return (
            f"{_message_is(None)} && JSON.stringify({table}) === {json.dumps(_js_json(rows))}"
            f" && {last} === '{total:,}' && {sliders}"
        )


def _js_json(value: object) -> str:
    """``value`` as JavaScript's ``JSON.stringify`` writes it (no spaces, characters as they are)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _handle(control: str) -> str:
    label = SLIDER_LABELS.get(control, control)
    return (
        f"[...root.querySelectorAll('.widget-hslider')].find((s) => s.querySelector('.widget-label').innerText"
        f".trim() === '{label}')?.querySelector('.noUi-handle').getAttribute('aria-valuetext')"
    )


def network_moves(nb: OpenNotebook, code: str, name: str, model: NetworkModel, short: bool = False) -> None:
    """The layer dropdown, each slider by a key, an impossible kernel, reset, build & check, variant, network."""
    widget = nb.widget(code, "cn-network")
    nb.page.wait_for_function(f"(root) => {model.shown()}", arg=widget.element_handle(), timeout=nb.ms(15_000))
    if short:
        _network_key(nb, widget, name, model, "padding", "ArrowRight")
        _reset(nb, widget, name, model)
        _one_output(nb, code)
        return
    _choose(nb, widget, name, model, "layer", "conv2")
    for control, key in (("kernel", "ArrowLeft"), ("stride", "ArrowRight"), ("padding", "ArrowRight")):
        _network_key(nb, widget, name, model, control, key)
    _network_key(nb, widget, name, model, "input_size", "ArrowRight")
    _network_key(nb, widget, name, model, "kernel", "End")  # conv2's kernel over its input: impossible
    _reset(nb, widget, name, model)
    _check(nb, widget, name, model)
    _choose(nb, widget, name, model, "variant", VARIANTS["lenet5"][1])
    _choose(nb, widget, name, model, "net", "alexnet")
    _one_output(nb, code)


def _network_key(nb, widget, name, model, control, key) -> None:
    handle = slider(widget, control)
    model.edit(control, after_key(handle, key))
    nb.move(widget, name, control, key, lambda: handle.press(key), model.shown)


def _reset(nb, widget, name, model) -> None:
    model.load(model.net, model.variant, model.layer)
    nb.move(widget, name, "reset", "click", widget.get_by_role("button", name="reset").click, model.shown)


def _choose(nb, widget, name, model, control, value) -> None:
    """A choice in the ``control`` dropdown (network, variant or layer)."""
    descriptions = {"net": "network", "variant": "variant", "layer": "layer"}
    dropdown = widget.locator(".widget-dropdown").filter(
        has=widget.page.locator(".widget-label", has_text=descriptions[control])
    )
    if control == "layer":
        model.layer = value
        option = value
    elif control == "variant":  # a network afresh, its first layer selected
        model.layer = None
        model.load(model.net, value)
        option = value
    else:
        model.layer = None
        model.load(value, VARIANTS[value][0])
        option = LABELS[value]
    select = dropdown.locator("select")
    nb.move(widget, name, control, value, lambda: select.select_option(label=option), model.shown)


def _check(nb, widget, name, model) -> None:
    """build & check: the real module's parameter count is the trace's (it does not redraw the picture)."""
    _, total, _ = model.expected()
    widget.get_by_role("button", name="build & check").click()
    verdict = f"{total:,} trainable parameters as counted"
    widget.locator(".cn-check-result", has_text=verdict).wait_for(timeout=nb.ms(15_000))
