"""Chapter 2's exercises: BYOL's projector, and the target network made from the online one."""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import Malformed, Raised, Right, call, checker, close, describe, first_match

__all__ = ["check_projector", "check_target"]

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d)


def _leaves(module: nn.Module) -> list[nn.Module]:
    """The layers that compute something, in order (containers and Identity left out)."""
    return [m for m in module.modules() if not list(m.children()) and not isinstance(m, (nn.Identity, nn.Flatten))]


def _kind(m: nn.Module) -> str:
    if isinstance(m, nn.Linear):
        return "Linear"
    if isinstance(m, nn.BatchNorm1d):
        return "BatchNorm1d"
    if isinstance(m, _NORMS):
        return "OtherNorm"
    if isinstance(m, nn.ReLU):
        return "ReLU"
    return type(m).__name__


def _norm_problem(layers: list[nn.Module]) -> str | None:
    """The normalisation is a module (it has weights and buffers): is it BatchNorm1d?"""
    if not any(isinstance(m, _NORMS) for m in layers):
        return "there is no batch norm: put nn.BatchNorm1d(hidden_dim) between the first Linear and the ReLU (BYOL's heads learn far less without it)."
    if any(isinstance(m, nn.BatchNorm2d) for m in layers):
        return "BatchNorm2d is for images (B, C, H, W), but the projector sees vectors (B, d): use nn.BatchNorm1d(hidden_dim)."
    other = next((type(m).__name__ for m in layers if _kind(m) == "OtherNorm"), None)
    if other is not None:
        return f"BYOL's projector normalises with batch norm, not {other}: use nn.BatchNorm1d(hidden_dim)."
    return None


def _parts(layers: list[nn.Module], i: int) -> tuple[nn.Linear, nn.BatchNorm1d, nn.Linear] | None:
    """The two Linear layers and the BatchNorm1d, the first Linear being the one that reads in_dim; None if not so.

    Registration order need not be the order of the calls in forward, so the first layer is found by its input size."""
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    norms = [m for m in layers if isinstance(m, nn.BatchNorm1d)]
    if len(linears) != 2 or len(norms) != 1:
        return None
    first, last = linears[::-1] if linears[1].in_features == i != linears[0].in_features else linears
    return first, norms[0], last


def _dims_problem(first: nn.Linear, bn: nn.BatchNorm1d, last: nn.Linear, i: int, h: int, o: int) -> str | None:
    if (first.in_features, last.out_features) != (i, o):
        return (f"for make({i}, {h}, {o}) the head should map {i} → {o}, yours maps {first.in_features} → {last.out_features}: "
                "nn.Linear(in_dim, hidden_dim) first and nn.Linear(hidden_dim, out_dim) last.")
    if (first.out_features, last.in_features) != (h, h):
        return (f"the hidden layer should have hidden_dim = {h} units, yours has {first.out_features}: "
                "nn.Linear(in_dim, hidden_dim), then nn.Linear(hidden_dim, out_dim).")
    if bn.num_features != h:
        return f"the batch norm has {bn.num_features} features: it normalises the hidden layer, nn.BatchNorm1d(hidden_dim)."
    return None


def _after_last(layer: str) -> str:
    return f"there is a {layer} after the last Linear: end with the Linear, so that the projection can take any value."


def _forward_problem(got: torch.Tensor, x: torch.Tensor, first: nn.Linear, bn: nn.BatchNorm1d, last: nn.Linear) -> str | None:
    """Judge what the head computes, not how it is written: its output against Linear → BN → ReLU → Linear made
    of its own layers (a ReLU written as F.relu in forward is as right as an nn.ReLU module), then the usual slips."""
    def norm(t: torch.Tensor) -> torch.Tensor:  # the batch norm in train mode: batch statistics
        return F.batch_norm(t, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)

    with torch.no_grad():
        hidden = first(x)
        right = last(F.relu(norm(hidden)))
        if close(got, right, atol=1e-5):
            return None
        return first_match(got, [
            (lambda: last(norm(F.relu(hidden))), "the ReLU comes before the batch norm: the order is Linear → BatchNorm1d → ReLU → Linear."),
            (lambda: last(F.relu(hidden)), "your forward pass skips the batch norm it defines: apply it between the first Linear and the ReLU."),
            (lambda: last(norm(hidden)), "there is no ReLU between the batch norm and the last Linear (an nn.ReLU() layer, or F.relu in "
                                         "forward): without it the head is one linear map."),
            (lambda: F.relu(right), _after_last("ReLU")),
            (lambda: last(hidden), "your forward pass skips the batch norm and the ReLU: Linear → BatchNorm1d → ReLU → Linear."),
        ]) or "the head's output is not Linear → BatchNorm1d → ReLU → Linear of its own layers: check the order of the calls in forward."


