"""Chapter 7's exercise: the direction LARS gives one parameter tensor, checked against the package's optimiser.

check_lars(fn) calls fn(w, g, lr, weight_decay, trust_coefficient, clip) on hand-made tensors — weights
whose trust ratio binds and whose does not, with and without the clip, a convolution's 4-d weight, a
bias, a weight with a zero gradient and a zero weight — and compares the answer with the step the
package's `optim.LARS` takes from those same tensors (its first step, where the momentum buffer is the
direction itself), then with the same direction carrying each known mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..optim import LARS
from .common import Malformed, Right, call, checker, close, describe

__all__ = ["check_lars"]


@dataclass(frozen=True)
class _Case:
    w: torch.Tensor
    g: torch.Tensor
    lr: float
    weight_decay: float
    trust_coefficient: float
    clip: bool
    what: str  # how a diagnosis names the case


def _cases(variant: int) -> list[_Case]:
    """Float64 tensors, one case per thing LARS does differently; the weight decay is large enough to show."""
    g = torch.Generator().manual_seed(70 + variant)
    lr, wd, eta = ((0.4, 0.05, 0.02), (0.3, 0.02, 0.05), (0.8, 0.1, 0.01))[variant % 3]

    def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    w = rand(8, 4)
    rows = torch.linspace(0.2, 3.0, 8, dtype=torch.float64).view(8, 1)  # rows of very different norms
    return [
        # the trust ratio binds: η‖w‖/(‖g‖ + wd‖w‖) < lr
        _Case(w * rows, rand(8, 4, scale=0.5), lr, wd, eta, True, "an (8, 4) weight whose trust ratio is below lr, clip=True"),
        # the clip binds: the trust ratio would exceed lr
        _Case(w * rows * 5, rand(8, 4, scale=1e-3), lr, wd * 0.01, eta, True, "an (8, 4) weight whose trust ratio is above lr, clip=True"),
        _Case(w * rows * 5, rand(8, 4, scale=1e-3), lr, wd * 0.01, eta, False, "the same weight with clip=False"),
        _Case(rand(4, 3, 3, 3), rand(4, 3, 3, 3, scale=0.3), lr, wd, eta, False, "a (4, 3, 3, 3) convolution weight, clip=False"),
        _Case(rand(8), rand(8), lr, wd, eta, True, "a bias of shape (8,)"),
        _Case(rand(8, 4), torch.zeros(8, 4, dtype=torch.float64), lr, wd, eta, True, "an (8, 4) weight whose gradient is all zeros"),
        _Case(torch.zeros(8, 4, dtype=torch.float64), rand(8, 4), lr, wd, eta, True, "an (8, 4) weight that is all zeros"),
    ]


def _package(c: _Case) -> torch.Tensor:
    """d from the package's LARS: one first step (momentum buffer m = d), w ← w − lr·d, so d = (w − new w) / lr."""
    p = torch.nn.Parameter(c.w.clone())
    p.grad = c.g.clone()
    LARS([p], lr=c.lr, momentum=0.9, weight_decay=c.weight_decay, trust_coefficient=c.trust_coefficient, clip_lr=c.clip).step()
    return (c.w - p.detach()) / c.lr


def _direction(c: _Case, *, exclude: bool = True, fallback: bool = True, clip: str = "lr", decay_in_step: bool = True,
               decay_in_ratio: bool = True, upside_down: bool = False, per_row: bool = False, eta: bool = True,
               jax: bool = False) -> torch.Tensor:
    """LARS's direction with one thing changed: the catalogue's wrong answers (and BYOL's JAX denominator)."""
    w, g, wd = c.w, c.g, c.weight_decay
    if exclude and w.ndim <= 1:
        return g
    norm = (lambda x: x.flatten(1).norm(dim=1).view(-1, *[1] * (x.ndim - 1))) if per_row and w.ndim > 1 else (lambda x: x.norm())
    w_norm, g_norm = norm(w), norm(g)
    if fallback and (bool((w_norm == 0).any()) or bool((g_norm == 0).any())):
        return g
    denominator = (g + wd * w).norm() if jax else g_norm + (wd * w_norm if decay_in_ratio else 0.0)
    local = (c.trust_coefficient if eta else 1.0) * w_norm / denominator
    if upside_down:
        local = c.trust_coefficient * g_norm / w_norm
    if clip == "lr" and c.clip or clip == "always":
        local = (local / c.lr).clamp(max=1.0)
    elif clip == "one" and c.clip:
        local = local.clamp(max=1.0)
    return local * (g + wd * w if decay_in_step else g)


