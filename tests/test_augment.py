"""Tests of byol_course.augment: per-sample randomness, determinism, BYOL's two view pipelines
(Grill et al. 2020, Table 6), and each batched op against a hand computation or torchvision."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from byol_course.augment import (
    AugmentConfig,
    ViewConfig,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    color_jitter,
    gaussian_blur,
    grayscale,
    make_view,
    make_views,
    random_resized_crop,
    solarize,
)

LUMA = (0.299, 0.587, 0.114)


pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def uint8_images(b: int, h: int = 32, w: int | None = None, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (b, 3, h, w or h), generator=gen(seed), dtype=torch.uint8)


def float_images(b: int, h: int = 8, w: int | None = None, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w or h, generator=gen(seed))


def binomial_ok(count: int, n: int, p: float) -> bool:
    """count within ±3σ of the Binomial(n, p) mean."""
    mu, sigma = n * p, math.sqrt(n * p * (1 - p))
    return abs(count - mu) <= 3 * sigma


def changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) bool: which samples differ anywhere."""
    return (a != b).flatten(1).any(dim=1)


def luma(x: torch.Tensor) -> torch.Tensor:
    return LUMA[0] * x[:, 0] + LUMA[1] * x[:, 1] + LUMA[2] * x[:, 2]


# --- per-sample randomness and determinism -------------------------------------------------------


def pairwise_all_differ(v: torch.Tensor) -> bool:
    flat = v.flatten(1)
    for i in range(len(flat)):
        for j in range(i + 1, len(flat)):
            if torch.equal(flat[i], flat[j]):
                return False
    return True


def test_identical_images_in_a_batch_get_different_views():
    """16 copies of one image get 16 pairwise-different views in each pipeline: parameters are drawn
    per sample, not once per batch (guards the batch-tensor transform bug, pytorch/vision #2929)."""
    img = uint8_images(1, 32, seed=3)
    batch = img.expand(16, -1, -1, -1).contiguous()
    x1, x2 = make_views(batch, AugmentConfig(), gen(0))
    assert pairwise_all_differ(x1)
    assert pairwise_all_differ(x2)


def test_random_resized_crop_alone_is_per_sample():
    """The crop boxes themselves differ across identical images of a batch (vision #2929, #8484)."""
    x = float_images(1, 32, seed=4).expand(16, -1, -1, -1).contiguous()
    out = random_resized_crop(x, 16, flip_p=0.0, generator=gen(1))
    assert pairwise_all_differ(out)


def test_color_jitter_factors_are_per_sample():
    """Colour jitter with p = 1 on identical images gives different colours per sample."""
    x = float_images(1, 8, seed=5).expand(16, -1, -1, -1).contiguous()
    out = color_jitter(x, 0.4, 0.4, 0.2, 0.1, p=1.0, generator=gen(2))
    assert pairwise_all_differ(out)


def test_gaussian_blur_sigma_is_per_sample():
    """Blur with p = 1 on identical images draws a sigma per image: the 16 outputs pairwise differ."""
    x = float_images(1, 16, seed=6).expand(16, -1, -1, -1).contiguous()
    out = gaussian_blur(x, 1.0, sigma=(0.5, 2.0), generator=gen(3))
    assert pairwise_all_differ(out)


def test_the_two_views_of_one_image_differ():
    """View 1 and view 2 of the same batch are different tensors (not one pipeline applied twice alike)."""
    x1, x2 = make_views(uint8_images(4), AugmentConfig(), gen(0))
    assert changed(x1, x2).all()


def test_fixed_generator_reproduces_views_and_other_seeds_differ():
    """torch.Generator().manual_seed(0) twice gives bit-identical views; seed 1 gives different ones."""
    imgs = uint8_images(6, 32, seed=1)
    cfg = AugmentConfig()
    a1, a2 = make_views(imgs, cfg, gen(0))
    b1, b2 = make_views(imgs, cfg, gen(0))
    c1, c2 = make_views(imgs, cfg, gen(1))
    assert torch.equal(a1, b1) and torch.equal(a2, b2)
    assert not torch.equal(a1, c1) and not torch.equal(a2, c2)


# --- the two pipelines (Table 6) --------------------------------------------------------------------


