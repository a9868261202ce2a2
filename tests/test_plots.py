"""The pictures: each draws without error, returns a figure, and shows what it says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from classicnets import arithmetic_plots, plots
from classicnets.arithmetic import ArchitectureError, conv_output_size, trace
from classicnets.models import lenet5
from classicnets.specs import C3_TABLE, alexnet_spec, lenet5_spec
from classicnets.train import EpochRecord, History

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_fig_to_png_closes_pyplot_figures():
    fig = plots.plot_scaled_tanh()
    n = len(plt.get_fignums())
    data = plots.fig_to_png(fig)
    assert data.startswith(PNG)
    assert len(plt.get_fignums()) == n - 1


def test_fig_to_png_works_on_unmanaged_figures():
    from matplotlib.figure import Figure

    fig = Figure()
    plots.plot_c3_table(ax=fig.add_subplot())
    assert plots.fig_to_png(fig, close=False).startswith(PNG)


def test_image_grid_titles_labels_and_marks_mistakes():
    x = torch.rand(6, 1, 8, 8)
    fig = plots.image_grid(
        x, torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], predictions=torch.tensor([0, 1, 0, 0, 1, 2]), ncols=3
    )
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title() == "a\n→ a"
    assert fig.axes[2].get_title() == "c\n→ a"
    assert fig.axes[2].title.get_color() != fig.axes[0].title.get_color()


def test_image_grid_rgb_and_limits():
    fig = plots.image_grid(torch.randn(5, 3, 8, 8), n=2)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError):
        plots.image_grid(torch.randn(2, 2, 8, 8))


def _history(accs):
    return History(records=[EpochRecord(i + 1, 1.0 / (i + 1), a - 0.01, a, 1.0, 100.0) for i, a in enumerate(accs)])


def test_training_curves_one_and_many_runs():
    fig = plots.training_curves(_history([0.5, 0.7]))
    assert len(fig.axes) == 2
    fig = plots.training_curves({"blog": _history([0.5, 0.7]), "modern": _history([0.6, 0.8, 0.9])})
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert "blog: test" in labels and "modern: test" in labels
    assert list(fig.axes[1].get_lines()[-1].get_ydata()) == [0.6, 0.8, 0.9]


def test_confusion_matrix_counts_and_plot():
    m = plots.confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    fig = plots.plot_confusion(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 0]), ["x", "y", "z"])
    assert "accuracy 0.6000" in fig.axes[0].get_title()
    with pytest.raises(ValueError):
        plots.confusion_matrix([0, 1], [0])


def test_confident_mistakes_orders_by_confidence():
    logits = torch.tensor([[5.0, 0, 0], [0, 9.0, 0], [0, 0, 1.0], [0, 3.0, 0]])
    y = torch.tensor([0, 0, 0, 0])
    idx, pred, conf = plots.confident_mistakes(logits, y, n=5)
    assert idx.tolist() == [1, 3, 2]
    assert pred.tolist() == [1, 1, 2]
    assert conf[0] > conf[1] > conf[2]
    fig = plots.plot_confident_mistakes(torch.rand(4, 1, 8, 8), y, logits, ["a", "b", "c"], n=2)
    assert sum(1 for ax in fig.axes if ax.get_title()) == 2
    assert "said b" in fig.axes[0].get_title()


def test_confident_mistakes_when_all_right():
    fig = plots.plot_confident_mistakes(torch.rand(2, 1, 4, 4), torch.tensor([0, 1]), torch.eye(2))
    assert "no mistakes" in [t.get_text() for t in fig.texts]


def test_filters_and_feature_maps_of_a_real_model():
    torch.manual_seed(0)
    model = lenet5("blog")
    fig = plots.plot_filters(model.features.conv1)
    assert len(fig.axes) == 6
    maps = plots.feature_maps(model, torch.randn(1, 32, 32), ["conv1", "conv2"])
    assert tuple(maps["conv1"].shape) == (6, 28, 28)
    assert tuple(maps["conv2"].shape) == (16, 10, 10)
    assert model.training  # mode restored
    fig = plots.plot_feature_maps(model, torch.randn(1, 32, 32), ["conv1", "conv2"])
    assert len(fig.axes) == 1 + 6 + 16
    with pytest.raises(KeyError, match="no layer 'conv9'"):
        plots.feature_maps(model, torch.randn(1, 32, 32), ["conv9"])


def test_filters_rgb():
    fig = plots.plot_filters(torch.randn(4, 3, 5, 5), channel=None)
    assert len(fig.axes) == 4


@pytest.mark.parametrize("size,k,s,p,d", [(7, 3, 2, 1, 1), (32, 5, 1, 0, 1), (10, 3, 3, 0, 2), (5, 5, 1, 2, 1)])
def test_kernel_positions_agree_with_the_arithmetic(size, k, s, p, d):
    starts = arithmetic_plots.kernel_positions(size, k, s, p, d)
    assert len(starts) == conv_output_size(size, k, s, p, d)
    assert starts[-1] + d * (k - 1) + 1 <= size + 2 * p
    fig = arithmetic_plots.plot_kernel_placement(size, k, s, p, d)
    n = len(starts)
    assert f"output {n}×{n}" in fig.axes[0].get_title()


def test_kernel_placement_ceil_mode_window_spills():
    starts = arithmetic_plots.kernel_positions(6, 3, 2, 0, pool=True, ceil_mode=True)
    assert starts == [0, 2, 4]  # the last window starts at 4 and spills one cell past 6
    fig = arithmetic_plots.plot_kernel_placement(6, 3, 2, 0, pool=True, ceil_mode=True)
    assert "output 3×3" in fig.axes[0].get_title()
    assert any(patch.get_hatch() for patch in fig.axes[0].patches)


def test_kernel_placement_impossible_setting_is_a_picture_not_an_error():
    with pytest.raises(ArchitectureError):
        arithmetic_plots.kernel_positions(3, 7)
    fig = arithmetic_plots.plot_kernel_placement(3, 7)
    assert "larger than its padded input" in fig.axes[0].get_title().replace("\n", " ")
    fig = arithmetic_plots.plot_kernel_placement(5, 3, error="pool: average pooling has no dilation")
    assert "no dilation" in fig.axes[0].get_title()


def test_layer_sizes_lenet_with_baseline_and_highlight():
    base = lenet5_spec("blog")
    edited = base.with_layer("conv2", kernel=3)
    fig = arithmetic_plots.plot_layer_sizes(edited, highlight="conv2", baseline=base)
    ax_size, ax_par = fig.axes[:2]
    names = [t.get_text() for t in ax_par.get_xticklabels()]
    assert names == ["input", "conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    heights = [p.get_height() for p in ax_size.patches if p.get_facecolor()[3] > 0]
    assert heights == [32, 28, 14, 12, 6, 1, 1, 1]
    assert f"{trace(edited).total_params:,} parameters" in fig._suptitle.get_text()
    assert "vs unchanged" in fig._suptitle.get_text()
    labels = [t.get_text() for t in ax_par.texts]
    dp = trace(edited).total_params - trace(base).total_params
    dm = trace(base).total_macs - trace(edited).total_macs  # the smaller kernel: more parameters, fewer MACs
    assert dp > 0 and dm > 0
    title = fig._suptitle.get_text().replace("\n", " ")
    assert f"parameters (+{dp:,})" in title and f"{trace(edited).total_macs:,} MACs (−{dm:,})" in title
    assert f"{trace(edited).row('fc1').params:,}" in labels


def test_layer_sizes_alexnet_and_error_banner():
    fig = arithmetic_plots.plot_layer_sizes(trace(alexnet_spec("paper")), error="conv2: impossible")
    assert "AlexNet (paper)" in fig._suptitle.get_text()
    assert any("conv2: impossible" in t.get_text() for t in fig.texts)


def test_scaled_tanh_and_c3_table():
    fig = plots.plot_scaled_tanh()
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "1.7159·tanh(2/3·a)" in labels
    fig = plots.plot_c3_table()
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (6, 16)
    assert int(image.sum()) == sum(len(r) for r in C3_TABLE) == 60
    assert image[:, 15].tolist() == [1] * 6


def test_kernel_placement_dilated_taps_are_drawn_and_fast():
    import time

    start = time.perf_counter()
    fig = arithmetic_plots.plot_kernel_placement(256, 64, 1, 32, 4)
    assert time.perf_counter() - start < 3.0  # about 0.3 s on an idle machine
    taps = fig.axes[0].images[0].get_array()
    assert taps.shape[:2] == (253, 253) and (taps[::4, ::4, 3] > 0).all() and taps[1::4, :, 3].max() == 0
