"""The embedded default dataset: ten shapes, drawn procedurally, offline, in seconds.

Each 32×32 RGB image shows one of ten upright shapes (the class). What varies independently
of the class (the nuisances): the shape's position and size, its hue and the background's
hue, the background's brightness, how much lighter the shape is, and a little pixel noise.

Why this design (measured; see data/README.md and benchmarks/embedded_design.py): BYOL
learns what the two views of an image share that the augmentations leave intact. Crops move
and rescale the shape; colour jitter shifts brightness, contrast and — in the classroom
recipe, over the whole colour circle — hue. Nuisances the augmentations cannot scramble
competed with shape when we tried them: a rotation (BYOL has no rotation augmentation) and
a shape that is lighter in some images and darker in others (brightness and contrast jitter
keep that order). So the shape is upright and always lighter than its background.

Version 4 (benchmarks/recipe_study.py, issue 13) narrows the three nuisances that survived
both views and were learned before shape: the background's brightness (0.35–0.6: brightness
jitter of ×0.6–1.4 cannot hide the old 3× range of 0.25–0.75), the shape's size (0.6–0.8 of
the half-side, was 0.45–0.85) and its position (75% of the room it has; nothing scrambles the
vertical position — the flip is horizontal and a 60–100% crop moves the shape a little only).

Deterministic from a seed; generated in a few seconds and cached as a `.pt` file of uint8
tensors under the data folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from .atomic import atomic_path

__all__ = ["CLASSES", "generate", "load_embedded", "SPLIT_SIZES"]

CLASSES = ["circle", "square", "triangle", "star", "plus", "ring", "hexagon", "heart", "crescent", "arrow"]
SPLIT_SIZES = {"train": 10_000, "test": 2_000}
VERSION = 4  # bump when the generator changes, so stale caches are not reused (4: narrower background, size, position)


def _polygon_radius(theta: torch.Tensor, n: int) -> torch.Tensor:
    """Boundary radius of a regular n-gon (circumradius 1) in direction theta."""
    sector = 2 * math.pi / n
    a = torch.remainder(theta, sector) - sector / 2
    return math.cos(math.pi / n) / torch.cos(a)


def _shape_mask(cls: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Inside-mask of shape `cls` in its own unit frame (shape spans roughly [-1, 1]²)."""
    r = torch.sqrt(x * x + y * y)
    t = torch.atan2(y, x)
    name = CLASSES[cls]
    if name == "circle":
        return r <= 0.85
    if name == "square":
        return (x.abs() <= 0.72) & (y.abs() <= 0.72)
    if name == "triangle":
        return r <= _polygon_radius(t + math.pi / 2, 3)
    if name == "star":
        sector = 2 * math.pi / 5
        a = (torch.remainder(t + math.pi / 2, sector) - sector / 2).abs() / (sector / 2)  # 0 at tip, 1 at valley
        return r <= 1.0 - 0.55 * a
    if name == "plus":
        return ((x.abs() <= 0.9) & (y.abs() <= 0.3)) | ((y.abs() <= 0.9) & (x.abs() <= 0.3))
    if name == "ring":
        return (r <= 0.9) & (r >= 0.5)
    if name == "hexagon":
        return r <= 0.95 * _polygon_radius(t, 6)
    if name == "heart":
        xs, ys = x * 1.15, -y * 1.15 + 0.25  # classic implicit heart curve, point downwards
        return (xs * xs + ys * ys - 1) ** 3 - xs * xs * ys**3 <= 0
    if name == "crescent":
        return (r <= 0.9) & ((x - 0.4) ** 2 + y**2 > 0.7**2)
    if name == "arrow":
        shaft = (x >= -0.9) & (x <= 0.1) & (y.abs() <= 0.25)
        head = (x >= 0.0) & (x <= 0.9) & (y.abs() <= 0.75 * (0.9 - x))
        return shaft | head
    raise ValueError(f"unknown class {cls}")


