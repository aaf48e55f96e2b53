"""Chapter 10's exercises: the linear BYOL update, reading out F's spectrum, and DirectPred's predictor.

Each checker runs the student's function on small hand-made tensors whose dimensions all differ
(n_in = 5, n_out = 3, a batch of 7), so that a transposed matrix fails loudly or shows, and compares
it with `byol_course.dynamics` and with the same computation carrying each known mistake.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..dynamics import correlation, directpred_predictor, linear_step, spectrum
from .common import call, checker, close, describe, effective_tau, first_match

__all__ = ["check_linear_step", "check_spectrum", "check_directpred", "directpred_mistakes"]

_STEP_ARGS = dict(lr=0.1, weight_decay=0.05, lam=2.0, tau=0.7)  # λ ≠ 1 and τ ∉ {0, ½, 1}: their mistakes show


def _numpy_sentence(value: Any, what: str) -> str | None:
    """The sentence for a NumPy array (or a list of them) where tensors were expected, else None."""
    items = value if isinstance(value, (tuple, list)) else [value]
    if any(type(v).__module__ == "numpy" for v in items):
        return f"it returned NumPy arrays: return {what} as torch tensors (stay in torch, or torch.from_numpy at the end)."
    return None


def _unchanged(given: list[torch.Tensor], kept: list[torch.Tensor], names: str) -> str | None:
    """The sentence for arguments changed in place, else None."""
    if all(torch.equal(a, b) for a, b in zip(given, kept)):
        return None
    return f"your function changed its input ({names}) in place: compute new tensors and leave the arguments as they were."


# --- exercise 1: the update ----------------------------------------------------------------------


def _step_inputs(variant: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(10 + variant)
    W, W_p, W_a = torch.randn(3, 5, generator=g), torch.randn(3, 3, generator=g), torch.randn(3, 5, generator=g)
    return W, W_p, W_a, torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)


def _variant(W, W_p, W_a, x1, x2, lr, weight_decay, lam, tau, *, sign=1.0, target="Wa", grad_through_target=False,
             scale=1.0, gp_transposed=False, gw="WpT", wd=(True, True), lam_on="Wp", ema="after", sequential=False,
             predictor_moves=True, wd_outside_lr=False):
    """linear_step with one mistake switched on by a keyword (none: the right step)."""
    B = x1.shape[0]
    target_x2 = x2 @ {"Wa": W_a, "W": W}[target].T  # (B, n_out)
    r = x1 @ W.T @ W_p.T - target_x2  # (B, n_out)
    back = {"WpT": W_p.T, "Wp": W_p, "none": torch.eye(W_p.shape[0])}[gw]
    g_W = scale * (back @ r.T @ x1 / B - (r.T @ x2 / B if grad_through_target else 0))

    def step(t: torch.Tensor, g: torch.Tensor, rate: float, decay: bool) -> torch.Tensor:
        d = weight_decay * t if decay else 0
        return t - sign * rate * g - d if wd_outside_lr else t - sign * rate * (g + d)

    lr_W, lr_p = {"Wp": (lr, lam * lr), "W": (lam * lr, lr), "none": (lr, lr)}[lam_on]
    new_W = step(W, g_W, lr_W, wd[0])
    f = x1 @ (new_W if sequential else W).T  # (B, n_out)
    r_p = f @ W_p.T - target_x2 if sequential else r
    g_p = scale * (f.T @ r_p / B if gp_transposed else r_p.T @ f / B)
    new_W_p = step(W_p, g_p, lr_p, wd[1]) if predictor_moves else W_p
    new_W_a = {"after": tau * W_a + (1 - tau) * new_W, "before": tau * W_a + (1 - tau) * W,
               "swapped": (1 - tau) * W_a + tau * new_W, "none": W_a, "copy": new_W}[ema]
    return new_W, new_W_p, new_W_a


_STEP_MISTAKES = [
    (dict(sign=-1.0), "you stepped up the gradient: W ← W − lr·(∂J/∂W + η·W), and the same minus for W_p."),
    (dict(target="W", grad_through_target=True), "the gradient also flows through the target branch, computed from the online W: the target is "
     "StopGrad(W_a x₂), a constant made from W_a (with autograd: compute it from W_a, under torch.no_grad() or .detach())."),
    (dict(target="W"), "the target comes from the online W: BYOL's target is W_a x₂, the EMA weights W_a."),
    (dict(ema="before"), "the EMA moved W_a towards the old W: update the target after the gradient step, W_a ← τ·W_a + (1 − τ)·W_new."),
    (dict(ema="swapped"), "τ weighs the target's own past: W_a ← τ·W_a + (1 − τ)·W_new (you swapped τ and 1 − τ)."),
    (dict(ema="none"), "the target did not move: after the gradient step, W_a ← τ·W_a + (1 − τ)·W_new."),
    (dict(ema="copy"), "the target became a copy of W: that is τ = 0; use the `tau` argument, W_a ← τ·W_a + (1 − τ)·W_new."),
    (dict(lam_on="none"), "the predictor must learn at λ × lr: W_p ← W_p − λ·lr·(∂J/∂W_p + η·W_p)."),
    (dict(lam_on="W"), "λ multiplies the predictor's learning rate, not the online network's: W_p ← W_p − λ·lr·(...), W ← W − lr·(...)."),
    (dict(wd=(False, False)), "weight decay is missing: add η·W to ∂J/∂W and η·W_p to ∂J/∂W_p before stepping."),
    (dict(wd=(False, True)), "the online network's weight decay is missing: W ← W − lr·(∂J/∂W + η·W)."),
    (dict(wd=(True, False)), "the predictor's weight decay is missing: W_p ← W_p − λ·lr·(∂J/∂W_p + η·W_p)."),
    (dict(wd_outside_lr=True), "the decay is part of the step: W ← W − lr·(∂J/∂W + η·W), so lr multiplies η·W too."),
    (dict(scale=7.0), "J averages over the batch: divide the gradients by the batch size (a mean, not a sum)."),
    (dict(scale=2.0), "J = ½·E‖…‖² has a ½ in front: ∂J/∂W_p = E[r fᵀ], without a factor 2."),
    (dict(gp_transposed=True), "∂J/∂W_p = E[r fᵀ] (rows: the error r, columns: the representation f); you have its transpose, E[f rᵀ]."),
    (dict(gw="none"), "∂J/∂W is missing W_pᵀ: the error reaches W through the predictor, ∂J/∂W = W_pᵀ E[r x₁ᵀ]."),
    (dict(gw="Wp"), "∂J/∂W = W_pᵀ E[r x₁ᵀ]: the transpose of W_p, not W_p."),
    (dict(sequential=True), "take both gradients at the old weights (as autograd would), then update W and W_p; you used the new W for W_p's."),
    (dict(predictor_moves=False), "W_p did not change: the predictor learns too, W_p ← W_p − λ·lr·(∂J/∂W_p + η·W_p)."),
]


def _weights_problem(value: Any, shapes: list[tuple[int, ...]]) -> str | None:
    """None if value is a tuple/list of three finite float tensors of these shapes, else the sentence."""
    if (sentence := _numpy_sentence(value, "(W, W_p, W_a)")) is not None:
        return sentence
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return f"it returned {describe(value)}: return the three new weight matrices, (W, W_p, W_a)."
    for t, shape, name in zip(value, shapes, ("W", "W_p", "W_a")):
        if not isinstance(t, torch.Tensor):
            return f"the new {name} is {describe(t)}: return it as a tensor of shape {shape}."
        if tuple(t.shape) != shape:
            if tuple(value[0].shape) == shapes[0] and [tuple(v.shape) for v in value[1:]] == [shapes[2], shapes[1]]:
                return "return the weights in the order (W, W_p, W_a)."
            return f"the new {name} has shape {tuple(t.shape)}, not {shape}: check which matrices you multiply (and transpose)."
        if not torch.isfinite(t).all():
            return f"the new {name} holds NaN or infinite values: these inputs are ordinary, check the formula."
    if any(t.requires_grad for t in value):
        return ("the tensors you return still carry autograd's graph: compute the update under torch.no_grad() "
                "(or return .detach()ed tensors), or the next step's requires_grad_() fails.")
    return None


@checker("linear step")
def check_linear_step(fn: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]], variant: int = 0) -> str | None:
    """fn(W, W_p, W_a, x1, x2, lr, weight_decay, lam, tau) must return linear_step's (W, W_p, W_a) and leave its inputs alone."""
    inputs = _step_inputs(variant)
    for args in (_STEP_ARGS, dict(lr=0.05, weight_decay=0.0, lam=0.5, tau=0.0)):
        given = [t.clone() for t in inputs]
        out = call(fn, *given, *args.values())
        if out.problem:
            return out.problem
        if problem := _unchanged(given, list(inputs), "W, W_p, W_a, x1 or x2"):
            return problem
        if problem := _weights_problem(out.value, [tuple(t.shape) for t in inputs[:3]]):
            return problem
        mine = [t.detach().float() for t in out.value]
        want = linear_step(*inputs, *args.values())
        if close(mine, want):
            continue
        if close(mine, [g for g in _gradients(*inputs)] + [inputs[2]]):
            return "you returned the gradients: return the updated weights, W − lr·(∂J/∂W + η·W) and so on."
        if args is _STEP_ARGS and (found := first_match(mine, [(lambda kw=kw: _variant(*inputs, *args.values(), **kw), s)
                                                              for kw, s in _STEP_MISTAKES])):
            return found  # (only with the first arguments, where every mistake has its own numbers)
        if close(mine[:2], want[:2]) and (used := effective_tau([mine[2]], [inputs[2]], [want[0]])) is not None:
            return f"the target moved as if τ were {used:.3g}, not {args['tau']}: use the `tau` argument, W_a ← τ·W_a + (1 − τ)·W_new."
        names = [n for n, a, b in zip(("W", "W_p", "W_a"), mine, want) if not close(a, b)]
        which = ", ".join(f"{k}={v}" for k, v in args.items())
        return (f"with {which} your new {' and '.join(names)} differ{'s' if len(names) == 1 else ''} from one SGD step on "
                "J = ½·mean‖W_p W x₁ − W_a x₂‖² with weight decay (λ·lr for W_p), then W_a ← τ·W_a + (1 − τ)·W_new"
                + (": do you use the arguments rather than fixed numbers?" if args is not _STEP_ARGS else "."))
    return None


