"""The chapters' widgets where readers run them: a real ``jupyter lab`` server, JupyterLab 4 and Notebook 7, Chromium.

One server (``tests/lab_server.py``) serves copies of chapters 1 and 2 to both frontends; all four pages run
all their cells at once (one kernel each), then in each frontend every widget the chapters display is moved
control by control — the keyboard on each slider (arrows, Home/End), a click on the toggle buttons, checkbox
and buttons, a choice in each dropdown — and each move must show the right numbers: the output size from the
formula (``classicnets.arithmetic``), the error message for an impossible setting, every feature map's size and
the parameter totals of the edited network (``trace``); each slider move redraws the picture exactly once, no
move more than once (convolution → max pooling draws the same picture: nothing is sent), and the cell still holds
its one output. Redraw times are printed per widget; the one-layer widget's slider moves must
redraw within :data:`LAYER_REDRAW_MS`. The server is stopped whatever happens.

Run:  pytest tests/test_widgets_in_jupyter.py -s      (-s prints the moves and the redraw times; they are also
      written to artifacts/widgets-in-jupyter.txt, with the test's phases)
"""

from __future__ import annotations

import shutil
import statistics
import time
from typing import Dict, List, Optional

import nbformat
import pytest
from conftest import ARTIFACTS, REPO
from jupyter_frontend import Move, OpenNotebook
from lab_server import running_server
from widget_moves import LayerModel, NetworkModel, layer_moves, network_moves

pytestmark = pytest.mark.browser

CHAPTERS = ("01_conv_arithmetic.ipynb", "02_lenet5_architecture.ipynb")
FRONTENDS = ("lab", "notebook")
LAYER_REDRAW_MS = 300.0
BUDGET_S = 240  # every wait in the pages ends by then; the server's start and stop are bounded on their own


def code_cells(name: str) -> int:
    nb = nbformat.read(REPO / "book" / name, as_version=4)
    return sum(c.cell_type == "code" for c in nb.cells)


def exercise(nb: OpenNotebook) -> None:
    """Every widget the notebook displays, each control moved, what it shows checked."""
    if nb.path.endswith(CHAPTERS[0]):
        layer_moves(nb, "widget = conv_layer_widget()", "widget", LayerModel(7, 3, 2, 1, 1))
        layer_moves(nb, "impossible = conv_layer_widget(", "impossible", LayerModel(3, 7, 1, 0, 1), short=True)
    else:
        network_moves(nb, 'explorer = network_explorer("lenet5")', "explorer", NetworkModel("lenet5"))
        edited = NetworkModel("lenet5", layer="conv2", kernel=3)
        network_moves(nb, 'edited = network_explorer("lenet5", layer="conv2"', "edited", edited, short=True)


class Phases:
    """Seconds since the test began at each step, for the printed report."""

    def __init__(self) -> None:
        self.start, self.marks = time.monotonic(), []

    def __call__(self, name: str) -> None:
        self.marks.append((name, time.monotonic() - self.start))

    def report(self) -> str:
        return "phases: " + ", ".join(f"{name} {t:.1f} s" for name, t in self.marks)


def report(moves: List[Move]) -> str:
    lines = [f"{'frontend':9} {'widget':11} {'control':11} {'action':12} {'ms':>5} {'draws':>5}  shows"]
    for m in moves:
        shown = " ".join(m.shown.split())[:150]
        lines.append(
            f"{m.frontend:9} {m.widget:11} {m.control:11} {m.action:12} {m.redraw_ms:5.0f} {m.redraws:5}  {shown}"
        )
    by: Dict[tuple, List[float]] = {}
    for m in moves:
        by.setdefault((m.frontend, m.widget), []).append(m.redraw_ms)
    for (frontend, widget), times in by.items():
        lines.append(
            f"redraw {frontend} {widget}: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms "
            f"over {len(times)} moves"
        )
    return "\n".join(lines)


def test_widgets_move_and_show_the_right_numbers_in_jupyterlab_and_notebook7(chromium, tmp_path):
    root = tmp_path / "root"
    for frontend in FRONTENDS:  # a copy per frontend: two sessions, two kernels, book/ never written
        (root / frontend).mkdir(parents=True)
        for name in CHAPTERS:
            shutil.copy(REPO / "book" / name, root / frontend / name)
    opened: List[OpenNotebook] = []
    phases = Phases()
    deadline = time.monotonic() + BUDGET_S
    failure: Optional[BaseException] = None
    with running_server(root, tmp_path / "state") as server:
        phases("server up")
        try:
            for frontend in FRONTENDS:
                for name in CHAPTERS:
                    opened.append(OpenNotebook(chromium, server, frontend, f"{frontend}/{name}", deadline))
            for nb in opened:
                nb.run_all()
            phases("4 pages open, run all started")
            for nb in opened:
                error = nb.wait_until_run(code_cells(nb.path.split("/")[1]))
                assert error is None, f"{nb.frontend} {nb.path}: a cell failed:\n{error}"
            phases("all cells run")
            for nb in opened:
                exercise(nb)
                phases(f"{nb.frontend} {nb.path.split('/')[1]} widgets moved")
        except BaseException as exc:  # report the moves made so far, then fail
            failure = exc
            for nb in opened:
                nb.screenshot(ARTIFACTS / "jupyter")
        finally:
            for nb in opened:
                nb.close()
    phases("server stopped")
    moves = [m for nb in opened for m in nb.moves]
    text = report(moves) + "\n" + phases.report()
    print("\n" + text)  # pytest -s shows it; under xdist it is in the artifact
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "widgets-in-jupyter.txt").write_text(text + "\n", encoding="utf-8")
    if failure:
        raise failure
    problems = [f"{nb.frontend} {nb.path}: {p}" for nb in opened for p in nb.problems]
    assert not problems, "\n".join(problems)
    sliders = ("size", "kernel", "stride", "padding", "dilation", "input_size")
    twice = [m for m in moves if m.redraws > 1 or (m.control in sliders and m.redraws != 1)]
    assert not twice, f"moves that did not redraw exactly once: {twice}"
    slow = [m for m in moves if m.widget == "widget" and m.control in sliders and m.redraw_ms > LAYER_REDRAW_MS]
    assert not slow, f"one-layer widget slower than {LAYER_REDRAW_MS} ms: {slow}"
