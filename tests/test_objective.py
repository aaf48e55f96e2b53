"""Tests of byol_course.objective (the loss), byol_course.ema (EMA target, τ schedule) and of the training
step's optimiser-side contracts (byol_course.train, byol_course.optim: no gradients to the target, lr schedule, LARS)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from byol_course.augment import AugmentConfig
from byol_course.networks import BYOLNetworks, NetworkConfig
from byol_course.ema import ema_update_, tau_schedule
from byol_course.objective import byol_loss, symmetric_loss
from byol_course.optim import OptimConfig, build_optimizer, lr_at
from byol_course.train import Views, train_step


pytestmark = pytest.mark.usefixtures("one_thread")


def t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def small_bn_net(seed: int) -> nn.Module:
    """A tiny module with parameters and BatchNorm buffers (float and integer)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3))


def randomize_bn_buffers_(net: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.num_batches_tracked.fill_(seed)


def float_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}


# --- the loss ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "p, z, expected",
    [
        ((1.0, 0.0), (0.0, 1.0), 2.0),  # orthogonal
        ((1.0, 0.0), (-3.0, 0.0), 4.0),  # opposite
        ((2.0, 0.0), (5.0, 0.0), 0.0),  # same direction, different norms
        ((1.0, 0.0), (1.0, 1.0), 2.0 - math.sqrt(2.0)),  # 45°
        ((0.0, 2.0), (1.0, -1.0), 2.0 + math.sqrt(2.0)),  # 135°
    ],
)
def test_byol_loss_hand_made_pairs(p, z, expected):
    """ℓ(p, z) = ‖p̄ − z̄‖² = 2 − 2·cos on hand-computed pairs (a −2·cos loss, lucidrains #6, fails here)."""
    p_t, z_t = t(p), t(z)
    loss = byol_loss(p_t, z_t)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    pn, zn = p_t / p_t.norm(), z_t / z_t.norm()
    assert loss.item() == pytest.approx(((pn - zn) ** 2).sum().item(), abs=1e-6)


def test_byol_loss_reduction_none_gives_per_pair_values_and_mean_is_their_mean():
    """reduction="none" returns one value per row; the default is their mean."""
    p = t((1.0, 0.0), (1.0, 0.0), (2.0, 0.0), (1.0, 0.0))
    z = t((0.0, 1.0), (-3.0, 0.0), (5.0, 0.0), (1.0, 1.0))
    per = byol_loss(p, z, reduction="none")
    assert per.shape == (4,)
    torch.testing.assert_close(per, torch.tensor([2.0, 4.0, 0.0, 2.0 - math.sqrt(2.0)]), atol=1e-6, rtol=0)
    assert byol_loss(p, z).item() == pytest.approx(per.mean().item(), abs=1e-7)


def test_byol_loss_matches_squared_distance_of_normalised_vectors_on_random_batches():
    """On random (B, d) batches the loss equals ‖p̄ − z̄‖² row by row."""
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(32, 16, generator=g), torch.randn(32, 16, generator=g)
    ref = ((p / p.norm(dim=1, keepdim=True) - z / z.norm(dim=1, keepdim=True)) ** 2).sum(dim=1)
    torch.testing.assert_close(byol_loss(p, z, reduction="none"), ref, atol=1e-5, rtol=0)


def test_byol_loss_is_scale_invariant():
    """Rescaling p or z by any positive factor leaves the loss unchanged (it sees only directions)."""
    g = torch.Generator().manual_seed(1)
    p, z = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    base = byol_loss(p, z, reduction="none")
    for a, b in [(3.0, 1.0), (1.0, 0.01), (250.0, 7.0)]:
        torch.testing.assert_close(byol_loss(a * p, b * z, reduction="none"), base, atol=1e-5, rtol=0)
    # a negative factor flips the direction: ℓ(−p, z) = 4 − ℓ(p, z)
    torch.testing.assert_close(byol_loss(-p, z, reduction="none"), 4 - base, atol=1e-5, rtol=0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 8),
    st.integers(0, 2**31 - 1),
    st.floats(1e-3, 1e3),
)
def test_byol_loss_is_never_negative_and_at_most_four(b, d, seed, scale):
    """0 ≤ ℓ ≤ 4 for any inputs, also p = z (guards the negative `−2·cos` loss, lucidrains/byol-pytorch #6)."""
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(b, d, generator=g) * scale
    z = torch.randn(b, d, generator=g)
    for zz in (z, p.clone(), -p, 7 * p):
        per = byol_loss(p, zz, reduction="none")
        assert torch.isfinite(per).all()
        # float32 rounding of 2 − 2·cos for identical directions can give −5e-7; never more
        assert per.min().item() >= -1e-6
        assert per.max().item() <= 4 + 1e-6
    assert byol_loss(p, p).item() == pytest.approx(0.0, abs=1e-6)


