"""The course website (docs/site.md): the smoke-mode build and every page of it in headless Chromium.

- The build: `site/build.py --smoke` (what `make site-smoke` runs), once per test session, warnings as
  errors: a notebook that fails to execute, a missing reference, a broken cross-link fails it.
- The pages: tests/browser/check_site.py opens every page of that build in Debian's Chromium: images
  load, internal links resolve, MathJax typesets, nothing comes from the network, and a search for
  "stop-gradient" finds chapter 3.
- The Chinese edition: the Chinese chapters smoke mode executes are under zh/notebooks/ with Chinese text, and
  the language switch (中文 / English) of every page links a page the site has.
- Without a build: the chapter data (site/chapters.toml) agrees with the chapters, the staging rules
  (links, new chapters, widgets) hold, and the Pages workflow builds with the same make target.

The site's tools live in .venv-site (`make site-venv`) and the browser is Debian's chromium. Where
either is missing these tests skip with the reason, except in CI (CI=true), where they fail:
.ci/run installs both before `make test`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli (the site's own venv needs 3.11+ for Sphinx 9)
    import tomli as tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE_PY = ROOT / ".venv-site" / "bin" / "python"
SMOKE_OUT = ROOT / "build" / "site-smoke"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def _load_build():
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["site_build"] = module
    spec.loader.exec_module(module)
    return module


build = _load_build()


def _missing(what: str, how: str) -> None:
    """Fail in CI (the tool must be there), skip elsewhere, saying how to get it."""
    message = f"{what} is missing: {how}"
    if IN_CI:
        pytest.fail(message + " (.ci/run installs it before `make test`)")
    pytest.skip(message)


def _site_python() -> Path:
    if not SITE_PY.exists():
        _missing(".venv-site (the website's tools)", "run `make site-venv`")
    return SITE_PY


def _run(cmd: list[str], timeout: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def smoke_site() -> Path:
    """build/site-smoke/, built once per session (the chapters read from the smoke cache when unchanged)."""
    python = _site_python()
    t0 = time.monotonic()
    result = _run([str(python), "site/build.py", "--smoke", "--python", sys.executable], timeout=1800)
    out = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"the smoke-mode site build failed (exit {result.returncode}):\n{out[-6000:]}")
    print(f"\nsmoke site built in {time.monotonic() - t0:.0f} s")
    return SMOKE_OUT


# ---------------------------------------------------------------- the smoke build


def test_smoke_build_has_every_page(smoke_site: Path) -> None:
    """The front page, every chapter (by glob), every docs page, search, and MathJax served by the site."""
    expected = ["index.html", "search.html", "searchindex.js", "_static/mathjax/tex-chtml.js", "notebooks/README.html", "data/README.html"]
    expected += [f"notebooks/{p.stem}.html" for p in build.chapters()]
    expected += [f"docs/{p.stem}.html" for p in sorted((ROOT / "docs").glob("*.md"))]
    missing = [name for name in expected if not (smoke_site / name).is_file()]
    assert missing == [], f"the site lacks {missing}"


@pytest.mark.parametrize("chapter", build.chapters(), ids=lambda p: p.stem)
def test_chapter_page(smoke_site: Path, chapter: Path) -> None:
    """Header box, download link, Colab badge, solved exercises behind a toggle, no live widget left."""
    html = (smoke_site / "notebooks" / f"{chapter.stem}.html").read_text(encoding="utf-8")
    assert "site-chapter-info" in html and "Outputs on this page" in html and "smoke mode" in html
    assert "Estimated student time" in html and "Run time" in html
    assert re.search(rf'href="\.\./_downloads/[0-9a-f]+/{re.escape(chapter.name)}"', html), "no download link to the notebook"
    assert "colab-badge" in html and f"blob/main/notebooks/{chapter.name}" in html, "no Open in Colab badge"
    assert "Learning goals" in html
    solutions = sum(1 for c in json.loads(chapter.read_text())["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
    assert len(re.findall(r'class="collapsed[^"]*">Show the solution<', html)) == solutions, "every solution folded behind its toggle"
    assert "raise NotImplementedError  # your code here" not in html, "the self-study stubs are dropped"
    assert "widget-view+json" not in html and "widget-state+json" not in html, "a widget left for a widget manager"
    assert "Traceback (most recent call last)" not in html


def test_widgets_are_static_with_a_note(smoke_site: Path) -> None:
    """Chapters 1 and 9: each control panel says it is live in Jupyter; chapter 9's λ slider shows its first picture."""
    for stem, notes in (("01_augmentations", 1), ("09_collapse_lab", 2)):
        page = next((smoke_site / "notebooks").glob(f"{stem}*.html"), None)
        if page is None:
            pytest.skip(f"no chapter {stem}")
        html = page.read_text(encoding="utf-8")
        assert html.count("site-widget-note") == notes, f"{page.name}: {notes} widget note(s) expected"
    lab = (smoke_site / "notebooks" / "09_collapse_lab.html").read_text(encoding="utf-8")
    note = lab.index("a slider (λ)")
    assert "<img" in lab[note : note + 5000], "the λ slider's first position drawn as a picture below its note"


