"""Live widgets for the book (ipywidgets): views over plain functions.

* :class:`ConvLayerWidget` (``conv_layer_widget()``) — one convolution or
  pooling layer: sliders for input size, kernel, stride, padding and
  dilation; a picture of where the kernel lands on the padded input; the
  output size by the formula, confirmed by a real PyTorch layer.
* :class:`NetworkExplorer` (``network_explorer(net="lenet5")``) — a whole
  network from its description (:mod:`classicnets.specs`): pick network,
  variant and a conv/pool layer, change its kernel/stride/padding or the
  input size, and watch the size of every feature map and the parameters of
  every layer; "build & check" builds the module and runs a forward pass.

Every change goes through :meth:`set` (or a control's ``value``) and
:meth:`update`, so tests drive the widgets without a browser::

    w = ConvLayerWidget()
    w.set(size=3, kernel=7, padding=0)
    assert "larger than its padded input" in w.message.value

Nothing raises into the notebook: an impossible setting shows the arithmetic's
one-line message (:class:`~classicnets.arithmetic.ArchitectureError`) in
``w.message``; a value that cannot be used at all (``kernel="3"``, an unknown
``kind`` or network, a size over the widget's limit) is left out and its message
shown there too (``w.refused``). The limits (:data:`CONV_LIMITS`,
:data:`classicnets.explorer.INPUT_LIMITS`) keep one update under a second, and
"build & check" stays within :data:`classicnets.explorer.CHECK_BUDGET_BYTES`. The
explorer's logic (what a slider changes) lives in :mod:`classicnets.explorer`.

Static pages: each widget's ``_repr_mimebundle_`` adds an ``image/png`` of its
current picture to the usual widget view, so a page rendered without a
kernel (the book) still shows the default picture, while Jupyter and Colab
show the live widget.

The code: :mod:`classicnets.picture_widget` (the picture and read-out helpers both widgets share),
:mod:`classicnets.layer_widget` (the one-layer widget), :mod:`classicnets.network_widget` (the network
widget); this module gathers the names the chapters import.
"""

from .explorer import editable_layers
from .layer_widget import CONV_LIMITS, ConvLayerWidget, conv_layer_widget, conv_setting
from .network_widget import NETWORKS, NetworkExplorer, network_explorer
from .picture_widget import PictureWidget, plain

__all__ = [
    "PictureWidget",
    "ConvLayerWidget",
    "NetworkExplorer",
    "conv_layer_widget",
    "network_explorer",
    "NETWORKS",
    "editable_layers",
    "conv_setting",
    "CONV_LIMITS",
    "plain",
]