def _gradients(W, W_p, W_a, x1, x2):
    """∂J/∂W and ∂J/∂W_p at these weights."""
    r = x1 @ W.T @ W_p.T - x2 @ W_a.T
    return W_p.T @ r.T @ x1 / len(x1), r.T @ (x1 @ W.T) / len(x1)


# --- exercise 2: the read-out ---------------------------------------------------------------------


def _features(variant: int = 0) -> torch.Tensor:
    """f (N = 8, d = 3) with a non-zero mean and F's eigenvalues well apart."""
    g = torch.Generator().manual_seed(20 + variant)
    return torch.randn(8, 3, generator=g) * torch.tensor([3.0, 1.0, 0.3]) + torch.tensor([1.0, -0.5, 0.2])


@checker("spectrum")
def check_spectrum(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], variant: int = 0) -> str | None:
    """fn(f) must return F = E[f fᵀ]'s eigenvalues, largest first, and its eigenvectors as the columns of U (any signs)."""
    f = _features(variant)
    given = f.clone()
    out = call(fn, given)
    if out.problem:
        return out.problem
    if problem := _unchanged([given], [f], "f"):
        return problem
    if (sentence := _numpy_sentence(out.value, "(s, U)")) is not None:
        return sentence
    value = out.value
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(isinstance(v, torch.Tensor) for v in value):
        return f"it returned {describe(value)}: return two tensors, the eigenvalues s (d,) and the eigenvectors U (d, d)."
    s, U = value
    if s.is_complex() or U.is_complex():
        return "it returned complex numbers (torch.linalg.eig): F is symmetric, use torch.linalg.eigh (real eigenvalues, orthonormal eigenvectors)."
    d, n = f.shape[1], f.shape[0]
    if tuple(s.shape) == (n,) or tuple(U.shape) == (n, n):
        return "F = fᵀ f / N is d × d (one row and column per feature): you computed f fᵀ, which is N × N."
    if tuple(s.shape) != (d,) or tuple(U.shape) != (d, d):
        return f"s should have shape ({d},) and U ({d}, {d}); yours are {tuple(s.shape)} and {tuple(U.shape)}."
    s, U = s.detach().double(), U.detach().double()
    F = correlation(f.double())
    s_ref, U_ref = spectrum(F)
    if not close(s, s_ref):
        svals = torch.linalg.svdvals(f.double())
        centred = f.double() - f.double().mean(0)
        found = first_match(s, [
            (lambda: s_ref.flip(0), "the eigenvalues must come largest first: torch.linalg.eigh returns them in ascending order, so flip s and the columns of U (U.flip(1))."),
            (lambda: s_ref * n, "F is the mean E[f fᵀ]: divide fᵀ f by N."),
            (lambda: s_ref * n / (n - 1), "F is a mean over the N rows: divide by N, not N − 1."),
            (lambda: spectrum(correlation(centred))[0], "F is a correlation, not a covariance: don't subtract the mean (Tian et al. keep F̂ a correlation, 'without zero-centering f')."),
            (lambda: spectrum(correlation(centred))[0].flip(0), "F is a correlation, not a covariance: don't subtract the mean; and list the eigenvalues largest first."),
            (lambda: svals, "those are the singular values σ of f: F = fᵀ f / N has eigenvalues σ² / N."),
        ])
        return found or f"F's eigenvalues, largest first, are {[round(v, 4) for v in s_ref.tolist()]}; yours are {[round(v, 4) for v in s.tolist()]}."
    if close(F @ U, U * s, atol=1e-6) and close(U.T @ U, torch.eye(d, dtype=U.dtype), atol=1e-6):
        return None
    if close(F @ U.T, U.T * s, atol=1e-6):
        return "the eigenvectors are the columns of U (F U = U diag(s)); you returned them as rows: return U, not U.T."
    if close(F @ U.flip(1), U.flip(1) * s, atol=1e-6):
        return "you reordered the eigenvalues but not the eigenvectors: flip the columns of U too, so that column j belongs to s[j]."
    return "U's columns are not F's unit eigenvectors in the order of s: take them from torch.linalg.eigh(F) and reorder them with s."


