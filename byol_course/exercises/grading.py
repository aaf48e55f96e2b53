"""The exercises, graded: the checkers' diagnosis raised as failing tests, for nbgrader and otter-grader.

One diagnosis engine, two front ends. In self-study, `check_x(fn)` prints ✓ or ✗ and never
raises. In a graded assignment, the test cells call the functions below, which raise an
AssertionError whose message is the same one sentence — so the grader's feedback tells the
student what the checker would have told them. Each exercise is graded in four parts, so
that partial credit is possible:

    runs     the function is written and runs on the checker's inputs, returning the right kind of value
    visible  the checker passes on the inputs the notebook's checker uses (variant 0)
    hidden   the checker passes on other inputs (variants 1 and 2): an answer tuned to the visible
             inputs fails; nbgrader hides these cells' code from the student version
    own      the function is the student's: defined in the notebook, not the package's answer
             assigned or called under a new name (`ema_update = ema_update_` passes the checker)

    from byol_course.exercises import grading
    grading.assert_visible("ch04-ema", ema_update)   # raises AssertionError("EMA: …") when wrong

This module imports no grading tool: the graders run these functions in the notebook's kernel.
"""

from __future__ import annotations

import dis
import importlib
import inspect
from dataclasses import dataclass
from types import CodeType
from typing import Any, Callable

from .common import NOT_WRITTEN, Malformed, NotWritten, Raised, Right, referenced_names
from .messages import say

__all__ = ["PARTS", "Exercise", "EXERCISES", "is_stub", "assert_runs", "assert_visible", "assert_hidden", "assert_own", "assert_part"]

# Points of each part of an exercise (the course's points scheme: docs/teaching.md).
PARTS: dict[str, int] = {"runs": 1, "visible": 2, "hidden": 2, "own": 1}
HIDDEN_VARIANTS = (1, 2)


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its solution cell's grade_id, its checker, the function the student writes."""

    grade_id: str  # the nbgrader grade_id of the exercise's solution cell, e.g. "ch04-ema"
    checker: str  # the checker's name in byol_course.exercises, e.g. "check_ema"
    function: str  # the name of the student's function in the notebook, e.g. "ema_update"
    answers: tuple[str, ...]  # the package's names that *are* the answer: calling one is not the student's own work

    @property
    def chapter(self) -> int:
        """The chapter number, from the grade_id."""
        return int(self.grade_id[2:4])


EXERCISES: dict[str, Exercise] = {
    e.grade_id: e
    for e in [
        Exercise("ch01-solarize", "check_solarize", "my_solarize", ("solarize",)),
        Exercise("ch01-views", "check_views", "my_views", ("make_views", "make_view")),
        Exercise("ch02-projector", "check_projector", "make_projector", ("MLPHead",)),
        Exercise("ch02-target", "check_target", "make_target", ("BYOLNetworks",)),
        Exercise("ch03-loss", "check_loss", "my_byol_loss", ("byol_loss",)),
        Exercise("ch03-symmetric-loss", "check_symmetric_loss", "my_symmetric_loss", ("symmetric_loss",)),
        Exercise("ch03-stop-gradient", "check_stop_gradient", "forward_loss", ("train_step", "reference_train_step")),
        Exercise("ch04-ema", "check_ema", "ema_update", ("ema_update_",)),
        Exercise("ch05-train-step", "check_train_step", "my_train_step", ("train_step", "reference_train_step")),
        Exercise("ch06-bug-list", "check_bug_list", "my_bug_list", ("SKETCH", "BUGS", "bug_list_report")),
        Exercise("ch06-per-image-views", "check_per_image_views", "my_per_image_views", ("make_views", "make_view")),
        Exercise("ch06-loss-test", "check_loss_test", "my_loss_test", ("symmetric_loss", "byol_loss")),
        Exercise("ch06-epoch", "check_train_epoch", "my_train_epoch", ()),
        Exercise("ch07-lars", "check_lars", "my_lars_direction", ("lars_direction", "LARS")),
        Exercise("ch08-knn", "check_knn", "my_knn_predict", ("knn_predict",)),
        Exercise("ch08-effective-rank", "check_effective_rank", "my_effective_rank", ("effective_rank",)),
        Exercise("ch08-linear-probe", "check_linear_probe", "my_linear_probe", ("linear_probe",)),
        Exercise("ch09-onset", "check_onset", "my_find_onset", ()),
        Exercise("ch10-linear-step", "check_linear_step", "my_linear_step", ("linear_step",)),
        Exercise("ch10-spectrum", "check_spectrum", "my_spectrum", ("spectrum",)),
        Exercise("ch10-directpred", "check_directpred", "my_directpred", ("directpred_predictor",)),
    ]
}


