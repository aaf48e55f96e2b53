"""The notebooks as files: clean, with a working Colab badge and the one set-up cell.

(nbval executes them in smoke mode as part of `make test`; these checks are about the files.)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from byol_course.course import REPO_URL

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

if sys.version_info >= (3, 11):
    import tomllib

pytestmark = pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in notebooks/ yet")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_repo_url_is_defined_once_and_matches_pyproject() -> None:
    """The package's REPO_URL is the project's declared repository."""
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Repository"] == REPO_URL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path: Path) -> None:
    """No outputs, no execution counts: the notebook shows what the student will run, not our run."""
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_badge_points_at_this_notebook(path: Path) -> None:
    """The badge opens this very file on the main branch (a renamed notebook cannot keep a dead link)."""
    first = _source(_cells(path)[0])
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    want = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{path.name}"
    assert f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({want})" in first, f"badge should link {want}"


def test_every_colab_link_opens_an_existing_notebook() -> None:
    """Every Colab link in the notebooks and READMEs opens a file of this repository's main branch that exists."""
    prefix = f"https://colab.research.google.com/github/{REPO_URL.removeprefix('https://github.com/')}/blob/main/"
    for path in [*NOTEBOOKS, ROOT / "README.md", *(ROOT / "notebooks").glob("*.md")]:
        for url in re.findall(r"https://colab\.research\.google\.com/github/[^\s)\"'\]>]+", path.read_text(encoding="utf-8")):
            assert url.startswith(prefix), f"{path.name}: {url} does not open this repository's main branch"
            assert (ROOT / url.removeprefix(prefix)).is_file(), f"{path.name}: {url} opens a file that does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_setup_cell_installs_from_the_repo(path: Path) -> None:
    """The first code cell installs from REPO_URL in Colab only, then calls setup(); no sys.path hacks or local paths."""
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    setup = _source(code[0])
    assert f'"byol-course @ git+{REPO_URL}"' in setup
    assert '"google.colab" in sys.modules' in setup
    assert "setup(seed=" in setup
    everything = "\n".join(_source(c) for c in _cells(path))
    assert "sys.path.append" not in everything and "sys.path.insert" not in everything
    assert not re.search(r"/(work|root|home|Users)/", everything), "absolute path of a machine"
    assert sum("git+" in _source(c) for c in code) == 1, "install in one place only"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_structure_goals_runtime_summary(path: Path) -> None:
    """Learning goals and run times at the top, a summary at the end."""
    cells = _cells(path)
    head = _source(cells[0])
    assert "Learning goals" in head and "Run time" in head
    assert any("Summary" in _source(c) for c in cells[-3:] if c["cell_type"] == "markdown")
