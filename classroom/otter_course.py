"""`make otter`: the course as otter-grader assignments, for Colab and Gradescope (one per chapter).

For each chapter with exercises or written questions, an otter-assign master notebook is made
from the same graded source as nbgrader's (classroom.assignments): each exercise becomes a
question whose four test cases are the four graded parts (the hidden one hidden), written as
exception-based tests that raise the checker's diagnosis; each written question a manually
graded question with its model answer as the solution. `otter assign` then writes

    build/otter/<chapter>/student/<chapter>.ipynb      the student version: tests in its metadata,
                                                        grader.check("…") cells, Colab set-up cell
    build/otter/<chapter>/autograder/autograder.zip    the Gradescope autograder (otter run grades with it)

Usage: python -m classroom.otter_course --out build/otter [--otter PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from byol_course.course import REPO_URL
from byol_course.exercises.grading import EXERCISES, PARTS

from .assignments import ROOT, chapter_notebooks, graded_source, is_solution
from .student_version import executable

CONFIG = """\
# ASSIGNMENT CONFIG
name: {name}
requirements: requirements.txt
overwrite_requirements: true
export_cell: false
init_cell: false
check_all_cell: false
run_tests: false
solutions_pdf: false
generate:
  pdf: false
  filtering: false
tests:
  files: false
  ok_format: false
"""
SETUP_PIP = f'%pip install -q "byol-course @ git+{REPO_URL}"'


def _raw(text: str):
    return nbformat.v4.new_raw_cell(text)


def question_name(grade_id: str) -> str:
    """otter's name for a question: a Python identifier."""
    return grade_id.replace("-", "_")


def _test_case(grade_id: str, function: str, part: str) -> str:
    hidden = "# HIDDEN\n" if part == "hidden" else ""
    return (f"{hidden}def test_{part}({function}):\n"
            f"    from byol_course.exercises import grading\n"
            f'    grading.assert_{part}("{grade_id}", {function})\n')


def _plain(cell):
    """A copy of a cell without nbgrader's metadata."""
    cell = nbformat.from_dict(dict(cell))
    cell.metadata.pop("nbgrader", None)
    return cell


def master(nb, chapter: int, name: str):
    """An otter-assign master notebook from a chapter's graded source."""
    cells = [_raw(CONFIG.format(name=name))]
    graded = graded_source(nb, chapter)
    skip = set()
    for i, cell in enumerate(graded.cells):
        if i in skip:
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and SETUP_PIP in cell.source:  # Colab installs the grader too, then it starts
            cell = _plain(cell)
            cell.source = cell.source.replace(SETUP_PIP, SETUP_PIP + " otter-grader").replace(
                "\nfrom byol_course.course import",
                f'\nimport otter  # the grader: grader.check("…") runs an exercise\'s public tests\n'
                f'grader = otter.Notebook("{name}.ipynb")\nfrom byol_course.course import', 1)
            cells.append(cell)
        elif is_solution(cell) and cell.cell_type == "code":
            exercise = EXERCISES[meta["grade_id"]]
            solution = _plain(cell)
            solution.source = solution.source.replace("### BEGIN SOLUTION", "# BEGIN SOLUTION").replace("### END SOLUTION", "# END SOLUTION")
            checker = graded.cells[i + 1]  # the self-study checker, then the four nbgrader test cells
            skip |= set(range(i + 1, i + 2 + len(PARTS)))
            cells += [_raw(f"# BEGIN QUESTION\nname: {question_name(exercise.grade_id)}\npoints: {list(PARTS.values())}"),
                      _raw("# BEGIN SOLUTION"), solution, _raw("# END SOLUTION"), _raw("# BEGIN TESTS"),
                      *[nbformat.v4.new_code_cell(_test_case(exercise.grade_id, exercise.function, part)) for part in PARTS],
                      _raw("# END TESTS"), _raw("# END QUESTION"), _plain(checker)]
        elif meta.get("solution") and cell.cell_type == "markdown":  # a written question's model answer
            prompt = cells.pop()  # its prompt cell came just before
            cells += [_raw(f"# BEGIN QUESTION\nname: {question_name(meta['grade_id'])}\npoints: {meta['points']}\nmanual: true"),
                      prompt, _raw("# BEGIN SOLUTION"), _plain(cell), _raw("# END SOLUTION"), _raw("# END QUESTION")]
        else:
            cells.append(_plain(cell))
    out = nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)
    return out


def _ensure_tests_folder(zipped: Path) -> None:
    """Give an autograder of a chapter with written questions only an empty tests/ folder.

    otter assign writes none when no question is autograded, and the autograder then stops with
    FileNotFoundError './source/tests' (otter run and Gradescope alike) instead of grading nothing.
    """
    with zipfile.ZipFile(zipped, "a") as z:
        if not any(n.startswith("tests/") for n in z.namelist()):
            z.writestr(zipfile.ZipInfo("tests/"), "")


def write_otter(out: Path, otter: str | None = None) -> list[str]:
    """Write a master per gradable chapter under out/masters; with an otter executable, run otter assign on each."""
    made = []
    for chapter, path in chapter_notebooks(ROOT).items():
        nb = nbformat.read(path, as_version=4)
        if not any(is_solution(c) for c in nb.cells) and "## Questions" not in "".join(c.source for c in nb.cells):
            continue
        name = path.stem
        folder = out / "masters" / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        nbformat.write(master(nb, chapter, name), folder / f"{name}.ipynb")
        (folder / "requirements.txt").write_text(f"byol-course @ git+{REPO_URL}\n")
        if otter:
            otter = executable(otter)  # it runs inside the chapter's folder
            dist = out / name
            shutil.rmtree(dist, ignore_errors=True)
            env = {**os.environ, "PATH": str(Path(otter).parent) + os.pathsep + os.environ.get("PATH", "")}
            subprocess.run([otter, "assign", f"{name}.ipynb", str(dist.resolve())], cwd=folder, env=env, check=True,
                           capture_output=True, text=True)
            (zipped,) = (dist / "autograder").glob(f"{name}-autograder_*.zip")
            zipped.rename(dist / "autograder" / "autograder.zip")  # a stable name for Gradescope and `otter run`
            _ensure_tests_folder(dist / "autograder" / "autograder.zip")
        made.append(name)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/otter"))
    parser.add_argument("--otter", help="otter executable: also run otter assign on every master")
    args = parser.parse_args(argv)
    try:
        made = write_otter(args.out, args.otter)
    except subprocess.CalledProcessError as e:
        sys.exit(f"otter assign failed on {e.cmd}:\n{e.stdout}\n{e.stderr}")
    print(f"{len(made)} chapters: " + ", ".join(made) + f" → {args.out}/masters/" + (f" and {args.out}/<chapter>/" if args.otter else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
