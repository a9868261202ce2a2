"""The network explorer's logic, and its kernel-free version for the rendered book (plain Python, no torch).

What happens when a reader moves a control is decided here, by plain functions
that the tests call without a widget: :func:`slider_values` (what the sliders show
for a layer), :func:`edit_layer` (writes only the field that was moved, so a
``padding="same"`` or a (3, 5) kernel survives moving another slider and back),
:func:`edit_input`, :func:`check_value` (the bounds that keep one update under a
second), :func:`outcome`, :func:`summary_rows` and :func:`check_memory` (the memory
budget of "build & check"). :class:`classicnets.widgets.NetworkExplorer` is only
their view.

In the static book no kernel runs, so ipywidgets cannot redraw anything. The
explorer is one self-contained piece of HTML: an inline ``<style>``, the JSON of
:func:`classicnets.specs.all_specs` and an inline ``<script>`` holding
``classicnets/assets/explorer.js`` — a port of :mod:`classicnets.arithmetic`
(the browser tests compare the two over hundreds of random settings). No CDN,
no server: it works in the built book, in Jupyter and in Colab.

The book's page ``book/explorer.ipynb`` displays it; that notebook's metadata
(``mystnb.execution_mode: force``) re-executes it at every build, because
jupyter-cache watches only a notebook's code, not this module or its assets.
Build with ``--all`` after editing them so Sphinx rewrites the page too.

The explorer's own words (network menu, reset, column headings, legend) come in English and
Chinese (``LABELS`` in explorer.js): the page's ``<html lang>`` picks them, so the one output of
the notebook's code shows Chinese controls in the Chinese edition (``book/zh/explorer.ipynb``);
``explorer_html(lang=...)`` forces one. Error messages stay Python's, in English.

>>> from IPython.display import HTML
>>> HTML(explorer_html())          # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .arithmetic import ArchitectureError, Trace, trace
from .layers import Conv, NetSpec, Pool, pair, whole
from .specs import all_specs

# --------------------------------------------------------------------------- the explorer's logic

#: Input sides each network's explorer accepts (lowest, highest): at the highest one update
#: (trace, table, picture) stays well under a second.
INPUT_LIMITS: Dict[str, Tuple[int, int]] = {"lenet5": (1, 256), "alexnet": (1, 512)}
#: Highest kernel, stride and padding a slider can be set to.
GEOMETRY_LIMITS: Dict[str, int] = {"kernel": 64, "stride": 32, "padding": 32}
#: "build & check" builds the module only when parameters and one batch's activations fit in this.
CHECK_BUDGET_BYTES = 1 << 30
GEOMETRY = ("kernel", "stride", "padding")
SettingValue = Union[int, str, Tuple[int, int], None]


def editable_layers(spec: NetSpec) -> List[str]:
    """Names of the conv and pool layers of ``spec`` (what the explorer lets you edit)."""
    return [layer.name for layer in spec.features if isinstance(layer, (Conv, Pool))]


def unknown_choice(what: str, value: object, known: Iterable[str]) -> str:
    return f"unknown {what} {value!r}: choose one of {', '.join(map(repr, known))}"


def pick_network(
    known: Mapping[str, Tuple[str, Sequence[str]]], current: Tuple[str, str], net: object = None, variant: object = None
) -> Tuple[str, str, List[str]]:
    """The network and variant to show when the reader asks for ``net`` and/or ``variant``
    (``known``: key -> (label, variants); ``current``: what is shown). An unknown name is
    refused, with its message, and the current one kept; a new network starts at its first
    variant unless one is asked for. Returns ``(net, variant, messages)``."""
    messages = []
    if net is not None and net not in known:
        messages.append(unknown_choice("network", net, known))
        net = None
    same = net in (None, current[0])
    key = current[0] if net is None else str(net)
    label, variants = known[key]
    if variant is not None and variant not in variants:
        messages.append(unknown_choice(f"{label} variant", variant, variants))
        variant = None
    if variant is None:
        variant = current[1] if same and current[1] in variants else variants[0]
    return key, str(variant), messages


def slider_values(spec: NetSpec, name: str) -> Dict[str, int]:
    """What the kernel/stride/padding sliders show for layer ``name``: the height of a
    (height, width) pair, a pooling stride of ``None`` as its kernel, ``"same"`` as the
    padding it means at stride 1 and ``"valid"`` as 0."""
    layer = spec.layer(name)
    k = pair(layer.kernel)[0]
    stride = layer.stride_or_kernel if isinstance(layer, Pool) else layer.stride
    padding = layer.padding
    if padding == "valid":
        p = 0
    elif padding == "same":
        p = (k - 1) // 2
    else:
        p = pair(padding)[0]
    return {"kernel": k, "stride": pair(stride)[0], "padding": p}


def check_value(field: str, value: object, high: int, layer: str = "") -> int:
    """``value`` for slider ``field`` (of ``layer``) when it is a whole number at most ``high``;
    a value too low is left to the arithmetic, whose message explains why it cannot work.
    Otherwise :class:`ArchitectureError` naming the layer, the field, the value and the fix."""
    n = whole(value, field, layer)
    if n > high:
        raise ArchitectureError(
            layer or field,
            f"{field} {n} is more than the widget draws (at most {high}): "
            f"use {field} ≤ {high} (the arithmetic itself has no limit)",
        )
    return n


def edit_layer(spec: NetSpec, name: str, field: str, value: int) -> NetSpec:
    """``spec`` with only ``field`` of layer ``name`` set to ``value``; the layer's other fields
    (a rectangular kernel, ``padding="same"``) stay as they are. Setting a field to what the slider
    already shows for it changes nothing."""
    if field not in GEOMETRY:
        raise ArchitectureError(name, f"the explorer edits {', '.join(GEOMETRY)}, not {field!r}")
    if slider_values(spec, name)[field] == value:
        return spec
    return spec.with_layer(name, **{field: value})


def edit_input(spec: NetSpec, size: int) -> NetSpec:
    """``spec`` fed square ``size``×``size`` images (same channels); unchanged when already so."""
    if tuple(spec.input_shape[1:]) == (size, size):
        return spec
    return spec.with_input(size)


def outcome(spec: NetSpec) -> Tuple[Optional[Trace], Optional[str]]:
    """``(trace, None)``, or ``(None, message)`` when a layer cannot work."""
    try:
        return trace(spec), None
    except ArchitectureError as exc:
        return None, str(exc)


def baseline(spec: NetSpec, base: NetSpec) -> Trace:
    """The unedited network at the edited one's input size, or at its own when that fails."""
    try:
        return trace(base.with_input(spec.input_shape[1:]))
    except ArchitectureError:
        return trace(base)


