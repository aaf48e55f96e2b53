"""Chapter 8's linear-probe checker: right answers written in several ways (a split, cross-validation, GridSearchCV,
LogisticRegressionCV, the package's linear_probe) pass on every variant; every mistake it claims to recognise gets its
sentence; and the hand-made data keep the properties the diagnosis relies on."""

from __future__ import annotations

import time

import pytest
import torch
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from byol_course.evaluate import linear_probe
from byol_course.exercises import check_linear_probe
from byol_course.exercises.common import Right
from byol_course.exercises.probe import _case, _mistaken

from _exercise_helpers import assert_diagnosis, not_written, verdict

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore")]

VARIANTS = (0, 1, 2)


def _probe(c, max_iter=1000):
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))


def _split(seed=0, size=0.2, stratify=True, ties="smaller", refit=True, scale=True, chooser="validation", returns="test"):
    """The probe chosen on a split of train, with one thing changed (nothing: a right answer)."""
    def fn(train_x, train_y, test_x, test_y, Cs=(0.01, 0.1, 1.0, 10.0), max_iter=1000):
        x, y, tx, ty = train_x.numpy(), train_y.numpy(), test_x.numpy(), test_y.numpy()
        make = _probe if scale else (lambda c, m=max_iter: LogisticRegression(C=c, max_iter=m))
        xf, xv, yf, yv = train_test_split(x, y, test_size=size, random_state=seed, stratify=y if stratify else None)
        models = {c: make(c).fit(xf, yf) for c in Cs}
        scores = {c: m.score(tx, ty) if chooser == "test" else m.score(xv, yv) for c, m in models.items()}
        best = max(Cs, key=lambda c: (scores[c], -c if ties == "smaller" else c))
        model = make(best).fit(x, y) if refit else models[best]
        top1 = {"test": lambda: model.score(tx, ty), "train": lambda: model.score(x, y), "validation": lambda: scores[best],
                "percent": lambda: 100 * model.score(tx, ty)}[returns]()
        return {"top1": top1, "C": best}
    return fn


def _torch_split(train_x, train_y, test_x, test_y, Cs=(0.01, 0.1, 1.0, 10.0), max_iter=1000):
    """Right: tensors straight into scikit-learn, a plain 75/25 split, the last of the best C, torch numbers returned."""
    xf, xv, yf, yv = train_test_split(train_x, train_y, test_size=0.25, random_state=42)
    best, best_score = None, -1.0
    for c in Cs:
        score = _probe(c).fit(xf, yf).score(xv, yv)
        if score >= best_score:
            best, best_score = c, score
    pred = torch.from_numpy(_probe(best).fit(train_x, train_y).predict(test_x))
    return {"top1": (pred == test_y).float().mean(), "C": torch.tensor(best)}  # a float32 C is close enough to its value


def _grid_search(train_x, train_y, test_x, test_y, Cs=(0.01, 0.1, 1.0, 10.0), max_iter=1000):
    """Right: GridSearchCV over the pipeline (5-fold, refit on all of train), scored once on test."""
    pipe = Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=max_iter))])
    search = GridSearchCV(pipe, {"lr__C": list(Cs)}, cv=5).fit(train_x.numpy(), train_y.numpy())
    return {"top1": search.score(test_x.numpy(), test_y.numpy()), "C": search.best_params_["lr__C"]}


def _cross_val(train_x, train_y, test_x, test_y, Cs=(0.01, 0.1, 1.0, 10.0), max_iter=1000):
    """Right: cross_val_score on shuffled folds, in float64."""
    x, y = train_x.double().numpy(), train_y.numpy()
    folds = StratifiedKFold(3, shuffle=True, random_state=7)
    best = max(Cs, key=lambda c: cross_val_score(_probe(c), x, y, cv=folds).mean())
    return {"top1": float(_probe(best).fit(x, y).score(test_x.double().numpy(), test_y.numpy())), "C": best}


def _logistic_cv(train_x, train_y, test_x, test_y, Cs=(0.01, 0.1, 1.0, 10.0), max_iter=1000):
    """Right: LogisticRegressionCV after the scaler, its C_ returned."""
    probe = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=list(Cs), max_iter=max_iter)).fit(train_x.numpy(), train_y.numpy())
    return {"top1": probe.score(test_x.numpy(), test_y.numpy()), "C": probe[-1].C_[0]}


