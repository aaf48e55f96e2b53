"""Chapter 3 — the BYOL objective: the normalised prediction error, symmetrised over the views.

Loss (Grill et al. 2020, eq. 2): for an online prediction p and a target projection z,

    ℓ(p, z) = ‖p̄ − z̄‖²₂ = 2 − 2·⟨p, z⟩ / (‖p‖‖z‖)          (bar: ℓ2-normalised)

so it lies in [0, 4] and is 0 exactly when p and z point the same way. It is symmetrised
(eq. 3) by swapping the views: L = ℓ(p₁, z₂) + ℓ(p₂, z₁) — each prediction is compared with
the target projection of the *other* view (comparing a view with itself is a bug that public
repositories shipped: The-AI-Summer/byol-cifar10 #1).

The target network that provides z, and its slow EMA update, are chapter 4's (`ema`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["byol_loss", "symmetric_loss"]


def byol_loss(p: torch.Tensor, z: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """2 − 2·cos(p, z) per pair of rows of p and z (B, d); mean over the batch unless reduction="none"."""
    p = F.normalize(p.float(), dim=-1)  # in float32 even under autocast
    z = F.normalize(z.float(), dim=-1)
    loss = (p - z).square().sum(dim=-1)  # (B,) ‖p̄ − z̄‖² = 2 − 2·cos, never below 0
    return loss.mean() if reduction == "mean" else loss


def symmetric_loss(p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """BYOL's symmetrised loss: each view's prediction against the *other* view's target projection."""
    return byol_loss(p1, z2) + byol_loss(p2, z1)
