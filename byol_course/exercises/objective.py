"""Chapter 3's exercises: the loss 2 − 2·cos, its symmetric form, and the stop-gradient.

check_stop_gradient(fn) takes the forward half of a BYOL step, fn(net, x1, x2) -> loss, and
runs it on a small `BYOLNetworks` whose target parameters *do* require gradients (a naive
target, as a plain `copy.deepcopy` would give): then only the student's stop-gradient can keep
the gradients out of the target, and a backward pass shows whether it did.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F

from ..networks import BYOLNetworks, NetworkConfig
from ..objective import byol_loss, symmetric_loss
from .common import Malformed, call, checker, close, describe, first_match

__all__ = ["check_loss", "check_symmetric_loss", "check_stop_gradient"]

# Four hand-made pairs (B = 4, d = 3: B ≠ d, so normalising the wrong dimension shows).
# Per pair, 2 − 2·cos is 2 (orthogonal), 0 (aligned), 2 − √2 (45°) and 4 (opposite).
_P = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [3.0, 4.0, 0.0]])
_Z = torch.tensor([[0.0, 1.0, 0.0], [5.0, 0.0, 0.0], [1.0, 0.0, 0.0], [-3.0, -4.0, 0.0]])


def _cos(p: torch.Tensor, z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return F.cosine_similarity(p, z, dim=dim)


def _sq(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return (p - z).square().sum(dim=-1)


def loss_mistakes(p: torch.Tensor, z: torch.Tensor) -> list[tuple[Callable[[], torch.Tensor], str]]:
    """The wrong per-batch losses beginners write, each with the sentence that explains it."""
    n = F.normalize
    return [
        (lambda: (-2 * _cos(p, z)).mean(), "this is −2·cos: the same gradient (the paper's Algorithm 1 writes it so), but negative and never 0; this exercise asks for ‖p̄ − z̄‖² = 2 − 2·cos(p, z), 0 when p and z align."),
        (lambda: (-_cos(p, z)).mean(), "this is −cos(p, z): BYOL's loss is ‖p̄ − z̄‖² = 2 − 2·cos(p, z), which is 0 when p and z align."),
        (lambda: (1 - _cos(p, z)).mean(), "1 − cos is half of BYOL's loss: ‖p̄ − z̄‖² = 2 − 2·cos(p, z)."),
        (lambda: _cos(p, z).mean(), "this is the cosine similarity itself, which training would push up: the loss to minimise is 2 − 2·cos(p, z)."),
        (lambda: (2 - 2 * _cos(p, z)).sum(), "take the mean over the batch, not the sum: .mean() keeps the loss independent of the batch size."),
        (lambda: _sq(p, z).mean(), "normalise p and z first, F.normalize(p, dim=-1): BYOL compares directions, not lengths."),
        (lambda: F.mse_loss(p, z), "F.mse_loss neither normalises nor sums over the d coordinates: normalise p and z, sum the squares over d, then average over the batch."),
        (lambda: F.mse_loss(n(p, dim=-1), n(z, dim=-1)), "you averaged over the d coordinates too (F.mse_loss does): sum the squares over d, then take the mean over the batch."),
        (lambda: _sq(n(p, dim=0), n(z, dim=0)).mean(), "you normalised along the batch dimension (dim=0): normalise each row, F.normalize(p, dim=-1)."),
        (lambda: (2 - 2 * _cos(p, z, dim=0)).mean(), "the cosine was taken along the batch dimension (dim=0): take it along the features, dim=-1."),
        (lambda: _sq(n(p, dim=-1), z).mean(), "only p was normalised: normalise z as well."),
        (lambda: _sq(p, n(z, dim=-1)).mean(), "only z was normalised: normalise p as well."),
        (lambda: (2 - 2 * (p * z).sum(-1)).mean(), "2 − 2·⟨p, z⟩ needs unit vectors: normalise p and z first (or divide by ‖p‖·‖z‖)."),
        (lambda: (n(p, dim=-1) - n(z, dim=-1)).norm(dim=-1).mean(), "this is the distance ‖p̄ − z̄‖: BYOL's loss is its square, ‖p̄ − z̄‖² = 2 − 2·cos(p, z)."),
    ]


def _scalar_problem(value: object, what: str, batch: int) -> str | None:
    if isinstance(value, (float, int)):
        return Malformed(f"it returned a Python {type(value).__name__}: return {what} as a 0-d tensor (no .item(), which also cuts the gradient).")
    if not isinstance(value, torch.Tensor):
        return Malformed(f"it returned {describe(value)}: return {what} as a 0-d tensor.")
    if value.dim() == 1 and value.numel() == batch:
        return Malformed(f"it returned one loss per pair, shape {tuple(value.shape)}: average them over the batch, .mean().")
    if value.dim() != 0:
        return Malformed(f"it returned {describe(value)}: return {what} as one number, a 0-d tensor (shape ()).")
    if not torch.isfinite(value):
        return f"it returned {value.item()}: {what} should be finite for these ordinary vectors."
    return None


def _gradient_problem(fn: Callable, args: tuple[torch.Tensor, ...], predictions: tuple[int, ...]) -> str | None:
    """fn(*args) must keep the gradient of the arguments at the positions `predictions`."""
    leaves = [a.clone().requires_grad_(i in predictions) for i, a in enumerate(args)]
    out = call(fn, *leaves)
    if out.problem or not isinstance(out.value, torch.Tensor):
        return out.problem
    if not out.value.requires_grad:
        return "no gradient reaches the predictions: don't detach them or use .item() inside the loss (only the target is a constant)."
    return None


def _loss_pairs(variant: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The hand-made pairs (variant 0), or random pairs of another size (B ≠ d still)."""
    if variant == 0:
        return _P.clone(), _Z.clone()
    g = torch.Generator().manual_seed(variant)
    return torch.randn(4 + variant, 7, generator=g), torch.randn(4 + variant, 7, generator=g)


