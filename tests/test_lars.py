"""LARS against its formula, on hand-made tensors (byol_course.train.LARS).

    local = η·‖w‖ / (‖g‖ + wd·‖w‖ + ε);  ratio = min(local / lr, 1) with clip_lr, else local
    d = ratio · (g + wd·w);  m ← μ·m + d (m = d at first);  w ← w − lr·m
    1-d parameters (biases, norm γ/β), and weights with ‖w‖ = 0 or ‖g‖ = 0: d = g.

The expected values are written out from the formula with plain tensor arithmetic (and,
for the first test, with the numbers themselves), independently of the optimiser's code.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from byol_course.networks import BYOLNetworks, NetworkConfig
from byol_course.config import gpu_config
from byol_course.optim import LARS, OptimConfig, build_optimizer, lars_direction

EPS = 1e-8


def _expected_d(w: torch.Tensor, g: torch.Tensor, lr: float, wd: float, eta: float, clip: bool) -> torch.Tensor:
    """The formula, written out: ratio · (g + wd·w)."""
    w_norm, g_norm = float(w.norm()), float(g.norm())
    if w_norm == 0 or g_norm == 0:
        return g.clone()
    local = eta * w_norm / (g_norm + wd * w_norm + EPS)
    ratio = min(local / lr, 1.0) if clip else local
    return ratio * (g + wd * w)


def test_trust_ratio_by_hand_on_a_2x2_weight():
    """w = [[3, 0], [0, 4]] (‖w‖ = 5), g = [[0, 0.6], [0.8, 0]] (‖g‖ = 1), wd = 0, η = 0.02, lr = 1:
    local = 0.02·5 / 1 = 0.1, so w ← w − 1·0.1·g."""
    w = nn.Parameter(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
    opt = LARS([w], lr=1.0, momentum=0.9, weight_decay=0.0, trust_coefficient=0.02, clip_lr=True)
    w.grad = torch.tensor([[0.0, 0.6], [0.8, 0.0]])
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([[3.0, -0.06], [-0.08, 4.0]]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("clip", [False, True])
def test_weight_gets_decay_and_trust_ratio_two_steps_with_momentum(clip: bool):
    """A 2-d weight over two steps (the lr changes between them, as under a schedule)."""
    wd, eta, mom = 0.1, 0.02, 0.9
    w = nn.Parameter(torch.tensor([[1.0, 2.0], [-2.0, 0.5]]))
    opt = LARS([w], lr=0.5, momentum=mom, weight_decay=wd, trust_coefficient=eta, clip_lr=clip)
    w0 = w.detach().clone()
    g1 = torch.tensor([[0.2, -0.1], [0.4, 0.3]])
    w.grad = g1.clone()
    opt.step()
    d1 = _expected_d(w0, g1, 0.5, wd, eta, clip)
    w1 = w0 - 0.5 * d1
    torch.testing.assert_close(w.detach(), w1, atol=1e-7, rtol=1e-6)

    for group in opt.param_groups:
        group["lr"] = 0.02  # the schedule moved: clipping compares the trust ratio with the new lr
    g2 = torch.tensor([[-0.3, 0.1], [0.0, 0.2]])
    w.grad = g2.clone()
    opt.step()
    d2 = _expected_d(w1, g2, 0.02, wd, eta, clip)
    torch.testing.assert_close(w.detach(), w1 - 0.02 * (mom * d1 + d2), atol=1e-7, rtol=1e-6)


def test_clipping_caps_the_layer_rate_at_the_global_lr():
    """A tiny gradient makes the trust ratio large: unclipped the step is local·g (local ≫ lr);
    clipped it is lr·g, plain SGD. A large gradient (local < lr) is not clipped. (float64: the
    small step must not drown in the rounding of w.)"""
    lr, eta = 0.1, 0.02
    w0 = torch.tensor([[3.0, 4.0]], dtype=torch.float64)  # ‖w‖ = 5
    small = torch.tensor([[1e-3, 0.0]], dtype=torch.float64)  # local = 0.02·5/1e-3 = 100 ≫ lr
    large = torch.tensor([[30.0, 40.0]], dtype=torch.float64)  # ‖g‖ = 50, local = 0.002 < lr
    for g, clipped_rate in ((small, lr), (large, eta * 5 / (50 + EPS))):
        steps = {}
        for clip in (False, True):
            w = nn.Parameter(w0.clone())
            opt = LARS([w], lr=lr, momentum=0.0, trust_coefficient=eta, clip_lr=clip)
            w.grad = g.clone()
            opt.step()
            steps[clip] = (w0 - w.detach()) / lr  # = ratio·g (no decay, no momentum yet)
        local = eta * 5 / (float(g.norm()) + EPS)
        torch.testing.assert_close(steps[False], local * g, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(steps[True], clipped_rate / lr * g, rtol=1e-9, atol=1e-12)


def test_1d_parameters_get_plain_momentum_sgd_without_decay():
    """Biases and norm parameters (1-d): no trust ratio, no weight decay, even in a group with wd > 0."""
    b = nn.Parameter(torch.tensor([0.3, -0.7]))
    opt = LARS([b], lr=0.5, momentum=0.9, weight_decay=0.1, trust_coefficient=0.02, clip_lr=True)
    b0 = b.detach().clone()
    g1, g2 = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.5])
    b.grad = g1.clone()
    opt.step()
    torch.testing.assert_close(b.detach(), b0 - 0.5 * g1)
    b.grad = g2.clone()
    opt.step()
    torch.testing.assert_close(b.detach(), b0 - 0.5 * g1 - 0.5 * (0.9 * g1 + g2))


def test_exclusion_can_be_switched_off():
    """exclude_bias_and_norm=False: a 1-d parameter is adapted like a weight."""
    b = nn.Parameter(torch.tensor([3.0, 4.0]))
    opt = LARS([b], lr=1.0, momentum=0.0, weight_decay=0.0, trust_coefficient=0.02, exclude_bias_and_norm=False)
    b.grad = torch.tensor([0.6, 0.8])  # ‖g‖ = 1, local = 0.1
    opt.step()
    torch.testing.assert_close(b.detach(), torch.tensor([3.0 - 0.06, 4.0 - 0.08]))


def test_zero_weight_or_zero_gradient_falls_back_to_plain_sgd_and_no_grad_is_left_alone():
    """‖w‖ = 0: d = g (no NaN, no decay); ‖g‖ = 0: d = 0 + no decay, so w stays; no .grad: untouched."""
    zero_w = nn.Parameter(torch.zeros(2, 2))
    zero_g = nn.Parameter(torch.ones(2, 2))
    frozen = nn.Parameter(torch.ones(3, 3))
    opt = LARS([zero_w, zero_g, frozen], lr=0.1, momentum=0.9, weight_decay=0.5, trust_coefficient=0.02, clip_lr=True)
    zero_w.grad = torch.ones(2, 2)
    zero_g.grad = torch.zeros(2, 2)
    opt.step()
    torch.testing.assert_close(zero_w.detach(), torch.full((2, 2), -0.1))
    torch.testing.assert_close(zero_g.detach(), torch.ones(2, 2))
    assert torch.equal(frozen.detach(), torch.ones(3, 3))
    assert all(torch.isfinite(p).all() for p in (zero_w, zero_g, frozen))


def test_lr_zero_at_the_end_of_the_cosine_moves_nothing_and_gives_no_nan():
    """The cosine schedule ends at lr = 0; clipping divides by lr: the weights must stay finite and still."""
    w = nn.Parameter(torch.tensor([[1.0, -1.0], [2.0, 0.5]]))
    opt = LARS([w], lr=0.0, momentum=0.9, weight_decay=1e-5, trust_coefficient=0.02, clip_lr=True)
    w0 = w.detach().clone()
    w.grad = torch.ones(2, 2)
    opt.step()
    assert torch.equal(w.detach(), w0)
    assert torch.isfinite(opt.state[w]["momentum_buffer"]).all()


def test_many_layers_of_different_shapes_each_get_their_own_ratio():
    """One group of random tensors of several shapes: every layer matches the formula separately."""
    g = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (8, 3, 3, 3), (5,), (2, 7), (6,)]
    params = [nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    grads = [torch.randn(s, generator=g) * 10 ** float(torch.empty(1).uniform_(-3, 1, generator=g)) for s in shapes]
    lr, wd, eta = 0.7, 1e-3, 0.02
    opt = LARS(params, lr=lr, momentum=0.9, weight_decay=wd, trust_coefficient=eta, clip_lr=True)
    before = [p.detach().clone() for p in params]
    for p, gr in zip(params, grads):
        p.grad = gr.clone()
    opt.step()
    for p, w0, gr in zip(params, before, grads):
        d = _expected_d(w0, gr, lr, wd, eta, True) if w0.ndim > 1 else gr
        torch.testing.assert_close(p.detach(), w0 - lr * d, rtol=1e-5, atol=1e-7)


def test_old_state_dicts_without_the_new_settings_still_step():
    """A state dict saved before clip_lr/eps existed loads and steps (the settings take their defaults)."""
    w = nn.Parameter(torch.tensor([[3.0, 4.0]]))
    opt = LARS([w], lr=0.1)
    sd = opt.state_dict()
    for group in sd["param_groups"]:
        for key in ("clip_lr", "exclude_bias_and_norm", "eps"):
            del group[key]
    fresh = LARS([w], lr=0.1)
    fresh.load_state_dict(sd)
    w.grad = torch.tensor([[0.6, 0.8]])
    fresh.step()
    assert fresh.param_groups[0]["clip_lr"] is False and torch.isfinite(w).all()


def test_gpu_config_is_solo_learns_cifar_recipe():
    """gpu_config: η = 0.02 with clipping, lr 1.0 × B/256, wd 1e-5, τ 0.99 → 1, heads 4096/256,
    no blur, solarize 0 / 0.2; the paper's ImageNet η stays the OptimConfig default."""
    cfg = gpu_config("cifar10")
    o, t, n, a = cfg.optim, cfg.train, cfg.network, cfg.augment
    assert (o.name, o.base_lr, o.weight_decay, o.momentum, o.trust_coefficient, o.clip_lr) == ("lars", 1.0, 1e-5, 0.9, 0.02, True)
    assert o.scale_lr_by_batch and o.warmup_epochs == 10
    assert (t.tau_base, t.tau_schedule, t.batch_size) == (0.99, True, 512)
    assert (n.arch, n.hidden_dim, n.proj_dim, n.head_norm, n.predictor) == ("resnet18", 4096, 256, "batch", True)
    v1, v2 = a.views()
    assert (v1.blur_p, v1.solarize_p, v2.blur_p, v2.solarize_p) == (0.0, 0.0, 0.0, 0.2)
    for v in (v1, v2):
        assert (v.crop_scale, v.flip_p, v.jitter_p, v.grayscale_p) == ((0.08, 1.0), 0.5, 0.8, 0.2)
        assert (v.brightness, v.contrast, v.saturation, v.hue) == (0.4, 0.4, 0.2, 0.1)
    assert a.mean == (0.4914, 0.4822, 0.4465) and a.std == (0.2470, 0.2435, 0.2616)
    assert OptimConfig().trust_coefficient == 1e-3 and OptimConfig().clip_lr is False  # the paper's (ImageNet)


