"""Chapter 3's checkers: the loss, the symmetric loss, the stop-gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _exercise_helpers import assert_diagnosis, not_written, verdict
from byol_course.exercises import check_loss, check_stop_gradient, check_symmetric_loss
from byol_course.exercises.objective import loss_mistakes
from byol_course.objective import byol_loss, symmetric_loss

pytestmark = pytest.mark.usefixtures("one_thread")

cos = F.cosine_similarity
norm = F.normalize


def _in_place(p, z):
    p /= p.norm(dim=-1, keepdim=True)
    z /= z.norm(dim=-1, keepdim=True)
    return (p - z).square().sum(-1).mean()


LOSS_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(lambda p, z: -2 * cos(p, z).mean(), "this is −2·cos", id="minus-2cos"),
    pytest.param(lambda p, z: -cos(p, z).mean(), "this is −cos(p, z)", id="minus-cos"),
    pytest.param(lambda p, z: (1 - cos(p, z)).mean(), "1 − cos is half", id="1-minus-cos"),
    pytest.param(lambda p, z: cos(p, z).mean(), "the cosine similarity itself", id="plus-cos"),
    pytest.param(lambda p, z: (2 - 2 * cos(p, z)).sum(), "not the sum", id="sum-not-mean"),
    pytest.param(lambda p, z: 2 - 2 * cos(p, z), "one loss per pair", id="per-pair-vector"),
    pytest.param(lambda p, z: ((p - z) ** 2).sum(1).mean(), "normalise p and z first", id="unnormalised"),
    pytest.param(lambda p, z: F.mse_loss(p, z), "F.mse_loss neither normalises", id="mse-loss"),
    pytest.param(lambda p, z: F.mse_loss(norm(p, dim=1), norm(z, dim=1)), "averaged over the d coordinates", id="mse-normalised"),
    pytest.param(lambda p, z: (norm(p, dim=0) - norm(z, dim=0)).pow(2).sum(1).mean(), "along the batch dimension (dim=0)", id="normalise-dim0"),
    pytest.param(lambda p, z: (2 - 2 * cos(p, z, dim=0)).mean(), "cosine was taken along the batch", id="cosine-dim0"),
    pytest.param(lambda p, z: (norm(p, dim=-1) - z).pow(2).sum(-1).mean(), "only p was normalised", id="only-p-normalised"),
    pytest.param(lambda p, z: (2 - 2 * (p * z).sum(-1)).mean(), "needs unit vectors", id="dot-not-cos"),
    pytest.param(lambda p, z: (norm(p, dim=-1) - norm(z, dim=-1)).norm(dim=-1).mean(), "its square", id="distance-not-squared"),
    pytest.param(lambda p, z: byol_loss(p, z).item(), "returned a Python float", id="item"),
    pytest.param(lambda p, z: byol_loss(p.detach(), z), "no gradient reaches the predictions", id="detached-p"),
    pytest.param(lambda p, z: byol_loss(p, z).reshape(1), "a 0-d tensor (shape ())", id="shape-1"),
    pytest.param(_in_place, "changed p or z in place", id="in-place"),
    pytest.param(lambda p, z: (p / p.norm() - z / z.norm()).pow(2).sum(-1).mean() * 0 + float("nan"), "should be finite", id="nan"),
]


@pytest.mark.parametrize("fn, phrase", LOSS_MISTAKES)
def test_loss_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_loss, fn, phrase, capsys)


def test_loss_right_answers(capsys) -> None:
    assert verdict(check_loss, byol_loss, capsys)[0]  # the package's loss
    assert verdict(check_loss, lambda p, z: (2 - 2 * cos(p, z, dim=-1)).mean(), capsys)[0]
    assert verdict(check_loss, lambda p, z: (norm(p, dim=-1) - norm(z, dim=-1)).square().sum(-1).mean(), capsys)[0]


def test_loss_mistakes_are_told_apart_by_the_test_pairs() -> None:
    """Every known mistake gives the checker's hand-made pairs a value of its own (else one diagnosis would shadow another)."""
    from byol_course.exercises.objective import _P, _Z

    values = [byol_loss(_P, _Z).item()] + [make().item() for make, _ in loss_mistakes(_P, _Z)]
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            assert abs(a - b) > 1e-3, values


SYMMETRIC_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(lambda p1, p2, z1, z2: byol_loss(p1, z1) + byol_loss(p2, z2), "its own view's target", id="same-view"),
    pytest.param(lambda p1, p2, z1, z2: byol_loss(torch.cat([p1, p2]), torch.cat([z1, z2])), "its own view's target (and averaged)", id="same-view-concatenated"),
    pytest.param(lambda p1, p2, z1, z2: (byol_loss(p1, z2) + byol_loss(p2, z1)) / 2, "sum the two terms instead of averaging", id="averaged"),
    pytest.param(lambda p1, p2, z1, z2: byol_loss(torch.cat([p1, p2]), torch.cat([z2, z1])), "sum the two terms instead of averaging", id="concatenated"),
    pytest.param(lambda p1, p2, z1, z2: byol_loss(p1, z2), "only one term", id="one-term"),
    pytest.param(lambda p1, p2, z1, z2: 2 - 2 * (cos(p1, z2).mean() + cos(p2, z1).mean()), "ranges from −2 to 6", id="seed-2-minus-2-sum"),
    pytest.param(lambda p1, p2, z1, z2: -2 * (cos(p1, z2).mean() + cos(p2, z1).mean()), "negative and never 0", id="minus-2cos"),
    pytest.param(lambda p1, p2, z1, z2: byol_loss(p1, p2) + byol_loss(z1, z2), "compared the two predictions with each other", id="predictions-with-predictions"),
    pytest.param(lambda p1, p2, z1, z2: byol_loss(p1, z2, "none").sum() + byol_loss(p2, z1, "none").sum(), "mean over the batch in each term", id="sums"),
    pytest.param(lambda p1, p2, z1, z2: ((p1 - z2) ** 2).sum(1).mean() + ((p2 - z1) ** 2).sum(1).mean(), "normalise p and z", id="unnormalised"),
    pytest.param(lambda p1, p2, z1, z2: (1 - cos(p1, z2)).mean() + (1 - cos(p2, z1)).mean(), "half of BYOL's", id="1-minus-cos"),
    pytest.param(lambda p1, p2, z1, z2: torch.stack([byol_loss(p1, z2), byol_loss(p2, z1)]), "return the symmetric loss as one number", id="two-values"),
    pytest.param(lambda p1, p2, z1, z2: symmetric_loss(p1.detach(), p2.detach(), z1, z2), "no gradient reaches the predictions", id="detached"),
]