@checker("loss")
def check_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], variant: int = 0) -> str | None:
    """fn(p, z) must be the batch mean of ‖p̄ − z̄‖² = 2 − 2·cos(p, z), a 0-d tensor that keeps p's gradient."""
    P, Z = _loss_pairs(variant)
    p, z = P.clone(), Z.clone()
    out = call(fn, p, z)
    if out.problem:
        return out.problem
    if not (torch.equal(p, P) and torch.equal(z, Z)):
        return "it changed p or z in place: F.normalize returns new tensors, use it instead of p /= p.norm()."
    if problem := _scalar_problem(out.value, "the loss", batch=len(P)):
        return problem
    value = out.value.detach()
    if not close(value, byol_loss(P, Z)):
        return first_match(value, loss_mistakes(P, Z)) or (
            f"for the {len(P)} test pairs the mean of 2 − 2·cos should be {byol_loss(P, Z).item():.4f}, yours is {value.item():.4f}: "
            "normalise each row, take ‖p̄ − z̄‖² per pair, then the mean."
        )
    return _gradient_problem(fn, (P, Z), predictions=(0,))


def _views_of_vectors(variant: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(3 + variant)
    return tuple(torch.randn(6 + variant, 5, generator=g) for _ in range(4))  # p1, p2, z1, z2


@checker("symmetric loss")
def check_symmetric_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                         variant: int = 0) -> str | None:
    """fn(p1, p2, z1, z2) must be ℓ(p1, z2) + ℓ(p2, z1): each prediction against the *other* view's target, summed."""
    p1, p2, z1, z2 = _views_of_vectors(variant)
    given = [t.clone() for t in (p1, p2, z1, z2)]
    out = call(fn, *given)
    if out.problem:
        return out.problem
    if not all(torch.equal(a, b) for a, b in zip(given, (p1, p2, z1, z2))):
        return "it changed its inputs in place: compute the loss from them without modifying them."
    if problem := _scalar_problem(out.value, "the symmetric loss", batch=len(p1)):
        return problem
    value, l = out.value.detach(), byol_loss
    if close(value, symmetric_loss(p1, p2, z1, z2)):
        return _gradient_problem(fn, (p1, p2, z1, z2), predictions=(0, 1))
    cos12, cos21 = _cos(p1, z2).mean(), _cos(p2, z1).mean()
    return first_match(value, [
        (lambda: l(p1, z1) + l(p2, z2), "you compared each prediction with its own view's target: pair across the views, ℓ(p1, z2) + ℓ(p2, z1)."),
        (lambda: (l(p1, z1) + l(p2, z2)) / 2, "you compared each prediction with its own view's target (and averaged): pair across the views and sum, ℓ(p1, z2) + ℓ(p2, z1)."),
        (lambda: (l(p1, z2) + l(p2, z1)) / 2, "your loss is half of BYOL's: sum the two terms instead of averaging them, each of them 2 − 2·cos (not 1 − cos)."),
        (lambda: l(p1, z2), "only one term: add the other view's, ℓ(p1, z2) + ℓ(p2, z1)."),
        (lambda: l(p2, z1), "only one term: add the other view's, ℓ(p1, z2) + ℓ(p2, z1)."),
        (lambda: 2 - 2 * (cos12 + cos21), "this is 2 − 2·(cos₁ + cos₂), which ranges from −2 to 6: each term is 2 − 2·cos, so the sum is 4 − 2·(cos₁ + cos₂), from 0 to 8."),
        (lambda: -2 * (cos12 + cos21), "this is −2·(cos₁ + cos₂), negative and never 0: each term is 2 − 2·cos, ℓ(p1, z2) + ℓ(p2, z1)."),
        (lambda: l(p1, p2) + l(z1, z2), "you compared the two predictions with each other (and the two targets): compare each prediction with a target projection, ℓ(p1, z2) + ℓ(p2, z1)."),
        *[((lambda f=f: f(p1, z2) + f(p2, z1)), "the pairing is right but the per-pair loss is not: " + sentence)
          for f, sentence in [
              (lambda p, z: (2 - 2 * _cos(p, z)).sum(), "take the mean over the batch in each term, not the sum."),
              (lambda p, z: _sq(p, z).mean(), "normalise p and z before the squared distance."),
          ]],
    ]) or "the value differs from ℓ(p1, z2) + ℓ(p2, z1), with ℓ the batch mean of 2 − 2·cos: check your per-pair loss with check_loss first."


