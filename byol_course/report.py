"""A run from start to finish: pretrain, evaluate, compare with baselines, write the run folder.

Used by the CLI (`demo`, `pretrain`, `evaluate`) and by the notebooks. A run folder holds
checkpoint.pt, config.json, metrics.json and PNG figures (training curves, UMAP).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_write_text
from .checkpoint import load_checkpoint, load_networks
from .config import RunConfig
from .data import Dataset, load_dataset
from .device import hardware, resolve_device
from .evaluate import collapse_metrics, extract_features, knn_accuracy, linear_probe
from .networks import BYOLNetworks, build_networks
from .train import pretrain

__all__ = ["load_train_split", "evaluate_networks", "run_and_report", "evaluate_checkpoint", "format_table"]


def _probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor, seed: int) -> dict[str, float]:
    return {
        "knn_top1": knn_accuracy(train_f, train_y, test_f, test_y),
        "linear_top1": linear_probe(train_f, train_y, test_f, test_y, seed=seed)["top1"],
    }


def evaluate_networks(
    net: BYOLNetworks, cfg: RunConfig, train: Dataset, test: Dataset, features: tuple[torch.Tensor, torch.Tensor] | None = None
) -> dict[str, Any]:
    """kNN and linear probe of the online backbone, plus collapse metrics (fractions in [0, 1]).

    features: the backbone's (train, test) features when the caller already has them.
    """
    if features is None:
        features = (
            extract_features(net.online_backbone, train.images, cfg.augment),
            extract_features(net.online_backbone, test.images, cfg.augment),
        )
    ftr, fte = features
    return {
        **_probe(ftr, train.labels, fte, test.labels, cfg.train.seed),
        **collapse_metrics(net, test.images, cfg.augment, cfg.train.seed),
    }


def format_table(metrics: dict[str, Any]) -> str:
    """The demo's table: kNN and linear probe for raw pixels, random init and BYOL."""
    rows = [(name, metrics["baselines"][key]) for key, name in (("raw_pixels", "raw pixels"), ("random_init", "random-init network"))]
    rows.append(("BYOL (online encoder)", metrics))
    lines = [
        f"{metrics['dataset']} test split, {metrics['arch']}, {metrics['epochs']} epochs, {metrics['hardware']}",
        f"{'features':<24}{'kNN top-1':>11}{'linear top-1':>14}",
    ]
    for name, m in rows:
        lines.append(f"{name:<24}{m['knn_top1']:>11.1%}{m['linear_top1']:>14.1%}")
    lines.append(
        f"collapse check: embedding std {metrics['embedding_std']:.4f} (healthy ≈ 1/√d = {metrics['embedding_std_healthy']:.4f}), "
        f"effective rank {metrics['effective_rank']:.1f}, cos(positive) {metrics['positive_cosine']:.2f}, "
        f"cos(random pair) {metrics['negative_cosine']:.2f}"
    )
    lines.append(f"wall time {metrics['wall_seconds']:.0f} s (pretraining {metrics['pretrain_seconds']:.0f} s)")
    return "\n".join(lines)


