"""What made AlexNet work, measured small (chapter 05).

Krizhevsky, Sutskever & Hinton (2012) credit five ingredients: ReLU units,
dropout, overlapping pooling, local response normalisation (LRN) and data
augmentation. Each function here turns one claim into a small, seeded
experiment that runs in seconds on a laptop CPU: two arms that differ in that
one ingredient only, trained with :func:`classicnets.fit` from the same
initial weights on the same Fashion-MNIST subset. Each returns an
:class:`AblationResult`: the paper's claim and number, our measurement and a
verdict computed from the numbers.

How the experiments are scaled down (so the paper's numbers cannot be
expected):

* the network is :func:`mini_alexnet_spec`: AlexNet's *shape* — five
  convolutions, three overlapping 3×3 stride-2 max pools, dropout before two
  hidden fully connected layers — with 16–48 maps instead of 96–384, 256
  hidden units instead of 4096, stride-1 5×5/3×3 kernels instead of the
  11×11 stride-4 stem: about 0.25 M parameters instead of 62 M;
* the data is Fashion-MNIST zero-padded to 1×32×32 — one to six thousand
  training images instead of 1.2 million 3×224×224 photos — for a
  few hundred optimisation steps instead of about 840,000 (90 passes over
  1.2 million images in batches of 128);
* one seed. A test-accuracy difference is *within noise* when it is smaller
  than two standard errors of the test-set sampling; seed-to-seed variation
  adds more, so small wins either way mean little.

Verdicts are ``"reproduces"``, ``"partly"``, ``"within noise"`` or
``"does not reproduce"``; when a claim does not reproduce at this scale,
``why`` gives the likely reason. Arms with identical settings (the default
network appears in four experiments) are trained once and shared: see
:func:`clear_cache`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from .layers import LRN, Act, Conv, Dropout, Linear, NetSpec, Pool

# --------------------------------------------------------------------------- the network

#: The paper's LRN constants (section 3.3): k = 2, n = 5, α = 1e-4, β = 0.75.
LRN_CONSTANTS = dict(size=5, alpha=1e-4, beta=0.75, k=2.0)

#: Pooling arms. Padding 1 gives the 3×3/2 pools the same map sizes as the 2×2/2
#: pools at 32×32 input (16, 8, 4), as in the paper's comparison ("which produces
#: output of equivalent dimensions"): same parameters, same fc1.
POOLS = {
    "overlap": dict(kernel=3, stride=2, padding=1),
    "no-overlap": dict(kernel=2, stride=2, padding=0),
}

DEFAULT_WIDTHS = (16, 32, 48, 48, 32)
DEFAULT_HIDDEN = 256


def mini_alexnet_spec(
    act: str = "relu",
    pool: str = "overlap",
    lrn: bool = False,
    dropout: float = 0.5,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    hidden: int = DEFAULT_HIDDEN,
    input_size: int = 32,
    in_channels: int = 1,
    num_classes: int = 10,
) -> NetSpec:
    """A scaled-down AlexNet as a :class:`~classicnets.layers.NetSpec`.

    The layer order of :func:`classicnets.specs.alexnet_spec`: conv1 → act →
    [LRN] → pool1 → conv2 → act → [LRN] → pool2 → conv3 → conv4 → conv5 →
    pool3 → dropout → fc1 → dropout → fc2 → fc3, with ``widths`` maps in the
    five convolutions (5×5 then 3×3 kernels, stride 1, size-keeping padding)
    and ``hidden`` units in fc1 and fc2.

    ``act``: ``"relu"`` or ``"tanh"``; ``pool``: ``"overlap"`` (3×3 stride 2,
    the paper's) or ``"no-overlap"`` (2×2 stride 2); ``lrn``: the paper's local
    response normalisation after the first two activations; ``dropout``: the
    probability before fc1 and fc2 (0 removes the layers). That is the blog's
    and torchvision's placement; the 2012 paper (§4.2) zeroes the *outputs* of
    the first two fully connected layers, i.e. before fc2 and fc3.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {sorted(POOLS)}, got {pool!r}")
    if len(widths) != 5:
        raise ValueError(f"widths must give the maps of the 5 convolutions, got {tuple(widths)}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    p = POOLS[pool]
    c1, c2, c3, c4, c5 = (int(w) for w in widths)

    def norm(name: str) -> tuple:
        return (LRN(name, **LRN_CONSTANTS),) if lrn else ()  # type: ignore[arg-type]

    def drop(name: str) -> tuple:
        return (Dropout(name, p=dropout),) if dropout > 0 else ()

    features = (
        Conv("conv1", out_channels=c1, kernel=5, padding=2),  # (c1, 32, 32)
        Act("act1", act),
        *norm("norm1"),
        Pool("pool1", op="max", **p),  # type: ignore[arg-type]  # (c1, 16, 16)
        Conv("conv2", out_channels=c2, kernel=3, padding=1),
        Act("act2", act),
        *norm("norm2"),
        Pool("pool2", op="max", **p),  # type: ignore[arg-type]  # (c2, 8, 8)
        Conv("conv3", out_channels=c3, kernel=3, padding=1),
        Act("act3", act),
        Conv("conv4", out_channels=c4, kernel=3, padding=1),
        Act("act4", act),
        Conv("conv5", out_channels=c5, kernel=3, padding=1),
        Act("act5", act),
        Pool("pool3", op="max", **p),  # type: ignore[arg-type]  # (c5, 4, 4)
    )
    classifier = (
        *drop("drop1"),
        Linear("fc1", out_features=hidden),
        Act("act6", act),
        *drop("drop2"),
        Linear("fc2", out_features=hidden),
        Act("act7", act),
        Linear("fc3", out_features=num_classes),
    )
    bits = [act, f"{pool} pooling", "LRN" if lrn else "no LRN", f"dropout {dropout:g}"]
    return NetSpec("MiniAlexNet", ", ".join(bits), (in_channels, input_size, input_size), features, classifier)


def _activation(spec: NetSpec) -> str:
    for layer in spec.layers:
        if isinstance(layer, Act):
            return layer.fn
    return "linear"


def init_weights(model: Any, nonlinearity: str = "relu", zero_output: bool = True) -> Any:
    """He (Kaiming) normal initialisation for the activation in use, zero biases.

    ``std = gain / sqrt(fan_in)`` with gain √2 for ReLU and 5/3 for tanh keeps
    the signal's size from layer to layer. PyTorch's default (std ≈
    1/sqrt(3·fan_in)) shrinks a ReLU signal by about √6 per layer: through
    the eight layers of the mini AlexNet the logits start near zero and plain
    SGD hardly moves. (The paper used N(0, 0.01) weights and biases of 1 in
    some ReLU layers.)

    ``zero_output``: the last linear layer starts at zero, so every network
    starts from the same place — uniform guesses, loss log 10 — whatever its
    activation: without it the ReLU arm starts with large random logits
    (three max pools and unbounded units) and a worse loss than the tanh arm.
    """
    from torch import nn

    fn = nonlinearity if nonlinearity in ("relu", "tanh", "sigmoid") else "linear"
    last = None
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity=fn)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
            last = m
    if zero_output and isinstance(last, nn.Linear):
        nn.init.zeros_(last.weight)
    return model


def band_lrn(lrn: Any) -> Any:
    """An ``nn.Module`` that computes exactly what ``lrn`` (an ``nn.LocalResponseNorm``) does,
    as one 1×1 convolution of the squared maps with a band of ones.

    ``LocalResponseNorm`` sums squares with a 3-D average pooling that
    ignores the channels-last memory format; on a CPU it made an LRN arm of
    the experiments about three times slower than the others. Same numbers
    (a test checks), same forward order, no parameters.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    class BandLRN(nn.Module):
        def __init__(self, size: int, alpha: float, beta: float, k: float) -> None:
            super().__init__()
            self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

        def forward(self, x: Any) -> Any:
            c = x.shape[1]
            i = torch.arange(c, device=x.device)
            d = i[None, :] - i[:, None]  # input channel − output channel
            band = ((d >= -(self.size // 2)) & (d <= (self.size - 1) // 2)).to(x.dtype)
            s = F.conv2d(x * x, band.view(c, c, 1, 1))
            return x / (self.k + (self.alpha / self.size) * s).pow(self.beta)

        def extra_repr(self) -> str:
            return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k} (as nn.LocalResponseNorm)"

    return BandLRN(lrn.size, lrn.alpha, lrn.beta, lrn.k)


def build(spec: NetSpec, seed: int = 0, init: str = "he", fast_lrn: bool = True) -> Any:
    """The module for ``spec`` with seeded initial weights (same seed and shapes, same start).

    ``init="he"``: :func:`init_weights` for the network's activation;
    ``init="pytorch"``: PyTorch's default initialisation. ``fast_lrn``
    swaps each ``nn.LocalResponseNorm`` for its :func:`band_lrn` equivalent.
    """
    import torch
    from torch import nn

    from .models import build_model

    if init not in ("he", "pytorch"):
        raise ValueError(f"init must be 'he' or 'pytorch', got {init!r}")
    torch.manual_seed(seed)
    model = build_model(spec)
    if init == "he":
        torch.manual_seed(seed)
        init_weights(model, _activation(spec))
    if fast_lrn:
        for name, m in list(model.features.named_children()):
            if isinstance(m, nn.LocalResponseNorm):
                setattr(model.features, name, band_lrn(m))
    return model


# --------------------------------------------------------------------------- data, settings, arms


@functools.lru_cache(maxsize=8)
def fashion32(n_train: int, n_test: int, seed: int = 0) -> Any:
    """A seeded Fashion-MNIST subset, zero-padded to 1×32×32 and standardised (cached)."""
    from .data import load_fashion_mnist

    return load_fashion_mnist(pad=2, n_train=n_train, n_test=n_test, seed=seed, progress=False)


@dataclass(frozen=True)
class Setup:
    """How an experiment is run: data, network size and training."""

    n_train: int = 1000
    n_test: int = 5000
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    optimizer: str = "adam"
    widths: Tuple[int, ...] = DEFAULT_WIDTHS
    hidden: int = DEFAULT_HIDDEN
    seed: int = 0
    threads: Optional[int] = 1  # networks this small run fastest on one CPU thread

    def spec(self, **changes: Any) -> NetSpec:
        return mini_alexnet_spec(widths=self.widths, hidden=self.hidden, **changes)

    def describe(self) -> str:
        return (
            f"mini AlexNet {tuple(self.widths)} maps, {self.hidden} hidden units; {self.n_train} training images × "
            f"{self.epochs} epochs, {self.optimizer} lr {self.lr:g}, batch {self.batch_size}, seed {self.seed}; "
            f"{self.n_test} test images"
        )


#: The setup of the dropout, pooling, LRN and augmentation experiments: a small
#: training set seen for many epochs, so that overfitting can show.
SMALL = Setup()

#: The setup of the ReLU/tanh experiment (the paper's Figure 1: SGD, no dropout).
CURVE = Setup(n_train=6000, n_test=1000, epochs=2, batch_size=64, lr=0.01, optimizer="sgd")


def _setup(setup: Optional[Setup], default: Setup, overrides: Dict[str, Any]) -> Setup:
    s = default if setup is None else setup
    if "widths" in overrides:
        overrides["widths"] = tuple(overrides["widths"])
    return replace(s, **overrides) if overrides else s


@dataclass
class Arm:
    """One trained network of an experiment."""

    label: str
    spec: NetSpec
    history: Any  # classicnets.train.History (None when stopped early)
    train_acc: float  # on the training subset, in eval mode: no dropout, no augmentation
    test_acc: float
    seconds: float
    extra: Dict[str, Any] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)

    @property
    def gap(self) -> float:
        """Train minus test accuracy: how much the network overfits."""
        return self.train_acc - self.test_acc

    @property
    def test_error(self) -> float:
        return 1.0 - self.test_acc


_ARMS: Dict[str, Arm] = {}


@contextlib.contextmanager
def _threads(n: Optional[int]) -> Iterator[None]:
    """Run with ``n`` torch CPU threads (``None``: unchanged), then restore.

    The mini networks are too small to split across cores: with two threads
    each step waits on the other thread (badly so when the machine is busy),
    and one thread was several times faster on the book's 2-core machine.
    """
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def clear_cache() -> None:
    """Forget the trained arms (experiments share arms with identical settings)."""
    _ARMS.clear()


def _steps(setup: Setup) -> int:
    return setup.epochs * math.ceil(setup.n_train / setup.batch_size)


def _bar(progress: bool, total: int, desc: str) -> Any:
    """One progress bar per experiment, advanced once per training step of any of its arms."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=True)


def _ticker(bar: Any, then: Optional[Callable[..., Any]] = None) -> Callable[..., Any]:
    """An ``on_step`` callback for :func:`classicnets.fit`: advance ``bar`` once per step, then ask ``then``
    (if given) whether to stop."""

    def on_step(step: int, loss: Any, logits: Any, y: Any) -> bool:
        if bar is not None:
            bar.update(1)
        return bool(then(step, loss, logits, y)) if then is not None else False

    return on_step


def _train_arm(
    label: str,
    spec: NetSpec,
    setup: Setup,
    *,
    augment: Any = None,
    on_step: Optional[Callable] = None,
    bar: Any = None,
    cache: bool = True,
) -> Arm:
    """Train ``spec`` under ``setup`` (seeded), then measure train (eval mode) and test accuracy.

    ``on_step`` is passed to :func:`classicnets.fit` (it may stop the run early); such arms are not cached.
    """
    from .train import evaluate, fit

    cache = cache and on_step is None
    key = json.dumps([spec.to_dict(), asdict(setup), getattr(augment, "__name__", None)], sort_keys=True, default=str)
    if cache and key in _ARMS:
        arm = _ARMS[key]
        if bar is not None:
            bar.update(_steps(setup))
        return replace(arm, label=label, extra=dict(arm.extra, shared=True))
    data = fashion32(setup.n_train, setup.n_test, setup.seed)
    model = build(spec, setup.seed)
    start = time.perf_counter()
    with _threads(setup.threads):
        # no test pass after every epoch: only the final model is measured
        history = fit(
            model,
            (data.x_train, data.y_train),
            epochs=setup.epochs,
            batch_size=setup.batch_size,
            lr=setup.lr,
            optimizer=setup.optimizer,
            seed=setup.seed,
            augment=augment,
            on_step=_ticker(bar, on_step),
            progress=False,
            device="cpu",
            channels_last=True,
        )
        train_acc = evaluate(model, data.x_train, data.y_train)
        test_acc = evaluate(model, data.x_test, data.y_test)
    seconds = time.perf_counter() - start
    arm = Arm(label, spec, history, train_acc, test_acc, seconds, model=model)
    if cache:
        _ARMS[key] = arm
    return arm


def accuracy_se(acc: float, n: int) -> float:
    """Standard error of an accuracy measured on ``n`` independent examples."""
    return math.sqrt(max(acc * (1 - acc), 1e-12) / max(n, 1))


def _diff_se(a: float, b: float, n: int) -> float:
    return math.sqrt(accuracy_se(a, n) ** 2 + accuracy_se(b, n) ** 2)


def _gap_se(arm: Arm, n_train: int, n_test: int) -> float:
    return math.sqrt(accuracy_se(arm.train_acc, n_train) ** 2 + accuracy_se(arm.test_acc, n_test) ** 2)


def _pp(x: float) -> str:
    """A fraction as signed percentage points."""
    return f"{100 * x:+.1f} pp"


# --------------------------------------------------------------------------- results


@dataclass
class AblationResult:
    """One claim of the paper, tested small.

    ``claim`` and ``paper`` give what the paper says and its number;
    ``measured`` is ours; ``verdict`` is computed from the numbers; ``why``
    explains a verdict that is not a plain reproduction; ``setup`` says how
    the experiment was scaled down; ``numbers`` holds the raw measurements.
    """

    name: str
    claim: str
    paper: str
    measured: str
    verdict: str
    why: str
    setup: str
    arms: Dict[str, Arm]
    seconds: float
    numbers: Dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [
            f"{self.name}: {self.verdict}",
            f"  claim:    {self.claim}",
            f"  paper:    {self.paper}",
            f"  measured: {self.measured}",
        ]
        for arm in self.arms.values():
            where = ""
            if "ran" in arm.extra:
                steps = arm.extra.get("steps")
                where = f"stopped at step {steps}  " if steps else f"ran {arm.extra['ran']} steps  "
            shared = ", shared" if arm.extra.get("shared") else ""
            lines.append(
                f"    {arm.label:<24} {where}train acc {arm.train_acc:.3f}  test acc {arm.test_acc:.3f}  "
                f"gap {_pp(arm.gap)}  ({arm.seconds:.1f} s{shared})"
            )
        if self.why:
            lines.append(f"  why:      {self.why}")
        lines.append(f"  setup:    {self.setup}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"AblationResult({self.name!r}, verdict={self.verdict!r}, measured={self.measured!r})"

    def row(self) -> Dict[str, str]:
        return {
            "ingredient": self.name,
            "claim": self.claim,
            "paper": self.paper,
            "measured": self.measured,
            "verdict": self.verdict,
        }


def results_table(results: Sequence[AblationResult]) -> str:
    """ingredient | the paper's claim | paper's number | our measurement | verdict, as Markdown."""
    lines = ["| ingredient | the paper's claim | paper's number | our measurement | verdict |", "|---|---|---|---|---|"]
    for r in results:
        cells = [r.name, r.claim, r.paper, r.measured, f"**{r.verdict}**"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def plot_arms(results: Sequence[AblationResult], ax: Any = None) -> Any:
    """Train (eval mode) and test accuracy of every arm, grouped by experiment, on an axis from 0 to 1.

    The ReLU/tanh arms stop at their target training error, so their bars show where each stopped."""
    import matplotlib.pyplot as plt

    arms = [(r.name, a) for r in results for a in r.arms.values() if a.train_acc == a.train_acc]
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.38 * len(arms) + 1.2), constrained_layout=True)
    ys = list(range(len(arms)))
    ax.barh([y - 0.2 for y in ys], [a.train_acc for _, a in arms], height=0.4, label="train accuracy (eval mode)")
    ax.barh([y + 0.2 for y in ys], [a.test_acc for _, a in arms], height=0.4, label="test accuracy")
    labels = [
        f"{n}: {a.label}" + (f" (stopped at step {a.extra['steps']})" if a.extra.get("steps") else "") for n, a in arms
    ]
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("accuracy")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    return ax.figure


def _accuracy_result(
    name: str,
    claim: str,
    paper: str,
    ours: Arm,
    alt: Arm,
    setup: Setup,
    setup_text: str,
    why_noise: str,
    why_opposite: str,
) -> AblationResult:
    """Arm ``ours`` is the paper's choice, ``alt`` the alternative: compare test error."""
    diff = ours.test_acc - alt.test_acc
    se = _diff_se(ours.test_acc, alt.test_acc, setup.n_test)
    verdict = "within noise" if abs(diff) < 2 * se else ("reproduces" if diff > 0 else "does not reproduce")
    why_not = {"within noise": why_noise, "does not reproduce": why_opposite}.get(verdict, "")
    before, after = round(100 * alt.test_error, 1), round(100 * ours.test_error, 1)  # the change of what is printed
    measured = (
        f"test error {before:.1f}% ({alt.label}) → {after:.1f}% ({ours.label}): "
        f"{after - before:+.1f} pp, noise ±{100 * 2 * se:.1f} pp"
    )
    return AblationResult(
        name=name,
        claim=claim,
        paper=paper,
        measured=measured,
        verdict=verdict,
        why=why_not,
        setup=setup_text,
        arms={ours.label: ours, alt.label: alt},
        seconds=ours.seconds + alt.seconds,
        numbers={"error_change": -diff, "two_se": 2 * se},
    )


_WHY_PARTLY = (
    "The gap shrank by more than the noise, but test accuracy did not rise by more than the noise: less "
    "overfitting, not yet a better network, in a run this short."
)


def _overfitting_result(
    name: str,
    claim: str,
    paper: str,
    ours: Arm,
    alt: Arm,
    setup: Setup,
    setup_text: str,
    why_slow: str,
    why_none: str,
    why_partly: str = _WHY_PARTLY,
) -> AblationResult:
    """``ours`` has the regulariser, ``alt`` not: the claim is about the train/test gap and what it buys.

    ``does not reproduce``: test accuracy falls by more than the noise (the
    regulariser hurts, at least in this short run), or the gap grows;
    ``within noise``: the gap does not shrink beyond noise; ``partly``: the
    gap shrinks beyond noise but test accuracy does not rise beyond noise;
    ``reproduces``: the gap shrinks and test accuracy rises, both beyond noise.
    """
    shrink = alt.gap - ours.gap
    se = math.sqrt(_gap_se(ours, setup.n_train, setup.n_test) ** 2 + _gap_se(alt, setup.n_train, setup.n_test) ** 2)
    dtest = ours.test_acc - alt.test_acc
    se_test = _diff_se(ours.test_acc, alt.test_acc, setup.n_test)
    if dtest < -2 * se_test:
        verdict, why = "does not reproduce", why_slow
    elif shrink < -2 * se:
        verdict, why = "does not reproduce", why_none
    elif shrink < 2 * se:
        verdict, why = "within noise", why_none
    elif dtest < 2 * se_test:
        verdict, why = "partly", why_partly
    else:
        verdict, why = "reproduces", ""
    measured = (
        f"train−test gap {_pp(alt.gap)} ({alt.label}) → {_pp(ours.gap)} ({ours.label}); "
        f"test acc {alt.test_acc:.3f} → {ours.test_acc:.3f} ({_pp(dtest)}, noise ±{100 * 2 * se_test:.1f} pp)"
    )
    return AblationResult(
        name=name,
        claim=claim,
        paper=paper,
        measured=measured,
        verdict=verdict,
        why=why,
        setup=setup_text,
        arms={ours.label: ours, alt.label: alt},
        seconds=ours.seconds + alt.seconds,
        numbers={
            "gap_with": ours.gap,
            "gap_without": alt.gap,
            "gap_shrink": shrink,
            "two_se_gap": 2 * se,
            "test_change": dtest,
            "two_se_test": 2 * se_test,
        },
    )


# --------------------------------------------------------------------------- 1. ReLU vs tanh


def _error_curve(errors: List[float], target: Optional[float], window: int) -> Callable[..., bool]:
    """An ``on_step`` callback: append each mini-batch's training error (measured by the forward pass
    before the update) to ``errors``; ask to stop once the mean of the last ``window`` is ``<= target``."""

    def on_step(step: int, loss: Any, logits: Any, y: Any) -> bool:
        errors.append(float((logits.argmax(1) != y).float().mean()))
        return target is not None and len(errors) >= window and sum(errors[-window:]) / window <= target

    return on_step


def _eval_pass_with_hook(model: Any, x: Any, hook: Callable[..., None], select: Callable[[Any], bool]) -> None:
    """One forward pass of ``x`` in eval mode without gradients, ``hook`` on every module ``select`` picks;
    the model's mode and hooks are restored afterwards."""
    import torch

    hooks = [m.register_forward_hook(hook) for m in model.modules() if select(m)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was)
        for h in hooks:
            h.remove()


def saturated_share(model: Any, x: Any, threshold: float = 0.9) -> float:
    """Share of tanh outputs in ``model`` with ``|a| > threshold`` on the images ``x``: where a tanh unit's
    slope, ``1 − a²``, has fallen below 0.19 (at 0.9). 0.0 for a network without tanh units."""
    from torch import nn

    counts = [0, 0]

    def hook(module: Any, inputs: Any, output: Any) -> None:
        counts[0] += int((output.abs() > threshold).sum())
        counts[1] += output.numel()

    _eval_pass_with_hook(model, x, hook, lambda m: isinstance(m, nn.Tanh))
    return counts[0] / counts[1] if counts[1] else 0.0


def _relu_tanh_arm(
    act: str, s: Setup, rates: Sequence[float], target: float, window: int, bar: Any
) -> Tuple[Arm, List[float], float]:
    """The ``act`` network trained at each rate until ``target``; returns the fastest: (arm, errors, lr)."""
    spec = s.spec(act=act, dropout=0.0)
    best: Optional[Tuple[float, Arm, List[float], float]] = None
    for lr in rates:
        errors: List[float] = []
        arm = _train_arm(act, spec, replace(s, lr=lr), on_step=_error_curve(errors, target, window), bar=bar)
        bar.update(max(_steps(s) - len(errors), 0))  # the steps it did not need
        n = steps_to(errors, target, window)
        arm.extra.update(steps=n, ran=len(errors), lr=lr)
        score = float(n) if n is not None else math.inf
        if best is None or score < best[0]:
            best = (score, arm, errors, lr)
    assert best is not None
    return best[1], best[2], best[3]


def _speedup(relu: Optional[int], tanh: Optional[int], n_relu: int, n_tanh: int, target: float) -> Tuple[float, str]:
    """How many times as fast ReLU reached the target, and the sentence that says so."""
    if relu is not None and tanh is not None:
        return tanh / relu, f"{relu} steps (ReLU) vs {tanh} (tanh): ReLU {tanh / relu:.2g}× as fast"
    if relu is not None:
        return n_tanh / relu, (
            f"{relu} steps (ReLU) vs > {n_tanh} (tanh never got there): ReLU > {n_tanh / relu:.2g}× as fast"
        )
    if tanh is not None:
        return tanh / n_relu, (
            f"> {n_relu} steps (ReLU never got there) vs {tanh} (tanh): ReLU < {tanh / n_relu:.2g}× as fast"
        )
    return float("nan"), f"neither reached {target:.0%} training error in {max(n_relu, n_tanh)} steps"


def _speedup_verdict(ratio: float) -> str:
    if ratio != ratio:
        return "inconclusive"
    if ratio >= 3:
        return "reproduces"
    if ratio >= 1.25:
        return "partly"
    return "within noise" if ratio > 0.8 else "does not reproduce"


def _relu_tanh_why(verdict: str, target: float, saturated: Tuple[float, float]) -> str:
    if verdict == "reproduces":
        return ""
    start, end = saturated
    return (
        f"{target:.0%} training error is an easy bar on Fashion-MNIST (a linear classifier clears it): both "
        f"networks reach it within about one pass over a few thousand images, still close to their starting "
        f"weights. Measured on 256 training images, {100 * start:.1f}% of the tanh units were saturated "
        f"(|a| > 0.9, slope below 0.19) at the start and {100 * end:.1f}% when the tanh network stopped. The "
        f"paper's CIFAR-10 curves ran for many epochs; that its tanh units saturated more there is an "
        f"expectation, not measured here."
    )


@dataclass
class ReluTanhResult(AblationResult):
    curves: Dict[str, List[float]] = field(default_factory=dict)
    window: int = 10
    target: float = 0.25

    def plot(self, ax: Any = None) -> Any:
        """Running training error against mini-batch steps, like the paper's Figure 1."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6.5, 3.2), constrained_layout=True)
        for (label, errs), style in zip(self.curves.items(), ("-", "--")):
            ax.plot(range(1, len(errs) + 1), smoothed(errs, self.window), style, label=label)
        ax.axhline(self.target, color="gray", lw=0.8, ls=":", label=f"{self.target:.0%} training error")
        ax.set_xlabel("mini-batch step")
        ax.set_ylabel(f"training error\n(mean of the last {self.window} batches)")
        ax.set_ylim(0, 1)
        ax.legend()
        return ax.figure


def relu_vs_tanh(
    setup: Optional[Setup] = None,
    *,
    target: float = 0.25,
    window: int = 10,
    lrs: Optional[Sequence[float]] = None,
    progress: bool = True,
    **overrides: Any,
) -> ReluTanhResult:
    """Mini-batch steps until the training error falls to ``target`` (25%): ReLU vs tanh.

    As in the paper's Figure 1 there is no regularisation (no dropout, no
    augmentation) and the optimiser is SGD with momentum 0.9. Both arms start
    from the same random draws, scaled for their activation (:func:`init_weights`).
    Each run stops (``fit``'s ``on_step``) as soon as the mean training error of
    the last ``window`` batches reaches ``target``, or after ``setup.epochs`` epochs.
    ``numbers`` include the share of saturated tanh units (:func:`saturated_share`)
    at the start and at the end of the tanh run.

    ``lrs``: learning rates to try for *each* network, keeping its fastest
    (the paper: "the learning rates for each network were chosen
    independently to make training as fast as possible"); by default both use
    ``setup.lr``. Defaults: :data:`CURVE`.
    """
    s = _setup(setup, CURVE, overrides)
    rates = tuple(lrs) if lrs else (s.lr,)
    arms: Dict[str, Arm] = {}
    curves: Dict[str, List[float]] = {}
    chosen: Dict[str, float] = {}
    with _bar(progress, 2 * len(rates) * _steps(s), "ReLU vs tanh") as bar:
        for act in ("relu", "tanh"):
            arms[act], curves[act], chosen[act] = _relu_tanh_arm(act, s, rates, target, window, bar)
    probe = fashion32(s.n_train, s.n_test, s.seed).x_train[:256]
    saturated = (
        saturated_share(build(s.spec(act="tanh", dropout=0.0), s.seed), probe),
        saturated_share(arms["tanh"].model, probe),
    )
    relu, tanh = arms["relu"].extra["steps"], arms["tanh"].extra["steps"]
    ratio, measured = _speedup(relu, tanh, len(curves["relu"]), len(curves["tanh"]), target)
    verdict = _speedup_verdict(ratio)
    numbers = {
        "steps_relu": float("nan") if relu is None else float(relu),
        "steps_tanh": float("nan") if tanh is None else float(tanh),
        "speedup": ratio,
        "tanh_saturated_start": saturated[0],
        "tanh_saturated_end": saturated[1],
    }
    return ReluTanhResult(
        name="ReLU vs tanh",
        claim="networks of ReLUs train several times faster than networks of tanh units",
        paper="25% training error reached 6× faster with ReLU (4-layer CNN, CIFAR-10, Figure 1)",
        measured=measured,
        verdict=verdict,
        why=_relu_tanh_why(verdict, target, saturated),
        setup=(
            f"{s.describe()}; no dropout; same initial draws (He-scaled for each activation); steps until the "
            f"mean training error of the last {window} batches ≤ {target:.0%}"
            + (
                f"; fastest of lr {', '.join(f'{v:g}' for v in lrs)} for each: ReLU {chosen['relu']:g}, "
                f"tanh {chosen['tanh']:g}"
                if lrs
                else ""
            )
        ),
        arms=arms,
        seconds=sum(a.seconds for a in arms.values()),
        numbers=numbers,
        curves=curves,
        window=window,
        target=target,
    )


def smoothed(values: Sequence[float], window: int) -> List[float]:
    """Running mean over the last ``window`` values (over fewer at the start)."""
    out: List[float] = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def steps_to(errors: Sequence[float], target: float, window: int) -> Optional[int]:
    """First step (1-based) at which the running training error over ``window``
    batches is at or below ``target``; ``None`` if never."""
    for i, e in enumerate(smoothed(errors, window)):
        if i + 1 >= window and e <= target:
            return i + 1
    return None


# --------------------------------------------------------------------------- 2. dropout


def dropout_gap(
    setup: Optional[Setup] = None, *, p: float = 0.5, progress: bool = True, **overrides: Any
) -> AblationResult:
    """Train/test accuracy gap with dropout ``p`` before fc1 and fc2 vs without. Defaults: :data:`SMALL`."""
    s = _setup(setup, SMALL, overrides)
    with _bar(progress, 2 * _steps(s), "Dropout") as bar:
        ours = _train_arm(f"dropout {p:g}", s.spec(dropout=p), s, bar=bar)
        alt = _train_arm("no dropout", s.spec(dropout=0.0), s, bar=bar)
    return _overfitting_result(
        "Dropout",
        "without dropout the network overfits substantially",
        "no error figure; dropout 'roughly doubles the number of iterations required to converge'",
        ours,
        alt,
        s,
        f"{s.describe()}; dropout {p:g} before fc1 and fc2 vs none; gap = train accuracy (eval mode) − test accuracy",
        why_slow=(
            "After this short run the dropout network is behind on test accuracy: it trains slower (the paper: "
            "about twice the iterations to converge) and has not caught up. Whether it overtakes in a longer "
            "run is not measured here (exercise 2)."
        ),
        why_none=(
            "The network has not trained long enough on its small training set to overfit much, so there is "
            "little gap for dropout to close."
        ),
    )


# --------------------------------------------------------------------------- 3. overlapping pooling


def overlap_pooling(setup: Optional[Setup] = None, *, progress: bool = True, **overrides: Any) -> AblationResult:
    """Test error with overlapping 3×3 stride-2 max pooling vs 2×2 stride-2 (same map sizes).

    Defaults: :data:`SMALL`.
    """
    s = _setup(setup, SMALL, overrides)
    with _bar(progress, 2 * _steps(s), "Overlapping pooling") as bar:
        ours = _train_arm("3×3 stride 2", s.spec(pool="overlap"), s, bar=bar)
        alt = _train_arm("2×2 stride 2", s.spec(pool="no-overlap"), s, bar=bar)
    return _accuracy_result(
        "Overlapping pooling",
        "overlapping pooling (3×3 windows, stride 2) lowers the error and makes overfitting slightly harder",
        "top-1 error −0.4 pp, top-5 −0.3 pp (ImageNet)",
        ours,
        alt,
        s,
        f"{s.describe()}; all three max pools 3×3/2 (padding 1) vs 2×2/2: the same 16, 8, 4 map sizes",
        why_noise=(
            "The paper's gain was 0.4 percentage points on a 1000-class task, from a network trained for 90 "
            "epochs on 1.2 million images: far below what this test set can resolve."
        ),
        why_opposite=(
            "The paper's gain was small (0.4 pp) and came from 55-, 27- and 13-pixel maps; ours are 32, 16 "
            "and 8 pixels wide, and a 3×3 window covers a larger part of them, likely blurring where the "
            "few features of a small image are. One seed, too: try others (an exercise)."
        ),
    )


# --------------------------------------------------------------------------- 4. LRN


def lrn_share(model: Any, x: Any) -> float:
    """How much of LRN's divisor comes from the neighbours' activity on ``x``.

    LRN divides each activation by ``(k + α Σ a²)^β`` (sum over ``n``
    neighbouring maps). With quiet neighbours the divisor is ``k^β``, a
    constant scale the next layer can undo. Returns the median over the units
    of every LRN layer of ``divisor / k^β − 1``: 0 means LRN acted as a
    constant scale, 1 that the neighbours doubled the divisor.
    """
    import torch
    from torch import nn

    shares: List[Any] = []

    def hook(module: Any, inputs: Tuple[Any, ...], output: Any) -> None:
        a, b = inputs[0].detach().float(), output.detach().float()
        mask = a.abs() > 1e-6
        shares.append((a[mask] / b[mask] / module.k**module.beta - 1).flatten())

    _eval_pass_with_hook(model, x, hook, lambda m: isinstance(m, nn.LocalResponseNorm) or type(m).__name__ == "BandLRN")
    if not shares:
        return 0.0
    return float(torch.cat(shares).median())


def lrn_vs_none(setup: Optional[Setup] = None, *, progress: bool = True, **overrides: Any) -> AblationResult:
    """Test error with the paper's LRN after conv1 and conv2 vs none. Defaults: :data:`SMALL`."""
    s = _setup(setup, SMALL, overrides)
    with _bar(progress, 2 * _steps(s), "LRN") as bar:
        ours = _train_arm("LRN", s.spec(lrn=True), s, bar=bar)
        alt = _train_arm("no LRN", s.spec(lrn=False), s, bar=bar)
    share = lrn_share(ours.model, fashion32(s.n_train, s.n_test, s.seed).x_test[:256])
    why = (
        f"With the paper's constants the neighbours add a median of only {100 * share:.2g}% to LRN's divisor here "
        "(α·Σa² ≪ k): our standardised inputs give small activations, so LRN is almost a constant division by "
        "2^0.75 ≈ 1.68 that the next layer undoes. The paper fed raw 0–255 pixels (mean subtracted), with far "
        "larger activations. Later networks (VGG, 2014) found LRN did not help."
    )
    result = _accuracy_result(
        "Local response normalisation",
        "LRN after the first two convolutions aids generalisation",
        "top-1 error −1.4 pp, top-5 −1.2 pp (ImageNet); 13% → 11% test error (4-layer CNN, CIFAR-10)",
        ours,
        alt,
        s,
        f"{s.describe()}; LRN with the paper's k=2, n=5, α=1e-4, β=0.75 after act1 and act2 vs none",
        why_noise=why,
        why_opposite=why,
    )
    result.numbers["neighbour_share"] = share
    return result


# --------------------------------------------------------------------------- 5. augmentation


def augmentation(
    setup: Optional[Setup] = None, *, pad: int = 2, progress: bool = True, **overrides: Any
) -> AblationResult:
    """Random crops (shifts of up to ``pad`` pixels) and left-right flips vs none. Defaults: :data:`SMALL`.

    AlexNet trained on random 224×224 crops of 256×256 images (shifts of up
    to 16 pixels, about 6%) and their mirror images; ``pad=2`` on 32×32 is
    the same proportion.
    """
    from .train import random_crop_flip

    s = _setup(setup, SMALL, overrides)
    spec = s.spec()
    with _bar(progress, 2 * _steps(s), "Augmentation") as bar:
        ours = _train_arm(f"crops ±{pad} px + flips", spec, s, augment=random_crop_flip(pad=pad, flip=True), bar=bar)
        alt = _train_arm("no augmentation", spec, s, bar=bar)
    return _overfitting_result(
        "Data augmentation",
        "random crops and flips fight overfitting; without them the network overfits substantially",
        "no error figure for crops/flips (PCA colour noise: top-1 error down by over 1 pp)",
        ours,
        alt,
        s,
        f"{s.describe()}; shifts of up to {pad} px and left-right flips of each training batch vs none",
        why_slow=(
            "Every epoch shows new variants of the images, so the network fits them more slowly: after this "
            "short run it is behind on test accuracy, so here augmentation does not help. The paper's benefit "
            "came from 90 epochs on 1.2 million images; a longer run is expected to narrow the difference, "
            "but that is not measured here."
        ),
        why_none="The network has not trained long enough to overfit much, so there is little gap to close.",
    )


# --------------------------------------------------------------------------- all of them

EXPERIMENTS: Dict[str, Callable[..., AblationResult]] = {
    "relu_vs_tanh": relu_vs_tanh,
    "dropout_gap": dropout_gap,
    "overlap_pooling": overlap_pooling,
    "lrn_vs_none": lrn_vs_none,
    "augmentation": augmentation,
}


def run_all(progress: bool = True, **overrides: Any) -> List[AblationResult]:
    """Every experiment at its default setup (``overrides`` apply to all), in the chapter's order."""
    return [f(progress=progress, **overrides) for f in EXPERIMENTS.values()]


__all__ = [
    "LRN_CONSTANTS",
    "POOLS",
    "DEFAULT_WIDTHS",
    "DEFAULT_HIDDEN",
    "mini_alexnet_spec",
    "init_weights",
    "band_lrn",
    "build",
    "fashion32",
    "Setup",
    "SMALL",
    "CURVE",
    "Arm",
    "clear_cache",
    "accuracy_se",
    "AblationResult",
    "results_table",
    "plot_arms",
    "saturated_share",
    "smoothed",
    "steps_to",
    "ReluTanhResult",
    "relu_vs_tanh",
    "dropout_gap",
    "overlap_pooling",
    "lrn_share",
    "lrn_vs_none",
    "augmentation",
    "EXPERIMENTS",
    "run_all",
]
