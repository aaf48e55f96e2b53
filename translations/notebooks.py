"""The Chinese notebooks, generated: the English notebook's code cells, its markdown cells from a catalogue.

    translations/zh/notebooks/NN_name.json   {"cells": {cell id: {"en_sha": …, "zh": "…"}}}
    notebooks/zh/NN_name.ipynb               generated; committed without outputs

A catalogue holds one entry per markdown cell of its English notebook, keyed by the cell's id, with the
hash of the English text it was translated from. Building refuses a catalogue whose entries are missing
or stale (the English cell changed since), and names the cells to re-translate. Code cells are copied
byte for byte, with one mechanical change: the set-up cell's `setup(...)` call gets `lang="zh"`, so the
checkers, figures and messages speak Chinese. Links are rewritten for the folder one level down.

    python -m translations.notebooks build            # every chapter with a catalogue
    python -m translations.notebooks status           # what is translated, missing or stale
    python -m translations.notebooks skeleton 04      # a catalogue to fill, for a chapter without one
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = ROOT / "notebooks"
CATALOGUES = ROOT / "translations" / "zh" / "notebooks"
OUT = ENGLISH / "zh"
ZH_DOCS = ("glossary.md", "teaching.md")  # docs/ pages that have a Chinese version under docs/zh/
SETUP_CALL = re.compile(r"(=\s*setup\()([^)]*)(\))")


def sha(text: str) -> str:
    """The hash a catalogue entry keeps of the English text it translates."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def catalogue_path(notebook: Path) -> Path:
    return CATALOGUES / f"{notebook.stem}.json"


def english_notebooks() -> list[Path]:
    return sorted(ENGLISH.glob("[0-9][0-9]_*.ipynb"))


@dataclass
class Problems:
    """What keeps a chapter's catalogue from building: cells without a translation, and translations gone stale."""

    missing: list[str]
    stale: list[str]
    extra: list[str]

    def __bool__(self) -> bool:
        return bool(self.missing or self.stale)

    def sentence(self, name: str) -> str:
        said = []
        if self.missing:
            said.append(f"{len(self.missing)} markdown cells have no translation ({', '.join(self.missing)})")
        if self.stale:
            said.append(f"{len(self.stale)} changed in English since they were translated ({', '.join(self.stale)})")
        return f"{name}: " + "; ".join(said) + ": translate them in " + str(catalogue_path(ENGLISH / name).relative_to(ROOT)) + \
            " and set each entry's en_sha to translations.notebooks.sha(the English text)."


def load_catalogue(notebook: Path) -> dict[str, dict[str, str]]:
    return json.loads(catalogue_path(notebook).read_text(encoding="utf-8"))["cells"]


def check(notebook: Path) -> Problems:
    """Compare a chapter's catalogue with its English notebook."""
    cells = load_catalogue(notebook)
    nb = nbformat.read(notebook, as_version=4)
    markdown = {c.id: c.source for c in nb.cells if c.cell_type == "markdown"}
    missing = [i for i in markdown if i not in cells or not cells[i].get("zh", "").strip()]
    stale = [i for i in markdown if i in cells and i not in missing and cells[i].get("en_sha") != sha(markdown[i])]
    extra = [i for i in cells if i not in markdown]
    return Problems(missing, stale, extra)


def localise_links(text: str) -> str:
    """Links as seen from notebooks/zh/: the Colab badge to the Chinese notebook, docs/ one level up (Chinese pages where they exist)."""
    text = re.sub(r"(colab\.research\.google\.com/github/[^)\s]*/blob/main/notebooks/)(\d\d_)", r"\1zh/\2", text)

    def doc(match: re.Match[str]) -> str:
        page = match.group(1)
        return f"](../../docs/zh/{page}" if page.split("#")[0] in ZH_DOCS else f"](../../docs/{page}"

    text = re.sub(r"\]\(\.\./docs/([^)\s]+)", doc, text)
    return re.sub(r"\]\(\.\./(?!\.\./|docs/)([^)\s]+)", r"](../../\1", text)  # ../README.md, ../data/… one more level up


def setup_in_chinese(source: str) -> str:
    """The set-up cell's setup(...) call, with lang="zh"."""
    def add(match: re.Match[str]) -> str:
        args = match.group(2).strip()
        return f'{match.group(1)}{args + ", " if args else ""}lang="zh"{match.group(3)}'
    return SETUP_CALL.sub(add, source, count=1)


def build(notebook: Path) -> nbformat.NotebookNode:
    """The Chinese notebook of one English chapter (raises ValueError naming the cells to translate)."""
    problems = check(notebook)
    if problems:
        raise ValueError(problems.sentence(notebook.name))
    cells = load_catalogue(notebook)
    nb = copy.deepcopy(nbformat.read(notebook, as_version=4))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = localise_links(cells[cell.id]["zh"])
        elif cell.cell_type == "code":
            if "from byol_course.course import setup" in cell.source:
                cell.source = setup_in_chinese(cell.source)
            cell.outputs, cell.execution_count = [], None
    nb.metadata["language_info"] = nb.metadata.get("language_info", {"name": "python"})
    nb.metadata["byol_course"] = {"language": "zh", "generated_from": f"notebooks/{notebook.name}"}
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write the notebook as the repository keeps notebooks (indent 1, UTF-8, trailing newline), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def translated() -> list[Path]:
    """The English chapters that have a catalogue."""
    return [p for p in english_notebooks() if catalogue_path(p).is_file()]


def skeleton(notebook: Path) -> Path:
    """A catalogue to fill for one chapter: every markdown cell's id and hash, its English text as a placeholder."""
    path = catalogue_path(notebook)
    if path.exists():
        raise FileExistsError(f"{path.relative_to(ROOT)} exists: edit it rather than starting again.")
    nb = nbformat.read(notebook, as_version=4)
    cells = {c.id: {"en_sha": sha(c.source), "zh": ""} for c in nb.cells if c.cell_type == "markdown"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"notebook": notebook.name, "cells": cells}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m translations.notebooks", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="write notebooks/zh/ for every chapter with a catalogue")
    sub.add_parser("status", help="say which chapters are translated, and which cells are missing or stale")
    sk = sub.add_parser("skeleton", help="start a catalogue for one chapter")
    sk.add_argument("chapter", help="its two-digit number, e.g. 04")
    args = parser.parse_args(argv)
    if args.command == "skeleton":
        matches = [p for p in english_notebooks() if p.name.startswith(args.chapter)]
        if len(matches) != 1:
            print(f"no chapter {args.chapter!r}: give its two-digit number, e.g. 04.", file=sys.stderr)
            return 2
        print(skeleton(matches[0]).relative_to(ROOT))
        return 0
    failed = 0
    for notebook in english_notebooks():
        if not catalogue_path(notebook).is_file():
            print(f"{notebook.name}: not translated yet")
            continue
        problems = check(notebook)
        if problems:
            failed += 1
            print(problems.sentence(notebook.name), file=sys.stderr)
            continue
        if args.command == "build":
            write(build(notebook), OUT / notebook.name)
            print(f"{notebook.name}: notebooks/zh/{notebook.name}")
        else:
            print(f"{notebook.name}: translated, in step with the English")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
