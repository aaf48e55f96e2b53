"""Chapter 7's checker: LARS's direction for one tensor — right answers written in several ways, every mistake
it claims to recognise, on every variant of its inputs, and its reference against the package's optimiser."""

from __future__ import annotations

import pytest
import torch

from byol_course.exercises import check_lars
from byol_course.exercises.common import Right
from byol_course.exercises.lars import _cases, _package
from byol_course.optim import LARS

from _exercise_helpers import not_written

VARIANTS = (0, 1, 2)


def _lars(*, exclude=True, fallback=True, clip_to="lr", decay_in_step=True, decay_in_ratio=True, upside_down=False,
          per_row=False, eta=True, denominator="sum", returns="d"):
    """A student's LARS direction, written plainly, with one thing changed."""
    def fn(w, g, lr, weight_decay, trust_coefficient, clip):
        if exclude and w.ndim <= 1:
            return g
        if per_row:
            w_norm = w.flatten(1).norm(dim=1).view(-1, *[1] * (w.ndim - 1))
            g_norm = g.flatten(1).norm(dim=1).view(-1, *[1] * (w.ndim - 1))
        else:
            w_norm, g_norm = w.norm(), g.norm()
        if fallback and (w.norm() == 0 or g.norm() == 0):
            return g
        if denominator == "sum":
            below = g_norm + (weight_decay * w_norm if decay_in_ratio else 0)
        else:  # BYOL's JAX code
            below = (g + weight_decay * w).norm()
        ratio = (trust_coefficient if eta else 1) * w_norm / below
        if upside_down:
            ratio = trust_coefficient * g_norm / w_norm
        if clip_to == "lr" and clip or clip_to == "always":
            ratio = torch.clamp(ratio / lr, max=1.0)
        elif clip_to == "one" and clip:
            ratio = torch.clamp(ratio, max=1.0)
        d = ratio * (g + weight_decay * w) if decay_in_step else ratio * g
        return {"d": d, "new weight": w - lr * d, "lr": lr * d}[returns]
    return fn


def _with_where(w, g, lr, weight_decay, trust_coefficient, clip):
    """Right, without an if: torch.where as the package writes it, and min() on a Python float."""
    if w.dim() < 2:
        return g.clone()
    wn, gn = torch.linalg.vector_norm(w), torch.linalg.vector_norm(g)
    local = trust_coefficient * wn / (gn + weight_decay * wn + 1e-8)
    if clip:
        local = torch.clamp(local / lr, max=1)
    usable = (wn > 0) & (gn > 0)
    return torch.where(usable, local * (g + weight_decay * w), g)


def _with_floats(w, g, lr, weight_decay, trust_coefficient, clip):
    """Right, on Python floats: .item() norms and the built-in min."""
    if len(w.shape) == 1:
        return g
    wn, gn = w.norm().item(), g.norm().item()
    if wn == 0.0 or gn == 0.0:
        return g
    ratio = trust_coefficient * wn / (gn + weight_decay * wn)
    if clip:
        ratio = min(ratio / lr, 1.0)
    return (g + weight_decay * w) * ratio


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn", [_lars(), _with_where, _with_floats], ids=["plain", "torch.where", "floats"])
def test_right_answers_pass(fn, variant) -> None:
    assert check_lars.verdict(fn, variant=variant) is None


@pytest.mark.parametrize("variant", VARIANTS)
def test_byol_jax_denominator_is_right_and_said_so(variant) -> None:
    said = check_lars.verdict(_lars(denominator="jax"), variant=variant)
    assert isinstance(said, Right) and "JAX" in said


def _in_place(w, g, lr, weight_decay, trust_coefficient, clip):
    if w.ndim <= 1:
        return g
    g.add_(weight_decay * w)  # g + wd·w in place
    ratio = trust_coefficient * w.norm() / g.norm()
    return ratio * g


def _nan_on_zeros(w, g, lr, weight_decay, trust_coefficient, clip):
    if w.ndim <= 1:
        return g
    ratio = trust_coefficient * w.norm() / g.norm()  # a zero gradient: x / 0 = inf, and inf · 0 = NaN below
    return ratio * (g + weight_decay * w)


MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_lars(exclude=False), "are excluded from LARS", id="adapts-biases"),
    pytest.param(_lars(fallback=False), "gets plain SGD, d = g", id="no-zero-fallback"),
    pytest.param(_lars(clip_to="none"), "with clip=True the rate is capped", id="clip-ignored"),
    pytest.param(_lars(clip_to="always"), "with clip=False the ratio is the trust ratio itself", id="always-clipped"),
    pytest.param(_lars(clip_to="one"), "not min(trust ratio, 1)", id="clipped-at-1"),
    pytest.param(_lars(decay_in_step=False), "the weight decay is part of the adapted step", id="no-decay-in-step"),
    pytest.param(_lars(decay_in_ratio=False), "the trust ratio's denominator is ‖g‖ + wd·‖w‖", id="no-decay-in-ratio"),
    pytest.param(_lars(upside_down=True), "upside down", id="upside-down"),
    pytest.param(_lars(per_row=True), "one trust ratio per tensor", id="per-row-norms"),
    pytest.param(_lars(eta=False), "trust coefficient η", id="no-eta"),
    pytest.param(_lars(returns="new weight"), "you returned the new weight", id="returns-new-weight"),
    pytest.param(_lars(returns="lr"), "you multiplied by lr", id="times-lr"),
    pytest.param(_in_place, "changed w or g in place", id="in-place"),
    pytest.param(_nan_on_zeros, "NaN or inf", id="nan"),
    pytest.param(lambda w, g, *a: g.sum(), "return d, a tensor of w's shape", id="returns-scalar"),
    pytest.param(_lars(exclude=False, clip_to="none"), "d differs from LARS's", id="two-mistakes"),
]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fn, phrase", MISTAKES)
def test_each_mistake_gets_its_sentence(fn, phrase, variant) -> None:
    said = check_lars.verdict(fn, variant=variant)
    assert said is not None and not isinstance(said, Right) and phrase in said, said


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_cases_exercise_what_they_say(variant) -> None:
    """The reference is the package's LARS; each case is what its name says (ratio binds, clip binds, ...)."""
    cases = _cases(variant)
    for c in cases:
        assert torch.allclose(_package(c), _lars()(c.w, c.g, c.lr, c.weight_decay, c.trust_coefficient, c.clip), rtol=1e-6, atol=1e-9)  # the package adds eps = 1e-8
    local = [c.trust_coefficient * c.w.norm() / (c.g.norm() + c.weight_decay * c.w.norm()) for c in cases[:4]]
    assert local[0] < cases[0].lr and local[1] > max(cases[1].lr, 1.0) and not cases[2].clip  # the clip binds in case 1 only
    assert cases[3].w.ndim == 4 and cases[4].w.ndim == 1 and cases[5].g.abs().sum() == 0 and cases[6].w.abs().sum() == 0


def test_the_package_lars_moves_a_first_step_by_lr_times_the_direction() -> None:
    """What _package relies on: at the first step the momentum buffer is d itself, so w ← w − lr·d."""
    w, g = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    p = torch.nn.Parameter(w.clone())
    p.grad = g.clone()
    LARS([p], lr=0.5, momentum=0.9, weight_decay=0.01, trust_coefficient=0.02, clip_lr=False).step()
    d = _lars()(w, g, 0.5, 0.01, 0.02, False)
    assert torch.allclose(p.detach(), w - 0.5 * d, rtol=1e-6, atol=1e-9)  # the package adds eps = 1e-8
