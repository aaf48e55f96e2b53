"""Chapter 5 — the optimiser and the learning-rate schedule.

BYOL trains its online network with LARS (You et al. 2017): SGD with momentum whose step for
each weight matrix is rescaled by the ratio of the weight's norm to its gradient's (the "trust
ratio"), so that every layer moves by a similar fraction of its size whatever the scale of its
gradient. The learning rate follows the paper's rule, base_lr × batch/256, with a linear
warm-up and then a cosine decay to 0 (§3.3, Appendix C). A CPU classroom run uses AdamW
instead: a few thousand steps with small batches, where LARS's large learning rates are not
needed (and Adam at LARS's rates collapses, byol-pytorch #44).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn as nn

__all__ = ["OPTIMIZERS", "OptimConfig", "LARS", "lars_direction", "param_groups", "peak_lr", "build_optimizer", "lr_at", "set_lr"]

OPTIMIZERS = ("lars", "sgd", "adamw")


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule. Defaults: BYOL's LARS recipe (§3.3, Appendix C)."""

    name: str = "lars"  # "lars" (paper) | "sgd" | "adamw"
    base_lr: float = 0.2  # scaled by batch_size / 256 (paper: 0.2 × B/256)
    weight_decay: float = 1.5e-6  # paper: 1.5e-6
    momentum: float = 0.9
    trust_coefficient: float = 1e-3  # LARS η: 1e-3 in the paper (ImageNet); solo-learn's CIFAR recipe: 0.02
    clip_lr: bool = False  # LARS: cap each layer's rate at the global lr (solo-learn's CIFAR recipe: True)
    warmup_epochs: float = 10.0  # paper: 10 of 1000 epochs; linear warm-up, then cosine to 0
    scale_lr_by_batch: bool = True
    predictor_lr_scale: float = 1.0  # λ: the predictor learns at λ × the learning rate (BYOL's appendix, Table 21)

    def __post_init__(self) -> None:
        problems = []
        if self.name not in OPTIMIZERS:
            problems.append(f"unknown optimiser {self.name!r}, choose one of {', '.join(OPTIMIZERS)}")
        if not (math.isfinite(self.base_lr) and self.base_lr > 0):
            problems.append(
                f"the learning rate must be positive and finite, got {self.base_lr} (LARS: 0.2 × batch/256, AdamW: about 1e-3)"
            )
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            problems.append(f"weight decay must be 0 or more, got {self.weight_decay}")
        if not 0.0 <= self.momentum < 1.0:
            problems.append(f"momentum must be in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.trust_coefficient) and self.trust_coefficient > 0):
            problems.append(f"the LARS trust coefficient must be positive, got {self.trust_coefficient} (paper: 1e-3)")
        if not (math.isfinite(self.warmup_epochs) and self.warmup_epochs >= 0):
            problems.append(f"warm-up epochs must be 0 or more, got {self.warmup_epochs}")
        if not (math.isfinite(self.predictor_lr_scale) and self.predictor_lr_scale >= 0):
            problems.append(f"the predictor's learning-rate scale must be 0 or more, got {self.predictor_lr_scale}")
        if problems:
            raise ValueError("; ".join(problems) + ".")


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (LARS; You et al. 2017, arXiv 1708.03888).

    For every parameter tensor w (a "layer") with gradient g, at the step's learning rate lr:

        local = η·‖w‖ / (‖g‖ + wd·‖w‖ + ε)         the trust ratio (You et al. 2017, eq. 6)
        ratio = min(local / lr, 1)  if clip_lr      the layer never steps faster than plain SGD at lr
                local               otherwise
        d     = ratio · (g + wd·w)
        m    ← μ·m + d   (m = d at the first step);   w ← w − lr·m

    clip_lr and the trust coefficient η = 0.02 are what solo-learn's CIFAR BYOL runs
    (scripts/pretrain/cifar/byol.yaml: `eta: 0.02, clip_lr: True, exclude_bias_n_norm: True`,
    with solo/utils/lars.py, which follows the formula above); the BYOL paper's ImageNet
    recipe uses η = 1e-3 without clipping (Appendix C). With clipping the effective step of
    a layer is lr·ratio = min(local, lr): the trust ratio bounds each layer's rate, and the
    global schedule (warm-up, cosine) caps it.

    Excluded (exclude_bias_and_norm, on by default): every parameter with at most one
    dimension, i.e. the biases and the normalisation scales and shifts, gets d = g, no trust
    ratio and no weight decay ("the biases and batch normalization parameters are excluded
    from LARS adaptation and weight decay", BYOL Appendix C; solo-learn's rule is `ndim == 1`).
    A weight whose norm or gradient norm is 0 also gets d = g (as in solo-learn; the ratio
    would be 0 or undefined).

    BYOL's own JAX code divides by ‖g + wd·w‖ instead of ‖g‖ + wd·‖w‖; the two agree when
    wd·‖w‖ is small next to ‖g‖, as with the weight decays used here (1e-5, 1.5e-6).

    A group may carry `lr_scale` (`build_optimizer` gives the predictor's groups λ, BYOL's
    Table 21): its lr is then λ × the schedule's, and the clip compares the trust ratio with the
    schedule's lr, lr / λ, not with the group's. So the step is λ·min(local, lr)·(g + wd·w) with
    clipping and λ·lr·local·(g + wd·w) without: λ scales the predictor's update either way.
    (Clipped against the group's own lr the step would be min(local, λ·lr)·(…), and once the trust
    ratio binds λ would change nothing.)

    No host synchronisation: the norms and ratios stay on the device (`torch.where`, not `if`).
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 1e-3,
        clip_lr: bool = False,
        exclude_bias_and_norm: bool = True,
        eps: float = 1e-8,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0 or trust_coefficient <= 0 or eps < 0:
            raise ValueError(
                f"LARS needs lr, momentum, weight decay, eps >= 0 and a positive trust coefficient; got lr={lr}, "
                f"momentum={momentum}, weight_decay={weight_decay}, trust_coefficient={trust_coefficient}, eps={eps}."
            )
        defaults = dict(
            lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient,
            clip_lr=clip_lr, exclude_bias_and_norm=exclude_bias_and_norm, eps=eps,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        """Groups loaded from an older state dict get this version's defaults for the newer settings."""
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("clip_lr", False)
            group.setdefault("exclude_bias_and_norm", True)
            group.setdefault("eps", 1e-8)

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        """One LARS update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            params = [p for p in group["params"] if p.grad is not None]
            adapted = [p for p in params if p.ndim > 1 or not group["exclude_bias_and_norm"]]
            updates = {p: p.grad for p in params}  # excluded parameters: d = g
            if adapted:
                grads = [p.grad for p in adapted]
                w_norm = torch.stack(torch._foreach_norm(adapted))  # (P,) one norm per layer
                g_norm = torch.stack(torch._foreach_norm(grads))  # (P,)
                local = group["trust_coefficient"] * w_norm / (g_norm + wd * w_norm + group["eps"])  # (P,)
                if group["clip_lr"]:  # capped at the schedule's lr (a scaled group's lr is λ × that)
                    scale = group.get("lr_scale", 1.0)
                    schedule_lr = lr / scale if scale > 0 else 0.0
                    local = (local / schedule_lr).clamp(max=1.0) if schedule_lr > 0 else torch.ones_like(local)
                usable = (w_norm > 0) & (g_norm > 0)  # a zero weight or gradient: plain SGD
                ratio = torch.where(usable, local, torch.ones_like(local))
                decay = torch.where(usable, torch.full_like(local, wd), torch.zeros_like(local))
                d = torch._foreach_add(grads, torch._foreach_mul(adapted, list(decay.unbind())))  # g + wd·w
                d = torch._foreach_mul(d, list(ratio.unbind()))  # ratio · (g + wd·w)
                updates.update(zip(adapted, d))
            going = [p for p in params if "momentum_buffer" in self.state[p]]
            for p in params:
                if "momentum_buffer" not in self.state[p]:  # the first step: m = d
                    self.state[p]["momentum_buffer"] = torch.clone(updates[p]).detach()
            if going:  # m ← μ·m + d
                bufs = [self.state[p]["momentum_buffer"] for p in going]
                torch._foreach_mul_(bufs, group["momentum"])
                torch._foreach_add_(bufs, [updates[p] for p in going])
            if params:  # w ← w − lr·m
                torch._foreach_add_(params, [self.state[p]["momentum_buffer"] for p in params], alpha=-lr)
        return loss


def lars_direction(w: torch.Tensor, g: torch.Tensor, lr: float, weight_decay: float, trust_coefficient: float,
                   clip: bool, eps: float = 1e-8) -> torch.Tensor:
    """The direction d that `LARS.step` gives one tensor (then m ← μ·m + d, w ← w − lr·m), written for reading.

    The optimiser computes it for every tensor of a group at once, on the device; this is the same rule for
    one tensor (chapter 7's exercise writes it; tests/test_lars.py checks that the two agree).
    """
    if w.ndim <= 1:  # biases and normalisation parameters: no trust ratio, no weight decay
        return g
    w_norm, g_norm = w.norm(), g.norm()
    if w_norm == 0 or g_norm == 0:  # the trust ratio would be 0 or undefined: plain SGD
        return g
    ratio = trust_coefficient * w_norm / (g_norm + weight_decay * w_norm + eps)
    if clip:  # the layer's rate lr·ratio never exceeds lr
        ratio = (ratio / lr).clamp(max=1.0) if lr > 0 else torch.ones_like(ratio)
    return ratio * (g + weight_decay * w)


def param_groups(params: Iterable[nn.Parameter], weight_decay: float) -> list[dict]:
    """Weights get weight decay; biases and norm parameters (1-d) do not."""
    decay, no_decay = [], []
    for p in params:
        (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def peak_lr(optim: OptimConfig, batch_size: int) -> float:
    """base_lr × batch/256 (the paper's linear scaling rule) unless scaling is off."""
    return optim.base_lr * (batch_size / 256 if optim.scale_lr_by_batch else 1.0)


def build_optimizer(net: nn.Module, optim: OptimConfig, batch_size: int) -> torch.optim.Optimizer:
    """The optimiser over the online parameters only (the target is never trained by gradients)."""
    if optim.base_lr <= 0:
        raise ValueError(f"The learning rate must be positive, got {optim.base_lr}.")
    lr = peak_lr(optim, batch_size)
    groups = param_groups(net.online_parameters(), optim.weight_decay)
    if optim.predictor_lr_scale != 1.0:  # the predictor in groups of its own, at λ × the learning rate
        predictor = {id(p) for p in net.predictor.parameters()}
        encoder = [p for p in net.online_parameters() if id(p) not in predictor]
        λ = optim.predictor_lr_scale
        scaled = [{**g, "lr_scale": λ, "lr": lr * λ} for g in param_groups(net.predictor.parameters(), optim.weight_decay)]
        groups = [g for g in param_groups(encoder, optim.weight_decay) + scaled if g["params"]]
    if optim.name == "lars":
        return LARS(groups, lr=lr, momentum=optim.momentum, trust_coefficient=optim.trust_coefficient, clip_lr=optim.clip_lr)
    if optim.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=optim.momentum)
    if optim.name == "adamw":
        if lr > 0.01:  # byol-pytorch #44: Adam at LARS's 0.2 collapsed
            warnings.warn(
                f"AdamW with learning rate {lr:g} is in LARS's range; BYOL with Adam at such rates has been seen "
                "to collapse (byol-pytorch #44). Adam usually wants 1e-4 to 3e-3.",
                stacklevel=2,
            )
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"Unknown optimiser {optim.name!r}; choose one of {', '.join(OPTIMIZERS)}.")


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up to peak over warmup_steps, then cosine decay to 0 at total_steps."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group the learning rate lr (× its lr_scale: the predictor's λ)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
