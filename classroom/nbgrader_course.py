"""`make classroom`: a ready nbgrader course folder, one assignment per part (session) of the teaching guide's two-week plan.

    build/classroom/
        nbgrader_config.py          the course's settings (cell timeout; grading runs the smoke sizes)
        source/part1/…ipynb         graded source notebooks: solutions, locked test cells, answer cells
        release/part1/…ipynb        the student version (nbgrader generate_assignment), when --nbgrader is given
        mark_scheme.md              every graded part and written question, with the model answers (teachers only)
        requirements.txt, wheels/   the course package pinned to the commit that made the folder
        COURSE.md                   what to do next, and what made this folder (commit, date, versions)

nbgrader's own commands then run unchanged in the folder: generate_assignment, release_assignment,
collect, autograde, generate_feedback, export.

Usage: python -m classroom.nbgrader_course --out build/classroom [--nbgrader PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from .assignments import ROOT, PARTS_OF_THE_PLAN, graded_source, mark_scheme, notebooks_of, points_table
from .student_version import executable

CONFIG = '''\
# nbgrader configuration of the BYOL course (written by `make classroom`).
c = get_config()  # noqa: F821 — nbgrader provides it
c.CourseDirectory.course_id = "byol-course"
# A cell may take minutes in classroom mode; under nbgrader (NBGRADER_EXECUTION) the course runs its smoke
# sizes, where no cell takes more than a few seconds on a 2-core CPU. The limit is for a runaway submission.
c.Execute.timeout = 300
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
'''


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_wheel(out: Path) -> Path:
    """The course package as a wheel, built offline from this checkout."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                        "--wheel-dir", tmp, str(ROOT)], check=True)
        (wheel,) = Path(tmp).glob("byol_course-*.whl")
        target = out / wheel.name
        shutil.copy(wheel, target)
    return target


def write_course(out: Path, nbgrader: str | None = None, wheel: bool = True) -> dict:
    """Write the course folder; with an nbgrader executable, also generate the student versions."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG)  # generate_assignment adds each assignment to the gradebook
    made = {}
    for week in PARTS_OF_THE_PLAN:
        folder = out / "source" / week.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for path in notebooks_of(week):
            nbformat.write(graded_source(nbformat.read(path, as_version=4), int(path.name[:2])), folder / path.name)
        made[week.name] = sorted(p.name for p in folder.glob("*.ipynb"))
    (out / "mark_scheme.md").write_text(mark_scheme())
    commit, version = _git("rev-parse", "HEAD"), _version()
    pinned = ""
    if wheel:
        whl = build_wheel(out / "wheels")
        pinned = f"./wheels/{whl.name}\n"
    (out / "requirements.txt").write_text(
        f"# The course package this folder was made with (commit {commit}); install it where nbgrader's kernels run.\n{pinned}")
    (out / "COURSE.md").write_text(_readme(commit, version))
    if nbgrader:
        nbgrader = executable(nbgrader)  # it runs inside `out`
        env = {**os.environ, "PATH": str(Path(nbgrader).parent) + os.pathsep + os.environ.get("PATH", "")}
        for week in PARTS_OF_THE_PLAN:
            subprocess.run([nbgrader, "generate_assignment", week.name, "--force", "--log-level=WARN"], cwd=out, env=env, check=True)
    return made


def _version() -> str:
    from importlib.metadata import version

    return version("byol-course")


def _readme(commit: str, version: str) -> str:
    return f"""# BYOL course — nbgrader course folder

Made by `make classroom` on {dt.date.today().isoformat()} from commit `{commit}` (byol-course {version}).

One assignment per part of the teaching guide's two-week plan (docs/teaching.md):

{points_table()}

In this folder, with nbgrader installed where the kernels can import the course (`pip install -r requirements.txt`):

    nbgrader generate_assignment part1     # source/ → release/ (solutions, hidden tests and model answers removed)
    nbgrader release_assignment part1      # to the exchange (JupyterHub)
    nbgrader collect part1
    nbgrader autograde part1               # the course detects NBGRADER_EXECUTION and runs its smoke sizes
    nbgrader generate_feedback part1       # each failing test's message is the checker's diagnosis
    nbgrader export                        # grades.csv

Written questions are graded by hand (nbgrader formgrader) against `mark_scheme.md`, which holds the model
answers: keep it, and `source/`, away from students.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/classroom"))
    parser.add_argument("--nbgrader", help="nbgrader executable: also run generate_assignment for every week")
    args = parser.parse_args(argv)
    made = write_course(args.out, args.nbgrader)
    for name, notebooks in made.items():
        print(f"{args.out}/source/{name}: {', '.join(notebooks)}")
    print(f"{args.out}/mark_scheme.md, requirements.txt, COURSE.md" + (", release/ (nbgrader)" if args.nbgrader else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
