"""Chapter 10's checkers: the linear BYOL step, the read-out of F's spectrum, DirectPred's predictor.

Every right answer below passes, however it is written (by hand, by autograd, with einsum, SVD, argsort);
every mistake the checkers claim to recognise gets its own sentence; each checker answers fast.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from _exercise_helpers import assert_diagnosis, not_written, verdict
from byol_course.dynamics import correlation, directpred_predictor, linear_step, spectrum
from byol_course.exercises import check_directpred, check_linear_step, check_spectrum

pytestmark = pytest.mark.usefixtures("one_thread")


# --- the step --------------------------------------------------------------------------------------


def step_by_hand(W, Wp, Wa, x1, x2, lr, weight_decay, lam, tau):
    """The notebook's solution."""
    B = x1.shape[0]
    f1 = x1 @ W.T
    r = f1 @ Wp.T - x2 @ Wa.T
    gW, gWp = Wp.T @ r.T @ x1 / B, r.T @ f1 / B
    new_W = W - lr * (gW + weight_decay * W)
    new_Wp = Wp - lam * lr * (gWp + weight_decay * Wp)
    return new_W, new_Wp, tau * Wa + (1 - tau) * new_W


def step_by_autograd(W, Wp, Wa, x1, x2, lr, weight_decay, lam, tau):
    """A right answer that lets autograd take the gradients."""
    W_, Wp_ = W.clone().requires_grad_(), Wp.clone().requires_grad_()
    with torch.no_grad():
        target = x2 @ Wa.T
    loss = 0.5 * ((x1 @ W_.T @ Wp_.T - target) ** 2).sum(dim=1).mean()
    gW, gWp = torch.autograd.grad(loss, (W_, Wp_))
    with torch.no_grad():
        new_W = W - lr * gW - lr * weight_decay * W
        new_Wp = Wp - lam * lr * (gWp + weight_decay * Wp)
        new_Wa = torch.lerp(Wa, new_W, 1 - tau)
    return [new_W, new_Wp, new_Wa]


def step_by_einsum(W, Wp, Wa, x1, x2, lr, weight_decay, lam, tau):
    """A right answer with einsum and the EMA written as Wa + (1 − τ)(W − Wa)."""
    f = torch.einsum("oi,bi->bo", W, x1)
    r = torch.einsum("po,bo->bp", Wp, f) - torch.einsum("oi,bi->bo", Wa, x2)
    gWp = torch.einsum("bp,bo->po", r, f) / len(x1)
    gW = torch.einsum("po,bp,bi->oi", Wp, r, x1) / len(x1)
    W2 = W * (1 - lr * weight_decay) - lr * gW
    Wp2 = Wp * (1 - lam * lr * weight_decay) - lam * lr * gWp
    return W2, Wp2, Wa + (1 - tau) * (W2 - Wa)


def _from(fn, **changes):
    """A student's step: the hand-written one with one thing changed."""

    def step(W, Wp, Wa, x1, x2, lr, weight_decay, lam, tau):
        B = x1.shape[0]
        f1 = x1 @ W.T
        r = f1 @ Wp.T - x2 @ Wa.T
        return fn(W, Wp, Wa, x1, x2, lr, weight_decay, lam, tau, B, f1, r, **changes)

    return step


def _sign(W, Wp, Wa, x1, x2, lr, wd, lam, tau, B, f1, r):
    new_W = W + lr * (Wp.T @ r.T @ x1 / B + wd * W)
    return new_W, Wp + lam * lr * (r.T @ f1 / B + wd * Wp), tau * Wa + (1 - tau) * new_W


