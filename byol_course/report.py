"""A run from start to finish: pretrain, evaluate, compare with baselines, write the run folder.

Used by the CLI (`demo`, `pretrain`, `evaluate`) and by the notebooks. A run folder holds
checkpoint.pt, config.json, metrics.json and PNG figures (training curves, UMAP).
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from .augment import make_views, normalize
from .data import Dataset, load_dataset
from .evaluate import (
    effective_rank,
    embedding_std,
    extract_features,
    knn_accuracy,
    linear_probe,
    pair_cosines,
    singular_values,
)
from .networks import BYOLNetworks
from .train import RunConfig, _atomic_write_text, load_checkpoint, load_networks, pretrain, resolve_device

__all__ = ["load_train_split", "evaluate_networks", "run_and_report", "evaluate_checkpoint", "format_table", "hardware"]


def hardware() -> str:
    """A short description of the machine: GPU name or CPU model and core count."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads"


def _probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor, seed: int) -> dict[str, float]:
    return {
        "knn_top1": knn_accuracy(train_f, train_y, test_f, test_y),
        "linear_top1": linear_probe(train_f, train_y, test_f, test_y, seed=seed)["top1"],
    }


@torch.no_grad()
def collapse_metrics(net: BYOLNetworks, images: torch.Tensor, cfg: RunConfig, seed: int = 0, max_images: int = 2000) -> dict[str, Any]:
    """Embedding std, effective rank, spectrum and pair cosines of the online projections."""
    device = next(net.parameters()).device
    x = images[:max_images].to(device)
    net.eval()
    g = torch.Generator(device=device).manual_seed(seed)
    v1, v2 = make_views(x, cfg.augment, g)
    z1, z2 = net.project(v1).float().cpu(), net.project(v2).float().cpu()  # (N, d) each
    z = net.project(normalize(x, cfg.augment)).float().cpu()
    net.train()
    s = singular_values(z)
    return {
        "embedding_std": embedding_std(z),
        "embedding_std_healthy": 1 / z.shape[1] ** 0.5,
        "effective_rank": effective_rank(z),
        **pair_cosines(z1, z2, seed),
        "spectrum": s.tolist(),
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
    return {**_probe(ftr, train.labels, fte, test.labels, cfg.train.seed), **collapse_metrics(net, test.images, cfg, cfg.train.seed)}


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


def load_train_split(cfg: RunConfig) -> Dataset:
    """The run's training split at its image size; sets cfg.augment's normalisation from it (in place)."""
    train = load_dataset(cfg.train.dataset, "train", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    mean, std = train.mean_std()
    cfg.augment.mean, cfg.augment.std = tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
    return train


def run_and_report(cfg: RunConfig, out: Path, resume: bool = False, progress: bool = True, baselines: bool = True) -> dict[str, Any]:
    """Pretrain with cfg, evaluate, write metrics.json and figures in out, print the table."""
    from . import visualize

    t0 = time.perf_counter()
    out = Path(out)
    train = load_train_split(cfg)
    test = load_dataset(cfg.train.dataset, "test", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    device = resolve_device(cfg.train.device)
    print(f"dataset {train.name}: {len(train)} train / {len(test)} test images, {len(train.classes)} classes; device {device}")

    result: dict[str, Any] = {}
    panels: dict[str, torch.Tensor] = {}
    if baselines:
        # raw pixels and the same network at its random initialisation (same seed as the run)
        px_tr, px_te = train.images.flatten(1).float(), test.images.flatten(1).float()
        torch.manual_seed(cfg.train.seed)
        init = BYOLNetworks(cfg.network).to(device)
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
    _atomic_write_text(json.dumps(result, indent=2), out / "metrics.json")
    visualize.save_figure(visualize.training_curves(history, ("loss",)), out / "training_curves.png")
    visualize.save_figure(visualize.spectrum({"BYOL": torch.tensor(spectrum)}), out / "spectrum.png")
    print("\n" + (format_table(result) if baselines else _short(result)))
    panels["BYOL"] = features[1]  # the test features evaluated above
    fig = visualize.umap_plot(panels, test.labels, test.classes, seed=cfg.train.seed)
    fig.suptitle(f"UMAP of {train.name} test-split features, coloured by class", y=1.02)
    visualize.save_figure(fig, out / "umap.png")
    result["wall_seconds"] = time.perf_counter() - t0
    _atomic_write_text(json.dumps(result, indent=2), out / "metrics.json")
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
    _atomic_write_text(json.dumps(metrics, indent=2), out / "eval_metrics.json")
    print(_short(metrics))
    return metrics