def test_build_optimizer_passes_the_recipe_to_lars():
    """build_optimizer turns gpu_config's optimiser into LARS(η = 0.02, clip) at lr 1.0 × 512/256."""
    cfg = gpu_config("cifar10")
    net = BYOLNetworks(NetworkConfig(arch="convnet", hidden_dim=16, proj_dim=8, convnet_width=4))
    opt = build_optimizer(net, cfg.optim, cfg.train.batch_size)
    assert isinstance(opt, LARS)
    for group in opt.param_groups:
        assert group["trust_coefficient"] == 0.02 and group["clip_lr"] is True and group["exclude_bias_and_norm"]
        assert math.isclose(group["lr"], 2.0)
    with pytest.raises(ValueError, match="trust coefficient"):
        OptimConfig(trust_coefficient=0.0)


# --- λ, the predictor's learning-rate multiplier (BYOL's Table 21), under every optimiser --------------------


def _net_with_gradients() -> tuple[BYOLNetworks, list[nn.Parameter]]:
    """A small BYOL network whose online parameters hold large, fixed gradients (the trust ratio binds)."""
    torch.manual_seed(0)
    net = BYOLNetworks(NetworkConfig(hidden_dim=32, proj_dim=16, convnet_width=8))
    params = list(net.online_parameters())
    torch.manual_seed(1)
    for p in params:
        p.grad = torch.randn_like(p) * 10.0
    return net, params


