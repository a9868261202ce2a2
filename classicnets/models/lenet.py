"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998)."""
from __future__ import annotations

from torch import Tensor, nn

from ..layers import IntPair
from ..specs import lenet5_spec
from .build import build_blocks
from .paper_layers import lecun_uniform_


class LeNet5(nn.Module):
    """LeNet-5, built from :func:`classicnets.specs.lenet5_spec`.

    ``variant="blog"`` — the source blog's network, fixed (61,706 parameters):
        conv1 5×5→6, tanh, avg-pool 2, conv2 5×5→16, tanh, avg-pool 2,
        fc1 400→120, tanh, fc2 120→84, tanh, fc3 84→num_classes.
    ``variant="modern"`` — the same with ReLU and max pooling.
    ``variant="paper"`` — as published (60,000 trainable parameters).

    Deviations from the 1998 paper:

    * ``blog``/``modern``: every conv sees every map (the paper's C3 uses a
      partial table); pooling has no trainable coefficient/bias; plain tanh
      (blog) or ReLU (modern) instead of 1.7159·tanh(2a/3); C5 is a Linear
      (the same thing at 32×32 input: a 5×5 conv on a 5×5 map); the output is
      a Linear layer giving logits instead of Euclidean RBF units; PyTorch's
      default initialisation.
    * ``paper``: the RBF codes are Hadamard rows, not the paper's hand-drawn
      7×12 character bitmaps (not published as data); the output returns
      −distance as logits, trained with cross-entropy (the paper's MAP
      criterion minus its constant j) instead of its exact loss and
      stochastic diagonal Levenberg–Marquardt; subsampling coefficients
      start at 1/4 (an average) where the paper gives no rule.
    * all: inputs are whatever you feed (the book uses Fashion-MNIST padded to
      32×32, the paper MNIST padded to 32×32 and scaled to [−0.1, 1.175]).

    ``forward`` returns logits (no softmax): pair it with
    ``nn.CrossEntropyLoss``.
    """

    def __init__(
        self,
        variant: str = "blog",
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: IntPair = 32,
    ) -> None:
        super().__init__()
        self.spec = lenet5_spec(variant, num_classes, in_channels, input_size)
        self.features, self.flatten, self.classifier = build_blocks(self.spec)
        if variant == "paper":
            lecun_uniform_(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (B, 16, 5, 5); paper: (B, 120, 1, 1)
        x = self.flatten(x)  # (B, 400); paper: (B, 120)
        return self.classifier(x)  # (B, num_classes) logits


def lenet5(variant: str = "blog", num_classes: int = 10, **kwargs) -> LeNet5:
    """``LeNet5(variant, num_classes, ...)``: see :class:`LeNet5`."""
    return LeNet5(variant, num_classes, **kwargs)