def test_default_view_configs_follow_byol_table6():
    """View 1 always blurs and never solarizes; view 2 blurs with p = 0.1 and solarizes with p = 0.2;
    everything else is shared (crop 0.08–1, flip 0.5, jitter 0.4/0.4/0.2/0.1 with p 0.8, gray 0.2)."""
    cfg = AugmentConfig()
    v1, v2 = cfg.views()
    assert (v1.blur_p, v1.solarize_p) == (1.0, 0.0)
    assert (v2.blur_p, v2.solarize_p) == (0.1, 0.2)
    for v in (v1, v2):
        assert v.crop_scale == (0.08, 1.0)
        assert v.crop_ratio == pytest.approx((3 / 4, 4 / 3))
        assert v.flip_p == 0.5
        assert (v.jitter_p, v.brightness, v.contrast, v.saturation, v.hue) == (0.8, 0.4, 0.4, 0.2, 0.1)
        assert v.grayscale_p == 0.2
        assert v.blur_sigma == (0.1, 2.0)


def test_blur_false_switches_blur_off_in_both_views_only():
    """AugmentConfig(blur=False).views() has blur_p = 0 in both views and keeps solarization."""
    cfg = AugmentConfig(blur=False)
    v1, v2 = cfg.views()
    assert v1.blur_p == 0.0 and v2.blur_p == 0.0
    assert v1.solarize_p == 0.0 and v2.solarize_p == 0.2
    assert cfg.view1.blur_p == 1.0  # the stored configs are not mutated


def test_make_views_uses_view1_then_view2_configs():
    """make_views feeds view1's config to the first view and view2's to the second: a solarize-only
    view2 and an identity view1 give exactly the expected tensors."""
    ident = ViewConfig(crop_scale=(1, 1), crop_ratio=(1, 1), flip_p=0, jitter_p=0, grayscale_p=0, blur_p=0, solarize_p=0)
    sol = ViewConfig(crop_scale=(1, 1), crop_ratio=(1, 1), flip_p=0, jitter_p=0, grayscale_p=0, blur_p=0, solarize_p=1)
    cfg = AugmentConfig(image_size=16, view1=ident, view2=sol, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))
    imgs = uint8_images(3, 16, seed=7)
    x = imgs.float() / 255
    m = torch.tensor(cfg.mean).view(1, 3, 1, 1)
    s = torch.tensor(cfg.std).view(1, 3, 1, 1)
    x1, x2 = make_views(imgs, cfg, gen(0))
    torch.testing.assert_close(x1, (x - m) / s, atol=1e-5, rtol=0)
    torch.testing.assert_close(x2, (torch.where(x >= 0.5, 1 - x, x) - m) / s, atol=1e-5, rtol=0)


def test_view1_never_solarizes_inside_make_view():
    """A view-1 pipeline with everything but solarization disabled leaves every image unchanged."""
    cfg = AugmentConfig(image_size=8)
    v = ViewConfig(crop_scale=(1, 1), crop_ratio=(1, 1), flip_p=0, jitter_p=0, grayscale_p=0, blur_p=0)
    assert v.solarize_p == AugmentConfig().view1.solarize_p == 0.0
    imgs = uint8_images(200, 8, seed=8)
    out = make_view(imgs, v, 8, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), gen(0))
    torch.testing.assert_close(out, imgs.float() / 255, atol=1e-6, rtol=0)


N_STAT = 4000


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_gaussian_blur_probability(p):
    """gaussian_blur(p) changes a Binomial(N, p) number of images (±3σ); p = 1 all, p = 0 none."""
    x = float_images(N_STAT, 8, seed=9)
    n = changed(gaussian_blur(x, p, sigma=(1.0, 2.0), generator=gen(1)), x).sum().item()
    assert binomial_ok(n, N_STAT, p), n
    assert changed(gaussian_blur(x[:200], 1.0, sigma=(1.0, 2.0), generator=gen(2)), x[:200]).all()
    assert torch.equal(gaussian_blur(x[:200], 0.0, generator=gen(3)), x[:200])


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_solarize_probability(p):
    """solarize(p) inverts a Binomial(N, p) number of images (±3σ); p = 0 none."""
    x = float_images(N_STAT, 4, seed=10)
    out = solarize(x, p, generator=gen(4))
    n = changed(out, x).sum().item()
    assert binomial_ok(n, N_STAT, p), n
    assert torch.equal(solarize(x, 0.0, generator=gen(5)), x)


