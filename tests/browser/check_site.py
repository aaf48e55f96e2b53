"""The course website as a reader sees it: every page in headless Chromium.

    .venv-site/bin/python tests/browser/check_site.py build/site-smoke

tests/test_site.py runs this on the smoke build (`make test`); `make site-check` on build/site/.
For every HTML page of the site it checks that

- every image has loaded (naturalWidth > 0), MathJax has typeset every formula without an error,
  and the page raised no JavaScript error;
- every internal link resolves: the file exists, and a #fragment names an element of that page;
- nothing is requested from any other host (the site works offline: theme, MathJax and search are
  all served by the site itself; links to other sites are not followed);

and that a search for "stop-gradient" finds chapter 3.

The site is served by a local HTTP server on 127.0.0.1 (as GitHub Pages serves it, not file://).
Chromium is Debian's, started with the flags and helpers of tests/browser/run_in_browser.py, which
`make test-browser` uses: Playwright never downloads a browser. Logs go to runs/site-check/.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_in_browser as rib  # noqa: E402 - Chromium's flags, finding and stopping it, Playwright's import

from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

ROOT = rib.ROOT
OUT = ROOT / "runs" / "site-check"
SEARCH_TERM, SEARCH_FINDS = "stop-gradient", "notebooks/03_predictor_and_loss.html"
SCALE = rib.SCALE

JS_EAGER_IMAGES = """() => { document.querySelectorAll('img[loading="lazy"]').forEach(i => { i.loading = 'eager'; }); }"""
JS_IMAGES_DONE = """() => [...document.images].every(i => i.complete)"""
JS_PAGE = """() => ({
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
  maths: document.querySelectorAll('.math').length,
  typeset: document.querySelectorAll('mjx-container').length,
  math_errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80)),
})"""
JS_MATHJAX_DONE = """async () => {
  if (!document.querySelector('.math')) return true;
  for (let i = 0; i < 600 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) await new Promise(r => setTimeout(r, 50));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return false;
  await MathJax.startup.promise;
  return true;
}"""
JS_SEARCH = """() => {
  const summary = document.querySelector('#search-results .search-summary, #search-results p');
  return {done: !!summary && /found|did not match|no results/i.test(summary.textContent),
          summary: summary ? summary.textContent : '', hrefs: [...document.querySelectorAll('#search-results a')].map(a => a.href)};
}"""


def log(msg: str) -> None:
    print(msg, flush=True)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: D102 - no access log on stderr
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """The folder over HTTP on 127.0.0.1, a free port; yields the base URL (no trailing slash)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser_context(log_dir: Path, viewport=(1400, 1000)):
    """Debian's headless Chromium as tests/browser/run_in_browser.py starts it, over CDP; yields a Playwright context."""
    log_dir.mkdir(parents=True, exist_ok=True)
    rib.OUT = log_dir  # where start_chromium writes chromium.log
    chromium = None
    with tempfile.TemporaryDirectory(prefix="byol-site-") as tmp:
        try:
            chromium, cdp = rib.start_chromium(Path(tmp))
            with sync_playwright() as pw:
                browser = pw.chromium.connect_over_cdp(cdp, timeout=60_000 * SCALE)
                context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
                try:
                    yield context
                finally:
                    context.close()
                    browser.close()
        finally:
            rib.stop(chromium, "Chromium")


def html_pages(site: Path) -> list[str]:
    """Every HTML page of the site, as URL paths relative to its root."""
    skip = ("_static/", "_sources/", "_downloads/", "_images/")
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html") if not p.relative_to(site).as_posix().startswith(skip))