def _exercise(grade_id: str) -> tuple[Exercise, Callable[..., bool]]:
    if grade_id not in EXERCISES:
        raise KeyError(f"no graded exercise {grade_id!r}; the course has: {', '.join(EXERCISES)}.")
    exercise = EXERCISES[grade_id]
    return exercise, getattr(importlib.import_module("byol_course.exercises"), exercise.checker)


def _fail(check: Callable[..., bool], sentence: str) -> None:
    raise AssertionError(f"{say(check.title)}: {say(sentence)}")  # type: ignore[attr-defined]  # the notebook's language


def _wrong(verdict: str | None) -> bool:
    return verdict is not None and not isinstance(verdict, Right)


def _do_nothing() -> None: ...


def _ops(code: CodeType) -> list[tuple[str, Any]]:
    return [(i.opname, i.argval) for i in dis.get_instructions(code)]


def is_stub(fn: Any) -> bool:
    """True for a function whose body does nothing: otter's student version replaces a solution with `...`."""
    code = getattr(inspect.unwrap(fn) if callable(fn) else fn, "__code__", None)
    return code is not None and not code.co_names and _ops(code) == _ops(_do_nothing.__code__)


def _verdict(check: Callable[..., bool], fn: Callable, variant: int = 0) -> str | None:
    """The checker's diagnosis, with otter's `...` stub read as 'not written yet' (as nbgrader's raising stub is)."""
    if is_stub(fn):
        return NotWritten(NOT_WRITTEN)
    return check.verdict(fn, variant=variant)  # type: ignore[attr-defined]


def assert_runs(grade_id: str, fn: Callable) -> None:
    """Part 'runs': fn is written, runs on the visible inputs and returns the right kind of value."""
    _, check = _exercise(grade_id)
    verdict = _verdict(check, fn)
    if isinstance(verdict, (NotWritten, Raised, Malformed)):
        _fail(check, verdict)


def assert_visible(grade_id: str, fn: Callable) -> None:
    """Part 'visible': the checker's verdict on the inputs the notebook's checker uses."""
    _, check = _exercise(grade_id)
    verdict = _verdict(check, fn)
    if _wrong(verdict):
        _fail(check, verdict)


def assert_hidden(grade_id: str, fn: Callable) -> None:
    """Part 'hidden': the checker's verdict on other inputs (other seeds and sizes)."""
    _, check = _exercise(grade_id)
    for variant in HIDDEN_VARIANTS:
        verdict = _verdict(check, fn, variant)
        if _wrong(verdict):
            _fail(check, f"on inputs the notebook did not show (variant {variant}): {verdict}")


def assert_own(grade_id: str, fn: Callable, notebook_module: str = "__main__") -> None:
    """Part 'own': fn is written in the notebook and does not hand the work to the package's answer."""
    exercise, check = _exercise(grade_id)
    if isinstance(verdict := _verdict(check, fn), NotWritten):
        _fail(check, verdict)
    original = inspect.unwrap(fn) if callable(fn) else fn  # through @torch.no_grad() and functools.wraps
    code = getattr(original, "__code__", None)
    if code is None or getattr(original, "__module__", None) != notebook_module:
        where = getattr(original, "__module__", None) or type(fn).__name__
        _fail(check, f"`{exercise.function}` is not a function written in this notebook (it comes from {where}): "
                     f"write {exercise.function} yourself instead of assigning the package's version to the name.")
    called = sorted(referenced_names(original) & set(exercise.answers))
    if called:
        _fail(check, f"`{exercise.function}` calls the package's {', '.join(called)}, which is the answer itself: "
                     "write the computation with the pieces the exercise names.")


def assert_part(grade_id: str, part: str, fn: Any) -> None:
    """One part of an exercise by name ('runs', 'visible', 'hidden', 'own'): what a graded test cell calls."""
    {"runs": assert_runs, "visible": assert_visible, "hidden": assert_hidden, "own": assert_own}[part](grade_id, fn)
