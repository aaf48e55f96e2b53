"""A committed chapter, made gradable: the assignments (one per part of the plan), their graded cells and the mark scheme.

    committed notebook ─ instructor_version ─▶ solutions in place, self-study stubs dropped
                       ─ graded_source ───────▶ + after each exercise: 4 locked, autograded test cells
                                                + each written question: a manually graded answer cell
                                                  holding the model answer (instructor version only)

The graders replace the solution regions and answer cells with stubs in the student version
(nbgrader generate_assignment, otter assign), and drop the hidden tests.
"""

from __future__ import annotations

import copy
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

from byol_course.exercises.grading import EXERCISES, PARTS, Exercise

from .student_version import BEGIN, END, instructor_version, is_solution

ROOT = Path(__file__).resolve().parents[1]
QUESTION_POINTS = 1  # each written question, graded by hand against the model answer


@dataclass(frozen=True)
class Assignment:
    """One part of the teaching guide's plan (a session and its homework): a graded assignment of whole chapters."""

    name: str  # nbgrader's assignment id, a folder name
    title: str
    chapters: tuple[int, ...]  # chapter numbers; a chapter that does not exist (yet) is left out


# docs/teaching.md's two-week plan: two sessions a week, one assignment per session (a part of the course).
PARTS_OF_THE_PLAN = (
    Assignment("part1", "Views and encoders (chapters 0–2; week 1, session 1)", (0, 1, 2)),
    Assignment("part2", "Predictor, loss and target (chapters 3–4; week 1, session 2)", (3, 4)),
    Assignment("part3", "Training and finding bugs (chapters 5–6; week 2, session 3)", (5, 6)),
    Assignment("part4", "GPU pretraining, evaluation and collapse (chapters 7–10; week 2, session 4)", (7, 8, 9, 10)),
)


