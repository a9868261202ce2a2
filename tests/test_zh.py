"""The Chinese edition (book/zh/): same code as the English book, Chinese prose, one glossary (fast; no build).

* Each zh notebook's code cells are its English notebook's code cells, cell by cell (source and
  metadata, bootstrap cell included), so a code change in one language cannot skip the other.
* Every zh page uses the glossary's term where the glossary names an alternative.
* The language switch maps pages both ways; the Pages workflow builds with the README's command.
The built site is checked in tests/test_browser_zh.py.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Dict, List

import nbformat
import pytest
from conftest import REPO, read_yaml, toc_pages

ZH = REPO / "book" / "zh"
ZH_NOTEBOOKS = sorted(ZH.glob("*.ipynb"))
HAN = re.compile(r"[\u4e00-\u9fff]")
# The terms issue 15 asks the glossary to fix (English as the glossary writes it).
REQUIRED_TERMS = {
    "卷积层": "convolutional layer",
    "卷积核": "kernel",
    "步幅": "stride",
    "填充": "padding",
    "池化": "pooling",
    "特征图": "feature map",
    "感受野": "receptive field",
    "全连接层": "fully connected layer",
    "激活函数": "activation function",
    "丢弃法": "dropout",
    "局部响应归一化": "local response normalization (LRN)",
    "过拟合": "overfitting",
    "批量大小": "batch size",
    "学习率": "learning rate",
    "数据增强": "data augmentation",
}


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


zh_sync = load_module("zh_sync", REPO / "book" / "zh_sync.py")
language_switch = load_module("language_switch", REPO / "book" / "_ext" / "language_switch.py")


def zh_toc_pages() -> List[str]:
    return sorted(language_switch.toc_pages(ZH / "_toc.yml"))


def zh_pages() -> List[Path]:
    return sorted(p for p in ZH.glob("*") if p.suffix in (".md", ".ipynb"))


def prose(path: Path) -> str:
    """The Chinese text of a page: a Markdown file, or a notebook's markdown cells."""
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    nb = nbformat.read(path, as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


# --------------------------------------------------------------------------- one code, two languages


def test_every_zh_notebook_has_an_english_one():
    assert ZH_NOTEBOOKS, "book/zh/ holds no notebook"
    for path in ZH_NOTEBOOKS:
        assert (REPO / "book" / path.name).exists(), f"book/zh/{path.name} has no English book/{path.name}"


@pytest.mark.parametrize("path", ZH_NOTEBOOKS, ids=lambda p: p.name)
def test_code_cells_are_the_english_ones(path: Path):
    zh = nbformat.read(path, as_version=4)
    en = nbformat.read(REPO / "book" / path.name, as_version=4)
    ours = [c for c in zh.cells if c.cell_type == "code"]
    theirs = [c for c in en.cells if c.cell_type == "code"]
    assert len(ours) == len(theirs), (
        f"book/zh/{path.name}: {len(ours)} code cells, book/{path.name}: {len(theirs)} (python book/zh_sync.py)"
    )
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.source == b.source, f"book/zh/{path.name}: code cell {i} differs from English (python book/zh_sync.py)"
        assert a.metadata == b.metadata, f"book/zh/{path.name}: code cell {i}'s metadata (tags) differ from English"
        assert not a.outputs and a.execution_count is None, f"book/zh/{path.name}: code cell {i} keeps outputs"
    assert zh.metadata.get("kernelspec") == en.metadata.get("kernelspec"), f"{path.name}: kernelspec differs"


def test_zh_sync_finds_nothing_to_do():
    assert zh_sync.sync(check=True) == []


def test_zh_sync_rewrites_code_and_keeps_chinese_text():
    en = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["remove-cell"]}),
            nbformat.v4.new_markdown_cell("One."),
            nbformat.v4.new_code_cell("print(x + 1)"),
        ]
    )
    zh = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 0"),
            nbformat.v4.new_markdown_cell("一。"),
            nbformat.v4.new_markdown_cell("补充说明。"),
            nbformat.v4.new_code_cell("print(x)", outputs=[nbformat.v4.new_output("stream", text="0\n")]),
        ]
    )
    out = zh_sync.synced(zh, en, "demo.ipynb")
    assert [c.source for c in out.cells] == ["x = 1", "一。", "补充说明。", "print(x + 1)"]
    assert out.cells[0].metadata == {"tags": ["remove-cell"]}
    assert out.cells[3].outputs == []