def check_page(page, base: str, path: str) -> tuple[dict, list[str]]:
    """Open one page; returns what it holds (links, ids) and what is wrong with it."""
    problems: list[str] = []
    errors: list[str] = []

    def on_error(e) -> None:
        errors.append(str(e))

    page.on("pageerror", on_error)
    try:
        page.goto(f"{base}/{path}", wait_until="load", timeout=60_000 * SCALE)
        page.evaluate(JS_EAGER_IMAGES)
        try:
            page.wait_for_function(JS_IMAGES_DONE, timeout=30_000 * SCALE, polling=200)
        except PlaywrightError:
            problems.append(f"{path}: images still loading after {30 * SCALE:.0f} s")
        if not page.evaluate(JS_MATHJAX_DONE):
            problems.append(f"{path}: has maths, but MathJax did not start")
        info = page.evaluate(JS_PAGE)
    finally:
        page.remove_listener("pageerror", on_error)
    problems += [f"{path}: image does not load: {im['src']}" for im in info["images"] if not im["ok"]]
    if info["maths"] and info["typeset"] < info["maths"]:
        problems.append(f"{path}: MathJax typeset {info['typeset']} of {info['maths']} formulas")
    problems += [f"{path}: MathJax error: {e}" for e in info["math_errors"]]
    problems += [f"{path}: JavaScript error: {e}" for e in errors]
    return info, problems


def check_links(site: Path, base: str, found: dict[str, dict]) -> list[str]:
    """Every link to this site names a file that exists and, where it has one, a #fragment on that page."""
    problems = []
    for path, info in found.items():
        for href in sorted(set(info["links"])):
            if not href.startswith(base + "/"):
                continue  # another site: not followed
            url = urllib.parse.urlsplit(href)
            target = urllib.parse.unquote(url.path).lstrip("/") or "index.html"
            if target.endswith("/"):
                target += "index.html"
            if not (site / target).is_file():
                problems.append(f"{path}: link to {target}, which the site does not have")
            elif url.fragment and target in found and urllib.parse.unquote(url.fragment) not in found[target]["ids"]:
                problems.append(f"{path}: link to {target}#{url.fragment}, which that page does not have")
    return problems


def check_search(page, base: str) -> list[str]:
    page.goto(f"{base}/search.html?q={urllib.parse.quote(SEARCH_TERM)}", wait_until="load")
    deadline = time.monotonic() + 60 * SCALE
    state = page.evaluate(JS_SEARCH)
    while not state["done"] and time.monotonic() < deadline:
        time.sleep(0.3)
        state = page.evaluate(JS_SEARCH)
    if not state["done"]:
        return [f"search for {SEARCH_TERM!r}: no result list within {60 * SCALE:.0f} s ({state['summary']!r})"]
    if not any(SEARCH_FINDS in h for h in state["hrefs"]):
        return [f"search for {SEARCH_TERM!r} does not find {SEARCH_FINDS}: {state['summary']!r}, {state['hrefs'][:10]}"]
    log(f"search for {SEARCH_TERM!r}: {state['summary'].strip()} — chapter 3 among them")
    return []


def check_site(site: Path) -> list[str]:
    """Every page, its links and the search; returns the problems (empty when the site is right)."""
    site = site.resolve()
    if not (site / "index.html").is_file():
        return [f"{site} has no index.html: build the site first"]
    paths = html_pages(site)
    problems: list[str] = []
    outside: list[str] = []
    t0 = time.monotonic()
    with serve(site) as base, browser_context(OUT) as context:
        def route(r):
            if r.request.url.startswith((base + "/", "data:", "blob:", "about:")):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(60_000 * SCALE)
        found = {}
        for path in paths:
            try:
                found[path], wrong = check_page(page, base, path)
            except PlaywrightError as e:
                wrong = [f"{path}: the browser step failed: {e.message.splitlines()[0]}"]
            problems += wrong
        problems += check_links(site, base, found)
        problems += check_search(page, base)
        page.close()
    problems += [f"requested from another host (the site must work offline): {u}" for u in sorted(set(outside))]
    n_img = sum(len(i["images"]) for i in found.values())
    n_links = sum(len(set(i["links"])) for i in found.values())
    log(f"{len(paths)} pages, {n_img} images, {n_links} links checked in {time.monotonic() - t0:.0f} s")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, nargs="?", default=ROOT / "build" / "site")
    args = parser.parse_args(argv)
    problems = check_site(args.site)
    if problems:
        log(f"\n{len(problems)} problem(s) on the site:\n" + "\n".join(problems))
        return 1
    log("the site is right: every image loads, every internal link resolves, search finds chapter 3, nothing from the network")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