def chapter_notebooks(root: Path = ROOT) -> dict[int, Path]:
    """Chapter number → its notebook under notebooks/."""
    return {int(p.name[:2]): p for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def notebooks_of(assignment: Assignment, root: Path = ROOT) -> list[Path]:
    """The assignment's notebooks, in chapter order."""
    found = chapter_notebooks(root)
    return [found[c] for c in assignment.chapters if c in found]


# --- written questions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """A written question of a chapter, its model answer and its points."""

    chapter: int
    number: int
    prompt: str
    answer: str
    points: int = QUESTION_POINTS

    @property
    def grade_id(self) -> str:
        """The nbgrader grade_id of its answer cell."""
        return f"ch{self.chapter:02d}-q{self.number}"


def _numbered(text: str) -> dict[int, str]:
    """The items of a numbered markdown list: number → text, continuation lines dedented."""
    items: dict[int, str] = {}
    for m in re.finditer(r"^(\d+)\. (.*?)(?=^\d+\. |\Z)", text, flags=re.M | re.S):
        first, _, rest = m.group(2).partition("\n")
        items[int(m.group(1))] = (first + ("\n" + textwrap.dedent(rest) if rest.strip() else "")).strip()
    return items


def is_questions(cell) -> bool:
    """True for a chapter's '## Questions' cell with its answers in a <details> block."""
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith("## Questions") and "<details>" in cell.source


def questions(nb, chapter: int) -> list[Question]:
    """The chapter's written questions with their model answers (from its '## Questions' cell)."""
    for cell in nb.cells:
        if is_questions(cell):
            asked, answered = cell.source.split("<details>", 1)
            answered = answered.split("</summary>", 1)[-1].split("</details>", 1)[0]
            prompts, answers = _numbered(asked), _numbered(answered)
            if sorted(prompts) != sorted(answers):
                raise ValueError(f"chapter {chapter}: questions {sorted(prompts)} but answers {sorted(answers)}.")
            return [Question(chapter, n, prompts[n], answers[n]) for n in sorted(prompts)]
    return []


# --- graded cells --------------------------------------------------------------------------------------

_WHAT = {
    "runs": "is `{f}` written, and does it run on the checker's inputs, returning the right kind of value?",
    "visible": "does `{f}` pass the checker on the inputs the notebook's checker uses?",
    "hidden": "does `{f}` pass the checker on inputs the notebook did not show? (hidden from the student version)",
    "own": "is `{f}` your own function, written in this notebook, not the package's answer under your name?",
}


def _meta(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def test_source(exercise: Exercise, part: str) -> str:
    """The code of one graded test cell: the part's assertion, the hidden part between nbgrader's markers."""
    call = f'grading.assert_{part}("{exercise.grade_id}", {exercise.function})'
    if part == "hidden":
        call = f"### BEGIN HIDDEN TESTS\n{call}\n### END HIDDEN TESTS"
    points = PARTS[part]
    head = f"# Graded, {points} point{'s' if points > 1 else ''}: {_WHAT[part].format(f=exercise.function)}"
    return f"{head}\nfrom byol_course.exercises import grading\n{call}"


def test_cells(exercise: Exercise) -> list:
    """The four locked, autograded test cells of an exercise."""
    return [
        nbformat.v4.new_code_cell(test_source(exercise, part), id=f"{exercise.grade_id}-{part}",
                                  metadata=_meta(f"{exercise.grade_id}-{part}", grade=True, solution=False, locked=True,
                                                 points=PARTS[part]))
        for part in PARTS
    ]


def question_cells(cell, found: list[Question]) -> list:
    """The '## Questions' cell as a read-only prompt and a manually graded answer cell per question."""
    intro = cell.source.split("<details>", 1)[0]
    intro = intro[: re.search(r"^1\. ", intro, flags=re.M).start()].strip()
    cells = [nbformat.v4.new_markdown_cell(intro + "\n\nAnswer each question in the cell below it, in a few sentences.",
                                           id=f"{cell.id}-intro", metadata=_meta(f"{cell.id}-intro", grade=False, solution=False,
                                                                                 locked=True))]
    for q in found:
        cells.append(nbformat.v4.new_markdown_cell(f"**Question {q.number}** ({q.points} point{'s' if q.points > 1 else ''}). {q.prompt}",
                                                   id=f"{q.grade_id}-prompt",
                                                   metadata=_meta(f"{q.grade_id}-prompt", grade=False, solution=False, locked=True)))
        cells.append(nbformat.v4.new_markdown_cell(f"**Model answer** (the instructor version and the mark scheme only):\n\n{q.answer}",
                                                   id=f"{q.grade_id}-answer",
                                                   metadata=_meta(q.grade_id, grade=True, solution=True, locked=False, points=q.points)))
    return cells


def graded_source(nb, chapter: int):
    """The chapter as a graded assignment's source notebook (nbgrader's source/, otter's master)."""
    nb = instructor_version(nb)
    found = questions(nb, chapter)
    cells = []
    pending: Exercise | None = None
    for cell in nb.cells:
        if is_questions(cell):
            cells += question_cells(cell, found)
            continue
        cells.append(cell)
        if pending is not None:  # the cell after a solution is its checker: the graded tests follow it
            cells += test_cells(pending)
            pending = None
        if is_solution(cell):
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            if grade_id not in EXERCISES:
                raise ValueError(f"chapter {chapter}: exercise {grade_id!r} has no entry in byol_course.exercises.grading.EXERCISES.")
            pending = EXERCISES[grade_id]
    nb = copy.deepcopy(nb)
    nb.cells = cells
    return nb


# --- points and the mark scheme --------------------------------------------------------------------------


def exercises_of(nb) -> list[Exercise]:
    """The graded exercises of a notebook, in order."""
    return [EXERCISES[c.metadata["nbgrader"]["grade_id"]] for c in nb.cells if is_solution(c)]


def points(assignment: Assignment, root: Path = ROOT) -> tuple[int, int]:
    """(autograded points, manually graded points) of an assignment."""
    auto = manual = 0
    for path in notebooks_of(assignment, root):
        nb = nbformat.read(path, as_version=4)
        auto += sum(PARTS.values()) * len(exercises_of(nb))
        manual += sum(q.points for q in questions(nb, int(path.name[:2])))
    return auto, manual


def points_table(root: Path = ROOT) -> str:
    """The course's points scheme as a markdown table (docs/teaching.md shows it; a test keeps the two equal)."""
    rows = ["| assignment | chapters | autograded | written (by hand) | total |", "|---|---|---:|---:|---:|"]
    total_auto = total_manual = 0
    for week in PARTS_OF_THE_PLAN:
        auto, manual = points(week, root)
        chapters = ", ".join(str(int(p.name[:2])) for p in notebooks_of(week, root))
        rows.append(f"| {week.name}: {week.title.split(' (')[0]} | {chapters} | {auto} | {manual} | {auto + manual} |")
        total_auto, total_manual = total_auto + auto, total_manual + manual
    rows.append(f"| **course** | | **{total_auto}** | **{total_manual}** | **{total_auto + total_manual}** |")
    return "\n".join(rows)


def mark_scheme(root: Path = ROOT) -> str:
    """The teacher's mark scheme: every graded part and every written question with its model answer."""
    out = ["# Mark scheme", "", "For teachers only: it holds the model answers. Autograded parts, per exercise: "
           + ", ".join(f"{part} ({p} pt{'s' if p > 1 else ''})" for part, p in PARTS.items())
           + " — see byol_course/exercises/grading.py. Written questions: "
           f"{QUESTION_POINTS} point each; full marks for an answer that makes the model answer's point, half for a partial one.", ""]
    for week in PARTS_OF_THE_PLAN:
        out += [f"## {week.name}: {week.title}", ""]
        for path in notebooks_of(week, root):
            chapter = int(path.name[:2])
            nb = nbformat.read(path, as_version=4)
            out += [f"### Chapter {chapter} ({path.name})", ""]
            for exercise in exercises_of(nb):
                out.append(f"- Exercise `{exercise.grade_id}` — `{exercise.function}`, checked by `{exercise.checker}`: "
                           + ", ".join(f"{part} {p}" for part, p in PARTS.items()) + f" (total {sum(PARTS.values())}).")
            for q in questions(nb, chapter):
                out += [f"- **Question {q.number}** (`{q.grade_id}`, {q.points} pt): {q.prompt}", "",
                        textwrap.indent(f"*Model answer:* {q.answer}", "  "), ""]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def solution_region(source: str) -> str:
    """The code between a solution cell's markers (what a solved submission fills in)."""
    return source.split(BEGIN, 1)[1].split(END, 1)[0]