# --- exercise 3: DirectPred --------------------------------------------------------------------------


def _psd(values: list[float], seed: int) -> torch.Tensor:
    """F = Q diag(values) Qᵀ in float64 for a random orthogonal Q."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(len(values), len(values), generator=g, dtype=torch.float64))
    return (Q * torch.tensor(values, dtype=torch.float64)) @ Q.T


def directpred_mistakes(F: torch.Tensor, eps: float) -> list[tuple[Callable[[], torch.Tensor], str]]:
    """The wrong predictors students write from F's eigen-decomposition, each with its sentence."""
    s, U = torch.linalg.eigh(F)  # ascending, as the student gets them
    sc = s.clamp_min(0)
    top = sc.max()
    good = sc.sqrt() + eps * top  # (d,) the right p, ascending

    def rot(p: torch.Tensor) -> torch.Tensor:
        return (U * p) @ U.T

    return [
        (lambda: rot(sc + eps * top), "you forgot the square root: p_j = √s_j + ε·max_j s_j."),
        (lambda: rot(sc.sqrt()), "ε is missing: p_j = √s_j + ε·max_j s_j (it boosts the small eigenvalues, which then grow faster)."),
        (lambda: rot(sc.sqrt() + eps), "ε is relative to the largest eigenvalue: p_j = √s_j + ε·max_j s_j, not √s_j + ε."),
        (lambda: rot((sc + eps * top).sqrt()), "ε goes outside the square root: p_j = √s_j + ε·max_j s_j."),
        (lambda: rot((sc / top).sqrt() + eps), "that is the released code's normalised form, √(s_j / max s) + ε: write Eq. 18 as the paper prints it, "
         "√s_j + ε·max_j s_j (the linear model's squared loss feels W_p's scale)."),
        (lambda: rot(sc.sqrt() / sc.sqrt().max() + eps), "that is the released code's normalised form, √s_j / max √s + ε: write Eq. 18 as the paper prints it, "
         "√s_j + ε·max_j s_j (the linear model's squared loss feels W_p's scale)."),
        (lambda: rot(sc.sqrt() + eps * sc[0]), "ε·s[0] took the smallest eigenvalue: torch.linalg.eigh sorts them in ascending order, use s.max()."),
        (lambda: rot(sc.sqrt() + 0.1 * top), "ε was not the `eps` argument: use the value passed in."),
        (lambda: U.T @ torch.diag(good) @ U, "the eigenvectors are U's columns: W_p = U diag(p) Uᵀ, not Uᵀ diag(p) U."),
        (lambda: rot(good.flip(0)), "you reordered the eigenvalues but not the eigenvectors: each p_j must stay with its own u_j (flip both, or neither)."),
        (lambda: torch.diag(good), "you returned diag(p), W_p in F's eigenbasis: rotate back, W_p = U diag(p) Uᵀ."),
        (lambda: torch.diag(good.flip(0)), "you returned diag(p), W_p in F's eigenbasis: rotate back, W_p = U diag(p) Uᵀ."),
        (lambda: F.clamp_min(0).sqrt() + eps * top, "√ acts on F's eigenvalues, not on its entries: decompose F = U diag(s) Uᵀ first."),
    ]


