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
    "backbone_shapes",
    "architecture",
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


@torch.no_grad()
def backbone_shapes(backbone: torch.nn.Module, image_size: int = 32) -> list[tuple[str, tuple[int, ...]]]:
    """(layer name, output shape with B for the batch) for each top-level layer of a backbone, by a forward pass of 2 images."""
    layers = backbone.features if hasattr(backbone, "features") else backbone  # the ConvNet keeps its layers in .features
    x = torch.zeros(2, 3, image_size, image_size, device=next(backbone.parameters()).device)
    was_training = backbone.training
    backbone.eval()
    out = []
    for name, layer in layers.named_children():
        if x.ndim == 4 and isinstance(layer, (torch.nn.Linear, torch.nn.Identity)) and name == "fc":
            x = x.flatten(1)  # the ResNet's forward flattens before its (here removed) classifier
            continue
        x = layer(x)
        out.append((type(layer).__name__, ("B", *x.shape[1:])))
    backbone.train(was_training)
    return out


def architecture(net: Any, image_size: int = 32):
    """BYOL's two branches as boxes with their tensor shapes, measured by a forward pass of `net` (a BYOLNetworks).

    Online: view → backbone f_θ → y → projector g_θ → z → predictor q_θ → p; target: the other view →
    f_ξ → g_ξ → z′ under stop-gradient; the loss compares p with z′; the EMA moves ξ towards θ.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    stages = backbone_shapes(net.online_backbone, image_size)
    d_y = net.online_backbone.out_dim
    head = net.online_projector
    hidden, d_z = head[0].out_features, head[-1].out_features
    shape = lambda s: "(" + ", ".join(map(str, s)) + ")"  # noqa: E731
    fig, ax = plt.subplots(figsize=(15, 5.2))
    ax.set_xlim(0, 15)
    ax.set_ylim(0, 5.2)
    ax.axis("off")

    def box(x, y, w, title, sub, color):
        ax.add_patch(FancyBboxPatch((x, y), w, 0.95, boxstyle="round,pad=0.04", fc=color, ec="0.3", lw=1))
        ax.text(x + w / 2, y + 0.62, title, ha="center", va="center", fontsize=9, weight="bold")
        ax.text(x + w / 2, y + 0.28, sub, ha="center", va="center", fontsize=7.5, family="monospace")
        return (x, y, w)

    def arrow(a, b, style="-|>", **kw):
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=12, color=kw.pop("color", "0.25"), **kw))

    skip = ("MaxPool2d", "BatchNorm2d", "ReLU", "AdaptiveAvgPool2d", "Flatten", "Identity")
    convs = [s for kind, s in stages if kind not in skip and len(s) == 4][-4:]  # the conv stages: (B, C, H, W)
    backbone_sub = " → ".join(f"{c}×{h}²" for _, c, h, _ in convs)
    rows = {"online": (3.6, "#dbe9f6"), "target": (0.9, "#f6e3d4")}
    ends = {}
    for branch, (y, color) in rows.items():
        prime = "" if branch == "online" else "′"
        theta = "θ" if branch == "online" else "ξ"
        v = box(0.2, y, 1.5, f"view {'v' if branch == 'online' else 'v′'}", shape(("B", 3, image_size, image_size)), "#eeeeee")
        f = box(2.2, y, 3.4, f"backbone f_{theta}", backbone_sub or net.online_backbone.__class__.__name__, color)
        yb = box(6.0, y, 1.3, f"y{prime}", shape(("B", d_y)), "white")
        g = box(7.7, y, 2.1, f"projector g_{theta}", f"{d_y}→{hidden}→{d_z}", color)
        zb = box(10.2, y, 1.3, f"z{prime}", shape(("B", d_z)), "white")
        for a, b in ((v, f), (f, yb), (yb, g), (g, zb)):
            arrow((a[0] + a[2], y + 0.47), (b[0], y + 0.47))
        ends[branch] = zb
    y = rows["online"][0]
    q = box(11.9, y, 1.6, "predictor q_θ", f"{d_z}→{hidden}→{d_z}", rows["online"][1])
    pb = box(13.8, y, 1.0, "p", shape(("B", d_z)), "white")
    arrow((11.5, y + 0.47), (11.9, y + 0.47))
    arrow((13.5, y + 0.47), (13.8, y + 0.47))
    box(12.3, 2.25, 2.5, "loss ‖p̄ − z̄′‖²", "= 2 − 2·cos(p, z′), + swapped", "#e4f2dc")
    arrow((14.3, y), (13.9, 3.2))
    arrow((11.5, rows["target"][0] + 0.47), (12.6, 2.25), connectionstyle="arc3,rad=0.25")
    ax.text(11.7, 1.25, "stop-gradient", fontsize=8, color="#b04020", style="italic")
    arrow((3.9, 3.6), (3.9, 1.85), style="-|>", linestyle="--", color="#b04020")
    ax.text(4.0, 2.72, "EMA after every step: ξ ← τ·ξ + (1 − τ)·θ", fontsize=8.5, color="#b04020")
    ax.text(0.2, 4.75, "online network θ: trained by the gradient of the loss", fontsize=10, weight="bold", color="#2a5d8f")
    ax.text(0.2, 0.45, "target network ξ: no gradient, a moving average of θ", fontsize=10, weight="bold", color="#a05a2c")
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