def test_no_page_loads_anything_from_another_host(smoke_site: Path) -> None:
    """No script, stylesheet, image or font from a CDN: the site must work offline (the browser test checks requests too)."""
    bad = []
    for page in smoke_site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        bad += [f"{page.relative_to(smoke_site)}: {m}" for m in re.findall(r'<(?:script|link|img)\b[^>]*(?:src|href)="((?:https?:)?//[^"]+)"', html)]
    assert bad == []


def test_site_in_headless_chromium(smoke_site: Path) -> None:
    """Every page opened: images load, internal links resolve, maths typeset, offline, search finds chapter 3."""
    python = _site_python()
    if not (os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")):
        _missing("Debian's chromium", "`apt-get install -y chromium` (or set CHROMIUM=/path/to/chromium)")
    t0 = time.monotonic()
    result = _run([str(python), "tests/browser/check_site.py", str(smoke_site)], timeout=900)
    out = result.stdout + result.stderr
    print(f"\nbrowser check in {time.monotonic() - t0:.0f} s:\n{out[-1500:]}")
    assert result.returncode == 0, f"the site check in Chromium failed:\n{out[-6000:]}"


# ---------------------------------------------------------------- without a build


def test_pages_workflow_builds_with_make_site() -> None:
    """.github/workflows/pages.yml builds with `make site` (the target tested here), from main, and publishes build/site."""
    text = (ROOT / ".github" / "workflows" / "pages.yml").read_text()
    runs = re.findall(r"^\s*run:\s*(.+)$", text, flags=re.M)
    assert any(re.fullmatch(r"make site\b.*", r.strip()) for r in runs), f"no `make site` step: {runs}"
    assert re.search(r"branches:\s*\[\s*main\s*\]", text), "publishes from main"
    assert re.search(r"path:\s*build/site\s*$", text, flags=re.M), "uploads build/site"
    assert "actions/deploy-pages" in text
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^site:.*\n\t\$\(SITE_VENV\)/bin/python site/build\.py --python \$\(PY\)$", makefile, flags=re.M)


def test_chapter_data_agrees_with_the_chapters() -> None:
    """site/chapters.toml: entries name real chapters, each run time's numbers are in the chapter's own Run time
    paragraph, values not measured are marked TO MEASURE, and every chapter has learning goals somewhere."""
    data = tomllib.loads((ROOT / "site" / "chapters.toml").read_text())["chapters"]
    stems = {p.stem: p for p in build.chapters()}
    assert set(data) <= set(stems), f"site/chapters.toml names chapters that do not exist: {sorted(set(data) - set(stems))}"
    for stem, path in stems.items():
        cells = json.loads(path.read_text())["cells"]
        first = "".join(cells[0]["source"])
        entry = data.get(stem, {})
        has_goals = any("**Learning goals**" in "".join(c["source"]) for c in cells[: next(i for i, c in enumerate(cells) if c["cell_type"] == "code")])
        assert has_goals or entry.get("goals"), f"{path.name}: no **Learning goals** paragraph and no goals in site/chapters.toml"
        run_time = first[first.find("**Run time**"):]
        for mode, value in entry.get("run_time", {}).items():
            assert mode in ("smoke", "classroom", "full")
            if value == build.TO_MEASURE:
                continue
            for number in re.findall(r"\d[\d,.¼½–-]*\d|\d[¼½]?", value):
                assert number in run_time, f"{path.name}: site/chapters.toml's {mode} run time says {number}, the chapter's Run time paragraph does not"
        student = entry.get("student_time", build.TO_MEASURE)
        assert isinstance(student, str) and student.strip(), f"{stem}: student_time is a text, or {build.TO_MEASURE!r}"


def test_a_new_chapter_and_the_teaching_guide_are_picked_up(tmp_path: Path) -> None:
    """Chapters by glob (a chapter 10 needs no change to the build), docs/*.md by glob (docs/teaching.md included)."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs").mkdir()
    for name in ("00_welcome.ipynb", "10_new_chapter.ipynb", "scratch.ipynb", "1_bad.ipynb"):
        (tmp_path / "notebooks" / name).write_text("{}")
    (tmp_path / "README.md").write_text("# x\n")
    (tmp_path / "docs" / "teaching.md").write_text("# Teaching\n")
    assert [p.name for p in build.chapters(tmp_path)] == ["00_welcome.ipynb", "10_new_chapter.ipynb"]
    assert set(build.pages(tmp_path)) == {"index.md", "docs/teaching.md"}


def test_links_are_made_right_for_the_site(tmp_path: Path) -> None:
    """Pages stay pages (README.md becomes index.md), images are copied, other repository files go to GitHub,
    and a link to nothing is left as written, for Sphinx to fail on."""
    for rel in ("docs/a.md", "docs/fig.png", "benchmarks/RESULTS.md", "notebooks/01_x.ipynb", "README.md", "tests/t.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    on_site = {"README.md", "docs/a.md", "notebooks/01_x.ipynb"}
    assets: set[str] = set()
    url = "https://github.com/o/r"
    text = ("[a](a.md#part) [home](../README.md) [nb](../notebooks/01_x.ipynb) ![f](fig.png) <img src=\"fig.png\" width=\"9\"> "
            "[r](../benchmarks/RESULTS.md) [d](../tests) [gone](nothing.md) [w](https://example.org/x.md) [s](#here)")
    got = build.rewrite_links(text, "docs/b.md", on_site, tmp_path, url, assets)
    assert got == ("[a](a.md#part) [home](../index.md) [nb](../notebooks/01_x.ipynb) ![f](fig.png) <img src=\"fig.png\" width=\"9\"> "
                   f"[r]({url}/blob/main/benchmarks/RESULTS.md) [d]({url}/tree/main/tests) [gone](nothing.md) "
                   "[w](https://example.org/x.md) [s](#here)")
    assert assets == {"docs/fig.png"}
    assert build.rewrite_links("[t](docs/a.md)", "README.md", on_site, tmp_path, url, set()) == "[t](docs/a.md)"


def test_widgets_become_their_static_picture() -> None:
    """A control panel keeps what its Output area showed and names its controls; a tqdm bar becomes one line of text."""
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo="}}
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s", "IPY_MODEL_o"]}},
        "s": {"model_name": "SelectionSliderModel", "state": {"description": "λ"}},
        "o": {"model_name": "OutputModel", "state": {"outputs": [png]}},
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_d", "IPY_MODEL_p", "IPY_MODEL_t"]}},
        "d": {"model_name": "HTMLModel", "state": {"value": "BYOL: 100%"}},
        "p": {"model_name": "FloatProgressModel", "state": {"value": 18, "max": 18}},
        "t": {"model_name": "HTMLModel", "state": {"value": " 18/18 [00:02&lt;00:00]"}},
    }
    shown, controls = build.static_widget({"model_id": "box"}, state)
    assert shown == [png] and controls == [("slider", "λ")]
    assert build.describe_controls(controls) == "a slider (λ)"
    shown, controls = build.static_widget({"model_id": "bar"}, state)
    assert controls == [] and len(shown) == 1
    html = shown[0]["data"]["text/html"]
    assert "BYOL: 100%" in html and '<progress class="site-progress" value="18" max="18">' in html and "18/18" in html


def test_package_fingerprint_follows_the_imports(tmp_path: Path) -> None:
    """A chapter is re-run when a package module it imports (directly, through another module or a relative import) changes."""
    pkg = tmp_path / "byol_course"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from byol_course import b\n")
    (pkg / "b.py").write_text("X = 1\n")
    (pkg / "c.py").write_text("Y = 1\n")
    (pkg / "sub" / "__init__.py").write_text("from .d import Z\n")
    (pkg / "sub" / "d.py").write_text("Z = 1\n")
    code = "import sys\nif 'google.colab' in sys.modules:\n    %pip install x\nfrom byol_course.a import b\nfrom byol_course import sub\n"
    before = build.package_fingerprint(code, tmp_path)
    assert before.endswith("(5 files)")  # byol_course, a, b, sub, sub.d — and not c
    (pkg / "c.py").write_text("Y = 2\n")
    assert build.package_fingerprint(code, tmp_path) == before
    (pkg / "sub" / "d.py").write_text("Z = 2\n")
    assert build.package_fingerprint(code, tmp_path) != before


def test_a_chapter_page_without_goals_takes_them_from_the_data_file(tmp_path: Path) -> None:
    """A chapter with no **Learning goals** paragraph: its goals from site/chapters.toml, else the build fails saying so."""
    import nbformat

    badge = f"[![Open In Colab]({build.COLAB_BADGE})](https://colab.research.google.com/github/o/r/blob/main/notebooks/10_new.ipynb)"
    solution = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    solution.metadata["nbgrader"] = {"solution": True, "grade_id": "ch10-f"}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# Chapter 10 — New\n\n{badge}"), solution])
    path = tmp_path / "notebooks" / "10_new.ipynb"
    done = build.Executed(nb, 12.0, cached=False, provenance={"mode": "classroom", "hardware": "a CPU, 2 threads", "torch": "2.x", "finished": "2026-12-04T10:00:00+00:00"})
    with pytest.raises(build.BuildError, match="Learning goals"):
        build.present(path, build.Executed(nbformat.from_dict(nb), 1.0, False, done.provenance), {}, set(), tmp_path, "https://github.com/o/r", set())
    page, widgets = build.present(path, done, {"goals": ["Say what is new."], "student_time": "TO MEASURE"}, set(), tmp_path, "https://github.com/o/r", set())
    header = page.cells[1].source
    assert "computed in **classroom mode** on a CPU, 2 threads (torch 2.x), 2026-12-04; the notebook ran for 12 s" in header
    assert "- **Learning goals** (from site/chapters.toml):\n  - Say what is new." in header
    assert "**Estimated student time**: not measured yet" in header and "**The 1 exercise** appears solved" in header
    assert "{download}`download 10_new.ipynb <../_notebooks/10_new.ipynb>`" in header
    assert "../images/colab-badge.svg" in page.cells[0].source and build.COLAB_BADGE not in page.cells[0].source
    assert "hide-input" in page.cells[2].metadata["tags"] and widgets == 0


def test_student_times_come_from_the_teaching_guides_estimate() -> None:
    """Each chapter's header gives the estimate of `python -m classroom.student_time` (docs/teaching.md's table)."""
    from classroom import student_time

    times = build.student_times(Path(sys.executable))
    rows = student_time.estimate()
    assert set(times) == {p.stem for p in build.chapters()} == {r["name"] for r in rows}
    for r in rows:
        assert times[r["name"]].startswith(f"about {r['total']:.0f} min"), times[r["name"]]


# ---------------------------------------------------------------- the Chinese edition (zh/) and the language switch


def _switch(html: str) -> tuple[str, str] | None:
    """(href, label) of the page's language switch, or None."""
    m = re.search(r'<a class="site-lang-switch[^"]*" href="([^"]+)"[^>]*>([^<]+)</a>', html)
    return (m.group(1), m.group(2)) if m else None


