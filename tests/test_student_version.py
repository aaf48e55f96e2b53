"""`make student`: the instructor version passes every checker, the student version has no solution and still runs.

Built and run on tests/fixtures/exercise_demo.ipynb (and on notebooks/ once their exercises are marked).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "exercise_demo.ipynb"
NBGRADER = ROOT / ".venv-grading" / "bin" / "nbgrader"
# Course notebooks whose exercises still use the <details> layout; each leaves this set when it is marked.
NOT_YET_MARKED: set[str] = set()


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("student_version", ROOT / "classroom" / "student_version.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo():
    return nbformat.read(FIXTURE, as_version=4)


def _run(nb, tmp_path: Path, name: str) -> nbformat.NotebookNode:
    """Execute a notebook in a fresh kernel (smoke mode), as nbval would; returns it with outputs."""
    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    env_before = os.environ.get("BYOL_COURSE_SMOKE")
    os.environ["BYOL_COURSE_SMOKE"] = "1"
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.pop("BYOL_COURSE_SMOKE") if env_before is None else os.environ.update(BYOL_COURSE_SMOKE=env_before)
    return nb


def _checker_lines(nb) -> list[str]:
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" and "check_" in c.source
            for o in c.outputs if o.get("name") == "stdout"]


def test_the_fixture_follows_the_convention(tool, demo) -> None:
    assert tool.convention_problems(demo) == []


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_course_notebooks_follow_the_convention(tool, path: Path) -> None:
    """Every course notebook can go through `make student` (those not marked yet are listed in NOT_YET_MARKED)."""
    problems = tool.convention_problems(nbformat.read(path, as_version=4))
    if path.name in NOT_YET_MARKED:
        assert problems, f"{path.name} is marked now: remove it from NOT_YET_MARKED"
        pytest.skip(f"{path.name}: exercises not marked yet ({problems[0]})")
    assert problems == []


def _broken(demo, change):
    nb = copy.deepcopy(demo)
    change(nb.cells)
    return nb


@pytest.mark.parametrize("change, phrase", [
    pytest.param(lambda cells: cells[3].metadata.pop("nbgrader"), "not an nbgrader solution cell", id="no-metadata"),
    pytest.param(lambda cells: cells[3].metadata["nbgrader"].update(schema_version=2), "schema_version 3", id="old-schema"),
    pytest.param(lambda cells: cells[3].metadata["nbgrader"].update(grade_id="demo-loss"), "repeated", id="duplicate-id"),
    pytest.param(lambda cells: cells[3].metadata["nbgrader"].update(locked=True), "locked=false", id="locked"),
    pytest.param(lambda cells: setattr(cells[3], "source", cells[3].source.replace("### END SOLUTION", "")), "one ### BEGIN", id="no-end"),
    pytest.param(lambda cells: cells[3].metadata.pop("cellView"), "must be collapsed", id="not-collapsed"),
    pytest.param(lambda cells: cells.pop(4), "followed by its stub cell", id="no-stub"),
    pytest.param(lambda cells: cells[4].metadata.pop("tags"), "a stub without its solution cell", id="untagged-stub"),
    pytest.param(lambda cells: cells.insert(5, nbformat.v4.new_markdown_cell("<details>\n\n```python\nx = 1\n```\n</details>")),
                 "<details> solution block", id="details-block"),
])
def test_the_convention_check_names_each_problem(tool, demo, change, phrase) -> None:
    problems = tool.convention_problems(_broken(demo, change))
    assert any(phrase in p for p in problems), problems


def test_instructor_version_passes_every_checker(tool, demo, tmp_path) -> None:
    instructor = tool.instructor_version(demo)
    assert not any(tool.is_self_study(c) for c in instructor.cells)
    assert not any("@title" in c.source or c.metadata.get("cellView") for c in instructor.cells)
    lines = _checker_lines(_run(instructor, tmp_path, "instructor"))
    assert len(lines) == 2 and all(line.startswith("✓") for line in lines), lines


def test_the_committed_version_runs_with_the_self_learners_stubs(demo, tmp_path) -> None:
    """Self-learners: the stub replaces the collapsed solution, the checker says 'not written yet', the notebook goes on."""
    lines = _checker_lines(_run(demo, tmp_path, "committed"))
    assert len(lines) == 2 and all(line.startswith("✗") and "not written yet" in line for line in lines), lines


def test_student_version_has_no_solution_and_runs_under_nbval(tool, demo, tmp_path) -> None:
    """`--builtin` (what nbgrader does): stubs in place of the solutions; nbval runs it top to bottom in smoke mode."""
    tool.main(["--builtin", "--out", str(tmp_path), str(FIXTURE)])
    student = nbformat.read(tmp_path / "student" / FIXTURE.name, as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "torch.where(x >= threshold, 1 - x, x)" not in text and "square().sum(dim=-1).mean()" not in text
    assert "BEGIN SOLUTION" not in text and text.count("raise NotImplementedError()") == 2
    assert not any(tool.is_self_study(c) for c in student.cells)
    env = {**os.environ, "BYOL_COURSE_SMOKE": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                             str(tmp_path / "student" / FIXTURE.name)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]


def test_a_leak_is_refused(tool, demo, tmp_path) -> None:
    """A solution pasted into another cell is caught before anything is written."""
    nb = _broken(demo, lambda cells: cells.insert(6, nbformat.v4.new_code_cell("# return torch.where(x >= threshold, 1 - x, x)")))
    instructor = tool.instructor_version(nb)
    assert tool.leaked(instructor, tool.builtin_student_version(instructor))


@pytest.mark.skipif(not NBGRADER.exists(), reason="nbgrader is installed by `make student` into .venv-grading")
def test_builtin_replacement_equals_nbgrader(tool, demo, tmp_path) -> None:
    """nbgrader generate_assignment and --builtin give the same cells (nbgrader adds only its bookkeeping metadata)."""
    instructor = {FIXTURE.name: tool.instructor_version(demo)}
    ours = tool.builtin_student_version(instructor[FIXTURE.name])
    theirs = tool.nbgrader_student_versions(instructor, str(NBGRADER))[FIXTURE.name]
    assert [c.source for c in ours.cells] == [c.source for c in theirs.cells]


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_course_notebooks_instructor_version_passes_its_exercise_checkers(tool, path: Path, tmp_path) -> None:
    """In build/instructor/, the checker cell after each solution prints ✓ (about 15 s a notebook)."""
    nb = nbformat.read(path, as_version=4)
    if not any(tool.is_solution(c) for c in nb.cells):
        pytest.skip(f"{path.name} has no marked exercise")
    ran = _run(tool.instructor_version(nb), tmp_path, path.stem)
    after = [ran.cells[i + 1] for i, c in enumerate(ran.cells) if tool.is_solution(c)]
    verdicts = [o.get("text", "") for c in after for o in c.outputs if o.get("name") == "stdout"]
    assert len(verdicts) == len(after) and all(v.startswith("✓") for v in verdicts), verdicts
