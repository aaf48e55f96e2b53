"""Chapter 5's exercise: one BYOL training step, in the paper's order.

check_train_step(fn) calls fn(net, optimizer, images, views, tau) on a tiny `BYOLNetworks`
and compares the networks afterwards with a reference step built from the earlier chapters'
pieces (`symmetric_loss`, `ema_update_`, the networks' `online` and `target`), and with the
same step carrying each known mistake, so that the diagnosis names the mistake. Two details
make the mistakes visible: the online parameters hold stale gradients from "the previous
step" (so a missing `zero_grad` shows), and the target differs from the online network (so
targets taken from the wrong branch show). `views` hands out a different pair of views on
each call, so calling it twice per step shows too.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch

from ..ema import ema_update_
from ..networks import BYOLNetworks, NetworkConfig
from ..objective import byol_loss, symmetric_loss
from .common import Malformed, call, checker, close, describe, effective_tau

__all__ = ["check_train_step", "reference_train_step"]

try:  # torch.optim's first optimiser imports torch._dynamo (~2 s on 2 busy cores): pay it in the chapter's set-up cell,
    import torch._dynamo  # noqa: F401 — which imports this checker, rather than in the checker's first answer
except ImportError:  # a torch without it: nothing to pay
    pass

_TAU = 0.8


class _Views:
    """views(images) -> (x1, x2): a fresh, fixed pair of float views per call, and a call counter."""

    def __init__(self, pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.pairs, self.calls = pairs, 0

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.pairs[min(self.calls, len(self.pairs) - 1)]
        self.calls += 1
        return pair[0].clone(), pair[1].clone()


def reference_train_step(net: BYOLNetworks, optimizer: torch.optim.Optimizer, images: torch.Tensor,
                         views: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], tau: float) -> torch.Tensor:
    """One BYOL step in the paper's order, from chapters 1–4's pieces; returns the loss, detached."""
    x1, x2 = views(images)  # (B, 3, S, S) each: the two pipelines
    p1, p2 = net.online(x1), net.online(x2)  # (B, d) online predictions
    with torch.no_grad():  # stop-gradient: the targets are constants
        z1, z2 = net.target(x1), net.target(x2)  # (B, d) target projections
    loss = symmetric_loss(p1, p2, z1, z2)  # ℓ(p1, z2) + ℓ(p2, z1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    for target, online in zip(net.target_modules(), net.online_modules()):
        ema_update_(target, online, tau)  # after the step: weights and BatchNorm buffers
    return loss.detach()


def _setup(seed: int = 0) -> tuple[BYOLNetworks, torch.optim.Optimizer, torch.Tensor, _Views]:
    """The same tiny network, optimiser, batch and views every time it is called with the same seed."""
    torch.manual_seed(seed)
    net = BYOLNetworks(NetworkConfig(arch="convnet", convnet_width=2, hidden_dim=16, proj_dim=8)).train()
    with torch.no_grad():
        for xi in net.target_parameters():
            xi.add_(0.1 * torch.randn_like(xi))  # as after some steps: the target lags behind the online network
    for theta in net.online_parameters():
        theta.grad = torch.randn_like(theta)  # stale gradients from "the previous step"
    optimizer = torch.optim.SGD(net.online_parameters(), lr=0.1)
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    views = _Views([(torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)) for _ in range(3)])
    return net, optimizer, images, views


def _step(order: str = "paper", pairing: str = "cross", predictor: bool = True, targets: str = "target",
          reduce: str = "sum", tau: float = _TAU, ema: str = "all", seed: int = 0) -> tuple[BYOLNetworks, torch.Tensor]:
    """The reference step (no arguments but the seed), or the same step with one mistake; returns the network and the loss."""
    net, optimizer, images, views = _setup(seed)
    if (order, pairing, predictor, targets, reduce, tau, ema) == ("paper", "cross", True, "target", "sum", _TAU, "all"):
        return net, reference_train_step(net, optimizer, images, views, _TAU)
    x1, x2 = views(images)

    def update_target() -> None:
        pairs = list(zip(net.target_modules(), net.online_modules()))
        if ema == "backbone":
            pairs = pairs[:1]
        for target, online in pairs:
            if ema == "reversed":
                ema_update_(online, target, tau)
            elif ema == "params":
                with torch.no_grad():
                    for xi, theta in zip(target.parameters(), online.parameters()):
                        xi.mul_(tau).add_(theta, alpha=1 - tau)
            else:
                ema_update_(target, online, tau)

    if order == "ema first":
        update_target()
    online = net.online if predictor else net.project
    p1, p2 = online(x1), online(x2)
    with torch.no_grad():
        z1, z2 = (net.target(x1), net.target(x2)) if targets == "target" else (net.project(x1), net.project(x2))
    loss = symmetric_loss(p1, p2, z1, z2) if pairing == "cross" else byol_loss(p1, z1) + byol_loss(p2, z2)
    loss = loss / 2 if reduce == "mean" else loss
    if order != "no zero_grad":
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if order not in ("ema first", "no ema"):
        update_target()
    return net, loss.detach()


def _state(net: BYOLNetworks) -> dict[str, list[torch.Tensor]]:
    online = [t.detach() for m in (*net.online_modules(), net.predictor) for t in m.state_dict().values() if t.is_floating_point()]
    target = [t.detach() for m in net.target_modules() for t in m.parameters()]
    buffers = [t for m in net.target_modules() for t in m.buffers() if t.is_floating_point()]
    return {"online": online, "target": target, "buffers": buffers}


def _online_params(net: BYOLNetworks) -> list[torch.Tensor]:
    return [p.detach() for p in net.online_parameters()]


_MISTAKES = [
    (dict(order="no zero_grad"), "the gradients of the previous step were added to this one: call optimizer.zero_grad() before loss.backward()."),
    (dict(order="no ema"), "the target did not move: after optimizer.step(), update it with ema_update_(target, online, tau) for each pair in zip(net.target_modules(), net.online_modules())."),
    (dict(order="ema first"), "you updated the target before the optimiser step: in the paper's order the EMA comes last, towards the online weights this step produced."),
    (dict(tau=1 - _TAU), "τ weighs the target: ema_update_(target, online, tau) (you passed 1 − tau)."),
    (dict(ema="reversed"), "you moved the online network towards the target: ema_update_(target, online, tau) takes the target first."),
    (dict(ema="backbone"), "only the target backbone moved: update every target module, for target, online in zip(net.target_modules(), net.online_modules())."),
    (dict(ema="params"), "the target's BatchNorm running statistics never move: BYOLNetworks' target has BatchNorm momentum 0, so only the EMA can move them; update the modules with ema_update_, which averages the buffers too."),
    (dict(pairing="same"), "each prediction was compared with its own view's target: the loss is symmetric_loss(p1, p2, z1, z2) = ℓ(p1, z2) + ℓ(p2, z1)."),
    (dict(predictor=False), "your predictions skip the predictor: p = net.online(x), which runs backbone, projector and predictor."),
    (dict(targets="online"), "your targets come from the online network: take them from the target, z = net.target(x), under torch.no_grad()."),
    (dict(reduce="mean"), "you averaged the two loss terms: BYOL sums them, symmetric_loss(p1, p2, z1, z2)."),
]


@checker("train step")
def check_train_step(fn: Callable[[BYOLNetworks, torch.optim.Optimizer, torch.Tensor, Callable, float], torch.Tensor],
                     variant: int = 0) -> str | None:
    """fn(net, optimizer, images, views, tau) must take one BYOL step in the paper's order and return the loss, detached."""
    net, optimizer, images, views = _setup(variant)
    called_forward = []  # net(x) is the online backbone's representation (for evaluation), not a prediction
    plain_forward = net.forward
    net.forward = lambda x: called_forward.append(True) or plain_forward(x)  # type: ignore[method-assign]
    given = images.clone()
    out = call(fn, net, optimizer, given, views, _TAU)
    del net.forward  # back to the class's forward, for the comparisons below
    if called_forward:
        return ("you called net(x), which gives the online backbone's representation (what chapter 8 evaluates), not a "
                "prediction: the predictions are p = net.online(x), the targets z = net.target(x).")
    if out.problem:
        return out.problem
    if not torch.equal(given, images):
        return "it changed the uint8 images in place: the views are made from them, leave the batch as it was."
    if views.calls == 0:
        return "`views` was never called: make the two views of the batch first, x1, x2 = views(images)."
    if views.calls > 1:
        return f"you called views(images) {views.calls} times: call it once per step, it returns both views (each call draws new random views)."
    if not net.training:
        return "your step switched the network to eval mode: leave the mode to the caller (BYOL trains with batch statistics)."
    ref_net, ref_loss = _step(seed=variant)
    mine, ref = _state(net), _state(ref_net)
    if not all(close(mine[k], ref[k], atol=1e-6) for k in mine):
        if close(_online_params(net), _online_params(_setup(variant)[0]), atol=1e-7):
            if any(t.grad is not None and t.grad.abs().sum() > 0 for t in net.online_parameters()):
                return "the online network did not change although it has gradients: call optimizer.step() after loss.backward()."
            return ("the step applied no gradient: the order is optimizer.zero_grad(), loss.backward(), optimizer.step() "
                    "(a backward pass is missing, or zero_grad came after it).")
        for kwargs, sentence in _MISTAKES:
            wrong_net, _ = _step(**kwargs, seed=variant)
            if all(close(mine[k], v, atol=1e-6) for k, v in _state(wrong_net).items()):
                return sentence
        if not close(mine["online"], ref["online"], atol=1e-6):
            return "the online network's new weights differ from one SGD step on symmetric_loss(p1, p2, z1, z2): zero_grad, backward, step, once each."
        effective = effective_tau(_state(net)["target"], _state(_setup(variant)[0])["target"], _online_params(net)[: len(ref["target"])])
        if effective is not None:
            return f"the target moved as if τ were {effective:.3g}: pass the step's `tau` to ema_update_ (the schedule changes it every step)."
        return "the target's new weights are not the EMA of this step's online weights: call ema_update_(target, online, tau) once, after optimizer.step()."
    loss = out.value
    if isinstance(loss, (float, int)):
        return Malformed("it returned a Python number: return loss.detach(), a 0-d tensor (.item() waits for the GPU at every step).")
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        return Malformed(f"it returned {describe(loss)}: return the loss of this step as a 0-d tensor, loss.detach().")
    if loss.requires_grad:
        return "the returned loss still holds the graph of the step: return loss.detach()."
    if not close(loss, ref_loss, atol=1e-5):
        return "the returned loss is not this step's symmetric loss: return the loss you called backward() on (detached)."
    return None