@checker("projector")
def check_projector(make: Callable[[int, int, int], nn.Module], variant: int = 0) -> str | None:
    """make(in_dim, hidden_dim, out_dim) must build Linear → BatchNorm1d → ReLU → Linear (BYOL §3.3)."""
    i, h, o = ((12, 32, 6), (10, 24, 7), (9, 20, 5))[variant % 3]
    out = call(make, i, h, o)
    if out.problem:
        return out.problem
    head = out.value
    if isinstance(head, (list, tuple)):
        return "it returned a list of layers: wrap them in a module, nn.Sequential(*layers)."
    if not isinstance(head, nn.Module):
        return f"it returned {describe(head)}: return an nn.Module such as nn.Sequential(...)."
    layers = _leaves(head)
    if problem := _norm_problem(layers):
        return problem
    parts = _parts(layers, i)
    if parts is None:
        names = " → ".join(type(m).__name__ for m in layers) or "no layers"
        return f"the layers are {names}: BYOL's projector is Linear → BatchNorm1d → ReLU → Linear."
    if problem := _dims_problem(*parts, i, h, o):
        return problem
    head.train()
    x = torch.randn(8, i, generator=torch.Generator().manual_seed(variant))  # (8, in_dim)
    y = call(head, x)
    if y.problem:
        return Raised(f"the head fails on a batch of shape (8, {i}): " + y.problem)
    if not isinstance(y.value, torch.Tensor) or tuple(y.value.shape) != (8, o):
        return Malformed(f"a (8, {i}) batch gave {describe(y.value)}, it should give shape (8, {o}): check the forward pass.")
    problem = _forward_problem(y.value, x, *parts)
    extra = [m for m in layers if _kind(m) not in ("Linear", "BatchNorm1d", "ReLU")]
    if problem and extra:  # an activation or dropout module of its own explains the difference better
        if layers[-1] is extra[-1]:
            return _after_last(type(extra[-1]).__name__)
        return f"your head also has {', '.join(type(m).__name__ for m in extra)}: BYOL's projector is Linear → BatchNorm1d → ReLU → Linear and nothing else."
    return problem


# --- the target network ----------------------------------------------------------------------


def _online(seed: int = 0) -> nn.Module:
    """A small online encoder with non-default BatchNorm statistics, in train mode, as after some training."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    with torch.no_grad():
        net(torch.randn(16, 6) * 3 + 1)  # moves the running mean and variance away from 0 and 1
    return net.train()


@checker("target")
def check_target(fn: Callable[[nn.Module], nn.Module], variant: int = 0) -> str | None:
    """fn(online) must return a separate exact copy, weights and BatchNorm buffers, frozen, in train mode."""
    # BatchNorm momentum 0 (the EMA keeps the running statistics) is the course's choice; a target that keeps
    # its momentum (its own forward passes keep them: DeepMind's code, solo-learn) is the other sound choice.
    online = _online(variant)
    before = copy.deepcopy(online)
    out = call(fn, online)
    if out.problem:
        return out.problem
    target = out.value
    if isinstance(target, dict):
        return "it returned a state dict: return a network, copy.deepcopy(online), which holds its own copy of those tensors."
    if not isinstance(target, nn.Module):
        return f"it returned {describe(target)}: return an nn.Module, the copy of `online`."
    if target is online:
        return "you returned the online network itself: the target must be a separate copy with weights of its own, copy.deepcopy(online)."
    if any(not p.requires_grad for p in online.parameters()):
        return "you froze the online network's parameters: set requires_grad_(False) on the target's parameters, the copy, and leave the online ones trainable."
    if any(not torch.equal(a, b) for a, b in zip(online.state_dict().values(), before.state_dict().values())):
        return "your function changed the online network: copy it (copy.deepcopy) and change only the copy."
    online_tensors = {t.data_ptr() for t in [*online.parameters(), *online.buffers()]}
    if any(t.data_ptr() in online_tensors for t in [*target.parameters(), *target.buffers()]):
        return "the target shares tensors with the online network (a shallow copy or a new container of the same layers): use copy.deepcopy(online)."
    t_state, o_state = target.state_dict(), online.state_dict()
    if list(t_state) != list(o_state) or any(t_state[k].shape != o_state[k].shape for k in o_state):
        return "the target's architecture differs from the online network's: copy the network itself, copy.deepcopy(online)."
    params = [k for k, _ in online.named_parameters()]
    if any(not torch.equal(t_state[k], o_state[k]) for k in params):
        return ("the target's weights differ from the online network's: this exercise asks for a copy, copy.deepcopy(online) "
                "(a freshly initialised target, as in DeepMind's code, also trains, but it is not what make_target returns here).")
    if any(p.requires_grad for p in target.parameters()):
        return "the target's parameters still require gradients: call p.requires_grad_(False) on each of them, so that no gradient reaches the target."
    if not target.training:
        return "you put the target in eval mode: keep it in train mode (BYOL's target normalises with batch statistics, like the online network)."
    in_eval = [name for name, m in target.named_modules() if not m.training]
    if in_eval:
        return (f"some of the target's layers are in eval mode ({', '.join(in_eval[:3])}{', …' if len(in_eval) > 3 else ''}): "
                "keep every layer in train mode, as the online network is (BYOL's target normalises with batch statistics); target.train() does it.")
    norms = [m for m in target.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if any(m.momentum != 0 for m in norms) and any(m.momentum == 0 for m in norms):
        return "some of the target's BatchNorm layers have momentum 0 and others not: set it to 0 on every one of them."
    buffers_copied = all(torch.equal(t_state[k], o_state[k]) for k in o_state if k not in params)
    if any(m.momentum != 0 for m in norms):
        return Right("a frozen copy whose BatchNorm layers keep their momentum, so the target's own forward passes keep its "
                     "running statistics: DeepMind's and solo-learn's choice; the course sets momentum 0 and lets the EMA keep them"
                     + ("." if buffers_copied else " (the buffers you did not copy are re-estimated within a few dozen steps)."))
    if not buffers_copied:
        return ("the weights were copied but not the BatchNorm buffers (running mean and variance), and with momentum 0 nothing but "
                "the EMA will ever move them: copy.deepcopy(online) copies both, a loop over parameters() does not.")
    return None
