"""The rendered book in a real browser (headless Debian Chromium through Playwright).

Every page of ``_toc.yml`` loads with no console error, no failed request and no broken image;
notebook pages carry a well-formed Colab link and a download link; widget pages show a
picture; search works; the kernel-free explorer gives exactly Python's numbers and messages and
reacts to its sliders. A screenshot of each page goes to ``artifacts/screenshots/<page>.png``.

Run:  pytest -m browser            (builds the book once: jupyter-book build . -W -n --keep-going --all)
      CLASSICNETS_BOOK_BUILT=1 pytest -m browser     (trusts a fresh _build/html)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List

import pytest
from conftest import ARTIFACTS, JS_RESULTS, REPO, compare_results, read_yaml, toc_pages

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "screenshots"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Every request that leaves the local server is a failure: the book needs no CDN (MathJax too is
# served from _static/mathjax/, by book/_ext/offline_mathjax.py).


def shot_name(page: str) -> str:
    return Path(page).name


def explorer_page() -> str:
    pages = [p for p in toc_pages() if Path(p).name == "explorer"]
    assert pages, "_toc.yml lists no explorer page"
    return pages[0]


def expected_colab_url(page: str) -> str:
    config = read_yaml("_config.yml")
    repo = config["repository"]
    owner_repo = re.match(r"https://github\.com/([^/]+/[^/]+?)/?$", repo["url"]).group(1)
    book = (repo.get("path_to_book") or "").strip("/")
    path = f"{book}/{page}.ipynb" if book else f"{page}.ipynb"
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    return f"{colab}/github/{owner_repo}/blob/{repo['branch']}/{path}"


# --------------------------------------------------------------------------- every page


def test_book_builds_without_warnings(built_book):
    """The session fixture ran jupyter-book build -W -n --keep-going and found no warning."""
    assert (built_book / "index.html").exists()
    for page in toc_pages():
        assert (built_book / f"{page}.html").exists(), f"{page} is in _toc.yml but was not built"


def test_page_loads_cleanly(visit, toc_page):
    v = visit(f"{toc_page}.html")
    broken = v.broken_images()
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / f"{shot_name(toc_page)}.png"), full_page=True)
    assert v.page.locator("main h1").count() >= 1, "the page has no title"
    assert not v.problems, f"{toc_page}:\n" + "\n".join(v.problems)
    assert not broken, f"{toc_page}: broken images {broken}"


def test_formulas_are_typeset_offline(visit, built_book):
    """Every page with math gets MathJax from the book itself and typesets every formula:
    no raw TeX left, each .math element holds MathJax's output, and no request leaves the server."""
    pages = [p for p in toc_pages() if 'class="math' in (built_book / f"{p}.html").read_text()]
    assert pages, "no page has a formula: the check would check nothing"
    for page in pages:
        html = (built_book / f"{page}.html").read_text()
        assert "_static/mathjax/tex-chtml.js" in html and "cdn.jsdelivr" not in html, page
        v = visit(f"{page}.html")
        v.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
        v.page.evaluate("() => MathJax.startup.promise")
        counts = v.page.evaluate("""() => {
            const maths = Array.from(document.querySelectorAll('.math'));
            return {math: maths.length, typeset: maths.filter(m => m.querySelector('mjx-container')).length,
                    errors: document.querySelectorAll('mjx-merror').length};
        }""")
        assert counts["math"] > 0 and counts["typeset"] == counts["math"], f"{page}: {counts}"
        assert counts["errors"] == 0, f"{page}: {counts['errors']} formulas MathJax could not parse"
        assert not v.problems, f"{page}:\n" + "\n".join(v.problems)


def test_notebook_page_has_colab_and_download_links(visit, notebook_page, book_url):
    v = visit(f"{notebook_page}.html")
    want = expected_colab_url(notebook_page)
    assert re.fullmatch(
        r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w./-]+/[\w./-]+\.ipynb", want
    ), want
    links = v.page.eval_on_selector_all('a[href^="https://colab.research.google.com"]', "els => els.map(e => e.href)")
    assert links == [want], f"{notebook_page}: Colab links {links}, expected [{want!r}]"
    downloads = v.page.eval_on_selector_all('a[href$=".ipynb"]', "els => els.map(e => e.href)")
    local = [u for u in downloads if u.startswith(book_url)]
    assert local, f"{notebook_page}: no .ipynb download link"
    response = v.page.request.get(local[0])
    assert response.status == 200
    assert json.loads(response.body())["nbformat"] == 4


