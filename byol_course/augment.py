"""Chapter 1 — BYOL's two asymmetric view pipelines, as per-sample batched tensor ops.

BYOL (Grill et al. 2020, Appendix B, Table 6) makes two views of every image with two
*different* pipelines. Both: random resized crop (area 0.08–1), horizontal flip (p = 0.5),
colour jitter (brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1, applied with p = 0.8
in a random order), grayscale (p = 0.2). View 1 is always blurred and never solarized;
view 2 is blurred with p = 0.1 and solarized with p = 0.2.

One deviation from the paper, named: the colour jitter follows torchvision's `ColorJitter`, not
the paper. Appendix B says brightness, contrast, saturation and hue "are shifted by a uniformly
random offset", and DeepMind's code (byol/utils/augmentations.py) adds an offset in [−0.4, 0.4] to
brightness, scales each channel around its own mean for contrast, scales HSV saturation and
shifts HSV hue. Here brightness is multiplied by a factor in [0.6, 1.4], contrast blends the image
with its mean gray level, saturation blends it with its grayscale version (torchvision's rules),
and hue rotates the colour plane in YIQ (see `adjust_hue`). The ranges, probabilities and the
random order per image are the paper's (Table 6).

Why not torchvision's `transforms.RandomResizedCrop(...)(batch)`? Applied to a batch tensor,
a torchvision random transform draws ONE set of parameters for the whole batch, so every
image gets the same crop (pytorch/vision #2929, #8484) — the seed document's bug. Here each
op draws its random parameters per sample, as a tensor of shape (B,), and applies them
with masks and batched maths, so the whole batch is augmented at once on CPU or GPU. All
randomness comes from one `torch.Generator`, so a fixed generator gives the same views.

Input: uint8 images (B, 3, H, W). Output: float views (B, 3, S, S), normalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

__all__ = [
    "ViewConfig",
    "AugmentConfig",
    "random_resized_crop",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_saturation",
    "adjust_hue",
    "color_jitter",
    "grayscale",
    "gaussian_blur",
    "solarize",
    "make_view",
    "make_views",
    "normalize",
    "classroom_augment",
]

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 luma weights, as torchvision's rgb_to_grayscale


@dataclass
class ViewConfig:
    """One view pipeline. Defaults: BYOL's view 1 (Grill et al. 2020, Table 6)."""

    crop_scale: tuple[float, float] = (0.08, 1.0)  # fraction of the image area
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)  # aspect ratio range
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 1.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0


@dataclass
class AugmentConfig:
    """Both views plus the output size and normalisation."""

    image_size: int = 32
    view1: ViewConfig = field(default_factory=ViewConfig)
    view2: ViewConfig = field(default_factory=lambda: ViewConfig(blur_p=0.1, solarize_p=0.2))
    blur: bool = True  # CIFAR-scale recipes drop blur (solo-learn, lightly): set False there
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    def views(self) -> tuple[ViewConfig, ViewConfig]:
        """The two view configs, with blur switched off when `blur` is False."""
        if self.blur:
            return self.view1, self.view2
        return replace(self.view1, blur_p=0.0), replace(self.view2, blur_p=0.0)


def _uniform(n: int, low: float, high: float, g: torch.Generator | None, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g, device=device)


def _coin(n: int, p: float, g: torch.Generator | None, device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) < p