def _steps(optim: OptimConfig, lam: float) -> tuple[list[float], list[float]]:
    """One step from the same weights and gradients: ‖Δp‖ of each predictor tensor, and of each other online tensor."""
    net, params = _net_with_gradients()
    opt = build_optimizer(net, OptimConfig(**{**optim.__dict__, "predictor_lr_scale": lam}), batch_size=256)
    before = [p.detach().clone() for p in params]
    opt.step()
    pred = {id(p) for p in net.predictor.parameters()}
    moved = [(id(p) in pred, float((p.detach() - b).norm())) for p, b in zip(params, before)]
    return [m for is_pred, m in moved if is_pred], [m for is_pred, m in moved if not is_pred]


CLIPPED = OptimConfig(name="lars", base_lr=1.0, weight_decay=1e-5, trust_coefficient=0.02, clip_lr=True)


@pytest.mark.parametrize(
    "optim",
    [
        CLIPPED,
        OptimConfig(name="lars", base_lr=1.0, weight_decay=1e-5, trust_coefficient=1e-3, clip_lr=False),
        OptimConfig(name="sgd", base_lr=0.05, weight_decay=5e-4),
        OptimConfig(name="adamw", base_lr=1e-3, weight_decay=1e-2),
    ],
    ids=["lars-clipped", "lars-unclipped", "sgd", "adamw"],
)
def test_lambda_scales_the_predictors_step_and_only_its(optim: OptimConfig) -> None:
    """λ = 2 and 10 move every predictor tensor (weights, biases, norms) 2 and 10 times as far as λ = 1;
    the encoder's and projector's steps do not change; λ = 0 leaves the predictor where it is."""
    pred_1, rest_1 = _steps(optim, 1.0)
    assert min(pred_1) > 0 and min(rest_1) > 0
    for lam in (2.0, 10.0):
        pred, rest = _steps(optim, lam)
        ratios = [a / b for a, b in zip(pred, pred_1)]
        assert ratios == pytest.approx([lam] * len(ratios), rel=1e-4), f"λ = {lam}: the predictor's tensors moved {ratios}× as far"
        assert rest == pytest.approx(rest_1, rel=1e-6)
    assert max(_steps(optim, 0.0)[0]) == 0.0