def test_symmetric_loss_pairs_each_prediction_with_the_other_views_target():
    """p1 = z1 and p2 = z2 with z1 ⟂ z2 gives 2 + 2 = 4, not 0 (guards The-AI-Summer/byol-cifar10 #1)."""
    z1 = t((1.0, 0.0, 0.0), (0.0, 0.0, 3.0))
    z2 = t((0.0, 2.0, 0.0), (5.0, 0.0, 0.0))
    p1, p2 = z1.clone(), z2.clone()
    assert symmetric_loss(p1, p2, z1, z2).item() == pytest.approx(4.0, abs=1e-6)
    # and the other way round: predictions equal to the other view's targets give 0
    assert symmetric_loss(z2.clone(), z1.clone(), z1, z2).item() == pytest.approx(0.0, abs=1e-6)


def test_symmetric_loss_is_sum_of_the_two_cross_terms():
    """L = ℓ(p1, z2) + ℓ(p2, z1) on random inputs (not ℓ(p1, z1) + ℓ(p2, z2))."""
    g = torch.Generator().manual_seed(2)
    p1, p2, z1, z2 = (torch.randn(6, 4, generator=g) for _ in range(4))
    got = symmetric_loss(p1, p2, z1, z2)
    torch.testing.assert_close(got, byol_loss(p1, z2) + byol_loss(p2, z1))
    assert not torch.allclose(got, byol_loss(p1, z1) + byol_loss(p2, z2))


def test_loss_gradient_flows_to_predictions_only_through_the_loss():
    """The loss is differentiable in p and has a finite gradient (no NaN from normalisation)."""
    p = torch.randn(4, 3, requires_grad=True)
    z = torch.randn(4, 3)
    byol_loss(p, z).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


# --- the EMA target -------------------------------------------------------------------------


def test_ema_tau_zero_copies_online_params_and_bn_buffers_exactly():
    """τ = 0: the target becomes bit-identical to the online net, BN running stats included."""
    target, online = small_bn_net(0), small_bn_net(1)
    randomize_bn_buffers_(target, 3)
    randomize_bn_buffers_(online, 4)
    ema_update_(target, online, 0.0)
    ts, os_ = target.state_dict(), online.state_dict()
    assert ts.keys() == os_.keys()
    for k in ts:
        assert torch.equal(ts[k], os_[k]), k


def test_ema_tau_one_leaves_params_and_float_buffers_unchanged():
    """τ = 1: every parameter and floating-point buffer of the target is bit-for-bit unchanged."""
    target, online = small_bn_net(0), small_bn_net(1)
    randomize_bn_buffers_(target, 3)
    randomize_bn_buffers_(online, 4)
    before = float_state(target)
    ema_update_(target, online, 1.0)
    after = float_state(target)
    for k in before:
        assert torch.equal(before[k], after[k]), k


def test_ema_intermediate_tau_matches_formula_for_params_and_bn_buffers():
    """τ = 0.7: ξ ← 0.7·ξ + 0.3·θ for weights AND BN running mean/var (guards byol-pytorch #73)."""
    target, online = small_bn_net(0), small_bn_net(1)
    randomize_bn_buffers_(target, 3)
    randomize_bn_buffers_(online, 4)
    xi, theta = float_state(target), float_state(online)
    ema_update_(target, online, 0.7)
    got = target.state_dict()
    for k in xi:
        torch.testing.assert_close(got[k], 0.7 * xi[k] + 0.3 * theta[k], atol=1e-6, rtol=1e-6, msg=k)
    # the buffers really moved (a buffer-skipping EMA leaves them at ξ)
    assert not torch.equal(got["1.running_mean"], xi["1.running_mean"])
    assert not torch.equal(got["1.running_var"], xi["1.running_var"])
    # the online network is not touched
    for k, v in online.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(v, theta[k]), k


def test_ema_copies_integer_buffers():
    """Integer buffers (num_batches_tracked) cannot be averaged: they are copied from the online net."""
    target, online = small_bn_net(0), small_bn_net(1)
    randomize_bn_buffers_(target, 3)
    randomize_bn_buffers_(online, 4)
    ema_update_(target, online, 0.5)
    assert target[1].num_batches_tracked.item() == 4
    assert target[1].num_batches_tracked.dtype == torch.long


