"""Give each Chinese notebook (book/zh/<name>.ipynb) the code cells of its English one (book/<name>.ipynb).

    python book/zh_sync.py                 # rewrite every zh notebook's code cells from the English ones
    python book/zh_sync.py --check         # change nothing; exit 1 naming what is out of date
    python book/zh_sync.py --new <name>    # start book/zh/<name>.ipynb from book/<name>.ipynb (to translate)

The i-th code cell of a zh notebook becomes the i-th code cell of the English notebook — source and
metadata (tags such as ``remove-cell``), bootstrap cell included, without outputs — and the zh markdown
cells stay where they are. The two notebooks must have the same number of code cells; if not, this
script stops, naming the notebook and the first code cell that differs, so that a translator adds or
removes the markdown-side text around it by hand. The notebook metadata is the English kernelspec and
language_info: with identical code, Jupyter Book's cache gives the Chinese pages the English outputs
(book/build.py), and the Chinese build executes nothing. tests/test_zh.py checks the result.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import List

import nbformat

BOOK = Path(__file__).resolve().parent
ZH = BOOK / "zh"


class OutOfStep(Exception):
    """A zh notebook whose code cells cannot be matched one to one with the English ones."""


def code_cells(nb) -> List:
    return [c for c in nb.cells if c.cell_type == "code"]


def english_of(zh_path: Path) -> Path:
    return BOOK / zh_path.name


def synced(
    zh: nbformat.NotebookNode, en: nbformat.NotebookNode, name: str
) -> nbformat.NotebookNode:
    """``zh`` with ``en``'s code cells, one for one, in order; raises OutOfStep naming the cell."""
    ours, theirs = code_cells(zh), code_cells(en)
    if len(ours) != len(theirs):
        first = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs)) if a.source != b.source),
            min(len(ours), len(theirs)),
        )
        raise OutOfStep(
            f"book/zh/{name} has {len(ours)} code cells, book/{name} has {len(theirs)}: they first differ at "
            f"code cell index {first} (counting from 0). Add or remove that code cell in book/zh/{name} "
            "(with the Chinese text around it), then run `python book/zh_sync.py` again."
        )
    out = copy.deepcopy(zh)
    replacement = iter(theirs)
    for i, cell in enumerate(out.cells):
        if cell.cell_type == "code":
            new = copy.deepcopy(next(replacement))
            new.outputs, new.execution_count = [], None
            if "id" in cell:
                new["id"] = cell["id"]
            out.cells[i] = new
    out.metadata.pop(
        "mystnb", None
    )  # execution settings are the English book's business
    for key in ("kernelspec", "language_info"):
        if key in en.metadata:
            out.metadata[key] = copy.deepcopy(en.metadata[key])
    return out


def sync(check: bool = False) -> List[str]:
    """Rewrite (or, with ``check``, only list) the zh notebooks whose code is not the English code."""
    stale = []
    for path in sorted(ZH.glob("*.ipynb")):
        en_path = english_of(path)
        if not en_path.exists():
            raise OutOfStep(
                f"book/zh/{path.name} has no English notebook book/{path.name}"
            )
        zh = nbformat.read(path, as_version=4)
        new = synced(zh, nbformat.read(en_path, as_version=4), path.name)
        if new != zh:
            stale.append(f"book/zh/{path.name}")
            if not check:
                nbformat.write(new, path)
    return stale


def start(name: str) -> Path:
    """A new zh notebook: a copy of the English one, outputs stripped, its markdown still to translate."""
    name = name if name.endswith(".ipynb") else f"{name}.ipynb"
    target = ZH / name
    if target.exists():
        raise OutOfStep(f"{target} exists already")
    en = nbformat.read(english_of(target), as_version=4)
    nbformat.write(synced(en, en, name), target)
    return target


def main(argv: List[str]) -> int:
    try:
        if argv[:1] == ["--new"] and len(argv) == 2:
            print(
                f"created {start(argv[1])}: translate its markdown cells, add it to book/zh/_toc.yml"
            )
            return 0
        stale = sync(check="--check" in argv)
    except OutOfStep as err:
        print(f"zh_sync: {err}", file=sys.stderr)
        return 2
    if "--check" in argv and stale:
        print(
            "code cells differ from the English notebooks in: " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    print(
        ("out of date: " if "--check" in argv else "rewrote: ")
        + (", ".join(stale) or "nothing")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