@dataclass(frozen=True)
class SummaryRow:
    """One line of the explorer's table: a layer's output and parameters, and their change."""

    name: str
    shape: Tuple[int, ...]
    params: int
    delta: Optional[int]  # parameters minus the unedited layer's (None: not in the unedited network)
    shape_changed: bool


def summary_rows(t: Trace, base: Trace, kinds: Tuple[str, ...]) -> List[SummaryRow]:
    """The rows of ``t`` of the given ``kinds``, compared with ``base`` (the unedited network)."""
    before = {r.name: r for r in base.rows}
    rows = []
    for r in t.rows:
        if r.kind not in kinds:
            continue
        b = before.get(r.name)
        rows.append(
            SummaryRow(
                r.name,
                tuple(r.out_shape),
                r.params,
                None if b is None else r.params - b.params,
                b is not None and b.out_shape != r.out_shape,
            )
        )
    return rows


def check_memory(t: Trace, batch: int = 1) -> int:
    """Bytes that building the module and running ``batch`` images through it needs at least:
    float32 parameters (twice: initialisation makes a copy) and every layer's output."""
    activations = batch * (math.prod(t.input_shape) + sum(math.prod(r.out_shape) for r in t.rows))
    return 4 * (2 * t.total_params + activations)


def check_refusal(t: Trace, batch: int = 1, budget: int = CHECK_BUDGET_BYTES) -> Optional[str]:
    """Why "build & check" would not build this network, or ``None`` when it fits the budget."""
    need = check_memory(t, batch)
    if need <= budget:
        return None
    return (
        f"building {t.spec.title} at {'×'.join(map(str, t.input_shape))} needs about {need / 2**30:.1f} GiB "
        f"({t.total_params:,} parameters), more than the {budget / 2**30:.1f} GiB this check allows: "
        "use a smaller input size or kernel, or build it yourself with classicnets.build_model"
    )