def test_solarize_inverts_exactly_the_pixels_at_or_above_threshold():
    """Solarized images map x ≥ 0.5 to 1 − x and leave x < 0.5 alone."""
    x = torch.tensor([0.0, 0.25, 0.4999, 0.5, 0.75, 1.0]).view(1, 1, 1, 6).expand(1, 3, 1, 6)
    out = solarize(x, 1.0, generator=gen(0))
    torch.testing.assert_close(out[0, 0, 0], torch.tensor([0.0, 0.25, 0.4999, 0.5, 0.25, 0.0]))


def test_blur_is_a_normalised_symmetric_smoothing():
    """A blurred constant image stays constant; a blurred delta spreads symmetrically and keeps its mass."""
    const = torch.full((2, 3, 16, 16), 0.3)
    torch.testing.assert_close(gaussian_blur(const, 1.0, generator=gen(0)), const)
    delta = torch.zeros(1, 3, 21, 21)
    delta[..., 10, 10] = 1.0
    out = gaussian_blur(delta, 1.0, sigma=(1.0, 1.0), generator=gen(0))
    assert out[0, 0, 10, 10] < 1.0
    torch.testing.assert_close(out, out.flip(-1))
    torch.testing.assert_close(out, out.transpose(-1, -2))
    assert out[0, 0].sum().item() == pytest.approx(1.0, abs=1e-5)


def test_grayscale_probability_and_luma():
    """grayscale(p = 0.2) makes a Binomial(N, 0.2) count of images with 3 equal channels (±3σ),
    equal to the ITU-R 601 luma of the original."""
    x = float_images(N_STAT, 4, seed=11)
    out = grayscale(x, 0.2, generator=gen(6))
    gray = (out[:, 0] == out[:, 1]).flatten(1).all(1) & (out[:, 1] == out[:, 2]).flatten(1).all(1)
    assert binomial_ok(gray.sum().item(), N_STAT, 0.2), gray.sum().item()
    torch.testing.assert_close(out[gray, 0], luma(x[gray]), atol=1e-6, rtol=0)
    assert torch.equal(out[~gray], x[~gray])


def test_grayscale_rate_inside_full_view():
    """In a full default view, about 20% of colour images come out gray (jitter alone never
    equalises the channels), so the pipeline applies grayscale with p = 0.2."""
    n = 2000
    imgs = uint8_images(n, 8, seed=12)
    v = ViewConfig(blur_p=0.0)
    out = make_view(imgs, v, 8, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), gen(7))
    gray = ((out[:, 0] - out[:, 1]).abs().flatten(1).amax(1) < 1e-6) & (
        (out[:, 1] - out[:, 2]).abs().flatten(1).amax(1) < 1e-6
    )
    assert binomial_ok(gray.sum().item(), n, 0.2), gray.sum().item()


# --- geometry -----------------------------------------------------------------------------------


def test_random_resized_crop_output_shape():
    """Any (B, C, H, W) float input becomes (B, C, size, size) of the same dtype."""
    x = float_images(5, 20, 36, seed=13)
    out = random_resized_crop(x, 24, generator=gen(0))
    assert out.shape == (5, 3, 24, 24) and out.dtype == x.dtype


def test_identity_crop_without_flip_is_the_input():
    """scale = ratio = (1, 1), flip_p = 0, size = H: the whole image, sampled at pixel centres."""
    x = float_images(4, 16, seed=14)
    out = random_resized_crop(x, 16, scale=(1, 1), ratio=(1, 1), flip_p=0.0, generator=gen(0))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_identity_crop_with_flip_is_the_mirror_image():
    """flip_p = 1 with an identity crop equals torch.flip(x, [-1]) (horizontal, not vertical)."""
    x = float_images(4, 16, seed=15)
    out = random_resized_crop(x, 16, scale=(1, 1), ratio=(1, 1), flip_p=1.0, generator=gen(0))
    torch.testing.assert_close(out, torch.flip(x, dims=[-1]), atol=1e-5, rtol=0)


def test_flip_probability_half():
    """flip_p = 0.5 flips a Binomial(N, 0.5) number of (non-symmetric) images."""
    n = 2000
    x = float_images(n, 4, seed=16)
    out = random_resized_crop(x, 4, scale=(1, 1), ratio=(1, 1), flip_p=0.5, generator=gen(1))
    flipped = (out - torch.flip(x, dims=[-1])).abs().flatten(1).amax(1) < 1e-5
    same = (out - x).abs().flatten(1).amax(1) < 1e-5
    assert (flipped ^ same).all()
    assert binomial_ok(flipped.sum().item(), n, 0.5)


