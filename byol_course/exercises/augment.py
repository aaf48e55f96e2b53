"""Chapter 1's exercises: solarize, and BYOL's two asymmetric view pipelines."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from .. import augment
from ..augment import AugmentConfig, ViewConfig
from .common import call, checker, close, first_match, tensor_problem

__all__ = ["check_solarize", "check_views"]


@checker("solarize")
def check_solarize(fn: Callable[[torch.Tensor, float], torch.Tensor], variant: int = 0) -> str | None:
    """fn(x, threshold) on float images in [0, 1] must invert every pixel ≥ threshold (v → 1 − v) and keep the rest."""
    g = torch.Generator().manual_seed(variant)
    thresholds = ((0.5, 0.3), (0.5, 0.7), (0.5, 0.25))[variant % 3]
    x = torch.rand(4 + variant, 3, 8, 8 + 2 * variant, generator=g)
    x[0, 0, 0, :4] = torch.tensor([*thresholds, 0.25, 0.75])  # pixels exactly at both thresholds tested below
    for threshold in thresholds:
        given = x.clone()
        out = call(fn, given, threshold)
        if out.problem:
            return out.problem
        if not torch.equal(given, x):
            return "it changed its input tensor in place: return a new tensor (torch.where(...) makes one) and leave x as it was."
        if problem := tensor_problem(out.value, tuple(x.shape), "the solarized image"):
            return problem
        y = out.value.detach().float()
        if close(y, torch.where(x >= threshold, 1 - x, x), atol=1e-6):
            continue
        bright = x >= threshold
        return first_match(y, [
            (lambda: torch.where(x >= threshold, 255 - x, x), "values left [0, 1]: on float images the inverse of v is 1 − v (255 − v is for uint8 images)."),
            (lambda: torch.where(x > threshold, 1 - x, x), "pixels exactly at the threshold must be inverted too: use x >= threshold, not x > threshold."),
            (lambda: torch.where(x < threshold, 1 - x, x), "you inverted the dark pixels: the bright ones, x >= threshold, become 1 − x and the others stay."),
            (lambda: 1 - x, "every pixel was inverted: solarize inverts only the pixels at or above the threshold and keeps the others."),
            (lambda: x, "nothing changed: the pixels at or above the threshold must become 1 − x."),
            (lambda: torch.where(x >= 0.5, 1 - x, x), "your function ignores `threshold` (it always uses 0.5): compare x with the threshold argument."),
        ]) or (
            "the pixels below the threshold changed: solarize keeps them as they are."
            if not close(y[~bright], x[~bright], atol=1e-6)
            else "the pixels at or above the threshold should become 1 − x: torch.where(x >= threshold, 1 - x, x)."
        )
    return None


# --- the two views -------------------------------------------------------------------------

_SIZE = 32  # AugmentConfig().image_size: the paper recipe's views of 32×32 images


def _paper() -> AugmentConfig:
    return AugmentConfig()  # the paper's two pipelines, 32×32 views


_ORDER = ("crop", "jitter", "grayscale", "blur", "solarize")  # make_view's order of ops, and of random draws
_OP_NAMES = {"crop": "crop + flip", "jitter": "colour jitter", "grayscale": "grayscale", "blur": "blur", "solarize": "solarize"}


def _one_view(images: torch.Tensor, view: ViewConfig, cfg: AugmentConfig, g: torch.Generator, skip: str = "",
              normalise: bool = True, order: tuple[str, ...] = _ORDER) -> torch.Tensor:
    """make_view's ops in `order` (make_view's by default), one optionally left out: how the wrong answers below are built."""
    ops = {
        "crop": lambda x: augment.random_resized_crop(x, cfg.image_size, view.crop_scale, view.crop_ratio, view.flip_p, g),
        "jitter": lambda x: augment.color_jitter(x, view.brightness, view.contrast, view.saturation, view.hue, view.jitter_p, g),
        "grayscale": lambda x: augment.grayscale(x, view.grayscale_p, g),
        "blur": lambda x: augment.gaussian_blur(x, view.blur_p, view.blur_sigma, g),
        "solarize": lambda x: augment.solarize(x, view.solarize_p, g),
    }
    x = images.float().div(255)
    for op in order:
        if op != skip:
            x = ops[op](x)
    if not normalise:
        return x
    m = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    s = torch.tensor(cfg.std).view(1, 3, 1, 1)
    return (x - m) / s


def _pair(images: torch.Tensor, seed: int, first: ViewConfig, second: ViewConfig, skip1: str = "", skip2: str = "",
          normalise: bool = True, order: tuple[str, ...] = _ORDER, second_first: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(view 1, view 2) from one generator; second_first draws view 2's random numbers before view 1's."""
    cfg, g = _paper(), torch.Generator().manual_seed(seed)
    if second_first:
        v2 = _one_view(images, second, cfg, g, skip2, normalise, order)
        return _one_view(images, first, cfg, g, skip1, normalise, order), v2
    return (_one_view(images, first, cfg, g, skip1, normalise, order), _one_view(images, second, cfg, g, skip2, normalise, order))


