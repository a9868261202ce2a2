"""The whole-network widget, :class:`NetworkExplorer` (``network_explorer()``): a network from its description,
one conv/pool layer's geometry and the input size under the reader's control, every feature map's size and
every layer's parameters shown, and "build & check" running the real module."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import ipywidgets as W
from matplotlib.figure import Figure

from .arithmetic import ArchitectureError, Trace, trace
from .arithmetic_plots import SIZE_KINDS, plot_layer_sizes
from .explorer import (
    GEOMETRY,
    GEOMETRY_LIMITS,
    INPUT_LIMITS,
    SettingValue,
    baseline,
    check_refusal,
    check_value,
    edit_input,
    edit_layer,
    editable_layers,
    outcome,
    pick_network,
    slider_values,
    summary_rows,
    unknown_choice,
)
from .layers import NetSpec
from .picture_widget import _STYLE, PictureWidget, _error_html, _esc, _mark, _ok_html, _show
from .specs import ALEXNET_VARIANTS, LENET5_VARIANTS, spec_for

#: Networks the explorer offers: key -> (label, variants, input-size slider range).
NETWORKS: Dict[str, Tuple[str, Tuple[str, ...], Tuple[int, int]]] = {
    "lenet5": ("LeNet5", LENET5_VARIANTS, (4, INPUT_LIMITS["lenet5"][1])),
    "alexnet": ("AlexNet", ALEXNET_VARIANTS, (16, INPUT_LIMITS["alexnet"][1])),
}


class NetworkExplorer(PictureWidget):
    """A whole network, described once, with one layer's geometry under your control.

    Controls: ``net`` and ``variant`` dropdowns, ``layer`` (its conv/pool
    layers), ``kernel``/``stride``/``padding`` sliders for that layer,
    ``input_size``, a ``reset_button`` and a ``check_button`` ("build & check").
    Edits accumulate over layers until reset or a change of network/variant;
    moving a slider writes only that field (:func:`classicnets.explorer.edit_layer`).
    ``spec=`` adds any other :class:`~classicnets.layers.NetSpec` (say one read
    from a module with ``spec_from_module``) as a network of its own, and selects it.

    State: ``base`` (the unedited spec), ``spec`` (the edited one),
    ``trace`` (its :class:`~classicnets.arithmetic.Trace`, ``None`` when
    impossible), ``error`` (the message, or ``None``), ``refused`` (why the last
    :meth:`set` refused a value, or ``None``), ``last_check`` (per-layer
    ``(traced, measured)`` shapes of the last forward check).
    Read-outs: ``message``, ``summary`` (a per-layer HTML table), ``check_result``.
    A bad argument never raises: its message goes to ``message``.
    """

    figsize = (8.0, 5.4)

    def __init__(
        self,
        net: str = "lenet5",
        variant: Optional[str] = None,
        layer: Optional[str] = None,
        *,
        spec: Optional[NetSpec] = None,
        **values: SettingValue,
    ) -> None:
        super().__init__()
        self._networks = _network_table(spec)
        if spec is not None:
            net, variant = "custom", spec.variant
        refused = None if net in self._networks else unknown_choice("network", net, self._networks)
        net = net if net in self._networks else "lenet5"
        self._build_controls(net)
        # what is shown; the dropdowns already hold a new choice when their observer runs
        self._shown: Tuple[str, str] = (net, self._first_variant(net))
        self.base: NetSpec = self._spec(net, self._first_variant(net))
        self.spec: NetSpec = self.base
        self.trace: Optional[Trace] = None
        self.error: Optional[str] = None
        self.refused: Optional[str] = None
        self.last_check: Optional[Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]]] = None
        self._observe()
        self.set(net=net, variant=variant, layer=layer, **values)
        if refused:
            self._refuse([refused])

    def _build_controls(self, net: str) -> None:
        slider = dict(continuous_update=False, style=_STYLE, layout=W.Layout(width="320px"))
        self.net = W.Dropdown(
            options=[(label, key) for key, (label, _, _) in self._networks.items()],
            value=net,
            description="network",
            style=_STYLE,
        )
        self.variant = W.Dropdown(options=list(self._networks[net][1]), description="variant", style=_STYLE)
        self.layer = W.Dropdown(options=[], description="layer", style=_STYLE)
        self.kernel = W.IntSlider(value=1, min=1, max=15, description="kernel", **slider)
        self.stride = W.IntSlider(value=1, min=1, max=8, description="stride", **slider)
        self.padding = W.IntSlider(value=0, min=0, max=8, description="padding (per side)", **slider)
        lo, hi = self._networks[net][2]
        self.input_size = W.IntSlider(value=lo, min=lo, max=hi, description="input size", **slider)
        self.reset_button = W.Button(description="reset", icon="undo", layout=W.Layout(width="100px"))
        self.check_button = W.Button(
            description="build & check", icon="play", button_style="info", layout=W.Layout(width="150px")
        )
        self.message = W.HTML(value="")
        self.summary = W.HTML(value="")
        self.check_result = W.HTML(value="")
        controls = W.VBox(
            [
                self.net,
                self.variant,
                self.layer,
                self.kernel,
                self.stride,
                self.padding,
                self.input_size,
                W.HBox([self.reset_button, self.check_button]),
                self.message,
                self.check_result,
            ],
            layout=W.Layout(min_width="340px"),
        )
        table = W.HBox([controls, self.summary], layout=W.Layout(flex_flow="row wrap"))
        self.children = [table, self.image, self.key_fix]
        _mark(self, "cn-network", message=self.message, summary=self.summary, check_result=self.check_result)

    def _observe(self) -> None:
        self.net.observe(lambda c: self._on(net=c["new"]), names="value")
        self.variant.observe(lambda c: self._on(variant=c["new"]), names="value")
        self.layer.observe(lambda c: self._on(layer=c["new"]), names="value")
        for name in GEOMETRY + ("input_size",):
            self._watch(name)
        self.reset_button.on_click(lambda _b: self.reset())
        self.check_button.on_click(lambda _b: self.check())

    def _watch(self, name: str) -> None:
        getattr(self, name).observe(lambda c: self._on(**{name: c["new"]}), names="value")

    def _on(self, **values: SettingValue) -> None:
        """A control moved: apply that one value (observers are quiet while :meth:`set` works)."""
        if not self._is_quiet:
            self.set(**values)

    def _first_variant(self, net: str) -> str:
        return next(iter(self._networks[net][1]))

    def _spec(self, net: str, variant: str) -> NetSpec:
        variants = self._networks[net][1]
        if variants[variant] is None:
            variants[variant] = spec_for(net, variant)
        return variants[variant]  # type: ignore[return-value]

    # -- choosing a network
    def load(
        self, net: str, variant: Optional[str] = None, layer: Optional[str] = None, **values: SettingValue
    ) -> "NetworkExplorer":
        """Start afresh from ``spec_for(net, variant)``; optionally select ``layer`` and ``set(**values)``."""
        return self.set(net=net, variant=variant or self._first_variant(net), layer=layer, _fresh=True, **values)

    def reset(self) -> "NetworkExplorer":
        """Back to the unedited network (same network, variant and layer)."""
        return self.load(self.net.value, self.variant.value, self.layer.value)

    def _start(self, net: str, variant: str) -> None:
        """Show the unedited ``net``/``variant`` with its first layer selected."""
        label, variants, (lo, hi) = self._networks[net]
        self.base = self.spec = self._spec(net, variant)
        self._shown = (net, variant)
        self.net.value = net
        self.variant.options = list(variants)
        self.variant.value = variant
        self.layer.options = editable_layers(self.base)
        side = self.base.input_shape[1]
        _show(self.input_size, side, min(lo, side), max(hi, side))

    def _show_layer(self) -> None:
        """Sliders show the selected layer's current settings."""
        for name, value in slider_values(self.spec, self.layer.value).items():
            slider = getattr(self, name)
            _show(slider, value, min(slider.min, value), max(slider.max, value))

    # -- the one entry point for tests, notebooks and the controls
    def set(self, **values: SettingValue) -> "NetworkExplorer":
        """Change settings at once, then update. Names: ``net``, ``variant``,
        ``layer``, ``kernel``, ``stride``, ``padding``, ``input_size``.
        Changing ``net``/``variant`` starts from that network afresh. A value that
        cannot be used is left out and its message shown (``refused``); nothing raises."""
        fresh = bool(values.pop("_fresh", False))
        refusals = [
            f"unknown setting {name!r}: settings are {', '.join(SETTINGS)}" for name in values if name not in SETTINGS
        ]
        with self._quiet():
            started = self._set_network(values.get("net"), values.get("variant"), refusals, fresh)
            layer = values.get("layer")
            if not self._set_layer(layer, refusals) and started:
                self._set_layer(self.layer.options[0], refusals)
            for name in GEOMETRY + ("input_size",):
                if values.get(name) is not None:
                    self._set_number(name, values[name], refusals)
            self._show_layer()
        self.update()
        self._refuse(refusals)
        return self

    def _set_network(self, net: SettingValue, variant: SettingValue, refusals: List[str], fresh: bool) -> bool:
        """Start afresh when ``net``/``variant`` is given (or ``fresh``); an unknown one is refused."""
        if net is None and variant is None and not fresh:
            return False
        known = {key: (label, list(variants)) for key, (label, variants, _) in self._networks.items()}
        net, variant, refused = pick_network(known, self._shown, net, variant)
        refusals.extend(refused)
        self._start(net, variant)
        return True

    def _set_layer(self, layer: SettingValue, refusals: List[str]) -> bool:
        if layer is None:
            return False
        names = list(self.layer.options)
        if layer not in names:
            refusals.append(
                f"{self.spec.title} has no convolution or pooling layer {layer!r}; pick one of {', '.join(names)}"
            )
            return False
        self.layer.value = layer
        self._show_layer()
        return True

    def _set_number(self, name: str, value: SettingValue, refusals: List[str]) -> None:
        slider = getattr(self, name)
        limit = self._networks[self.net.value][2][1] if name == "input_size" else GEOMETRY_LIMITS[name]
        try:
            n = check_value(name, value, max(limit, slider.max), "input" if name == "input_size" else self.layer.value)
        except ArchitectureError as exc:
            refusals.append(f"{exc} (kept {slider.value})")
            return
        _show(slider, n, min(slider.min, n), max(slider.max, n))
        if name == "input_size":
            self.spec = edit_input(self.spec, n)
        else:
            self.spec = edit_layer(self.spec, self.layer.value, name, n)

    def _refuse(self, refusals: List[str]) -> None:
        self.refused = "; ".join(refusals) or None
        if self.refused:
            self.message.value = _error_html(self.refused) + ("<br>" + self.message.value if self.message.value else "")

    def update(self) -> None:
        """Trace the edited network; refresh the message, the table and the picture."""
        self.check_result.value = ""
        self.last_check = None
        self.trace, self.error = outcome(self.spec)
        self.message.value = "" if self.error is None else _error_html(self.error)
        self.check_button.disabled = self.error is not None
        self.summary.value = self._summary_html()
        self.redraw()

    @property
    def changed(self) -> bool:
        return self.spec != self.base

    @property
    def total_params(self) -> Optional[int]:
        return None if self.trace is None else self.trace.total_params

    def _summary_html(self) -> str:
        base = trace(self.base)
        if self.trace is None:
            return (
                f"<b>{_esc(self.spec.title)}</b>: no table, the network cannot run as set "
                f"(unchanged it has {base.total_params:,} parameters)."
            )
        head = "<tr><th>layer</th><th>output</th><th>parameters</th><th>change</th></tr>"
        lines = [f"<tr><td>input</td><td>{'×'.join(map(str, self.trace.input_shape))}</td><td></td><td></td></tr>"]
        for r in summary_rows(self.trace, base, SIZE_KINDS):
            style = ' style="background:#fff3e0"' if r.name == self.layer.value else ""
            shape = "×".join(map(str, r.shape))
            shape = f"<b>{shape}</b>" if r.shape_changed else shape
            delta = "" if not r.delta else f"{r.delta:+,}"
            lines.append(
                f"<tr{style}><td>{_esc(r.name)}</td><td>{shape}</td><td style='text-align:right'>"
                f"{r.params:,}</td><td style='text-align:right'>{delta}</td></tr>"
            )
        total = self.trace.total_params
        d = total - base.total_params
        lines.append(
            f"<tr><td><b>total</b></td><td></td><td style='text-align:right'><b>{total:,}</b></td>"
            f"<td style='text-align:right'>{'' if d == 0 else f'{d:+,}'}</td></tr>"
        )
        return f"<table style='font-size:90%'>{head}{''.join(lines)}</table>"

    def _draw(self, fig: Figure) -> None:
        before = baseline(self.spec, self.base) if self.changed else None
        if self.trace is not None:
            plot_layer_sizes(self.trace, highlight=self.layer.value, baseline=before, fig=fig)
            return
        shown = before or trace(self.base)  # the unedited network with the message over it
        size = "×".join(map(str, shown.input_shape))
        plot_layer_sizes(
            shown,
            highlight=self.layer.value,
            error=self.error,
            fig=fig,
            title=f"{self.spec.title}: impossible as set (drawn unedited, at {size})",
        )

    # -- the real module
    def check(self, batch: int = 1) -> bool:
        """Build ``classicnets.build_model(spec)``, run ``batch`` zero images
        through it and compare every layer's output shape with the trace.
        Returns whether all agree; the verdict goes to ``check_result``. A network
        over :data:`~classicnets.explorer.CHECK_BUDGET_BYTES` is not built."""
        refusal = f"nothing to build: {self.error}" if self.trace is None else check_refusal(self.trace, batch)
        if refusal:
            self.check_result.value = _error_html(refusal)
            return False
        try:
            seen, out, params = _run_module(self.spec, batch)
        except Exception as exc:  # a failure of the real module is a finding, not a crash
            self.check_result.value = _error_html(f"the real module failed: {type(exc).__name__}: {exc}")
            self.last_check = None
            return False
        traced = {r.name: tuple(r.out_shape) for r in self.trace.rows}
        self.last_check = {name: (traced[name], shape) for name, shape in seen.items() if name in traced}
        ok, verdict = _verdict(self.last_check, params, self.trace.total_params, out)
        self.check_result.value = (_ok_html if ok else _error_html)(verdict)
        return ok

    def _describe(self) -> str:
        if self.trace is None:
            return f"{self.spec.title}: {self.error}"
        return (
            f"{self.spec.title} at {'×'.join(map(str, self.spec.input_shape))}: {self.trace.total_params:,} parameters"
        )


