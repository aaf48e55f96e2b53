"""Screenshots of the course website: the front page and one chapter page (not committed).

    .venv-site/bin/python scripts/site_screenshots.py OUTDIR [--site build/site] [--chapter 03]
    make site-screenshots OUT=OUTDIR

Writes OUTDIR/front.png (the top of the README page), OUTDIR/chapter-top.png (the chapter's title,
badge, goals and header box), OUTDIR/chapter-solution.png (its first exercise: the folded solution
and the checker's output), OUTDIR/chapter-figure.png (its first figure), and where the chapter has
them OUTDIR/chapter-widget.png (its first widget, made static) and OUTDIR/chapter-progress.png (its
first progress bar). The site is served on
127.0.0.1 and shown in Debian's headless Chromium, as tests/browser/check_site.py does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from check_site import OUT, browser_context, serve  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--site", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--chapter", default="03", help="the chapter page's name prefix (default 03)")
    args = parser.parse_args(argv)
    site = args.site.resolve()
    pages = sorted((site / "notebooks").glob(f"{args.chapter}*.html"))
    if not (site / "index.html").is_file() or not pages:
        sys.exit(f"{site} has no index.html or no chapter {args.chapter}*: build the site first (make site)")
    chapter = pages[0].relative_to(site).as_posix()
    args.outdir.mkdir(parents=True, exist_ok=True)
    shots = []
    with serve(site) as base, browser_context(OUT, viewport=(1400, 1000)) as context:
        page = context.new_page()
        page.goto(f"{base}/index.html", wait_until="networkidle")
        page.screenshot(path=str(args.outdir / "front.png"))
        shots.append("front.png")
        page.goto(f"{base}/{chapter}", wait_until="networkidle")
        page.wait_for_timeout(1000)  # MathJax
        page.screenshot(path=str(args.outdir / "chapter-top.png"))
        shots.append("chapter-top.png")
        for name, selector in (("chapter-solution.png", "details.hide.above-input"), ("chapter-figure.png", ".cell_output img"),
                               ("chapter-widget.png", ".site-widget-note"), ("chapter-progress.png", ".site-progress-line")):
            target = page.locator(selector).first
            if target.count():
                target.evaluate("e => e.scrollIntoView({block: 'start'})")
                page.evaluate("() => window.scrollBy(0, -120)")
                page.wait_for_timeout(300)
                page.screenshot(path=str(args.outdir / name))
                shots.append(name)
        page.close()
    print(f"{len(shots)} screenshots of {site.name}/index.html and {chapter} in {args.outdir}: {', '.join(shots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
