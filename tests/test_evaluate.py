"""The measuring instruments: kNN, the scikit-learn linear probe, kNN in a 2-d map, the supervised upper bound."""

from __future__ import annotations

import pytest
import torch

from byol_course.evaluate import knn_accuracy, knn_cross_validated, linear_probe

pytestmark = pytest.mark.usefixtures("one_thread")


def _blobs(n_per_class: int, classes: int, dim: int, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = 4 * torch.randn(classes, dim, generator=g)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return centres[labels] + spread * torch.randn(len(labels), dim, generator=g), labels


def test_linear_probe_separates_blobs_and_is_at_chance_on_random_labels() -> None:
    x, y = _blobs(60, 4, 8, 0.5, seed=0)
    xt, yt = _blobs(30, 4, 8, 0.5, seed=0)
    r = linear_probe(x, y, xt, yt)
    assert r["top1"] == 1.0 and r["C"] in (0.01, 0.1, 1.0, 10.0) and r["val_top1"] == 1.0
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    assert linear_probe(x, shuffled, xt, yt)["top1"] < 0.5  # labels unrelated to the features: near chance (0.25)


def test_linear_probe_is_deterministic() -> None:
    x, y = _blobs(40, 3, 6, 3.0, seed=2)
    assert linear_probe(x, y, x, y, seed=3) == linear_probe(x, y, x, y, seed=3)


def test_knn_accuracy_on_hand_made_points() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([0, 0, 1, 1])
    queries = torch.tensor([[1.0, 0.05], [0.05, 1.0]])
    assert knn_accuracy(bank, labels, queries, torch.tensor([0, 1]), k=2) == 1.0
    assert knn_accuracy(bank, labels, queries, torch.tensor([1, 0]), k=2) == 0.0


def test_knn_in_a_map_tells_separated_from_mixed_classes() -> None:
    """kNN (k = 20, 5-fold) in 2-d: 100% for separated clusters, about chance when the classes are mixed."""
    points, labels = _blobs(50, 5, 2, 0.3, seed=0)
    assert knn_cross_validated(points, labels) == 1.0
    mixed = torch.randn(250, 2, generator=torch.Generator().manual_seed(0))
    assert knn_cross_validated(mixed, labels) < 0.35  # chance is 0.2


def test_supervised_baseline_learns_a_labelled_task_in_its_budget() -> None:
    """The supervised upper bound trains for its time budget and its features separate the classes it saw."""
    from byol_course.augment import AugmentConfig, ViewConfig
    from byol_course.evaluate import extract_features
    from byol_course.supervised import train_supervised

    from _tiny import tiny_config

    cfg = tiny_config(batch_size=32)
    plain = ViewConfig(crop_scale=(0.9, 1.0), jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
    cfg.augment = AugmentConfig(image_size=16, view1=plain, view2=plain, blur=False)
    cfg.optim.name, cfg.optim.base_lr = "adamw", 3e-3
    labels = torch.arange(2).repeat(64)
    images = torch.where(labels[:, None, None, None] == 1, 200, 40).expand(128, 3, 16, 16).to(torch.uint8).contiguous()
    images = (images.int() + torch.randint(-30, 30, images.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 255).to(torch.uint8)
    backbone, record = train_supervised(cfg, images, labels, seconds=3.0, progress=False)
    assert record["steps"] > 10 and 2.0 < record["seconds"] < 8.0
    f = extract_features(backbone, images, cfg.augment)
    assert knn_accuracy(f, labels, f, labels, k=5) == 1.0
    with pytest.raises(ValueError, match="positive time budget"):
        train_supervised(cfg, images, labels, seconds=0, progress=False)


def test_collapse_metrics_from_given_features_match_encoding_again() -> None:
    """Passing the backbone's features skips one encoding and gives the same metrics; Monitor limits them to metric_images."""
    from _tiny import tiny_config

    from byol_course.evaluate import Monitor, collapse_metrics, extract_features
    from byol_course.networks import build_networks

    cfg = tiny_config()
    net = build_networks(cfg.network, 0)
    images = torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    features = extract_features(net.online_backbone, images, cfg.augment)
    again = collapse_metrics(net, images, cfg.augment, seed=3)
    reused = collapse_metrics(net, images, cfg.augment, seed=3, features=features)
    for key in ("embedding_std", "effective_rank", "positive_cosine", "negative_cosine"):
        assert reused[key] == pytest.approx(again[key], rel=1e-4), key
    assert reused["spectrum"] == pytest.approx(again["spectrum"], rel=1e-3, abs=1e-6)

    labels = torch.arange(len(images)) % 3
    limited = Monitor(images, labels, images, labels, cfg.augment, seed=3, metric_images=20).measure(net)[0]
    first_20 = collapse_metrics(net, images[:20], cfg.augment, seed=3)
    assert limited["embedding_std"] == pytest.approx(first_20["embedding_std"], rel=1e-4)
    assert limited["embedding_std"] != pytest.approx(again["embedding_std"], rel=1e-4)  # not all 48
