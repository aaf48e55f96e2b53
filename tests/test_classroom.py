"""`make classroom` and `make otter`, end to end, offline: build, grade three submissions, read the feedback.

The course folder is built with nbgrader's own `generate_assignment`; three submissions are made
from the student version of one week — every exercise solved, untouched, and one classic mistake
per exercise (tests/_classroom.py) — and graded by `nbgrader autograde`, `generate_feedback` and
`export`. The same three submissions go through otter-grader (`otter run`, no Docker), chapter by
chapter: the autograded scores must agree. The graders live in .venv-grading (make test builds
it); outside `make test`, without it, these tests are skipped with that reason.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from _classroom import otter_submission, submission
from classroom.assignments import PARTS_OF_THE_PLAN, notebooks_of, points, points_table
from classroom.nbgrader_course import write_course
from classroom.otter_course import write_otter
from classroom.student_version import leaked

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("BYOL_COURSE_GRADERS", ROOT / ".venv-grading" / "bin"))
WEEK = "part2"  # chapters 3 and 4: four exercises, ten written questions — graded end to end in `make test`
KINDS = ("solved", "untouched", "mistakes")

if not (BIN / "nbgrader").exists() or not (BIN / "otter").exists():
    if os.environ.get("BYOL_COURSE_REQUIRE_GRADERS"):
        raise RuntimeError(f"the graders are missing from {BIN}: `make test` builds .venv-grading first.")
    pytestmark = pytest.mark.skip(reason=f"nbgrader and otter live in .venv-grading (`make classroom` or `make test` builds it); not in {BIN}")


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def _run(*cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("classroom") / "course"
    write_course(out, os.path.relpath(BIN / "nbgrader"))  # relative, as `make classroom` passes it (it failed so once)
    return out


@pytest.fixture(scope="module")
def graded(course: Path) -> dict[str, dict[str, float]]:
    """student → {max, score} after nbgrader autograde, generate_feedback and export of WEEK."""
    for kind in KINDS:
        folder = course / "submitted" / kind / WEEK
        folder.mkdir(parents=True)
        for released in sorted((course / "release" / WEEK).glob("*.ipynb")):
            source = nbformat.read(course / "source" / WEEK / released.name, as_version=4)
            nbformat.write(submission(nbformat.read(released, as_version=4), source, kind), folder / released.name)
    for cmd in (["autograde", WEEK], ["generate_feedback", WEEK], ["export"]):
        _run(str(BIN / "nbgrader"), *cmd, "--force" if cmd[0] != "export" else "--log-level=WARN", cwd=course)
    rows = [r for r in csv.DictReader((course / "grades.csv").open()) if r["assignment"] == WEEK]
    return {r["student_id"]: {"score": float(r["raw_score"]), "max": float(r["max_score"])} for r in rows}


def test_the_course_folder_is_ready_for_nbgrader(course: Path) -> None:
    """Every week's source and release; no solution, hidden test or model answer in a student version."""
    assert (course / "nbgrader_config.py").exists() and (course / "mark_scheme.md").exists()
    assert re.search(r"\./wheels/byol_course-[\d.]+-py3-none-any\.whl", (course / "requirements.txt").read_text())
    assert "commit" in (course / "COURSE.md").read_text()
    for week in PARTS_OF_THE_PLAN:
        names = sorted(p.name for p in notebooks_of(week))
        assert sorted(p.name for p in (course / "source" / week.name).glob("*.ipynb")) == names
        for name in names:
            source = nbformat.read(course / "source" / week.name / name, as_version=4)
            student = nbformat.read(course / "release" / week.name / name, as_version=4)
            text = "\n".join(c.source for c in student.cells)
            assert leaked(source, student) == [] and "BEGIN HIDDEN TESTS" not in text and "assert_hidden" not in text
            assert "Model answer" not in text and "<details>" not in text, name
            auto = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
            assert all(c.metadata["nbgrader"]["locked"] for c in auto)


def test_nbgrader_gives_full_zero_and_partial_scores(graded: dict[str, dict[str, float]]) -> None:
    """Solved: every autograded point; untouched: none; one mistake per exercise: only 'runs' and 'own'."""
    auto, manual = points(next(w for w in PARTS_OF_THE_PLAN if w.name == WEEK))
    assert {kind: graded[kind]["max"] for kind in KINDS} == dict.fromkeys(KINDS, auto + manual)
    assert graded["solved"]["score"] == auto  # the written answers wait for a teacher
    assert graded["untouched"]["score"] == 0
    exercises = auto // 6
    assert graded["mistakes"]["score"] == 2 * exercises


