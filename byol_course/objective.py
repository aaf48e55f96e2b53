"""Chapters 3 and 4 — the BYOL objective and the slowly moving target.

Loss (Grill et al. 2020, eq. 2): for an online prediction p and a target projection z,

    ℓ(p, z) = ‖p̄ − z̄‖²₂ = 2 − 2·⟨p, z⟩ / (‖p‖‖z‖)          (bar: ℓ2-normalised)

so it lies in [0, 4] and is 0 exactly when p and z point the same way. It is symmetrised
(eq. 3) by swapping the views: L = ℓ(p₁, z₂) + ℓ(p₂, z₁) — each prediction is compared with
the target projection of the *other* view (comparing a view with itself is a bug that public
repositories shipped: The-AI-Summer/byol-cifar10 #1).

Target (eq. 1): after every optimiser step, ξ ← τ·ξ + (1 − τ)·θ, with τ rising from τ_base
to 1 on a cosine over the K training steps: τ_k = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["byol_loss", "symmetric_loss", "ema_update_", "tau_schedule"]


def byol_loss(p: torch.Tensor, z: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """2 − 2·cos(p, z) per pair of rows of p and z (B, d); mean over the batch unless reduction="none"."""
    p = F.normalize(p.float(), dim=-1)  # in float32 even under autocast
    z = F.normalize(z.float(), dim=-1)
    loss = (p - z).square().sum(dim=-1)  # (B,) ‖p̄ − z̄‖² = 2 − 2·cos, never below 0
    return loss.mean() if reduction == "mean" else loss


def symmetric_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """BYOL's symmetrised loss: each view's prediction against the *other* view's target projection."""
    return byol_loss(p1, z2) + byol_loss(p2, z1)


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """In place: ξ ← τ·ξ + (1 − τ)·θ for every parameter and floating-point buffer.

    BatchNorm buffers: the running mean and variance are averaged with the same τ as the
    weights (integer buffers such as `num_batches_tracked` are copied unless τ = 1), so the target's
    buffers are exactly the EMA of the online network's. The target's own forward passes
    must not move them: `BYOLNetworks` sets its target BatchNorm momentum to 0, so in train
    mode the target normalises with batch statistics (like the online network) and leaves
    its running statistics to this update. τ = 0 copies the online network exactly; τ = 1
    changes nothing (torch.lerp is exact at both ends).
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}; 0 copies the online network, 1 freezes the target.")
    t_params = list(target.parameters())
    o_params = list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError("ema_update_: target and online networks have different architectures.")
    torch._foreach_lerp_(t_params, o_params, 1.0 - tau)  # ξ + (1 − τ)(θ − ξ), one fused op
    t_float, o_float = [], []
    for tb, ob in zip(target.buffers(), online.buffers()):
        if tb.is_floating_point():
            t_float.append(tb)
            o_float.append(ob)
        elif tau < 1.0:  # integer counters (num_batches_tracked) are copied, except at τ = 1
            tb.copy_(ob)
    if t_float:
        torch._foreach_lerp_(t_float, o_float, 1.0 - tau)


def tau_schedule(step: int, total_steps: int, base: float = 0.99) -> float:
    """BYOL's cosine EMA schedule: τ_base at step 0, rising to 1 at step total_steps."""
    if total_steps <= 0:
        return base
    k = min(max(step, 0), total_steps)
    return 1 - (1 - base) * (math.cos(math.pi * k / total_steps) + 1) / 2
