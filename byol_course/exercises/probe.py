"""Chapter 8's third exercise: the linear probe with scikit-learn, its penalty C chosen on the training set alone.

check_linear_probe(fn) calls fn(train_x, train_y, test_x, test_y, Cs) three times on hand-made features: the
same training set each time, three test sets. What the answer must be follows from that: with C chosen on
train alone, the three calls return the same C; and each test accuracy is that of
make_pipeline(StandardScaler(), LogisticRegression(C=C)) refitted on all of train, whichever honest way
(a split, cross-validation, GridSearchCV, LogisticRegressionCV) chose C. The features are built so that each
mistake shows:

- the class signal sits in the first k columns together with a large noise that the next k columns copy, so a
  probe must subtract the copy (a weak penalty, a large C, wins on train); those 2k columns are 100× smaller than
  the pure-noise ones, so an unscaled, L2-penalised LogisticRegression cannot use the signal (and, unlike with a
  larger spread of scales, its solver still converges to the same answer however it is called);
- test set A is drawn like train: the honest probe scores 70–90%, one fitted on the test set more, an unscaled
  one little above chance;
- test set B puts the signal twice into the copy columns: the honest probe is wrong on nearly all of it, and only
  a strong penalty (the smallest Cs) does better, so a C picked on the test set moves there; a score that is not
  the test accuracy stays where it was;
- test set C has one noise column 1,000× larger than in train: the honest probe is misled by it (about chance),
  while a scaler fitted on the test set, or on train and test together, hides it.

Test points whose predicted class is a near tie for any of the Cs are left out, so that every right answer,
whatever its solver's last digits, gives the reference's accuracy exactly. A probe not refitted on all of train
after the choice has no signature of its own (its score depends on the split the student drew): it fails that
exact comparison, and the general sentence names the refit.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .common import Malformed, Right, call, checker, describe

__all__ = ["check_linear_probe"]

# Per variant: training images, test images drawn (before the near ties are left out), feature dimension, classes,
# seed, Cs. The Cs differ between variants and from the notebook's (0.01, 0.1, 1, 10): an answer that ignores its Cs shows.
_CASES = (
    (240, 300, 16, 4, 0, (0.003, 0.03, 0.3, 3.0)),
    (300, 300, 20, 3, 1, (0.002, 0.02, 0.2, 2.0, 5.0)),
    (250, 300, 24, 5, 2, (0.005, 0.05, 0.5, 5.0)),
)
_TESTS = "ABC"
_CLEAR = 0.15  # a test point is kept when, for every C, its best logit beats the second by this fraction of the median gap


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """One BLAS thread, and no warnings (ConvergenceWarning, scikit-learn's FutureWarnings), while probes fit."""
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        yield


def _fit(x: np.ndarray, y: np.ndarray, c: float, scale: bool = True, tol: float = 1e-4):
    """The probe: make_pipeline(StandardScaler(), LogisticRegression(C=c)) (without the scaler if scale=False)."""
    steps = [StandardScaler()] if scale else []
    return make_pipeline(*steps, LogisticRegression(C=c, tol=tol, max_iter=10_000)).fit(x, y)


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float((model.predict(x) == y).mean())


def _numpy(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    return pair[0].double().numpy(), pair[1].numpy()


@dataclass
class _Case:
    """One variant's features, as torch tensors the way the student gets them, and the reference's answers."""

    train: tuple[torch.Tensor, torch.Tensor]
    tests: dict[str, tuple[torch.Tensor, torch.Tensor]]
    Cs: tuple[float, ...]
    models: dict[float, Any]  # C -> the probe refitted on all of train (converged far past scikit-learn's default tol)
    right: dict[str, dict[float, float]]  # test set -> C -> the test accuracy of models[C]
    chosen: float  # the reference's C: best on a stratified 80/20 split of train (ties: the smaller C)


def _draw(g: torch.Generator, m: int, d: int, k: int, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """m points of test set `kind` (train is drawn like A): see the module's docstring."""
    y = torch.arange(m) % k
    signal = torch.eye(k)[y] + (0.2 if kind == "B" else 0.5) * torch.randn(m, k, generator=g)
    noise = 3.0 * torch.randn(m, k, generator=g)
    rest = torch.randn(m, d - 2 * k, generator=g)
    x = torch.cat([signal, 2 * signal, rest], 1) if kind == "B" else torch.cat([signal + noise, noise, rest], 1)
    if kind == "C":
        x[:, 2 * k] *= 1000.0  # one noise column far larger than in train
    scale = torch.cat([torch.full((2 * k,), 0.01), torch.ones(d - 2 * k)])  # the signal's columns 100× smaller
    return (x * scale).float(), y


@functools.lru_cache(maxsize=len(_CASES))
def _case(variant: int) -> _Case:
    n, n_test, d, k, seed, Cs = _CASES[variant % len(_CASES)]
    g = torch.Generator().manual_seed(seed)
    train = _draw(g, n, d, k, "A")
    x, y = _numpy(train)
    pools = {kind: _draw(g, n_test, d, k, kind) for kind in _TESTS}
    keep = {kind: torch.ones(n_test, dtype=torch.bool) for kind in _TESTS}
    with _quiet():
        models = {c: _fit(x, y, c, tol=1e-10) for c in Cs}
        for model in models.values():  # leave out the near ties, where a solver's last digits could decide the class
            gaps = {kind: np.diff(np.sort(model.decision_function(_numpy(pool)[0]), axis=1)[:, -2:], axis=1)[:, 0]
                    for kind, pool in pools.items()}
            median = np.median(np.concatenate(list(gaps.values())))
            for kind in _TESTS:
                keep[kind] &= torch.from_numpy(gaps[kind] > _CLEAR * median)
        tests = {kind: (pool[0][keep[kind]], pool[1][keep[kind]]) for kind, pool in pools.items()}
        right = {kind: {c: _accuracy(m, *_numpy(tests[kind])) for c, m in models.items()} for kind in _TESTS}
        xf, xv, yf, yv = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
        val = {c: _accuracy(_fit(xf, yf, c), xv, yv) for c in Cs}
    return _Case(train, tests, Cs, models, right, max(Cs, key=lambda c: (val[c], -c)))


def _number(value: Any) -> float | None:
    """A plain float from a Python, NumPy or 0-d torch number; None for anything else."""
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else None
    try:
        return float(value) if value is not None and not isinstance(value, (str, bytes, bool)) else None
    except (TypeError, ValueError):
        return None


def _read(value: Any, Cs: tuple[float, ...]) -> tuple[float, float] | str:
    """(top1, C) from the student's dict, or the sentence saying what is wrong with it."""
    if not isinstance(value, dict):
        return Malformed(f'it returned {describe(value)}: return a dict, {{"top1": the test accuracy, "C": the chosen C}}.')
    missing = [key for key in ("top1", "C") if key not in value]
    if missing:
        return Malformed(f"the dict it returned has no {' and no '.join(repr(m) for m in missing)} key: "
                         'return {"top1": the test accuracy, "C": the chosen C}.')
    top1, c = _number(value["top1"]), _number(value["C"])
    if top1 is None or c is None:
        which = "top1" if top1 is None else "C"
        return Malformed(f'its "{which}" is {describe(value[which])}: return it as a number (a float).')
    if not math.isfinite(top1) or top1 < 0 or top1 > 100:
        return Malformed(f'its "top1" is {top1:g}: return the test accuracy as a fraction in [0, 1], as probe.score(...) gives it.')
    if top1 > 1:
        return "its top1 is a percentage: return the accuracy as a fraction in [0, 1], probe.score(test_x, test_y), not 100 times it."
    if not any(math.isclose(c, option, rel_tol=1e-6) for option in Cs):  # 1e-6: a C that went through float32
        return (f"it returned C = {c:g}, which is not one of the Cs it was given ({', '.join(f'{o:g}' for o in Cs)}): "
                "try exactly the values in Cs and return the one chosen.")
    return top1, next(option for option in Cs if math.isclose(c, option, rel_tol=1e-6))


def _same(a: float, b: float, n: int, points: float = 0.5) -> bool:
    """Two accuracies on n test points that differ by fewer than `points` points."""
    return abs(a - b) < points / n


# The mistakes recognised from the test accuracies they give, in the order they are tried: (name, sentence).
_MISTAKES = (
    ("fitted on test", "its top1 is that of a probe fitted on the test set: fit the probe on train_x, train_y only, "
                       "and use the test set just to score it."),
    ("fitted on both", "its probe was fitted on train and test together: fit it on train_x, train_y only, "
                       "and use the test set just to score it."),
    ("training accuracy", "its top1 is a score on the training data (the training accuracy), not the test accuracy: "
                          "return the refitted probe's probe.score(test_x, test_y)."),
    ("no scaler", "the features were not standardised, so the L2 penalty crushes the small-scale ones: put StandardScaler() "
                  "before LogisticRegression in make_pipeline(StandardScaler(), LogisticRegression(C=c))."),
    ("scaler on test", "the test features were standardised with their own mean and std (a scaler fitted on the test set): "
                       "fit the scaler on train only, as make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(train_x, train_y) does."),
    ("scaler on both", "the scaler was fitted on train and test together, so the test set leaked into the probe: fit it on train "
                       "only, as make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(train_x, train_y) does."),
)


@functools.lru_cache(maxsize=64)
def _mistaken(variant: int, kind: str, c: float) -> tuple[float, ...]:
    """What each of _MISTAKES scores on test set `kind` with this C, in _MISTAKES' order."""
    case = _case(variant)
    x, y = _numpy(case.train)
    tx, ty = _numpy(case.tests[kind])
    both_x, both_y = np.concatenate([x, tx]), np.concatenate([y, ty])
    joint = StandardScaler().fit(both_x)
    with _quiet():
        return (
            _accuracy(_fit(tx, ty, c), tx, ty),
            _accuracy(_fit(both_x, both_y, c), tx, ty),
            _accuracy(case.models[c], x, y),
            _accuracy(_fit(x, y, c, scale=False), tx, ty),
            _accuracy(case.models[c][-1], StandardScaler().fit_transform(tx), ty),
            _accuracy(LogisticRegression(C=c, max_iter=10_000).fit(joint.transform(x), y), joint.transform(tx), ty),
        )


def _diagnose(variant: int, answers: dict[str, tuple[float, float]]) -> str | None:
    """None when the three answers are the honest probe's; else the mistake, from the answers and the known wrong ones."""
    case = _case(variant)
    top1 = {kind: answer[0] for kind, answer in answers.items()}
    c_of = {kind: answer[1] for kind, answer in answers.items()}
    n = {kind: len(case.tests[kind][1]) for kind in _TESTS}
    best_b = max(case.right["B"].values())
    best_on_b = {c for c, acc in case.right["B"].items() if acc == best_b}
    if c_of["B"] != c_of["A"] and c_of["B"] in best_on_b and c_of["A"] not in best_on_b:
        return ("its C changed when only the test set did, to the C with the best test accuracy, so C was chosen on the test set: "
                "choose it on a validation split of train (train_test_split of train_x, train_y) and touch the test set once, at the end.")
    honest = {kind: case.right[kind][c_of[kind]] for kind in _TESTS}
    if all(_same(top1[kind], honest[kind], n[kind]) for kind in _TESTS):
        if len(set(c_of.values())) == 1 and c_of["A"] != case.chosen:
            return Right(f"it chose C = {c_of['A']:g} where the reference's stratified 80/20 split of train chose "
                         f"{case.chosen:g}: another honest choice, made on train alone.")
        return None
    mistaken = {kind: _mistaken(variant, kind, c_of[kind]) for kind in _TESTS}
    for i, (_, sentence) in enumerate(_MISTAKES):
        if all(_same(top1[kind], mistaken[kind][i], n[kind], points=1.5) for kind in _TESTS):
            return sentence
    if max(top1.values()) - min(top1.values()) < 0.3 and top1["B"] > max(case.right["B"].values()) + 0.2:
        # no probe trained on train scores that on B, and the number stayed put: it was not measured on the test set
        return ("its top1 is high even on a test set where no probe fitted on train does well, so it is not the test accuracy "
                "(a validation or cross-validation score?): return the refitted probe's accuracy on the test set, probe.score(test_x, test_y).")
    return ("its top1 is not the test accuracy of make_pipeline(StandardScaler(), LogisticRegression(C=C)) with the C it returned, "
            "refitted on all of train: after choosing C, fit that probe on all of train_x, train_y, then score it on the test set once.")


@checker("linear probe")
def check_linear_probe(fn: Callable[..., dict], variant: int = 0) -> str | None:
    """fn(train_x, train_y, test_x, test_y, Cs) -> {"top1", "C"}: C chosen on train alone, the probe refitted on train, test scored once."""
    variant %= len(_CASES)
    case = _case(variant)
    answers = {}
    with _quiet():
        for kind in _TESTS:
            out = call(fn, case.train[0].clone(), case.train[1].clone(), case.tests[kind][0].clone(), case.tests[kind][1].clone(), case.Cs)
            if out.problem:
                return out.problem
            read = _read(out.value, case.Cs)
            if isinstance(read, str):
                return read
            answers[kind] = read
        return _diagnose(variant, answers)