def test_zh_sync_names_notebook_and_cell_when_counts_differ():
    en = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in ("a = 1", "b = 2", "c = 3")])
    zh = copy.deepcopy(en)
    del zh.cells[1]
    with pytest.raises(
        zh_sync.OutOfStep,
        match=r"book/zh/demo\.ipynb has 2 code cells, book/demo\.ipynb has 3.*"
        r"code cell index 1",
    ):
        zh_sync.synced(zh, en, "demo.ipynb")


# --------------------------------------------------------------------------- pages, toc, config


def test_zh_toc_pages_exist_and_follow_the_english_order():
    toc = read_yaml("book/zh/_toc.yml")
    assert toc["root"] == "intro"
    listed = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for page in listed:
        assert any((ZH / f"{page}{ext}").exists() for ext in (".md", ".ipynb")), f"book/zh/_toc.yml: {page} missing"
    english = [p.removeprefix("book/") for p in toc_pages()]
    translated = [p for p in listed if p in english]
    assert translated == sorted(translated, key=english.index), "book/zh/_toc.yml: chapters out of the English order"
    unlisted = {p.stem for p in zh_pages()} - set(listed)
    assert not unlisted, f"pages of book/zh/ missing from book/zh/_toc.yml: {sorted(unlisted)}"


def test_zh_config():
    en, zh = read_yaml("_config.yml"), read_yaml("book/zh/_config.yml")
    assert zh["sphinx"]["config"]["language"] == "zh_CN"
    assert zh["repository"]["url"] == en["repository"]["url"]
    assert zh["repository"]["path_to_book"] == "book/zh"  # Colab opens the zh notebooks
    assert zh["execute"]["cache"] == "_build/.jupyter_cache"  # the English outputs (book/build.py)
    assert "book/zh" in en["exclude_patterns"]
    for key in ("nb_ipywidgets_js", "nb_render_markdown_format", "nb_merge_streams", "nb_mime_priority_overrides"):
        assert zh["sphinx"]["config"][key] == en["sphinx"]["config"][key], key
    assert zh["sphinx"]["config"]["extensions"] == en["sphinx"]["config"]["extensions"]


@pytest.mark.parametrize("path", zh_pages(), ids=lambda p: p.name)
def test_every_markdown_cell_is_chinese(path: Path):
    if path.suffix == ".md":
        assert HAN.search(path.read_text(encoding="utf-8")), path.name
        return
    nb = nbformat.read(path, as_version=4)
    english = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and not HAN.search(c.source)]
    assert not english, f"book/zh/{path.name}: markdown cells {english} hold no Chinese (translate them)"


SOFT_BREAK = re.compile(r"[\u4e00-\u9fff，。；：、（）“”——]\n[ \t]*[\u4e00-\u9fff，。；：、（）“”]")


@pytest.mark.parametrize("path", zh_pages(), ids=lambda p: p.name)
def test_no_line_break_inside_a_chinese_sentence(path: Path):
    """A line break inside a paragraph renders as a space, which Chinese text does not have."""
    found = [m.group(0).replace("\n", "⏎") for m in SOFT_BREAK.finditer(prose(path))]
    assert not found, f"book/zh/{path.name}: join these lines (one paragraph, one line): {found[:5]}"


# --------------------------------------------------------------------------- glossary


