"""The models against the papers' numbers, torchinfo and hand-written references."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torchinfo import summary

import classicnets as cn
from classicnets.arithmetic import ArchitectureError, trace
from classicnets.models.paper_layers import PartialConv2d, RBFOutput, ScaledTanh, Subsampling
from classicnets.specs import C3_TABLE, alexnet_spec, lenet5_spec

CASES = [
    # builder, variant, input, params, MACs (weights only, per image)
    (cn.lenet5, "blog", (1, 32, 32), 61_706, 416_520),
    (cn.lenet5, "modern", (1, 32, 32), 61_706, 416_520),
    (cn.lenet5, "paper", (1, 32, 32), 60_000, None),
    (cn.alexnet, "blog", (3, 227, 227), 62_378_344, 1_135_256_096),
    (cn.alexnet, "paper", (3, 227, 227), 60_965_224, 724_406_816),
]


def bias_macs(model, shape):
    """torchinfo counts bias additions as mult-adds too: the per-image extra."""
    extra = 0
    hooks = []

    def hook(m, _inp, out):
        nonlocal extra
        if getattr(m, "bias", None) is not None and isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            extra += out[0].numel()

    for m in model.modules():
        hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return extra


@pytest.mark.parametrize("build, variant, shape, params, macs", CASES)
def test_counts_match_paper_numbers_torchinfo_and_trace(build, variant, shape, params, macs):
    model = build(variant).eval()
    t = trace(model.spec)
    assert t.total_params == params
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == params
    info = summary(model, input_size=(10, *shape), verbose=0)
    assert info.trainable_params == params
    if macs is not None:
        assert t.total_macs == macs
        assert info.total_mult_adds == 10 * (macs + bias_macs(model, shape))


@pytest.mark.parametrize("build, variant, shape, params, macs", CASES)
def test_forward_gives_logits_of_every_traced_shape(build, variant, shape, params, macs):
    model = build(variant, num_classes=7).eval()
    seen = {}
    for name, m in list(model.features.named_children()) + list(model.classifier.named_children()):
        m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, tuple(o.shape[1:])))
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert not torch.allclose(out.softmax(1).sum(1), out.sum(1))  # logits, not probabilities
    for row in trace(model.spec).rows:
        if row.name in seen:
            assert seen[row.name] == row.out_shape, row.name


def test_torchvision_alexnet_read_from_the_module():
    tv = torchvision.models.alexnet()
    t = cn.trace_module(tv, (3, 224, 224))
    assert (t.total_params, t.total_macs) == (61_100_840, 714_188_480)
    assert summary(tv, input_size=(1, 3, 224, 224), verbose=0).total_params == 61_100_840


def test_lenet5_paper_design():
    spec = lenet5_spec("paper")
    t = trace(spec)
    assert t.row("C3").params == 1_516
    assert t.total_connections == 340_908
    assert [t.row(n).connections for n in ("C1", "S2", "C3", "S4", "C5", "F6")] == [
        122_304, 5_880, 151_600, 2_000, 48_120, 10_164]  # the paper's per-layer counts
    model = cn.lenet5("paper")
    assert model.classifier.output.codes.abs().eq(1).all()
    assert sum(b.numel() for b in model.buffers()) >= 840  # fixed codes are not parameters


def test_partial_conv_equals_masked_full_conv_and_keeps_missing_links_at_zero():
    torch.manual_seed(0)
    pc = PartialConv2d(6, C3_TABLE, 5)
    torch.nn.init.normal_(pc.weight)
    x = torch.randn(2, 6, 14, 14, requires_grad=True)
    mask = torch.zeros(16, 6, 1, 1)
    for o, row in enumerate(C3_TABLE):
        mask[o, list(row)] = 1
    w = pc.full_weight()
    assert torch.equal(w * mask, w)
    assert torch.allclose(pc(x), F.conv2d(x, w * mask, pc.bias))
    pc(x).sum().backward()
    assert pc.weight.grad.shape == (60, 5, 5)


def test_subsampling_scaled_tanh_and_rbf_against_formulas():
    s = Subsampling(3)
    with torch.no_grad():
        s.coef.copy_(torch.tensor([1.0, 2.0, -1.0]))
        s.bias.copy_(torch.tensor([0.0, 1.0, 0.5]))
    x = torch.randn(1, 3, 4, 4)
    windows = x.unfold(2, 2, 2).unfold(3, 2, 2).sum((-1, -2))
    assert torch.allclose(s(x), windows * s.coef.view(1, 3, 1, 1) + s.bias.view(1, 3, 1, 1), atol=1e-6)
    assert ScaledTanh()(torch.tensor(1.0)).item() == pytest.approx(1.0, abs=1e-4)
    rbf = RBFOutput(84, 10)
    f6 = torch.randn(4, 84)
    assert torch.allclose(rbf(f6), -torch.cdist(f6, rbf.codes) ** 2, atol=1e-3)


def test_alexnet_paper_lrn_uses_the_papers_alpha():
    model = cn.alexnet("paper").eval()
    lrn = model.features.norm1
    a = torch.randn(1, 96, 3, 3)
    sq = F.pad(a.pow(2), (0, 0, 0, 0, 2, 2))  # neighbours beyond the edge count as zero
    window = sum(sq[:, i : i + 96] for i in range(5))
    paper = a / (2.0 + 1e-4 * window) ** 0.75
    assert torch.allclose(lrn(a), paper, atol=1e-6)
    assert [getattr(model.features, n).groups for n in ("conv2", "conv3", "conv4", "conv5")] == [2, 1, 2, 2]


def test_dropout_is_a_module_so_eval_is_deterministic():
    model = cn.alexnet("blog", num_classes=10, in_channels=1, input_size=67)
    x = torch.randn(3, 1, 67, 67)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


def test_input_sizes_are_derived_and_mismatches_explained():
    assert trace(alexnet_spec().with_input(224)).flatten_size() == 256 * 5 * 5
    assert cn.alexnet(input_size=224)(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    with pytest.raises(ValueError, match=r"built for 3×227×227 .* gives 6400.*input_size"):
        cn.alexnet()(torch.zeros(1, 3, 224, 224))
    assert cn.alexnet(input_size=67)(torch.zeros(1, 3, 67, 67)).shape == (1, 1000)
    with pytest.raises(ArchitectureError, match="^pool3: kernel 3 is larger than its padded input 2"):
        cn.alexnet(input_size=66)


def test_unknown_variant_and_layer_names_are_helpful():
    with pytest.raises(ValueError, match="choose one of 'blog', 'paper', 'modern'"):
        cn.lenet5("lecun")
    with pytest.raises(KeyError, match="its layers are: conv1, act1"):
        lenet5_spec().with_layer("conv9", kernel=3)


def test_spec_round_trips_through_json_dicts():
    import json

    from classicnets.layers import NetSpec
    for spec in (lenet5_spec("paper"), alexnet_spec("paper")):
        again = NetSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert again == spec


def test_build_model_from_an_edited_spec():
    spec = lenet5_spec().with_layer("conv1", kernel=3, padding=1)
    model = cn.build_model(spec)
    t = trace(spec)
    assert sum(p.numel() for p in model.parameters()) == t.total_params
    assert model.classifier.fc1.in_features == 16 * 6 * 6


@pytest.mark.parametrize("layer, changes", [
    ("C3", dict(stride=2, padding=1)), ("C3", dict(kernel=3, dilation=2)), ("S2", dict(kernel=3, stride=1, padding=1)),
    ("S4", dict(stride=1)), ("C1", dict(kernel=(3, 5), padding=(1, 2))),
])
def test_edited_paper_layers_build_what_the_trace_says(layer, changes):
    spec = lenet5_spec("paper").with_input(48).with_layer(layer, **changes)
    model = cn.build_model(spec)
    seen = {}
    for name, m in model.features.named_children():
        m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(name, tuple(o.shape[1:])))
    with torch.no_grad():
        model(torch.zeros(1, *spec.input_shape))
    t = trace(spec)
    assert all(seen[r.name] == r.out_shape for r in t.rows if r.name in seen)
    assert sum(p.numel() for p in model.parameters()) == t.total_params


def test_trace_table_shows_the_chosen_columns_and_totals():
    t = trace(lenet5_spec("paper"))
    md = t.table(columns=("output", "params", "connections")).splitlines()
    assert md[0] == "| layer | output | params | connections |"
    assert md[2] == "| input | 1×32×32 |  |  |"
    assert "| C3 | 16×10×10 | 1,516 | 151,600 |" in md
    assert md[-1] == "| **total** |  | **60,000** | **340,908** |"
    assert len(t.table(kinds=None).splitlines()) == len(t.rows) + 4
    with pytest.raises(ValueError, match="unknown column"):
        t.table(columns=("flops",))
