"""Pictures of the layer arithmetic: where a kernel lands on its padded input, and every layer's size.

* :func:`kernel_positions`, :func:`plot_kernel_placement`: the windows of one convolution or pooling along one
  axis (chapter 1 and its widget), an impossible setting drawn and named;
* :func:`plot_layer_sizes`: a network's feature-map sizes and parameters per layer (chapter 2 and the network
  widget), an edited network against its base.

They read :class:`~classicnets.arithmetic.Trace` objects and the formulas of :mod:`classicnets.arithmetic`;
the figure helpers are :mod:`classicnets.plots`'.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .arithmetic import ArchitectureError, Row, Trace, conv_output_size, pool_output_size, trace
from .layers import NetSpec
from .plots import _BLUE, _ORANGE, _RED, _new_ax, _new_fig

#: Layer kinds drawn by :func:`plot_layer_sizes` (activations, dropout, LRN and flatten keep sizes).
SIZE_KINDS = ("conv", "pool", "adaptive_pool", "linear", "rbf")


def kernel_positions(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    pool: bool = False,
    ceil_mode: bool = False,
) -> List[int]:
    """Where each window starts along one axis, in padded-input coordinates
    (0 is the first padding cell). Raises ``ArchitectureError`` like the arithmetic."""
    if pool:
        out = pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    else:
        out = conv_output_size(size, kernel, stride, padding, dilation)
    return [i * stride for i in range(out)]


def plot_kernel_placement(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    pool: bool = False,
    ceil_mode: bool = False,
    ax: Optional[Axes] = None,
    title: Optional[str] = None,
    error: Optional[str] = None,
) -> Figure:
    """Where a square kernel lands on a square padded input.

    Grey cells are padding. The first window is filled blue (its taps, spread
    by ``dilation``, darker), the next one along the row is dashed and the last
    one is orange; a dot marks the centre of every window, one per output
    value. Red-shaded cells are never read: the stride did not fit. A window
    that spills past the padded input (``ceil_mode`` pooling) is drawn hatched.
    An impossible setting (or a given ``error`` message) draws the kernel in
    red and says why in the title.
    """
    padded = size + 2 * padding
    span = dilation * (kernel - 1) + 1
    try:
        starts = kernel_positions(size, kernel, stride, padding, dilation, pool=pool, ceil_mode=ceil_mode)
    except ArchitectureError as exc:
        error, starts = error or str(exc), []
    if error:
        starts = []
    extent = max(padded, (starts[-1] + span) if starts else span)
    fig, ax = _new_ax((5.2, 5.6), ax)
    _draw_padded_input(ax, size, padding, lw=0.5 if extent <= 40 else 0.25)
    if starts:
        _draw_windows(ax, starts, span, kernel, dilation, padded)
        out = len(starts)
        default = (
            f"input {size}, kernel {kernel}, stride {stride}, padding {padding}"
            + (f", dilation {dilation}" if dilation != 1 else "")
            + (", ceil_mode" if ceil_mode else "")
            + f"\n→ output {out}×{out}"
        )
    else:
        _draw_impossible(ax, span, dilation, padded)
        default = "impossible: " + (error or "")
    ax.set_xlim(-0.5, extent + 0.5)
    ax.set_ylim(extent + 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(title or _wrap(default, 60), fontsize=10, color=_RED if error else "black")
    return fig


def _draw_padded_input(ax: Axes, size: int, padding: int, lw: float) -> None:
    """The padded input: white cells, grey padding (with its zeros when small), one grid, the input's frame."""
    from matplotlib.patches import Rectangle

    padded = size + 2 * padding
    ax.add_patch(Rectangle((0, 0), padded, padded, facecolor="white", edgecolor="black", lw=1.2, zorder=1))
    if padding:
        for x, y, w, h in (
            (0, 0, padded, padding),
            (0, padded - padding, padded, padding),
            (0, padding, padding, size),
            (padded - padding, padding, padding, size),
        ):
            ax.add_patch(Rectangle((x, y), w, h, facecolor="#d9d9d9", edgecolor="none", zorder=1.5))
    lines = np.arange(padded + 1)
    ax.vlines(lines, 0, padded, color="0.75", lw=lw, zorder=2)  # one collection each: fast at any size
    ax.hlines(lines, 0, padded, color="0.75", lw=lw, zorder=2)
    if padded <= 16 and padding:
        for i in range(padded):
            for j in range(padded):
                if min(i, j) < padding or max(i, j) >= padded - padding:
                    ax.text(j + 0.5, i + 0.5, "0", ha="center", va="center", fontsize=7, color="0.45", zorder=2.5)
    ax.add_patch(Rectangle((padding, padding), size, size, facecolor="none", edgecolor="black", lw=1.6, zorder=3))


