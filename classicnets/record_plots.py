"""Pictures of records: throughput and TFLOP/s against batch size (chapter 8), training curves of runs (chapter 6).

Each reads records (:mod:`classicnets.records`, :mod:`classicnets.timing_results`,
:mod:`classicnets.training_records`) and draws with matplotlib; the records know nothing of these pictures.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .plots import training_curves
from .records import MODE_COLORS, MODE_ORDER, NET_ORDER, PRECISION_COLORS, TASK_ORDER, Record
from .timing_results import BenchResult, fmt_number
from .training_records import _record_name, record_history


def plot_runs(run: Any = None, *records: Optional[Record]) -> Any:
    """Training curves of a run and of the training records given (``None``s skipped), each labelled with where."""
    runs: Dict[str, Any] = {}
    for rec in filter(None, records):
        size = rec.payload["config"]["input_size"]
        runs[f"{_record_name(rec)} ({rec.env.get('device_name')}, {size} px)"] = record_history(rec)
    if run is not None:
        runs[f"this run ({run.device_type}, {run.recipe.input_size} px)"] = run.history
    if not runs:
        raise ValueError("nothing to plot: give a run, a record or both")
    return training_curves(runs, title="AlexNet on Fashion-MNIST")


def _as_list(results: Union[BenchResult, Iterable[BenchResult]]) -> List[BenchResult]:
    return [results] if isinstance(results, BenchResult) else [r for r in results if r is not None]


def _style_axes(ax: Any, eng: bool) -> None:
    """Log–log axes in plain numbers: the measured batch sizes on x; on y at least three labelled ticks (1-2-5)."""
    from matplotlib.ticker import EngFormatter, FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    xs = sorted({float(x) for line in ax.lines if line.get_gid() != "peak" for x in line.get_xdata() if x > 0})
    if xs:
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlim(xs[0] / 1.5, xs[-1] * 1.5)
        for tick in ax.get_xticklabels():
            tick.set_rotation(45 if len(xs) > 5 else 0)
    ys = [float(y) for line in ax.lines for y in line.get_ydata() if y > 0]
    if ys:
        lo, hi = min(ys), max(ys)
        if hi / lo < 5:  # a 1-2-5 log axis shows at least three ticks over a factor of five
            mid = math.sqrt(lo * hi)
            lo, hi = mid / math.sqrt(5), mid * math.sqrt(5)
        ax.set_ylim(lo / 1.2, hi * 1.2)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(EngFormatter(sep="") if eng else FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_throughput(
    results: Union[BenchResult, Iterable[BenchResult]],
    tasks: Sequence[str] = TASK_ORDER,
    figsize: Tuple[float, float] = (11, 4.2),
) -> Any:
    """Images/s against batch size, log–log, a panel per task, a line per network and mode (LeNet5 dashed).

    Several results (a live CPU run and a recorded GPU run, say) share the panels, their labels naming the device."""
    import matplotlib.pyplot as plt

    results = _as_list(results)
    fig, axes = plt.subplots(1, len(tasks), figsize=figsize, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for k, res in enumerate(results):
            for net in NET_ORDER:
                for mode in MODE_ORDER:
                    s = res.series(net, task, mode)
                    if s:
                        ax.plot(
                            [c["batch"] for c in s],
                            [c["images_per_s"] for c in s],
                            ls="--" if net == "lenet5" else "-",
                            marker="o" if net == "lenet5" else "s",
                            ms=4,
                            color=MODE_COLORS.get(mode),
                            alpha=1.0 if k == 0 else 0.55,
                            label=f"{net} {mode}" + (f" — {res.device}" if len(results) > 1 else ""),
                        )
        _style_axes(ax, eng=True)
        if not ax.lines:
            ax.text(0.5, 0.5, f"no {task} case measured", transform=ax.transAxes, ha="center", va="center")
        ax.set(
            xlabel="batch size",
            ylabel="images / s",
            title={"train": "training step (fwd + bwd + SGD)", "infer": "inference"}.get(task, task),
        )
        ax.grid(True, which="both", alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    fig.suptitle("; ".join(r.label for r in results), fontsize=9)
    fig.tight_layout()
    return fig


def plot_tflops(
    results: Union[BenchResult, Iterable[BenchResult]], task: str = "train", figsize: Tuple[float, float] = (11, 4.2)
) -> Any:
    """Achieved TFLOP/s against batch size, a panel per network (a row per result), with the matmul peak measured in
    the same run as a dashed line per precision."""
    import matplotlib.pyplot as plt

    results = _as_list(results)
    rows = max(1, len(results))
    fig, axes = plt.subplots(rows, 2, figsize=(figsize[0], figsize[1] * rows), squeeze=False)
    for row, res in zip(axes, results):
        for ax, net in zip(row, NET_ORDER):
            for mode in MODE_ORDER:
                s = res.series(net, task, mode)
                if s:
                    ax.plot(
                        [c["batch"] for c in s],
                        [c["tflops"] for c in s],
                        marker="o",
                        ms=4,
                        color=MODE_COLORS[mode],
                        label=mode,
                    )
            for prec, p in res.peaks.items():
                if p.get("status") == "ok":
                    ax.axhline(
                        p["tflops"],
                        ls="--",
                        lw=1,
                        color=PRECISION_COLORS.get(prec, "grey"),
                        gid="peak",
                        label=f"{prec} matmul peak {fmt_number(p['tflops'])}",
                    )
            _style_axes(ax, eng=False)
            ax.set(xlabel="batch size", ylabel="achieved TFLOP/s")
            ax.set_title(f"{net}, {task} — {res.device}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
