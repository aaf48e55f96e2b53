"""Chapter 4 — the slowly moving target: the EMA update and BYOL's τ schedule.

Target (Grill et al. 2020, eq. 1): after every optimiser step, ξ ← τ·ξ + (1 − τ)·θ, with τ
rising from τ_base to 1 on a cosine over the K training steps:
τ_k = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

__all__ = ["ema_update_", "tau_schedule"]


@torch.no_grad()
def ema_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """In place: ξ ← τ·ξ + (1 − τ)·θ for every parameter and floating-point buffer.

    BatchNorm buffers, the course's choice: the running mean and variance are averaged with the
    same τ as the weights (integer buffers such as `num_batches_tracked` are copied unless τ = 1),
    so the target's buffers are the EMA of the online network's; `BYOLNetworks` sets its target
    BatchNorm momentum to 0, so that the target's own forward passes (in train mode, normalising
    with batch statistics like the online network) leave them to this update. The other sound
    choice — DeepMind's code, solo-learn's `MomentumUpdater`, lightly's `update_momentum` —
    averages parameters only and lets the target's forward passes keep its statistics. Training
    is the same either way; the buffers are read only when the target runs in eval mode.
    τ = 0 copies the online network exactly; τ = 1 changes nothing (torch.lerp is exact at both ends).
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