def _bcast(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


# --- geometry -----------------------------------------------------------------------------


def random_resized_crop(
    x: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Crop a random box per sample (torchvision's sampling rule), flip it with p, resize to size.

    x: float (B, C, H, W). Like torchvision, try 10 (area, log-ratio) draws per sample and
    keep the first box that fits; samples with none get the whole image. The crop and the
    flip are one affine map per sample, applied with a single bilinear `grid_sample`.
    """
    B, _, H, W = x.shape
    dev = x.device
    tries = 10
    area = H * W * _uniform(B * tries, *scale, generator, dev).view(B, tries)
    log_r = _uniform(B * tries, math.log(ratio[0]), math.log(ratio[1]), generator, dev)
    r = torch.exp(log_r).view(B, tries)
    w = torch.sqrt(area * r).round()  # (B, tries)
    h = torch.sqrt(area / r).round()
    ok = (w > 0) & (h > 0) & (w <= W) & (h <= H)
    first = torch.argmax(ok.int(), dim=1)  # first valid try (0 if none is valid)
    any_ok = ok.any(dim=1)
    w = torch.where(any_ok, w.gather(1, first[:, None]).squeeze(1), torch.full_like(w[:, 0], W))
    h = torch.where(any_ok, h.gather(1, first[:, None]).squeeze(1), torch.full_like(h[:, 0], H))
    # top-left corner uniform over the valid integer positions, as torchvision
    left = torch.floor(torch.rand(B, generator=generator, device=dev) * (W - w + 1))
    top = torch.floor(torch.rand(B, generator=generator, device=dev) * (H - h + 1))
    flip = _coin(B, flip_p, generator, dev)

    # affine map from output grid [-1, 1] to input coordinates [-1, 1] (align_corners=False)
    sx = w / W
    sy = h / H
    cx = (2 * left + w) / W - 1
    cy = (2 * top + h) / H - 1
    theta = torch.zeros(B, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0] = torch.where(flip, -sx, sx)
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = sy
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, [B, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# --- colour ------------------------------------------------------------------------------


def _gray(x: torch.Tensor) -> torch.Tensor:
    """Luma of an RGB batch: (B, 3, H, W) -> (B, 1, H, W)."""
    r, g, b = x.unbind(dim=1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Multiply by a per-sample factor (B,), as torchvision's adjust_brightness."""
    return (x * _bcast(factor)).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its mean gray level by a per-sample factor (B,)."""
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _bcast(factor) * (x - mean)).clamp(0, 1)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its grayscale version by a per-sample factor (B,)."""
    gray = _gray(x)
    return (gray + _bcast(factor) * (x - gray)).clamp(0, 1)


# RGB <-> YIQ. A hue shift is a rotation of the (I, Q) chroma plane; this avoids the slow
# RGB -> HSV -> RGB round trip. It turns colours the same way as torchvision's HSV hue shift
# but keeps luma (Y) where HSV keeps the value (max channel): at a shift of 0.1 the two
# differ by ~0.06 per pixel on average — a different but equally valid hue jitter.
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by a per-sample shift (B,) in turns (0.1 = 36°), as a YIQ rotation."""
    angle = -2 * math.pi * shift  # minus: with these YIQ axes, +shift turns red towards yellow (as torchvision)
    cos, sin = torch.cos(angle), torch.sin(angle)
    B = x.shape[0]
    rot = torch.zeros(B, 3, 3, device=x.device, dtype=x.dtype)  # rotation in the (I, Q) plane
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2] = cos, -sin
    rot[:, 2, 1], rot[:, 2, 2] = sin, cos
    to_yiq = _RGB2YIQ.to(x.device, x.dtype)
    to_rgb = _YIQ2RGB.to(x.device, x.dtype)
    m = to_rgb @ rot @ to_yiq  # (B, 3, 3): one colour matrix per image
    out = torch.einsum("bij,bjhw->bihw", m, x)
    return out.clamp(0, 1)


def color_jitter(
    x: torch.Tensor,
    brightness: float,
    contrast: float,
    saturation: float,
    hue: float,
    p: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """With probability p per sample, jitter brightness, contrast, saturation, hue in a random order.

    As torchvision's ColorJitter, factors are uniform in [1 − s, 1 + s] (hue in [−h, h]) and
    the four ops run in a random order — drawn per sample here. Samples not selected pass
    through unchanged. (BYOL's appendix and DeepMind's code shift brightness by an offset
    instead of a factor; the module's docstring names each difference.)
    """
    B, dev = x.shape[0], x.device
    apply = _coin(B, p, generator, dev)
    factors = [
        _uniform(B, max(0.0, 1 - brightness), 1 + brightness, generator, dev),
        _uniform(B, max(0.0, 1 - contrast), 1 + contrast, generator, dev),
        _uniform(B, max(0.0, 1 - saturation), 1 + saturation, generator, dev),
        _uniform(B, -hue, hue, generator, dev),
    ]
    ops = [adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue]
    order = torch.argsort(torch.rand(B, 4, generator=generator, device=dev), dim=1)  # (B, 4)
    out = x
    for position in range(4):
        for k, op in enumerate(ops):
            chosen = apply & (order[:, position] == k)
            if chosen.any():
                out = torch.where(_bcast(chosen), op(out, factors[k]), out)
    return out


def grayscale(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """With probability p per sample, replace the image by its luma on all three channels."""
    chosen = _coin(x.shape[0], p, generator, x.device)
    return torch.where(_bcast(chosen), _gray(x).expand_as(x), x)


def gaussian_blur(
    x: torch.Tensor,
    p: float,
    sigma: tuple[float, float] = (0.1, 2.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """With probability p per sample, blur with a Gaussian of per-sample sigma.

    Kernel size is ~10% of the image side (23 px at 224 in the paper), at least 3, odd.
    Separable: one grouped conv over rows and one over columns, a kernel per image.
    """
    B, C, H, W = x.shape
    dev = x.device
    chosen = _coin(B, p, generator, dev)
    s = _uniform(B, *sigma, generator, dev)
    idx = chosen.nonzero().squeeze(1)
    if idx.numel() == 0:
        return x
    k = max(3, int(0.1 * H) // 2 * 2 + 1)
    half = k // 2
    t = torch.arange(-half, half + 1, device=dev, dtype=x.dtype)
    kern = torch.exp(-(t[None, :] ** 2) / (2 * s[idx, None].to(x.dtype) ** 2))  # (b, k)
    kern = kern / kern.sum(dim=1, keepdim=True)
    b = idx.numel()
    sub = x[idx].reshape(1, b * C, H, W)
    wk = kern.repeat_interleave(C, dim=0)  # (b*C, k)
    sub = F.pad(sub, (half, half, half, half), mode="reflect")
    sub = F.conv2d(sub, wk.view(b * C, 1, 1, k), groups=b * C)
    sub = F.conv2d(sub, wk.view(b * C, 1, k, 1), groups=b * C)
    out = x.clone()
    out[idx] = sub.view(b, C, H, W)
    return out


def solarize(x: torch.Tensor, p: float, generator: torch.Generator | None = None, threshold: float = 0.5) -> torch.Tensor:
    """With probability p per sample, invert every pixel at or above threshold (x -> 1 - x)."""
    chosen = _coin(x.shape[0], p, generator, x.device)
    solar = torch.where(x >= threshold, 1 - x, x)
    return torch.where(_bcast(chosen), solar, x)


# --- pipelines ---------------------------------------------------------------------------


def make_view(
    images: torch.Tensor,
    view: ViewConfig,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One view of a uint8 batch (B, 3, H, W): crop+flip, jitter, grayscale, blur, solarize, normalise."""
    if images.dtype != torch.uint8:
        raise TypeError(f"make_view expects uint8 images, got {images.dtype}; pass the dataset tensor as it is.")
    x = images.float().div_(255)  # (B, 3, H, W) in [0, 1]
    x = random_resized_crop(x, size, view.crop_scale, view.crop_ratio, view.flip_p, generator)  # (B, 3, S, S)
    x = color_jitter(x, view.brightness, view.contrast, view.saturation, view.hue, view.jitter_p, generator)
    x = grayscale(x, view.grayscale_p, generator)
    x = gaussian_blur(x, view.blur_p, view.blur_sigma, generator)
    x = solarize(x, view.solarize_p, generator)
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def make_views(
    images: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """BYOL's two views of the same uint8 batch, from the two *different* pipelines."""
    v1, v2 = cfg.views()
    x1 = make_view(images, v1, cfg.image_size, cfg.mean, cfg.std, generator)
    x2 = make_view(images, v2, cfg.image_size, cfg.mean, cfg.std, generator)
    return x1, x2


def normalize(images: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float, normalised like the views, resized to cfg.image_size (for evaluation)."""
    x = images.float().div_(255)
    if x.shape[-1] != cfg.image_size or x.shape[-2] != cfg.image_size:
        x = F.interpolate(x, size=(cfg.image_size, cfg.image_size), mode="bilinear", antialias=True, align_corners=False)
    m = torch.tensor(cfg.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(cfg.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def classroom_augment() -> AugmentConfig:
    """The classroom recipe's views (measured choices: data/README.md, benchmarks/embedded_design.py).

    Crops of 60–100% of the area (benchmarks/recipe_study.py: the embedded shapes fill the middle
    of a 32×32 image, and smaller crops often miss the shape — kNN 71% at 25–100%, 79% at 40–100%,
    83% at 60–100%; 8% crops lose it entirely); hue jitter 0.5, the whole colour circle (with the paper's 0.1 the image's hue survives into both views and is
    learned instead of shape); no blur, as CIFAR-scale recipes (solo-learn, lightly).
    """
    view = dict(crop_scale=(0.6, 1.0), brightness=0.4, contrast=0.4, saturation=0.2, hue=0.5)
    return AugmentConfig(
        view1=ViewConfig(**view, blur_p=1.0, solarize_p=0.0),
        view2=ViewConfig(**view, blur_p=0.1, solarize_p=0.2),
        blur=False,
    )
