"""Build the instructor and student versions of the course notebooks (`make student`).

One committed notebook serves three readers. Each exercise in it is three cells (see
notebooks/README.md, "Exercises"):

1. the **solution cell**: an nbgrader "autograded answer" cell, collapsed for self-learners,
   whose solution code sits between `### BEGIN SOLUTION` and `### END SOLUTION`;
2. the **stub cell**, tagged `self-study`: the same function with `raise NotImplementedError`,
   which replaces the solution for a self-learner until they write their own;
3. the checker cell.

    committed notebook ──instructor_version()──▶ build/instructor/  (solutions in place: every checker ✓)
                                                      │
                                 nbgrader generate_assignment (or --builtin: the same replacement)
                                                      ▼
                                                 build/student/     (stubs only: every checker ✗, runs top to bottom)

The instructor version drops the self-study stubs and un-collapses the solution cells; it is
what a teacher puts in nbgrader's source/ folder. nbgrader then replaces each marked region
with its stub, `# YOUR CODE HERE` / `raise NotImplementedError()`; `--builtin` does exactly
that without nbgrader (for machines without it, and for the tests).

Usage: python -m classroom.student_version [--nbgrader PATH | --builtin] [--out build] NOTEBOOK...
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]  # nbgrader's default Python stub
SELF_STUDY = "self-study"  # the tag of the self-learner's stub cells
NBGRADER_KEYS = {"grade", "grade_id", "locked", "schema_version", "solution", "task"}
ASSIGNMENT = "byol-course"


def is_solution(cell) -> bool:
    """True for an nbgrader solution ("autograded answer") cell."""
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def is_self_study(cell) -> bool:
    """True for a self-learner's stub cell (tag `self-study`)."""
    return SELF_STUDY in cell.get("metadata", {}).get("tags", [])


def solution_lines(cell) -> list[str]:
    """The lines between the solution markers of a cell (the code the student version must not contain)."""
    lines, inside = [], False
    for line in cell.source.split("\n"):
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def convention_problems(nb) -> list[str]:
    """What in this notebook breaks the exercise convention (empty when the tool can use it)."""
    problems, ids = [], set()
    cells = nb.cells
    for i, cell in enumerate(cells):
        where = f"cell {i}"
        src = cell.source
        if (BEGIN in src or END in src) and not is_solution(cell):
            problems.append(f"{where}: solution markers in a cell that is not an nbgrader solution cell")
        if cell.cell_type == "markdown" and "<details>" in src and re.search(r"```python", src):
            problems.append(f"{where}: a <details> solution block, which nbgrader would leave in the student version")
        if (cell.cell_type == "code" and "raise NotImplementedError" in src and not is_self_study(cell)
                and not is_solution(cell)):
            problems.append(f"{where}: a stub without its solution cell (or its '{SELF_STUDY}' tag)")
        if not is_solution(cell):
            continue
        meta = cell.metadata["nbgrader"]
        if cell.cell_type != "code":
            problems.append(f"{where}: an nbgrader solution cell must be a code cell")
        if set(meta) - {"points", "checksum", "cell_type"} != NBGRADER_KEYS or meta.get("schema_version") != 3:
            problems.append(f"{where}: nbgrader metadata must have exactly {sorted(NBGRADER_KEYS)}, schema_version 3")
        elif meta["grade"] or meta["locked"] or meta["task"]:
            problems.append(f"{where}: an exercise cell is grade=false, locked=false, task=false, solution=true")
        if meta.get("grade_id") in ids or not re.fullmatch(r"[A-Za-z0-9_-]+", str(meta.get("grade_id", ""))):
            problems.append(f"{where}: grade_id {meta.get('grade_id')!r} is missing, repeated or not [A-Za-z0-9_-]+")
        ids.add(meta.get("grade_id"))
        if src.count(BEGIN) != 1 or src.count(END) != 1 or src.index(BEGIN) > src.index(END) or not solution_lines(cell):
            problems.append(f"{where}: one {BEGIN} … {END} region with the solution code in it")
        if not (cell.metadata.get("jupyter", {}).get("source_hidden") and cell.metadata.get("cellView") == "form"
                and src.lstrip().startswith("# @title")):
            problems.append(f"{where}: the solution cell must be collapsed: first line '# @title …', "
                            "metadata jupyter.source_hidden = true and cellView = 'form'")
        if i + 1 >= len(cells) or not is_self_study(cells[i + 1]) or "raise NotImplementedError" not in cells[i + 1].source:
            problems.append(f"{where}: the solution cell must be followed by its stub cell, tagged '{SELF_STUDY}'")
    return problems