def test_the_feedback_names_each_mistake(course: Path, graded) -> None:
    """generate_feedback's HTML carries each classic mistake's diagnosis, the checker's own sentence."""
    from _classroom import MISTAKES

    html = "\n".join(p.read_text() for p in (course / "feedback" / "mistakes" / WEEK).glob("*.html"))
    ids = [c.metadata["nbgrader"]["grade_id"] for p in (course / "source" / WEEK).glob("*.ipynb")
           for c in nbformat.read(p, as_version=4).cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    assert ids
    for grade_id in ids:
        assert MISTAKES[grade_id][1] in html, grade_id


@pytest.fixture(scope="module")
def otter(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("otter")
    write_otter(out, os.path.relpath(BIN / "otter"))  # relative, as `make otter` passes it
    return out


def test_otter_gives_the_same_scores(otter: Path, graded) -> None:
    """The same three submissions, graded chapter by chapter by `otter run`: the same autograded totals."""
    totals = dict.fromkeys(KINDS, 0.0)
    for path in notebooks_of(next(w for w in PARTS_OF_THE_PLAN if w.name == WEEK)):
        name = path.stem
        student = nbformat.read(otter / name / "student" / f"{name}.ipynb", as_version=4)
        assert "grader.check(" in "\n".join(c.source for c in student.cells) and "otter-grader" in student.cells[1].source \
            or any("otter-grader" in c.source for c in student.cells)
        for kind in KINDS:
            folder = otter / "runs" / name / kind
            folder.mkdir(parents=True)
            nbformat.write(otter_submission(student, kind, int(name[:2])), folder / f"{name}.ipynb")
            _run(str(BIN / "otter"), "run", "-a", str(otter / name / "autograder" / "autograder.zip"), "-o", str(folder),
                 str(folder / f"{name}.ipynb"), cwd=folder)
            results = json.loads((folder / "results.json").read_text())
            totals[kind] += sum(t["score"] for t in results["tests"] if t.get("max_score"))
    assert totals == {kind: graded[kind]["score"] for kind in KINDS}


def test_otter_assigns_every_gradable_chapter(otter: Path) -> None:
    """A student notebook and an autograder zip per chapter with exercises or questions; tests in the metadata."""
    for name, exercises in (("01_augmentations", 2), ("04_ema_target", 1), ("09_collapse_lab", 1), ("00_welcome", 0)):
        student = nbformat.read(otter / name / "student" / f"{name}.ipynb", as_version=4)
        assert (otter / name / "autograder" / "autograder.zip").exists()
        assert len(student.metadata["otter"]["tests"]) == exercises  # the public tests of each exercise, for grader.check
        assert "Model answer" not in "\n".join(c.source for c in student.cells)


def test_otter_grades_a_chapter_of_written_questions_only(otter: Path) -> None:
    """Chapter 0 has written questions and no exercise: its autograder runs (nothing autograded) instead of
    stopping on otter's missing tests/ folder."""
    name = "00_welcome"
    student = nbformat.read(otter / name / "student" / f"{name}.ipynb", as_version=4)
    assert not student.metadata["otter"]["tests"]
    folder = otter / "runs" / name
    folder.mkdir(parents=True)
    nbformat.write(student, folder / f"{name}.ipynb")
    _run(str(BIN / "otter"), "run", "-a", str(otter / name / "autograder" / "autograder.zip"), "-o", str(folder),
         str(folder / f"{name}.ipynb"), cwd=folder)
    results = json.loads((folder / "results.json").read_text())
    assert all(t.get("status") == "passed" and not t.get("max_score") for t in results["tests"]), results


def test_the_teaching_guide_shows_the_points_scheme() -> None:
    """docs/teaching.md's points table is the one the assignments make (no hand-copied numbers)."""
    assert points_table() in (ROOT / "docs" / "teaching.md").read_text()


def test_the_course_folder_builds_without_the_graders(tmp_path: Path) -> None:
    """write_course alone (no nbgrader) writes the sources and the mark scheme, which holds every model answer."""
    made = write_course(tmp_path / "c", nbgrader=None, wheel=False)
    assert set(made) == {w.name for w in PARTS_OF_THE_PLAN}
    scheme = (tmp_path / "c" / "mark_scheme.md").read_text()
    assert scheme.count("*Model answer:*") == sum(points(w)[1] for w in PARTS_OF_THE_PLAN)
    shutil.rmtree(tmp_path / "c")


def test_a_grader_given_by_a_relative_path_or_a_name_is_found_from_anywhere(tmp_path: Path, monkeypatch) -> None:
    """The commands run nbgrader and otter from inside the folders they write: the path is made absolute first."""
    from classroom.student_version import executable

    tool = tmp_path / "bin" / "grader"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert executable("bin/grader") == str(tool)
    monkeypatch.setenv("PATH", str(tool.parent))
    assert executable("grader") == str(tool)
    with pytest.raises(FileNotFoundError, match="is not an executable file: `make classroom` installs"):
        executable("bin/missing")
