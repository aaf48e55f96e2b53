"""Chapters 1–2's checkers: the right answers pass, each known wrong answer gets its own diagnosis."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
import torch.nn as nn
from torchvision import transforms

from _exercise_helpers import assert_diagnosis, not_written, verdict
from byol_course import augment
from byol_course.augment import AugmentConfig, make_view, make_views
from byol_course.exercises import check_projector, check_solarize, check_target, check_views
from byol_course.networks import BYOLNetworks, MLPHead, NetworkConfig

pytestmark = pytest.mark.usefixtures("one_thread")

# --- chapter 1: solarize ------------------------------------------------------------------------


def _solarize_in_place(x, t):
    x[x >= t] = 1 - x[x >= t]
    return x


SOLARIZE_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(lambda x, t: torch.where(x >= t, 255 - x, x), "255 − v is for uint8", id="uint8-inverse"),
    pytest.param(lambda x, t: torch.where(x > t, 1 - x, x), "not x > threshold", id="strict-threshold"),
    pytest.param(lambda x, t: torch.where(x < t, 1 - x, x), "inverted the dark pixels", id="dark-inverted"),
    pytest.param(lambda x, t: 1 - x, "every pixel was inverted", id="inverts-all"),
    pytest.param(lambda x, t: x, "nothing changed", id="identity"),
    pytest.param(lambda x, t: torch.where(x >= 0.5, 1 - x, x), "ignores `threshold`", id="hard-coded-0.5"),
    pytest.param(_solarize_in_place, "changed its input tensor in place", id="in-place"),
    pytest.param(lambda x, t: None, "returned None", id="returns-None"),
    pytest.param(lambda x, t: x >= t, "should be floating point", id="returns-mask"),
    pytest.param(lambda x, t: torch.where(x >= t, 1 - x, x)[0], "should have shape (4, 3, 8, 8)", id="wrong-shape"),
    pytest.param(lambda x, t: torch.where(x >= t, 1 - x, x).clamp(0.1, 0.9), "below the threshold changed", id="clamped"),
]


@pytest.mark.parametrize("fn, phrase", SOLARIZE_MISTAKES)
def test_solarize_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_solarize, fn, phrase, capsys)


def test_solarize_right_answers(capsys) -> None:
    assert verdict(check_solarize, lambda x, t: torch.where(x >= t, 1 - x, x), capsys)[0]
    assert verdict(check_solarize, lambda x, t: augment.solarize(x, p=1.0, threshold=t), capsys)[0]  # the package's op


# --- chapter 1: the two views -------------------------------------------------------------------

PAPER = AugmentConfig()


def _views(first, second, normalise=True):
    def fn(images, g):
        return tuple(make_view(images, v, PAPER.image_size, PAPER.mean if normalise else (0, 0, 0),
                               PAPER.std if normalise else (1, 1, 1), g) for v in (first, second))
    return fn


def _torchvision_batch(images, g):  # the seed's pipeline: one torchvision transform on the batch tensor
    t = transforms.Compose([transforms.RandomResizedCrop(32), transforms.RandomGrayscale(0.2)])
    x = images.float() / 255
    return t(x), t(x)


def _seed_to_tensor(images, g):  # the seed applied ToTensor to a batch
    return transforms.ToTensor()(images), transforms.ToTensor()(images)


def _global_rng(images, g):
    return make_views(images, PAPER, None)


def _no_solarize(images, g):  # composed op by op, with view 2's solarize line forgotten
    v1 = make_view(images, PAPER.view1, 32, PAPER.mean, PAPER.std, g)
    v2 = make_view(images, replace(PAPER.view2, solarize_p=0.0), 32, PAPER.mean, PAPER.std, g)
    return v1, v2


def _view2_first(images, g):  # both pipelines right, drawn in the other order
    v2 = make_view(images, PAPER.view2, 32, PAPER.mean, PAPER.std, g)
    return make_view(images, PAPER.view1, 32, PAPER.mean, PAPER.std, g), v2


def _ops_in_order(order, scale=255.0):
    """Both pipelines composed op by op from the package's per-sample ops, in `order`."""
    from byol_course import augment

    def fn(images, g):
        views = []
        for v in PAPER.views():
            x = images.float() / scale
            for op in order:
                x = {"crop": lambda x: augment.random_resized_crop(x, 32, v.crop_scale, v.crop_ratio, v.flip_p, g),
                     "jitter": lambda x: augment.color_jitter(x, v.brightness, v.contrast, v.saturation, v.hue, v.jitter_p, g),
                     "grayscale": lambda x: augment.grayscale(x, v.grayscale_p, g),
                     "blur": lambda x: augment.gaussian_blur(x, v.blur_p, v.blur_sigma, g),
                     "solarize": lambda x: augment.solarize(x, v.solarize_p, g)}[op](x)
            views.append((x - torch.tensor(PAPER.mean).view(1, 3, 1, 1)) / torch.tensor(PAPER.std).view(1, 3, 1, 1))
        return tuple(views)
    return fn


