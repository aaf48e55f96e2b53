"""Checkers for the notebooks' exercises: each tests a student's piece against the reference.

A checker never raises: it prints ✓ or ✗ with what is wrong and a hint, and returns True
or False, so a notebook still runs top to bottom while the exercise is unsolved.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn

from .ema import ema_update_
from .objective import byol_loss

__all__ = ["check_solarize", "check_projector", "check_loss", "check_ema"]


def _report(name: str, problems: list[str]) -> bool:
    if problems:
        print(f"✗ {name}: " + " ".join(problems))
        return False
    print(f"✓ {name}: matches the reference.")
    return True


def _call(name: str, fn: Callable, *args) -> tuple[object, list[str]]:
    try:
        return fn(*args), []
    except NotImplementedError:
        return None, ["not written yet — replace the `raise NotImplementedError` with your code."]
    except Exception as e:  # noqa: BLE001 — the student's code may fail in any way
        return None, [f"your function raised {type(e).__name__}: {e}."]


def check_solarize(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """fn(x, threshold) on float images in [0, 1] must invert every pixel ≥ threshold and keep the rest."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 8, 8, generator=g)
    out, problems = _call("solarize", fn, x.clone(), 0.5)
    if problems:
        return _report("solarize", problems)
    if not isinstance(out, torch.Tensor):
        return _report("solarize", [f"return a tensor, got {type(out).__name__}."])
    if out.shape != x.shape:
        return _report("solarize", [f"the output shape {tuple(out.shape)} should equal the input's {tuple(x.shape)}."])
    want = torch.where(x >= 0.5, 1 - x, x)
    if torch.allclose(out, want, atol=1e-6):
        return _report("solarize", [])
    if out.min() < -1e-6 or out.max() > 1 + 1e-6:
        problems.append("values left [0, 1]: on float images the inverse of x is 1 − x (255 − x is for uint8).")
    low = x < 0.5
    if not torch.allclose(out[low], x[low], atol=1e-6):
        problems.append("pixels below the threshold changed: solarize inverts only the bright ones.")
    if not torch.allclose(out[~low], (1 - x)[~low], atol=1e-6):
        problems.append("pixels at or above the threshold should become 1 − x.")
    return _report("solarize", problems or ["the output differs from torch.where(x >= threshold, 1 - x, x)."])


def check_projector(make: Callable[[int, int, int], nn.Module]) -> bool:
    """make(in_dim, hidden_dim, out_dim) must build Linear → BatchNorm1d → ReLU → Linear (BYOL §3.3)."""
    head, problems = _call("projector", make, 12, 32, 6)
    if problems:
        return _report("projector", problems)
    if not isinstance(head, nn.Module):
        return _report("projector", [f"return an nn.Module (e.g. nn.Sequential), got {type(head).__name__}."])
    layers = [m for m in head.modules() if isinstance(m, (nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.GroupNorm, nn.LayerNorm))]
    kinds = [type(m).__name__ for m in layers]
    if kinds != ["Linear", "BatchNorm1d", "ReLU", "Linear"]:
        problems.append(f"the layers are {' → '.join(kinds) or 'none'}; BYOL's projector is Linear → BatchNorm1d → ReLU → Linear.")
        if "BatchNorm1d" not in kinds:
            problems.append("Without the batch norm, BYOL's heads learn far less (REFERENCES: untitled-ai STL-10 ablation).")
    else:
        first, last = layers[0], layers[3]
        if (first.in_features, first.out_features, last.in_features, last.out_features) != (12, 32, 32, 6):
            problems.append(
                f"for (12, 32, 6) the Linear layers should be 12→32 and 32→6, got {first.in_features}→{first.out_features} "
                f"and {last.in_features}→{last.out_features}."
            )
        if layers[1].num_features != 32:
            problems.append("the batch norm normalises the hidden layer: BatchNorm1d(hidden_dim).")
    if not problems:
        head.train()
        out = head(torch.randn(5, 12))
        if out.shape != (5, 6):
            problems.append(f"a (5, 12) batch should give (5, 6), got {tuple(out.shape)}.")
    return _report("projector", problems)


def check_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """fn(p, z) must be the batch mean of ‖p̄ − z̄‖² = 2 − 2·cos(p, z)."""
    p = torch.tensor([[1.0, 0.0], [2.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    z = torch.tensor([[0.0, 1.0], [5.0, 0.0], [1.0, 0.0], [-3.0, -4.0]])
    out, problems = _call("loss", fn, p, z)
    if problems:
        return _report("loss", problems)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        return _report("loss", ["return one number (a 0-d tensor): the mean over the batch."])
    want = byol_loss(p, z)  # per pair: 2, 0, 2 − √2, 4
    value = float(out)
    if abs(value - float(want)) < 1e-5:
        return _report("loss", [])
    if abs(value + 2 * float(torch.cosine_similarity(p, z).mean())) < 1e-5:
        problems.append("this is −2·cos: the loss is 2 − 2·cos, which is ≥ 0 and 0 when p and z align (byol-pytorch #6).")
    elif abs(value - float(((p - z) ** 2).sum(1).mean())) < 1e-4:
        problems.append("normalise p and z first (p / ‖p‖): BYOL compares directions, not lengths.")
    elif abs(value - 4 * float(want)) < 1e-4 or abs(value - float(byol_loss(p, z, reduction='none').sum())) < 1e-4:
        problems.append("take the mean over the batch, not the sum.")
    else:
        problems.append(f"for the four test pairs the mean should be {float(want):.4f}, got {value:.4f}.")
    return _report("loss", problems)


def check_ema(fn: Callable[[nn.Module, nn.Module, float], None]) -> bool:
    """fn(target, online, tau) must set ξ ← τ·ξ + (1 − τ)·θ in place, BatchNorm buffers included."""
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    online[1].running_mean.normal_()
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.data.normal_()
    target[1].running_mean.normal_()
    problems: list[str] = []
    for tau in (0.0, 1.0, 0.75):
        t, want = copy.deepcopy(target), copy.deepcopy(target)
        ema_update_(want, online, tau)
        _, err = _call("EMA", fn, t, online, tau)
        if err:
            return _report("EMA", err)
        params_ok = all(torch.allclose(a, b, atol=1e-6) for a, b in zip(t.parameters(), want.parameters()))
        bufs_ok = torch.allclose(t[1].running_mean, want[1].running_mean, atol=1e-6)
        if not params_ok:
            swapped = copy.deepcopy(target)
            ema_update_(swapped, online, 1 - tau)
            if all(torch.allclose(a, b, atol=1e-6) for a, b in zip(t.parameters(), swapped.parameters())):
                problems.append("τ weighs the *target*: ξ ← τ·ξ + (1 − τ)·θ (you swapped them).")
            else:
                problems.append(f"at τ = {tau} the target's weights are not τ·ξ + (1 − τ)·θ.")
            break
        if not bufs_ok:
            problems.append("the BatchNorm running statistics (buffers) must follow the same average (byol-pytorch #73).")
            break
    return _report("EMA", problems)
