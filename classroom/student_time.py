"""How long a student takes over each chapter: an estimate, with its method in the open.

    python -m classroom.student_time        # the table of docs/teaching.md, "How long students take"

Nobody has timed a class yet, so this is arithmetic, not a measurement of students: per chapter,
its text read at READING_WPM words a minute, MINUTES_PER_EXERCISE per graded exercise (more for
the ones that build a whole pipeline), MINUTES_PER_QUESTION per written question, and the time its
cells take to run in classroom mode — the one measured term, from the file that
`benchmarks/chapters_alone.sh classroom` writes (every chapter alone, in an empty folder, from a wheel).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import nbformat

from .assignments import PARTS_OF_THE_PLAN, ROOT, chapter_notebooks, exercises_of, questions

READING_WPM = 100  # technical prose with code beside it: slower than the 200-250 of plain prose
MINUTES_PER_EXERCISE = 15
MINUTES_PER_LONG_EXERCISE = 30  # exercises that build a pipeline rather than a function
LONG_EXERCISES = ("ch01-views", "ch06-bug-list")  # a whole pipeline; a review of the 89-line sketch
MINUTES_PER_QUESTION = 4
RUN_TIMES = ROOT / "benchmarks" / "results" / "chapters_alone_classroom.txt"


def run_minutes(path: Path = RUN_TIMES) -> dict[int, float]:
    """Chapter number → minutes its cells took in classroom mode, from chapters_alone.sh's results file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run `bash benchmarks/chapters_alone.sh classroom` and copy its results.txt there.")
    minutes = {}
    for line in path.read_text().splitlines()[1:]:
        name, wall, *_ = line.split()
        minutes[int(name[:2])] = float(wall) / 60
    return minutes


def words(nb) -> int:
    """Words in the notebook's markdown cells."""
    return sum(len(re.findall(r"[A-Za-z0-9]+", c.source)) for c in nb.cells if c.cell_type == "markdown")


def estimate(root: Path = ROOT, runs: Path = RUN_TIMES) -> list[dict]:
    """One row per chapter: words, exercises, questions, and the minutes of each term and their total."""
    ran = run_minutes(runs)
    rows = []
    for chapter, path in sorted(chapter_notebooks(root).items()):
        nb = nbformat.read(path, as_version=4)
        graded = exercises_of(nb)
        asked = questions(nb, chapter)
        row = {
            "chapter": chapter,
            "name": path.stem,
            "words": words(nb),
            "exercises": len(graded),
            "questions": len(asked),
            "reading": words(nb) / READING_WPM,
            "exercising": sum(MINUTES_PER_LONG_EXERCISE if e.grade_id in LONG_EXERCISES else MINUTES_PER_EXERCISE for e in graded),
            "answering": MINUTES_PER_QUESTION * len(asked),
            "running": ran.get(chapter, float("nan")),
        }
        row["total"] = row["reading"] + row["exercising"] + row["answering"] + row["running"]
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    """The estimate as a markdown table, with the parts of the plan's totals."""
    lines = [
        "| chapter | words | exercises | questions | reading | doing the exercises | answering | running | total |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['words']:,} | {r['exercises']} | {r['questions']} | {r['reading']:.0f} min | "
            f"{r['exercising']} min | {r['answering']} min | {r['running']:.1f} min | **{r['total']:.0f} min** |"
        )
    by_chapter = {r["chapter"]: r["total"] for r in rows}
    parts = ", ".join(f"{p.name} {sum(by_chapter.get(c, 0) for c in p.chapters) / 60:.1f} h" for p in PARTS_OF_THE_PLAN)
    lines += ["", f"Whole course: {sum(by_chapter.values()) / 60:.1f} hours; by part of the plan: {parts}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=RUN_TIMES, help="chapters_alone.sh's results file (classroom mode)")
    parser.add_argument("--json", action="store_true", help="the rows as JSON (what the website's build reads)")
    args = parser.parse_args(argv)
    rows = estimate(runs=args.runs)
    print(json.dumps(rows, indent=1) if args.json else table(rows))


if __name__ == "__main__":
    main()
