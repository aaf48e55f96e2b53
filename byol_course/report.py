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
from .evaluate import Monitor, collapse_metrics, extract_features, knn_accuracy, knn_cross_validated, linear_probe
from .networks import BYOLNetworks, build_networks
from .supervised import train_supervised
from .train import pretrain

PROTOCOL = (
    "kNN: k=200, T=0.1, cosine, bank = train split; linear: scikit-learn StandardScaler + LogisticRegression, C chosen on "
    "a stratified 20% of train (raw pixels: on their first 256 principal components); UMAP kNN: k=20, 5-fold stratified, in the 2-d cosine UMAP (seeded) of the test split's "
    "online-backbone features; supervised: the same network with labels for BYOL's training time"
)

__all__ = ["load_train_split", "evaluate_networks", "run_and_report", "evaluate_checkpoint", "format_table"]


def _probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor, seed: int) -> dict[str, float]:
    return {
        "knn_top1": knn_accuracy(train_f, train_y, test_f, test_y),
        "linear_top1": linear_probe(train_f, train_y, test_f, test_y, seed=seed)["top1"],
    }


def _pixel_probe(train_px: torch.Tensor, train_y: torch.Tensor, test_px: torch.Tensor, test_y: torch.Tensor, seed: int) -> dict[str, float]:
    """kNN on the raw pixels; the linear probe on their first 256 principal components.

    The probe on all 3,072 pixels of a 32×32 image takes minutes on 2 cores (L-BFGS needs hundreds
    of iterations there); on 256 components it takes seconds and scores the same on the embedded
    data (measured 2026-12-01: 62.5% with all pixels, C = 0.01; 62.5% with 256 components).
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=min(256, *train_px.shape), random_state=seed).fit(train_px.numpy())
    reduce = lambda px: torch.from_numpy(pca.transform(px.numpy())).float()  # noqa: E731
    return {
        "knn_top1": knn_accuracy(train_px, train_y, test_px, test_y),
        "linear_top1": linear_probe(reduce(train_px), train_y, reduce(test_px), test_y, seed=seed)["top1"],
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
    """The demo's table: kNN, linear probe and UMAP-space kNN for the baselines, BYOL and the supervised bound."""
    names = (("raw_pixels", "raw pixels"), ("random_init", "random-init network"))
    rows = [(name, metrics["baselines"][key]) for key, name in names if key in metrics.get("baselines", {})]
    rows.append(("BYOL (online encoder)", metrics))
    if "supervised" in metrics:
        rows.append(("supervised (labels)", metrics["supervised"]))
    lines = [
        f"{metrics['dataset']} test split, {metrics['arch']}, {metrics['epochs']} epochs, {metrics['hardware']}",
        f"{'features':<24}{'kNN top-1':>11}{'linear top-1':>14}{'UMAP kNN':>10}",
    ]
    for name, m in rows:
        umap = f"{m['umap_knn_top1']:>10.1%}" if "umap_knn_top1" in m else f"{'—':>10}"
        lines.append(f"{name:<24}{m['knn_top1']:>11.1%}{m['linear_top1']:>14.1%}{umap}")
    lines.append(
        f"collapse check: embedding std {metrics['embedding_std']:.4f} (healthy ≈ 1/√d = {metrics['embedding_std_healthy']:.4f}), "
        f"effective rank {metrics['effective_rank']:.1f}, cos(positive) {metrics['positive_cosine']:.2f}, "
        f"cos(random pair) {metrics['negative_cosine']:.2f}"
    )
    if "supervised" in metrics:
        sup = metrics["supervised"]
        lines.append(f"supervised: the same network trained with labels for BYOL's {sup['seconds']:.0f} s ({sup['steps']} steps)")
    lines.append(f"wall time {metrics['wall_seconds']:.0f} s (pretraining {metrics['pretrain_seconds']:.0f} s)")
    return "\n".join(lines)