def load_train_split(cfg: RunConfig) -> tuple[Dataset, RunConfig]:
    """The run's training split at its image size, and a copy of cfg whose views are normalised by its mean and std."""
    train = load_dataset(cfg.train.dataset, "train", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    mean, std = train.mean_std()
    cfg = RunConfig.from_dict(cfg.to_dict())  # the caller's config stays as it was
    cfg.augment.mean, cfg.augment.std = tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
    return train, cfg


def run_and_report(cfg: RunConfig, out: Path, resume: bool = False, progress: bool = True, baselines: bool = True) -> dict[str, Any]:
    """Pretrain with cfg, evaluate, write metrics.json and figures in out, print the table."""
    from . import visualize

    t0 = time.perf_counter()
    out = Path(out)
    train, cfg = load_train_split(cfg)
    test = load_dataset(cfg.train.dataset, "test", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    device = resolve_device(cfg.train.device)
    print(f"dataset {train.name}: {len(train)} train / {len(test)} test images, {len(train.classes)} classes; device {device}")

    result: dict[str, Any] = {}
    panels: dict[str, torch.Tensor] = {}
    if baselines:
        # raw pixels and the same network at its random initialisation (same seed as the run)
        px_tr, px_te = train.images.flatten(1).float(), test.images.flatten(1).float()
        init = build_networks(cfg.network, cfg.train.seed).to(device)
        ftr = extract_features(init.online_backbone, train.images, cfg.augment)
        fte = extract_features(init.online_backbone, test.images, cfg.augment)
        panels["random-init network"] = fte
        result["baselines"] = {
            "raw_pixels": _probe(px_tr, train.labels, px_te, test.labels, cfg.train.seed),
            "random_init": _probe(ftr, train.labels, fte, test.labels, cfg.train.seed),
        }
    t_train = time.perf_counter()
    net, history = pretrain(cfg, out, resume=resume, train_images=train.images, progress=progress)
    pretrain_seconds = time.perf_counter() - t_train
    features = (
        extract_features(net.online_backbone, train.images, cfg.augment),
        extract_features(net.online_backbone, test.images, cfg.augment),
    )
    metrics = evaluate_networks(net, cfg, train, test, features)
    spectrum = metrics.pop("spectrum")
    result.update(
        {
            "dataset": train.name,
            "arch": cfg.network.arch,
            "epochs": cfg.train.epochs,
            "protocol": "kNN: k=200, T=0.1, cosine; linear: standardised features, weight decay chosen on 20% of train",
            "hardware": hardware(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
            **metrics,
            "pretrain_seconds": pretrain_seconds,
            "wall_seconds": time.perf_counter() - t0,
            "history": history,
        }
    )
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
    visualize.save_figure(visualize.training_curves(history, ("loss",)), out / "training_curves.png")
    visualize.save_figure(visualize.spectrum({"BYOL": torch.tensor(spectrum)}), out / "spectrum.png")
    print("\n" + (format_table(result) if baselines else _short(result)))
    panels["BYOL"] = features[1]  # the test features evaluated above
    fig = visualize.umap_plot(panels, test.labels, test.classes, seed=cfg.train.seed)
    fig.suptitle(f"UMAP of {train.name} test-split features, coloured by class", y=1.02)
    visualize.save_figure(fig, out / "umap.png")
    result["wall_seconds"] = time.perf_counter() - t0
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
    print(f"wrote {out / 'metrics.json'}, {out / 'umap.png'}, {out / 'checkpoint.pt'} (total {result['wall_seconds']:.0f} s)")
    return result


def _short(m: dict[str, Any]) -> str:
    return (
        f"{m['dataset']} test split: kNN top-1 {m['knn_top1']:.1%}, linear top-1 {m['linear_top1']:.1%}; "
        f"embedding std {m['embedding_std']:.4f}, effective rank {m['effective_rank']:.1f}"
    )


def evaluate_checkpoint(checkpoint: Path, dataset: str | None = None, device: str = "auto", out: Path | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint's online encoder; writes metrics.json beside it (or in out)."""
    dev = resolve_device(device)
    state = load_checkpoint(checkpoint, map_location="cpu")
    net, cfg = load_networks(state)
    net = net.to(dev)
    name = dataset or cfg.train.dataset
    size = cfg.augment.image_size
    train = load_dataset(name, "train", seed=cfg.train.seed, image_size=size)
    test = load_dataset(name, "test", seed=cfg.train.seed, image_size=size)
    metrics = evaluate_networks(net, cfg, train, test)
    metrics.pop("spectrum")
    metrics.update({"dataset": name, "checkpoint": str(checkpoint), "epoch": state["epoch"], "hardware": hardware()})
    out = out or Path(checkpoint).parent
    atomic_write_text(out / "eval_metrics.json", json.dumps(metrics, indent=2))
    print(_short(metrics))
    return metrics
