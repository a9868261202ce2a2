"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012)."""
from __future__ import annotations

from torch import Tensor, nn

from ..layers import IntPair
from ..specs import alexnet_spec
from .build import build_blocks


class AlexNet(nn.Module):
    """AlexNet, built from :func:`classicnets.specs.alexnet_spec`.

    ``variant="blog"`` — one-GPU AlexNet (62,378,344 parameters and
    1,135,256,096 MACs at 3×227×227).
    ``variant="paper"`` — with local response normalisation after conv1 and
    conv2 (k=2, n=5, α=1e-4, β=0.75) and ``groups=2`` on conv2, conv4 and conv5
    for the two-GPU split (60,965,224 parameters, 724,406,816 MACs).

    Deviations from the 2012 paper:

    * input 227×227, not the 224×224 the paper states: with an 11×11 stride-4
      unpadded conv1 only 227 gives the 55×55 maps the paper reports;
    * one device: the paper's two GPUs become ``groups=2`` (``paper``) or
      nothing (``blog``). conv1 is split on both GPUs in the paper too, but as
      both halves see the whole image that equals one 96-map convolution;
      fc layers and conv3 crossed GPUs in the paper, so they are ungrouped;
    * ``blog`` has no LRN (as in the blog and in torchvision);
    * PyTorch's default initialisation instead of N(0, 0.01) weights and
      biases of 1 in conv2, conv4, conv5 and the fc layers; training recipe
      (SGD, momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 on plateaus)
      is the caller's choice;
    * dropout modules sit before fc1 and fc2 (torchvision's placement; the
      paper drops the outputs of the two hidden fc layers — the same
      connections, counted from the other side).

    Any input size that survives the layers works (the flatten size is
    derived with ``input_size``); ``in_channels=1`` and ``num_classes=10``
    suit Fashion-MNIST. ``forward`` returns logits (no softmax).
    """

    def __init__(
        self,
        variant: str = "blog",
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: IntPair = 227,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.spec = alexnet_spec(variant, num_classes, in_channels, input_size, dropout)
        self.features, self.flatten, self.classifier = build_blocks(self.spec)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (B, 256, 6, 6) at 227×227
        x = self.flatten(x)  # (B, 9216)
        return self.classifier(x)  # (B, num_classes) logits


def alexnet(variant: str = "blog", num_classes: int = 1000, in_channels: int = 3, **kwargs) -> AlexNet:
    """``AlexNet(variant, num_classes, in_channels, ...)``: see :class:`AlexNet`."""
    return AlexNet(variant, num_classes, in_channels, **kwargs)
