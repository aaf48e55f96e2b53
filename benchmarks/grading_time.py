"""How long the graders take per student: one solved submission of every part, nbgrader and otter-grader.

    make .venv-grading/.installed     # the graders (make test builds them too)
    python benchmarks/grading_time.py --json benchmarks/results/grading_time.json

nbgrader: `nbgrader autograde <part>` on one student's submission of every notebook of the part
(docs/teaching.md's plan). otter: `otter run -a autograder.zip` per chapter of the part, summed. Both
run the notebooks in the course's grading mode (smoke sizes). The submissions are the solved ones the
end-to-end tests build (tests/_classroom.py), so every autograded point is earned. Measure on a quiet
machine: the times are wall-clock, one submission at a time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import nbformat  # noqa: E402
import torch  # noqa: E402

from _classroom import otter_submission, submission  # noqa: E402
from classroom.assignments import PARTS_OF_THE_PLAN, notebooks_of  # noqa: E402
from classroom.nbgrader_course import write_course  # noqa: E402
from classroom.otter_course import write_otter  # noqa: E402


def table(record: dict) -> str:
    """The record as docs/teaching.md's table: seconds per student and the autograded points, per part and grader."""
    by = {(r["grader"], r["part"]): r for r in record["rows"]}
    parts = sorted({r["part"] for r in record["rows"]})
    lines = ["| part | nbgrader autograde | otter run (its chapters) | autograded points, nbgrader / otter |", "|---|--:|--:|--:|"]
    for part in parts:
        nb, ot = by[("nbgrader", part)], by[("otter", part)]
        lines.append(f"| {part} | {nb['seconds']:.0f} s | {ot['seconds']:.0f} s | {nb['score']:g} / {ot['score']:g} |")
    total = {g: sum(r["seconds"] for r in record["rows"] if r["grader"] == g) for g in ("nbgrader", "otter")}
    lines.append(f"| the course | {total['nbgrader']:.0f} s | {total['otter']:.0f} s | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graders", type=Path, default=ROOT / ".venv-grading" / "bin", help="the folder with nbgrader and otter")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--table", type=Path, help="only print the markdown table of this results file (docs/teaching.md's)")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return 0
    nbgrader, otter = args.graders / "nbgrader", args.graders / "otter"
    if not (nbgrader.exists() and otter.exists()):
        sys.exit(f"nbgrader or otter is missing from {args.graders}: `make .venv-grading/.installed` installs both.")
    env = {**os.environ, "PATH": f"{args.graders}{os.pathsep}{os.environ['PATH']}"}
    env.pop("BYOL_COURSE_SMOKE", None)  # the graders' own detection must switch the course to smoke sizes
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        write_course(course, str(nbgrader))
        for part in PARTS_OF_THE_PLAN:
            folder = course / "submitted" / "solved" / part.name
            folder.mkdir(parents=True)
            for released in sorted((course / "release" / part.name).glob("*.ipynb")):
                source = nbformat.read(course / "source" / part.name / released.name, as_version=4)
                nbformat.write(submission(nbformat.read(released, as_version=4), source, "solved"), folder / released.name)
            start = time.perf_counter()
            subprocess.run([str(nbgrader), "autograde", part.name, "--force"], cwd=course, env=env, capture_output=True, check=True)
            rows.append({"grader": "nbgrader", "part": part.name, "seconds": round(time.perf_counter() - start, 1)})
        subprocess.run([str(nbgrader), "export"], cwd=course, env=env, capture_output=True, check=True)
        scores = {r["assignment"]: (float(r["raw_score"]), float(r["max_score"])) for r in csv.DictReader(open(course / "grades.csv"))}
        for row in rows:
            row["score"], row["max_score"] = scores[row["part"]]
            print(row, flush=True)
        graded = Path(tmp) / "otter"
        write_otter(graded, str(otter))
        for part in PARTS_OF_THE_PLAN:
            seconds = score = 0.0
            for path in notebooks_of(part):
                name = path.stem
                student = nbformat.read(graded / name / "student" / f"{name}.ipynb", as_version=4)
                folder = graded / "runs" / name
                folder.mkdir(parents=True)
                nbformat.write(otter_submission(student, "solved", int(name[:2])), folder / f"{name}.ipynb")
                start = time.perf_counter()
                subprocess.run([str(otter), "run", "-a", str(graded / name / "autograder" / "autograder.zip"), "-o", str(folder),
                                str(folder / f"{name}.ipynb")], cwd=folder, env=env, capture_output=True, check=True)
                seconds += time.perf_counter() - start
                results = json.loads((folder / "results.json").read_text())
                score += sum(t["score"] for t in results["tests"] if t.get("max_score"))
            rows.append({"grader": "otter", "part": part.name, "seconds": round(seconds, 1), "score": score})
            print(rows[-1], flush=True)
    if args.json:
        record = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
                  "torch": torch.__version__, "command": "python benchmarks/grading_time.py", "rows": rows}
        tmp_json = args.json.with_suffix(".tmp")
        tmp_json.write_text(json.dumps(record, indent=1) + "\n")
        tmp_json.replace(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
