"""Every notebook runs alone in Colab: its first code cell installs classicnets (and torchinfo)
where they are missing and does nothing where they are present.

Fast checks: each notebook of book/ starts with the exact bootstrap cell of docs/CONTRIBUTING.md,
its URL is _config.yml's repository.url, and committed notebooks carry no outputs.

The slow check (marker ``slow``) builds a Colab-like virtual environment — only torch,
torchvision, numpy, matplotlib, ipywidgets, tqdm and the kernel machinery (ipykernel, nbclient),
with what they require and nothing else: no classicnets, no torchinfo —, copies ONE notebook alone
into an empty folder and executes it to the end with that environment's Python, the bootstrap cell
installing classicnets (and torchinfo, from PyPI) with pip for real, from this checkout
(``CLASSICNETS_SOURCE``). The preinstalled packages are not installed a second time (torch alone is
5 GB of wheels to unpack): the environment sees this machine's copies of exactly those
distributions, linked into one folder on its path, as Colab's image has them on its own.
Pick the notebook with ``CLASSICNETS_COLAB_NOTEBOOK=book/<name>.ipynb`` (default:
book/01_conv_arithmetic.ipynb, or book/explorer.ipynb until that chapter exists).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ARTIFACTS, REPO, read_yaml

NOTEBOOKS = sorted((REPO / "book").glob("*.ipynb")) + sorted(
    (REPO / "book" / "zh").glob("*.ipynb")
)  # zh: the Chinese edition
# What Colab preinstalls that classicnets needs, and its kernel machinery (this machine's installed copies).
COLAB_PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "ipywidgets", "tqdm"]
KERNEL_PACKAGES = ["ipykernel", "nbclient"]


def bootstrap_cell() -> str:
    """The bootstrap cell, verbatim from docs/CONTRIBUTING.md (its first ```python block)."""
    text = (REPO / "docs" / "CONTRIBUTING.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match, "docs/CONTRIBUTING.md has no ```python block with the bootstrap cell"
    return match.group(1).rstrip("\n")


def code_cells(path: Path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


# --------------------------------------------------------------------------- fast


def test_bootstrap_cell_installs_from_the_repository_url():
    cell = bootstrap_cell()
    urls = re.findall(r"git\+(https://[^\"'\s]+)", cell)
    assert urls == [read_yaml("_config.yml")["repository"]["url"]]
    assert "CLASSICNETS_SOURCE" in cell
    for module in ("classicnets", "torchinfo"):
        assert f'"{module}"' in cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_starts_with_the_bootstrap_cell(path):
    cells = code_cells(path)
    assert cells, f"{path.name} has no code cell"
    assert source(cells[0]).rstrip("\n") == bootstrap_cell(), (
        f"{path.name}: the first code cell must be exactly the bootstrap cell of docs/CONTRIBUTING.md"
    )
    # Colab plumbing, not part of the chapter: the rendered book leaves it out (it still runs)
    assert "remove-cell" in cells[0].get("metadata", {}).get("tags", []), (
        f"{path.name}: tag the bootstrap cell remove-cell (docs/CONTRIBUTING.md)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_no_outputs(path):
    dirty = [i for i, c in enumerate(code_cells(path)) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{path.name}: code cells {dirty} keep outputs (strip them before committing)"


def test_pages_name_the_repository_by_its_one_url():
    url = read_yaml("_config.yml")["repository"]["url"]
    name = url.rstrip("/").split("/")[-1]
    pattern = re.compile(r"https?://github\.com/[^\s)\"'>`]*" + re.escape(name) + r"[^\s)\"'>`]*")
    wrong = []
    for path in sorted((REPO / "book").glob("*")) + sorted((REPO / "book" / "zh").glob("*")):
        if path.suffix in (".md", ".ipynb"):
            for found in pattern.findall(path.read_text(encoding="utf-8")):
                if not found.startswith(url):
                    wrong.append(f"{path.name}: {found}")
    assert not wrong, f"repository URLs that are not _config.yml's {url}:\n" + "\n".join(wrong)


# --------------------------------------------------------------------------- slow: a Colab-like run


def _colab_notebook() -> Path:
    chosen = os.environ.get("CLASSICNETS_COLAB_NOTEBOOK")
    if chosen:
        return REPO / chosen
    first = REPO / "book" / "01_conv_arithmetic.ipynb"
    return first if first.exists() else REPO / "book" / "explorer.ipynb"


RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
path, cwd = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, timeout=600, kernel_name="colab", allow_errors=False,
               resources={"metadata": {"path": cwd}}).execute()
nbformat.write(nb, path)
"""


def _run(cmd, env, cwd, timeout=600):
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _requirement_closure(names):
    """The installed distributions ``names`` need, by their metadata's requirements (markers evaluated here)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    found, todo = {}, list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        found[key] = dist = metadata.distribution(name)  # PackageNotFoundError: this machine lacks a Colab package
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def preinstalled(folder: Path, names) -> Path:
    """``folder`` holding links to every top-level file and folder of ``names``' distributions (and their
    requirements), dist-info included, so that Python imports them and pip counts them as installed."""
    folder.mkdir()
    for key, dist in sorted(_requirement_closure(names).items()):
        assert not key.startswith(("classicnets", "torchinfo")), f"{key} is what the bootstrap cell must install"
        for file in dist.files or []:
            top = file.parts[0]
            if top == ".." or top.endswith(".pth") or (folder / top).exists():
                continue
            (folder / top).symlink_to(Path(dist.locate_file(top)).resolve())
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("notebook", [_colab_notebook()], ids=lambda p: p.name)
def test_notebook_runs_alone_in_a_colab_like_environment(notebook: Path, tmp_path: Path):
    assert notebook.exists(), notebook
    times = {}
    start = time.monotonic()
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")

    # 1. a fresh virtual environment that sees only what Colab preinstalls
    _run([sys.executable, "-m", "venv", str(venv)], env, tmp_path)
    base = preinstalled(tmp_path / "preinstalled", [*COLAB_PACKAGES, *KERNEL_PACKAGES])
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env, tmp_path)
    (Path(site.strip()) / "colab-preinstalled.pth").write_text(f"{base}\n")
    times["venv"] = time.monotonic() - start
    missing = "import importlib.util as u; print([m for m in ('classicnets', 'torchinfo', 'pytest') if u.find_spec(m)])"
    assert _run([str(python), "-c", missing], env, tmp_path).strip() == "[]", "the environment is not bare"

    # 2. the notebook alone in an empty folder, run by that Python, classicnets coming from this checkout
    folder = tmp_path / "colab"
    folder.mkdir()
    copy = folder / notebook.name
    shutil.copy(notebook, copy)
    kernels = tmp_path / "jupyter" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Colab-like",
                "language": "python",
            }
        )
    )
    run_env = dict(env, JUPYTER_PATH=str(tmp_path / "jupyter"), CLASSICNETS_SOURCE=str(REPO), MPLBACKEND="Agg")
    leftovers = [p for p in (REPO / "build", REPO / "classicnets.egg-info") if not p.exists()]
    t0 = time.monotonic()
    try:
        _run([str(python), "-c", RUN_NOTEBOOK, str(copy), str(folder)], run_env, folder, timeout=900)
    finally:  # pip builds the checkout in place: remove what that build left (both git-ignored)
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
    times["notebook"] = time.monotonic() - t0
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) >= [notebook.name]

    # 3. the bootstrap cell installed classicnets and torchinfo into the environment itself
    where = _run([str(python), "-c", "import classicnets, torchinfo; print(classicnets.__file__)"], env, tmp_path)
    assert Path(where.strip()).is_relative_to(venv), f"classicnets imported from {where.strip()}, not the venv"

    # 4. a second run of the bootstrap cell does nothing: no pip, even with a source that does not exist
    again = (
        "import subprocess\n"
        "def _pip(*args, **kwargs):\n"
        "    raise SystemExit(f'the bootstrap cell ran {args!r} although classicnets is installed')\n"
        "subprocess.run = _pip\n" + bootstrap_cell() + "\nprint('nothing to do')\n"
    )
    t0 = time.monotonic()
    out = _run([str(python), "-c", again], dict(env, CLASSICNETS_SOURCE=str(tmp_path / "nowhere")), folder)
    assert out.strip() == "nothing to do"
    times["bootstrap again"] = time.monotonic() - t0
    times["total"] = time.monotonic() - start
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "colab-ready.json").write_text(json.dumps({"notebook": notebook.name, "seconds": times}, indent=1))
    print(f"Colab-like run of {notebook.name}: " + ", ".join(f"{k} {v:.0f}s" for k, v in times.items()))
