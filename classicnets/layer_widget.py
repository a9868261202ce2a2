"""The one-layer widget, :class:`ConvLayerWidget` (``conv_layer_widget()``): one convolution or pooling layer,
its output size by the formula, confirmed by a real PyTorch layer, and where the kernel lands."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Union

import ipywidgets as W
from matplotlib.figure import Figure

from .arithmetic import ArchitectureError, conv_output_size, pool_output_size
from .arithmetic_plots import plot_kernel_placement
from .explorer import check_value
from .layers import flag
from .picture_widget import _STYLE, PictureWidget, _error_html, _esc, _mark, _show


class ConvLayerWidget(PictureWidget):
    """One convolution or pooling layer on a square input.

    Controls: ``kind`` (``"conv"``, ``"max"``, ``"avg"``), ``size``, ``kernel``,
    ``stride``, ``padding``, ``dilation`` sliders and ``ceil_mode`` (pooling).
    Read-outs: ``output_size`` (a Label: ``"4 × 4"``, or ``"—"`` when
    impossible), ``formula`` (the formula with the numbers in), ``torch_check``
    (what a real PyTorch layer gave) and ``message`` (the arithmetic's error,
    empty when all is well). ``out`` is the output size as an int, or ``None``;
    ``error`` the message as plain text, or ``None``.
    """

    figsize = (5.2, 5.6)

    def __init__(
        self,
        size: int = 7,
        kernel: int = 3,
        stride: int = 2,
        padding: int = 1,
        dilation: int = 1,
        kind: str = "conv",
        ceil_mode: bool = False,
    ) -> None:  # checked by set(): bad values are shown
        super().__init__()
        slider = dict(continuous_update=False, style=_STYLE, layout=W.Layout(width="340px"))
        self.kind = W.ToggleButtons(
            options=[("convolution", "conv"), ("max pooling", "max"), ("average pooling", "avg")],
            value="conv",
            style={"button_width": "120px"},
        )
        self.size = W.IntSlider(value=7, min=1, max=64, description="input size", **slider)
        self.kernel = W.IntSlider(value=3, min=1, max=15, description="kernel", **slider)
        self.stride = W.IntSlider(value=1, min=1, max=8, description="stride", **slider)
        self.padding = W.IntSlider(value=0, min=0, max=8, description="padding (per side)", **slider)
        self.dilation = W.IntSlider(value=1, min=1, max=5, description="dilation", **slider)
        self.ceil_mode = W.Checkbox(value=False, description="ceil_mode", indent=False, disabled=True)
        self.output_size = W.Label(value="")
        self.formula = W.HTML(value="")
        self.torch_check = W.HTML(value="")
        self.message = W.HTML(value="")
        self.out: Optional[int] = None
        self.error: Optional[str] = None
        self.refused: Optional[str] = None
        controls = W.VBox(
            [
                self.kind,
                self.size,
                self.kernel,
                self.stride,
                self.padding,
                self.dilation,
                self.ceil_mode,
                W.HBox([W.Label("output size:"), self.output_size]),
                self.formula,
                self.torch_check,
                self.message,
            ],
            layout=W.Layout(min_width="360px"),
        )
        self.children = [W.HBox([controls, self.image], layout=W.Layout(flex_flow="row wrap")), self.key_fix]
        _mark(self, "cn-conv-layer", output_size=self.output_size, formula=self.formula)
        _mark(self, None, torch_check=self.torch_check, message=self.message)
        for control in (self.kind, self.size, self.kernel, self.stride, self.padding, self.dilation, self.ceil_mode):
            control.observe(self._on_change, names="value")
        self.set(
            size=size, kernel=kernel, stride=stride, padding=padding, dilation=dilation, kind=kind, ceil_mode=ceil_mode
        )

    # -- state
    @property
    def values(self) -> Dict[str, Union[int, str, bool]]:
        """The current settings as a dict (the arguments of :meth:`set`)."""
        return {
            "kind": self.kind.value,
            "size": self.size.value,
            "kernel": self.kernel.value,
            "stride": self.stride.value,
            "padding": self.padding.value,
            "dilation": self.dilation.value,
            "ceil_mode": self.ceil_mode.value,
        }

    def set(self, **values: Union[int, str, bool]) -> "ConvLayerWidget":
        """Change several settings at once, then update. A value that cannot be used (an unknown
        name, ``kernel="3"``, an unknown ``kind``, a size over :data:`CONV_LIMITS`) is left out and its
        message shown in ``message`` (and ``refused``); nothing raises."""
        refusals = []
        with self._quiet():
            for name, value in values.items():
                try:
                    value = conv_setting(name, value, "pool" if self.kind.value != "conv" else "conv")
                except ArchitectureError as exc:
                    kept = f" (kept {getattr(self, name).value!r})" if name in self.values else ""
                    refusals.append(f"{exc}{kept}")
                    continue
                control = getattr(self, name)
                if isinstance(control, W.IntSlider):
                    _show(control, value, min(control.min, value), max(control.max, value))
                else:
                    control.value = value
        self.update()
        self.refused = "; ".join(refusals) or None
        if self.refused:
            self.message.value = _error_html(self.refused) + ("<br>" + self.message.value if self.message.value else "")
        return self

    def _on_change(self, _change: Optional[Mapping[str, object]] = None) -> None:
        if not self._is_quiet:
            self.update()

    def update(self) -> None:
        """Recompute the read-outs and the picture from the controls."""
        v = self.values
        pool = v["kind"] != "conv"
        self.ceil_mode.disabled = not pool
        ceil = v["ceil_mode"] and pool
        self.out, error = None, None
        try:
            if v["kind"] == "avg" and v["dilation"] != 1:
                raise ArchitectureError("pool", f"average pooling has no dilation, got {v['dilation']}: use dilation 1")
            if pool:
                self.out = pool_output_size(v["size"], v["kernel"], v["stride"], v["padding"], v["dilation"], ceil)
            else:
                self.out = conv_output_size(v["size"], v["kernel"], v["stride"], v["padding"], v["dilation"])
        except ArchitectureError as exc:
            error = str(exc)
        self.error = error
        self.output_size.value = "—" if self.out is None else f"{self.out} × {self.out}"
        self.formula.value = self._formula_html(v, ceil)
        self.message.value = "" if error is None else _error_html(error)
        self.torch_check.value = self._torch_check(v, ceil)
        self.redraw()

    @staticmethod
    def _formula_html(v: Mapping[str, Union[int, str, bool]], ceil: bool) -> str:
        n, k, s, p, d = v["size"], v["kernel"], v["stride"], v["padding"], v["dilation"]
        num = n + 2 * p - d * (k - 1) - 1
        lo, hi = ("⌈", "⌉") if ceil else ("⌊", "⌋")
        text = f"{lo}({n} + 2·{p} − {d}·({k} − 1) − 1) / {s}{hi} + 1 = {lo}{num}/{s}{hi} + 1"
        if num >= 0 and s >= 1:
            value = (-(-num // s) if ceil else num // s) + 1
            text += f" = {value}"
            if ceil and (value - 1) * s >= n + p:
                text += f" → {value - 1} (the last window would start in the right padding)"
        return f"<code>{_esc(text)}</code>"

    @staticmethod
    def _torch_check(v: Mapping[str, Union[int, str, bool]], ceil: bool) -> str:
        import torch
        from torch import nn

        n, k, s, p, d = v["size"], v["kernel"], v["stride"], v["padding"], v["dilation"]
        if v["kind"] == "conv":
            what = f"nn.Conv2d(1, 1, {k}, stride={s}, padding={p}, dilation={d})"
            make = lambda: nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)  # noqa: E731
        elif v["kind"] == "max":
            what = f"nn.MaxPool2d({k}, stride={s}, padding={p}, dilation={d}, ceil_mode={ceil})"
            make = lambda: nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil)  # noqa: E731
        else:
            if d != 1:
                return "PyTorch: <code>nn.AvgPool2d</code> has no dilation argument"
            what = f"nn.AvgPool2d({k}, stride={s}, padding={p}, ceil_mode={ceil})"
            make = lambda: nn.AvgPool2d(k, stride=s, padding=p, ceil_mode=ceil)  # noqa: E731
        try:
            with torch.no_grad():
                shape = tuple(make()(torch.zeros(1, 1, n, n)).shape)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"PyTorch <code>{_esc(what)}</code> refuses too: <i>{_esc(first[:160])}</i>"
        return f"PyTorch <code>{_esc(what)}</code> on 1×1×{n}×{n} zeros gives <b>{'×'.join(map(str, shape))}</b>"

    def _draw(self, fig: Figure) -> None:
        v = self.values
        pool = v["kind"] != "conv"
        dilation = v["dilation"]
        error = None
        if v["kind"] == "avg" and dilation != 1:
            error = "pool: average pooling has no dilation: use dilation 1"
        plot_kernel_placement(
            v["size"],
            v["kernel"],
            v["stride"],
            v["padding"],
            dilation,
            pool=pool,
            ceil_mode=v["ceil_mode"] and pool,
            ax=fig.add_subplot(),
            error=error,
        )

    def _describe(self) -> str:
        v = self.values
        return (
            f"{v['kind']} input {v['size']}, kernel {v['kernel']}, stride {v['stride']}, padding {v['padding']}, "
            f"dilation {v['dilation']} → output {self.output_size.value}"
        )


#: Highest value each slider of :class:`ConvLayerWidget` takes: one update (PyTorch check and
#: picture) stays under a second.
CONV_LIMITS: Dict[str, int] = {"size": 256, "kernel": 64, "stride": 64, "padding": 32, "dilation": 16}
CONV_KINDS = ("conv", "max", "avg")


def conv_setting(name: str, value: object, layer: str = "conv") -> Union[int, str, bool]:
    """``value`` checked for setting ``name`` of :class:`ConvLayerWidget`, or
    :class:`ArchitectureError` naming the setting, the value and the fix. Values below a
    slider's usual range (``stride=0``) pass: the arithmetic explains why they cannot work."""
    if name == "kind":
        if value not in CONV_KINDS:
            raise ArchitectureError(layer, f"unknown kind {value!r}: choose one of {', '.join(map(repr, CONV_KINDS))}")
        return value  # type: ignore[return-value]
    if name == "ceil_mode":
        return flag(value, "ceil_mode", layer)
    if name not in CONV_LIMITS:
        raise ArchitectureError(
            layer, f"unknown setting {name!r}: settings are kind, ceil_mode, {', '.join(CONV_LIMITS)}"
        )
    return check_value(name, value, CONV_LIMITS[name], layer)


def conv_layer_widget(**values: Union[int, str, bool]) -> ConvLayerWidget:
    """``ConvLayerWidget(**values)``: size, kernel, stride, padding, dilation, kind, ceil_mode."""
    return ConvLayerWidget(**values)
