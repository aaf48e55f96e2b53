"""Build the course website: `make site` (classroom mode) and `make site-smoke` (what `make test` checks).

    python site/build.py [--smoke] [--out DIR] [--python PY]

Three steps, all offline:

1. **Execute** every chapter (`notebooks/[0-9][0-9]_*.ipynb`, found by glob) in its *instructor*
   version (classroom/student_version.py: self-study stubs dropped, solutions in place), in a kernel of
   the course's own venv (`--python`, default .venv/bin/python), through jupyter-cache: a notebook
   whose code cells are unchanged is read from the cache (build/site-work/<mode>/cache), so a rebuild
   re-runs only the chapters whose code changed. Smoke and classroom keep separate caches. A last
   cell, appended here and dropped from the page, has the kernel report its mode, machine and date.
2. **Stage** a Sphinx source tree in build/site-work/<mode>/src: README.md as index.md, the docs/*.md
   pages (docs/teaching.md included when it exists), notebooks/README.md, data/README.md, the executed
   chapters with a header box (where the outputs come from, run time, student time, download link),
   the solution cells folded behind a toggle, widgets as their static picture. Relative links to
   repository files that are not on the site point at the file on GitHub; a link to nothing stays
   as it is, and Sphinx then fails on it.
3. **Sphinx + MyST-NB** (site/conf.py) writes the HTML, warnings as errors: build/site/ (classroom)
   or build/site-smoke/ (smoke). MathJax is served from the site itself (sphinx-mathjax-offline), and
   search is Sphinx's own client-side index: nothing is fetched from the network, at build or view time.

The page header's run times and student time come from site/chapters.toml.

**The Chinese edition** (notebooks/zh/NN_name.ipynb, those present) goes through the same three steps
and lands under zh/: zh/notebooks/NN_name.html (executed in their own run folder, run/zh/notebooks,
with a short header box in Chinese), zh/index (README.zh.md, or a generated list of the Chinese
chapters when there is none), zh/docs/NAME (docs/zh/*.md). A link from a Chinese page to a Chinese
page that does not exist yet (docs/zh/glossary.md, an untranslated chapter) goes to its English
counterpart. Every English page with a Chinese counterpart (and the front page) shows a "中文" link in
its header, every Chinese page an "English" link (site/conf.py, site/templates/lang-switch.html).
Smoke mode executes only the Chinese chapters of SMOKE_ZH (chapter 04: all of them would add about
three minutes to `make test`); the classroom build (`make site`) executes all of them.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import time
import warnings
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest brings tomli (the site's own venv needs 3.11+ for Sphinx 9)
    import tomli as tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "site"
CHAPTER_GLOB = "notebooks/[0-9][0-9]_*.ipynb"
ZH_CHAPTER_GLOB = "notebooks/zh/[0-9][0-9]_*.ipynb"
SMOKE_ZH = ("04_",)  # the Chinese chapters smoke mode executes (the first one present if none of these is)
KERNEL_NAME = "byol-course-site"
TO_MEASURE = "TO MEASURE"  # site/chapters.toml's mark for a value nobody has measured yet
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg"}

# The last cell of every executed chapter: the kernel says where the outputs come from. Its text is
# part of the cache key, so changing it re-runs every chapter once; so is the fingerprint of the
# package modules the chapter imports (see package_fingerprint), so that a chapter whose code is
# unchanged is re-run when the package code it runs has changed.
PROVENANCE_SOURCE = """\
# byol-course site build: where these outputs come from (this cell is not shown on the page)
# package modules this chapter runs: {fingerprint}
import datetime as _dt, json as _json, platform as _platform, torch as _torch
from byol_course.course import mode as _mode
from byol_course.device import hardware as _hardware
print(_json.dumps({"mode": _mode(), "hardware": _hardware(), "torch": _torch.__version__,
                   "python": _platform.python_version(),
                   "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}))"""

# ipywidgets models a reader can operate (a widget holding one is "live in Jupyter"), by a part of the
# model's name, first match wins: SelectionSliderModel is a slider.
CONTROLS = [("Slider", "slider"), ("Checkbox", "checkbox"), ("Dropdown", "menu"), ("Button", "button"),
            ("Toggle", "toggle"), ("Radio", "choice"), ("Select", "choice"), ("Text", "text field"),
            ("Combobox", "text field"), ("Picker", "picker"), ("Play", "player")]


def control_kind(model_name: str) -> str | None:
    """'slider' for FloatSliderModel, None for a model nobody operates (Output, HTML, a box)."""
    return next((word for part, word in CONTROLS if part in model_name), None) if model_name.endswith("Model") else None


def describe_controls(controls: list[tuple[str, str]]) -> str:
    """[("slider", "hue"), ("slider", "contrast"), ("button", "run")] -> 'two sliders (hue, contrast) and a button (run)'."""
    numbers = {1: "a", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    groups: dict[str, list[str]] = {}
    for word, label in controls:
        groups.setdefault(word, []).append(label)
    parts = []
    for word, labels in groups.items():
        n = len(labels)
        named = ", ".join(label for label in labels if label)
        parts.append(f"{numbers.get(n, n)} {word}{'es' if n > 1 and word.endswith('x') else 's' if n > 1 else ''}"
                     + (f" ({named})" if named else ""))
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class BuildError(RuntimeError):
    """Something the site cannot show as it should (a failed notebook, a chapter with no goals, ...)."""


def log(msg: str) -> None:
    print(f"[site] {msg}", flush=True)


# ---------------------------------------------------------------- what goes on the site


def repo_url(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks, by glob: a new chapter is on the site without a change here."""
    return sorted(root.glob(CHAPTER_GLOB))


def zh_chapters(root: Path = ROOT, smoke: bool = False) -> list[Path]:
    """The Chinese chapters present (notebooks/zh/), by glob; in smoke mode only those of SMOKE_ZH."""
    found = sorted(root.glob(ZH_CHAPTER_GLOB))
    if smoke:
        return [p for p in found if p.name.startswith(SMOKE_ZH)] or found[:1]
    return found


def is_zh(repo_rel: str) -> bool:
    return repo_rel == "README.zh.md" or repo_rel.startswith(("notebooks/zh/", "docs/zh/"))


def pages(root: Path = ROOT) -> dict[str, Path]:
    """Staged path -> repository file, for every Markdown page (README.md becomes the front page)."""
    found = {"index.md": root / "README.md"}
    for rel in ("notebooks/README.md", "data/README.md"):
        if (root / rel).exists():
            found[rel] = root / rel
    for path in sorted((root / "docs").glob("*.md")):  # docs/teaching.md too, once it exists
        found[f"docs/{path.name}"] = path
    if (root / "README.zh.md").exists():  # the Chinese edition's front page (else stage() writes one)
        found["zh/index.md"] = root / "README.zh.md"
    for path in sorted((root / "docs" / "zh").glob("*.md")):
        found[f"zh/docs/{path.name}"] = path
    return found


def staged_name(repo_rel: str) -> str:
    """Where a repository file lives in the staged source tree: README.md moves to index.md, the Chinese
    edition under zh/ (README.zh.md -> zh/index.md, notebooks/zh/x -> zh/notebooks/x, docs/zh/x -> zh/docs/x)."""
    if repo_rel == "README.md":
        return "index.md"
    if repo_rel == "README.zh.md":
        return "zh/index.md"
    for part in ("notebooks", "docs"):
        if repo_rel.startswith(f"{part}/zh/"):
            return f"zh/{part}/" + repo_rel.removeprefix(f"{part}/zh/")
    return repo_rel


def english_counterpart(repo_rel: str) -> str:
    """docs/zh/glossary.md -> docs/glossary.md, notebooks/zh/x.ipynb -> notebooks/x.ipynb, README.zh.md -> README.md."""
    if repo_rel == "README.zh.md":
        return "README.md"
    return re.sub(r"^(notebooks|docs)/zh/", r"\1/", repo_rel)


def load_chapter_data(root: Path = ROOT) -> dict[str, dict]:
    return tomllib.loads((root / "site" / "chapters.toml").read_text()).get("chapters", {})


def student_times(python: Path, root: Path = ROOT) -> dict[str, str]:
    """Chapter stem → its estimated student time, as the teaching guide's table gives it.

    `python -m classroom.student_time --json`, run by the course's Python (it reads the chapters'
    exercises through byol_course, which needs torch: not in the site's venv).
    """
    run = subprocess.run([str(python), "-m", "classroom.student_time", "--json"], cwd=root, capture_output=True, text=True)
    if run.returncode != 0:
        raise BuildError(f"classroom.student_time failed, so the pages cannot give student times: {run.stderr.strip().splitlines()[-1:]}")
    rows = json.loads(run.stdout)
    return {r["name"]: f"about {r['total']:.0f} min (reading {r['reading']:.0f}, exercises {r['exercising']}, written questions "
                       f"{r['answering']}, running {r['running']:.0f}: an estimate, method in the teaching guide)" for r in rows}


# ---------------------------------------------------------------- links


LINK = re.compile(r"(\]\()([^)\s]+)(\))|(<img\s[^>]*?src=\")([^\"]+)(\")")


def rewrite_links(text: str, at: str, on_site: set[str], root: Path, url: str, assets: set[str]) -> str:
    """Relative links of the repository file `at` (posix, repository-relative), made right for the site.

    A link to a page or chapter of the site stays (README.md becomes index.md); an image is kept and
    recorded in `assets` to be copied; a link to another file of the repository goes to GitHub; a
    link to a Chinese file that does not exist (yet) goes to its English counterpart; a link to
    nothing stays as written, so that Sphinx reports it.
    """
    here = posixpath.dirname(at)

    def fix(match: re.Match) -> str:
        pre, target, post = (match.group(1), match.group(2), match.group(3)) if match.group(1) else match.group(4, 5, 6)
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        rel = posixpath.normpath(posixpath.join(here, path))
        if is_zh(rel) and not (root / rel).exists() and (root / english_counterpart(rel)).exists():
            rel = english_counterpart(rel)  # not translated yet: the English page
        if rel.startswith("..") or not (root / rel).exists():
            return match.group(0)  # outside the repository, or missing: Sphinx will say so
        suffix = "#" + anchor if anchor else ""
        if rel in on_site:
            new = posixpath.relpath(staged_name(rel), posixpath.dirname(staged_name(at)) or ".")
            return f"{pre}{new}{suffix}{post}"
        if Path(rel).suffix.lower() in IMAGE_SUFFIXES:
            assets.add(rel)
            if staged_name(at) == at:
                return match.group(0)
            return f"{pre}{posixpath.relpath(rel, posixpath.dirname(staged_name(at)) or '.')}{post}"  # README.zh.md moves down
        kind = "tree" if (root / rel).is_dir() else "blob"
        return f"{pre}{url}/{kind}/main/{rel}{suffix}{post}"

    return LINK.sub(fix, text)


# ---------------------------------------------------------------- notebooks: execute


def kernel_dir(work: Path, python: Path) -> Path:
    """A Jupyter data dir holding one kernelspec: the course venv's Python (JUPYTER_PATH points here)."""
    spec = work / "jupyter" / "kernels" / KERNEL_NAME / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "byol-course (site build)",
        "language": "python",
    }, indent=1))
    return spec.parents[2]


def module_file(name: str, root: Path) -> Path | None:
    base = root / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported(code: str, package: str = "") -> list[str]:
    """Module names that `code` imports (for `from m import x`, both m and m.x: x may be a module).

    `package` resolves relative imports. IPython's %magic and !shell lines count as `pass`.
    """
    import ast

    code = "\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in code.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return re.findall(r"^\s*(?:from|import)\s+(byol_course(?:\.\w+)*)", code, flags=re.M)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # from .x import y, from . import x
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names += [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def package_fingerprint(code: str, root: Path = ROOT) -> str:
    """A hash of every package file that `code` imports, directly or through other package modules.

    Parent packages' __init__.py count too (importing byol_course.collapse runs them). A change to
    byol_course/collapse/ then re-runs chapter 9 and not chapter 0, whose modules it does not touch.
    """
    import hashlib

    todo = [n for n in imported(code) if n.startswith("byol_course")]
    seen: dict[str, Path] = {}
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):  # byol_course, byol_course.collapse, byol_course.collapse.runner
            mod = ".".join(parts[:i])
            file = module_file(mod, root)
            if file is None or mod in seen:
                continue
            seen[mod] = file
            package = mod if file.name == "__init__.py" else mod.rpartition(".")[0]
            todo += [n for n in imported(file.read_text(encoding="utf-8"), package) if n.startswith("byol_course")]
    digest = hashlib.sha256()
    for mod in sorted(seen):
        digest.update(f"{seen[mod].relative_to(root).as_posix()}\n".encode() + seen[mod].read_bytes())
    return f"{digest.hexdigest()[:16]} ({len(seen)} files)"


def exec_notebook(path: Path):
    """The notebook as the site executes it: instructor version, the site's kernel, the provenance cell."""
    import nbformat

    sys.path.insert(0, str(ROOT))
    from classroom.student_version import instructor_version  # nbformat only: no torch in the site's venv

    with warnings.catch_warnings():  # notebooks 05, 08, 09 have cells without the id nbformat 4.5 wants: given below
        warnings.filterwarnings("ignore", message="Cell is missing an id field")
        nb = instructor_version(nbformat.read(path, as_version=4))
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "byol-course (site build)", "language": "python"}
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code") + "\n" + PROVENANCE_SOURCE
    nb.cells.append(nbformat.v4.new_code_cell(PROVENANCE_SOURCE.replace("{fingerprint}", package_fingerprint(code))))
    for i, cell in enumerate(nb.cells):  # some committed cells lack the id nbformat 4.5 requires (ids are not hashed)
        cell.setdefault("id", f"site-{i}")
    return nb


@dataclass
class Executed:
    nb: object
    seconds: float | None
    cached: bool
    provenance: dict = field(default_factory=dict)


def execute(path: Path, cache_dir: Path, cwd: Path, timeout: int) -> Executed:
    """Outputs from the cache when the code is unchanged, else run the notebook and cache it."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache = get_cache(str(cache_dir))
    nb = exec_notebook(path)
    try:
        record = cache.match_cache_notebook(nb)
    except KeyError:
        record = None
    if record is not None:
        _, merged = cache.merge_match_into_notebook(nb)
        done = Executed(merged, record.data.get("execution_seconds"), cached=True)
    else:
        log(f"executing {path.name} ...")
        cwd.mkdir(parents=True, exist_ok=True)
        from jupyter_client.manager import KernelManager

        # IPC sockets, not TCP ports: on a machine where others start kernels too, two kernels can race
        # for one free port and a client can end up talking to someone else's kernel.
        sockets = Path(tempfile.mkdtemp(prefix="byol-site-kernel-"))
        km = KernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=str(sockets / "kernel"))
        try:
            result = single_nb_execution(nb, cwd=str(cwd), timeout=timeout, allow_errors=False, meta_override=False, km=km)
        except Exception as e:  # noqa: BLE001 - e.g. nbclient's DeadKernelError (killed, out of memory)
            raise BuildError(f"{path.name}: the kernel failed: {type(e).__name__}: {e}") from e
        if result.err is not None:
            raise BuildError(f"{path.name} failed to execute:\n{result.exc_string}")
        record = cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": result.time}),
                                             check_validity=False, overwrite=True)
        for old in cache.list_cache_records():  # this chapter's earlier versions: the cache keeps one per chapter
            if old.uri == str(path) and old.pk != record.pk:
                cache.remove_cache(old.pk)
        done = Executed(nb, result.time, cached=False)
    last = done.nb.cells.pop()  # the provenance cell
    text = "".join(o.get("text", "") for o in last.get("outputs", []) if o.get("output_type") == "stream")
    try:
        done.provenance = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BuildError(f"{path.name}: the provenance cell printed {text!r}, not one line of JSON") from None
    how = "from the cache" if done.cached else "executed"
    log(f"{path.name}: {how} ({done.seconds or 0:.0f} s of execution, {done.provenance['mode']} mode)")
    return done


# ---------------------------------------------------------------- notebooks: present


def _plain(stream: dict) -> dict:
    text = stream.get("text", "")
    return {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "".join(text) if isinstance(text, list) else text}}


def _html(text: str) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/html": text}}


def static_widget(view: dict, state: dict) -> tuple[list[dict], list[str]]:
    """A widget output as static outputs: what its Output areas held and its progress bars' last text.

    Returns (outputs, controls): controls are (kind, label) of the interactive parts (sliders,
    buttons, ...), which only work in a live kernel.
    """
    outputs, controls, seen = [], [], set()

    def walk(model_id: str) -> None:
        if model_id in seen or model_id not in state:
            return
        seen.add(model_id)
        model = state[model_id]
        name, st = model.get("model_name", ""), model.get("state", {})
        if name == "OutputModel":  # its printed text as a block of its own: the page merges a cell's streams
            outputs.extend(_plain(o) if o.get("output_type") == "stream" else copy.deepcopy(o) for o in st.get("outputs", []))
        elif name in ("FloatProgressModel", "IntProgressModel"):
            outputs.append(_html(f'<progress class="site-progress" value="{st.get("value", 0)}" max="{st.get("max", 100)}"></progress>'))
        elif name in ("HTMLModel", "LabelModel") and st.get("value"):
            outputs.append(_html(f'<span class="site-widget-text">{st["value"]}</span>'))
        elif kind := control_kind(name):
            controls.append((kind, st.get("description") or ""))
        for child in st.get("children", []):
            if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                walk(child.removeprefix("IPY_MODEL_"))

    walk(view["model_id"])
    progress = [o for o in outputs if "site-progress" in json.dumps(o)]
    if progress and not controls:  # a tqdm bar: [description] [bar] [counts and times] on one line
        parts = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
        return [_html('<div class="site-progress-line">' + " ".join(parts) + "</div>")], []
    return outputs, controls


def present_widgets(nb, name: str, lang: str = "en") -> int:
    """Replace every widget view by its static picture, with a note where it has controls. Returns how many."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        new = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view is None:
                new.append(out)
                continue
            count += 1
            shown, controls = static_widget(view, state)
            if controls and lang == "zh":
                labels = "、".join(label for _, label in controls if label)
                after = "下面是笔记本运行时它显示的内容。" if shown else "它的图在你操作控件时才出现，所以本页没有图可显示。"
                new.append(_html(
                    '<div class="admonition note site-widget-note"><p class="admonition-title">在 Jupyter 中可交互</p>'
                    f"<p>笔记本在这里显示一个交互式控件{f'（{labels}）' if labels else ''}：它在运行中的笔记本（Jupyter 或 "
                    f"Colab）里可用，在本页不可用。{after}</p></div>"))
            elif controls:
                what = describe_controls(controls)
                after = ("Below: what the widget showed when the notebook ran." if shown else
                         "Its figure appears when you use a control, so this page has none to show here.")
                new.append(_html(
                    '<div class="admonition note site-widget-note"><p class="admonition-title">Live in Jupyter</p>'
                    f"<p>Here the notebook shows an interactive widget: {what}. It works in a running "
                    f"notebook (Jupyter or Colab), not on this page. {after}</p></div>"))
            new.extend(shown)
        cell.outputs = [nbformat_output(o) for o in new]
    nb.metadata.pop("widgets", None)
    return count


def nbformat_output(out: dict):
    import nbformat

    return nbformat.from_dict(out)


def run_time_line(data: dict) -> str:
    times = data.get("run_time", {})
    parts = []
    for mode in ("smoke", "classroom", "full"):
        value = times.get(mode, TO_MEASURE)
        parts.append(f"{mode}: {'not measured yet' if value == TO_MEASURE else value}")
    return " · ".join(parts)


def goals_of(nb) -> bool:
    """Whether the chapter's own text has its learning goals (a **Learning goals** paragraph before the first code
    cell; **学习目标** in a Chinese chapter)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            return False
        if "**Learning goals**" in cell.source or "**学习目标**" in cell.source:
            return True
    return False


def header_cell(path: Path, done: Executed, data: dict, has_goals: bool, exercises: int):
    """The chapter's header box, placed after its first cell."""
    import nbformat

    p = done.provenance
    when = p["finished"][:10]
    if p["mode"] == "smoke":
        mode = "**smoke mode** (tiny sizes: the CI check of this site, not the classroom outputs)"
    else:
        mode = f"**{p['mode']} mode**"
    secs = f"; the notebook ran for {done.seconds:.0f} s" if done.seconds else ""
    student = data.get("student_time", TO_MEASURE)
    lines = [
        "```{admonition} This chapter on the website",
        ":class: site-chapter-info",
        "",
        f"- **Outputs on this page**: computed in {mode} on {p['hardware']} (torch {p['torch']}), "
        f"{when}{secs}.",
        f"- **Run time** per mode: {run_time_line(data)}." if data.get("run_time") else
        "- **Run time** per mode: see the chapter's text above (site/chapters.toml has no entry for it yet).",
        f"- **Estimated student time**: {'not measured yet' if student == TO_MEASURE else student}.",
        f"- **The notebook**: {{download}}`download {path.name} <../_notebooks/{path.name}>`, or open it "
        "in Colab with the badge above.",
    ]
    if exercises:
        lines.append(f"- **The {exercises} exercise{'s' if exercises > 1 else ''}** appear{'' if exercises > 1 else 's'} "
                     "solved here: each solution is folded under its toggle. Try it yourself in the notebook first.")
    if not has_goals:
        lines.append("- **Learning goals** (from site/chapters.toml):")
        lines += [f"  - {goal}" for goal in data["goals"]]
    lines.append("```")
    return nbformat.v4.new_markdown_cell("\n".join(lines))


def zh_header_cell(path: Path, done: Executed, exercises: int):
    """A Chinese chapter's header box, short: where the outputs come from, run time, the download."""
    import nbformat

    p = done.provenance
    mode = "冒烟模式（smoke：极小规模，本网站的 CI 检查，不是课堂输出）" if p["mode"] == "smoke" else f"{p['mode']} 模式"
    secs = f"，笔记本运行了 {done.seconds:.0f} 秒" if done.seconds else ""
    lines = [
        "```{admonition} 本章网页版",
        ":class: site-chapter-info",
        "",
        f"- **本页输出**：{mode}，{p['finished'][:10]} 在 {p['hardware']}（torch {p['torch']}）上计算{secs}。",
        "- **运行时间**：见本章开头的“运行时间”一段。",
        f"- **笔记本**：{{download}}`下载 {path.name} <../_notebooks/{path.name}>`，或用上方的徽章在 Colab 中打开。",
    ]
    if exercises:
        lines.append(f"- **{exercises} 个练习**在此页显示为已解答：每个参考答案都折叠在开关下。请先在笔记本里自己尝试。")
    lines.append("```")
    return nbformat.v4.new_markdown_cell("\n".join(lines))


def present(path: Path, done: Executed, data: dict, on_site: set[str], root: Path, url: str, assets: set[str]):
    """The executed notebook as its page shows it."""
    nb = done.nb
    at = f"notebooks/zh/{path.name}" if path.parent.name == "zh" else f"notebooks/{path.name}"
    zh = is_zh(at)
    badge = posixpath.relpath("images/colab-badge.svg", posixpath.dirname(staged_name(at)))
    has_goals = goals_of(nb)
    if not has_goals and not data.get("goals"):
        raise BuildError(f"{path.name} has no **Learning goals** paragraph before its first code cell, and "
                         f"site/chapters.toml gives none ([chapters.\"{path.stem}\"] goals = [...]): add one of them")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            src = cell.source.replace(COLAB_BADGE, badge)
            cell.source = rewrite_links(src, at, on_site, root, url, assets)
        elif cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            tags = cell.metadata.setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
            cell.metadata["mystnb"] = ({"code_prompt_show": "显示参考答案", "code_prompt_hide": "隐藏参考答案"} if zh else
                                       {"code_prompt_show": "Show the solution", "code_prompt_hide": "Hide the solution"})
    widgets = present_widgets(nb, path.name, "zh" if zh else "en")
    exercises = sum(1 for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution"))
    nb.cells.insert(1, zh_header_cell(path, done, exercises) if zh else header_cell(path, done, data, has_goals, exercises))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    for i, cell in enumerate(nb.cells):  # fixed ids: an unchanged chapter stages the same file
        cell["id"] = f"cell-{i}"
    return nb, widgets


# ---------------------------------------------------------------- staging


def write_if_changed(path: Path, content: str | bytes, written: set[Path]) -> None:
    """Write only what changed, so that Sphinx re-reads only those pages."""
    written.add(path)
    data = content.encode() if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def toctree(caption: str, entries: list[str]) -> str:
    if not entries:
        return ""
    return "\n".join(["", "```{toctree}", ":hidden:", f":caption: {caption}", "", *entries, "```", ""])


def stage(src: Path, executed: dict[Path, Executed], root: Path = ROOT, strict_data: bool = True,
          student: dict[str, str] | None = None) -> dict:
    """Write the Sphinx source tree; remove what no longer belongs there. Returns a summary."""
    import nbformat

    url = repo_url(root)
    page_files = pages(root)
    chapter_files = [p for p in executed if not is_zh(p.relative_to(root).as_posix())]
    zh_files = [p for p in executed if is_zh(p.relative_to(root).as_posix())]
    on_site = {p.relative_to(root).as_posix() for p in [*page_files.values(), *executed]}
    data = load_chapter_data(root)
    for stem, text in (student or {}).items():  # site/chapters.toml's own student_time, where given, wins
        data.setdefault(stem, {}).setdefault("student_time", text)
    written: set[Path] = set()
    assets: set[str] = set()
    widgets = {}
    for path, done in executed.items():
        nb, widgets[path.relative_to(root).as_posix()] = present(path, done, data.get(path.stem, {}), on_site, root, url, assets)
        staged = Path(staged_name(path.relative_to(root).as_posix()))
        write_if_changed(src / staged, nbformat.writes(nb), written)
        write_if_changed(src / staged.parents[1] / "_notebooks" / path.name, path.read_bytes(), written)  # the download: the notebook as committed
    zh_pages = zh_files or any(n.startswith("zh/") for n in page_files)
    if zh_pages and "zh/index.md" not in page_files:  # no README.zh.md (yet): a short list of the Chinese chapters
        page_files["zh/index.md"] = None
    for name, path in page_files.items():
        if path is None:
            text = zh_index(zh_files)
        else:
            text = rewrite_links(path.read_text(encoding="utf-8"), path.relative_to(root).as_posix(), on_site, root, url, assets)
        if name == "index.md":
            docs = [f"docs/{Path(n).stem}" for n in page_files if n.startswith("docs/") and n != "docs/teaching.md"]
            text += toctree("Chapters", [f"notebooks/{p.stem}" for p in chapter_files])
            text += toctree("Teaching", ["docs/teaching"] if "docs/teaching.md" in page_files else [])
            more = [n.removesuffix(".md") for n in ("notebooks/README.md", "data/README.md") if n in page_files]
            text += toctree("Reference", more + docs)
            text += toctree("中文 (Chinese edition)", ["zh/index"] if zh_pages else [])
        elif name == "zh/index.md":
            text += toctree("章节", [f"notebooks/{p.stem}" for p in zh_files])
            text += toctree("参考", [f"docs/{Path(n).stem}" for n in page_files if n.startswith("zh/docs/")])
        write_if_changed(src / name, text, written)
    for rel in sorted(assets):
        write_if_changed(src / rel, (root / rel).read_bytes(), written)
    write_if_changed(src / "images" / "colab-badge.svg", (SITE / "images" / "colab-badge.svg").read_bytes(), written)
    for path in sorted(src.rglob("*"), reverse=True):  # what an earlier build staged and this one did not
        if path.is_file() and path not in written:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return {"pages": len(page_files), "chapters": len(chapter_files), "zh_chapters": len(zh_files), "assets": len(assets),
            "widgets": widgets}


def zh_index(zh_files: list[Path]) -> str:
    """The Chinese edition's front page when there is no README.zh.md: its chapters, by their titles."""
    import nbformat

    lines = ["# BYOL 课程（中文版）", "", "本课程的中文版章节。[English](../index.md) 版本包含全部章节和参考页面。", ""]
    for path in zh_files:
        cells = nbformat.read(path, as_version=4).cells
        title = next((line.lstrip("# ").strip() for c in cells if c.cell_type == "markdown"
                      for line in c.source.splitlines() if line.startswith("# ")), path.stem)
        lines.append(f"- [{title}](notebooks/{path.name})")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the build


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if out.returncode == 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="BYOL_COURSE_SMOKE=1: tiny sizes (what make test checks)")
    parser.add_argument("--out", type=Path, help="the HTML folder (default build/site, or build/site-smoke with --smoke)")
    parser.add_argument("--work", type=Path, help="staging, doctrees, cache, run folders (default build/site-work/<mode>)")
    parser.add_argument("--python", type=Path, default=ROOT / ".venv" / "bin" / "python",
                        help="the Python of the course's venv: the notebooks' kernel (default .venv/bin/python)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds a cell may run (default 600 smoke, 7200 classroom)")
    parser.add_argument("--only", nargs="*", default=None, help="only the chapters whose names start so (a quicker look; not for publishing)")
    args = parser.parse_args(argv)

    mode = "smoke" if args.smoke else "classroom"
    out = (args.out or ROOT / "build" / ("site-smoke" if args.smoke else "site")).resolve()
    work = (args.work or ROOT / "build" / "site-work" / mode).resolve()
    python = args.python if args.python.is_absolute() else (Path.cwd() / args.python)
    if not python.exists():
        raise SystemExit(f"{python} is missing: the notebooks run in the course's venv (make site creates it)")
    timeout = args.timeout or (600 if args.smoke else 7200)

    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(kernel_dir(work, python)), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)
    os.environ.pop("MPLBACKEND", None)  # the kernel must draw inline, as for a student
    if args.smoke:
        os.environ["BYOL_COURSE_SMOKE"] = "1"
    else:
        os.environ.pop("BYOL_COURSE_SMOKE", None)

    t0 = time.monotonic()
    found = chapters()
    found_zh = zh_chapters(smoke=args.smoke)
    if args.only:
        found = [p for p in found if p.name.startswith(tuple(args.only))]
        found_zh = [p for p in found_zh if p.name.startswith(tuple(args.only))]
    log(f"{mode} mode: {len(found)} chapters, {len(found_zh)} in Chinese; kernel {python}; cache {work / 'cache'}")
    try:
        executed = {p: execute(p, work / "cache", work / "run" / "notebooks", timeout) for p in found}
        executed |= {p: execute(p, work / "cache", work / "run" / "zh" / "notebooks", timeout) for p in found_zh}
        t_exec = time.monotonic() - t0
        summary = stage(work / "src", executed, student=student_times(python))
    except BuildError as e:
        print(f"\n[site] FAILED: {e}", file=sys.stderr)
        return 1
    n_widgets = sum(summary["widgets"].values())
    log(f"staged {summary['pages']} pages, {summary['chapters']} chapters, {summary['zh_chapters']} Chinese chapters, {summary['assets']} images, "
        f"{n_widgets} widget outputs made static ({time.monotonic() - t0:.0f} s so far, {t_exec:.0f} s executing or reading the cache)")

    from sphinx.cmd.build import build_main

    os.environ["BYOL_SITE_MODE"] = mode
    os.environ["BYOL_SITE_COMMIT"] = git_commit(ROOT)
    os.environ["BYOL_SITE_BUILT"] = dt.date.today().isoformat()
    t1 = time.monotonic()
    rc = build_main(["-b", "html", "-c", str(SITE), "-d", str(work / "doctrees"), "-W", "--keep-going", "-q",
                     "-j", "1", str(work / "src"), str(out)])
    log(f"sphinx: exit {rc} in {time.monotonic() - t1:.0f} s; the whole build {time.monotonic() - t0:.0f} s -> {out}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
