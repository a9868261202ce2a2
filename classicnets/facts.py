"""Numbers the book quotes from its sources, each with the paper and section it comes from.

A figure in a chapter's prose must be printed by a cell of that page — or be one of these
(``tests/test_numbers.py`` checks every page against both). A fact's ``text`` is written as
the source prints it ("15.3%", "60,000", "3GB"); ``tests/test_facts.py`` checks the ones the
package can compute (LeNet-5's parameter and connection counts, AlexNet's layer widths, the LRN
constants) against ``classicnets.arithmetic`` and the package's own constants.

Sources:

* LeNet-5: Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
  document recognition", Proc. IEEE 86(11), 1998.
* AlexNet: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet classification with deep
  convolutional neural networks", NIPS 2012.
* GTX 580: NVIDIA's GeForce GTX 580 product page, "GPU Engine Specs" (the card of AlexNet's
  two-GPU training; the 3GB variant is the paper's).
* Fashion-MNIST: H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a novel image dataset for
  benchmarking machine learning algorithms", arXiv:1708.07747, 2017.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

LECUN_1998 = "LeCun et al. 1998"
KRIZHEVSKY_2012 = "Krizhevsky et al. 2012"
XIAO_2017 = "Xiao et al. 2017 (Fashion-MNIST)"
NVIDIA_GTX580 = "NVIDIA, GeForce GTX 580 product specifications"


@dataclass(frozen=True)
class Fact:
    """One number of a source: ``text`` as the source prints it, ``citation`` "paper, section"."""

    name: str
    text: str
    citation: str
    what: str


FACTS: Tuple[Fact, ...] = (
    # LeNet-5: section II.B ("LeNet-5") of the 1998 paper, except the two totals, which close §II.A
    Fact("lenet5_input", "32×32", f"{LECUN_1998}, §II.B", "input image size"),
    Fact("lenet5_c1_params", "156", f"{LECUN_1998}, §II.B", "C1 trainable parameters"),
    Fact("lenet5_c1_connections", "122,304", f"{LECUN_1998}, §II.B", "C1 connections"),
    Fact("lenet5_s2_connections", "5,880", f"{LECUN_1998}, §II.B", "S2 connections"),
    Fact("lenet5_c3_params", "1,516", f"{LECUN_1998}, §II.B", "C3 trainable parameters"),
    Fact("lenet5_c3_connections", "151,600", f"{LECUN_1998}, §II.B", "C3 connections"),
    Fact("lenet5_s4_connections", "2,000", f"{LECUN_1998}, §II.B", "S4 connections"),
    Fact("lenet5_c5_connections", "48,120", f"{LECUN_1998}, §II.B", "C5 trainable connections"),
    Fact("lenet5_f6_units", "84", f"{LECUN_1998}, §II.B", "F6 units"),
    Fact("lenet5_f6_params", "10,164", f"{LECUN_1998}, §II.B", "F6 trainable parameters"),
    Fact("lenet5_connections", "340,908", f"{LECUN_1998}, §II.A", "connections of the whole network"),
    Fact("lenet5_params", "60,000", f"{LECUN_1998}, §II.A", "trainable free parameters"),
    Fact("lenet5_squash_a", "1.7159", f"{LECUN_1998}, Appendix A", "amplitude A of f(a) = A tanh(S a)"),
    # MNIST (section III.A) and Fashion-MNIST have the same split
    Fact("mnist_train", "60,000", f"{LECUN_1998}, §III.A", "MNIST training images"),
    Fact("mnist_test", "10,000", f"{LECUN_1998}, §III.A", "MNIST test images"),
    Fact("fashion_mnist_train", "60,000", f"{XIAO_2017}, §2", "Fashion-MNIST training images"),
    Fact("fashion_mnist_test", "10,000", f"{XIAO_2017}, §2", "Fashion-MNIST test images"),
    # AlexNet
    Fact("ilsvrc_train_images", "1.2 million", f"{KRIZHEVSKY_2012}, abstract and §2", "ILSVRC training images"),
    Fact("ilsvrc_classes", "1000", f"{KRIZHEVSKY_2012}, abstract and §2", "ILSVRC classes"),
    Fact("ilsvrc_val_images", "50,000", f"{KRIZHEVSKY_2012}, §2", "ILSVRC validation images"),
    Fact("ilsvrc_test_images", "150,000", f"{KRIZHEVSKY_2012}, §2", "ILSVRC test images"),
    Fact("imagenet_resize", "256×256", f"{KRIZHEVSKY_2012}, §2", "images down-sampled to"),
    Fact("alexnet_params", "60 million", f"{KRIZHEVSKY_2012}, abstract", "parameters"),
    Fact("alexnet_neurons", "650,000", f"{KRIZHEVSKY_2012}, abstract", "neurons"),
    Fact("alexnet_top1_2010", "37.5%", f"{KRIZHEVSKY_2012}, abstract and Table 1", "top-1 test error, ILSVRC-2010"),
    Fact("alexnet_top5_2010", "17.0%", f"{KRIZHEVSKY_2012}, abstract and Table 1", "top-5 test error, ILSVRC-2010"),
    Fact("alexnet_top5_2012", "15.3%", f"{KRIZHEVSKY_2012}, abstract and Table 2", "top-5 test error, 7 CNNs"),
    Fact("alexnet_top5_2012_5cnns", "16.4%", f"{KRIZHEVSKY_2012}, Table 2", "top-5 test error, 5 CNNs"),
    Fact("ilsvrc2012_second", "26.2%", f"{KRIZHEVSKY_2012}, abstract and Table 2", "second-best entry, top-5"),
    Fact("gtx580_memory", "3GB", f"{KRIZHEVSKY_2012}, §3.2", "memory of one GTX 580"),
    Fact("gtx580_cores", "512", f"{NVIDIA_GTX580}, GPU Engine Specs", "CUDA cores"),
    Fact("gtx580_clock", "1.544 GHz", f"{NVIDIA_GTX580}, GPU Engine Specs", "processor clock (1544 MHz)"),
    Fact("relu_training_error", "25%", f"{KRIZHEVSKY_2012}, §3.1 and Figure 1", "training error reached 6x faster"),
    Fact("two_gpu_gain", "1.7% and 1.2%", f"{KRIZHEVSKY_2012}, §3.2", "top-1/top-5 gain of the two-GPU net"),
    Fact("lrn_constants", "k = 2, n = 5, alpha = 1e-4, beta = 0.75", f"{KRIZHEVSKY_2012}, §3.3", "LRN constants"),
    Fact("lrn_gain", "1.4% and 1.2%", f"{KRIZHEVSKY_2012}, §3.3", "top-1/top-5 gain of LRN"),
    Fact("lrn_cifar", "13% and 11%", f"{KRIZHEVSKY_2012}, §3.3", "CIFAR-10 test error without/with LRN"),
    Fact("overlap_gain", "0.4% and 0.3%", f"{KRIZHEVSKY_2012}, §3.4", "top-1/top-5 gain of overlapping pooling"),
    Fact("alexnet_input", "224×224×3", f"{KRIZHEVSKY_2012}, §3.5", "input image"),
    Fact("alexnet_conv_kernels", "96, 256, 384, 384, 256", f"{KRIZHEVSKY_2012}, §3.5", "kernels of conv1-conv5"),
    Fact("alexnet_fc_units", "4096", f"{KRIZHEVSKY_2012}, §3.5", "neurons of each hidden fully connected layer"),
    Fact("alexnet_input_dims", "150,528", f"{KRIZHEVSKY_2012}, §3.5", "input dimensions"),
    Fact("augment_factor", "2048", f"{KRIZHEVSKY_2012}, §4.1", "training set enlarged by crops and flips"),
    Fact("dropout_p", "0.5", f"{KRIZHEVSKY_2012}, §4.2", "dropout probability"),
    Fact("batch_size", "128", f"{KRIZHEVSKY_2012}, §5", "batch size"),
    Fact("momentum", "0.9", f"{KRIZHEVSKY_2012}, §5", "momentum"),
    Fact("weight_decay", "0.0005", f"{KRIZHEVSKY_2012}, §5", "weight decay"),
    Fact("init_std", "0.01", f"{KRIZHEVSKY_2012}, §5", "std of the initial weights; also the learning rate"),
    Fact("epochs", "90", f"{KRIZHEVSKY_2012}, §5", "cycles through the training set"),
)


def by_name() -> Dict[str, Fact]:
    """The facts keyed by name."""
    return {fact.name: fact for fact in FACTS}


__all__ = ["FACTS", "KRIZHEVSKY_2012", "LECUN_1998", "NVIDIA_GTX580", "XIAO_2017", "Fact", "by_name"]
