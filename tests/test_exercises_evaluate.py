"""Chapter 8's checkers: the weighted kNN classifier and the effective rank — every mistake they claim to
recognise, on every variant of their inputs, and right answers written in other ways."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from byol_course.evaluate import effective_rank, knn_predict
from byol_course.exercises import check_effective_rank, check_knn

from _exercise_helpers import assert_diagnosis, not_written, verdict

VARIANTS = (0, 1, 2)


def _knn(*, normalise=(True, True), weight="exp", k_of=lambda k, n: min(k, n), largest=True, returns="argmax"):
    """The weighted kNN vote with one thing changed."""
    def fn(bank, bank_labels, queries, num_classes, k=200, temperature=0.1):
        b = F.normalize(bank, dim=1) if normalise[0] else bank
        q = F.normalize(queries, dim=1) if normalise[1] else queries
        sim, idx = (q @ b.T).topk(k_of(k, len(b)), dim=1, largest=largest)
        w = {"exp": lambda: (sim / temperature).exp(), "one": lambda: torch.ones_like(sim), "sim": lambda: sim,
             "times": lambda: (sim * temperature).exp()}[weight]()
        votes = torch.zeros(len(q), num_classes).scatter_add_(1, bank_labels[idx], w)
        return votes if returns == "votes" else votes.argmax(dim=1)
    return fn


def _in_place(bank, bank_labels, queries, num_classes, k=200, temperature=0.1):
    bank /= bank.norm(dim=1, keepdim=True)
    queries /= queries.norm(dim=1, keepdim=True)
    return _knn()(bank, bank_labels, queries, num_classes, k, temperature)


KNN_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_knn(normalise=(False, False)), "compare by cosine similarity", id="dot-product"),
    pytest.param(_knn(normalise=(False, True)), "only the queries were normalised", id="bank-not-normalised"),
    pytest.param(_knn(normalise=(True, False)), "only the bank was normalised", id="queries-not-normalised"),
    pytest.param(_knn(weight="one"), "votes barely depend on their similarity", id="unweighted"),
    pytest.param(_knn(weight="sim"), "voted with their similarity itself", id="similarity-weight"),
    pytest.param(_knn(weight="times"), "votes barely depend on their similarity", id="times-temperature"),
    pytest.param(_knn(k_of=lambda k, n: n), "every bank image voted", id="k-ignored"),
    pytest.param(_knn(largest=False), "the k least similar", id="least-similar"),
    pytest.param(_knn(returns="votes"), "it returned the votes", id="returns-votes"),
    pytest.param(_knn(k_of=lambda k, n: k), "fewer bank images than k", id="k-larger-than-bank"),
    pytest.param(_in_place, "changed the features in place", id="in-place"),
    pytest.param(lambda *a, **kw: None, "it returned None", id="returns-None"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn, phrase", KNN_MISTAKES)
def test_knn_mistakes(fn, phrase, variant) -> None:
    said = check_knn.verdict(fn, variant=variant)
    assert said is not None and phrase in said, said


def test_knn_mistakes_print_one_line(capsys) -> None:
    assert_diagnosis(check_knn, _knn(weight="one"), "votes barely depend on their similarity", capsys)


def _knn_by_distance(bank, bank_labels, queries, num_classes, k=200, temperature=0.1):
    """Nearest by Euclidean distance between unit vectors (the same order as cosine), weights from it."""
    b, q = F.normalize(bank, dim=1), F.normalize(queries, dim=1)
    dist, idx = torch.cdist(q, b).topk(min(k, len(b)), dim=1, largest=False)
    sim = 1 - dist.square() / 2  # ‖u − v‖² = 2 − 2 cos for unit vectors
    votes = torch.zeros(len(q), num_classes)
    for i in range(len(q)):
        for s, j in zip(sim[i], idx[i]):
            votes[i, bank_labels[j]] += torch.exp(s / temperature)
    return votes.argmax(dim=1).float()  # a float tensor of whole numbers is accepted


@pytest.mark.parametrize("variant", VARIANTS)
def test_knn_right_answers(variant) -> None:
    assert check_knn.verdict(knn_predict, variant=variant) is None  # the package's
    assert check_knn.verdict(_knn(), variant=variant) is None
    assert check_knn.verdict(_knn_by_distance, variant=variant) is None


def _rank(*, squared=False, centred=False, exp=True, log=torch.log, normalise="sum", eps=1e-7, returns="float"):
    def fn(z):
        z = z - z.mean(0) if centred else z
        s = torch.linalg.svdvals(z)
        s = s.square() if squared else s
        p = {"sum": lambda: s / s.sum(), "softmax": lambda: torch.softmax(s, 0), "none": lambda: s}[normalise]() + eps
        h = -(p * log(p)).sum()
        value = h.exp() if exp else h
        return {"float": lambda: value.item(), "tensor": lambda: value, "vector": lambda: p}[returns]()
    return fn


RANK_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_rank(squared=True), "squared singular values", id="eigenvalues"),
    pytest.param(_rank(centred=True), "you centred z first", id="centred"),
    pytest.param(_rank(exp=False), "that is the entropy", id="entropy"),
    pytest.param(_rank(log=torch.log2), "entropy in bits", id="log2-exp"),
    pytest.param(_rank(normalise="softmax"), "softmax", id="softmax"),
    pytest.param(_rank(normalise="none"), "divide them by their sum", id="not-a-distribution"),
    pytest.param(lambda z: float(torch.linalg.matrix_rank(z)), "that is the rank", id="matrix-rank"),
    pytest.param(_rank(returns="vector"), "return one number", id="returns-vector"),
    pytest.param(_rank(eps=0.0, normalise="sum") if False else (lambda z: float("nan")), "it returned NaN", id="nan"),
    pytest.param(lambda z: z.sub_(z.mean()).shape[1], "changed the embeddings in place", id="in-place"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn, phrase", RANK_MISTAKES)
def test_effective_rank_mistakes(fn, phrase, variant) -> None:
    said = check_effective_rank.verdict(fn, variant=variant)
    assert said is not None and phrase in said, said


@pytest.mark.parametrize("variant", VARIANTS)
def test_effective_rank_right_answers(variant) -> None:
    assert check_effective_rank.verdict(effective_rank, variant=variant) is None
    assert check_effective_rank.verdict(_rank(returns="tensor"), variant=variant) is None
    assert check_effective_rank.verdict(_rank(log=torch.log2, exp=False) and (lambda z: float(2 ** _rank(log=torch.log2, exp=False)(z))),
                                        variant=variant) is None  # 2 ** (entropy in bits) is the same number

    def drops_zeros(z):  # no eps: keep the non-zero p only
        s = torch.linalg.svdvals(z)
        p = s / s.sum()
        p = p[p > 0]
        return float(torch.exp(-(p * p.log()).sum()))

    assert check_effective_rank.verdict(drops_zeros, variant=variant) is None