def _resolves(site: Path, page: Path, href: str) -> Path:
    return (page.parent / href.split("#")[0]).resolve().relative_to(site.resolve())


def test_chinese_chapter_pages(smoke_site: Path) -> None:
    """The Chinese chapters smoke mode executes (build.SMOKE_ZH) are under zh/notebooks/: Chinese header box, download
    link, badge, solutions folded under a Chinese toggle, lang="zh"; and the Chinese edition has its front page."""
    found = build.zh_chapters(smoke=True)
    if not found:
        pytest.skip("no Chinese chapters in notebooks/zh/")
    assert (smoke_site / "zh" / "index.html").is_file()
    for chapter in found:
        html = (smoke_site / "zh" / "notebooks" / f"{chapter.stem}.html").read_text(encoding="utf-8")
        assert '<html lang="zh"' in html
        assert "site-chapter-info" in html and "本页输出" in html and "冒烟模式" in html and "运行时间" in html
        assert re.search(r"[\u4e00-\u9fff]{20}", html), "a page of Chinese text"
        assert re.search(rf'href="\.\./\.\./_downloads/[0-9a-f]+/{re.escape(chapter.name)}"', html), "no download link"
        assert re.search(r'<img alt="Open In Colab" src="\.\./\.\./_images/colab-badge\.svg"', html) and f"blob/main/notebooks/zh/{chapter.name}" in html
        solutions = sum(1 for c in json.loads(chapter.read_text())["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
        assert len(re.findall(r'class="collapsed[^"]*">显示参考答案<', html)) == solutions
        assert "Traceback (most recent call last)" not in html and "widget-view+json" not in html


def test_language_switch_links_resolve(smoke_site: Path) -> None:
    """中文 on the front page and on every English page with a Chinese counterpart, English on every Chinese page,
    each pointing at a page the site has; no 中文 link on an English page without a counterpart."""
    zh_pages = sorted((smoke_site / "zh").rglob("*.html"))
    if not zh_pages:
        pytest.skip("no Chinese pages on the site")
    for page in zh_pages:
        link = _switch(page.read_text(encoding="utf-8"))
        assert link is not None and link[1] == "English", f"{page.relative_to(smoke_site)}: no English link"
        target = _resolves(smoke_site, page, link[0])
        assert (smoke_site / target).is_file() and not target.as_posix().startswith("zh/"), (page, target)
        english = page.relative_to(smoke_site / "zh")
        if (smoke_site / english).is_file():
            assert target == english, f"{page.relative_to(smoke_site)}: English link to {target}, not {english}"
    for page in [smoke_site / "index.html", *sorted((smoke_site / "notebooks").glob("*.html")), *sorted((smoke_site / "docs").glob("*.html"))]:
        rel = page.relative_to(smoke_site)
        counterpart = smoke_site / "zh" / rel
        link = _switch(page.read_text(encoding="utf-8"))
        if counterpart.is_file():
            assert link is not None and link[1] == "中文", f"{rel}: no 中文 link"
            assert _resolves(smoke_site, page, link[0]) == Path("zh") / rel
        else:
            assert link is None, f"{rel} has no Chinese counterpart, yet links one"
    assert _switch((smoke_site / "index.html").read_text(encoding="utf-8")) is not None, "the front page links the Chinese edition"


def test_chinese_files_have_their_place_on_the_site(tmp_path: Path) -> None:
    """README.zh.md -> zh/index, notebooks/zh/ -> zh/notebooks/, docs/zh/ -> zh/docs/; a link to a Chinese page not
    written yet goes to the English one; smoke mode executes only SMOKE_ZH's Chinese chapters."""
    assert build.staged_name("README.zh.md") == "zh/index.md"
    assert build.staged_name("notebooks/zh/04_x.ipynb") == "zh/notebooks/04_x.ipynb"
    assert build.staged_name("docs/zh/glossary.md") == "zh/docs/glossary.md"
    assert build.staged_name("docs/glossary.md") == "docs/glossary.md"
    for rel in ("README.md", "README.zh.md", "docs/glossary.md", "docs/zh/teaching.md", "docs/fig.png", "notebooks/04_x.ipynb",
                "notebooks/zh/04_x.ipynb", "notebooks/zh/03_x.ipynb", "notebooks/03_x.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    assert set(build.pages(tmp_path)) == {"index.md", "docs/glossary.md", "zh/index.md", "zh/docs/teaching.md"}
    on_site = {"README.md", "README.zh.md", "docs/glossary.md", "notebooks/04_x.ipynb", "notebooks/zh/04_x.ipynb"}
    url = "https://github.com/o/r"
    got = build.rewrite_links("[g](../../docs/zh/glossary.md) [c](03_x.ipynb) [e](../04_x.ipynb)",
                              "notebooks/zh/04_x.ipynb", on_site, tmp_path, url, set())
    assert got == f"[g](../../docs/glossary.md) [c]({url}/blob/main/notebooks/zh/03_x.ipynb) [e](../../notebooks/04_x.ipynb)"
    assets: set[str] = set()
    got = build.rewrite_links("[ch](notebooks/zh/04_x.ipynb) [en](README.md) ![f](docs/fig.png)", "README.zh.md", on_site, tmp_path, url, assets)
    assert got == "[ch](notebooks/04_x.ipynb) [en](../index.md) ![f](../docs/fig.png)" and assets == {"docs/fig.png"}
    assert [p.name for p in build.zh_chapters(tmp_path)] == ["03_x.ipynb", "04_x.ipynb"]
    assert [p.name for p in build.zh_chapters(tmp_path, smoke=True)] == ["04_x.ipynb"]