def _no_stop_gradient(W, Wp, Wa, x1, x2, lr, wd, lam, tau):  # autograd, the target from the online W, not detached
    W_, Wp_ = W.clone().requires_grad_(), Wp.clone().requires_grad_()
    loss = 0.5 * ((x1 @ W_.T @ Wp_.T - x2 @ W_.T) ** 2).sum(dim=1).mean()
    gW, gWp = torch.autograd.grad(loss, (W_, Wp_))
    with torch.no_grad():
        new_W = W - lr * (gW + wd * W)
        return new_W, Wp - lam * lr * (gWp + wd * Wp), tau * Wa + (1 - tau) * new_W


def _target_from_online(W, Wp, Wa, x1, x2, lr, wd, lam, tau):  # by hand, the target x2 @ W.T (a constant, but W's)
    new_W, new_Wp, _ = step_by_hand(W, Wp, W, x1, x2, lr, wd, lam, tau)
    return new_W, new_Wp, tau * Wa + (1 - tau) * new_W


def _ema(kind):
    def step(W, Wp, Wa, x1, x2, lr, wd, lam, tau):
        new_W, new_Wp, _ = step_by_hand(W, Wp, Wa, x1, x2, lr, wd, lam, tau)
        return new_W, new_Wp, {"before": tau * Wa + (1 - tau) * W, "swapped": (1 - tau) * Wa + tau * new_W, "none": Wa,
                               "hardcoded": 0.99 * Wa + 0.01 * new_W}[kind]
    return step


def _params(**fixed):
    def step(W, Wp, Wa, x1, x2, lr, weight_decay, lam, tau):
        values = dict(lr=lr, weight_decay=weight_decay, lam=lam, tau=tau) | fixed
        return step_by_hand(W, Wp, Wa, x1, x2, **values)
    return step


def _grads(kind):
    def step(W, Wp, Wa, x1, x2, lr, wd, lam, tau):
        B = x1.shape[0]
        f1 = x1 @ W.T
        r = f1 @ Wp.T - x2 @ Wa.T
        gW, gWp = Wp.T @ r.T @ x1 / B, r.T @ f1 / B
        if kind == "sum":
            gW, gWp = gW * B, gWp * B
        elif kind == "no half":
            gW, gWp = 2 * gW, 2 * gWp
        elif kind == "transposed":
            gWp = f1.T @ r / B
        elif kind == "no Wp":
            gW = r.T @ x1 / B
        elif kind == "Wp not T":
            gW = Wp @ r.T @ x1 / B
        elif kind == "returns grads":
            return gW, gWp, Wa
        new_W = W - lr * (gW + wd * W)
        if kind == "sequential":
            f_new = x1 @ new_W.T
            gWp = (f_new @ Wp.T - x2 @ Wa.T).T @ f_new / B
        if kind == "decay outside":
            new_W = W - lr * gW - wd * W
            return new_W, Wp - lam * lr * gWp - wd * Wp, tau * Wa + (1 - tau) * new_W
        new_Wp = Wp if kind == "frozen predictor" else Wp - lam * lr * (gWp + wd * Wp)
        return new_W, new_Wp, tau * Wa + (1 - tau) * new_W
    return step


def _in_place(W, Wp, Wa, x1, x2, lr, wd, lam, tau):
    new_W, new_Wp, new_Wa = step_by_hand(W, Wp, Wa, x1, x2, lr, wd, lam, tau)
    W.copy_(new_W), Wp.copy_(new_Wp), Wa.copy_(new_Wa)
    return W, Wp, Wa


def _numpy(*args):
    return tuple(t.numpy() for t in step_by_hand(*args))


def _graph_kept(W, Wp, Wa, x1, x2, lr, wd, lam, tau):
    W_, Wp_ = W.clone().requires_grad_(), Wp.clone().requires_grad_()
    loss = 0.5 * ((x1 @ W_.T @ Wp_.T - x2 @ Wa.T) ** 2).sum(dim=1).mean()
    gW, gWp = torch.autograd.grad(loss, (W_, Wp_), create_graph=True)
    new_W = W_ - lr * (gW + wd * W_)
    return new_W, Wp_ - lam * lr * (gWp + wd * Wp_), tau * Wa + (1 - tau) * new_W


