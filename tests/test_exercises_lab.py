"""Chapter 9's checker: bisecting (lo, hi) for the onset of collapse — right answers written in several ways,
and every mistake it claims to recognise, on every variant of its inputs."""

from __future__ import annotations

import numpy as np
import pytest

from byol_course.exercises import check_onset
from byol_course.exercises.lab import _CASES

from _exercise_helpers import not_written

VARIANTS = (0, 1, 2)


def bisect_for(collapses, lo, hi, runs):
    for _ in range(runs):
        mid = (lo + hi) / 2
        if collapses(mid):
            lo = mid
        else:
            hi = mid
    return lo, hi


def bisect_recursive(collapses, lo, hi, runs):
    if runs == 0:
        return (lo, hi)
    mid = lo + (hi - lo) / 2
    return bisect_recursive(collapses, mid, hi, runs - 1) if collapses(mid) else bisect_recursive(collapses, lo, mid, runs - 1)


def bisect_while(collapses, lo, hi, runs):
    done = 0
    while done < runs:
        mid = np.mean([lo, hi])  # a NumPy float
        lo, hi = (mid, hi) if collapses(mid) else (lo, mid)
        done += 1
    return [lo, hi]  # a list is a pair too


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn", [bisect_for, bisect_recursive, bisect_while], ids=["for", "recursive", "while"])
def test_right_answers_pass(fn, variant) -> None:
    assert check_onset.verdict(fn, variant=variant) is None


def swapped_halves(collapses, lo, hi, runs):
    for _ in range(runs):
        mid = (lo + hi) / 2
        if collapses(mid):
            hi = mid
        else:
            lo = mid
    return lo, hi


def asks_twice(collapses, lo, hi, runs):
    for _ in range(runs):
        mid = (lo + hi) / 2
        if collapses(mid):
            print(f"{mid} collapses")
        lo, hi = (mid, hi) if collapses(mid) else (lo, mid)
    return lo, hi


def checks_the_ends(collapses, lo, hi, runs):
    assert collapses(lo) and not collapses(hi)
    return bisect_for(collapses, lo, hi, runs - 2)


def one_too_many(collapses, lo, hi, runs):
    return bisect_for(collapses, lo, hi, runs + 1)


def one_too_few(collapses, lo, hi, runs):
    return bisect_for(collapses, lo, hi, runs - 1)


def grid(collapses, lo, hi, runs):
    points = [lo + (hi - lo) * (k + 1) / (runs + 1) for k in range(runs)]
    a, b = lo, hi
    for x in points:
        if collapses(x):
            a = x
        else:
            b = x
            break
    return a, b


def grid_all_points(collapses, lo, hi, runs):
    answers = [(x, collapses(x)) for x in (lo + (hi - lo) * (k + 1) / (runs + 1) for k in range(runs))]
    a = max([lo] + [x for x, c in answers if c])
    b = min([hi] + [x for x, c in answers if not c])
    return a, b


def reversed_pair(collapses, lo, hi, runs):
    a, b = bisect_for(collapses, lo, hi, runs)
    return b, a


def midpoint_only(collapses, lo, hi, runs):
    a, b = bisect_for(collapses, lo, hi, runs)
    return (a + b) / 2


def around_a_guess(collapses, lo, hi, runs):
    a, b = bisect_for(collapses, lo, hi, runs)
    return (a + b) / 2 - 0.001, (a + b) / 2 + 0.001


MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(swapped_halves, "the boundary lies above mid, so lo = mid", id="swapped-halves"),
    pytest.param(asks_twice, "more than once", id="asks-twice"),
    pytest.param(checks_the_ends, "whose answers are known", id="checks-the-ends"),
    pytest.param(one_too_many, "for a budget of", id="over-budget"),
    pytest.param(one_too_few, "experiments allowed", id="under-budget"),
    pytest.param(grid, "a grid of", id="grid-stopping-early"),
    pytest.param(grid_all_points, "a grid of", id="grid"),
    pytest.param(reversed_pair, "the wrong way round", id="reversed"),
    pytest.param(midpoint_only, "return the interval as a pair", id="midpoint-only"),
    pytest.param(around_a_guess, "not an interval made around a guess", id="around-a-guess"),
    pytest.param(lambda collapses, lo, hi, runs: None, "return the interval as a pair", id="returns-None"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn, phrase", MISTAKES)
def test_each_mistake_gets_its_sentence(fn, phrase, variant) -> None:
    said = check_onset.verdict(fn, variant=variant)
    assert said is not None and phrase in said, said


def test_no_boundary_sits_on_a_bisection_point() -> None:
    """A boundary exactly on a midpoint would let an off-by-one answer pass: the cases keep away from them."""
    for lo, hi, runs, boundaries in _CASES:
        points = {lo + (hi - lo) * k / 2**runs for k in range(2**runs + 1)}
        assert all(min(abs(b - p) for p in points) > 1e-3 for b in boundaries)