def test_crop_is_an_integer_window_of_the_input():
    """A quarter-area square crop resized to its own size is exactly some 8×8 window of a 16×16
    input (torchvision's integer boxes), at varying positions across the batch."""
    x = float_images(12, 16, seed=17)
    out = random_resized_crop(x, 8, scale=(0.25, 0.25), ratio=(1, 1), flip_p=0.0, generator=gen(2))
    positions = set()
    for i in range(len(x)):
        hits = [
            (top, left)
            for top in range(9)
            for left in range(9)
            if torch.allclose(out[i], x[i, :, top : top + 8, left : left + 8], atol=1e-5)
        ]
        assert hits, f"sample {i} is not an 8x8 window"
        positions.add(hits[0])
    assert len(positions) > 1


def test_crop_falls_back_to_whole_image_when_no_box_fits():
    """A square box cannot fit a 4×16 image at full area: the whole image is used (no crash)."""
    x = float_images(3, 4, 16, seed=18)
    out = random_resized_crop(x, 8, scale=(1, 1), ratio=(1, 1), flip_p=0.0, generator=gen(0))
    ref = torch.nn.functional.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


# --- colour -------------------------------------------------------------------------------------


def test_brightness_factor_one_is_identity_and_matches_torchvision():
    """Brightness factor 1 changes nothing; other factors match torchvision's adjust_brightness."""
    x = float_images(4, 8, seed=19)
    torch.testing.assert_close(adjust_brightness(x, torch.ones(4)), x, atol=0, rtol=0)
    f = torch.tensor([0.6, 0.9, 1.2, 1.4])
    ref = torch.stack([TF.adjust_brightness(xi, fi.item()) for xi, fi in zip(x, f)])
    torch.testing.assert_close(adjust_brightness(x, f), ref, atol=1e-6, rtol=0)


def test_contrast_matches_torchvision_and_zero_gives_mean_gray():
    """adjust_contrast matches torchvision per sample (max |Δ| 2e-5 measured); factor 0 gives the image's mean luma everywhere."""
    x = float_images(4, 8, seed=20)
    f = torch.tensor([0.6, 1.0, 1.2, 1.4])
    ref = torch.stack([TF.adjust_contrast(xi, fi.item()) for xi, fi in zip(x, f)])
    torch.testing.assert_close(adjust_contrast(x, f), ref, atol=1e-4, rtol=0)  # tv's red luma is 0.2989
    flat = adjust_contrast(x, torch.zeros(4))
    mean = luma(x).mean(dim=(1, 2))
    torch.testing.assert_close(flat, mean.view(4, 1, 1, 1).expand_as(x), atol=1e-6, rtol=0)