# --- stop-gradient -------------------------------------------------------------------------


def _naive_net(seed: int = 0) -> tuple[BYOLNetworks, torch.Tensor, torch.Tensor]:
    """A tiny BYOL network whose target differs from the online one and still requires grad."""
    torch.manual_seed(seed)
    net = BYOLNetworks(NetworkConfig(arch="convnet", convnet_width=2, hidden_dim=16, proj_dim=8)).train()
    with torch.no_grad():
        for xi in net.target_parameters():
            xi.add_(0.1 * torch.randn_like(xi))  # as after some EMA steps: target ≠ online
    for xi in net.target_parameters():
        xi.requires_grad_(True)  # a naive target: only the stop-gradient can keep gradients out
    return net, torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)


@checker("stop-gradient")
def check_stop_gradient(fn: Callable[[BYOLNetworks, torch.Tensor, torch.Tensor], torch.Tensor], variant: int = 0) -> str | None:
    """fn(net, x1, x2) must return the symmetric loss of online predictions and target projections, no gradient to the target."""
    net, x1, x2 = _naive_net(variant)
    ref = copy.deepcopy(net)
    out = call(fn, net, x1.clone(), x2.clone())
    if out.problem:
        return out.problem
    loss = out.value
    if problem := _scalar_problem(loss, "the loss", batch=len(x1)):
        return problem
    if any(not xi.requires_grad for xi in net.target_parameters()):
        return ("you switched off requires_grad on the target's parameters inside the step, which changes the network for good: "
                "stop the gradient in the forward pass, with torch.no_grad() or .detach().")
    if any(theta.grad is not None for theta in net.parameters()):
        return "your function already called backward(): return the loss and let the training step call loss.backward()."
    if not loss.requires_grad:
        return ("the loss carries no gradient: compute only the target projections under torch.no_grad(), "
                "the online predictions net.online(x1), net.online(x2) with gradients.")
    with torch.no_grad():
        on = (ref.online(x1), ref.online(x2))
        proj = (ref.project(x1), ref.project(x2))
        tgt = (ref.target(x1), ref.target(x2))
    value = loss.detach()
    if not close(value, symmetric_loss(*on, *tgt)):
        return first_match(value, [
            (lambda: symmetric_loss(*on, *proj), "your targets are the online network's projections: take them from the target network, net.target(x1) and net.target(x2)."),
            (lambda: symmetric_loss(*proj, *tgt), "your predictions skip the predictor: p = net.online(x), which runs backbone, projector and predictor."),
            (lambda: byol_loss(on[0], tgt[0]) + byol_loss(on[1], tgt[1]), "each prediction is compared with its own view's target: pair across the views, ℓ(p1, z2) + ℓ(p2, z1)."),
            (lambda: symmetric_loss(*on, *tgt) / 2, "you averaged the two terms: BYOL sums them, symmetric_loss(p1, p2, z1, z2)."),
        ]) or "the loss differs from symmetric_loss(net.online(x1), net.online(x2), net.target(x1), net.target(x2)): build it from those four."
    back = call(loss.backward)
    if back.problem:
        return back.problem
    if any(xi.grad is not None and xi.grad.abs().sum() > 0 for xi in net.target_parameters()):
        return ("gradients reach the target network: compute z1 and z2 under torch.no_grad() (or .detach() them), "
                "so that the loss pulls the predictions towards the targets and never the targets towards the predictions.")
    for name, module in (("online backbone", net.online_backbone), ("projector", net.online_projector), ("predictor", net.predictor)):
        if any(theta.grad is None for theta in module.parameters()):
            return f"no gradient reaches the {name}: only the target side may be detached, the predictions net.online(x) keep their gradients."
    return None