# The known wrong answers, each a function of the case giving the mistake's direction (or the list of directions it
# may give); an answer is diagnosed as one of them when it gives that in every case: a mistake shows in some cases
# only, and two mistakes can agree on one case. Returning w − lr·d or lr·d may be done only where d is not plain g.
_MISTAKES: list[tuple[Callable[[_Case, torch.Tensor], torch.Tensor | list[torch.Tensor]], str]] = [
    (lambda c, want: [c.w - c.lr * want] + ([want] if _same(want, c.g) else []),
     "you returned the new weight w − lr·d: return the direction d; the optimiser applies the momentum and lr."),
    (lambda c, want: [c.lr * want] + ([want] if _same(want, c.g) else []),
     "you multiplied by lr: return d itself; the optimiser's step is m ← μ·m + d, w ← w − lr·m."),
    (lambda c, _: _direction(c, exclude=False),
     "biases and BatchNorm's scale and shift (every tensor with ndim ≤ 1) are excluded from LARS (BYOL, Appendix C): "
     "return g for them, with no trust ratio and no weight decay."),
    (lambda c, _: _direction(c, fallback=False),
     "a weight whose gradient or whose own values are all zeros gets plain SGD, d = g: its trust ratio would be 0 or undefined."),
    (lambda c, _: _direction(c, clip="none"),
     "with clip=True the rate is capped: ratio = min(trust ratio / lr, 1), so that the layer never steps faster than plain SGD at lr."),
    (lambda c, _: _direction(c, clip="always"), "with clip=False the ratio is the trust ratio itself, uncapped: clip only when clip is True."),
    (lambda c, _: _direction(c, clip="one"),
     "the clip compares the trust ratio with the learning rate: ratio = min(trust ratio / lr, 1), not min(trust ratio, 1)."),
    (lambda c, _: _direction(c, decay_in_step=False),
     "the direction is ratio·(g + wd·w): the weight decay is part of the adapted step, not left out."),
    (lambda c, _: _direction(c, decay_in_ratio=False), "the trust ratio's denominator is ‖g‖ + wd·‖w‖: the weight decay's term belongs there too."),
    (lambda c, _: _direction(c, upside_down=True),
     "the trust ratio is upside down: η·‖w‖ / (‖g‖ + wd·‖w‖), so that large weights with small gradients take larger steps."),
    (lambda c, _: _direction(c, per_row=True),
     "LARS gives one trust ratio per tensor (a layer): take the norms of the whole tensor, w.norm() and g.norm(), not of each row."),
    (lambda c, _: _direction(c, eta=False), "the trust ratio is multiplied by the trust coefficient η (trust_coefficient)."),
]


def _same(a: torch.Tensor, b: torch.Tensor | list[torch.Tensor]) -> bool:
    return any(close(a, x, atol=1e-7, rtol=1e-6) for x in (b if isinstance(b, list) else [b]))


@checker("LARS")
def check_lars(fn: Callable[..., torch.Tensor], variant: int = 0) -> str | None:
    """fn(w, g, lr, weight_decay, trust_coefficient, clip) -> d, LARS's direction for one tensor (the step is w − lr·d)."""
    cases, answers = _cases(variant), []
    for c in cases:
        given = (c.w.clone(), c.g.clone())
        out = call(fn, *given, c.lr, c.weight_decay, c.trust_coefficient, c.clip)
        if out.problem:
            return out.problem
        if not (torch.equal(given[0], c.w) and torch.equal(given[1], c.g)):
            return "it changed w or g in place (g.add_, w.mul_): compute d in new tensors; the optimiser updates the weights, not this function."
        d = out.value
        if not isinstance(d, torch.Tensor) or tuple(d.shape) != tuple(c.w.shape):
            return Malformed(f"for {c.what} it returned {describe(d)}: return d, a tensor of w's shape {tuple(c.w.shape)}.")
        if not bool(torch.isfinite(d).all()):
            return (f"it returned NaN or inf for {c.what}: a zero weight or gradient makes the trust ratio 0 or 0/0, "
                    "and LARS then falls back to plain SGD, d = g.")
        answers.append(d.detach())
    wants = [_package(c) for c in cases]
    if all(_same(d, want) for d, want in zip(answers, wants)):
        return None
    if all(_same(d, _direction(c, jax=True)) for c, d in zip(cases, answers)):
        return Right("matches LARS, with BYOL's JAX denominator ‖g + wd·w‖; the package, like solo-learn, divides by ‖g‖ + wd·‖w‖ "
                     "— the two agree when wd·‖w‖ is small next to ‖g‖.")
    for mistake, sentence in _MISTAKES:
        if all(_same(d, mistake(c, want)) for c, d, want in zip(cases, answers, wants)):
            return sentence
    first = next(c for c, d, want in zip(cases, answers, wants) if not _same(d, want))
    return (f"for {first.what} d differs from LARS's: ratio = η·‖w‖ / (‖g‖ + wd·‖w‖), capped as min(ratio / lr, 1) when clip, "
            "times (g + wd·w); tensors with ndim ≤ 1, and weights or gradients that are all zeros, get d = g.")
