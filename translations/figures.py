"""The words on the course's figures and widgets: found in the source, translated in byol_course/figures_zh.json.

matplotlib draws every title, axis label, legend entry and annotation through `Text.set_text`; in the
Chinese notebooks byol_course.language translates each through `figures_zh.json` as it is set. This
module finds the texts that need an entry: every string (or f-string, as a template with numbered slots)
passed to a plotting call's text arguments — set_title, set_xlabel, set_ylabel, suptitle, text,
annotate, legend, and the label=, title=, xlabel=, ylabel= keywords of any call (ax.set, ax.plot,
ipywidgets' description=) — in the English notebooks' code cells and the package's modules.

    python -m translations.figures missing     # the templates figures_zh.json lacks
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "byol_course" / "figures_zh.json"
TEXT_CALLS = {"set_title", "set_xlabel", "set_ylabel", "suptitle", "text", "annotate", "figtext", "title", "xlabel", "ylabel",
              "set_xticklabels", "set_yticklabels", "legend", "set_label", "say"}  # say(): a widget's words
TEXT_KEYWORDS = {"label", "title", "xlabel", "ylabel", "description", "labels"}


def _template(node: ast.AST) -> str | None:
    """A str.format template of a string or f-string node; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if isinstance(node, ast.JoinedStr):
        out, slot = [], 0
        for value in node.values:
            if isinstance(value, ast.Constant):
                out.append(str(value.value).replace("{", "{{").replace("}", "}}"))
            else:
                out.append(f"{{{slot}}}")
                slot += 1
        return "".join(out)
    return None


def _texts(node: ast.AST) -> list[str]:
    """The string templates in an argument: itself, or the items of a list/tuple, or both arms of `a if c else b`."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return [t for item in node.elts for t in _texts(item)]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    template = _template(node)
    return [template] if template is not None else []


def _words(template: str) -> bool:
    """True when a text holds a word to translate (not only numbers, symbols, maths or a slot)."""
    return bool(re.search(r"[A-Za-z]{2,}", re.sub(r"\{\d+\}", "", template)))


def texts_in(source: str) -> set[str]:
    """The figure and widget texts of one Python source."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        args = list(node.args) if name in TEXT_CALLS else []
        args += [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
        found |= {t for arg in args for t in _texts(arg) if _words(t)}
    return found


def _cells_of(notebook: Path) -> list[str]:
    """A notebook's code cells as Python: IPython's %magic and !shell lines become `pass`."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["\n".join(re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in "".join(c["source"]).splitlines())
            for c in cells if c["cell_type"] == "code"]


def all_texts() -> dict[str, str]:
    """Template → where it was first found, over the English notebooks and the package."""
    found: dict[str, str] = {}
    sources = [(p.relative_to(ROOT).as_posix(), cell) for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
               for cell in _cells_of(p)]
    sources += [(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")) for p in sorted((ROOT / "byol_course").rglob("*.py"))
                if "exercises" not in p.parts]
    for where, source in sources:
        try:
            texts = texts_in(source)
        except SyntaxError:
            continue
        for text in sorted(texts):
            found.setdefault(text, where)
    return found


def missing() -> dict[str, str]:
    """The templates figures_zh.json has no Chinese for."""
    table = json.loads(CATALOGUE.read_text(encoding="utf-8")) if CATALOGUE.is_file() else {}
    return {t: where for t, where in all_texts().items() if not table.get(t)}


if __name__ == "__main__":
    gaps = missing()
    for text, where in gaps.items():
        print(f"{where}: {text!r}")
    print(f"{len(gaps)} of {len(all_texts())} figure texts lack a Chinese version")
    sys.exit(1 if gaps else 0)
