"""Every chapter that reads an earlier chapter's results also runs alone: an empty folder, a non-editable install.

That is the path a Colab student takes who opens chapter 8 or 9 directly: the course installed as a
package (here: a wheel built from this checkout, offline, into a fresh virtual environment that
borrows only the course venv's third-party packages), the notebook alone in an empty folder, none
of the runs earlier chapters write. Smoke mode. The installed package must also carry the files it
ships (the precomputed lab runs).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
ALONE = ["08_evaluation.ipynb", "09_collapse_lab.ipynb"]  # the chapters that read earlier chapters' results


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv with the course installed from a wheel of this checkout (not editable); returns its python."""
    root = tmp_path_factory.mktemp("standalone")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir",
                    str(root / "wheels"), str(ROOT)], check=True)
    (wheel,) = (root / "wheels").glob("byol_course-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the course venv's packages (torch, jupyter…) as a plain path: its .pth files, the editable install's among them, stay unread
    Path(purelib, "zz_course_venv_packages.pth").write_text(site.getsitepackages()[0] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", purelib, str(wheel)], check=True)
    where = subprocess.run([str(python), "-c", "import byol_course; print(byol_course.__file__)"], capture_output=True, text=True,
                           check=True, cwd=root).stdout.strip()
    assert where.startswith(purelib), f"byol_course imported from {where}, not from the wheel's install"
    kernels = root / "kernels" / "standalone"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "standalone", "language": "python"}))
    return python


def test_the_installed_package_ships_the_precomputed_runs(installed: Path) -> None:
    """The wheel carries byol_course/precomputed: chapter 9 in Colab reads the shipped runs from the install."""
    shipped = ROOT / "byol_course" / "precomputed"
    if not shipped.exists():
        pytest.skip("no precomputed runs in this checkout")
    code = ("from byol_course.collapse import precomputed\n"
            "s = precomputed('classroom')\n"
            "print(s.problem(), len(s.entries()))")
    out = subprocess.run([str(installed), "-c", code], capture_output=True, text=True, check=True).stdout.split()
    runs = json.loads((shipped / "collapse-classroom" / "MANIFEST.json").read_text())["runs"]
    assert out == ["None", str(runs)]


@pytest.mark.parametrize("name", ALONE)
def test_a_chapter_runs_alone_from_the_installed_package(installed: Path, name: str, tmp_path: Path) -> None:
    """The notebook, alone in an empty folder, runs top to bottom in smoke mode with the installed course."""
    from nbclient import NotebookClient

    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / name, folder / name)
    nb = nbformat.read(folder / name, as_version=4)
    env_before = dict(os.environ)
    os.environ.update(BYOL_COURSE_SMOKE="1", JUPYTER_PATH=str(installed.parents[2]), BYOL_COURSE_DATA=str(ROOT / "data"))
    os.environ.pop(collapse_variable := "BYOL_COURSE_LAB_CACHE", None)
    try:
        NotebookClient(nb, timeout=600, kernel_name="standalone", resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    assert collapse_variable  # the chapter ran without a class cache
