"""Chapters 4–5's checkers: the EMA update and the training step."""

from __future__ import annotations

import copy

import pytest
import torch

from _exercise_helpers import assert_diagnosis, not_written, verdict
from byol_course.ema import ema_update_
from byol_course.exercises import check_ema, check_train_step, reference_train_step
from byol_course.objective import byol_loss, symmetric_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def _over(pairs_of, update):
    """An EMA written as a loop over (target tensor, online tensor) pairs."""
    @torch.no_grad()
    def fn(target, online, tau):
        for xi, theta in pairs_of(target, online):
            update(xi, theta, tau)
    return fn


def _params(t, o):
    return zip(t.parameters(), o.parameters())


def _floats(t, o):
    return [(a, b) for a, b in zip(t.state_dict().values(), o.state_dict().values()) if a.is_floating_point()]


def ema_reference(target, online, tau):
    """The notebook's solution: parameters and floating-point buffers averaged, integer buffers copied."""
    with torch.no_grad():
        for xi, theta in zip(target.parameters(), online.parameters()):
            xi.mul_(tau).add_(theta, alpha=1 - tau)
        for xi, theta in zip(target.buffers(), online.buffers()):
            if xi.is_floating_point():
                xi.mul_(tau).add_(theta, alpha=1 - tau)
            else:
                xi.copy_(theta)


def _rebinds(target, online, tau):
    for xi, theta in zip(target.parameters(), online.parameters()):
        xi = tau * xi + (1 - tau) * theta  # noqa: F841 — rebinds the name, changes nothing


def _returns_new(target, online, tau):
    new = copy.deepcopy(target)
    ema_reference(new, online, tau)
    return new


def _seed_ema(target, online, tau):  # the seed document's loop: .data, parameters only
    for param_o, param_t in zip(online.parameters(), target.parameters()):
        param_t.data = tau * param_t.data + (1 - tau) * param_o.data


@torch.no_grad()
def _buffers_copied(target, online, tau):
    for xi, theta in zip(target.parameters(), online.parameters()):
        xi.mul_(tau).add_(theta, alpha=1 - tau)
    for xi, theta in zip(target.buffers(), online.buffers()):
        xi.copy_(theta)


@torch.no_grad()
def _all_buffers_averaged(target, online, tau):  # num_batches_tracked is an integer
    for xi, theta in zip([*target.parameters(), *target.buffers()], [*online.parameters(), *online.buffers()]):
        xi.mul_(tau).add_(theta, alpha=1 - tau)


def _no_grad_missing(target, online, tau):
    for xi, theta in zip(target.parameters(), online.parameters()):
        xi.mul_(tau).add_(theta, alpha=1 - tau)


EMA_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_over(_floats, lambda xi, th, tau: xi.copy_((1 - tau) * xi + tau * th)), "you swapped τ and 1 − τ", id="swapped-tau"),
    pytest.param(_over(lambda t, o: _floats(o, t), lambda th, xi, tau: th.copy_(tau * th + (1 - tau) * xi)), "moved the online network towards the target", id="moves-online"),
    pytest.param(_over(lambda t, o: zip(o.parameters(), t.parameters()), lambda a, b, tau: a.mul_(tau).add_(b, alpha=1 - tau)), "moved the online network", id="zip-reversed"),
    pytest.param(_rebinds, "only rebinds a name", id="not-in-place"),
    pytest.param(_returns_new, "returned a new network", id="returns-new"),
    pytest.param(_buffers_copied, "copied the BatchNorm buffers", id="buffers-copied"),
    pytest.param(_all_buffers_averaged, "num_batches_tracked is an integer buffer", id="integer-buffer"),
    pytest.param(_no_grad_missing, "needs torch.no_grad()", id="no-grad-missing"),
    pytest.param(_over(_floats, lambda xi, th, tau: xi.copy_(tau * xi + tau * th)), "are not τ·ξ + (1 − τ)·θ", id="wrong-formula"),
    pytest.param(_over(_floats, lambda xi, th, tau: xi.copy_(0.99 * xi + 0.01 * th)), "as if τ were 0.99, not 0.75", id="ignores-tau"),
]


