"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) on one device, as plain PyTorch.

The class below needs nothing but torch: copy it into a file of your own and
it runs. ``classicnets.alexnet("blog")`` returns it; ``alexnet("paper")``
returns the two-GPU network with local response normalisation, built from
its description (``classicnets.specs.alexnet_spec``).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn


class AlexNet(nn.Module):
    """AlexNet on one device, the way the usual blog post writes it, bugs fixed.

    62,378,344 parameters and 1,135,256,096 multiply–accumulates per image at
    3×227×227 with 1,000 classes; the kernel counts are the paper's
    (96-256-384-384-256, 4096-4096).

    Deviations from the 2012 paper (its ``paper`` variant keeps the first two):

    * no local response normalisation after conv1 and conv2 (§3.3);
    * one device: the paper split every layer over two GPUs (§3.2), and
      conv2, conv4 and conv5 read only the maps of their own GPU; here every
      kernel reads every map, which costs about 1.57× the paper's MACs;
    * dropout sits *before* fc1 and fc2, as in the blog post and in
      torchvision; the paper drops the *outputs* of fc1 and fc2 (§4.2), i.e.
      before fc2 and fc3;
    * input 227×227, not the 224×224 the paper states: with an unpadded 11×11
      stride-4 conv1, 227 is the smallest input that gives the 55×55 maps it
      reports, and the only one that reads every pixel (228–230 also give 55);
    * PyTorch's default initialisation instead of N(0, 0.01) weights and
      biases of 1 in conv2, conv4, conv5 and the hidden fc layers (§5); the
      training recipe is the caller's;
    * ``forward`` returns logits, not softmax probabilities: pair it with
      ``nn.CrossEntropyLoss``.

    The flatten size is not written down: ``__init__`` runs one blank image
    through ``features`` and reads how many values come out (256 × 6 × 6 =
    9,216 at 227×227), so ``input_size=224`` (6,400) or ``in_channels=1,
    input_size=67`` (Fashion-MNIST, resized) just work.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | tuple[int, int] = 227,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
        self.input_shape = (in_channels, h, w)
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 96, 11, stride=4),  # (N, 96, 55, 55)
                relu1=nn.ReLU(inplace=True),
                pool1=nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 96, 27, 27)
                conv2=nn.Conv2d(96, 256, kernel_size=5, padding=2),  # (N, 256, 27, 27)
                relu2=nn.ReLU(inplace=True),
                pool2=nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 256, 13, 13)
                conv3=nn.Conv2d(256, 384, kernel_size=3, padding=1),  # (N, 384, 13, 13)
                relu3=nn.ReLU(inplace=True),
                conv4=nn.Conv2d(384, 384, kernel_size=3, padding=1),  # (N, 384, 13, 13)
                relu4=nn.ReLU(inplace=True),
                conv5=nn.Conv2d(384, 256, kernel_size=3, padding=1),  # (N, 256, 13, 13)
                relu5=nn.ReLU(inplace=True),
                pool3=nn.MaxPool2d(kernel_size=3, stride=2),  # (N, 256, 6, 6)
            )
        )
        with torch.no_grad():  # the flatten size, derived: 256 × 6 × 6 = 9,216
            n_flat = self.features(torch.zeros(1, in_channels, h, w)).numel()
        self.classifier = nn.Sequential(
            OrderedDict(
                drop1=nn.Dropout(dropout),
                fc1=nn.Linear(n_flat, 4096),  # (N, 4096)
                relu6=nn.ReLU(inplace=True),
                drop2=nn.Dropout(dropout),
                fc2=nn.Linear(4096, 4096),  # (N, 4096)
                relu7=nn.ReLU(inplace=True),
                fc3=nn.Linear(4096, num_classes),  # (N, num_classes)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, 3, 227, 227) -> (N, 256, 6, 6)
        x = torch.flatten(x, 1)  # -> (N, 9216)
        return self.classifier(x)  # -> (N, num_classes) logits
