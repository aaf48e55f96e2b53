"""The package's layout rules: chapters in order, one concern per module, no reaching into private names.

- Every notebook imports only modules of its own or earlier chapters (a student of chapter 3
  never runs code that chapter 5 has yet to build), and every module of the package imports
  only modules of its own or earlier chapters. A forward import needs an entry in ALLOWED
  with its reason.
- No module imports another module's private (`_name`) names.
- No module is over ~350 lines; `pretrain` fits ~100 lines and `train_step` ~30.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "byol_course"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# The chapter that builds each module (notebooks/README.md shows the same map).
CHAPTER = {
    "course": 0, "language": 0, "paper": 0, "data": 0, "folders": 0, "embedded": 0, "visualize": 0, "atomic": 0,
    "augment": 1, "exercises": 1, "exercises.common": 1, "exercises.messages": 1, "exercises.augment": 1, "exercises.grading": 1,
    "networks": 2, "exercises.networks": 2,
    "objective": 3, "exercises.objective": 3,
    "ema": 4, "exercises.ema": 4,
    "config": 5, "optim": 5, "device": 5, "lock": 5, "checkpoint": 5, "distributed": 5, "stream": 5,
    "images": 5, "evaluate": 5, "train": 5, "exercises.train": 5,
    "exercises.review": 6, "exercises.fixes": 6,
    "exercises.lars": 7,
    "export": 8, "supervised": 8, "report": 8, "exercises.evaluate": 8, "exercises.probe": 8,
    "collapse": 9, "collapse.experiments": 9, "collapse.runner": 9, "collapse.healthy": 9, "collapse.report": 9, "collapse.plots": 9,
    "collapse.suite": 9, "collapse.store": 9,
    "collapse.widget": 9, "exercises.lab": 9,
    "dynamics": 10, "exercises.dynamics": 10,
    "__main__": 11,  # the command line uses every chapter
}  # fmt: skip
# (importer, imported) -> why a forward import is right there.
ALLOWED: dict[tuple[str, str], str] = {}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)
        if name:
            out[name] = path
    return out


MODULES = _modules()


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The byol_course modules an ImportFrom names (module itself, or submodules imported by name)."""
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
    elif node.module and node.module.split(".")[0] == "byol_course":
        stem = ".".join(node.module.split(".")[1:])
    else:
        return []
    found = [stem] if stem in MODULES else []
    found += [f"{stem}.{a.name}".lstrip(".") for a in node.names if f"{stem}.{a.name}".lstrip(".") in MODULES]
    return found


def _imports_of_source(tree: ast.AST, importer: str = "", is_package: bool = False) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.update(_resolve(importer, is_package, node))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "byol_course" and len(parts) > 1 and ".".join(parts[1:]) in MODULES:
                    names.add(".".join(parts[1:]))
    return names


def _notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return re.sub(r"^(\s*)[%!].*$", r"\1pass", code, flags=re.M)  # IPython magics and shell lines are not Python


def test_every_module_has_a_chapter() -> None:
    """The map above covers the whole package (a new module must be placed in a chapter)."""
    assert sorted(set(MODULES) - set(CHAPTER)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_only_its_own_or_earlier_chapters(path: Path) -> None:
    """Chapter n imports byol_course modules of chapters ≤ n only (or one of ALLOWED, with its reason)."""
    chapter = int(path.name[:2])
    used = _imports_of_source(ast.parse(_notebook_code(path)))
    ahead = {m: CHAPTER[m] for m in used if CHAPTER[m] > chapter and (path.stem, m) not in ALLOWED}
    assert ahead == {}, f"chapter {chapter} imports modules of later chapters: {ahead}"


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_module_imports_only_its_own_or_earlier_chapters(module: str) -> None:
    """A module of chapter n is built only from modules of chapters ≤ n: the package reads in course order."""
    path = MODULES[module]
    used = _imports_of_source(ast.parse(path.read_text()), module, path.name == "__init__.py")
    ahead = {m: CHAPTER[m] for m in used if CHAPTER[m] > CHAPTER[module] and (module, m) not in ALLOWED}
    assert ahead == {}, f"{module} (chapter {CHAPTER[module]}) imports modules of later chapters: {ahead}"


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_no_module_uses_another_modules_private_names(module: str) -> None:
    """`from .x import _y` and `x._y` on a byol_course module are refused: private means private."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    aliases, bad = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _resolve(module, path.name == "__init__.py", node):
            bad += [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            aliases |= {a.asname or a.name for a in node.names if f"{a.name}" in {m.split(".")[-1] for m in MODULES}}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.startswith("byol_course.")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(f"{node.value.id}.{node.attr}")
    assert bad == [], f"{module} uses private names of other modules: {bad}"


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_modules_read_in_one_sitting(module: str) -> None:
    """No module over ~350 lines (one concern per module)."""
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= 350, f"{module} has {lines} lines"


def _function_lines(module: str, name: str) -> int:
    tree = ast.parse(MODULES[module].read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return node.end_lineno - node.lineno + 1


def test_the_loop_and_the_step_fit_on_a_screen() -> None:
    """pretrain ≤ ~100 lines; train_step ≤ ~30 lines plus its signature and docstring."""
    assert _function_lines("train", "pretrain") <= 100
    assert _function_lines("train", "train_step") <= 36