def _draw_window(
    ax: Axes,
    x0: int,
    y0: int,
    span: int,
    kernel: int,
    dilation: int,
    padded: int,
    color: str,
    fill: bool,
    ls: str = "-",
    z: float = 4,
) -> None:
    """One window: filled or outlined, hatched where it spills past the padded input, its taps when dilated."""
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Rectangle

    spill = x0 + span > padded or y0 + span > padded
    ax.add_patch(
        Rectangle(
            (x0, y0),
            span,
            span,
            facecolor=color if fill else "none",
            alpha=0.25 if fill else 1,
            edgecolor=color,
            lw=2,
            ls=ls,
            zorder=z,
            hatch="//" if spill else None,
        )
    )
    ax.add_patch(Rectangle((x0, y0), span, span, facecolor="none", edgecolor=color, lw=2.2, ls=ls, zorder=z + 0.1))
    if fill and dilation > 1:  # the taps, as one image (one patch per tap is slow for large kernels)
        taps = np.zeros((span, span, 4))
        taps[::dilation, ::dilation] = to_rgba(color, 0.6)
        ax.imshow(taps, extent=(x0, x0 + span, y0 + span, y0), interpolation="nearest", zorder=z)


def _draw_windows(ax: Axes, starts: List[int], span: int, kernel: int, dilation: int, padded: int) -> None:
    """Cells never read in red, the first, second and last windows, and a dot per output value."""
    from matplotlib.patches import Rectangle

    covered = starts[-1] + span
    if covered < padded:  # cells the last window never reaches
        ax.add_patch(Rectangle((covered, 0), padded - covered, padded, facecolor=_RED, alpha=0.15, zorder=2.2))
        ax.add_patch(Rectangle((0, covered), covered, padded - covered, facecolor=_RED, alpha=0.15, zorder=2.2))
    _draw_window(ax, starts[0], starts[0], span, kernel, dilation, padded, _BLUE, True)
    if len(starts) > 1:
        _draw_window(ax, starts[1], starts[0], span, kernel, dilation, padded, _BLUE, False, "--", 4.5)
        _draw_window(ax, starts[-1], starts[-1], span, kernel, dilation, padded, _ORANGE, True, "-", 4.2)
    centres = [s + (span - 1) / 2 + 0.5 for s in starts]
    if len(centres) <= 64:
        xs, ys = np.meshgrid(centres, centres)
        ax.scatter(xs.ravel(), ys.ravel(), s=max(4, 120 / len(centres)), color="black", zorder=6)


def _draw_impossible(ax: Axes, span: int, dilation: int, padded: int) -> None:
    """The kernel in red over the (too small) padded input."""
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((0, 0), span, span, facecolor=_RED, alpha=0.2, edgecolor=_RED, lw=2, zorder=4))
    ax.text(
        span - 0.3,
        span - 0.3,
        f"kernel {span}×{span}" if dilation == 1 else f"dilated kernel {span}×{span}",
        ha="right",
        va="bottom",
        color=_RED,
        fontsize=10,
        zorder=7,
    )
    if padded:
        ax.text(
            padded / 2,
            padded / 2,
            f"padded input\n{padded}×{padded}",
            ha="center",
            va="center",
            fontsize=9,
            color="black",
            zorder=7,
        )


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def _signed(n: int) -> str:
    return f"{'+' if n > 0 else '−'}{abs(n):,}"


def _title_with_changes(t: Trace, base: Trace) -> str:
    """ "LeNet5 (blog) at 1×32×32: 81,290 parameters (+19,584), 573,348 MACs (−79,452) vs unchanged":
    each total with its own change, when it changed."""
    parts = []
    for what, now, before in (
        ("parameters", t.total_params, base.total_params),
        ("MACs", t.total_macs, base.total_macs),
    ):
        parts.append(f"{now:,} {what}" + (f" ({_signed(now - before)})" if now != before else ""))
    changed = t.total_params != base.total_params or t.total_macs != base.total_macs
    return (
        f"{t.spec.title} at {'×'.join(map(str, t.input_shape))}: "
        + ", ".join(parts)
        + (" vs unchanged" if changed else "")
    )


def _size_rows(t: Trace) -> List[Row]:
    return [r for r in t.rows if r.kind in SIZE_KINDS]


