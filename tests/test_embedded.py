"""The embedded default dataset: deterministic, balanced, class-defined, cached atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from byol_course.embedded import CLASSES, SPLIT_SIZES, generate, load_embedded


def test_generate_is_deterministic_and_balanced() -> None:
    """Same seed, same images; another seed, other images; every class equally often."""
    a, ya = generate(200, seed=3)
    b, yb = generate(200, seed=3)
    c, _ = generate(200, seed=4)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert not torch.equal(a, c)
    assert a.shape == (200, 3, 32, 32) and a.dtype == torch.uint8 and ya.dtype == torch.int64
    assert torch.bincount(ya, minlength=10).tolist() == [20] * 10


def test_nuisances_vary_independently_of_the_class() -> None:
    """Mean colour says nothing about the class: per-class mean RGB values stay close to the overall mean."""
    x, y = generate(2000, seed=5)
    mean_rgb = x.float().mean(dim=(2, 3))  # (N, 3)
    overall = mean_rgb.mean(0)
    for k in range(len(CLASSES)):
        assert (mean_rgb[y == k].mean(0) - overall).abs().max() < 12, CLASSES[k]  # of 255


def test_shape_is_lighter_than_background() -> None:
    """The design's contrast rule holds: the shape's HSV value is 0.25–0.45 above the background's.

    Measured on 500 images: the 95th-percentile value beats the corners' median by > 40/255 in all of them.
    """
    x, _ = generate(500, seed=6)
    value = x.float().max(1).values  # HSV value = max over RGB, (N, 32, 32)
    corners = torch.stack([value[:, 0, 0], value[:, 0, -1], value[:, -1, 0], value[:, -1, -1]], 1).median(1).values
    brightest = value.flatten(1).quantile(0.95, dim=1)
    assert (brightest > corners + 40).float().mean() > 0.98


def test_load_caches_atomically_and_splits_are_disjoint(tmp_path: Path) -> None:
    """The first load writes one cache file per split (no temporary left); train and test share no image."""
    tr, ytr, classes = load_embedded("train", tmp_path)
    te, yte, _ = load_embedded("test", tmp_path)
    assert classes == CLASSES
    assert (tr.shape[0], te.shape[0]) == (SPLIT_SIZES["train"], SPLIT_SIZES["test"])
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".pt", ".pt"]
    tr2, _, _ = load_embedded("train", tmp_path)  # from the cache
    assert torch.equal(tr, tr2)
    train_keys = {bytes(img.numpy()) for img in tr[:10000]}
    assert not any(bytes(img.numpy()) in train_keys for img in te)


def test_unknown_split() -> None:
    """A bad split name lists the valid ones."""
    with pytest.raises(ValueError, match="train, test"):
        load_embedded("val", "/tmp")