def _swapped(k: int) -> tuple[str, ...]:
    """make_view's order with ops k and k + 1 exchanged."""
    order = list(_ORDER)
    order[k], order[k + 1] = order[k + 1], order[k]
    return tuple(order)


def _test_images(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (12, 3, _SIZE, _SIZE), dtype=torch.uint8, generator=g)
    images[1:4] = images[0]  # four copies of one image: per-sample draws must give them different views
    return images


_NO_BLUR = "there is no Gaussian blur: view 1 is always blurred (p = 1.0) and view 2 with p = 0.1, as in AugmentConfig()."


@checker("views")
def check_views(fn: Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]], variant: int = 0) -> str | None:
    """fn(images, generator) must return BYOL's (view1, view2) of a uint8 batch, as augment.make_views with the paper's recipe."""
    images, seed = _test_images(1 + variant), variant
    B = images.shape[0]
    out = call(fn, images.clone(), torch.Generator().manual_seed(seed))
    if out.problem:
        return out.problem
    if not (isinstance(out.value, (tuple, list)) and len(out.value) == 2):
        return "return the two views as a pair, `return view1, view2`, not " + (
            f"{len(out.value)} values." if isinstance(out.value, (tuple, list)) else "one object."
        )
    v1, v2 = out.value
    for k, v in ((1, v1), (2, v2)):
        if isinstance(v, torch.Tensor) and not v.is_floating_point():
            return f"view {k} is {v.dtype}: views are float tensors (make_view divides by 255 and normalises)."
        if problem := tensor_problem(v, (B, 3, _SIZE, _SIZE), f"view {k}"):
            return problem
    given = images.clone()
    call(fn, given, torch.Generator().manual_seed(seed))
    if not torch.equal(given, images):
        return "it changed the uint8 images in place: convert a copy (images.float() / 255 makes one) and leave the batch as it was."
    v1, v2 = v1.detach(), v2.detach()
    v1cfg, v2cfg = _paper().views()
    ref1, ref2 = augment.make_views(images, _paper(), torch.Generator().manual_seed(seed))
    if close(v1, ref1) and close(v2, ref2):
        return None
    if close(v1, v2):
        return "the two views are identical: make them with the two different pipelines, each drawing its own random parameters from the same generator."
    for k, v in ((1, v1), (2, v2)):
        if all(close(v[0], v[i]) for i in (1, 2, 3)):
            return (f"four copies of one image got the same view {k}: the random parameters were drawn once for the whole batch "
                    "(a torchvision transform called on a batch tensor does that); use the package's per-sample ops.")
    again = call(fn, images.clone(), torch.Generator().manual_seed(seed)).value
    if not (isinstance(again, (tuple, list)) and len(again) == 2 and close(again[0], v1) and close(again[1], v2)):
        return "the same generator seed gave different views: draw every random number from `generator` (pass it to each op), not from torch's global generator."
    first = first_match((v1, v2), [
        (lambda: _pair(images, seed, v2cfg, v1cfg), "the pipelines are swapped: view 1 is the always-blurred, never-solarized one (ViewConfig()), view 2 the other."),
        (lambda: _pair(images, seed, v1cfg, v1cfg), "both views come from view 1's pipeline: view 2 is blurred with p = 0.1 and solarized with p = 0.2 (cfg.view2)."),
        (lambda: _pair(images, seed, v2cfg, v2cfg), "both views come from view 2's pipeline: view 1 is always blurred and never solarized (cfg.view1)."),
        (lambda: _pair(images, seed, v1cfg, v2cfg, skip2="solarize"), "view 2 is never solarized: end its pipeline with augment.solarize(x, p=0.2, generator=generator)."),
        (lambda: _pair(images, seed, v1cfg, v2cfg, skip1="blur", skip2="blur"), _NO_BLUR),
        (lambda: _pair(images, seed, replace(v1cfg, blur_p=0.0), replace(v2cfg, blur_p=0.0)), _NO_BLUR),
        (lambda: _pair(images, seed, v1cfg, v2cfg, normalise=False), "the views are not normalised: finish each with (x − mean) / std, using the config's mean and std."),
        (lambda: _pair(images, seed, v1cfg, v2cfg, second_first=True),
         "you made view 2 before view 1: both are right BYOL views, but the generator's draws go to the other view; make view 1 first."),
        *[(lambda k=k: _pair(images, seed, v1cfg, v2cfg, order=_swapped(k)),
           f"{_OP_NAMES[_ORDER[k + 1]]} comes before {_OP_NAMES[_ORDER[k]]} in your pipelines: apply "
           f"{', '.join(_OP_NAMES[o] for o in _ORDER)}, then normalise, in that order.")
          for k in range(len(_ORDER) - 1)],
    ])
    if first:
        return first
    if v1.abs().max() > 1e3 or v2.abs().max() > 1e3:
        return "your views hold values far outside a normalised image's range: divide the uint8 images by 255 first, then normalise."
    return (
        "your views are the right shape and every image gets its own random draws, but they are not the views make_views draws "
        "from this seed. The checker compares draw for draw, so the order of the random draws matters: crop + flip, colour jitter, "
        "grayscale, blur, solarize, then normalise; all of view 1 (ViewConfig()) before view 2; each op given `generator`."
    )