def plot_layer_sizes(
    net: Union[Trace, NetSpec],
    *,
    highlight: Optional[str] = None,
    baseline: Union[Trace, NetSpec, None] = None,
    error: Optional[str] = None,
    fig: Optional[Figure] = None,
    title: Optional[str] = None,
) -> Figure:
    """Feature-map size (height) after every layer, and parameters per layer.

    ``net`` is a spec or its trace. ``highlight`` names a layer to draw in
    orange; ``baseline`` (another spec/trace, e.g. the unedited network) is
    drawn as grey outlines behind, so a change shows where it propagates, and
    the title gives the change of the parameters and of the MACs;
    ``error`` (a message) is written in red over the picture.
    """
    t = net if isinstance(net, Trace) else trace(net)
    base = None if baseline is None else (baseline if isinstance(baseline, Trace) else trace(baseline))
    rows = _size_rows(t)
    names = ["input"] + [r.name for r in rows]
    fig = _new_fig((max(7.0, 0.62 * len(names) + 2.5), 5.4), fig)
    ax_size, ax_par = fig.subplots(2, 1, sharex=True, height_ratios=[1.1, 1])
    colors = [
        _ORANGE if n == highlight else (_BLUE if i == 0 or rows[i - 1].kind not in ("linear", "rbf") else "#6baed6")
        for i, n in enumerate(names)
    ]
    before = None if base is None else {r.name: r for r in _size_rows(base)}
    _size_panel(ax_size, t, rows, names, colors, base, before)
    _params_panel(ax_par, rows, names, colors, before)
    ax_par.set_xticks(np.arange(len(names)), names, rotation=45, ha="right", fontsize=8)
    for ax in (ax_size, ax_par):
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    if title is None:
        title = (
            _title_with_changes(t, base)
            if base is not None
            else f"{t.spec.title} at {'×'.join(map(str, t.input_shape))}: "
            f"{t.total_params:,} parameters, {t.total_macs:,} MACs"
        )
    fig.suptitle(_wrap(title, 95), fontsize=10)
    if error:
        fig.text(
            0.5,
            0.5,
            _wrap(error, 70),
            ha="center",
            va="center",
            color=_RED,
            fontsize=11,
            bbox=dict(facecolor="white", edgecolor=_RED, alpha=0.95),
        )
    return fig


def _height(shape: Sequence[int]) -> int:
    return shape[1] if len(shape) == 3 else 1


def _size_panel(
    ax: Axes,
    t: Trace,
    rows: List[Row],
    names: List[str],
    colors: List[str],
    base: Optional[Trace],
    before: Optional[Dict[str, Row]],
) -> None:
    """Top panel: each map's height, its C×H×W above the bar, the unedited sizes dashed behind."""
    x = np.arange(len(names))
    sizes = [_height(t.input_shape)] + [_height(r.out_shape) for r in rows]
    top = max(sizes)
    if base is not None and before is not None:
        bsizes = [_height(base.input_shape)] + [_height(before[n].out_shape) if n in before else 0 for n in names[1:]]
        ax.bar(
            x,
            bsizes,
            width=0.8,
            facecolor="none",
            edgecolor="0.55",
            ls="--",
            lw=1.2,
            zorder=3,
            label=f"unchanged ({base.spec.variant})",
        )
        top = max(top, max(bsizes))
        ax.legend(fontsize=7, loc="upper right")
    ax.bar(x, sizes, width=0.8, color=colors, zorder=2)
    shapes = [t.input_shape] + [r.out_shape for r in rows]
    for xi, s, shp in zip(x, sizes, shapes):
        ax.text(
            xi,
            s + 0.02 * top,
            "×".join(str(v) for v in shp),
            ha="center",
            va="bottom",
            fontsize=7,
            rotation=90 if len(names) > 9 else 0,
        )
    ax.set_ylim(0, top * (1.45 if len(names) > 9 else 1.18))
    ax.set_ylabel("map height\n(1 for vectors)")


def _params_panel(
    ax: Axes, rows: List[Row], names: List[str], colors: List[str], before: Optional[Dict[str, Row]]
) -> None:
    """Bottom panel: parameters per layer (symlog), the unedited counts dashed behind."""
    x = np.arange(len(names))
    params = [0] + [r.params for r in rows]
    bparams = None if before is None else [0] + [before[n].params if n in before else 0 for n in names[1:]]
    if bparams is not None:
        ax.bar(x, bparams, width=0.8, facecolor="none", edgecolor="0.55", ls="--", lw=1.2, zorder=3)
    ax.bar(x, params, width=0.8, color=colors, zorder=2)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylim(0, max(params + (bparams or []) + [10]) * 30)
    label_at = params if bparams is None else [max(p, b) for p, b in zip(params, bparams)]
    for xi, p, at in zip(x[1:], params[1:], label_at[1:]):
        ax.text(xi, max(at, 1) * 1.3, f"{p:,}", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_ylabel("parameters")
