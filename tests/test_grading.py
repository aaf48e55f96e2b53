"""The graded front end of the checkers (byol_course.exercises.grading) and the grader detection (course.grading).

For every graded exercise of the course: the notebook's own solution passes all four parts; the
untouched stub fails all four; the classic mistake of tests/_classroom.py passes 'runs' and 'own'
and fails 'visible' and 'hidden' with its diagnosis as the message (partial credit); and the
package's answer under the student's name fails 'own'.
"""

from __future__ import annotations

import sys
import types

import pytest

from _classroom import MISTAKES, define, solution_cells, stub, with_mistake
from byol_course import course
from byol_course.exercises import grading

SOLUTIONS = solution_cells()
IDS = sorted(grading.EXERCISES)


def _parts(grade_id: str, fn) -> dict[str, str | None]:
    """part -> None when it passes, else its AssertionError message."""
    out = {}
    for part in grading.PARTS:
        try:
            grading.assert_part(grade_id, part, fn)
            out[part] = None
        except AssertionError as e:
            out[part] = str(e)
    return out


def test_every_exercise_of_the_notebooks_is_graded_and_has_a_mistake() -> None:
    """The grading table and the notebooks' solution cells name the same exercises; each has a classic mistake."""
    assert sorted(SOLUTIONS) == IDS and sorted(MISTAKES) == IDS
    for grade_id, exercise in grading.EXERCISES.items():
        assert f"def {exercise.function}(" in SOLUTIONS[grade_id]


@pytest.mark.parametrize("grade_id", IDS)
def test_the_solution_gets_every_part(grade_id: str) -> None:
    fn = define(SOLUTIONS[grade_id], grading.EXERCISES[grade_id].function)
    assert _parts(grade_id, fn) == dict.fromkeys(grading.PARTS)


@pytest.mark.parametrize("grade_id", IDS)
def test_the_untouched_stub_gets_nothing(grade_id: str) -> None:
    fn = define(stub(SOLUTIONS[grade_id]), grading.EXERCISES[grade_id].function)
    parts = _parts(grade_id, fn)
    assert all(parts.values()), parts
    assert "not written yet" in parts["runs"] and "not written yet" in parts["own"]


@pytest.mark.parametrize("grade_id", IDS)
def test_a_classic_mistake_gets_partial_credit_with_its_diagnosis(grade_id: str) -> None:
    fn = define(with_mistake(SOLUTIONS[grade_id], grade_id), grading.EXERCISES[grade_id].function)
    parts = _parts(grade_id, fn)
    phrase = MISTAKES[grade_id][1]
    assert parts["runs"] is None and parts["own"] is None, parts
    assert parts["visible"] and phrase in parts["visible"], parts
    assert parts["hidden"] and phrase in parts["hidden"], parts


@pytest.mark.parametrize("grade_id", ["ch04-ema", "ch03-loss", "ch05-train-step"])
def test_the_packages_answer_is_not_the_students_own(grade_id: str) -> None:
    """`ema_update = ema_update_` passes the checker, and fails 'own'; so does a function that only calls it."""
    exercise = grading.EXERCISES[grade_id]
    alias = define(f"{exercise.function} = {exercise.answers[0]}\n", exercise.function) if grade_id != "ch05-train-step" else None
    if alias is not None:
        assert _parts(grade_id, alias)["visible"] is None
        assert "not a function written in this notebook" in _parts(grade_id, alias)["own"]
    wrapper = define(f"def {exercise.function}(*args):\n    return {exercise.answers[0]}(*args)\n", exercise.function) \
        if grade_id != "ch05-train-step" else define(
            "from byol_course.exercises import reference_train_step\n"
            f"def {exercise.function}(*args):\n    return reference_train_step(*args)\n", exercise.function)
    assert f"calls the package's {exercise.answers[-1] if grade_id == 'ch05-train-step' else exercise.answers[0]}" in _parts(grade_id, wrapper)["own"]


def test_hidden_variants_see_inputs_the_visible_check_does_not() -> None:
    """An answer hard-coded for the visible inputs passes 'visible' and fails 'hidden'."""
    import torch

    from byol_course.exercises import objective

    fixed = objective.byol_loss(objective._P, objective._Z)  # the visible answer, remembered

    def my_byol_loss(p, z):
        return fixed + 0 * p.sum()  # the right number for the four hand-made pairs, and only for them

    my_byol_loss.__module__ = "__main__"
    parts = _parts("ch03-loss", my_byol_loss)
    assert parts["visible"] is None and "variant 1" in parts["hidden"]
    assert isinstance(fixed, torch.Tensor)


def test_grading_detects_nbgrader_otter_and_the_override(monkeypatch) -> None:
    """nbgrader's NBGRADER_EXECUTION, otter's grading mode and BYOL_COURSE_GRADING each switch the course to smoke sizes."""
    for var in ("NBGRADER_EXECUTION", "BYOL_COURSE_GRADING", "BYOL_COURSE_SMOKE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delitem(sys.modules, "otter", raising=False)
    assert course.grading() is None and course.mode() in ("classroom", "full")
    for value in ("autograde", "validate"):
        monkeypatch.setenv("NBGRADER_EXECUTION", value)
        assert course.grading() == "nbgrader" and course.mode() == "smoke"
    monkeypatch.setenv("NBGRADER_EXECUTION", "")
    fake = types.ModuleType("otter")
    fake.Notebook = type("Notebook", (), {"_grading_mode": False})
    monkeypatch.setitem(sys.modules, "otter", fake)
    assert course.grading() is None  # otter imported by a student's own check: not grading
    fake.Notebook._grading_mode = True
    assert course.grading() == "otter" and course.mode() == "smoke"
    monkeypatch.delitem(sys.modules, "otter")
    monkeypatch.setenv("BYOL_COURSE_GRADING", "1")
    assert course.grading() == "BYOL_COURSE_GRADING" and course.mode() == "smoke"


@pytest.mark.parametrize("grade_id", ["ch04-ema", "ch03-loss", "ch01-views"])
def test_otters_do_nothing_stub_gets_nothing(grade_id: str) -> None:
    """otter's student version replaces a solution with `...`: a function that does nothing is 'not written yet'."""
    exercise = grading.EXERCISES[grade_id]
    head = SOLUTIONS[grade_id].split("### BEGIN SOLUTION")[0]
    fn = define(head + "...\n", exercise.function)
    assert grading.is_stub(fn)
    parts = _parts(grade_id, fn)
    assert all(parts.values()) and "not written yet" in parts["runs"], parts
    assert not grading.is_stub(define(SOLUTIONS[grade_id], exercise.function))