STEP_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_from(_sign), "you stepped up the gradient", id="wrong-sign"),
    pytest.param(_no_stop_gradient, "flows through the target branch", id="no-stop-gradient"),
    pytest.param(_target_from_online, "the target comes from the online W", id="target-from-online"),
    pytest.param(_ema("before"), "towards the old W", id="ema-before-step"),
    pytest.param(_ema("swapped"), "you swapped τ and 1 − τ", id="ema-swapped"),
    pytest.param(_ema("none"), "the target did not move", id="no-ema"),
    pytest.param(_ema("hardcoded"), "as if τ were 0.99, not 0.7", id="ema-hardcoded-tau"),
    pytest.param(_params(lr=0.1), "rather than fixed numbers", id="lr-hardcoded"),
    pytest.param(_params(lam=1.0), "learn at λ × lr", id="lambda-ignored"),
    pytest.param(_params(weight_decay=0.0), "weight decay is missing", id="no-weight-decay"),
    pytest.param(_grads("decay outside"), "lr multiplies η·W too", id="decay-outside-lr"),
    pytest.param(_grads("sum"), "divide the gradients by the batch size", id="sum-not-mean"),
    pytest.param(_grads("no half"), "has a ½ in front", id="no-half"),
    pytest.param(_grads("transposed"), "you have its transpose", id="predictor-gradient-transposed"),
    pytest.param(_grads("no Wp"), "missing W_pᵀ", id="no-predictor-in-W-gradient"),
    pytest.param(_grads("Wp not T"), "the transpose of W_p, not W_p", id="Wp-not-transposed"),
    pytest.param(_grads("sequential"), "take both gradients at the old weights", id="sequential"),
    pytest.param(_grads("frozen predictor"), "W_p did not change", id="predictor-frozen"),
    pytest.param(_grads("returns grads"), "you returned the gradients", id="returns-gradients"),
    pytest.param(_in_place, "changed its input (W, W_p, W_a, x1 or x2) in place", id="in-place"),
    pytest.param(_numpy, "NumPy arrays", id="numpy"),
    pytest.param(_graph_kept, "still carry autograd's graph", id="graph-kept"),
    pytest.param(lambda *a: step_by_hand(*a)[:2], "return the three new weight matrices", id="two-outputs"),
    pytest.param(lambda *a: (lambda w, p, t: (w, t, p))(*step_by_hand(*a)), "in the order (W, W_p, W_a)", id="wrong-order"),
    pytest.param(lambda W, Wp, Wa, x1, x2, *r: step_by_hand(W, Wp, Wa, x1, x2, *r)[0] @ x1.T, "return the three new weight matrices", id="one-tensor"),
]


@pytest.mark.parametrize("fn, phrase", STEP_MISTAKES)
def test_linear_step_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_linear_step, fn, phrase, capsys)


def test_linear_step_right_answers(capsys) -> None:
    for fn in (linear_step, step_by_hand, step_by_autograd, step_by_einsum):
        ok, line = verdict(check_linear_step, fn, capsys)
        assert ok, line


# --- the read-out ----------------------------------------------------------------------------------


def spectrum_by_eigh(f):
    """The notebook's solution."""
    F = f.T @ f / f.shape[0]
    s, U = torch.linalg.eigh(F)
    return s.flip(0), U.flip(1)


def spectrum_by_svd(f):
    """A right answer from the SVD of f: F's eigenvectors are f's right singular vectors (signs may differ)."""
    _, sv, Vh = torch.linalg.svd(f, full_matrices=False)
    return sv**2 / f.shape[0], -Vh.T


def spectrum_by_argsort(f):
    """A right answer with argsort and a loop-free mean."""
    F = torch.einsum("ni,nj->ij", f, f) / len(f)
    s, U = torch.linalg.eigh(F)
    order = s.argsort(descending=True)
    return s[order], U[:, order]