def test_saturation_zero_gives_grayscale_and_matches_torchvision():
    """Saturation 0 gives the luma on all channels; factor 1 is identity; others match torchvision (max |Δ| 2e-5 measured)."""
    x = float_images(4, 8, seed=21)
    g = adjust_saturation(x, torch.zeros(4))
    torch.testing.assert_close(g[:, 0], luma(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(g[:, 1], g[:, 0], atol=0, rtol=0)
    torch.testing.assert_close(g[:, 2], g[:, 0], atol=0, rtol=0)
    torch.testing.assert_close(adjust_saturation(x, torch.ones(4)), x, atol=1e-6, rtol=0)
    f = torch.tensor([0.8, 0.9, 1.1, 1.2])
    ref = torch.stack([TF.adjust_saturation(xi, fi.item()) for xi, fi in zip(x, f)])
    torch.testing.assert_close(adjust_saturation(x, f), ref, atol=1e-4, rtol=0)  # tv's red luma is 0.2989


def test_hue_shift_zero_and_full_turn_are_identity():
    """adjust_hue with shift 0 (or a full turn) is the identity."""
    x = float_images(4, 8, seed=22)
    torch.testing.assert_close(adjust_hue(x, torch.zeros(4)), x, atol=1e-5, rtol=0)
    torch.testing.assert_close(adjust_hue(x, torch.ones(4)), x, atol=1e-4, rtol=0)


def test_hue_half_turn_maps_red_towards_cyan():
    """A half-turn hue shift sends a reddish colour to a cyan one (G, B > R)."""
    red = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1).expand(1, 3, 2, 2).contiguous()
    out = adjust_hue(red, torch.tensor([0.5]))[0, :, 0, 0]
    r, g, b = out.tolist()
    assert g > r + 0.3 and b > r + 0.3, out


def test_hue_shift_preserves_luma_and_is_invertible_on_low_chroma_images():
    """A YIQ rotation keeps the luma Y and shifting by h then −h restores the image (no clamping
    on muted colours); catches a non-rotation colour matrix."""
    x = 0.5 + 0.1 * (float_images(4, 8, seed=23) * 2 - 1)
    h = torch.tensor([0.1, -0.07, 0.03, 0.25])
    y = adjust_hue(x, h)
    torch.testing.assert_close(luma(y), luma(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(adjust_hue(y, -h), x, atol=1e-5, rtol=0)
    assert changed(y, x).all()


def smooth_images(b: int, seed: int) -> torch.Tensor:
    """Natural-ish images: smooth, mid-saturation colours (bilinear upsampling of 4×4 noise)."""
    coarse = torch.rand(b, 3, 4, 4, generator=gen(seed)) * 2 - 1
    return (0.5 + 0.25 * torch.nn.functional.interpolate(coarse, size=16, mode="bilinear")).clamp(0, 1)


HUES = [-0.1, -0.05, -0.02, 0.02, 0.05, 0.1]


def hsv_hue(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """HSV hue in turns and HSV saturation of an RGB batch (B, 3, H, W), as torchvision defines them."""
    r, g, b = x.unbind(1)
    maxc, argmax = x.max(dim=1)
    minc = x.min(dim=1).values
    delta = (maxc - minc).clamp_min(1e-12)
    h = torch.where(argmax == 0, ((g - b) / delta) % 6, torch.where(argmax == 1, (b - r) / delta + 2, (r - g) / delta + 4))
    return h / 6, (maxc - minc) / maxc.clamp_min(1e-12)


def test_hue_tracks_torchvision_up_to_sign():
    """YIQ hue rotation vs torchvision's HSV adjust_hue for |h| ≤ 0.1, best of ±h. Measured on these smooth images at |h| = 0.1: RGB mean |Δ| 0.033,
    max |Δ| 0.27 (the YIQ rotation keeps luma, HSV keeps value); the HSV hue of saturated pixels
    moves by |h| within 8% (median), spread 0.027 turns — a radians/degrees slip would fail."""
    x = smooth_images(32, seed=24)
    hue0, sat0 = hsv_hue(x)
    mask = sat0 > 0.2
    assert mask.sum() > 1000
    for h in HUES:
        ours = adjust_hue(x, torch.full((32,), h))
        errs = []
        for s in (h, -h):
            tv = torch.stack([TF.adjust_hue(xi, s) for xi in x])
            errs.append(((ours - tv).abs().mean().item(), (ours - tv).abs().max().item()))
        mean_err, max_err = min(errs)
        assert mean_err <= 0.05, (h, errs)
        assert max_err <= 0.35, (h, errs)
        disp = ((hsv_hue(ours)[0] - hue0 + 0.5) % 1 - 0.5)[mask]  # signed hue change in turns
        assert abs(disp.median().abs().item() - abs(h)) <= 0.15 * abs(h), (h, disp.median().item())
        assert disp.std().item() <= 0.4 * abs(h) + 0.005, (h, disp.std().item())


def test_hue_direction_matches_torchvision():
    """A positive shift moves HSV hue forwards (red → yellow) as torchvision's adjust_hue does.
    (Guards a sign slip this package once had: the YIQ rotation turned red towards magenta.)"""
    red = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1)
    tr, tg, tb = TF.adjust_hue(red[0], 0.05).flatten().tolist()
    assert tg > tb  # torchvision: towards yellow
    r, g, b = adjust_hue(red, torch.tensor([0.05])).flatten().tolist()
    assert g > b, (r, g, b)
    x = smooth_images(32, seed=24)
    hue0, sat0 = hsv_hue(x)
    for h in HUES:
        ours = adjust_hue(x, torch.full((32,), h))
        disp = ((hsv_hue(ours)[0] - hue0 + 0.5) % 1 - 0.5)[sat0 > 0.2]
        assert disp.median().item() * h > 0, h
        same = torch.stack([TF.adjust_hue(xi, h) for xi in x])
        mirrored = torch.stack([TF.adjust_hue(xi, -h) for xi in x])
        assert (ours - same).abs().mean() < (ours - mirrored).abs().mean(), h


def test_color_jitter_p_zero_is_identity_and_p_one_changes_every_image():
    """color_jitter(p = 0) returns the input; with p = 1 every image is modified."""
    x = float_images(50, 8, seed=25)
    assert torch.equal(color_jitter(x, 0.4, 0.4, 0.2, 0.1, p=0.0, generator=gen(0)), x)
    assert changed(color_jitter(x, 0.4, 0.4, 0.2, 0.1, p=1.0, generator=gen(0)), x).all()


def test_color_jitter_probability():
    """color_jitter(p = 0.8) modifies a Binomial(N, 0.8) number of images."""
    n = 2000
    x = float_images(n, 4, seed=26)
    out = color_jitter(x, 0.4, 0.4, 0.2, 0.1, p=0.8, generator=gen(1))
    assert binomial_ok(changed(out, x).sum().item(), n, 0.8)


# --- make_view contract ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.int8])
def test_make_view_rejects_non_uint8(dtype):
    """Float or other integer inputs raise TypeError (a float batch in [0, 1] would be divided by 255 again)."""
    imgs = uint8_images(2, 8).to(dtype)
    with pytest.raises(TypeError, match="uint8"):
        make_view(imgs, ViewConfig(), 8, (0.5,) * 3, (0.25,) * 3, gen(0))


def test_make_view_output_dtype_shape_finite():
    """make_view gives float32 (B, 3, S, S), finite, whatever the input size."""
    imgs = uint8_images(3, 20, 28, seed=27)
    out = make_view(imgs, ViewConfig(), 12, (0.5,) * 3, (0.25,) * 3, gen(0))
    assert out.dtype == torch.float32
    assert out.shape == (3, 3, 12, 12)
    assert torch.isfinite(out).all()


def _manual_pipeline(images: torch.Tensor, v: ViewConfig, size: int, g: torch.Generator) -> list[torch.Tensor]:
    x = images.float() / 255
    outs = [x]
    x = random_resized_crop(x, size, v.crop_scale, v.crop_ratio, v.flip_p, g)
    outs.append(x)
    x = color_jitter(x, v.brightness, v.contrast, v.saturation, v.hue, v.jitter_p, g)
    outs.append(x)
    x = grayscale(x, v.grayscale_p, g)
    outs.append(x)
    x = gaussian_blur(x, v.blur_p, v.blur_sigma, g)
    outs.append(x)
    x = solarize(x, v.solarize_p, g)
    outs.append(x)
    return outs


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    data=st.data(),
    b=st.integers(1, 6),
    h=st.integers(8, 40),
    w=st.integers(8, 40),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_any_uint8_batch_gives_valid_views(data, b, h, w, seed):
    """Any uint8 batch (B 1–6, H, W 8–40, any content) gives finite float32 (B, 3, 32, 32) views within
    the normalised range of [0, 1] pixels, and every op keeps pixels in [0, 1] before normalisation."""
    content = data.draw(
        st.one_of(
            arrays(np.uint8, (b, 3, h, w), elements=st.integers(0, 255)),
            st.integers(0, 255).map(lambda v: np.full((b, 3, h, w), v, dtype=np.uint8)),
            st.just(np.random.default_rng(seed).integers(0, 256, (b, 3, h, w), dtype=np.uint8)),
        )
    )
    imgs = torch.from_numpy(content)
    cfg = AugmentConfig()
    x1, x2 = make_views(imgs, cfg, gen(seed))
    lo, hi = (0 - 0.5) / 0.25, (1 - 0.5) / 0.25
    for v in (x1, x2):
        assert v.dtype == torch.float32
        assert v.shape == (b, 3, 32, 32)
        assert torch.isfinite(v).all()
        assert v.min().item() >= lo - 1e-5 and v.max().item() <= hi + 1e-5
    # the individual ops, in the pipeline's order (view 2 with higher p's to exercise every op)
    for view in (cfg.view1, dataclasses.replace(cfg.view2, blur_p=1.0, solarize_p=0.5, grayscale_p=0.5)):
        for stage in _manual_pipeline(imgs, view, 32, gen(seed)):
            assert torch.isfinite(stage).all()
            assert stage.min().item() >= -1e-6 and stage.max().item() <= 1 + 1e-6
    # the clamping colour ops stay exactly in [0, 1], even with extreme factors
    x = imgs.float() / 255
    big = torch.full((b,), 3.0)
    for out in (
        adjust_brightness(x, big),
        adjust_contrast(x, big),
        adjust_saturation(x, big),
        adjust_hue(x, torch.full((b,), 0.37)),
    ):
        assert out.min().item() >= 0.0 and out.max().item() <= 1.0