@pytest.mark.parametrize("tau", [-0.01, 1.0001, 2.0, -1.0, float("nan")])
def test_ema_rejects_tau_outside_unit_interval(tau):
    """τ ∉ [0, 1] (and NaN) raises ValueError instead of extrapolating the weights."""
    target, online = small_bn_net(0), small_bn_net(1)
    before = float_state(target)
    with pytest.raises(ValueError, match="tau"):
        ema_update_(target, online, tau)
    for k, v in float_state(target).items():
        assert torch.equal(v, before[k])


def test_ema_rejects_mismatched_architectures():
    """A target with a different parameter list is refused rather than silently zipped short."""
    with pytest.raises(ValueError):
        ema_update_(nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3)), 0.5)


# --- the training step: no gradient reaches the target -----------------------------------------


def tiny_net() -> BYOLNetworks:
    torch.manual_seed(0)
    return BYOLNetworks(NetworkConfig(arch="convnet", hidden_dim=64, proj_dim=16, convnet_width=8))


def tiny_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (8, 3, 32, 32), generator=g, dtype=torch.uint8)


def views() -> Views:
    """The paper's two view pipelines, seeded."""
    return Views(AugmentConfig(), [torch.Generator().manual_seed(0)])


def target_state(net: BYOLNetworks) -> dict[str, torch.Tensor]:
    out = {}
    for name, m in (("backbone", net.target_backbone), ("projector", net.target_projector)):
        for k, v in m.state_dict().items():
            out[f"{name}.{k}"] = v.detach().clone()
    return out


def test_train_step_never_gives_the_target_gradients_nor_optimizer_slots():
    """After a train_step the target has no .grad, requires_grad False, and is absent from the optimiser."""
    net = tiny_net()
    opt = build_optimizer(net, OptimConfig(name="sgd", base_lr=0.1), 8)
    online_before = [p.detach().clone() for p in net.online_parameters()]
    loss = train_step(net, opt, tiny_batch(), views(), tau=0.99)
    assert torch.isfinite(loss)
    target_ids = {id(p) for p in net.target_parameters()}
    assert len(target_ids) > 0
    for p in net.target_parameters():
        assert p.grad is None
        assert not p.requires_grad
    opt_ids = {id(p) for group in opt.param_groups for p in group["params"]}
    assert not (opt_ids & target_ids)
    assert opt_ids == {id(p) for p in net.online_parameters()}
    # the step did train the online network
    assert any(not torch.equal(a, b) for a, b in zip(online_before, net.online_parameters()))


def test_train_step_with_tau_one_leaves_target_bit_identical():
    """τ = 1: the target (params and BN running stats) is unchanged by a step, so its own forward
    passes in train mode do not move its BN statistics (only the EMA may; byol-pytorch #73)."""
    net = tiny_net()
    # make online and target BN buffers differ so a stray copy/average would show
    for m in net.online_modules():
        randomize_bn_buffers_(m, 5)
    opt = build_optimizer(net, OptimConfig(name="sgd", base_lr=0.1), 8)
    before = target_state(net)
    assert any("running_mean" in k for k in before)
    train_step(net, opt, tiny_batch(), views(), tau=1.0)
    after = target_state(net)
    for k in before:
        if before[k].is_floating_point():
            assert torch.equal(before[k], after[k]), k


def test_train_step_target_update_follows_ema_formula():
    """With τ = 0.5 the post-step target is exactly lerp(ξ_before, θ_after, 0.5), BN buffers included."""
    net = tiny_net()
    opt = build_optimizer(net, OptimConfig(name="sgd", base_lr=0.1), 8)
    for m in net.online_modules():
        randomize_bn_buffers_(m, 6)  # the step's online forward moves these; target must follow them
    xi = target_state(net)
    train_step(net, opt, tiny_batch(), views(), tau=0.5)
    theta = {}
    for name, m in (("backbone", net.online_backbone), ("projector", net.online_projector)):
        for k, v in m.state_dict().items():
            theta[f"{name}.{k}"] = v
    after = target_state(net)
    for k in xi:
        if xi[k].is_floating_point():
            torch.testing.assert_close(after[k], 0.5 * xi[k] + 0.5 * theta[k], atol=1e-6, rtol=1e-6, msg=k)


