"""The checkers' sentences in the notebook's language: English as written in the code, Chinese from zh.json.

The checkers keep writing their diagnoses in English, as f-strings next to the code that detects each
mistake. `zh.json` maps each f-string's *template* (its literal text with a numbered slot per `{…}`, a
str.format string) to its Chinese version; `say` translates a finished sentence through it when the
course speaks Chinese (byol_course.language: setup(lang="zh"), or BYOL_COURSE_LANG=zh).

`templates()` reads every such f-string out of the checker modules' source, so that a test can hold
the catalogue complete (tests/test_zh.py): a sentence added in English without its Chinese fails it.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..language import Catalogue

__all__ = ["CATALOGUE", "Template", "say", "templates"]

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "zh.json")
HERE = CATALOGUE.path.parent  # the checker modules' folder


def say(text: str, lang: str | None = None) -> str:
    """`text`, a sentence a checker made in English, in `lang` (default: the course's language)."""
    return CATALOGUE.say(text, lang)


@dataclass(frozen=True)
class Template:
    """One sentence (or clause) of a checker, as its f-string wrote it: literal parts around slots."""

    parts: tuple[str, ...]  # the literal text between the f-string's `{…}`; one more than the slots
    module: str  # where it was found, e.g. "ema"
    line: int

    @property
    def text(self) -> str:
        """The catalogue's key: a str.format template, "it returned {0}: return a tensor.", literal braces doubled."""
        escaped = [p.replace("{", "{{").replace("}", "}}") for p in self.parts]
        return "".join(p + f"{{{i}}}" for i, p in enumerate(escaped[:-1])) + escaped[-1]


def _is_sentence(text: str) -> bool:
    """A string a student may read: words, not an identifier, a format spec or a regex."""
    words = re.findall(r"[A-Za-z][A-Za-z'’-]+", text)
    return len(words) >= 2 and " " in text.strip()


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def _concatenation(node: ast.AST) -> list[ast.AST] | None:
    """The operands of `a + b + …` when at least one is a string: one sentence built by +."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)):
        return None
    operands = (_concatenation(node.left) or [node.left]) + (_concatenation(node.right) or [node.right])
    return operands if any(_is_text(o) for o in operands) else None


def _parts(node: ast.AST) -> tuple[str, ...]:
    """A string's literal parts around its formatted values (a plain string: one part; a + chain: its pieces)."""
    pieces = _concatenation(node) or [node]
    parts, current = [], ""
    for piece in pieces:
        values = piece.values if isinstance(piece, ast.JoinedStr) else [piece]
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                current += value.value
            else:
                parts.append(current)
                current = ""
    return (*parts, current)


def _strings(tree: ast.AST) -> list[tuple[tuple[str, ...], int]]:
    """Every string a student may read in a module: f-strings, + chains and plain strings, docstrings excluded."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                docstrings.add(id(first.value))
    inner = set()  # the literal pieces of an f-string or a + chain, already part of one sentence
    for node in ast.walk(tree):
        chain = _concatenation(node)
        if chain:  # the chain's own + nodes are part of it, not sentences of their own
            inner |= {id(n) for n in ast.walk(node) if n is not node and _concatenation(n)}
        for piece in chain or ([node] if isinstance(node, ast.JoinedStr) else []):
            if chain:
                inner.add(id(piece))
            if isinstance(piece, ast.JoinedStr):
                inner |= {id(v) for v in piece.values if isinstance(v, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if id(node) in docstrings or id(node) in inner or not (_is_text(node) or _concatenation(node)):
            continue
        parts = _parts(node)
        if _is_sentence(" ".join(parts)):
            found.append((parts, node.lineno))
    return found


def _titles(tree: ast.AST) -> list[tuple[tuple[str, ...], int]]:
    """The checkers' names, as @checker("…") gives them."""
    return [((node.args[0].value,), node.lineno) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "checker"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)]


@functools.lru_cache(maxsize=1)
def templates() -> tuple[Template, ...]:
    """Every sentence of every checker module, read from their source once per process."""
    seen: dict[str, Template] = {}
    for path in sorted(HERE.glob("*.py")):
        if path.name in ("messages.py", "__init__.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for parts, line in [*_strings(tree), *_titles(tree)]:
            template = Template(parts, path.stem, line)
            if template.text not in seen:
                seen[template.text] = template
    return tuple(seen.values())
