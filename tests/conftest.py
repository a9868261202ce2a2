"""Shared fixtures: the table of contents, the built book served on 127.0.0.1, headless Chromium.

* ``toc_page`` / ``notebook_page`` parametrize a test over the pages of ``_toc.yml``
  (all of them / those whose source is a notebook), so tests follow the toc.
* ``built_book`` builds the book once per session, both editions (``python book/build.py --all``:
  ``-W -n --keep-going``, Chinese into ``_build/html/zh``) unless ``CLASSICNETS_BOOK_BUILT=1`` says
  ``_build/html`` is fresh.
* ``book_url`` serves ``_build/html`` with ``http.server`` on 127.0.0.1 (a free port, a thread).
* ``explorer_cases``: random layer edits of every network with Python's answer (shapes, params,
  MACs… or the ArchitectureError message), for comparing the explorer's JavaScript with Python.
* ``chromium`` is Debian's Chromium driven by Playwright (``CLASSICNETS_CHROMIUM`` overrides
  ``/usr/bin/chromium``); Playwright never downloads a browser here.
"""

from __future__ import annotations

import copy
import fcntl
import functools
import http.server
import os
import random
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = os.environ.get("CLASSICNETS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# ipykernel ≥ 7 prints this on stderr for every kernel the build starts; it is not a Sphinx warning.
KERNEL_NOTICE = re.compile(r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption")


def read_yaml(name: str) -> Dict:
    return yaml.safe_load((REPO / name).read_text(encoding="utf-8"))


def toc_pages() -> List[str]:
    """Every page of ``_toc.yml`` in reading order: ``book/intro``, ``book/01_conv_arithmetic``, …"""
    toc = read_yaml("_toc.yml")
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def is_notebook(page: str) -> bool:
    """A page whose source is a Jupyter notebook (``.ipynb``, or MyST Markdown with a kernelspec)."""
    if (REPO / f"{page}.ipynb").exists():
        return True
    md = REPO / f"{page}.md"
    return md.exists() and "kernelspec:" in md.read_text(encoding="utf-8").split("\n---", 1)[0]


def pytest_generate_tests(metafunc):
    if "toc_page" in metafunc.fixturenames:
        metafunc.parametrize("toc_page", toc_pages())
    if "notebook_page" in metafunc.fixturenames:
        metafunc.parametrize("notebook_page", [p for p in toc_pages() if is_notebook(p)])


def pytest_configure(config):
    """Under pytest-xdist (``-n 2``) each worker, and every kernel or subprocess it starts, runs torch on one
    thread: two processes with two threads each on two cores run several times slower (book/build.py)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """``_build/html``, built with zero warnings (or trusted as fresh with CLASSICNETS_BOOK_BUILT=1).

    Under pytest-xdist the first worker to get here builds; the others wait on a lock and take its build."""
    if os.environ.get("CLASSICNETS_BOOK_BUILT") == "1":
        if not (HTML / "index.html").exists():
            pytest.fail("CLASSICNETS_BOOK_BUILT=1 but _build/html/index.html is missing")
        return HTML
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid {os.getpid()}")
    (REPO / "_build").mkdir(exist_ok=True)
    with open(REPO / "_build" / ".built-by", "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        lock.seek(0)
        if lock.read().strip() == run_id and (HTML / "index.html").exists():
            return HTML
        _build_book()
        lock.seek(0)
        lock.truncate()
        lock.write(run_id)
    return HTML


def _build_book() -> None:
    env = dict(os.environ)
    # the chapters' kernels import classicnets from this checkout, even where it is not installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    # both editions, as README's build command (book/build.py: -W -n --keep-going, English then zh/)
    cmd = [sys.executable, str(REPO / "book" / "build.py"), "--all"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    log = proc.stdout + proc.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "book-build.log").write_text(log, encoding="utf-8")
    warnings = [line for line in log.splitlines() if "WARNING" in line and not KERNEL_NOTICE.search(line)]
    assert proc.returncode == 0, f"jupyter-book build failed (artifacts/book-build.log):\n{log[-6000:]}"
    assert not warnings, "the build printed warnings:\n" + "\n".join(warnings)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="session")
def book_url(built_book: Path):
    """Base URL of the built book, served on 127.0.0.1 from a thread."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CLASSICNETS_CHROMIUM)")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


# --------------------------------------------------------------------------- explorer cases


def python_result(spec_dict: Dict) -> Dict:
    """classicnets.arithmetic.trace of a spec dict, in the shape of the explorer's ``traceResult``."""
    from classicnets.arithmetic import ArchitectureError, trace
    from classicnets.layers import NetSpec

    try:
        t = trace(NetSpec.from_dict(spec_dict))
    except ArchitectureError as err:
        return {"ok": False, "error": str(err)}
    rows = [
        {
            "name": r.name,
            "kind": r.kind,
            "detail": r.detail,
            "in_shape": list(r.in_shape),
            "out_shape": list(r.out_shape),
            "params": r.params,
            "macs": r.macs,
            "connections": r.connections,
            "rf": None if r.rf is None else list(r.rf),
            "jump": None if r.jump is None else list(r.jump),
        }
        for r in t.rows
    ]
    return {
        "ok": True,
        "rows": rows,
        "total_params": t.total_params,
        "total_macs": t.total_macs,
        "total_connections": t.total_connections,
    }


# The same projection of the explorer's traceResult, evaluated in the browser (or node).
JS_RESULTS = """(cases) => cases.map((c) => {
  try {
    const r = window.classicnetsExplorer.traceResult(c.spec);
    if (!r.ok) return {ok: false, error: r.error};
    return {ok: true, total_params: r.total_params, total_macs: r.total_macs,
            total_connections: r.total_connections,
            rows: r.rows.map((x) => ({name: x.name, kind: x.kind, detail: x.detail, in_shape: x.in_shape,
              out_shape: x.out_shape, params: x.params, macs: x.macs, connections: x.connections,
              rf: x.rf, jump: x.jump}))};
  } catch (e) { return {ok: false, error: "JavaScript exception: " + e}; }
})"""


def _random_value(rng: random.Random, layer: Dict, field: str):
    kernel = max(1, layer["kernel"] if isinstance(layer["kernel"], int) else layer["kernel"][0])
    if field == "kernel":
        return rng.choice(
            [rng.randint(1, kernel + 2)] * 3 + [rng.randint(1, 2 * kernel + 4), rng.randint(1, 20), rng.randint(-1, 0)]
        )
    if field == "stride":
        return rng.choice([rng.randint(1, 6)] * 4 + [0, [rng.randint(1, 4), rng.randint(1, 4)]])
    if field == "padding":
        values = [rng.randint(0, 6), rng.randint(0, 3), rng.randint(0, 2), -1, [rng.randint(0, 3), rng.randint(0, 3)]]
        return rng.choice(values + (["same", "valid"] if layer["kind"] == "conv" else []))
    if field == "dilation":
        return rng.randint(1, 3)
    if field == "groups":
        return rng.randint(1, 4)
    if field == "ceil_mode":
        return rng.random() < 0.5
    if field == "op":
        return rng.choice(["max", "avg", "subsample"])
    raise ValueError(field)


def random_cases(n: int = 800, seed: int = 1998) -> List[Dict]:
    """``n`` random edits of the five networks (1-3 each), possible and impossible, with Python's answer."""
    from classicnets.specs import all_specs

    rng = random.Random(seed)
    specs = {key: spec.to_dict() for key, spec in sorted(all_specs().items())}
    cases = []
    for _ in range(n):
        key = rng.choice(list(specs))
        d = copy.deepcopy(specs[key])
        layers = [l for l in d["features"] if l["kind"] in ("conv", "pool")]
        edits = []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.2:
                side = max(16, d["input_shape"][1])
                h = rng.choice([rng.randint(side // 2, 2 * side)] * 3 + [rng.randint(1, 40), rng.randint(-1, 0)])
                w = h if rng.random() < 0.85 else rng.randint(1, 2 * side)
                d["input_shape"] = [d["input_shape"][0], h, w]
                edits.append(f"input={h}x{w}")
                continue
            layer = rng.choice(layers)
            fields = ["kernel", "stride", "padding"] * 4
            fields += ["dilation", "groups"] if layer["kind"] == "conv" else ["dilation", "ceil_mode", "op"]
            field = rng.choice(fields)
            layer[field] = _random_value(rng, layer, field)
            edits.append(f"{layer['name']}.{field}={layer[field]!r}")
        cases.append({"key": key, "edits": edits, "spec": d, "expected": python_result(d)})
    return cases


@pytest.fixture(scope="session")
def explorer_cases() -> List[Dict]:
    cases = random_cases()
    bad = sum(not c["expected"]["ok"] for c in cases)
    assert min(bad, len(cases) - bad) >= 100, f"unbalanced cases: {bad} impossible of {len(cases)}"
    for c in cases:  # JavaScript numbers are exact below 2**53: a mismatch is then a real bug
        for r in c["expected"].get("rows", []):
            assert max(r["params"], r["macs"], r["connections"]) < 2**53
    return cases


def compare_results(cases: List[Dict], got: List[Dict]) -> List[str]:
    """Readable differences between Python's answers and the explorer's."""
    problems = []
    for case, js in zip(cases, got):
        py = case["expected"]
        if js == py:
            continue
        where = f"{case['key']} with {', '.join(case['edits'])}"
        if py["ok"] != js["ok"] or not py["ok"]:
            problems.append(f"{where}: Python {py.get('error') or 'ok'!r} / explorer {js.get('error') or 'ok'!r}")
            continue
        for pr, jr in zip(py["rows"], js["rows"]):
            if pr != jr:
                diff = {k: (pr[k], jr.get(k)) for k in pr if pr[k] != jr.get(k)}
                problems.append(f"{where}: layer {pr['name']} differs (Python, explorer): {diff}")
                break
        else:
            problems.append(f"{where}: totals or row count differ")
    assert len(got) == len(cases)
    return problems


@pytest.fixture
def one_thread():
    """Tiny models train fastest on one thread, and a busy machine's other processes can't stall them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- one page in Chromium (browser tests)


class Visit:
    """A page opened in a fresh browser context, with everything that went wrong on it."""

    def __init__(self, chromium, base: str, path: str, viewport=(1280, 900)):
        self.context = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.page = self.context.new_page()
        self.problems: List[str] = []
        page = self.page
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        page.route(lambda url: not url.startswith(base), self._outside)
        page.goto(f"{base}/{path}", wait_until="load")
        page.wait_for_load_state("networkidle")

    def _outside(self, route):
        self.problems.append(f"request outside the book: {route.request.url}")
        route.abort()

    def broken_images(self) -> List[str]:
        return self.page.evaluate(
            """async () => {
                const imgs = Array.from(document.images);
                for (const img of imgs) {
                    img.loading = "eager";
                    if (!img.complete) await new Promise((done) => {
                        img.addEventListener("load", done, {once: true});
                        img.addEventListener("error", done, {once: true});
                        setTimeout(done, 5000);
                    });
                }
                return imgs.filter((img) => !(img.complete && img.naturalWidth > 0))
                           .map((img) => img.getAttribute("src"));
            }"""
        )

    def close(self):
        self.context.close()


@pytest.fixture
def visit(chromium, book_url):
    opened: List[Visit] = []

    def open_page(path: str, **kwargs) -> Visit:
        v = Visit(chromium, book_url, path, **kwargs)
        opened.append(v)
        return v

    yield open_page
    for v in opened:
        v.close()