@checker("DirectPred")
def check_directpred(fn: Callable[[torch.Tensor, float], torch.Tensor], variant: int = 0) -> str | None:
    """fn(F, eps) must return W_p = U diag(√s_j + ε·max_j s_j) Uᵀ (Tian et al.'s Eq. 18), s clamped at 0."""
    # first eigenvalues well apart; then a zero eigenvalue that rounding made slightly negative, as F̂'s are, and another ε
    for values, eps, seed in (([4.0, 1.0, 0.25, 0.04], 0.1, 30), ([2.0, 0.5, 0.02, -1e-9], 0.05, 31)):
        F = _psd(values, seed + 10 * variant)
        given = F.clone()
        out = call(fn, given, eps)
        if out.problem:
            return out.problem
        if problem := _unchanged([given], [F], "F"):
            return problem
        value, d = out.value, len(values)
        if (sentence := _numpy_sentence(value, "W_p")) is not None:
            return sentence
        if not isinstance(value, torch.Tensor):
            return f"it returned {describe(value)}: return W_p, a ({d}, {d}) tensor."
        if value.is_complex():
            return "it returned complex numbers (torch.linalg.eig): F is symmetric, use torch.linalg.eigh."
        if tuple(value.shape) == (d,):
            return "you returned the vector p: return the matrix W_p = U diag(p) Uᵀ."
        if tuple(value.shape) != (d, d):
            return f"it returned {describe(value)}: W_p should have shape ({d}, {d})."
        if torch.isnan(value).any():
            return ("W_p holds NaN: F's smallest eigenvalue is −1e-9 here (rounding makes F̂'s zero eigenvalues slightly negative), "
                    "and √ of it is NaN; clamp the eigenvalues at 0 first, s.clamp(min=0).")
        mine = value.detach().double()
        if not close(mine, directpred_predictor(F, eps), atol=2e-4):
            return first_match(mine, directpred_mistakes(F, eps), atol=2e-4) or (
                f"W_p differs from U diag(√s_j + ε·max_j s_j) Uᵀ with U, s from torch.linalg.eigh(F) (eigenvalues {values}, ε = {eps}).")
    return None
