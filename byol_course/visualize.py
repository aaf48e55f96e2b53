"""Plots for the course: augmentation grids, training curves, spectra and UMAP maps.

Every function returns a matplotlib Figure and never calls `plt.show()`, so it works in a
notebook (the figure displays itself) and headless (save it with `save_figure`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .atomic import atomic_path

__all__ = [
    "image_grid",
    "view_pairs",
    "training_curves",
    "spectrum",
    "umap_embed",
    "umap_plot",
    "scatter_panels",
    "save_figure",
]


def _to_hwc(img: torch.Tensor, mean=None, std=None) -> np.ndarray:
    """uint8 (3, H, W) or normalised float (3, H, W) -> (H, W, 3) floats in [0, 1] for imshow."""
    x = img.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    elif mean is not None:
        x = x * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)
    return x.clamp(0, 1).permute(1, 2, 0).numpy()


def image_grid(images: torch.Tensor, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None, per_class: int = 8, title: str | None = None):
    """A grid of uint8 images: one row per class when labels are given, else a square grid."""
    if labels is not None and classes:
        rows = [(labels == c).nonzero().flatten()[:per_class] for c in range(len(classes))]
        fig, axes = plt.subplots(len(rows), per_class, figsize=(per_class * 0.9, len(rows) * 0.95), squeeze=False)
        for r, idx in enumerate(rows):
            for c in range(per_class):
                ax = axes[r, c]
                ax.axis("off")
                if c < len(idx):
                    ax.imshow(_to_hwc(images[idx[c]]), interpolation="nearest")
            axes[r, 0].text(-0.1, 0.5, classes[r], transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=8)
    else:
        n = images.shape[0]
        cols = int(np.ceil(np.sqrt(n)))
        fig, axes = plt.subplots(cols, cols, figsize=(cols, cols), squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < n:
                ax.imshow(_to_hwc(images[i]), interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def view_pairs(images: torch.Tensor, view1: torch.Tensor, view2: torch.Tensor, mean, std, n: int = 8):
    """Three rows: originals, view 1, view 2 — the pairs BYOL learns to agree on."""
    n = min(n, images.shape[0])
    fig, axes = plt.subplots(3, n, figsize=(n * 1.1, 3.5), squeeze=False)
    for i in range(n):
        for r, (row, name) in enumerate(((images, "image"), (view1, "view 1"), (view2, "view 2"))):
            axes[r, i].imshow(_to_hwc(row[i], mean, std), interpolation="nearest")
            axes[r, i].axis("off")
            if i == 0:
                axes[r, 0].text(-0.1, 0.5, name, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def training_curves(history: Sequence[dict[str, Any]], keys: Sequence[str] = ("loss", "knn_top1", "embedding_std"), proj_dim: int | None = None):
    """Small multiples of per-epoch metrics from a run's history; the 1/√d line on embedding std."""
    keys = [k for k in keys if any(k in h for h in history)]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(3.6 * max(1, len(keys)), 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        pts = [(h["epoch"], h[key]) for h in history if key in h]
        ax.plot(*zip(*pts), marker="o", ms=3)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if key == "embedding_std" and proj_dim:
            ax.axhline(1 / np.sqrt(proj_dim), ls="--", c="gray", label="1/√d (healthy)")
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def spectrum(spectra: dict[str, torch.Tensor], log: bool = True):
    """Normalised singular-value spectra of embeddings, one line per run (dimensional collapse shows as a falling tail)."""
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for name, s in spectra.items():
        s = s.detach().cpu().float()
        ax.plot(np.arange(1, len(s) + 1), (s / s.max()).numpy(), label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("singular value index")
    ax.set_ylabel("σ_k / σ_1")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def umap_embed(features: torch.Tensor, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """2-d UMAP of (N, d) features on cosine distance, seeded (N, 2)."""
    import umap  # imported here: numba compiles on first import, a few seconds

    n_neighbors = max(2, min(n_neighbors, features.shape[0] - 1))  # tiny smoke-test sets
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=seed, n_jobs=1)
    return reducer.fit_transform(features.detach().cpu().float().numpy())


def umap_plot(features: torch.Tensor | dict[str, torch.Tensor], labels: torch.Tensor, classes: Sequence[str], seed: int = 0, title: str | None = None):
    """UMAP of features coloured by class; a dict of {name: features} gives side-by-side panels."""
    panels = features if isinstance(features, dict) else {title or "UMAP": features}
    return scatter_panels({name: umap_embed(f, seed) for name, f in panels.items()}, labels, classes)


def scatter_panels(
    points: dict[str, torch.Tensor | np.ndarray], labels: torch.Tensor, classes: Sequence[str], ncols: int | None = None, same_scale: bool = False
):
    """Side-by-side scatter plots of 2-d points (N, 2) per panel, coloured by class.

    same_scale: every panel gets the same square limits (distances comparable across panels).
    """
    ncols = ncols or max(1, len(points))
    nrows = max(1, -(-len(points) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.4 * nrows), squeeze=False)
    y = labels.cpu().numpy()
    cmap = plt.get_cmap("tab10")
    for ax in axes.flat[len(points) :]:
        ax.axis("off")
    for ax, (name, xy) in zip(axes.flat, points.items()):
        xy = np.asarray(xy)
        for c, cname in enumerate(classes):
            m = y == c
            ax.scatter(xy[m, 0], xy[m, 1], s=3, color=cmap(c % 10), label=cname, alpha=0.8, linewidths=0)
        ax.set_title(name)
        if same_scale:
            lim = 1.05 * max(float(np.abs(np.asarray(p)).max()) for p in points.values()) or 1.0
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.grid(alpha=0.3)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    axes.flat[min(len(points), axes.size) - 1].legend(
        markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False
    )
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure as PNG atomically (temporary file, then rename) and close it."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path
