"""One notebook open in a real Jupyter frontend (JupyterLab 4 or Notebook 7) in Chromium, for browser tests.

:class:`OpenNotebook` opens a notebook of a :class:`~lab_server.Server`, runs all its cells from the Run
menu (the same menu and command in both frontends), finds a cell by its code and moves a widget's controls
there the way a reader does: the keyboard on a slider, a click on a button, a choice in a dropdown. Every
wait is on a condition in the page, bounded by a timeout; nothing sleeps.

A move (:meth:`OpenNotebook.move`) is timed in the page: from the reader's action (a keydown, click or change
event, seen first on ``window``) to the widget's last change once the kernel is idle again (its ``cn-*`` read-outs
and picture, ``img.cn-picture``); the number of picture changes it caused is read too (a move redraws once).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from lab_server import Server

RUN_TIMEOUT_MS = 90_000
WAIT_MS = 15_000
# Notebook 7.6 throws these from its own code on opening a notebook, with no cell run and no widget: its
# keyboard-shortcut settings plugin reads the schema of a plugin it does not hold, and a command of JupyterLab's
# file browser, which Notebook's notebook page does not load, is called. Not a widget matter.
KNOWN_PAGE_ERRORS = re.compile(
    r"(Cannot read properties of undefined \(reading 'schema'\)|Command 'filebrowser:open-path' not registered\.)"
    r" \(at at [^)]*?/static/notebook/"
)
WIDGET_ERRORS = re.compile(r"Error displaying widget|model not found|Failed to load model class", re.I)

# In every page: when the reader last acted (keydown/click/change, capture phase on window), and each
# picture change since, per watched <img>.
RECORDER = """
window.cnAction = null;
for (const type of ["keydown", "click", "change"]) {
  window.addEventListener(type, () => { window.cnAction = performance.now(); }, true);
}
window.cnWatch = (root) => {  // the widget's read-outs and picture (its cn-* parts), not its controls
  if (root.cnMutations) return;
  root.cnMutations = [];
  const img = root.querySelector("img.cn-picture");
  img.cnChanges = [];
  new MutationObserver(() => img.cnChanges.push(performance.now()))
    .observe(img, {attributes: true, attributeFilter: ["src"]});
  const seen = new MutationObserver(() => root.cnMutations.push(performance.now()));
  for (const part of root.querySelectorAll('[class*="cn-"]')) {
    seen.observe(part, {attributes: true, childList: true, subtree: true, characterData: true});
  }
};
window.cnReset = (root) => {
  root.cnMutations.length = 0;
  root.querySelector("img.cn-picture").cnChanges.length = 0;
  window.cnAction = null;
};
// the dropdowns' choices and the read-outs, as one line
window.cnDescribe = (root) => [...root.querySelectorAll("select")].map((e) => e.value)
  .concat([...root.querySelectorAll('[class*="cn-"]:not(img)')].map((e) => e.innerText.trim()))
  .filter(Boolean).join(" | ");
// [the action's time, the widget's last change, how many times the picture changed, what it shows]
window.cnRead = (root) => [window.cnAction, Math.max(...root.cnMutations),
  root.querySelector("img.cn-picture").cnChanges.length, window.cnDescribe(root)];
