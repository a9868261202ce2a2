"""classicnets.layers: values are checked where they enter, and the plain-Python layering holds."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from classicnets.layers import AdaptivePool, ArchitectureError, Conv, Dropout, Linear, NetSpec, Pool, pair, whole
from classicnets.specs import lenet5_spec

PACKAGE = Path(__file__).resolve().parents[1] / "classicnets"

#: Values that are not whole numbers, though Python's int() would happily truncate or convert most of them.
NOT_WHOLE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False).filter(
        lambda x: not (math.isfinite(x) and x.is_integer())
    ),
    st.floats(min_value=-1e6, max_value=1e6, allow_subnormal=False).filter(
        lambda x: x.is_integer()
    ),  # 3.0 is a float, not a size
    st.text(max_size=4),
    st.none(),
    st.booleans(),
)


@given(value=NOT_WHOLE)
@example(value="²")  # str.isdigit() says yes, int() says no: once crashed the hint
@example(value="3")
def test_whole_refuses_what_int_would_truncate(value):
    with pytest.raises(ArchitectureError) as err:
        whole(value, "kernel", "conv1")
    text = str(err.value)
    assert text.startswith("conv1: kernel must be a whole number, got ") and "use an int such as kernel=" in text
    assert err.value.layer == "conv1"


@pytest.mark.parametrize("value", [2.5, float("nan"), "3", None, True])
@pytest.mark.parametrize("field", ["kernel", "stride", "padding", "dilation"])
def test_conv_and_pool_refuse_non_integer_sizes(field, value):
    with pytest.raises(ArchitectureError, match=f"conv9: {field} must be a whole number, got {value!r}"):
        Conv("conv9", **{field: value})
    if not (field == "stride" and value is None):  # a pooling stride of None means "the kernel"
        with pytest.raises(ArchitectureError, match=f"pool9: {field} must be a whole number"):
            Pool("pool9", **{field: value})
    with pytest.raises(ArchitectureError, match=f"conv9: {field} must be a whole number"):
        Conv("conv9", **{field: (3, value)})


def test_the_message_gives_the_fix():
    with pytest.raises(ArchitectureError) as err:
        Conv("conv1", kernel=5.0)
    assert (
        str(err.value)
        == "conv1: kernel must be a whole number, got 5.0 (a float): use an int such as kernel=3 (write 5)"
    )
    with pytest.raises(ArchitectureError, match=r"got '3' \(a str\).*\(write 3 without quotes\)"):
        Conv("conv1", stride="3")


def test_other_fields_are_checked_too():
    for make, words in [
        (lambda: Conv("c", out_channels=6.5), "out_channels must be a whole number"),
        (lambda: Conv("c", groups=None), "groups must be a whole number"),
        (lambda: Conv("c", bias=1), "bias must be True or False"),
        (lambda: Pool("p", ceil_mode=1), "ceil_mode must be True or False"),
        (lambda: Pool("p", ceil_mode="False"), "ceil_mode must be True or False"),
        (lambda: Linear("fc", out_features="10"), "out_features must be a whole number"),
        (lambda: AdaptivePool("a", output=(6, 6.5)), "output must be a whole number"),
        (lambda: Dropout("d", p=1.5), "p must be a number from 0 to 1"),
        (lambda: Conv("c", kernel=(3, 3, 3)), "kernel must be an int or a pair"),
    ]:
        with pytest.raises(ArchitectureError, match=words):
            make()


def test_numpy_integers_are_whole_numbers():
    np = pytest.importorskip("numpy")
    assert Conv("c", kernel=np.int64(5)).kernel == 5
    assert pair((np.int32(3), 5)) == (3, 5)


@pytest.mark.parametrize("table", [((0, 0), (1,)), ((0, 1), (2, 1, 2))])
def test_a_connection_table_may_not_list_a_map_twice(table):
    with pytest.raises(ArchitectureError, match=r"C3: connection table row \d .* lists input map \d twice"):
        Conv("C3", out_channels=2, table=table)


def test_with_layer_and_with_input_refuse_bad_values_naming_the_layer():
    spec = lenet5_spec()
    with pytest.raises(ArchitectureError, match="conv1: kernel must be a whole number, got 2.5"):
        spec.with_layer("conv1", kernel=2.5)
    with pytest.raises(ArchitectureError, match="pool1: ceil_mode must be True or False"):
        spec.with_layer("pool1", ceil_mode=None)
    with pytest.raises(ArchitectureError, match="conv1: a conv layer has no setting kernal"):
        spec.with_layer("conv1", kernal=3)
    with pytest.raises(ArchitectureError, match="input: input_size must be a whole number, got nan"):
        spec.with_input(float("nan"))
    with pytest.raises(ArchitectureError, match="input: in_channels must be a whole number"):
        spec.with_input(32, channels=True)
    with pytest.raises(KeyError, match="has no layer 'conv9'"):
        spec.with_layer("conv9", kernel=3)


def test_netspec_checks_its_input_shape():
    with pytest.raises(ArchitectureError, match="input height must be a whole number, got 32.5"):
        NetSpec("n", "v", (1, 32.5, 32), ())
    with pytest.raises(ArchitectureError, match=r"input_shape must be \(channels, height, width\)"):
        NetSpec("n", "v", (32, 32), ())


def _run_without_torch(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter where ``import torch`` fails, and ``classicnets`` is only its
    folder: the package's ``__init__`` (which imports torch, a hard dependency) is not run, so what is
    imported is what layers/specs/arithmetic themselves import."""
    prelude = (
        "import sys, types\n"
        "sys.modules['torch'] = None\n"
        f"pkg = types.ModuleType('classicnets'); pkg.__path__ = [{str(PACKAGE)!r}]\n"
        "sys.modules['classicnets'] = pkg\n"
    )
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)


def test_the_arithmetic_imports_without_torch_widgets_plots_or_training():
    code = (
        "import classicnets.layers, classicnets.specs, classicnets.arithmetic\n"
        "from classicnets.arithmetic import trace\n"
        "from classicnets.specs import alexnet_spec, lenet5_spec\n"
        "assert trace(alexnet_spec()).total_params == 62378344\n"
        "assert trace(lenet5_spec('paper')).total_params == 60000\n"
        "heavy = {'torch', 'matplotlib', 'ipywidgets', 'numpy'}\n"
        "mine = {'classicnets.widgets', 'classicnets.plots', 'classicnets.train', 'classicnets.models',\n"
        "        'classicnets.data', 'classicnets.ablations'}\n"
        "loaded = {m for m in sys.modules if sys.modules[m] is not None}\n"
        "print(sorted(loaded & (heavy | mine)) or 'ok')\n"
    )
    out = _run_without_torch(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_torch_block_really_blocks():  # the check above could not pass by accident
    out = _run_without_torch("import classicnets.models\n")
    assert out.returncode != 0 and "torch" in out.stderr
