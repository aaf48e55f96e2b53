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

__all__ = ["OPTIMIZERS", "OptimConfig", "LARS", "param_groups", "peak_lr", "build_optimizer", "lr_at", "set_lr"]

OPTIMIZERS = ("lars", "sgd", "adamw")


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule. Defaults: BYOL's LARS recipe (§3.3, Appendix C)."""

    name: str = "lars"  # "lars" (paper) | "sgd" | "adamw"
    base_lr: float = 0.2  # scaled by batch_size / 256 (paper: 0.2 × B/256)
    weight_decay: float = 1.5e-6  # paper: 1.5e-6
    momentum: float = 0.9
    trust_coefficient: float = 1e-3  # LARS η
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
        if not (math.isfinite(self.warmup_epochs) and self.warmup_epochs >= 0):
            problems.append(f"warm-up epochs must be 0 or more, got {self.warmup_epochs}")
        if not (math.isfinite(self.predictor_lr_scale) and self.predictor_lr_scale >= 0):
            problems.append(f"the predictor's learning-rate scale must be 0 or more, got {self.predictor_lr_scale}")
        if problems:
            raise ValueError("; ".join(problems) + ".")


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You et al. 2017), as in BYOL.

    For each weight matrix the update is scaled by η·‖w‖ / ‖g + wd·w‖ (the trust ratio).
    Biases and normalisation parameters (every 1-d parameter) are excluded from both the
    adaptation and the weight decay, as in the paper ("the biases and batch normalization
    parameters are excluded from LARS adaptation and weight decay", Appendix C).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust_coefficient: float = 1e-3):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        """One LARS update."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim > 1:  # weights: decay and trust ratio; biases and norms: plain SGD
                    d = d.add(p, alpha=group["weight_decay"])
                    w_norm, d_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(d)
                    ratio = torch.where(
                        (w_norm > 0) & (d_norm > 0), group["trust_coefficient"] * w_norm / d_norm, torch.ones_like(w_norm)
                    )
                    d = d.mul(ratio)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(d).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(d)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


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
        return LARS(groups, lr=lr, momentum=optim.momentum, trust_coefficient=optim.trust_coefficient)
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
