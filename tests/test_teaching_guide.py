"""docs/teaching.md's numbers are the ones the course's scripts compute today, not a copy that drifts."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from classroom import student_time

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "teaching.md"


def _between(text: str, name: str) -> str:
    found = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert found, f"docs/teaching.md lost its <!-- {name}:begin/end --> markers"
    return found.group(1).strip()


def test_student_time_table_is_current():
    """The table is what `python -m classroom.student_time` prints for today's notebooks and run times."""
    assert _between(GUIDE.read_text(), "student-time") == student_time.table(student_time.estimate()), (
        "docs/teaching.md's student-time table is stale; paste `python -m classroom.student_time` between its markers"
    )


def test_every_chapter_has_a_measured_run_time():
    rows = student_time.estimate()
    assert [r["chapter"] for r in rows] == list(range(len(rows)))
    assert all(not math.isnan(r["running"]) and r["running"] > 0 for r in rows), "a chapter has no classroom run time"


def test_the_estimate_counts_what_it_says(tmp_path):
    rows = {r["chapter"]: r for r in student_time.estimate()}
    assert rows[6]["exercising"] == 3 * student_time.MINUTES_PER_EXERCISE + student_time.MINUTES_PER_LONG_EXERCISE
    assert rows[0]["exercising"] == 0 and rows[0]["questions"] > 0
    for r in rows.values():
        parts = r["reading"] + r["exercising"] + r["answering"] + r["running"]
        assert r["total"] == pytest.approx(parts)


def test_missing_run_times_say_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="chapters_alone.sh classroom"):
        student_time.run_minutes(tmp_path / "none.txt")


def test_grading_time_table_is_the_measured_one():
    """The grading times are those of benchmarks/results/grading_time.json, rendered by the benchmark itself."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("grading_time", ROOT / "benchmarks" / "grading_time.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    record = json.loads((ROOT / "benchmarks" / "results" / "grading_time.json").read_text())
    assert _between(GUIDE.read_text(), "grading-time") == bench.table(record)
    solved = {(r["grader"], r["part"]): r["score"] for r in record["rows"]}
    assert all(solved[("nbgrader", p)] == solved[("otter", p)] > 0 for g, p in solved), "the graders disagree on a solved submission"