def load_train_split(cfg: RunConfig) -> tuple[Dataset, RunConfig]:
    """The run's training split at its image size, and a copy of cfg whose views are normalised by its mean and std."""
    train = load_dataset(cfg.train.dataset, "train", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    mean, std = train.mean_std()
    cfg = RunConfig.from_dict(cfg.to_dict())  # the caller's config stays as it was
    cfg.augment.mean, cfg.augment.std = tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
    return train, cfg


class _TimedMonitor:
    """pretrain's eval_fn: the Monitor's metrics each watched epoch, and the seconds they took (not training time)."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def __call__(self, net: BYOLNetworks, epoch: int) -> dict[str, Any]:
        t = time.perf_counter()
        metrics = self.monitor(net, epoch)
        return {**metrics, "eval_seconds": time.perf_counter() - t}


def _training_seconds(history: list[dict[str, Any]]) -> float:
    """Wall time spent training (the history's clock, less the per-epoch evaluations'), resumed runs included."""
    if not history:
        return 0.0
    return history[-1]["wall_seconds"] - sum(h.get("eval_seconds", 0.0) for h in history[:-1])


def run_and_report(
    cfg: RunConfig, out: Path, resume: bool = False, progress: bool = True, baselines: bool = True, supervised: bool | None = None
) -> dict[str, Any]:
    """Pretrain with cfg, evaluate, write metrics.json and figures in out, print the table.

    baselines: raw pixels and the random-init network; supervised (default: with the baselines):
    the same network trained with labels for BYOL's training time. Every one gets kNN, the linear
    probe and kNN in its 2-d UMAP map (`umap_knn_top1`: k = 20, 5-fold, on the test split).
    """
    from . import visualize

    supervised = baselines if supervised is None else supervised
    t0 = time.perf_counter()
    out = Path(out)
    train, cfg = load_train_split(cfg)
    test = load_dataset(cfg.train.dataset, "test", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    device = resolve_device(cfg.train.device)
    print(f"dataset {train.name}: {len(train)} train / {len(test)} test images, {len(train.classes)} classes; device {device}")

    result: dict[str, Any] = {}
    panels: dict[str, tuple[torch.Tensor, dict[str, Any]]] = {}  # name -> (test-split features to map, the record to add umap_knn_top1 to)
    if baselines:
        # raw pixels and the same network at its random initialisation (same seed as the run)
        px_tr, px_te = train.images.flatten(1).float(), test.images.flatten(1).float()
        init = build_networks(cfg.network, cfg.train.seed).to(device)
        ftr = extract_features(init.online_backbone, train.images, cfg.augment)
        fte = extract_features(init.online_backbone, test.images, cfg.augment)
        result["baselines"] = {
            "raw_pixels": _pixel_probe(px_tr, train.labels, px_te, test.labels, cfg.train.seed),
            "random_init": _probe(ftr, train.labels, fte, test.labels, cfg.train.seed),
        }
        panels["raw pixels"] = (px_te, result["baselines"]["raw_pixels"])
        panels["random-init network"] = (fte, result["baselines"]["random_init"])
    # what the history records each watched epoch (the curves of chapter 5): kNN on a part of the splits
    monitor = Monitor(train.images[:5000], train.labels[:5000], test.images[:1000], test.labels[:1000], cfg.augment, cfg.train.seed)
    t_train = time.perf_counter()
    net, history = pretrain(cfg, out, resume=resume, train_images=train.images, progress=progress, eval_fn=_TimedMonitor(monitor))
    pretrain_seconds = time.perf_counter() - t_train
    features = (
        extract_features(net.online_backbone, train.images, cfg.augment),
        extract_features(net.online_backbone, test.images, cfg.augment),
    )
    metrics = evaluate_networks(net, cfg, train, test, features)
    spectrum = metrics.pop("spectrum")
    panels["BYOL"] = (features[1], result)
    if supervised:
        budget = _training_seconds(history)  # BYOL's own training time, resumed runs included
        backbone, record = train_supervised(cfg, train.images, train.labels, seconds=budget, progress=progress)
        sup_tr = extract_features(backbone, train.images, cfg.augment)
        sup_te = extract_features(backbone, test.images, cfg.augment)
        metrics["supervised"] = {**_probe(sup_tr, train.labels, sup_te, test.labels, cfg.train.seed), **record}
        panels["supervised (labels)"] = (sup_te, metrics["supervised"])
    result.update(
        {
            "dataset": train.name,
            "arch": cfg.network.arch,
            "epochs": cfg.train.epochs,
            "protocol": PROTOCOL,
            "hardware": hardware(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d"),
            **metrics,
            "pretrain_seconds": pretrain_seconds,
            "training_seconds": _training_seconds(history),
            "wall_seconds": time.perf_counter() - t0,
            "history": history,
        }
    )
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
    proj_dim = cfg.network.proj_dim
    visualize.save_figure(visualize.training_curves(history, ("loss", "knn_top1", "embedding_std"), proj_dim), out / "training_curves.png")
    visualize.save_figure(visualize.spectrum({"BYOL": torch.tensor(spectrum)}), out / "spectrum.png")

    # the pictures, and how well the classes separate in them
    titled = {}
    for name, (f, record) in panels.items():
        xy = visualize.umap_embed(f, seed=cfg.train.seed)  # (N, 2)
        record["umap_knn_top1"] = knn_cross_validated(xy, test.labels, k=20, folds=5, seed=cfg.train.seed)
        titled[f"{name}: UMAP kNN {record['umap_knn_top1']:.0%}"] = xy
    fig = visualize.scatter_panels(titled, test.labels, test.classes)
    fig.suptitle(f"UMAP of {train.name} test-split features, coloured by class", y=1.02)
    visualize.save_figure(fig, out / "umap.png")
    result["wall_seconds"] = time.perf_counter() - t0
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2))
    print("\n" + (format_table(result) if baselines else _short(result)))
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