def _own_scaler(train_x, train_y, test_x, test_y, Cs=(0.01, 0.1, 1.0, 10.0), max_iter=1000):
    """Right: the standardisation by hand in torch with train's statistics, a validation score kept as an extra key."""
    mean, std = train_x.mean(0), train_x.std(0, unbiased=False)
    z = lambda t: ((t - mean) / std).numpy()  # noqa: E731
    y = train_y.numpy()
    xf, xv, yf, yv = train_test_split(z(train_x), y, test_size=0.2, random_state=3, stratify=y)
    scores = {c: LogisticRegression(C=c, max_iter=max_iter).fit(xf, yf).score(xv, yv) for c in Cs}
    best = max(Cs, key=scores.get)
    top1 = LogisticRegression(C=best, max_iter=max_iter).fit(z(train_x), y).score(z(test_x), test_y.numpy())
    return {"top1": top1, "C": best, "val_top1": scores[best]}


def _package(train_x, train_y, test_x, test_y, Cs=(0.01, 0.1, 1.0, 10.0), max_iter=1000):
    return linear_probe(train_x, train_y, test_x, test_y, Cs, max_iter=max_iter)


RIGHT = [
    pytest.param(_split(), id="stratified-split"),
    pytest.param(_split(seed=None, size=0.25, stratify=False, ties="larger"), id="unseeded-plain-split"),
    pytest.param(_torch_split, id="torch-tensors"),
    pytest.param(_grid_search, id="GridSearchCV"),
    pytest.param(_cross_val, id="cross_val_score"),
    pytest.param(_logistic_cv, id="LogisticRegressionCV"),
    pytest.param(_own_scaler, id="scaler-by-hand"),
    pytest.param(_package, id="package"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn", RIGHT)
def test_right_answers_pass(fn, variant) -> None:
    said = check_linear_probe.verdict(fn, variant=variant)
    assert said is None or isinstance(said, Right), said


@pytest.mark.parametrize("variant", VARIANTS)
def test_any_split_of_train_passes(variant) -> None:
    """Whatever the split (seed, size, stratified or not, ties either way), an honest C passes; another C than the
    reference's is said to be right, in a sentence."""
    for seed in range(6):
        for size, stratify in ((0.2, True), (0.3, False)):
            said = check_linear_probe.verdict(_split(seed=seed, size=size, stratify=stratify, ties=("smaller", "larger")[seed % 2]),
                                              variant=variant)
            assert said is None or isinstance(said, Right) and "another honest choice" in said, (seed, size, said)


def _fit_on_test(train_x, train_y, test_x, test_y, Cs=(0.01,), max_iter=1000):
    c = _split()(train_x, train_y, test_x, test_y, Cs)["C"]
    return {"top1": _probe(c).fit(test_x.numpy(), test_y.numpy()).score(test_x.numpy(), test_y.numpy()), "C": c}


def _fit_on_both(train_x, train_y, test_x, test_y, Cs=(0.01,), max_iter=1000):
    c = _split()(train_x, train_y, test_x, test_y, Cs)["C"]
    x, y = torch.cat([train_x, test_x]).numpy(), torch.cat([train_y, test_y]).numpy()
    return {"top1": _probe(c).fit(x, y).score(test_x.numpy(), test_y.numpy()), "C": c}


def _scaler_on(which):
    """The scaler fitted on the test set ('test': each set standardised by its own statistics) or on train and test."""
    def fn(train_x, train_y, test_x, test_y, Cs=(0.01,), max_iter=1000):
        if which == "test":
            x, tx = StandardScaler().fit_transform(train_x.numpy()), StandardScaler().fit_transform(test_x.numpy())
        else:
            scaler = StandardScaler().fit(torch.cat([train_x, test_x]).numpy())
            x, tx = scaler.transform(train_x.numpy()), scaler.transform(test_x.numpy())
        y = train_y.numpy()
        xf, xv, yf, yv = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
        best = max(Cs, key=lambda c: LogisticRegression(C=c, max_iter=max_iter).fit(xf, yf).score(xv, yv))
        return {"top1": LogisticRegression(C=best, max_iter=max_iter).fit(x, y).score(tx, test_y.numpy()), "C": best}
    return fn


def _cv_score_returned(train_x, train_y, test_x, test_y, Cs=(0.01,), max_iter=1000):
    search = GridSearchCV(_probe(1.0), {"logisticregression__C": list(Cs)}, cv=5).fit(train_x.numpy(), train_y.numpy())
    return {"top1": search.best_score_, "C": search.best_params_["logisticregression__C"]}


def _hard_coded_Cs(train_x, train_y, test_x, test_y, Cs=None, max_iter=1000):
    return _split()(train_x, train_y, test_x, test_y, (0.01, 0.1, 1.0, 10.0))


MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_split(chooser="test"), "C was chosen on the test set", id="C-on-test"),
    pytest.param(_split(chooser="test", ties="larger"), "C was chosen on the test set", id="C-on-test-ties-larger"),
    pytest.param(_split(chooser="test", refit=False), "C was chosen on the test set", id="C-on-test-no-refit"),
    pytest.param(_fit_on_test, "a probe fitted on the test set", id="fitted-on-test"),
    pytest.param(_fit_on_both, "fitted on train and test together", id="fitted-on-train-and-test"),
    pytest.param(_split(returns="train"), "a score on the training data", id="training-accuracy"),
    pytest.param(_split(returns="validation"), "not the test accuracy", id="validation-accuracy"),
    pytest.param(_split(seed=None, returns="validation"), "not the test accuracy", id="validation-accuracy-unseeded"),
    pytest.param(_cv_score_returned, "not the test accuracy", id="cross-validation-score"),
    pytest.param(_split(scale=False), "put StandardScaler() before LogisticRegression in make_pipeline", id="no-scaler"),
    pytest.param(_scaler_on("test"), "a scaler fitted on the test set", id="scaler-on-test"),
    pytest.param(_scaler_on("both"), "the scaler was fitted on train and test together", id="scaler-on-train-and-test"),
    pytest.param(_split(refit=False), "refitted on all of train", id="not-refitted"),
    pytest.param(_split(returns="percent"), "its top1 is a percentage", id="percentage"),
    pytest.param(_hard_coded_Cs, "not one of the Cs it was given", id="Cs-ignored"),
    pytest.param(lambda *a, **k: {"top1": 0.5}, "no 'C' key", id="no-C"),
    pytest.param(lambda *a, **k: {"accuracy": 0.5, "C": 1.0}, "no 'top1' key", id="no-top1"),
    pytest.param(lambda *a, **k: (0.5, 1.0), "return a dict", id="returns-tuple"),
    pytest.param(lambda *a, **k: {"top1": "high", "C": 1.0}, "return it as a number", id="top1-a-string"),
    pytest.param(lambda *a, **k: {"top1": -0.5, "C": 1.0}, "a fraction in [0, 1]", id="negative-top1"),
]
# Detected only by the three variants together is 'not-refitted': no split the student may draw reproduces its
# accuracy, so it gets the general sentence, which names the refit (tested over many splits below).


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn, phrase", MISTAKES)
def test_each_mistake_gets_its_sentence(fn, phrase, variant) -> None:
    said = check_linear_probe.verdict(fn, variant=variant)
    assert said is not None and not isinstance(said, Right) and phrase in said, said


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_refit_is_caught_whatever_the_split(variant) -> None:
    """The validation-split model scored on test never passes for the refitted one, whatever split the student drew."""
    for seed in range(8):
        for stratify in (True, False):
            said = check_linear_probe.verdict(_split(seed=seed, stratify=stratify, refit=False), variant=variant)
            assert said is not None and "refitted on all of train" in said, (seed, stratify, said)


