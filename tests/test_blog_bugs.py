"""The blog's networks fail the way the chapters say they do, and the fixes work."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchinfo import summary

from classicnets.blog_bugs import BlogAlexNet, BlogLeNet5, caught, softmax_loss_floor
from classicnets.models import lenet5


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.randn(10, 1, 32, 32), torch.randint(0, 10, (10,))


def test_lenet_forward_returns_nothing(batch):
    x, y = batch
    net = BlogLeNet5()
    assert net(x) is None
    error = caught(lambda: F.cross_entropy(net(x), y))
    assert error.startswith("TypeError") and "NoneType" in error


def test_lenet_summary_hides_the_bug(batch):
    # torchinfo reads shapes with hooks, so the blog's own summary looks fine
    s = summary(BlogLeNet5(), input_size=(10, 1, 32, 32), verbose=0)
    assert s.total_params == 60_856 == 61_706 - (84 * 10 + 10)


def test_lenet_softmax_over_84_classes(batch):
    x, y = batch
    out = BlogLeNet5(fixes={"return"})(x)
    assert out.shape == (10, 84)
    assert torch.allclose(out.sum(1), torch.ones(10))
    assert caught(lambda: F.cross_entropy(out, y)) is None  # silently "works" with labels 0–9
    assert caught(lambda: F.cross_entropy(out, torch.full((10,), 90))) is not None


def test_lenet_fc3_fix_gives_ten_probabilities(batch):
    x, _ = batch
    out = BlogLeNet5(fixes={"return", "fc3"})(x)
    assert out.shape == (10, 10)
    assert torch.allclose(out.sum(1), torch.ones(10))
    assert out.min() >= 0


def test_lenet_all_fixed_is_our_seed_model(batch):
    x, _ = batch
    fixed = BlogLeNet5(fixes=BlogLeNet5.BUGS)
    assert n_params(fixed) == n_params(lenet5("blog")) == 61_706
    out = fixed(x)
    assert out.shape == (10, 10)
    assert not torch.allclose(out.sum(1), torch.ones(10))  # logits, not probabilities
    assert "bugs=[]" in repr(fixed)


def test_softmax_in_forward_puts_a_floor_under_the_loss():
    assert softmax_loss_floor(10) == pytest.approx(math.log(1 + 9 / math.e))
    assert softmax_loss_floor(84) > softmax_loss_floor(10) > 1.46
    # a perfect probability vector still costs the floor under cross-entropy
    perfect = F.one_hot(torch.arange(10), 10).float()
    assert F.cross_entropy(perfect, torch.arange(10)).item() == pytest.approx(softmax_loss_floor(10), rel=1e-6)
    with pytest.raises(ValueError):
        softmax_loss_floor(1)


def test_softmax_in_forward_shrinks_the_gradient(batch):
    x, y = batch
    torch.manual_seed(1)
    buggy = BlogLeNet5(fixes={"return", "fc3"})
    fixed = BlogLeNet5(fixes=BlogLeNet5.BUGS)
    fixed.load_state_dict(buggy.state_dict())
    grads = []
    for net in (buggy, fixed):
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        grads.append(net.fc3.weight.grad.norm().item())
    assert grads[0] < 0.5 * grads[1]


def test_unknown_fix_is_refused():
    with pytest.raises(ValueError, match="no bug"):
        BlogLeNet5(fixes={"dropout"})
    with pytest.raises(ValueError, match="no bug"):
        BlogAlexNet(fixes={"return"})


@pytest.fixture(scope="module")
def alex():
    torch.manual_seed(0)
    return BlogAlexNet(num_classes=10)


def test_alexnet_dropout_stays_on_in_eval(alex):
    torch.manual_seed(0)
    x = torch.randn(1, 3, 227, 227)
    buggy = BlogAlexNet(fixes={"logits"}, num_classes=10).eval()
    fixed = BlogAlexNet(fixes={"logits", "dropout"}, num_classes=10).eval()
    fixed.load_state_dict(buggy.state_dict())
    with torch.no_grad():
        assert not torch.equal(buggy(x), buggy(x))  # two "predictions" of one image differ
        assert torch.equal(fixed(x), fixed(x))


def test_alexnet_softmax_inside_forward(alex):
    with torch.no_grad():
        out = alex.eval()(torch.randn(2, 3, 227, 227))
    assert out.shape == (2, 10)
    assert torch.allclose(out.sum(1), torch.ones(2))


def test_alexnet_hard_coded_flatten(alex):
    alex.eval()
    with torch.no_grad():
        # 224×224 leaves a 256×5×5 map: 2 images are 12,800 values, not a multiple of 9,216
        error = caught(alex, torch.randn(2, 3, 224, 224))
        assert error.startswith("RuntimeError") and "[-1, 9216]" in error
        # ...but 36 images are 230,400 = 25 × 9,216: a wrong batch of 25 rows, no error
        assert alex(torch.randn(36, 3, 224, 224)).shape == (25, 10)


def test_alexnet_flatten_fix_fails_loudly_at_fc1():
    net = BlogAlexNet(fixes={"flatten"}, num_classes=10).eval()
    with torch.no_grad():
        error = caught(net, torch.randn(2, 3, 224, 224))
        assert "mat1 and mat2" in error and "2x6400" in error
        assert net(torch.randn(2, 3, 227, 227)).shape == (2, 10)


def test_alexnet_parameters_match_the_blog():
    assert n_params(BlogAlexNet()) == 62_378_344


def test_caught_reports_success_as_none():
    assert caught(lambda: 1) is None
    assert caught(int, "x").startswith("ValueError: invalid literal")
