"""Checkers for the notebooks' exercises, one module per chapter.

What a checker promises: `check_x(fn)` runs the student's `fn` on small hand-made inputs,
compares it with the package's reference and with the mistakes beginners (and public BYOL
repositories) actually made, prints ONE line — `✓ x: matches the reference.` or
`✗ x: <one sentence naming the mistake and the fix>` — and returns True or False. It never
raises, whatever `fn` does (raise, return None or a wrong shape, print, change its inputs),
and leaves torch's random state and grad mode as they were, so a notebook still runs top to
bottom while an exercise is unsolved.

    chapter 1  augment    check_solarize, check_views
    chapter 2  networks   check_projector, check_target
    chapter 3  objective  check_loss, check_symmetric_loss, check_stop_gradient
    chapter 4  ema        check_ema
    chapter 5  train      check_train_step
    chapter 6  review     check_bug_list
               fixes      check_per_image_views, check_loss_test, check_train_epoch
    chapter 7  lars       check_lars
    chapter 8  evaluate   check_knn, check_effective_rank
               probe      check_linear_probe
    chapter 9  lab        check_onset
    chapter 10 dynamics   check_linear_step, check_spectrum, check_directpred

`from byol_course.exercises import check_ema` imports only chapter 4's module: the names are
resolved lazily (PEP 562), so a chapter never loads a later chapter's code.
"""

from __future__ import annotations

import importlib
from typing import Any

_CHECKERS = {
    "check_solarize": "augment",
    "check_views": "augment",
    "check_projector": "networks",
    "check_target": "networks",
    "check_loss": "objective",
    "check_symmetric_loss": "objective",
    "check_stop_gradient": "objective",
    "check_ema": "ema",
    "check_train_step": "train",
    "check_bug_list": "review",
    "check_per_image_views": "fixes",
    "check_loss_test": "fixes",
    "check_train_epoch": "fixes",
    "check_lars": "lars",
    "check_knn": "evaluate",
    "check_effective_rank": "evaluate",
    "check_linear_probe": "probe",
    "check_onset": "lab",
    "check_linear_step": "dynamics",
    "check_spectrum": "dynamics",
    "check_directpred": "dynamics",
}
# Not a checker, but re-exported too: chapter 5's step from the pieces, for notebooks that need a step.
_OTHERS = {"reference_train_step": "train", "bug_list_report": "review", "reference_per_image_views": "fixes",
           "reference_train_epoch": "fixes"}

__all__ = [*_CHECKERS, *_OTHERS]


def __getattr__(name: str) -> Any:
    """Import the checker's chapter module on first use."""
    module = _CHECKERS.get(name) or _OTHERS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported checkers included."""
    return sorted({*globals(), *__all__})