@pytest.mark.parametrize("fn, phrase", EMA_MISTAKES)
def test_ema_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_ema, fn, phrase, capsys)


def test_ema_right_answers(capsys) -> None:
    assert verdict(check_ema, ema_update_, capsys)[0]  # the package's update
    assert verdict(check_ema, ema_reference, capsys)[0]
    assert verdict(check_ema, _over(_floats, lambda xi, th, tau: xi.lerp_(th, 1 - tau)), capsys)[0]


@pytest.mark.parametrize("fn", [
    pytest.param(_over(_params, lambda xi, th, tau: xi.mul_(tau).add_(th, alpha=1 - tau)), id="params-only"),
    pytest.param(_seed_ema, id="seed-loop"),
])
def test_ema_of_parameters_only_is_the_other_sound_choice(fn, capsys) -> None:
    """DeepMind's, solo-learn's and lightly's EMA averages parameters only: ✓, and the line says whose choice it is."""
    ok, line = verdict(check_ema, fn, capsys)
    assert ok and line.startswith("✓ EMA: ") and "DeepMind's choice" in line and "momentum 0" in line, line


# --- the training step ------------------------------------------------------------------------


def train_step_reference(net, optimizer, images, views, tau):
    """One BYOL step in the paper's order, from the earlier chapters' pieces."""
    x1, x2 = views(images)
    p1, p2 = net.online(x1), net.online(x2)
    with torch.no_grad():
        z1, z2 = net.target(x1), net.target(x2)
    loss = symmetric_loss(p1, p2, z1, z2)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for target, online in zip(net.target_modules(), net.online_modules()):
        ema_update_(target, online, tau)
    return loss.detach()


def _variant(*, zero_grad="before", step=True, backward=True, ema="after", tau_of=lambda tau: tau, loss="symmetric",
             predictions="online", targets="target", views_calls=1, returns=lambda loss: loss.detach(), mode=None):
    """The reference step with one thing changed."""
    def fn(net, optimizer, images, views, tau):
        if mode == "eval":
            net.eval()
        if views_calls == 0:
            x1 = x2 = images
        else:
            x1, x2 = views(images)
            if views_calls == 2:
                _, x2 = views(images)

        def update():
            pairs = list(zip(net.target_modules(), net.online_modules()))
            for target, online in pairs[:1] if ema == "backbone" else pairs:
                if ema == "reversed":
                    ema_update_(online, target, tau)
                elif ema == "params":
                    with torch.no_grad():
                        for xi, theta in zip(target.parameters(), online.parameters()):
                            xi.mul_(tau).add_(theta, alpha=1 - tau)
                else:
                    ema_update_(target, online, tau_of(tau))

        if ema == "first":
            update()
        if ema == "lists":
            update = lambda: ema_update_(net.target_modules(), net.online_modules(), tau)  # noqa: E731
        branch = {"online": net.online, "project": net.project, "net": net}[predictions]
        p1, p2 = branch(x1), branch(x2)
        with torch.no_grad():
            z1, z2 = (net.target(x1), net.target(x2)) if targets == "target" else (net.project(x1), net.project(x2))
        value = {"symmetric": lambda: symmetric_loss(p1, p2, z1, z2),
                 "same view": lambda: byol_loss(p1, z1) + byol_loss(p2, z2),
                 "mean": lambda: symmetric_loss(p1, p2, z1, z2) / 2}[loss]()
        if zero_grad == "before":
            optimizer.zero_grad()
        if backward:
            value.backward()
        if zero_grad == "after backward":
            optimizer.zero_grad()
        if step:
            optimizer.step()
        if ema in ("after", "backbone", "reversed", "params", "lists"):
            update()
        return returns(value)
    return fn


