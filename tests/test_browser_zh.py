"""The Chinese edition of the built site (``_build/html/zh/``) in headless Chromium.

Every page of ``book/zh/_toc.yml`` loads with no console error and no request leaving the server;
formulas are typeset offline; the language switch leads to the same page in English and back; the
theme speaks Chinese; searching 卷积 and 感受野 finds the right chapters; the explorer's controls are
Chinese and it still agrees with Python. Screenshots go to ``artifacts/screenshots/zh-<page>.png``.

Run:  pytest tests/test_browser_zh.py     (builds both editions once: python book/build.py --all)
      CLASSICNETS_BOOK_BUILT=1 pytest tests/test_browser_zh.py     (trusts a fresh _build/html)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest
import yaml
from conftest import JS_RESULTS, REPO, Visit, compare_results, read_yaml, toc_pages
from test_browser import SHOTS

pytestmark = pytest.mark.browser

ZH = REPO / "book" / "zh"


def zh_toc() -> List[str]:
    toc = yaml.safe_load((ZH / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]


def zh_notebooks() -> List[str]:
    return [p for p in zh_toc() if (ZH / f"{p}.ipynb").exists()]


def test_zh_site_is_built(built_book: Path):
    for page in zh_toc():
        assert (built_book / "zh" / f"{page}.html").exists(), f"zh/{page}.html was not built"
    assert (built_book / "zh" / "index.html").exists()


@pytest.mark.parametrize("page", zh_toc())
def test_zh_page_loads_cleanly(visit, page):
    v = visit(f"zh/{page}.html")
    broken = v.broken_images()
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / f"zh-{page}.png"), full_page=True)
    assert v.page.evaluate("document.documentElement.lang") == "zh-CN"
    title = v.page.locator("main h1").first.inner_text()
    assert re.search(r"[\u4e00-\u9fff]", title), f"zh/{page}: the title {title!r} is not Chinese"
    assert not v.problems, f"zh/{page}:\n" + "\n".join(v.problems)
    assert not broken, f"zh/{page}: broken images {broken}"


def test_theme_speaks_chinese(visit):
    v = visit("zh/01_conv_arithmetic.html")
    text = v.page.locator("body").inner_text()
    for word in ("上一页", "下一页"):  # previous / next, from Sphinx's and the theme's zh_CN translations
        assert word in text, f"the theme's {word!r} is missing: is language zh_CN?"
    assert v.page.locator('button[aria-label="搜索"], [title="搜索"]').count() >= 1
    assert not v.problems, "\n".join(v.problems)


def test_zh_formulas_are_typeset_offline(visit, built_book):
    pages = [p for p in zh_toc() if 'class="math' in (built_book / "zh" / f"{p}.html").read_text()]
    assert pages, "no zh page has a formula: the check would check nothing"
    for page in pages:
        html = (built_book / "zh" / f"{page}.html").read_text()
        assert "_static/mathjax/tex-chtml.js" in html and "cdn.jsdelivr" not in html, page
        v = visit(f"zh/{page}.html")
        v.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
        v.page.evaluate("() => MathJax.startup.promise")
        counts = v.page.evaluate("""() => {
            const maths = Array.from(document.querySelectorAll('.math'));
            return {math: maths.length, typeset: maths.filter(m => m.querySelector('mjx-container')).length,
                    errors: document.querySelectorAll('mjx-merror').length};
        }""")
        assert counts["math"] > 0 and counts["typeset"] == counts["math"] and counts["errors"] == 0, (page, counts)
        assert not v.problems, f"zh/{page}:\n" + "\n".join(v.problems)


# --------------------------------------------------------------------------- the language switch


def follow_switch(v: Visit, book_url: str) -> str:
    """Click the page's language switch; return the path it led to (relative to the site)."""
    link = v.page.locator("a.language-switch")
    assert link.count() == 1, "no language switch on the page"
    with v.page.expect_navigation():
        link.click()
    v.page.wait_for_load_state("networkidle")
    return v.page.url.removeprefix(book_url + "/").split("#")[0]


