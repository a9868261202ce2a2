"""Every notebook runs alone in Colab: its first code cell installs classicnets (and torchinfo)
where they are missing and does nothing where they are present.

Fast checks: each notebook of book/ starts with the exact bootstrap cell of docs/CONTRIBUTING.md,
its URL is _config.yml's repository.url, and committed notebooks carry no outputs.

The slow check (marker ``slow``) builds a Colab-like virtual environment — only torch,
torchvision, numpy, matplotlib, ipywidgets, tqdm and the kernel machinery (ipykernel, nbclient) —
copies ONE notebook alone into an empty folder and executes it to the end with that
environment's Python, the bootstrap cell installing classicnets from this checkout
(``CLASSICNETS_SOURCE``). Pick the notebook with ``CLASSICNETS_COLAB_NOTEBOOK=book/<name>.ipynb``
(default: book/01_conv_arithmetic.ipynb, or book/explorer.ipynb until that chapter exists).
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
# What Colab preinstalls that classicnets needs (pinned to this machine's wheels), and its kernel machinery.
COLAB_PACKAGES = ["torch==2.14.1", "torchvision==0.29.1", "numpy", "matplotlib", "ipywidgets", "tqdm"]
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


@pytest.fixture
def venv(tmp_path: Path):
    """A folder for the virtual environment, removed afterwards (it holds gigabytes of CUDA wheels):
    in the background, as deleting them takes longer than the notebook takes to run."""
    path = tmp_path / "venv"
    yield path
    if path.exists():
        doomed = path.with_name("venv-deleting")
        path.rename(doomed)
        subprocess.Popen(
            ["rm", "-rf", str(doomed)], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


@pytest.mark.slow
@pytest.mark.parametrize("notebook", [_colab_notebook()], ids=lambda p: p.name)
def test_notebook_runs_alone_in_a_colab_like_environment(notebook: Path, tmp_path: Path, venv: Path):
    assert notebook.exists(), notebook
    times = {}
    start = time.monotonic()
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")

    # 1. a fresh virtual environment with only what Colab preinstalls (pip's cache is reused)
    _run([sys.executable, "-m", "venv", str(venv)], env, tmp_path)
    _run(
        [str(python), "-m", "pip", "install", "-q", "--no-compile", *COLAB_PACKAGES, *KERNEL_PACKAGES],
        env,
        tmp_path,
        timeout=900,
    )
    times["venv"] = time.monotonic() - start
    missing = "import importlib.util as u; print([m for m in ('classicnets', 'torchinfo') if u.find_spec(m)])"
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
