"""Chapter 4's exercise: the EMA update of the target, ξ ← τ·ξ + (1 − τ)·θ, in place."""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn

from ..ema import ema_update_
from .common import Right, call, checker, close, effective_tau

__all__ = ["check_ema"]


def _pair(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """An online network and a target that differs from it in every weight and BatchNorm statistic."""
    torch.manual_seed(seed)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    online[1].running_mean.normal_()
    online[1].running_var.uniform_(0.5, 2.0)
    target = copy.deepcopy(online)  # parameters still require grad: the update must run without gradients
    with torch.no_grad():
        for xi in target.parameters():
            xi.normal_()
    target[1].running_mean.normal_()
    target[1].running_var.uniform_(0.5, 2.0)
    return target, online


def _floats(m: nn.Module) -> list[torch.Tensor]:
    return [t.detach() for t in m.state_dict().values() if t.is_floating_point()]


def _params(m: nn.Module) -> list[torch.Tensor]:
    return [p.detach() for p in m.parameters()]


def _buffers(m: nn.Module) -> list[torch.Tensor]:
    return [b for b in m.buffers() if b.is_floating_point()]


def _mix(a: list[torch.Tensor], b: list[torch.Tensor], w: float) -> list[torch.Tensor]:
    """w·a + (1 − w)·b, tensor by tensor."""
    return [w * x + (1 - w) * y for x, y in zip(a, b)]


@checker("EMA")
def check_ema(fn: Callable[[nn.Module, nn.Module, float], None], variant: int = 0) -> str | None:
    """fn(target, online, tau) must set ξ ← τ·ξ + (1 − τ)·θ in place, for the buffers too or (DeepMind's choice) not."""
    # The exercise asks for the course's choice, BatchNorm buffers averaged too; an update of the parameters
    # only (DeepMind's, solo-learn's and lightly's choice) is accepted, and the verdict says which it is.
    target0, online0 = _pair(variant)
    params_only = False  # right parameters, buffers left alone: DeepMind's choice
    for tau in ((0.75, 0.9, 0.3)[variant % 3], 0.0, 1.0):
        target, online = copy.deepcopy(target0), copy.deepcopy(online0)
        want = copy.deepcopy(target0)
        ema_update_(want, online0, tau)
        out = call(fn, target, online, tau)
        if out.problem:
            return out.problem
        t, o, t0, o0 = _params(target), _params(online), _params(target0), _params(online0)
        online_moved = not close(_floats(online), _floats(online0), atol=1e-7)
        target_moved = not close(_floats(target), _floats(target0), atol=1e-7)
        if online_moved:
            if close(o, _mix(o0, t0, tau), atol=1e-6) or close(o, _mix(t0, o0, tau), atol=1e-6):
                return ("you moved the online network towards the target: the EMA changes only the target, ξ ← τ·ξ + (1 − τ)·θ, "
                        "so put the target first, (xi, theta) in zip(target.parameters(), online.parameters()).")
            return "your function changed the online network: read θ from it, write only to the target."
        if not target_moved and tau < 1.0:
            if isinstance(out.value, nn.Module):
                return "you returned a new network and left `target` unchanged: update the target's tensors in place, the caller keeps its reference."
            return ("the target did not change: `xi = tau * xi + ...` only rebinds a name, "
                    "update the tensor itself in place, xi.mul_(tau).add_(theta, alpha=1 - tau) or xi.copy_(...).")
        if not close(t, _params(want), atol=1e-6):
            if close(t, _mix(t0, o0, 1 - tau), atol=1e-6):
                return "τ weighs the target's own past: ξ ← τ·ξ + (1 − τ)·θ (you swapped τ and 1 − τ)."
            if tau == 0.0 and close(t, t0, atol=1e-6):
                return "at τ = 0 the target must become an exact copy of the online network: ξ ← τ·ξ + (1 − τ)·θ for every tensor."
            used = effective_tau(t, t0, o0)
            if used is not None and tau > 0:
                return f"the target moved as if τ were {used:.3g}, not {tau}: use the `tau` argument (the schedule changes it every step)."
            return f"at τ = {tau} the target's weights are not τ·ξ + (1 − τ)·θ: check the formula, xi.mul_(tau).add_(theta, alpha=1 - tau)."
        b, b0, ob = _buffers(target), _buffers(target0), _buffers(online0)
        if not close(b, _buffers(want), atol=1e-6):
            if close(b, b0, atol=1e-7):
                params_only = True
                continue  # the parameters are right: check the other τ before saying so

            if close(b, ob, atol=1e-7):
                return "you copied the BatchNorm buffers from the online network: average them with the same τ as the weights."
            return "the BatchNorm running statistics (buffers) must follow the same average as the weights, ξ ← τ·ξ + (1 − τ)·θ."
    if params_only:
        return Right("the parameters follow ξ ← τ·ξ + (1 − τ)·θ and the BatchNorm buffers are left to the target's own forward "
                     "passes, DeepMind's choice; the course's target has BatchNorm momentum 0, so its ema_update_ averages the "
                     "floating-point buffers too (chapter 2 says when that matters).")
    return None