def test_the_clip_binds_in_the_clipped_lambda_test() -> None:
    """In the clipped case the trust ratio caps every predictor weight (η‖w‖/(‖g‖ + wd‖w‖) < lr), so a clip
    against the predictor group's own λ·lr would have given the same step for every λ ≥ 1."""
    net, _ = _net_with_gradients()
    lr = CLIPPED.base_lr  # batch 256: lr = base_lr × 256/256
    for w in (p for p in net.predictor.parameters() if p.ndim > 1):
        local = CLIPPED.trust_coefficient * float(w.norm()) / (float(w.grad.norm()) + CLIPPED.weight_decay * float(w.norm()))
        assert local < lr


def test_loss_scale_moves_only_the_excluded_parameters() -> None:
    """BYOL App. F.5: under LARS "updates on preconditioned weights are invariant by multiplicative scaling of the
    loss. However, the bias and batch normalization parameter updates remain sensitive" — with wd = 0, no clip."""
    steps = {}
    for scale in (1.0, 0.5):
        net, params = _net_with_gradients()
        for p in params:
            p.grad.mul_(scale)  # the gradient of scale × the loss
        before = [p.detach().clone() for p in params]
        build_optimizer(net, OptimConfig(name="lars", base_lr=1.0, weight_decay=0.0, trust_coefficient=1e-3), 256).step()
        steps[scale] = [(p.ndim > 1, float((p.detach() - b).norm())) for p, b in zip(params, before)]
    for (adapted, full), (_, half) in zip(steps[1.0], steps[0.5]):
        assert half == pytest.approx(full if adapted else full / 2, rel=1e-5)


@pytest.mark.parametrize("clip", [False, True])
def test_lars_direction_is_the_rule_the_optimiser_applies_to_each_tensor(clip: bool) -> None:
    """optim.lars_direction, for reading and for chapter 7's exercise, is what LARS.step does, tensor by tensor."""
    g = torch.Generator().manual_seed(3)
    shapes = [(6, 4), (3, 2, 3, 3), (6,), (5, 5), (4, 4)]
    ws = [torch.randn(*s, generator=g, dtype=torch.float64) * (i + 1) for i, s in enumerate(shapes)]
    gs = [torch.randn(*s, generator=g, dtype=torch.float64) * 10 ** -i for i, s in enumerate(shapes)]
    ws[3].zero_()  # a zero weight and a zero gradient: plain SGD
    gs[4].zero_()
    params = [torch.nn.Parameter(w.clone()) for w in ws]
    for p, grad in zip(params, gs):
        p.grad = grad.clone()
    lr, wd, eta = 0.7, 0.01, 0.02
    LARS(params, lr=lr, momentum=0.9, weight_decay=wd, trust_coefficient=eta, clip_lr=clip).step()
    for p, w, grad in zip(params, ws, gs):
        assert torch.allclose(p.detach(), w - lr * lars_direction(w, grad, lr, wd, eta, clip), rtol=1e-12, atol=1e-12)