@pytest.mark.parametrize("page", [p for p in zh_toc() if p != "glossary"])
def test_switch_goes_to_the_english_page_and_back(visit, book_url, page):
    v = visit(f"zh/{page}.html")
    assert v.page.locator("a.language-switch").inner_text().strip() == "English"
    english = follow_switch(v, book_url)
    assert english == f"book/{page}.html"
    assert v.page.evaluate("document.documentElement.lang") == "en"
    assert v.page.locator("a.language-switch").inner_text().strip() == "中文"
    assert follow_switch(v, book_url) == f"zh/{page}.html"
    assert not v.problems, "\n".join(v.problems)


def test_the_chinese_only_glossary_leads_to_the_english_home(visit, book_url):
    assert {f"book/{p}" for p in zh_toc()} >= set(toc_pages()), "every English page has a Chinese counterpart"
    v = visit("zh/glossary.html")  # a page only the Chinese edition has
    assert follow_switch(v, book_url) == "book/intro.html"


@pytest.mark.parametrize("page", zh_notebooks())
def test_zh_colab_button_opens_the_zh_notebook(visit, page):
    config = read_yaml("book/zh/_config.yml")
    repo = config["repository"]
    owner_repo = re.match(r"https://github\.com/([^/]+/[^/]+?)/?$", repo["url"]).group(1)
    want = f"https://colab.research.google.com/github/{owner_repo}/blob/{repo['branch']}/book/zh/{page}.ipynb"
    v = visit(f"zh/{page}.html")
    links = v.page.eval_on_selector_all('a[href^="https://colab.research.google.com"]', "els => els.map(e => e.href)")
    assert links == [want]


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("query, chapter", [("卷积", "01_conv_arithmetic"), ("感受野", "01_conv_arithmetic")])
def test_chinese_search_finds_the_chapter(visit, query, chapter):
    v = visit(f"zh/search.html?q={query}")
    v.page.wait_for_selector("#search-results ul.search li", timeout=15000)
    hrefs = v.page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.getAttribute('href'))")
    assert any(h.split("?")[0].split("#")[0].endswith(f"{chapter}.html") for h in hrefs), (query, hrefs)
    assert not v.problems, "\n".join(v.problems)


# --------------------------------------------------------------------------- the explorer


def test_zh_explorer_is_chinese_and_redraws(visit):
    from classicnets.arithmetic import trace
    from classicnets.specs import lenet5_spec

    v = visit("zh/explorer.html")
    root = v.page.locator(".cnx-root").first
    root.wait_for()
    assert root.locator("button.cnx-reset").inner_text().strip() == "重置"
    assert root.locator(".cnx-header label").first.inner_text().startswith("网络")
    assert root.locator(".cnx-head span").all_inner_texts() == ["层", "核大小", "步幅", "填充"]
    assert root.locator("table.cnx-table th").all_inner_texts()[:4] == ["层", "类型", "细节", "输出"]
    assert "柱子" in root.locator(".cnx-caption").inner_text()

    slider = root.locator('[data-layer="conv1"][data-field="kernel"] input[type="range"]')
    slider.focus()
    v.page.keyboard.press("ArrowRight")  # kernel 5 -> 6
    after = trace(lenet5_spec("blog").with_layer("conv1", kernel=6))
    cells = root.locator('table.cnx-table tr[data-layer="conv1"] td').all_inner_texts()
    assert cells[3] == "×".join(map(str, after.row("conv1").out_shape))
    assert f"参数 {after.total_params:,} 个" in root.locator(".cnx-totals").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    v.page.screenshot(path=str(SHOTS / "zh-explorer-slider.png"), full_page=True)
    assert not v.problems, "\n".join(v.problems)


def test_zh_explorer_matches_python(visit, explorer_cases):
    v = visit("zh/explorer.html")
    v.page.wait_for_function("() => window.classicnetsExplorer && window.classicnetsExplorer.traceResult")
    got = v.page.evaluate(JS_RESULTS, [{"spec": c["spec"]} for c in explorer_cases])
    problems = compare_results(explorer_cases, got)
    assert not problems, f"{len(problems)} of {len(explorer_cases)} differ:\n" + "\n".join(problems[:15])
    assert not v.problems, "\n".join(v.problems)