def my_views(images):
    """An earlier exercise, still the stub."""
    raise NotImplementedError


def _calls_unsolved_views(net, optimizer, images, views, tau):
    x1, x2 = my_views(images)  # written, but on top of an exercise that is not
    return train_step_reference(net, optimizer, images, lambda _: (x1, x2), tau)


def _mutates_images(net, optimizer, images, views, tau):
    loss = train_step_reference(net, optimizer, images, views, tau)
    images.zero_()
    return loss


TRAIN_STEP_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(_variant(zero_grad="never"), "gradients of the previous step were added", id="no-zero-grad"),
    pytest.param(_variant(zero_grad="after backward"), "the step applied no gradient", id="zero-grad-after-backward"),
    pytest.param(_variant(backward=False), "the step applied no gradient", id="no-backward"),
    pytest.param(_variant(step=False), "call optimizer.step() after loss.backward()", id="no-step"),
    pytest.param(_variant(ema="never"), "the target did not move", id="no-ema"),
    pytest.param(_variant(ema="first"), "before the optimiser step", id="ema-before-step"),
    pytest.param(_variant(tau_of=lambda tau: 1 - tau), "you passed 1 − tau", id="one-minus-tau"),
    pytest.param(_variant(tau_of=lambda tau: 0.99), "as if τ were 0.99", id="fixed-tau"),
    pytest.param(_variant(ema="reversed"), "moved the online network towards the target", id="ema-reversed"),
    pytest.param(_variant(ema="backbone"), "only the target backbone moved", id="ema-backbone-only"),
    pytest.param(_variant(ema="params"), "BatchNorm running statistics never move", id="ema-params-only"),
    pytest.param(_variant(loss="same view"), "its own view's target", id="same-view-loss"),
    pytest.param(_variant(loss="mean"), "averaged the two loss terms", id="averaged-loss"),
    pytest.param(_variant(predictions="project"), "skip the predictor", id="no-predictor"),
    pytest.param(_variant(targets="online"), "targets come from the online network", id="online-targets"),
    pytest.param(_variant(views_calls=2), "called views(images) 2 times", id="views-twice"),
    pytest.param(_variant(views_calls=0), "got the uint8 images", id="no-views"),
    pytest.param(_variant(mode="eval"), "eval mode", id="eval-mode"),
    pytest.param(_variant(returns=lambda loss: loss.item()), "return loss.detach(), a 0-d tensor", id="returns-item"),
    pytest.param(_variant(returns=lambda loss: loss), "still holds the graph", id="not-detached"),
    pytest.param(_variant(returns=lambda loss: None), "it returned None", id="returns-None"),
    pytest.param(_mutates_images, "changed the uint8 images in place", id="mutates-images"),
    pytest.param(_variant(predictions="net"), "you called net(x), which gives the online backbone's representation", id="net-of-x"),
    pytest.param(_variant(ema="lists"), "takes one module of each, not the lists", id="ema-of-lists"),
    pytest.param(_calls_unsolved_views, "calls my_views(), which is still not written", id="calls-unsolved-exercise"),
]


@pytest.mark.parametrize("fn, phrase", TRAIN_STEP_MISTAKES)
def test_train_step_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_train_step, fn, phrase, capsys)


def test_train_step_right_answers(capsys) -> None:
    assert verdict(check_train_step, train_step_reference, capsys)[0]
    assert verdict(check_train_step, _variant(), capsys)[0]
    assert verdict(check_train_step, reference_train_step, capsys)[0]  # the one notebooks may fall back on


def test_the_package_train_step_passes(capsys) -> None:
    """byol_course.train.train_step takes (net, optimizer, images, views, tau) and passes the checker."""
    import inspect

    from byol_course import train

    assert list(inspect.signature(train.train_step).parameters)[:5] == ["net", "optimizer", "images", "views", "tau"]
    assert verdict(check_train_step, train.train_step, capsys)[0]
