"""Property tests for the objective (hypothesis): any finite inputs, not just Gaussian batches.

tests/test_objective.py checks hand-made values and Gaussian batches at moderate scales, and
tests/test_augment.py the augmentations; here hypothesis draws every finite float32 (huge,
tiny, subnormal, ±0, zero rows, mixed magnitudes in one row).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from byol_course.ema import ema_update_
from byol_course.objective import byol_loss, symmetric_loss

pytestmark = pytest.mark.usefixtures("one_thread")

FINITE = st.floats(width=32, allow_nan=False, allow_infinity=False)  # every finite float32
SETTINGS = settings(max_examples=60, deadline=None)


def batches(n: int = 1):
    """n float32 (B, d) arrays of the same shape, any finite values."""
    return st.tuples(st.integers(1, 4), st.integers(1, 8)).flatmap(
        lambda shape: st.tuples(*[arrays(np.float32, shape, elements=FINITE) for _ in range(n)])
    )


@SETTINGS
@given(batches(2))
@example((np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)))  # zero rows
@example((np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32)))
@example((np.full((1, 3), 3e38, np.float32), np.full((1, 3), -3e38, np.float32)))  # ‖x‖² overflows
@example((np.full((1, 3), 1e-45, np.float32), np.full((1, 3), 1.0, np.float32)))  # subnormal
def test_byol_loss_is_in_0_4_and_finite_for_any_finite_inputs(pz) -> None:
    """0 ≤ ℓ(p, z) ≤ 4 with no NaN for every finite float32 input, including zero rows and extreme magnitudes."""
    p, z = (torch.from_numpy(a) for a in pz)
    loss = byol_loss(p, z, reduction="none")  # (B,)
    assert torch.isfinite(loss).all()
    assert loss.min().item() >= 0.0  # a sum of squares: exactly non-negative
    assert loss.max().item() <= 4.0 + 1e-5


@SETTINGS
@given(batches(2), st.sampled_from([torch.float16, torch.bfloat16]))
def test_byol_loss_is_in_0_4_for_half_precision_inputs(pz, dtype) -> None:
    """Under autocast the heads give bf16/fp16; the loss (computed in float32) stays in [0, 4]."""
    p, z = (torch.from_numpy(a).to(dtype) for a in pz)
    p, z = torch.nan_to_num(p), torch.nan_to_num(z)  # float32 values beyond the half range become ±max
    loss = byol_loss(p, z, reduction="none")
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all()
    assert 0.0 <= loss.min().item() and loss.max().item() <= 4.0 + 1e-5


@SETTINGS
@given(batches(1))
def test_byol_loss_of_a_zero_row_is_one_not_nan(z_) -> None:
    """A zero prediction has no direction: F.normalize leaves it at 0, so ℓ = ‖z̄‖² = 1 (0 if z is zero too), never NaN."""
    z = torch.from_numpy(z_[0])
    p = torch.zeros_like(z)
    loss = byol_loss(p, z, reduction="none")
    norm_z = torch.nn.functional.normalize(z, dim=-1).square().sum(-1)  # 1, or 0 for a zero (or overflowing) row
    torch.testing.assert_close(loss, norm_z)


@SETTINGS
@given(batches(2))
def test_byol_loss_is_symmetric_in_its_arguments(pz) -> None:
    """ℓ(p, z) = ℓ(z, p) exactly: ‖p̄ − z̄‖² does not care which side is the prediction."""
    p, z = (torch.from_numpy(a) for a in pz)
    assert torch.equal(byol_loss(p, z, reduction="none"), byol_loss(z, p, reduction="none"))


@SETTINGS
@given(batches(4))
def test_symmetric_loss_is_unchanged_when_the_views_are_swapped(views) -> None:
    """L(p1, p2, z1, z2) = L(p2, p1, z2, z1) exactly, and 0 ≤ L ≤ 8: the two views play the same role."""
    p1, p2, z1, z2 = (torch.from_numpy(a) for a in views)
    loss = symmetric_loss(p1, p2, z1, z2)
    assert torch.equal(loss, symmetric_loss(p2, p1, z2, z1))
    assert torch.isfinite(loss) and 0.0 <= loss.item() <= 8.0 + 1e-5


def _modules(d: int) -> tuple[nn.Module, nn.Module]:
    target, online = (nn.Sequential(nn.Linear(d, d), nn.BatchNorm1d(d)) for _ in range(2))
    return target, online


# |values| ≤ 1e38: θ − ξ stays finite in float32 (up to 2e38 < 3.4e38); beyond that torch.lerp's
# difference overflows to inf, which no network weight comes near
LIMIT = float(np.float32(1e38))
BOUNDED = st.floats(-LIMIT, LIMIT, width=32, allow_nan=False)


@SETTINGS
@given(st.integers(1, 4), st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)), st.data())
def test_ema_update_is_a_convex_combination(d: int, tau: float, data) -> None:
    """After ξ ← τ·ξ + (1 − τ)·θ every parameter and float buffer lies between its old target and online values."""
    target, online = _modules(d)
    with torch.no_grad():
        for t, o in zip(target.state_dict().values(), online.state_dict().values()):
            if t.is_floating_point():
                for x in (t, o):
                    x.copy_(torch.from_numpy(data.draw(arrays(np.float32, tuple(x.shape), elements=BOUNDED))))
            else:
                o.fill_(7)  # num_batches_tracked: copied, not averaged
    before = {k: v.clone() for k, v in target.state_dict().items()}
    ema_update_(target, online, tau)
    for (k, new), o in zip(target.state_dict().items(), online.state_dict().values()):
        old = before[k]
        if new.is_floating_point():
            lo, hi = torch.minimum(old, o), torch.maximum(old, o)
            assert ((lo <= new) & (new <= hi)).all(), f"{k} left [target, online] at τ = {tau}"
        else:
            assert new.item() == (old.item() if tau == 1.0 else 7)
    if tau == 0.0:  # the ends are exact: a copy of the online network, or no change
        assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), online.state_dict().values()))
    if tau == 1.0:
        assert all(torch.equal(before[k], v) for k, v in target.state_dict().items())
