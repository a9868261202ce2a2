"""Arrow keys on a widget slider in Notebook 7: the key moves the slider, not the notebook's cell selection.

Why: Notebook 7 (7.0 to at least 7.6) starts its application without JupyterLab's ``bubblingKeydown: true``,
so its keyboard shortcuts read every key in the *capture* phase, at ``document``, before the focused slider
handle sees it. A command-mode shortcut bound to ArrowUp/Down/Left/Right (move between cells, collapse or
expand headings) matches any focused element of the notebook, a slider handle too, then stops the event:
noUiSlider (ipywidgets' slider) never gets the key, and focus jumps to a cell. JupyterLab reads shortcuts in
the bubbling phase, after the slider has handled the key, so it is not affected.

The fix: a listener on ``window`` in the capture phase, which runs before the notebook's one on ``document``,
marks a focused ipywidgets slider handle with Lumino's ``data-lm-suppress-shortcuts`` for the keys the slider
uses (arrows, Home/End, PageUp/PageDown; unmarked for every other key, so Shift+Enter still runs a cell).
Lumino then matches no shortcut and the key reaches the slider. The listener comes with each widget as
a hidden ``Output`` holding a JavaScript display (trusted in Jupyter: the widget made it); it installs itself
once per page. Where JavaScript outputs are not run, nothing changes.
"""

from __future__ import annotations

import json

import ipywidgets as W

SLIDER_KEYS = ("ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown")

SCRIPT = """(() => {
  if (window.classicnetsSliderKeys) return;
  window.classicnetsSliderKeys = true;
  const keys = new Set(%s);
  window.addEventListener("keydown", (event) => {
    const handle = event.target;
    if (handle instanceof Element && handle.matches(".jupyter-widgets .noUi-handle")) {
      handle.toggleAttribute("data-lm-suppress-shortcuts", keys.has(event.key));
    }
  }, true);
})();""" % json.dumps(list(SLIDER_KEYS))


def slider_keys() -> W.Output:
    """A hidden ``Output`` widget whose one output is the listener (:data:`SCRIPT`) as JavaScript."""
    from IPython.display import Javascript

    out = W.Output(layout=W.Layout(display="none"))
    out.append_display_data(Javascript(SCRIPT))
    return out