TQDM_METER = re.compile(r"\d+/\d+ \[")  # "0/469 [00:00<?, ?batch/s]"


def executed_outputs(built_book: Path, page: str):
    """The outputs the build gave ``page``'s notebook (from jupyter-cache, else _build/jupyter_execute)."""
    import nbformat

    source = REPO / f"{page}.ipynb"
    cache = built_book.parent / ".jupyter_cache"
    nb = None
    if cache.exists() and source.exists():
        from jupyter_cache import get_cache

        try:
            _, nb = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(source, as_version=4))
        except KeyError:
            nb = None
    if nb is None:
        executed = built_book.parent / "jupyter_execute" / f"{page}.ipynb"
        if not executed.exists():
            return []
        nb = nbformat.read(executed, as_version=4)
    return [(i, out) for i, cell in enumerate(nb.cells) for out in cell.get("outputs", [])]


def test_widget_page_shows_its_picture(visit, notebook_page, built_book):
    """A widget's _repr_mimebundle_ puts a PNG of its default picture next to the widget view;
    the book shows that picture (Jupyter and Colab show the live widget)."""
    views = [
        (i, out["data"]) for i, out in executed_outputs(built_book, notebook_page) if WIDGET_VIEW in out.get("data", {})
    ]
    # tqdm.auto progress bars are widgets too: live in Jupyter/Colab, invisible in the static book,
    # where fit() prints a line per epoch instead; they are not pictures to show
    is_bar = [bool(TQDM_METER.search(str(data.get("text/plain", "")))) for _, data in views]
    bars = [view for view, bar in zip(views, is_bar) if bar]
    widgets = [view for view, bar in zip(views, is_bar) if not bar]
    lacking = [i for i, data in widgets if not ({"image/png", "text/html"} & set(data))]
    assert not lacking, (
        f"{notebook_page}: the widgets displayed by cells {lacking} have no image/png next to their "
        "widget view: make their _repr_mimebundle_ add a PNG of the default picture"
    )
    html = (built_book / f"{notebook_page}.html").read_text(encoding="utf-8")
    if not widgets and "application/vnd.jupyter.widget-state+json" not in html:
        pytest.skip(f"{notebook_page} displays no widget")
    v = visit(f"{notebook_page}.html")
    frozen = v.page.locator(f'script[type="{WIDGET_VIEW}"]').count() - len(bars)
    assert frozen <= 0, f"{notebook_page}: {frozen} widget(s) shown as an empty widget view, without a picture"
    pictures = v.page.evaluate(
        """() => Array.from(document.querySelectorAll(".cell_output img"))
                  .filter((img) => img.complete && img.naturalWidth > 0).length"""
    )
    with_png = max(1, sum("image/png" in data for _, data in widgets))
    assert pictures >= with_png, f"{notebook_page}: {pictures} pictures shown for {with_png} widgets"
    assert not v.problems, "\n".join(v.problems)


def test_search_finds_the_networks(visit):
    v = visit("search.html?q=LeNet5")
    v.page.wait_for_selector("#search-results ul.search li", timeout=15000)
    assert v.page.locator("#search-results ul.search li").count() >= 1
    assert not v.problems, "\n".join(v.problems)


# --------------------------------------------------------------------------- the explorer


def test_explorer_matches_python(visit, explorer_cases):
    """≥ 500 random edits (possible and impossible) of both networks: same numbers, same messages."""
    v = visit(f"{explorer_page()}.html")
    v.page.wait_for_function("() => window.classicnetsExplorer && window.classicnetsExplorer.traceResult")
    got = v.page.evaluate(JS_RESULTS, [{"spec": c["spec"]} for c in explorer_cases])
    problems = compare_results(explorer_cases, got)
    assert not problems, f"{len(problems)} of {len(explorer_cases)} differ:\n" + "\n".join(problems[:15])
    assert not v.problems, "\n".join(v.problems)


