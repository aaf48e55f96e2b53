"""Chapter 8's exercises: the weighted kNN classifier, and the effective rank of an embedding."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..evaluate import effective_rank
from .common import Malformed, call, checker, close, describe, first_match

__all__ = ["check_knn", "check_effective_rank"]


# --- the weighted kNN classifier -----------------------------------------------------------------


# Per variant: bank size, queries, feature dimension, classes, k, temperature, seed, class spread. Overlapping
# classes, so that how the neighbours vote decides many queries; the seeds are ones on which every catalogued
# mistake predicts differently from the right answer and from every other mistake (tests/test_exercises_evaluate.py).
_KNN_CASES = ((60, 120, 8, 4, 10, 0.1, 1, 0.5), (50, 120, 6, 5, 15, 0.07, 1, 0.8), (70, 120, 10, 3, 7, 0.5, 2, 0.5))


def _knn_inputs(variant: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int, float]:
    """A labelled bank and queries whose features have very different norms (so that cosine ≠ dot product)."""
    n, q, d, c, k, temperature, seed, spread = _KNN_CASES[variant % 3]
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, d, generator=g) * spread
    bank_labels = torch.arange(n) % c
    bank = F.normalize(centres[bank_labels] + torch.randn(n, d, generator=g), dim=1) * torch.empty(n, 1).uniform_(0.2, 2.0, generator=g)
    query_labels = torch.randint(0, c, (q,), generator=g)
    queries = F.normalize(centres[query_labels] + torch.randn(q, d, generator=g), dim=1) * torch.empty(q, 1).uniform_(0.2, 2.0, generator=g)
    return bank, bank_labels, queries, c, k, temperature


def _votes(bank, labels, queries, c, k, weight, *, normalise=(True, True), largest=True) -> torch.Tensor:
    """The (Q, C) votes of the kNN classifier with one thing changed: the weight, the normalisation, which k."""
    b = F.normalize(bank, dim=1) if normalise[0] else bank
    qq = F.normalize(queries, dim=1) if normalise[1] else queries
    sim, idx = (qq @ b.T).topk(min(k, len(b)), dim=1, largest=largest)
    return torch.zeros(len(qq), c, dtype=torch.float64).scatter_add_(1, labels[idx], weight(sim).double())


def _clear(votes: torch.Tensor) -> torch.Tensor:
    """The queries whose vote is not a near tie: another correct order of summation cannot flip them."""
    top2 = votes.topk(2, dim=1).values
    return (top2[:, 0] - top2[:, 1]) > 1e-4 * top2[:, 0].abs().clamp(min=1e-12)


@checker("kNN")
def check_knn(fn: Callable[..., torch.Tensor], variant: int = 0) -> str | None:
    """fn(bank, bank_labels, queries, num_classes, k, temperature) -> (Q,) classes: the weighted kNN vote on cosine similarity."""
    bank, labels, queries, c, k, t = _knn_inputs(variant)
    given = (bank.clone(), labels.clone(), queries.clone())
    out = call(fn, *given, c, k, t)
    if out.problem:
        return out.problem
    if not (torch.equal(given[0], bank) and torch.equal(given[2], queries)):
        return "it changed the features in place (x /= x.norm(...)): normalise a copy, F.normalize(x, dim=1), and leave the inputs as they were."
    pred = out.value
    if isinstance(pred, torch.Tensor) and tuple(pred.shape) == (len(queries), c):
        return Malformed("it returned the votes, shape (Q, num_classes): return the predicted class of each query, votes.argmax(dim=1).")
    if not isinstance(pred, torch.Tensor) or tuple(pred.shape) != (len(queries),):
        return Malformed(f"it returned {describe(pred)}: return one predicted class per query, a tensor of shape ({len(queries)},).")
    if pred.is_floating_point() and not torch.equal(pred, pred.round()):
        return Malformed("the predictions are not whole numbers: return class indices, votes.argmax(dim=1).")
    pred = pred.long()
    exp_t = lambda s: (s / t).exp()  # noqa: E731 — the right weight
    right = _votes(bank, labels, queries, c, k, exp_t)
    clear = _clear(right)
    if not torch.equal(pred[clear], right.argmax(1)[clear]):
        for votes, sentence in [
            (lambda: _votes(bank, labels, queries, c, k, exp_t, normalise=(False, False)),
             "the neighbours were ranked and weighted by dot product: compare by cosine similarity, normalising bank and queries first (F.normalize(x, dim=1))."),
            (lambda: _votes(bank, labels, queries, c, k, exp_t, normalise=(False, True)),
             "only the queries were normalised: normalise the bank's features too, so that the dot product is the cosine."),
            (lambda: _votes(bank, labels, queries, c, k, exp_t, normalise=(True, False)),
             "only the bank was normalised: normalise the queries too, so that the similarity is a cosine in [−1, 1]."),
            (lambda: _votes(bank, labels, queries, c, k, torch.ones_like),  # also exp(sim · T): weights all near 1
             "the neighbours' votes barely depend on their similarity: each votes exp(similarity / T), divided by the small T, "
             "so that close neighbours count far more (a plain 1, or exp(similarity · T), weighs them all about the same)."),
            (lambda: _votes(bank, labels, queries, c, k, lambda s: s),
             "the neighbours voted with their similarity itself: the weight is exp(similarity / T)."),
            (lambda: _votes(bank, labels, queries, c, len(bank), exp_t),
             "every bank image voted: only the k most similar do, sim.topk(k, dim=1)."),
            (lambda: _votes(bank, labels, queries, c, k, exp_t, largest=False),
             "you took the k least similar bank images: topk(k) keeps the largest similarities (or sort distances ascending)."),
        ]:
            wrong = votes()
            sure = _clear(wrong)
            if sure.float().mean() > 0.8 and torch.equal(pred[sure], wrong.argmax(1)[sure]):
                return sentence
        return "the predictions differ from the weighted kNN vote: cosine similarity, the k most similar, each voting exp(sim / T) for its class, argmax."
    # k larger than the bank: a small labelled set (10 images per class) has fewer images than k = 200
    few = call(fn, bank[:5].clone(), labels[:5].clone(), queries.clone(), c, 200, t)
    if few.problem:
        return ("with fewer bank images than k it fails: a small labelled set can have fewer than k images, "
                "so take min(k, len(bank)) neighbours.")
    right = _votes(bank[:5], labels[:5], queries, c, 200, exp_t)
    clear = _clear(right)
    if not (isinstance(few.value, torch.Tensor) and few.value.shape == (len(queries),)
            and torch.equal(few.value.long()[clear], right.argmax(1)[clear])):
        return "with fewer bank images than k the predictions are wrong: take min(k, len(bank)) neighbours, all the bank has."
    return None


# --- the effective rank --------------------------------------------------------------------------


def _embeddings(variant: int) -> list[torch.Tensor]:
    """Embeddings from healthy to collapsed: isotropic, a few strong directions, and nearly one line."""
    g = torch.Generator().manual_seed(200 + variant)
    n, d = ((60, 8), (50, 12), (80, 6))[variant % 3]
    scales = torch.linspace(3.0, 0.1, d)
    return [
        torch.randn(n, d, generator=g) * scales,  # anisotropic: a spread of singular values
        torch.randn(n, 3, generator=g) @ torch.randn(3, d, generator=g) + 0.01 * torch.randn(n, d, generator=g),  # ~3 directions
        torch.randn(n, d, generator=g) + 4.0,  # a common offset: one dominant direction
    ]


def _rank_of(p: torch.Tensor) -> float:
    p = p + 1e-7
    return float(torch.exp(-(p * p.log()).sum()))


@checker("effective rank")
def check_effective_rank(fn: Callable[[torch.Tensor], float], variant: int = 0) -> str | None:
    """fn(z) for z of shape (N, d) must return RankMe: exp of the entropy of the singular values divided by their sum."""
    for z in _embeddings(variant):
        given = z.clone()
        out = call(fn, given)
        if out.problem:
            return out.problem
        if not torch.equal(given, z):
            return "it changed the embeddings in place: work on z without modifying it (torch.linalg.svdvals(z) does not)."
        value = out.value
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                return Malformed(f"it returned {describe(value)}: return one number, the effective rank (.item() of a 0-d tensor).")
            value = float(value)
        if not isinstance(value, (float, int)):
            return Malformed(f"it returned {describe(value)}: return the effective rank as a number.")
        if value != value:  # NaN
            return "it returned NaN: a singular value of 0 gives 0·log 0; add a small eps to p (p + 1e-7) or keep p[p > 0]."
        want = effective_rank(z)
        if abs(value - want) <= 1e-3 * want:
            continue
        s = torch.linalg.svdvals(z)
        p = s / s.sum()
        entropy = float(-(p * (p + 1e-7).log()).sum())
        return first_match(value, [
            (lambda: _rank_of(s.square() / s.square().sum()),
             "you used the squared singular values (the eigenvalues of zᵀz): RankMe normalises the singular values themselves, s / s.sum()."),
            (lambda: effective_rank(z - z.mean(0)),
             "you centred z first: RankMe, and the package, take the singular values of z as it is (centring measures the covariance's rank instead)."),
            (lambda: entropy, "that is the entropy of the singular values: the effective rank is its exponential, exp(entropy)."),
            (lambda: float(torch.exp(-(p * torch.log2(p + 1e-7)).sum())),
             "you took exp of an entropy in bits (log2): use the natural log with exp, or 2 ** (entropy in bits)."),
            (lambda: _rank_of(torch.softmax(s, 0)), "you normalised with softmax: RankMe divides the singular values by their sum, p = s / s.sum()."),
            (lambda: float(torch.linalg.matrix_rank(z)),
             "that is the rank, which counts the non-zero singular values: the effective rank weighs them by size, exp(entropy of s / s.sum())."),
            (lambda: float(torch.exp(-(s * (s + 1e-7).log()).sum())),
             "the singular values were not made a distribution: divide them by their sum first, p = s / s.sum()."),
        ], atol=1e-3 * want) or (
            f"the effective rank of this (N, d) = {tuple(z.shape)} embedding is {want:.3f}, yours {value:.3f}: "
            "p = s / s.sum() of the singular values s, then exp(−Σ p·log p)."
        )
    return None