_PAPER_ORDER = ("crop", "jitter", "grayscale", "blur", "solarize")


def _same_twice(images, g):
    v = make_view(images, PAPER.view1, 32, PAPER.mean, PAPER.std, g)
    return v, v


def _in_place(images, g):
    images[:, 0] = 0
    return make_views(images, PAPER, g)


VIEWS_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(lambda im, g: make_views(im, PAPER, g)[0], "as a pair", id="one-view"),
    pytest.param(lambda im, g: (im, im), "views are float tensors", id="uint8-views"),
    pytest.param(_same_twice, "the two views are identical", id="same-tensor-twice"),
    pytest.param(_torchvision_batch, "drawn once for the whole batch", id="torchvision-on-batch"),
    pytest.param(_seed_to_tensor, "ToTensor() converts one PIL image", id="ToTensor-on-batch"),
    pytest.param(_global_rng, "draw every random number from `generator`", id="global-rng"),
    pytest.param(_view2_first, "you made view 2 before view 1", id="view2-drawn-first"),
    pytest.param(_ops_in_order(("crop", "grayscale", "jitter", "blur", "solarize")), "grayscale comes before colour jitter", id="grayscale-before-jitter"),
    pytest.param(_ops_in_order(("crop", "jitter", "grayscale", "solarize", "blur")), "solarize comes before blur", id="solarize-before-blur"),
    pytest.param(_ops_in_order(("jitter", "crop", "grayscale", "blur", "solarize")), "colour jitter comes before crop + flip", id="jitter-before-crop"),
    pytest.param(_ops_in_order(("blur", "crop", "jitter", "grayscale", "solarize")), "the order of the random draws matters", id="other-order"),
    pytest.param(_views(PAPER.view2, PAPER.view1), "the pipelines are swapped", id="swapped"),
    pytest.param(_views(PAPER.view1, PAPER.view1), "both views come from view 1's pipeline", id="one-pipeline-v1"),
    pytest.param(_views(PAPER.view2, PAPER.view2), "both views come from view 2's pipeline", id="one-pipeline-v2"),
    pytest.param(_no_solarize, "view 2 is never solarized", id="no-solarize"),
    pytest.param(_views(PAPER.view1, PAPER.view2, normalise=False), "not normalised", id="not-normalised"),
    pytest.param(_in_place, "changed the uint8 images in place", id="in-place"),
    pytest.param(lambda im, g: make_views(im, AugmentConfig(image_size=16), g), "should have shape (12, 3, 32, 32)", id="wrong-size"),
    pytest.param(lambda im, g: make_views(im, AugmentConfig(blur=False), g), "no Gaussian blur", id="no-blur"),
]


@pytest.mark.parametrize("fn, phrase", VIEWS_MISTAKES)
def test_views_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_views, fn, phrase, capsys)


def test_views_right_answers(capsys) -> None:
    """The package's make_views, and the pipelines composed op by op from the package's per-sample ops."""
    assert verdict(check_views, lambda im, g: make_views(im, AugmentConfig(), g), capsys)[0]

    def composed(images, g):
        views = []
        for v in AugmentConfig().views():
            x = images.float() / 255
            x = augment.random_resized_crop(x, 32, v.crop_scale, v.crop_ratio, v.flip_p, g)
            x = augment.color_jitter(x, v.brightness, v.contrast, v.saturation, v.hue, v.jitter_p, g)
            x = augment.grayscale(x, v.grayscale_p, g)
            x = augment.gaussian_blur(x, v.blur_p, v.blur_sigma, g)
            x = augment.solarize(x, v.solarize_p, g)
            views.append((x - 0.5) / 0.25)
        return tuple(views)

    assert verdict(check_views, composed, capsys)[0]
    assert verdict(check_views, _ops_in_order(_PAPER_ORDER), capsys)[0]  # the test's own composition, in make_view's order


