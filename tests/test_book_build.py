"""The book's configuration: _config.yml and _toc.yml (fast; the build itself runs in test_browser.py)."""

from __future__ import annotations

import re

from conftest import REPO, is_notebook, read_yaml, toc_pages

PARTS = {
    "LeNet5": [
        "book/01_conv_arithmetic",
        "book/02_lenet5_architecture",
        "book/03_lenet5_training",
        "book/lenet5_inside",
        "book/lenet5_train_in_browser",
    ],
    "AlexNet": [
        "book/04_alexnet_architecture",
        "book/05_alexnet_ingredients",
        "book/06_alexnet_training",
        "book/07_alexnet_two_devices",
    ],
    "Both networks": ["book/08_gpu_timing", "book/explorer"],
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_toc_lists_the_chapters_in_their_parts():
    toc = read_yaml("_toc.yml")
    assert toc["format"] == "jb-book"
    assert toc["root"] == "book/intro"
    parts = {part["caption"]: [c["file"] for c in part["chapters"]] for part in toc["parts"]}
    assert parts == PARTS
    assert list(parts) == list(PARTS)


def test_every_toc_file_exists():
    missing = [p for p in toc_pages() if not any((REPO / f"{p}{ext}").exists() for ext in (".ipynb", ".md"))]
    assert not missing, f"in _toc.yml but not in the repository: {missing}"


def test_every_page_in_book_is_in_the_toc():
    listed = set(toc_pages())
    pages = {f"book/{p.stem}" for p in (REPO / "book").glob("*") if p.suffix in (".ipynb", ".md")}
    assert not pages - listed, f"pages of book/ missing from _toc.yml: {sorted(pages - listed)}"


def test_config_title_execution_and_repository():
    config = read_yaml("_config.yml")
    assert config["title"] == "classicnets: LeNet5 and AlexNet, by running them"
    assert config["author"]
    execute = config["execute"]
    assert execute["execute_notebooks"] == "cache"
    assert execute["timeout"] >= 300
    assert execute["allow_errors"] is False
    repo = config["repository"]
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo["url"])
    assert repo["url"] == "https://github.com/classicnets/classicnets"
    assert repo["branch"] == "main"
    assert repo["path_to_book"] == ""


def test_launch_download_and_repository_buttons():
    config = read_yaml("_config.yml")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["html"]["use_repository_button"] is True
    sphinx = config["sphinx"]
    assert sphinx["recursive_update"] is True  # merge html_theme_options instead of replacing them
    assert sphinx["config"]["html_theme"] == "sphinx_book_theme"
    assert sphinx["config"]["html_theme_options"]["use_download_button"] is True


def test_only_book_pages_are_built():
    config = read_yaml("_config.yml")
    assert config["only_build_toc_files"] is True
    excluded = set(config["exclude_patterns"])
    for path in ("README.md", "docs", "tests", "benchmarks", "classicnets", "artifacts", ".venv*"):
        assert path in excluded, path


def test_widgets_render_as_pictures_without_a_cdn():
    """No ipywidgets JavaScript; image/png and text/html beat the widget view in HTML builds."""
    from myst_nb.core.render import get_mime_priority

    config = read_yaml("_config.yml")["sphinx"]["config"]
    assert config["nb_ipywidgets_js"] == {}
    assert config["nb_render_markdown_format"] == "myst"  # Markdown(trace(...).table()) renders as a table
    overrides = [tuple(o) for o in config["nb_mime_priority_overrides"]]
    for builder in ("html", "dirhtml", "singlehtml"):
        order = get_mime_priority(builder, overrides)
        assert order.index("image/png") < order.index(WIDGET_VIEW), builder
        assert order.index("text/html") < order.index(WIDGET_VIEW), builder
        assert order.index(WIDGET_VIEW) < order.index("text/plain"), builder


def test_notebook_pages_are_detected():
    # the explorer is a notebook, so it gets a Colab link like the chapters
    assert is_notebook("book/explorer")
    assert not is_notebook("book/intro")
