"""The plain LeNet5 and AlexNet that chapters 2 and 4 show run when pasted alone into an empty file (issue 18).

The text a chapter shows is the output of one of its code cells (``Code(inspect.getsource(...))``). The test finds
that cell in the notebook, evaluates it as the page does, takes the text it displays — exactly that — and runs it
in a fresh interpreter: ``python -I`` (no PYTHONPATH, no user site, no current directory on the path), from an
empty temporary folder, with ``classicnets`` made unimportable, so the shown text has to bring its own imports. The
interpreter is this one, on the oldest Python the book claims (``requires-python`` in pyproject.toml) or newer.
Fast: two subprocesses that import torch and build one model each.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap

import nbformat
import pytest
from conftest import REPO

CASES = {
    # chapter, the class the shown text must define, a forward pass the reader could add
    "02_lenet5_architecture": ("LeNet5", "LeNet5()(torch.zeros(2, 1, 32, 32))", (2, 10)),
    "04_alexnet_architecture": ("AlexNet", "AlexNet()(torch.zeros(1, 3, 227, 227))", (1, 1000)),
}


def oldest_python() -> tuple:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)"', text)
    assert m, "pyproject.toml states no requires-python lower bound"
    return int(m[1]), int(m[2])


def shown_source(chapter: str, cls: str) -> str:
    """The text the chapter displays for ``cls``: its ``Code(inspect.getsource(...))`` cell, evaluated."""
    from IPython.display import Code

    nb = nbformat.read(REPO / "book" / f"{chapter}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "inspect.getsource" in c.source and cls in c.source]
    cells = [c for c in cells if "Blog" not in c.source]
    assert len(cells) == 1, f"{chapter}: expected one code cell showing {cls}, found {len(cells)}"
    import inspect

    from classicnets import models

    namespace = {"Code": Code, "inspect": inspect, cls: getattr(models, cls)}
    tree = ast.parse(cells[0].source)
    *body, last = tree.body
    exec(compile(ast.Module(body, []), "<cell>", "exec"), namespace)
    shown = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
    assert isinstance(shown, Code), f"{chapter}: the cell shows {type(shown).__name__}, not source code"
    return shown.data


def test_the_book_claims_python_311_and_runs_on_it():
    assert oldest_python() == (3, 11)
    assert sys.version_info[:2] >= oldest_python()
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'target-version = "py311"' in text
    for page in ("book/intro.md", "book/zh/intro.md"):
        assert "3.9" not in (REPO / page).read_text(encoding="utf-8"), page


@pytest.mark.parametrize("chapter", sorted(CASES))
def test_the_shown_class_runs_alone_in_a_fresh_interpreter(chapter, tmp_path):
    cls, call, shape = CASES[chapter]
    source = shown_source(chapter, cls)
    assert re.search(rf"^class {cls}\(", source, re.M), f"{chapter}: the shown text defines no class {cls}"
    assert re.search(r"^import torch|^from torch import", source, re.M), f"{chapter}: the shown text imports no torch"
    pasted = tmp_path / "pasted.py"
    pasted.write_text(source, encoding="utf-8")
    driver = textwrap.dedent(
        f"""
        import runpy, sys
        sys.modules["classicnets"] = None  # the shown text must not need the package
        ns = runpy.run_path({str(pasted)!r})
        torch = ns["torch"] if "torch" in ns else __import__("torch")
        {cls} = ns[{cls!r}]
        with torch.no_grad():
            out = {call}
        print(tuple(out.shape))
        """
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", driver], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{chapter}: the shown text did not run alone:\n{done.stderr[-3000:]}"
    assert done.stdout.strip().splitlines()[-1] == str(shape), done.stdout
