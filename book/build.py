"""Build both editions of the book into one site, executing each notebook at most once.

    python book/build.py            # English at _build/html/, Chinese at _build/html/zh/
    python book/build.py --nbmake   # CI: each English notebook executed once, under pytest + nbmake
    python book/build.py --all      # extra arguments go to both `jupyter-book build` calls

The steps:

1. ``--nbmake`` only: copy ``book/*.ipynb`` to ``artifacts/executed/book/`` and execute the copies with
   ``pytest --nbmake --overwrite``, two at a time where pytest-xdist is installed and there are two cores
   (each kernel then on one thread) (a failing cell fails here, with nbmake's report; the checkout stays
   clean). Their outputs go into Jupyter Book's cache ``_build/.jupyter_cache``, which is keyed by a
   notebook's code cells. Notebooks whose metadata says ``mystnb.execution_mode: force`` (the explorer,
   whose output depends on files the cache does not watch) are left to step 2, which runs them anyway.
2. ``jupyter-book build . -W -n --keep-going``: the English book. A notebook found in the cache is not
   executed again; one that is not (a reader's fresh checkout, where step 1 did not run) is executed
   and cached — so ``jupyter-book build .`` alone still works.
3. The notebooks executed in 'force' mode, which Jupyter Book does not cache, go into the cache too
   (from ``_build/jupyter_execute/book/``).
4. The Chinese notebooks (``book/zh/``) have the English notebooks' code cells, identical
   (``book/zh_sync.py``), so each one matches a cached English notebook: its outputs come from the
   cache and the Chinese build executes nothing. This script checks that before building and stops,
   naming the notebook, where one would have to be executed.
5. ``jupyter-book build book/zh --path-output _build/zh -W -n --keep-going``, copied to ``_build/html/zh/``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import nbformat

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "book"
ZH = BOOK / "zh"
BUILD = REPO / "_build"
CACHE = BUILD / ".jupyter_cache"
EXECUTED = (
    REPO / "artifacts" / "executed" / "book"
)  # not under _build/: nbmake skips anything there
ZH_OUT = BUILD / "zh"
STRICT = ["-W", "-n", "--keep-going"]


def run(cmd: List[str], env: Optional[Dict[str, str]] = None) -> None:
    print("$", " ".join(cmd), flush=True)
    code = subprocess.run(cmd, cwd=REPO, env=env).returncode
    if code:
        sys.exit(f"book/build.py: `{' '.join(cmd)}` failed (exit status {code})")


def forced(path: Path) -> bool:
    """A notebook that Jupyter Book executes at every build, cache or not."""
    nb = nbformat.read(path, as_version=4)
    return nb.metadata.get("mystnb", {}).get("execution_mode") == "force"


def with_outputs(source: Path, executed: Path) -> nbformat.NotebookNode:
    """``source`` (code cells, metadata and all) carrying the outputs of ``executed``, cell by cell.

    The cache hashes code cells with their metadata; nbclient adds timing metadata when it executes,
    so the executed copy itself would not match the source.
    """
    nb = nbformat.read(source, as_version=4)
    done = nbformat.read(executed, as_version=4)
    ours = [c for c in nb.cells if c.cell_type == "code"]
    theirs = [c for c in done.cells if c.cell_type == "code"]
    if [c.source for c in ours] != [c.source for c in theirs]:
        sys.exit(f"book/build.py: {executed} does not hold the code of {source}")
    for cell, ran in zip(ours, theirs):
        cell.outputs, cell.execution_count = ran.outputs, ran.execution_count
    for key in (
        "language_info",
        "widgets",
    ):  # what Jupyter Book's cache merges back besides outputs
        if key in done.metadata:
            nb.metadata[key] = done.metadata[key]
    return nb


def cache_outputs(pairs) -> None:
    """Store ``(source, executed)`` notebooks in Jupyter Book's cache, keyed by the source's code."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(CACHE))
    for source, executed in pairs:
        nb = with_outputs(source, executed)
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, str(source)), check_validity=False, overwrite=True
        )


def execute_with_nbmake() -> None:
    """Step 1: each English notebook once, by nbmake, on a copy; outputs into the cache."""
    if EXECUTED.exists():
        shutil.rmtree(EXECUTED)
    EXECUTED.mkdir(parents=True)
    sources = [p for p in sorted(BOOK.glob("*.ipynb")) if not forced(p)]
    for path in sources:
        shutil.copy2(path, EXECUTED / path.name)
    run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--nbmake",
            "--nbmake-timeout=600",
            "--overwrite",
            "--durations=12",
            *parallel_args(),
            *(str((EXECUTED / p.name).relative_to(REPO)) for p in sources),
        ],
        env=parallel_env(),
    )
    cache_outputs((p, EXECUTED / p.name) for p in sources)


def workers() -> int:
    """How many notebooks step 1 runs at once: one per core, up to 2, where pytest-xdist is installed."""
    return min(2, os.cpu_count() or 1) if importlib.util.find_spec("xdist") else 1


def parallel_args() -> List[str]:
    # worksteal: a worker that runs out takes a waiting notebook from the other, so the two long
    # chapters do not end up queued behind each other
    return ["-n", str(workers()), "--dist", "worksteal"] if workers() > 1 else []


def parallel_env() -> Optional[Dict[str, str]]:
    """Two kernels at once each get one thread: two torch processes with two threads each on two cores
    run several times slower than one thread each (measured on a 2-core machine, two LeNet5
    epochs at once: 8 s each with one thread each, 36 s with two each)."""
    return dict(os.environ, OMP_NUM_THREADS="1") if workers() > 1 else None


def check_zh_is_cached() -> None:
    """Step 4: every Chinese notebook's code is an executed English notebook's code."""
    from jupyter_cache import get_cache

    cache = get_cache(str(CACHE))
    for path in sorted(ZH.glob("*.ipynb")):
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            sys.exit(
                f"book/build.py: {path.relative_to(REPO)} matches no executed English notebook: its code "
                f"cells differ from book/{path.name}'s. Run `python book/zh_sync.py` and build again."
            )


def main(extra: List[str]) -> None:
    nbmake = "--nbmake" in extra
    extra = [a for a in extra if a != "--nbmake"]
    jb = shutil.which("jupyter-book") or str(
        Path(sys.executable).with_name("jupyter-book")
    )
    if nbmake:
        execute_with_nbmake()
    run([jb, "build", ".", *STRICT, *extra])
    executed = (
        BUILD / "jupyter_execute" / "book"
    )  # Jupyter Book cached the others itself
    cache_outputs(
        (p, executed / p.name) for p in sorted(BOOK.glob("*.ipynb")) if forced(p)
    )
    check_zh_is_cached()
    run(
        [
            jb,
            "build",
            str(ZH.relative_to(REPO)),
            "--path-output",
            str(ZH_OUT.relative_to(REPO)),
            *STRICT,
            *extra,
        ]
    )
    site = BUILD / "html" / "zh"
    if site.exists():
        shutil.rmtree(site)
    shutil.copytree(ZH_OUT / "_build" / "html", site)
    print(f"book/build.py: English at {BUILD / 'html'}, Chinese at {site}")


if __name__ == "__main__":
    main(sys.argv[1:])