def _cells(root, layer: str) -> List[str]:
    return root.locator(f'table.cnx-table tr[data-layer="{layer}"] td').all_inner_texts()


def test_explorer_slider_redraws(visit):
    from classicnets.arithmetic import trace
    from classicnets.specs import lenet5_spec

    v = visit(f"{explorer_page()}.html")
    root = v.page.locator(".cnx-root").first
    root.wait_for()
    assert root.locator("select.cnx-net").input_value() == "lenet5/blog"
    before = trace(lenet5_spec("blog"))
    assert _cells(root, "conv1")[3] == "×".join(map(str, before.row("conv1").out_shape))

    slider = root.locator('[data-layer="conv1"][data-field="kernel"] input[type="range"]')
    slider.focus()
    v.page.keyboard.press("ArrowRight")  # kernel 5 -> 6, as a reader's keyboard or mouse would
    after = trace(lenet5_spec("blog").with_layer("conv1", kernel=6))
    assert root.locator('[data-layer="conv1"][data-field="kernel"] input[type="number"]').input_value() == "6"
    assert _cells(root, "conv1")[3] == "×".join(map(str, after.row("conv1").out_shape))
    assert _cells(root, "fc1")[2] == after.row("fc1").detail
    assert _cells(root, "fc1")[4] == f"{after.row('fc1').params:,}"
    assert f"{after.total_params:,} parameters" in root.locator(".cnx-totals").inner_text()
    bar = root.locator('svg.cnx-chart g[data-layer="conv1"] .cnx-bar-value')
    assert bar.text_content() == "×".join(map(str, after.row("conv1").out_shape))
    assert root.get_attribute("data-state") == "ok"

    size = root.locator('[data-layer="input"][data-field="size"] input[type="range"]')
    size.focus()
    v.page.keyboard.press("ArrowRight")  # input 32 -> 33
    bigger = trace(lenet5_spec("blog").with_layer("conv1", kernel=6).with_input(33))
    assert _cells(root, "pool2")[3] == "×".join(map(str, bigger.row("pool2").out_shape))
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "explorer-slider.png"), full_page=True)
    assert not v.problems, "\n".join(v.problems)


@pytest.mark.parametrize(
    "key, layer, field, value",
    [
        ("lenet5/blog", "conv2", "kernel", 17),  # kernel larger than its input
        ("lenet5/paper", "input", "size", 28),  # MNIST-sized images break C5
        ("alexnet/blog", "pool1", "padding", 2),  # pooling padding over half the kernel
        ("alexnet/paper", "conv3", "stride", 0),  # a zero stride
    ],
)
def test_explorer_shows_impossible_setting(visit, key, layer, field, value):
    from classicnets.arithmetic import ArchitectureError, trace
    from classicnets.specs import all_specs

    spec = all_specs()[key]
    edited = spec.with_input(value) if layer == "input" else spec.with_layer(layer, **{field: value})
    with pytest.raises(ArchitectureError) as raised:
        trace(edited)
    expected = str(raised.value)

    v = visit(f"{explorer_page()}.html")
    root = v.page.locator(".cnx-root").first
    root.wait_for()
    root.locator("select.cnx-net").select_option(key)
    box = root.locator(f'[data-layer="{layer}"][data-field="{field}"] input[type="number"]')
    box.fill(str(value))
    box.press("Enter")
    message = root.locator(".cnx-message")
    assert message.inner_text().strip() == expected
    assert root.get_attribute("data-state") == "error"
    failed = raised.value.layer
    assert root.locator(f'table.cnx-table tr.cnx-failed[data-layer="{failed}"]').count() == 1
    assert root.locator(f'svg.cnx-chart g.cnx-bar-failed[data-layer="{failed}"]').count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / f"explorer-error-{key.replace('/', '-')}.png"), full_page=True)

    original = spec.input_shape[1] if layer == "input" else getattr(spec.layer(layer), field)
    box.fill(str(original))
    box.press("Enter")
    assert root.get_attribute("data-state") == "ok"
    assert message.inner_text().strip() == ""
    assert not v.problems, "\n".join(v.problems)