def _eig(f):
    s, U = torch.linalg.eig(f.T @ f / len(f))
    return s, U


SPECTRUM_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(lambda f: torch.linalg.eigh(f.T @ f / len(f)), "largest first", id="ascending"),
    pytest.param(lambda f: (torch.linalg.eigh(f.T @ f / len(f))[0].flip(0), torch.linalg.eigh(f.T @ f / len(f))[1]),
                 "reordered the eigenvalues but not the eigenvectors", id="eigenvectors-not-reordered"),
    pytest.param(lambda f: (spectrum_by_eigh(f)[0], spectrum_by_eigh(f)[1].T), "returned them as rows", id="eigenvectors-transposed"),
    pytest.param(lambda f: spectrum_by_eigh(f * len(f) ** 0.5), "divide fᵀ f by N", id="sum-not-mean"),
    pytest.param(lambda f: spectrum_by_eigh(f * (len(f) / (len(f) - 1)) ** 0.5), "not N − 1", id="n-minus-1"),
    pytest.param(lambda f: spectrum_by_eigh(f - f.mean(0)), "not a covariance", id="centred"),
    pytest.param(lambda f: (torch.linalg.svdvals(f), torch.linalg.svd(f, full_matrices=False)[2].T), "singular values", id="singular-values"),
    pytest.param(lambda f: torch.linalg.eigh(f @ f.T / len(f)), "you computed f fᵀ", id="f-fT"),
    pytest.param(_eig, "complex numbers", id="complex-eig"),
    pytest.param(lambda f: tuple(t.numpy() for t in spectrum_by_eigh(f)), "NumPy arrays", id="numpy"),
    pytest.param(lambda f: spectrum_by_eigh(f.sub_(f.mean(0))), "changed its input (f) in place", id="in-place"),
    pytest.param(lambda f: spectrum_by_eigh(f)[0], "return two tensors", id="eigenvalues-only"),
]


@pytest.mark.parametrize("fn, phrase", SPECTRUM_MISTAKES)
def test_spectrum_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_spectrum, fn, phrase, capsys)


def test_spectrum_right_answers(capsys) -> None:
    for fn in (lambda f: spectrum(correlation(f)), spectrum_by_eigh, spectrum_by_svd, spectrum_by_argsort):
        ok, line = verdict(check_spectrum, fn, capsys)
        assert ok, line


# --- DirectPred ------------------------------------------------------------------------------------


def directpred_by_hand(F, eps):
    """The notebook's solution."""
    s, U = torch.linalg.eigh(F)
    s = s.clamp(min=0)
    p = s.sqrt() + eps * s.max()
    return U @ torch.diag(p) @ U.T


def directpred_by_svd(F, eps):
    """A right answer through the SVD (F is PSD: U S Uᵀ), sorted descending, in float32."""
    U, S, _ = torch.linalg.svd(F.float())
    return (U * (S.sqrt() + eps * S[0])) @ U.T


def directpred_by_numpy_inside(F, eps):
    """A right answer that goes through NumPy and comes back as a tensor."""
    s, U = np.linalg.eigh(F.numpy())
    p = np.sqrt(np.clip(s, 0, None)) + eps * s.max()
    return torch.from_numpy(U @ np.diag(p) @ U.T)


def _dp(p_of, rotate="U"):
    def fn(F, eps):
        s, U = torch.linalg.eigh(F)
        sc = s.clamp(min=0)
        p = p_of(s, sc, eps)
        if rotate == "transposed":
            return U.T @ torch.diag(p) @ U
        if rotate == "diag":
            return torch.diag(p)
        return U @ torch.diag(p) @ U.T
    return fn


def _sorted_values_only(F, eps):
    s, U = torch.linalg.eigh(F)
    s = s.clamp(min=0).flip(0)  # largest first, but U is left as it was
    return U @ torch.diag(s.sqrt() + eps * s[0]) @ U.T


