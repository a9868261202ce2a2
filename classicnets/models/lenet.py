"""LeNet5 (LeCun, Bottou, Bengio & Haffner, 1998) as plain PyTorch.

The class below needs nothing but torch: copy it into a file of your own and
it runs. ``classicnets.lenet5("blog")`` and ``lenet5("modern")`` return it;
``lenet5("paper")`` returns the network as published, built from its
description (``classicnets.specs.lenet5_spec``) because it needs layers
PyTorch does not have.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn


class LeNet5(nn.Module):
    """LeNet5 the way most code writes it, with the usual blog post's bugs fixed.

    ``modern=False`` (the book's ``blog`` variant): tanh and average pooling;
    ``modern=True``: ReLU and max pooling. Both have 61,706 parameters at
    1×32×32 with 10 classes::

        conv1 5×5→6, act, pool 2, conv2 5×5→16, act, pool 2,
        fc1 400→120, act, fc2 120→84, act, fc3 84→num_classes

    Deviations from the 1998 paper (its ``paper`` variant keeps them all):

    * every conv2 map reads every pool1 map (the paper's C3 reads 3, 4 or 6
      of them, after its Table I);
    * pooling is a plain average (or max) with no trainable coefficient and
      bias per map;
    * plain tanh (or ReLU) instead of the scaled 1.7159·tanh(2a/3);
    * the paper's C5 (a 5×5 convolution over a 5×5 map) is ``fc1``, a
      Linear layer: the same thing at 32×32 input;
    * the output is a Linear layer giving logits, not Euclidean RBF units;
      pair it with ``nn.CrossEntropyLoss`` (no softmax in ``forward``);
    * PyTorch's default initialisation instead of uniform ±2.4/fan-in.

    The flatten size is not written down: ``__init__`` runs one blank image
    through ``features`` and reads how many values come out (400 at 32×32),
    so ``input_size=28`` builds a network for unpadded 28×28 images. (A
    ``nn.LazyLinear`` would also work, but would leave the parameters
    undefined until the first batch.)
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | tuple[int, int] = 32,
        modern: bool = False,
    ) -> None:
        super().__init__()
        h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
        self.input_shape = (in_channels, h, w)
        Act = nn.ReLU if modern else nn.Tanh
        Pool = nn.MaxPool2d if modern else nn.AvgPool2d
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 6, kernel_size=5),  # (N, 6, 28, 28)
                act1=Act(),
                pool1=Pool(kernel_size=2),  # (N, 6, 14, 14)
                conv2=nn.Conv2d(6, 16, kernel_size=5),  # (N, 16, 10, 10)
                act2=Act(),
                pool2=Pool(kernel_size=2),  # (N, 16, 5, 5)
            )
        )
        with torch.no_grad():  # the flatten size, derived: 16 × 5 × 5 = 400 at 32×32
            n_flat = self.features(torch.zeros(1, in_channels, h, w)).numel()
        self.classifier = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(n_flat, 120),  # (N, 120)
                act3=Act(),
                fc2=nn.Linear(120, 84),  # (N, 84)
                act4=Act(),
                fc3=nn.Linear(84, num_classes),  # (N, num_classes)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, 1, 32, 32) -> (N, 16, 5, 5)
        x = torch.flatten(x, 1)  # -> (N, 400)
        return self.classifier(x)  # -> (N, num_classes) logits