@pytest.mark.parametrize("fn, phrase", SYMMETRIC_MISTAKES)
def test_symmetric_loss_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_symmetric_loss, fn, phrase, capsys)


def test_symmetric_loss_right_answers(capsys) -> None:
    assert verdict(check_symmetric_loss, symmetric_loss, capsys)[0]
    assert verdict(check_symmetric_loss, lambda p1, p2, z1, z2: byol_loss(p2, z1) + byol_loss(p1, z2), capsys)[0]


# --- stop-gradient ----------------------------------------------------------------------------


def stop_gradient_reference(net, x1, x2):
    p1, p2 = net.online(x1), net.online(x2)
    with torch.no_grad():
        z1, z2 = net.target(x1), net.target(x2)
    return symmetric_loss(p1, p2, z1, z2)


def _no_stop(net, x1, x2):
    return symmetric_loss(net.online(x1), net.online(x2), net.target(x1), net.target(x2))


def _half_stop(net, x1, x2):
    with torch.no_grad():
        z1 = net.target(x1)
    return symmetric_loss(net.online(x1), net.online(x2), z1, net.target(x2))


def _all_no_grad(net, x1, x2):
    with torch.no_grad():
        return stop_gradient_reference(net, x1, x2)


def _inference_mode(net, x1, x2):
    with torch.inference_mode():
        z1, z2 = net.target(x1), net.target(x2)
    return symmetric_loss(net.online(x1), net.online(x2), z1, z2)


def _requires_grad_false(net, x1, x2):
    z1, z2 = net.target(x1), net.target(x2)
    z1.requires_grad_(False)
    return symmetric_loss(net.online(x1), net.online(x2), z1, z2)


def _freezes_target(net, x1, x2):
    for p in net.target_parameters():
        p.requires_grad_(False)
    return _no_stop(net, x1, x2)


def _calls_backward(net, x1, x2):
    loss = stop_gradient_reference(net, x1, x2)
    loss.backward()
    return loss


def _predictor_detached(net, x1, x2):
    z = [net.project(x) for x in (x1, x2)]
    p1, p2 = (net.predictor(zz.detach()) for zz in z)
    with torch.no_grad():
        t1, t2 = net.target(x1), net.target(x2)
    return symmetric_loss(p1, p2, t1, t2)


def _detach_inputs(net, x1, x2):  # detaching the images stops nothing: the target's weights still get gradients
    return _no_stop(net, x1.detach(), x2.detach())


STOP_GRADIENT_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_no_stop, "gradients reach the target network", id="no-stop-gradient"),
    pytest.param(_half_stop, "gradients reach the target network", id="only-z1-stopped"),
    pytest.param(_detach_inputs, "gradients reach the target network", id="detached-inputs"),
    pytest.param(_all_no_grad, "the loss carries no gradient", id="everything-no-grad"),
    pytest.param(_requires_grad_false, "only works on leaf tensors", id="requires-grad-on-output"),
    pytest.param(_freezes_target, "changes the network for good", id="freezes-target"),
    pytest.param(_calls_backward, "already called backward()", id="calls-backward"),
    pytest.param(_predictor_detached, "no gradient reaches the online backbone", id="detached-before-predictor"),
    pytest.param(lambda net, x1, x2: symmetric_loss(net.online(x1), net.online(x2), net.project(x1).detach(), net.project(x2).detach()),
                 "the online network's projections", id="online-targets"),
    pytest.param(lambda net, x1, x2: symmetric_loss(net.project(x1), net.project(x2), *[net.target(x).detach() for x in (x1, x2)]),
                 "skip the predictor", id="no-predictor"),
    pytest.param(lambda net, x1, x2: byol_loss(net.online(x1), net.target(x1).detach()) + byol_loss(net.online(x2), net.target(x2).detach()),
                 "its own view's target", id="same-view"),
    pytest.param(lambda net, x1, x2: stop_gradient_reference(net, x1, x2).item(), "returned a Python float", id="item"),
]


@pytest.mark.parametrize("fn, phrase", STOP_GRADIENT_MISTAKES)
def test_stop_gradient_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_stop_gradient, fn, phrase, capsys)


def test_stop_gradient_right_answers(capsys) -> None:
    assert verdict(check_stop_gradient, stop_gradient_reference, capsys)[0]

    def with_detach(net, x1, x2):
        return symmetric_loss(net.online(x1), net.online(x2), net.target(x1).detach(), net.target(x2).detach())

    assert verdict(check_stop_gradient, with_detach, capsys)[0]
    assert verdict(check_stop_gradient, _inference_mode, capsys)[0]  # inference tensors are fine as constants here