# --------------------------------------------------------------------------- the static page

_ids = itertools.count(1)


def asset(name: str) -> str:
    """Text of ``classicnets/assets/<name>``."""
    return resources.files("classicnets").joinpath("assets", name).read_text(encoding="utf-8")


def explorer_js() -> str:
    """The explorer's JavaScript (arithmetic + user interface)."""
    return asset("explorer.js")


def spec_payload(specs: Optional[Mapping[str, NetSpec]] = None) -> Dict[str, Dict[str, object]]:
    """``{"lenet5/blog": {"title": "LeNet5 (blog)", "spec": {...}}, ...}``: what the page embeds."""
    specs = all_specs() if specs is None else specs
    return {key: {"title": spec.title, "spec": spec.to_dict()} for key, spec in specs.items()}


def _script_safe(json_text: str) -> str:
    """JSON that cannot end (or comment out) the ``<script>`` element it sits in.

    ``<``, ``>`` and ``&`` can only stand inside JSON strings, where ``\\u003c`` etc. mean the same.
    """
    return json_text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def explorer_html(
    specs: Optional[Mapping[str, NetSpec]] = None,
    initial: str = "lenet5/blog",
    element_id: Optional[str] = None,
    lang: Optional[str] = None,
) -> str:
    """One self-contained HTML fragment that draws the explorer in a browser.

    ``specs`` defaults to :func:`classicnets.specs.all_specs` — the one
    description of each network; ``initial`` is the key shown first. ``lang`` ("en" or "zh") sets
    the language of the explorer's own controls; by default the browser takes the page's
    ``<html lang>``, so the same output shows Chinese controls on the Chinese edition's page.
    """
    payload = spec_payload(specs)
    if initial not in payload:
        raise KeyError(f"no network {initial!r}: choose one of {', '.join(payload)}")
    js = explorer_js()
    if "</script" in js.lower():
        raise ValueError("explorer.js must not contain '</script'")
    uid = element_id or f"classicnets-explorer-{next(_ids)}"
    data = _script_safe(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
    if lang not in (None, "en", "zh"):
        raise ValueError(f"explorer_html(lang={lang!r}): choose 'en', 'zh' or None (the page's language)")
    options = _script_safe(json.dumps({"initial": initial, **({"lang": lang} if lang else {})}))
    return (
        f"<style>\n{asset('explorer.css')}</style>\n"
        f'<div id="{uid}" class="cnx-root" data-initial="{initial}">'
        "<noscript>The explorer needs JavaScript.</noscript></div>\n"
        f'<script type="application/json" id="{uid}-specs">{data}</script>\n'
        f"<script>\n{js}\n"
        f"window.classicnetsExplorer.mount(document.getElementById({json.dumps(uid)}), "
        f"JSON.parse(document.getElementById({json.dumps(uid + '-specs')}).textContent), {options});\n"
        "</script>\n"
    )


def show(initial: str = "lenet5/blog") -> None:
    """Display the explorer in a notebook (Jupyter, Colab, or the built book)."""
    from IPython.display import HTML, display

    display(HTML(explorer_html(initial=initial)))


__all__ = [
    "INPUT_LIMITS",
    "pick_network",
    "unknown_choice",
    "GEOMETRY_LIMITS",
    "CHECK_BUDGET_BYTES",
    "editable_layers",
    "slider_values",
    "check_value",
    "edit_layer",
    "edit_input",
    "outcome",
    "baseline",
    "SummaryRow",
    "summary_rows",
    "check_memory",
    "check_refusal",
    "asset",
    "explorer_js",
    "spec_payload",
    "explorer_html",
    "show",
]
