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
from classicnets.from_torch import spec_from_module
from classicnets.models import AlexNet, LeNet5, SpecNet, smallest_input
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


SPEC = {cn.lenet5: lenet5_spec, cn.alexnet: alexnet_spec}


@pytest.mark.parametrize("build, variant, shape, params, macs", CASES)
def test_counts_match_paper_numbers_torchinfo_and_trace(build, variant, shape, params, macs):
    model = build(variant).eval()
    t = trace(SPEC[build](variant))
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
    for row in trace(SPEC[build](variant, num_classes=7)).rows:
        if row.name in seen:
            assert seen[row.name] == row.out_shape, row.name


def test_lenet5_paper_design():
    spec = lenet5_spec("paper")
    t = trace(spec)
    assert t.row("C3").params == 1_516
    assert t.total_connections == 340_908
    assert [t.row(n).connections for n in ("C1", "S2", "C3", "S4", "C5", "F6")] == [
        122_304,
        5_880,
        151_600,
        2_000,
        48_120,
        10_164,
    ]  # the paper's per-layer counts
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
    assert torch.allclose(rbf(f6), -(torch.cdist(f6, rbf.codes) ** 2), atol=1e-3)


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
    with pytest.raises(ValueError, match=r"built for 227×227: .*input_size=224\), or resize the data"):
        cn.alexnet()(torch.zeros(1, 3, 224, 224))
    assert cn.alexnet(input_size=67)(torch.zeros(1, 3, 67, 67)).shape == (1, 1000)
    with pytest.raises(ArchitectureError, match="^pool3: kernel 3 is larger than its padded input 2.*takes is 67×67"):
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


def test_spec_built_flatten_names_both_fixes():
    model = cn.build_model(lenet5_spec())
    model._forward_pre_hooks.clear()  # past the input check, as a copied model would be
    with pytest.raises(ValueError, match=r"flatten: .*gives 256: .*input_size=.*pad=2"):
        model(torch.zeros(1, 1, 28, 28))


def test_build_model_from_an_edited_spec():
    spec = lenet5_spec().with_layer("conv1", kernel=3, padding=1)
    model = cn.build_model(spec)
    t = trace(spec)
    assert sum(p.numel() for p in model.parameters()) == t.total_params
    assert model.classifier.fc1.in_features == 16 * 6 * 6


@pytest.mark.parametrize(
    "layer, changes",
    [
        ("C3", dict(stride=2, padding=1)),
        ("C3", dict(kernel=3, dilation=2)),
        ("S2", dict(kernel=3, stride=1, padding=1)),
        ("S4", dict(stride=1)),
        ("C1", dict(kernel=(3, 5), padding=(1, 2))),
    ],
)
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


# --------------------------------------------------------------------------- plain classes = their description

PLAIN = [  # factory, variant, plain class, input sizes (a spread, incl. the smallest that works)
    (cn.lenet5, "blog", LeNet5, (16, 28, 32, 48, (32, 40))),
    (cn.lenet5, "modern", LeNet5, (16, 28, 32, 61)),
    (cn.alexnet, "blog", AlexNet, (67, 127, 224, 227, (227, 255))),
]


def _row_facts(t):
    return [(r.name, r.kind, r.in_shape, r.out_shape, r.params, r.macs, r.connections, r.rf, r.jump) for r in t.rows]


@pytest.mark.parametrize("build, variant, cls, sizes", PLAIN)
@pytest.mark.parametrize("channels", [1, 3])
def test_plain_class_reads_back_as_its_spec_at_every_size(build, variant, cls, sizes, channels):
    for size in sizes:
        spec = SPEC[build](variant, num_classes=7, in_channels=channels, input_size=size)
        model = build(variant, num_classes=7, in_channels=channels, input_size=size)
        assert type(model) is cls
        read = trace(spec_from_module(model, spec.input_shape))
        assert _row_facts(read) == _row_facts(trace(spec)), size
        assert sum(p.numel() for p in model.parameters()) == read.total_params


@pytest.mark.parametrize("build, variant, cls, sizes", PLAIN)
def test_plain_and_spec_built_modules_agree_on_the_same_weights(build, variant, cls, sizes):
    torch.manual_seed(0)
    for size in sizes[:2] + sizes[-1:]:
        plain_model = build(variant, num_classes=5, input_size=size).eval()
        built = SpecNet(SPEC[build](variant, num_classes=5, input_size=size)).eval()
        assert plain_model.state_dict().keys() == built.state_dict().keys()
        built.load_state_dict(plain_model.state_dict())
        x = torch.randn(3, *plain_model.input_shape)
        with torch.no_grad():
            assert torch.equal(plain_model(x), built(x)), size