"""
IDLE = (
    "() => [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')].some((e) => e.dataset.status === 'idle')"
)

# A kernel started and idle: its name in the notebook's toolbar, its status idle.
READY = f"""() => [...document.querySelectorAll('.jp-Toolbar-kernelName')].some((e) => /Python/.test(e.innerText))
    && ({IDLE})()"""


@dataclass
class Move:
    """What one move did: the frontend, the widget, the control and action, the redraw time and count."""

    frontend: str
    widget: str
    control: str
    action: str
    shown: str
    redraw_ms: float
    redraws: int


def page_address(server: Server, frontend: str, path: str) -> str:
    """JupyterLab (its own workspace per page, so two pages do not share a layout) or Notebook 7."""
    if frontend == "lab":
        return server.page(f"lab/workspaces/{re.sub(r'[^a-z0-9]', '', path.lower())}/tree/{path}")
    return server.page(f"notebooks/{path}")


class OpenNotebook:
    """A notebook open in ``frontend`` (``"lab"``, ``"notebook"``) in a fresh context; ``problems`` lists
    console errors, page errors, failed requests and requests outside the server."""

    def __init__(self, browser, server: Server, frontend: str, path: str, deadline: float) -> None:
        self.frontend, self.path, self.server, self.deadline = frontend, path, server, deadline
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.context.set_default_timeout(WAIT_MS)  # every click, key press and choice
        self.page = self.context.new_page()
        self.problems: List[str] = []
        self.moves: List[Move] = []
        page = self.page
        page.add_init_script(RECORDER)
        page.on("console", self._console)
        page.on("pageerror", self._page_error)
        page.on("response", self._response)
        page.route(lambda url: not url.startswith(server.url), self._outside)
        page.goto(page_address(server, frontend, path), wait_until="commit")

    def _console(self, message) -> None:
        # a failed resource is reported by _response, with its address
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console error: {message.text}")

    def _page_error(self, error) -> None:
        where = " / ".join(line.strip() for line in (error.stack or "").splitlines()[1:4])
        problem = f"page error: {error} (at {where})"
        if not (self.frontend == "notebook" and KNOWN_PAGE_ERRORS.search(problem)):
            self.problems.append(problem)

    def _response(self, response) -> None:
        # JupyterLab's and Notebook's builds here ask for web fonts their static folders do not hold (the server
        # answers 403 "not in root static directory"): text falls back to other fonts, not a widget matter.
        if response.status >= 400 and not re.search(r"/static/\w+/\w+\.woff2?$", response.url.split("?")[0]):
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _outside(self, route) -> None:
        self.problems.append(f"request outside the server: {route.request.url}")
        route.abort()

    def ms(self, longest: int) -> int:
        """A wait's timeout: ``longest`` ms, or what is left before the test's ``deadline`` (``time.monotonic``)."""
        return max(1, min(longest, round(1000 * (self.deadline - time.monotonic()))))

    # -- running
    def run_all(self) -> None:
        """Wait for the notebook and its kernel, then Run ▸ Run All Cells."""
        self.page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=self.ms(RUN_TIMEOUT_MS))
        # Under load the kernel specs can come after the notebook: the frontend then asks for a kernel, the one the
        # notebook names already selected, as it asks a reader.
        dialog = ".jp-Dialog .jp-mod-accept"
        self.page.wait_for_function(
            f"() => ({READY})() || document.querySelector('{dialog}')", timeout=self.ms(RUN_TIMEOUT_MS)
        )
        if self.page.locator(dialog).count():
            self.page.locator(dialog).click()
            self.page.wait_for_function(READY, timeout=self.ms(RUN_TIMEOUT_MS))
        self.page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        self.page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

    def wait_until_run(self, code_cells: int) -> Optional[str]:
        """Wait until every code cell has its execution number (or one shows an error); the error's text, or
        ``None`` when all ran."""
        try:
            self._wait_run(code_cells)
        except Exception as exc:
            raise AssertionError(f"{self.frontend} {self.path}: not all cells ran; prompts {self.prompts()}") from exc
        error = self.page.locator('[data-mime-type="application/vnd.jupyter.error"]')
        return error.first.inner_text() if error.count() else None

    def prompts(self) -> str:
        return " ".join(self.page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts())

    def _wait_run(self, code_cells: int) -> None:
        self.page.wait_for_function(
            """(n) => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                const done = prompts.filter((p) => /\\[\\d+\\]/.test(p.textContent)).length;
                return done === n || document.querySelector('[data-mime-type="application/vnd.jupyter.error"]');
            }""",
            arg=code_cells,
            timeout=self.ms(RUN_TIMEOUT_MS),
        )
        self.page.wait_for_function(IDLE, timeout=self.ms(WAIT_MS))

    def cell(self, code: str):
        """The code cell whose source contains ``code``."""
        cells = self.page.locator(".jp-CodeCell").filter(has=self.page.locator(".cm-content", has_text=code))
        assert cells.count() == 1, f"{self.path}: {cells.count()} cells hold {code!r}"
        return cells.first

    def widget(self, code: str, root: str):
        """The widget (CSS class ``root``) that the cell holding ``code`` displays, rendered and watched."""
        cell = self.cell(code)
        widget = cell.locator(f".jp-OutputArea-output .{root}")
        widget.wait_for(state="visible", timeout=self.ms(WAIT_MS))
        widget.evaluate("(root) => window.cnWatch(root)")
        return widget

    def outputs(self, code: str) -> List[str]:
        """What the outputs of the cell holding ``code`` are (a widget view, a stream, ...): one entry each."""
        return (
            self.cell(code)
            .locator(".jp-OutputArea-child .jp-OutputArea-output")
            .evaluate_all(
                "(outs) => outs.map((o) => o.dataset.mimeType || o.firstElementChild?.className || o.className)"
            )
        )

    def widget_errors(self) -> List[str]:
        text = self.page.locator(".jp-Notebook").inner_text()
        return [line for line in text.splitlines() if WIDGET_ERRORS.search(line)]

    # -- moving a control
    def move(self, widget, name: str, control: str, action: str, act: Callable, shown: Callable, redraw=True) -> Move:
        """Do ``act()`` (the reader's action on ``control``), wait until the widget's read-outs changed, ``shown()``
        (a JavaScript condition over the widget's root, as a string) holds, the picture changed (unless not
        ``redraw``: a change that leaves it as it was, whose ``shown()`` must then name the last read-out the
        kernel writes); record the move: the time from the action to the widget's last change, and how many
        times the picture changed. (The frontends' kernel-status indicators follow executions, not widget
        messages, so the picture, written last by every update, says when the kernel's answer is in.)"""
        widget.evaluate("(root) => window.cnReset(root)")
        act()
        picture = "root.querySelector('img.cn-picture').cnChanges.length > 0" if redraw else "true"
        condition = f"(root) => root.cnMutations.length > 0 && {picture} && ({shown()})"
        try:
            self.page.wait_for_function(condition, arg=widget.element_handle(), timeout=self.ms(WAIT_MS))
        except Exception as exc:  # say what the widget showed instead
            raise AssertionError(f"{self.frontend} {name}: {control} {action}: {self.describe(widget)}") from exc
        start, last, redraws, shows = widget.evaluate("(root) => window.cnRead(root)")
        move = Move(self.frontend, name, control, action, shows, last - start, redraws)
        self.moves.append(move)
        return move

    @staticmethod
    def describe(widget) -> str:
        """The widget's read-outs as one line of text."""
        return widget.evaluate("(root) => window.cnDescribe(root)")

    def screenshot(self, folder) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / f"{self.path.replace('/', '-')}.png"))

    def close(self) -> None:
        self.context.close()