def instructor_version(nb):
    """The notebook with the solutions in place: self-study stubs dropped, solution cells un-collapsed."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not is_self_study(c)]
    for cell in nb.cells:
        if is_solution(cell):
            cell.metadata.pop("cellView", None)
            cell.metadata.get("jupyter", {}).pop("source_hidden", None)
            if not cell.metadata.get("jupyter", True):
                cell.metadata.pop("jupyter")
            lines = cell.source.split("\n")
            if lines and lines[0].lstrip().startswith("# @title"):
                cell.source = "\n".join(lines[1:])
    return nb


def builtin_student_version(nb):
    """What nbgrader's ClearSolutions and ClearOutput do to an instructor notebook, without nbgrader."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if not is_solution(cell):
            continue
        out, inside = [], False
        for line in cell.source.split("\n"):
            if BEGIN in line:
                inside = True
                indent = re.match(r"\s*", line).group(0)
                out += [indent + s for s in STUB]
            elif END in line:
                inside = False
            elif not inside:
                out.append(line)
        cell.source = "\n".join(out)
    return nb


def executable(name_or_path: str) -> str:
    """A grader's executable (a name on PATH, or a path relative to here) as an absolute path: the commands
    run it from inside the folders they write, where a relative path no longer points at it."""
    found = shutil.which(name_or_path)
    if found is None:
        raise FileNotFoundError(f"{name_or_path} is not an executable file: `make classroom` installs nbgrader and otter "
                                "into .venv-grading/bin; pass that path, or a name on your PATH.")
    return str(Path(found).absolute())


def nbgrader_student_versions(instructor: dict[str, object], nbgrader: str) -> dict[str, object]:
    """Run `nbgrader generate_assignment` on the instructor notebooks in a scratch course directory."""
    with tempfile.TemporaryDirectory() as root:
        source = Path(root, "source", ASSIGNMENT)
        source.mkdir(parents=True)
        for name, nb in instructor.items():
            nbformat.write(nb, source / name)
        nbgrader = executable(nbgrader)  # it runs in the scratch course directory
        cmd = [nbgrader, "generate_assignment", ASSIGNMENT, "--force", f"--CourseDirectory.root={root}", "--log-level=WARN"]
        bin_dir = str(Path(nbgrader).parent)  # nbgrader runs `alembic` from its own environment
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            sys.exit(f"nbgrader generate_assignment failed:\n{result.stdout}\n{result.stderr}")
        release = Path(root, "release", ASSIGNMENT)
        return {name: nbformat.read(release / name, as_version=4) for name in instructor}


def leaked(instructor_nb, student_nb) -> list[str]:
    """Solution lines still in the student notebook, for each solution region that is at least half there.

    Half, not any: a solution's generic lines (`loss.backward()`) may rightly appear elsewhere, in a
    quoted listing for instance; a pasted copy of the solution brings most of its lines along.
    """
    student_text = "\n".join(c.source for c in student_nb.cells)
    found = []
    for cell in instructor_nb.cells:
        if not is_solution(cell):
            continue
        lines = [line.strip() for line in solution_lines(cell) if len(line.strip()) >= 10 and not line.strip().startswith("#")]
        there = [line for line in lines if line in student_text]
        if lines and 2 * len(there) >= len(lines):
            found += there
    return found


def main(argv: list[str] | None = None) -> int:
    """Write <out>/instructor/ and <out>/student/ for the given notebooks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--nbgrader", help="path of the nbgrader executable (make student installs one in .venv-nbgrader)")
    how.add_argument("--builtin", action="store_true", help="replace the solution regions without nbgrader")
    parser.add_argument("--out", default="build", type=Path)
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)

    originals = {p.name: nbformat.read(p, as_version=4) for p in args.notebooks}
    bad = [f"{name}, {problem}" for name, nb in originals.items() for problem in convention_problems(nb)]
    if bad:
        sys.exit("These exercise cells do not follow the convention (notebooks/README.md, 'Exercises'):\n  " + "\n  ".join(bad))
    instructor = {name: instructor_version(nb) for name, nb in originals.items()}
    student = ({name: builtin_student_version(nb) for name, nb in instructor.items()} if args.builtin
               else nbgrader_student_versions(instructor, args.nbgrader))
    for name in instructor:
        if lines := leaked(instructor[name], student[name]):
            sys.exit(f"{name}: the student version still contains solution code: {lines[:3]}")
    for kind, notebooks in (("instructor", instructor), ("student", student)):
        folder = args.out / kind
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, folder / name)
    n = sum(is_solution(c) for nb in instructor.values() for c in nb.cells)
    tool = "built-in replacement" if args.builtin else "nbgrader generate_assignment"
    print(f"{len(instructor)} notebooks, {n} exercises: {args.out}/instructor/ and {args.out}/student/ ({tool})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