def test_plain_classes_run_with_nothing_but_torch(tmp_path):
    """Copy the class's source into a file of its own: it runs with torch alone."""
    import importlib
    import inspect

    for name, cls, shape in (("lenet", "LeNet5", (1, 32, 32)), ("alexnet", "AlexNet", (3, 67, 67))):
        source = inspect.getsource(importlib.import_module(f"classicnets.models.{name}"))
        assert "classicnets" not in source.split('"""', 2)[2]  # no package import after the docstring
        path = tmp_path / f"{cls.lower()}_copy.py"
        path.write_text(source)
        size = shape[1]
        code = (
            f"import sys; sys.path.insert(0, {str(tmp_path)!r}); sys.modules['classicnets'] = None\n"
            f"import torch; from {path.stem} import {cls}\n"
            f"m = {cls}(num_classes=4, in_channels={shape[0]}, input_size={size})\n"
            f"print(tuple(m(torch.zeros(2, *{shape})).shape))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "(2, 4)"


def test_factories_return_plain_classes_and_spec_built_paper_networks():
    assert type(cn.lenet5("blog")) is LeNet5 and type(cn.alexnet("blog")) is AlexNet
    assert isinstance(cn.lenet5("modern").features.act1, torch.nn.ReLU)
    assert isinstance(cn.lenet5("modern").features.pool1, torch.nn.MaxPool2d)
    assert isinstance(cn.lenet5("blog").features.pool1, torch.nn.AvgPool2d)
    for model, spec in ((cn.lenet5("paper"), lenet5_spec("paper")), (cn.alexnet("paper"), alexnet_spec("paper"))):
        assert type(model) is SpecNet and model.spec == spec


def test_paper_alexnet_drops_the_outputs_of_fc1_and_fc2():
    # Krizhevsky et al. 2012, §4.2: dropout on the outputs of the first two fully connected layers
    def order(spec):
        return [ly.name for ly in spec.classifier if ly.kind in ("linear", "dropout")]

    assert order(alexnet_spec("paper")) == ["fc1", "drop1", "fc2", "drop2", "fc3"]
    assert order(alexnet_spec("blog")) == ["drop1", "fc1", "drop2", "fc2", "fc3"]
    tv = [type(m).__name__ for m in torchvision.models.alexnet().classifier]  # torchvision = blog's placement
    assert [n for n in tv if n in ("Dropout", "Linear")] == ["Dropout", "Linear", "Dropout", "Linear", "Linear"]


# --------------------------------------------------------------------------- bad input: one message at the start

BAD_INPUTS = [  # (what is wrong, input, the fix the message must name)
    ("no batch dimension", lambda c, h, w: torch.zeros(c, h, w), r"unsqueeze\(0\)"),
    ("wrong rank", lambda c, h, w: torch.zeros(h, w), r"2-D tensor .*\(N, C, H, W\)"),
    ("wrong channels", lambda c, h, w: torch.zeros(2, c + 2, h, w), r"in_channels="),
    (
        "channels last",
        lambda c, h, w: torch.zeros(2, h, w, c).squeeze(-1).unsqueeze(-1) if c == 1 else torch.zeros(2, h, w, c),
        r"permute\(0, 3, 1, 2\)",
    ),
    ("wrong size", lambda c, h, w: torch.zeros(2, c, h - 4, w - 4), r"(input_size=.*or )?pad the data .*pad=2"),
    ("wrong dtype", lambda c, h, w: torch.zeros(2, c, h, w, dtype=torch.float64), r"x\.to\(torch\.float32\)"),
    ("integer images", lambda c, h, w: torch.zeros(2, c, h, w, dtype=torch.uint8), r"dtype torch\.uint8"),
    ("sparse layout", lambda c, h, w: torch.zeros(2, c, h, w).to_sparse(), r"sparse_coo .*to_dense"),
    ("not a tensor", lambda c, h, w: [[0.0] * w] * h, r"got a list: pass a tensor"),
]


@pytest.mark.parametrize(
    "make",
    [
        lambda: cn.lenet5("blog"),
        lambda: cn.lenet5("modern"),
        lambda: cn.lenet5("paper"),
        lambda: cn.alexnet("blog", input_size=99),
        lambda: cn.alexnet("paper", input_size=99),
    ],
    ids=["lenet5-blog", "lenet5-modern", "lenet5-paper", "alexnet-blog", "alexnet-paper"],
)
@pytest.mark.parametrize("what, make_input, fix", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_fails_before_the_first_layer_with_one_message(make, what, make_input, fix):
    model = make()
    c, h, w = model.input_shape
    reached = []
    first = next(iter(model.features.children()))
    first.register_forward_pre_hook(lambda *a: reached.append(True))
    with pytest.raises(ValueError, match=rf"expects input \(N, {c}, {h}, {w}\) of dtype torch\.float32; .*{fix}"):
        model(make_input(c, h, w))
    assert not reached  # refused before conv1 saw it
    with torch.no_grad():
        assert model(torch.zeros(2, c, h, w)).shape[0] == 2  # the right input still runs


@pytest.mark.parametrize(
    "build, variant, smallest",
    [
        (cn.lenet5, "paper", 32),
        (cn.lenet5, "blog", 16),
        (cn.alexnet, "paper", 67),
        (cn.alexnet, "blog", 67),
    ],
)
def test_too_small_inputs_name_the_smallest_size_that_works(build, variant, smallest):
    assert smallest_input(SPEC[build](variant)) == smallest
    build(variant, input_size=smallest)
    with pytest.raises(
        ArchitectureError,
        match=rf"smallest input .* is {smallest}×{smallest}: "
        rf"{build.__name__}\('{variant}', input_size={smallest}\)",
    ):
        build(variant, input_size=smallest - 1)
    model = build(variant, input_size=smallest + 8)
    with pytest.raises(
        ValueError, match=rf"smaller than the smallest input this network takes, {smallest}×{smallest}: (pad|resize)"
    ):
        model(torch.zeros(1, model.input_shape[0], smallest - 1, smallest - 1))


def test_alexnet_blog_does_half_again_the_papers_multiply_accumulates():
    ratio = trace(alexnet_spec("blog")).total_macs / trace(alexnet_spec("paper")).total_macs
    assert round(ratio, 2) == 1.57  # the figure the AlexNet docstring gives