def _templates(res: int = 96) -> torch.Tensor:
    """Each class's shape as a float mask (10, 1, res, res) in its unit frame, anti-aliased."""
    fine = 4 * res
    coords = (torch.arange(fine, dtype=torch.float32) + 0.5) / fine * 2 - 1
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    masks = torch.stack([_shape_mask(k, xx, yy).float() for k in range(len(CLASSES))])[:, None]
    return F.avg_pool2d(masks, 4)  # (10, 1, res, res)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV (each (n,), in [0, 1]) -> RGB (n, 3) in [0, 1]."""
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], dim=1)
    return v[:, None] - v[:, None] * s[:, None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def generate(
    n: int,
    seed: int,
    size: int = 32,
    colors: str = "independent",
    polarity: str = "light",
    max_copies: int = 1,
    rotation: float = 0.0,
    scale: tuple[float, float] = (0.6, 0.8),
    background: tuple[float, float] = (0.35, 0.6),
    contrast: tuple[float, float] = (0.25, 0.45),
    saturation: tuple[float, float] = (0.5, 0.6),
    noise: float = 0.03,
    position: float = 0.75,
    classes: tuple[int, ...] | None = None,
    factors: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw n images (n, 3, size, size) uint8 and their labels (n,) int64, balanced over the classes.

    The defaults are the embedded dataset; the other settings are the variants compared in
    data/README.md (benchmarks/embedded_design.py measures them).
    colors: "independent" — shape and background get unrelated random hues; "tint" — they
        share one random hue; "gray" — no colour at all.
    polarity: "light" — the shape is always lighter than the background; "random" — lighter
        or darker, a coin flip per image.
    max_copies: each image shows 1..max_copies copies of its shape.
    rotation: each copy is rotated by a uniform angle in ±rotation degrees (0: upright).
    scale: range of the shape's half-size as a fraction of the image's half-side (divided by
        √copies when there are several).
    background: range of the background's brightness (HSV value).
    contrast: range of how much brighter (or darker) than the background the shape is.
    saturation: (background, shape) HSV saturation.
    noise: std of the Gaussian pixel noise.
    position: how far the shape's centre may move from the image centre, as a fraction of the
        room it has (1: until its bounding circle nearly touches the border; 0: always centred).
    classes: which of CLASSES to draw (default: all ten); labels are then 0..len(classes)-1.
    factors: a dict to fill with each image's nuisances (n,) of its first copy — size, x, y,
        background brightness and hue, shape hue, contrast — to ask what a representation encodes.
    """
    if colors not in ("tint", "independent", "gray") or polarity not in ("light", "random"):
        raise ValueError("colors must be tint, independent or gray; polarity light or random.")
    g = torch.Generator().manual_seed(seed)
    kinds = torch.tensor(classes if classes is not None else range(len(CLASSES)))
    labels = torch.arange(n) % len(kinds)
    labels = labels[torch.randperm(n, generator=g)]
    chroma = 0.0 if colors == "gray" else 1.0

    hue = torch.rand(n, generator=g)  # the image's hue
    bg_hue = hue if colors == "tint" else torch.rand(n, generator=g)
    bg_val = background[0] + (background[1] - background[0]) * torch.rand(n, generator=g)  # background brightness
    bg_rgb = _hsv_to_rgb(bg_hue, torch.full((n,), saturation[0] * chroma), bg_val)  # (n, 3)
    img = bg_rgb[:, :, None, None].expand(n, 3, size, size).clone()  # (n, 3, s, s)

    template = _templates()[kinds[labels]]  # (n, 1, 96, 96): each image's shape
    copies = torch.randint(1, max_copies + 1, (n,), generator=g)
    for c in range(max_copies):
        present = (copies > c).float()[:, None, None, None]
        half = scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=g)
        half = half / copies.float() ** 0.5  # half-size, image units
        cx = (2 * torch.rand(n, generator=g) - 1) * (1 - 0.7 * half) * position
        cy = (2 * torch.rand(n, generator=g) - 1) * (1 - 0.7 * half) * position
        rot = math.radians(rotation) * (2 * torch.rand(n, generator=g) - 1)
        # the shape is 0.25–0.45 lighter than the background (or darker, for random polarity)
        step = contrast[0] + (contrast[1] - contrast[0]) * torch.rand(n, generator=g)
        lighter = torch.rand(n, generator=g) < (1.0 if polarity == "light" else 0.5)
        val = torch.where(lighter, bg_val + step, bg_val - step).clamp(0, 1)
        h = hue if colors == "tint" else torch.rand(n, generator=g)
        if factors is not None and c == 0:
            factors.update(size=half, x=cx, y=cy, background=bg_val, background_hue=bg_hue, shape_hue=h, contrast=step)
        color = _hsv_to_rgb(h, torch.full((n,), saturation[1] * chroma), val)[:, :, None, None]  # (n, 3, 1, 1)
        # image coords -> shape frame: p_shape = R(-rot) (p - c) / half
        cos, sin = torch.cos(rot) / half, torch.sin(rot) / half
        theta = torch.stack(
            [torch.stack([cos, sin, -(cos * cx + sin * cy)], 1), torch.stack([-sin, cos, sin * cx - cos * cy], 1)], 1
        )  # (n, 2, 3)
        grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
        alpha = F.grid_sample(template, grid, mode="bilinear", padding_mode="zeros", align_corners=False) * present
        img = img * (1 - alpha) + color * alpha  # (n, 3, s, s): paint the copy over what is there

    img = img + noise * torch.randn(img.shape, generator=g)  # a little sensor noise
    images = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    return images, labels.long()


def _cache_path(root: Path, split: str, seed: int) -> Path:
    return Path(root) / f"embedded-shapes-v{VERSION}-{split}-seed{seed}.pt"


def load_embedded(split: str, root: str | Path, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The embedded dataset's split as (images uint8 (N, 3, 32, 32), labels int64, class names), cached."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"The embedded dataset has splits {', '.join(SPLIT_SIZES)}, not {split!r}.")
    path = _cache_path(Path(root), split, seed)
    if path.exists():
        blob = torch.load(path, weights_only=True)
        return blob["images"], blob["labels"], list(CLASSES)
    # train and test come from different seeds, so they never share an image
    images, labels = generate(SPLIT_SIZES[split], seed=2 * seed + (split == "test") + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # a reader never sees half a cache file
        torch.save({"images": images, "labels": labels}, tmp)
    return images, labels, list(CLASSES)