def test_one_line_and_never_raises(capsys) -> None:
    assert_diagnosis(check_linear_probe, _split(chooser="test"), "C was chosen on the test set", capsys)
    ok, line = verdict(check_linear_probe, _split(), capsys)
    assert ok and line == "✓ linear probe: matches the reference.", line
    ok, line = verdict(check_linear_probe, not_written, capsys)
    assert not ok and "not written yet" in line


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_data_make_each_mistake_show(variant) -> None:
    """What the diagnosis relies on: an honest probe does well on A, badly on B and C; the C that is best on B is one
    no validation split of train picks; every test set keeps enough points once the near ties are left out."""
    case = _case(variant)
    big, small = max(case.Cs), min(case.Cs)
    assert case.right["A"][big] > 0.7 and case.right["B"][big] < 0.05 and case.right["C"][big] < 0.4
    best_b = max(case.right["B"].values())
    assert case.right["B"][small] == best_b and best_b > case.right["B"][big] + 0.15
    assert case.chosen in case.Cs[-2:] and all(len(t[1]) >= 100 for t in case.tests.values())


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_known_mistakes_score_apart(variant) -> None:
    """For the Cs a split of train picks (the two largest), the honest probe and each known mistake differ by at least
    four test points on some test set: the checker names a mistake when it matches within 1.5 points on all three."""
    case = _case(variant)
    n = [len(case.tests[kind][1]) for kind in "ABC"]
    for c in case.Cs[-2:]:
        rows = [[case.right[kind][c] for kind in "ABC"]] + [list(scores) for scores in zip(*(_mistaken(variant, kind, c) for kind in "ABC"))]
        for i in range(len(rows)):
            for j in range(i):
                assert max(abs(a - b) * m for a, b, m in zip(rows[i], rows[j], n)) >= 4, (c, j, i)


def test_the_solution_is_judged_fast() -> None:
    """The notebook's solution is judged well within the course's 2 s (about 0.1 s idle, 0.3–0.5 s beside two busy
    processes: benchmarks/checker_latency.py); the first call also builds the variant's data and reference."""
    check_linear_probe.verdict(_split(), variant=0)
    start = time.perf_counter()
    assert check_linear_probe.verdict(_split(), variant=0) is None
    assert time.perf_counter() - start < 1.5