# --- chapter 2: the projector -------------------------------------------------------------------

PROJECTOR_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o)), "there is no batch norm", id="no-bn"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.BatchNorm2d(h), nn.ReLU(), nn.Linear(h, o)), "BatchNorm2d is for images", id="bn2d"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.LayerNorm(h), nn.ReLU(), nn.Linear(h, o)), "not LayerNorm", id="layernorm"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.BatchNorm1d(h), nn.Linear(h, o)), "the ReLU comes before the batch norm", id="relu-before-bn"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o), nn.ReLU()), "after the last Linear", id="final-relu"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Linear(o, o)), "should have hidden_dim = 32 units", id="hidden-width"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(h, i), nn.BatchNorm1d(i), nn.ReLU(), nn.Linear(i, o)), "should map 12 → 6", id="swapped-dims"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(o), nn.ReLU(), nn.Linear(h, o)), "nn.BatchNorm1d(hidden_dim)", id="bn-width"),
    pytest.param(lambda i, h, o: [nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o)], "returned a list of layers", id="list"),
    pytest.param(lambda i, h, o: nn.Sequential([nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o)]), "not a list", id="sequential-of-list"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.Dropout(), nn.ReLU(), nn.Linear(h, o)), "there is no batch norm", id="dropout-for-bn"),
]


class _Head(nn.Module):
    """A projector written as a class, the way many students write one; `forward_kind` picks its forward pass."""

    def __init__(self, i: int, h: int, o: int, forward_kind: str = "right", bn_first: bool = False) -> None:
        super().__init__()
        if bn_first:  # registered in another order than they are called: still the same head
            self.bn = nn.BatchNorm1d(h)
        self.fc1 = nn.Linear(i, h)
        if not bn_first:
            self.bn = nn.BatchNorm1d(h)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(h, o)
        self.kind = forward_kind

    def forward(self, x):
        import torch.nn.functional as F

        if self.kind == "skip-bn":  # the layers are right, the forward pass forgets one
            return self.fc2(self.act(self.fc1(x)))
        if self.kind == "no-relu":
            return self.fc2(self.bn(self.fc1(x)))
        if self.kind == "functional-relu":
            return self.fc2(F.relu(self.bn(self.fc1(x))))
        return self.fc2(self.act(self.bn(self.fc1(x))))


PROJECTOR_MISTAKES += [
    pytest.param(lambda i, h, o: _Head(i, h, o, "skip-bn"), "skips the batch norm it defines", id="forward-skips-bn"),
    pytest.param(lambda i, h, o: _Head(i, h, o, "no-relu"), "there is no ReLU between the batch norm and the last Linear", id="forward-no-relu"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o), nn.Sigmoid()),
                 "there is a Sigmoid after the last Linear", id="final-sigmoid"),
    pytest.param(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(0.5), nn.Linear(h, o)),
                 "your head also has Dropout", id="dropout"),
]


@pytest.mark.parametrize("fn, phrase", PROJECTOR_MISTAKES)
def test_projector_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_projector, fn, phrase, capsys)


def test_projector_right_answers(capsys) -> None:
    """Judged by what it computes: a ReLU written as F.relu, or layers registered in another order, are right too."""
    assert verdict(check_projector, MLPHead, capsys)[0]  # the package's head
    assert verdict(check_projector, lambda i, h, o: _Head(i, h, o, "functional-relu"), capsys)[0]
    assert verdict(check_projector, lambda i, h, o: _Head(i, h, o, bn_first=True), capsys)[0]
    assert verdict(check_projector, lambda i, h, o: nn.Sequential(
        nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(inplace=True), nn.Linear(h, o)), capsys)[0]


# --- chapter 2: the target ----------------------------------------------------------------------


def _frozen_copy(online, momentum=0.0, eval_mode=False, grad=False):
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(grad)
    for m in target.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.momentum = momentum
    return target.eval() if eval_mode else target


def _some_momentum_zero(online):
    target = _frozen_copy(online, momentum=0.1)
    next(m for m in target.modules() if isinstance(m, nn.BatchNorm1d)).momentum = 0.0  # only the first layer
    return target


def _submodules_in_eval(online: nn.Module) -> nn.Module:
    """A frozen copy whose layers were switched to eval() one by one (the container itself still says train)."""
    target = _frozen_copy(online, momentum=0.0)
    for m in target.children():
        m.eval()
    return target


