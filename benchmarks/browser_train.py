"""How fast LeNet5 trains in the page, in headless Chromium: prints the subset size, the seconds and the accuracy.

    python book/build.py                      # or any build that has _build/html/book/lenet5_train_in_browser.html
    python benchmarks/browser_train.py        # the page's own settings (blog, lr 0.05, batch 32, 4 epochs)
    python benchmarks/browser_train.py --variant modern

It serves _build/html on 127.0.0.1, opens the page in Debian's Chromium (``CLASSICNETS_CHROMIUM``
overrides /usr/bin/chromium), presses Train and waits for the run to end; then prints each held-out
evaluation (images seen, page-clock seconds, test accuracy), when the accuracy first reached 0.80, the
page's size, and the longest slice of work (how long a click could wait). A figure, not a test.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = "book/lenet5_train_in_browser.html"
CHROMIUM = os.environ.get("CLASSICNETS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ROOT = "document.querySelector('.lnt-root')"
# the page clock of each evaluation: recorded by polling from here every 50 ms
POLL = f"""() => {{ const s = {ROOT}.classicnetsTrain.state();
  return {{status: s.status, seen: s.seen, ms: s.elapsedMs, evals: s.evals, longest: s.longestSliceMs,
          message: s.message, train: s.trainCount, test: s.testCount, batch: s.batch, lr: s.lr,
          epochs: s.epochs}}; }}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def serve(folder: Path):
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(variant: str, html: Path) -> int:
    from playwright.sync_api import sync_playwright

    page_file = html / PAGE
    if not page_file.exists():
        sys.exit(f"{page_file} is missing: build the book first (python book/build.py)")
    server = serve(html)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/{PAGE}")
        page.wait_for_function(f"() => {ROOT}.dataset.state === 'ready'", timeout=30_000)
        page.select_option(".lnt-network", variant)
        page.click(".lnt-train")
        start, seen_evals, times = time.perf_counter(), 0, []
        while True:
            s = page.evaluate(POLL)
            for _ in s["evals"][seen_evals:]:
                times.append(s["ms"] / 1000)
            seen_evals = len(s["evals"])
            if s["status"] != "training":
                break
            page.wait_for_timeout(50)
        wall = time.perf_counter() - start
        browser.close()
    server.shutdown()
    report(variant, s, times, wall, page_file.stat().st_size)
    return 0 if s["status"] == "done" else 1


def report(variant: str, s: dict, times: list, wall: float, size: int) -> None:
    print(f"Chromium, headless, {os.cpu_count()} CPU cores; LeNet5 {variant}, lr {s['lr']}, batch {s['batch']}")
    print(f"subset: {s['train']:,} training images, {s['test']} held-out test images")
    for e, t in zip(s["evals"], times):
        epochs = e["seen"] / s["train"]
        print(f"  {e['seen']:>6,} images ({epochs:.1f} epochs) at {t:5.1f} s: test accuracy {e['accuracy']:.3f}")
    first = next(((e, t) for e, t in zip(s["evals"], times) if e["accuracy"] >= 0.80), None)
    if first:
        print(f"first at >= 0.80: {first[0]['accuracy']:.3f} after {first[1]:.1f} s")
    else:
        print("never reached 0.80")
    last = s["evals"][-1]["accuracy"]
    print(f"end: {s['status']} {s['message']} — test accuracy {last:.3f} after {s['ms'] / 1000:.1f} s")
    print(f"(wall clock from Train to the end, seen from Playwright: {wall:.1f} s)")
    print(f"longest slice of work: {s['longest']:.0f} ms; page {size:,} bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=("blog", "modern"), default="blog")
    parser.add_argument("--html", type=Path, default=REPO / "_build" / "html", help="the built book")
    args = parser.parse_args()
    return run(args.variant, args.html)


if __name__ == "__main__":
    sys.exit(main())