SETTINGS = ("net", "variant", "layer", "kernel", "stride", "padding", "input_size")
NetworkTable = Dict[str, Tuple[str, Dict[str, Optional[NetSpec]], Tuple[int, int]]]


def _network_table(spec: Optional[NetSpec]) -> NetworkTable:
    """key -> (label, {variant: spec or None until first picked}, input-size slider range)."""
    table: NetworkTable = {
        key: (label, {v: None for v in variants}, rng) for key, (label, variants, rng) in NETWORKS.items()
    }
    if spec is not None:  # any other description: offered as one more network
        size = spec.input_shape[1]
        table["custom"] = (spec.name, {spec.variant: spec}, (max(1, size // 4), max(2 * size, 8)))
    return table


def _run_module(spec: NetSpec, batch: int) -> Tuple[Dict[str, Tuple[int, ...]], Tuple[int, ...], int]:
    """Build the module, run ``batch`` zero images: each named layer's output shape, the output shape and
    the number of trainable parameters."""
    import torch

    from .models import build_model

    model = build_model(spec).eval()
    seen: Dict[str, Tuple[int, ...]] = {}
    hooks = []
    for block in (model.features, model.classifier):
        for name, module in block.named_children():
            hooks.append(
                module.register_forward_hook(lambda _m, _i, o, name=name: seen.__setitem__(name, tuple(o.shape[1:])))
            )
    try:
        with torch.no_grad():
            out = model(torch.zeros(batch, *spec.input_shape))
    finally:
        for h in hooks:
            h.remove()
    return seen, tuple(out.shape), sum(p.numel() for p in model.parameters() if p.requires_grad)


def _verdict(
    shapes: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]], params: int, counted: int, out: Tuple[int, ...]
) -> Tuple[bool, str]:
    bad = [
        f"{n}: traced {'×'.join(map(str, t))}, ran {'×'.join(map(str, s))}" for n, (t, s) in shapes.items() if t != s
    ]
    if bad:
        return False, "the forward pass disagrees with the arithmetic — " + "; ".join(bad)
    if params != counted:
        return False, (
            f"shapes agree, but the module has {params:,} trainable parameters where the arithmetic counts {counted:,}"
        )
    return True, (
        f"built and ran: all {len(shapes)} layers give the traced shapes; output "
        f"{out}, {params:,} trainable parameters as counted"
    )


def network_explorer(
    net: str = "lenet5",
    variant: Optional[str] = None,
    layer: Optional[str] = None,
    *,
    spec: Optional[NetSpec] = None,
    **values: SettingValue,
) -> NetworkExplorer:
    """``NetworkExplorer(net, variant, layer, spec=None, **values)``; e.g.
    ``network_explorer("alexnet", "paper", layer="conv1", kernel=7)``, or
    ``network_explorer(spec=spec_from_module(torchvision.models.alexnet(), (3, 224, 224)))``
    for any other description (offered as one more entry of the network dropdown)."""
    return NetworkExplorer(net, variant, layer, spec=spec, **values)
