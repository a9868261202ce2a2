"""Reading PyTorch modules back into descriptions, against torchvision, torchinfo and the specs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torchinfo import summary

import classicnets as cn
from classicnets.arithmetic import trace
from classicnets.from_torch import spec_from_module, trace_module
from classicnets.layers import Dropout, Linear
from classicnets.specs import alexnet_spec, lenet5_spec


def test_torchvision_alexnet_read_from_the_module():
    tv = torchvision.models.alexnet()
    t = trace_module(tv, (3, 224, 224))
    assert (t.total_params, t.total_macs) == (61_100_840, 714_188_480)
    assert summary(tv, input_size=(1, 3, 224, 224), verbose=0).total_params == 61_100_840
    spec = spec_from_module(tv, (3, 224, 224))
    # short names repeat ("0" in features and classifier), so the dotted names are kept
    assert spec.features[0].name == "features.0" and spec.classifier[-1].name == "classifier.6"
    # its first Dropout is under `classifier`, so it is read as part of the classifier
    assert isinstance(spec.classifier[0], Dropout) and not any(isinstance(ly, Dropout) for ly in spec.features)


def test_the_books_models_keep_their_layer_names():
    spec = spec_from_module(cn.lenet5("blog"), (1, 32, 32))
    assert [ly.name for ly in spec.layers] == [ly.name for ly in lenet5_spec("blog").layers]
    spec = spec_from_module(cn.alexnet("blog"), (3, 227, 227))
    assert [ly.name for ly in spec.layers] == [ly.name for ly in alexnet_spec("blog").layers]


def test_spec_built_modules_return_their_spec_at_the_asked_size():
    model = cn.alexnet("paper")
    assert spec_from_module(model, (1, 99, 99)) == alexnet_spec("paper", in_channels=1, input_size=99)


def test_a_plain_sequential_is_split_at_the_first_flatten_or_linear():
    seq = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.1), nn.Linear(36, 5))
    spec = spec_from_module(seq, (1, 8, 8))
    assert [ly.kind for ly in spec.features] == ["conv", "act", "pool"]
    assert [ly.kind for ly in spec.classifier] == ["dropout", "linear"]
    t = trace(spec)
    assert t.total_params == sum(p.numel() for p in seq.parameters())
    assert t.output_shape == tuple(seq(torch.zeros(1, 1, 8, 8)).shape[1:])


def test_lrn_alpha_is_read_back_in_the_papers_convention():
    spec = spec_from_module(cn.alexnet("paper"), (3, 227, 227))  # carries its spec
    lrn = nn.Sequential(nn.Conv2d(3, 8, 3), nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0))
    read = spec_from_module(lrn, (3, 9, 9)).features[1]
    assert read.alpha == pytest.approx(spec.layer("norm1").alpha) == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "module, match",
    [
        (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), "padding_mode='reflect'"),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.LSTM(2, 2)), "cannot read a LSTM layer; supported: Conv2d"),
    ],
)
def test_unreadable_modules_are_named(module, match):
    with pytest.raises(ValueError, match=match):
        spec_from_module(module, (1, 8, 8))


def test_linear_in_features_come_from_the_trace_not_the_module():
    spec = spec_from_module(cn.lenet5("blog", input_size=28), (1, 28, 28))
    assert isinstance(spec.layer("fc1"), Linear)
    assert trace(spec).row("fc1").in_shape == (16 * 4 * 4,)