def glossary() -> List[Dict[str, str]]:
    text = (ZH / "glossary.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    head = [h.strip() for h in rows[0].strip("|").split("|")]
    assert head == ["中文", "English", "首次出现", "另一译法"], head
    return [dict(zip(head, (c.strip() for c in row.strip("|").split("|")))) for row in rows[2:]]


def test_glossary_lists_the_terms():
    terms = {row["中文"]: row["English"] for row in glossary()}
    missing = {zh: en for zh, en in REQUIRED_TERMS.items() if terms.get(zh) != en}
    assert not missing, f"book/zh/glossary.md lacks (or translates otherwise): {missing}"
    assert all(row["首次出现"] for row in glossary()), "every term names where it is first used"
    alternatives = {row["中文"]: row["另一译法"] for row in glossary()}
    assert alternatives["池化"].startswith("汇聚") and alternatives["丢弃法"].startswith("暂退法")


def alternatives() -> Dict[str, str]:
    """{alternative: the glossary's choice}, e.g. {"汇聚": "池化"}."""
    return {row["另一译法"].split("（")[0].strip(): row["中文"] for row in glossary() if row["另一译法"]}


def test_search_splits_every_glossary_term_as_one_word():
    options = read_yaml("book/zh/_config.yml")["sphinx"]["config"]["html_search_options"]
    path = REPO / options["dict"]
    words = {line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    missing = [row["中文"] for row in glossary() if row["中文"] not in words]
    assert not missing, f"{options['dict']} lacks glossary terms {missing}: search could not find them"


@pytest.mark.parametrize("path", [p for p in zh_pages() if p.stem != "glossary"], ids=lambda p: p.name)
def test_page_uses_the_glossary_terms(path: Path):
    text = prose(path)
    used = {alt: choice for alt, choice in alternatives().items() if alt in text}
    assert not used, f"book/zh/{path.name} uses {', '.join(f'{a} (the glossary says {c})' for a, c in used.items())}"


# --------------------------------------------------------------------------- language switch


def switch_settings(config: str) -> Dict[str, str]:
    return read_yaml(config)["sphinx"]["config"]["language_switch"]


def test_switch_maps_pages_both_ways():
    en_settings, zh_settings = switch_settings("_config.yml"), switch_settings("book/zh/_config.yml")
    en_pages = set(toc_pages())
    zh_pages_ = set(zh_toc_pages())
    for page in zh_pages_ - {"glossary"}:
        there = language_switch.counterpart(page, zh_settings, en_pages, "book/intro")
        assert there == f"book/{page}" and there in en_pages, page
        back = language_switch.counterpart(there, en_settings, zh_pages_, "intro")
        assert back == page
    # every English page has its Chinese page; one without it stops the build, naming it
    for page in en_pages:
        assert language_switch.counterpart(page, en_settings, zh_pages_, "intro") == page.removeprefix("book/")
    with pytest.raises(ValueError, match="book/09_new_chapter has no counterpart '09_new_chapter'.*--new 09_new"):
        language_switch.counterpart("book/09_new_chapter", en_settings, zh_pages_, "intro")
    # the glossary, which only the Chinese edition has, leads to the English home page
    assert language_switch.counterpart("glossary", zh_settings, en_pages, "book/intro") == "book/intro"
    assert language_switch.counterpart("search", zh_settings, en_pages, "book/intro") == "search"


# --------------------------------------------------------------------------- build command and publishing


def readme_build_command() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## Build the book.*?```bash\n(.*?)```", text, re.S)
    assert match, "README.md: no ```bash block under '## Build the book'"
    return match.group(1).strip().split("&&")[-1].strip()


def test_pages_workflow_builds_with_the_readme_command():
    command = readme_build_command()
    assert command.startswith("python book/build.py"), command
    workflows = list((REPO / ".github" / "workflows").glob("*.yml"))
    assert workflows, "no GitHub workflow"
    flow = next((w for w in workflows if "deploy-pages" in w.read_text(encoding="utf-8")), None)
    assert flow, "no workflow deploys to GitHub Pages"
    import yaml

    spec = yaml.safe_load(flow.read_text(encoding="utf-8"))
    on = spec.get("on", spec.get(True))  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    steps = [s for job in spec["jobs"].values() for s in job["steps"]]
    runs = [s.get("run", "").strip() for s in steps]
    assert command in runs, f"{flow.name} does not run the README's build command {command!r}: {runs}"
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"


def test_ci_runs_the_readme_test_command():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"the test command\n`([^`]+)`", text)
    assert match, "README.md names no test command"
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert match.group(1) in ci, ".ci/run does not run the README's test command"
    assert "python book/build.py --nbmake" in match.group(1)


def test_explorer_labels_exist_in_both_languages():
    """Every label of the explorer's controls has a Chinese and an English wording (node runs explorer.js)."""
    import shutil
    import subprocess

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (the browser tests check the Chinese explorer)")
    script = (
        "const L = require(process.argv[1]).LABELS; console.log(JSON.stringify("
        "{en: Object.keys(L.en), zh: Object.keys(L.zh), zhTable: L.zh.table.length, enTable: L.en.table.length}))"
    )
    out = json.loads(
        subprocess.run(
            [node, "-e", script, str(REPO / "classicnets" / "assets" / "explorer.js")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert out["en"] == out["zh"] and out["zhTable"] == out["enTable"]


def test_explorer_lang_option():
    from classicnets.explorer import explorer_html

    assert '"lang": "zh"' in explorer_html(lang="zh")
    assert '"lang"' not in explorer_html()  # the page's <html lang> decides
    with pytest.raises(ValueError, match="lang='fr'"):
        explorer_html(lang="fr")