def target_reference(online: nn.Module) -> nn.Module:
    """What BYOLNetworks does to make its target (networks.BYOLNetworks.__init__)."""
    return _frozen_copy(online)


def _same_architecture(online):
    """A freshly initialised network of the checker's online architecture."""
    return nn.Sequential(*(type(m)(*m.weight.shape[::-1]) if isinstance(m, nn.Linear) else
                           nn.BatchNorm1d(m.num_features) if isinstance(m, nn.BatchNorm1d) else nn.ReLU() for m in online))


def _seed_copy(online):  # the seed: a new network, then copy the parameters (not the buffers)
    target = _same_architecture(online)
    for po, pt in zip(online.parameters(), target.parameters()):
        pt.data.copy_(po.data)
        pt.requires_grad = False
    return target


def _params_only_copy_momentum_0(online):  # parameters copied into a fresh network, BN momentum set to 0
    target = _seed_copy(online)
    for m in target.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.momentum = 0.0
    return target


def _fresh(online):
    return _frozen_copy(_same_architecture(online))


def _froze_online(online):
    for p in online.parameters():
        p.requires_grad_(False)
    return _frozen_copy(online)


def _changed_online(online):
    target = _frozen_copy(online)
    online[0].weight.data.zero_()
    return target


TARGET_MISTAKES = [
    pytest.param(not_written, "not written yet", id="stub"),
    pytest.param(lambda o: o, "returned the online network itself", id="same-object"),
    pytest.param(lambda o: copy.copy(o), "shares tensors", id="shallow-copy"),
    pytest.param(lambda o: nn.Sequential(*o.children()), "shares tensors", id="new-container"),
    pytest.param(lambda o: copy.deepcopy(o).state_dict(), "returned a state dict", id="state-dict"),
    pytest.param(_fresh, "this exercise asks for a copy", id="fresh-init"),
    pytest.param(_params_only_copy_momentum_0, "not the BatchNorm buffers", id="params-only-copy"),
    pytest.param(lambda o: copy.deepcopy(o), "still require gradients", id="not-frozen"),
    pytest.param(lambda o: _frozen_copy(o, eval_mode=True), "eval mode", id="eval-mode"),
    pytest.param(lambda online: _submodules_in_eval(online), "some of the target's layers are in eval mode", id="submodules-eval"),
    pytest.param(_some_momentum_zero, "some of the target's BatchNorm layers have momentum 0", id="bn-momentum-mixed"),
    pytest.param(_froze_online, "froze the online network", id="froze-online"),
    pytest.param(_changed_online, "changed the online network", id="changed-online"),
    pytest.param(lambda o: _frozen_copy(o[:2]), "architecture differs", id="part-only"),
]


@pytest.mark.parametrize("fn, phrase", TARGET_MISTAKES)
def test_target_mistakes(fn, phrase, capsys) -> None:
    assert_diagnosis(check_target, fn, phrase, capsys)


def test_target_right_answer_is_what_byol_networks_builds(capsys) -> None:
    assert verdict(check_target, target_reference, capsys)[0]


@pytest.mark.parametrize("fn, note", [
    pytest.param(lambda o: _frozen_copy(o, momentum=0.1), "choice; the course", id="deepcopy-momentum-kept"),
    pytest.param(_seed_copy, "re-estimated within a few dozen steps", id="seed-parameters-copied"),
])
def test_a_frozen_copy_that_keeps_its_bn_momentum_is_the_other_sound_choice(fn, note, capsys) -> None:
    """DeepMind's and solo-learn's target (frozen, BatchNorm momentum untouched, so its own forward passes keep its
    statistics) is ✓, and the line says whose choice it is — also the seed's copy of the parameters alone."""
    ok, line = verdict(check_target, fn, capsys)
    assert ok and line.startswith("✓ target: ") and "DeepMind's and solo-learn's choice" in line and note in line, line
    net = BYOLNetworks(NetworkConfig(arch="convnet", convnet_width=2, hidden_dim=16, proj_dim=8))
    made = target_reference(net.online_projector)  # the reference agrees with the package's target, flag by flag
    assert [p.requires_grad for p in made.parameters()] == [p.requires_grad for p in net.target_projector.parameters()]
    assert [m.momentum for m in made.modules() if isinstance(m, nn.BatchNorm1d)] == [
        m.momentum for m in net.target_projector.modules() if isinstance(m, nn.BatchNorm1d)]
