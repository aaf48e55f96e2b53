"""Shared by the exercise-checker tests: run a checker, capture its one line."""

from __future__ import annotations

from typing import Callable

import pytest


def not_written(*args, **kwargs):
    """The stub every exercise starts from."""
    raise NotImplementedError


def verdict(check: Callable[[Callable], bool], fn: Callable, capsys: pytest.CaptureFixture) -> tuple[bool, str]:
    """(the checker's bool, the line it printed)."""
    capsys.readouterr()
    ok = check(fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.endswith("\n"), f"one line expected, got {out!r}"
    return ok, out.strip()


def assert_diagnosis(check: Callable, fn: Callable, phrase: str, capsys: pytest.CaptureFixture) -> None:
    """fn is a wrong answer: the checker says ✗ and its sentence contains `phrase`."""
    ok, line = verdict(check, fn, capsys)
    assert not ok and line.startswith("✗ "), line
    assert phrase in line, f"expected {phrase!r} in: {line}"