# --- the τ schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize("base", [0.9, 0.99, 0.996])
def test_tau_schedule_end_points_and_midpoint(base):
    """τ_0 = τ_base, τ_K = 1, τ_{K/2} = (1 + τ_base)/2 (a wrong max_steps broke this in solo-learn #248)."""
    K = 1000
    assert tau_schedule(0, K, base) == pytest.approx(base, abs=1e-12)
    assert tau_schedule(K, K, base) == pytest.approx(1.0, abs=1e-12)
    assert tau_schedule(K // 2, K, base) == pytest.approx((1 + base) / 2, abs=1e-12)
    # quarter point of the cosine: 1 − (1 − base)(1 + cos(π/4))/2
    assert tau_schedule(K // 4, K, base) == pytest.approx(1 - (1 - base) * (1 + math.sqrt(0.5)) / 2, abs=1e-12)


def test_tau_schedule_is_monotone_and_clamps():
    """τ never decreases over training, stays in [base, 1] and is clamped outside [0, K]."""
    K, base = 137, 0.99
    taus = [tau_schedule(k, K, base) for k in range(K + 1)]
    assert all(b >= a for a, b in zip(taus, taus[1:]))
    assert all(base <= x <= 1.0 for x in taus)
    assert tau_schedule(K + 50, K, base) == pytest.approx(1.0, abs=1e-12)
    assert tau_schedule(10**9, K, base) == pytest.approx(1.0, abs=1e-12)
    assert tau_schedule(-5, K, base) == pytest.approx(base, abs=1e-12)


# --- the learning-rate schedule --------------------------------------------------------------------


def test_lr_at_warmup_and_cosine_end_points():
    """Linear warm-up from a small lr to the peak at the end of warm-up, cosine to ~0 at the end."""
    peak, total, warm = 0.4, 1000, 100
    assert 0 < lr_at(0, total, warm, peak) <= peak / warm + 1e-12
    assert lr_at(warm - 1, total, warm, peak) == pytest.approx(peak)
    assert lr_at(warm, total, warm, peak) == pytest.approx(peak)
    assert lr_at(total, total, warm, peak) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(total + 10, total, warm, peak) == pytest.approx(0.0, abs=1e-12)
    mid = warm + (total - warm) // 2
    assert lr_at(mid, total, warm, peak) == pytest.approx(peak / 2, rel=1e-6)
    lrs = [lr_at(s, total, warm, peak) for s in range(total + 1)]
    assert max(lrs) == pytest.approx(peak)
    assert all(b >= a for a, b in zip(lrs[:warm], lrs[1:warm]))  # rising during warm-up
    assert all(b <= a + 1e-15 for a, b in zip(lrs[warm:], lrs[warm + 1 :]))  # falling after


def test_lr_at_without_warmup_starts_at_peak():
    """warmup_steps = 0: no division by zero, step 0 already at the peak."""
    assert lr_at(0, 100, 0, 0.3) == pytest.approx(0.3)
    assert lr_at(100, 100, 0, 0.3) == pytest.approx(0.0, abs=1e-12)


# --- LARS ---------------------------------------------------------------------------------------


# LARS against its formula (trust ratio, clipping, exclusions, momentum): tests/test_lars.py


def test_build_optimizer_puts_1d_params_in_the_no_decay_group():
    """build_optimizer: weights decay, biases/norm params (1-d) do not; lr is scaled by batch/256."""
    net = tiny_net()
    opt = build_optimizer(net, OptimConfig(name="lars", base_lr=0.2, weight_decay=1e-4), 512)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert decay["lr"] == pytest.approx(0.4)
    with pytest.raises(ValueError):
        build_optimizer(net, OptimConfig(name="rmsprop"), 8)
    with pytest.raises(ValueError):
        build_optimizer(net, OptimConfig(base_lr=0.0), 8)


def test_predictor_learning_rate_scale_lambda() -> None:
    """λ (BYOL's Table 21): the predictor steps at λ × the learning rate; λ = 0 freezes it; λ = 1 keeps the usual groups."""
    from byol_course.optim import set_lr

    net = tiny_net()
    usual = build_optimizer(net, OptimConfig(name="sgd", base_lr=0.1, momentum=0.0, weight_decay=0.0), 8)
    assert len(usual.param_groups) == 2 and all("lr_scale" not in g for g in usual.param_groups)
    for lam in (0.0, 10.0):
        net = tiny_net()
        opt = build_optimizer(net, OptimConfig(name="sgd", base_lr=0.1, momentum=0.0, weight_decay=0.0, predictor_lr_scale=lam), 8)
        set_lr(opt, 0.1)
        pred = {id(p) for p in net.predictor.parameters()}
        assert {g["lr"] for g in opt.param_groups if id(g["params"][0]) in pred} == {0.1 * lam}
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        train_step(net, opt, tiny_batch(), views(), tau=0.99)
        moved = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
        assert any(n.startswith("online_backbone") for n in moved)
        assert any(n.startswith("predictor") for n in moved) == (lam > 0)
    with pytest.raises(ValueError, match="predictor's learning-rate scale"):
        OptimConfig(predictor_lr_scale=-1.0)
