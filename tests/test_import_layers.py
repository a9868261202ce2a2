"""The package is layered one way: every import inside ``classicnets`` goes down (or sideways), never up, no circles.

``LAYERS`` below is the one statement of the order (docs/CONTRIBUTING.md points here). A module may import from
its own floor or any floor below; the test reads every ``import`` statement of every module with ``ast``, the
ones inside functions included (a deferred import is still a dependency), and fails on

* an import from a lower floor to a higher one, naming both modules and their floors;
* a circle among the modules, printed as the path round it;
* a module no floor names (a new module must be placed);
* a module inside the package importing the package's facade ``classicnets/__init__.py``.

The arithmetic floors are also imported for real in a fresh interpreter where ``import torch`` fails, to show
they run without torch, numpy or matplotlib.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "classicnets"

#: Floors, lowest first. A sub-package (``models``, ``distributed``) is one entry.
LAYERS: List[tuple] = [
    ("foundations", {"_version", "layers", "facts", "atomic", "device_sync"}),
    ("arithmetic: plain Python, no torch", {"arithmetic", "specs", "cost"}),
    ("records: plain data, no loop, no plots", {"records", "timing_results", "history", "training_records"}),
    ("torch adaptor and models", {"from_torch", "models"}),
    ("data and the training loop", {"data", "train", "fit_checks", "optimizers"}),
    ("pictures", {"plots", "arithmetic_plots", "drawing", "record_plots"}),
    (
        "the chapters' machinery",
        {
            "ablations",
            "alexnet_training",
            "bench",
            "blog_bugs",
            "browser_train",
            "distributed",
            "explorer",
            "export",
            "layer_widget",
            "live",
            "network_widget",
            "picture_widget",
            "slider_keys",
            "widgets",
        },
    ),
]
TORCH_FREE = sorted(LAYERS[0][1] - {"device_sync"} | LAYERS[1][1] | LAYERS[2][1])


def floor_of(unit: str) -> Optional[int]:
    return next((i for i, (_, units) in enumerate(LAYERS) if unit in units), None)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> Set[str]:
    """Every classicnets module ``path`` imports (absolute names), wherever the statement stands."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "classicnets"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "classicnets":
                continue
            for alias in node.names:  # `from . import records` imports a module; `from .x import f` imports x
                sub = f"{target}.{alias.name}"
                found.add(sub if module_file(sub) else target)
    return found - {me}


def module_file(name: str) -> Optional[Path]:
    rel = Path(*name.split(".")[1:])
    for candidate in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def graph() -> Dict[str, Set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def unit_of(module: str) -> str:
    """``classicnets.models.build`` -> ``models``; the facade ``classicnets`` -> ``""``."""
    return module.split(".")[1] if "." in module else ""


def test_every_module_has_a_floor():
    unplaced = sorted({unit_of(m) for m in graph() if unit_of(m) and floor_of(unit_of(m)) is None})
    assert not unplaced, f"place these modules on a floor of LAYERS in {__file__}: {unplaced}"


def test_imports_go_down_never_up():
    bad = []
    for module, targets in graph().items():
        here = unit_of(module)
        for target in sorted(targets):
            there = unit_of(target)
            if not there:
                if here:
                    bad.append(f"{module} imports the package facade classicnets/__init__.py")
                continue
            if here and here != there and (floor_of(there) or 0) > (floor_of(here) or 0):
                bad.append(
                    f"{module} (floor {floor_of(here)}, {LAYERS[floor_of(here)][0]}) imports {target} "
                    f"(floor {floor_of(there)}, {LAYERS[floor_of(there)][0]})"
                )
    assert not bad, "imports that go up:\n" + "\n".join(bad)


def find_circle(g: Dict[str, Set[str]]) -> Optional[List[str]]:
    state: Dict[str, int] = {}  # 1 on the current path, 2 done
    path: List[str] = []

    def visit(m: str) -> Optional[List[str]]:
        state[m] = 1
        path.append(m)
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                return path[path.index(t) :] + [t]
            if t not in state and (found := visit(t)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_circles():
    circle = find_circle(graph())
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_checks_can_fail():  # the walk sees deferred and relative imports, and finds a planted circle
    assert "classicnets.models" in imports_of(PACKAGE / "network_widget.py")  # imported inside a function there
    assert "classicnets.distributed.launch" in imports_of(PACKAGE / "distributed" / "split.py")
    assert "classicnets.cost" in imports_of(PACKAGE / "distributed" / "split.py")  # `from ..cost import`
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("unit", TORCH_FREE)
def test_the_plain_python_floors_import_without_torch(unit):
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # import torch fails\n"
        f"import classicnets.{unit}\n"
        "heavy = {'torch', 'numpy', 'matplotlib', 'ipywidgets'} & {m for m, v in sys.modules.items() if v}\n"
        "print(sorted(heavy) or 'ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