DIRECTPRED_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_dp(lambda s, sc, e: sc + e * sc.max()), "forgot the square root", id="no-sqrt"),
    pytest.param(_dp(lambda s, sc, e: sc.sqrt()), "ε is missing", id="no-eps"),
    pytest.param(_dp(lambda s, sc, e: sc.sqrt() + e), "ε is relative to the largest eigenvalue", id="eps-not-scaled"),
    pytest.param(_dp(lambda s, sc, e: (sc + e * sc.max()).sqrt()), "outside the square root", id="eps-inside-sqrt"),
    pytest.param(_dp(lambda s, sc, e: (sc / sc.max()).sqrt() + e), "released code's normalised form", id="normalised"),
    pytest.param(_dp(lambda s, sc, e: sc.sqrt() / sc.sqrt().max() + e), "released code's normalised form", id="normalised-by-max-sqrt"),
    pytest.param(_dp(lambda s, sc, e: sc.sqrt() + e * sc[0]), "took the smallest eigenvalue", id="max-is-s0"),
    pytest.param(_dp(lambda s, sc, e: sc.sqrt() + 0.1 * sc.max()), "use the value passed in", id="eps-hardcoded"),
    pytest.param(_dp(lambda s, sc, e: s.sqrt() + e * s.max()), "clamp the eigenvalues at 0", id="no-clamp"),
    pytest.param(_dp(lambda s, sc, e: sc.sqrt() + e * sc.max(), rotate="transposed"), "not Uᵀ diag(p) U", id="eigenvectors-transposed"),
    pytest.param(_sorted_values_only, "reordered the eigenvalues but not the eigenvectors", id="eigenvalues-sorted-alone"),
    pytest.param(_dp(lambda s, sc, e: sc.sqrt() + e * sc.max(), rotate="diag"), "you returned diag(p)", id="diag-only"),
    pytest.param(lambda F, eps: F.clamp(min=0).sqrt() + eps * torch.linalg.eigvalsh(F).max(), "not on its entries", id="elementwise-sqrt"),
    pytest.param(lambda F, eps: torch.linalg.eigh(F)[0].clamp(min=0).sqrt() + eps * torch.linalg.eigvalsh(F).max(), "the vector p", id="returns-p"),
    pytest.param(lambda F, eps: torch.linalg.eig(F)[1] @ torch.diag(torch.linalg.eig(F)[0].sqrt()) @ torch.linalg.eig(F)[1].T, "complex numbers", id="complex-eig"),
    pytest.param(lambda F, eps: directpred_by_hand(F, eps).numpy(), "NumPy arrays", id="numpy"),
    pytest.param(lambda F, eps: directpred_by_hand(F.div_(1.0).mul_(1.0).clamp_(min=0), eps), "changed its input (F) in place", id="in-place"),
]


@pytest.mark.parametrize("fn, phrase", DIRECTPRED_MISTAKES)
def test_directpred_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_directpred, fn, phrase, capsys)


def test_directpred_right_answers(capsys) -> None:
    for fn in (directpred_predictor, directpred_by_hand, directpred_by_svd, directpred_by_numpy_inside):
        ok, line = verdict(check_directpred, fn, capsys)
        assert ok, line


def test_every_checker_answers_fast(capsys) -> None:
    """Each checker judges a right and a wrong answer in well under the 2 s the course promises (here ≤ 0.5 s)."""
    for check, right, wrong in (
        (check_linear_step, step_by_autograd, _grads("sequential")),
        (check_spectrum, spectrum_by_svd, lambda f: spectrum_by_eigh(f - f.mean(0))),
        (check_directpred, directpred_by_hand, _sorted_values_only),
    ):
        for fn in (right, wrong):
            t0 = time.perf_counter()
            check(fn)
            assert time.perf_counter() - t0 < 0.5, check.__name__
    capsys.readouterr()
