"""Chapter 9's exercise: find where τ = 0 starts to collapse between two λ values, with the fewest runs.

check_onset(fn) calls fn(collapses, lo, hi, runs), where collapses(λ) answers "does this run collapse?"
for a boundary the checker knows (collapse below it, training at and above it), counts and records the
calls, and judges the interval (a, b) returned: the largest λ seen to collapse and the smallest seen to
train, which `runs` halvings of (lo, hi) narrow to (hi − lo) / 2**runs. Each call stands for a training
run of about a minute, so the budget is part of the answer: lo collapses and hi trains are known already.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .common import Malformed, call, checker, describe

__all__ = ["check_onset"]

# Per variant: (lo, hi, runs, boundaries tried). Boundaries away from every bisection point of (lo, hi).
_CASES = (
    (0.0, 1.0, 3, (0.37, 0.81, 0.06, 0.52)),
    (0.0, 1.0, 4, (0.66, 0.13, 0.47, 0.97)),
    (1.0, 10.0, 3, (2.3, 7.9, 5.1, 9.6)),
)


class _Lab:
    """collapses(λ) for a known boundary: True below it; records every λ asked."""

    def __init__(self, boundary: float) -> None:
        self.boundary, self.asked = boundary, []

    def __call__(self, lam: Any) -> bool:
        lam = float(lam)
        self.asked.append(lam)
        return lam < self.boundary


def _diagnose(lab: _Lab, value: Any, lo: float, hi: float, runs: int) -> str | None:
    """None when (a, b) is what `runs` halvings give; else the mistake, judged from the calls and the answer."""
    asked, width = lab.asked, (hi - lo) / 2**runs
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return Malformed(f"it returned {describe(value)}: return the interval as a pair, (largest λ that collapsed, smallest λ that trained).")
    try:
        a, b = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        return Malformed(f"it returned {describe(value)}: return two numbers, (a, b).")
    if any(math.isclose(x, lo) or math.isclose(x, hi) for x in asked):
        return (f"it ran λ = {lo:g} or λ = {hi:g}, whose answers are known ({lo:g} collapses, {hi:g} trains): "
                "spend every run strictly between them.")
    repeated = sorted({x for x in asked if asked.count(x) > 1})
    if repeated:
        return (f"it ran λ = {repeated[0]:g} more than once: a run costs about a minute, so call collapses(mid) once "
                "per step and keep its answer in a variable.")
    if len(asked) > runs:
        return f"it ran {len(asked)} experiments for a budget of {runs}: stop after `runs` calls of collapses."
    if a > b:
        return "the interval is the wrong way round: return (a, b) with a the largest λ that collapsed and b the smallest that trained."
    known = [lo, hi, *asked]
    if not (any(math.isclose(a, x) for x in known) and any(math.isclose(b, x) for x in known)):
        return ("a and b must be λ values whose answer you know — lo, hi or ones you ran — with a collapsing and b training, "
                "not an interval made around a guess.")
    if not (a < lab.boundary <= b):
        return ("the boundary is not inside the interval you returned: when collapses(mid) is True the boundary lies above mid, "
                "so lo = mid; when it is False, hi = mid.")
    grid = (hi - lo) / (runs + 1)
    if runs > 1 and asked and math.isclose(asked[0], lo + grid) and not math.isclose(asked[0], (lo + hi) / 2):
        return (f"a grid of {runs} runs narrows the interval to (hi − lo)/{runs + 1}; halving it at every run narrows it to "
                f"(hi − lo)/2**{runs}: run the midpoint of the current interval each time (bisection).")
    if len(asked) < runs:
        return (f"it ran {len(asked)} of the {runs} experiments allowed: each run halves the interval, so use them all "
                f"(the interval would be {2 ** (runs - len(asked))}× narrower).")
    if b - a > width * (1 + 1e-9):
        return (f"after {runs} runs the interval is {b - a:g} wide, where halving it at every run gives {width:g}: "
                "run the midpoint of the current interval each time (bisection).")
    return None


@checker("onset of collapse")
def check_onset(fn: Callable[..., tuple[float, float]], variant: int = 0) -> str | None:
    """fn(collapses, lo, hi, runs) -> (a, b): bisect (lo, hi) with `runs` calls of collapses(λ)."""
    lo, hi, runs, boundaries = _CASES[variant % len(_CASES)]
    for boundary in boundaries:
        lab = _Lab(boundary)
        out = call(fn, lab, lo, hi, runs)
        if out.problem:
            return out.problem
        if problem := _diagnose(lab, out.value, lo, hi, runs):
            return problem
    return None
