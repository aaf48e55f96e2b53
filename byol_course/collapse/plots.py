"""Chapter 9 — the collapse lab's figures: curves over training (mean and spread over seeds), spectra, maps,
the continuations from a healthy start, and the λ sweep beside the paper's Table 21."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import torch

from .experiments import LAMBDAS
from .report import by_experiment

if TYPE_CHECKING:
    from .runner import LabData

__all__ = ["plot_curves", "plot_spectra", "plot_umaps", "plot_projections", "plot_healthy", "plot_lambda"]

_CURVES = [
    ("loss", "loss"),
    ("embedding_std", "embedding std"),
    ("effective_rank", "effective rank"),
    ("knn_top1", "kNN top-1"),
    ("positive_cosine", "cos(positive pair)"),
    ("negative_cosine", "cos(random pair)"),
]


def plot_curves(results: Sequence[dict[str, Any]]):
    """Small multiples: one panel per metric, one line per experiment (its seeds' mean, their range shaded); epoch 0 = untrained."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 3, figsize=(15, 6.4))
    cmap = plt.get_cmap("tab10")
    for ax, (key, title) in zip(axes.flat, _CURVES):
        for i, (name, runs) in enumerate(by_experiment(results).items()):
            epochs = sorted({h["epoch"] for h in runs[0]["history"] if key in h})
            values = torch.tensor([[next(h[key] for h in r["history"] if h["epoch"] == e) for e in epochs] for r in runs])
            bold = name == "baseline"  # the reference line, drawn on top
            label = runs[0]["label"] + (f" ({len(runs)} seeds)" if len(runs) > 1 else "")
            ax.plot(epochs, values.mean(0), marker="o", ms=2.5, color=cmap(i % 10), label=label, lw=2.6 if bold else 1.4, zorder=3 if bold else 2)
            if len(runs) > 1:
                ax.fill_between(epochs, values.min(0).values, values.max(0).values, color=cmap(i % 10), alpha=0.18, lw=0)
        if key == "embedding_std" and results:
            ax.axhline(1 / math.sqrt(results[0]["proj_dim"]), ls="--", c="gray", lw=1, label="1/√d (healthy)")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles, names = axes[0, 1].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.legend(handles, names, loc="center left", bbox_to_anchor=(0.8, 0.5), fontsize=8, frameon=False)
    return fig


def _first_seeds(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [runs[0] for runs in by_experiment(results).values()]


def plot_spectra(results: Sequence[dict[str, Any]]):
    """Final singular-value spectra of the projections, normalised, on one log plot."""
    from ..visualize import spectrum

    results = _first_seeds(results)
    spectra = {r["label"]: torch.tensor(r["final"]["spectrum"]) for r in results}
    if results:
        spectra["initial network"] = torch.tensor(results[0]["init_spectrum"])
    return spectrum(spectra)


def plot_umaps(results: Sequence[dict[str, Any]], data: LabData | None = None, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None):
    """Side-by-side UMAPs of each run's test features, coloured by class (a collapsed run: a point or a thin curve)."""
    from ..visualize import scatter_panels

    labels = data.test_labels if data is not None else labels
    classes = data.classes if data is not None else classes
    panels = {r["label"]: torch.tensor(r["umap"]) for r in _first_seeds(results) if r.get("umap") is not None}
    return scatter_panels(panels, labels, classes, ncols=min(4, max(1, len(panels))))


def plot_projections(results: Sequence[dict[str, Any]], data: LabData | None = None, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None):
    """Side-by-side: each run's normalised projections on their two main axes, all panels at one scale."""
    from ..visualize import scatter_panels

    labels = data.test_labels if data is not None else labels
    classes = data.classes if data is not None else classes
    panels = {r["label"]: torch.tensor(r["projection_2d"]) for r in _first_seeds(results) if r.get("projection_2d") is not None}
    return scatter_panels(panels, labels, classes, ncols=min(4, max(1, len(panels))), same_scale=True)


def plot_healthy(results: Sequence[dict[str, Any]]):
    """The continuations from a healthy start, step by step: embedding std against 1/√d, rank, cos(random pair), kNN."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    cmap = plt.get_cmap("tab10")
    panels = [("embedding_std", "embedding std"), ("effective_rank", "effective rank"),
              ("negative_cosine", "cos(random pair)"), ("knn_top1", "kNN top-1")]  # fmt: skip
    for ax, (key, title) in zip(axes, panels):
        for i, r in enumerate(results):
            pts = [(h["step"], h[key]) for h in r["history"] if h.get(key) is not None]
            control = r["name"] == "healthy_control"
            ax.plot(*zip(*pts), color="black" if control else cmap(i % 10), lw=2.4 if control else 1.5, label=r["label"],
                    marker="o" if key == "knn_top1" else None, ms=3)  # fmt: skip
        if key == "embedding_std" and results:
            ax.axhline(1 / math.sqrt(results[0]["proj_dim"]), ls="--", c="gray", lw=1, label="1/√d (healthy)")
        ax.set(title=title, xlabel="steps after the healthy start")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7.5)
    fig.tight_layout()
    return fig


def plot_lambda(results: Sequence[dict[str, Any]]):
    """τ = 0 with the predictor's learning rate × λ: our final kNN and embedding std per λ, the paper's Table 21 beside."""
    import matplotlib.pyplot as plt

    groups = by_experiment(results)
    lams = sorted(float(name.rsplit("_", 1)[1]) for name in groups)
    runs = {lam: groups[f"tau_0_lambda_{lam:g}"] for lam in lams}
    x = range(len(lams))
    fig, (ax_knn, ax_std) = plt.subplots(1, 2, figsize=(11, 3.6))
    knn = [[r["final"]["knn_top1"] * 100 for r in runs[lam]] for lam in lams]
    ax_knn.plot(x, [sum(v) / len(v) for v in knn], marker="o", label="this lab: kNN top-1 (ours)")
    ax_knn.plot(x, [LAMBDAS[lam].value for lam in lams], marker="s", ls="--", c="gray",
                label="paper: ImageNet linear top-1 (Table 21)")  # fmt: skip
    ax_knn.set(xticks=list(x), xticklabels=[f"{lam:g}" for lam in lams], xlabel="λ (predictor lr multiplier), τ = 0", ylabel="%")
    ax_knn.legend(fontsize=8)
    std = [sum(r["final"]["embedding_std"] for r in runs[lam]) / len(runs[lam]) for lam in lams]
    ax_std.plot(x, std, marker="o")
    ax_std.axhline(1 / math.sqrt(results[0]["proj_dim"]), ls="--", c="gray", lw=1, label="1/√d (healthy)")
    ax_std.set(xticks=list(x), xticklabels=[f"{lam:g}" for lam in lams], xlabel="λ", title="embedding std at the end")
    ax_std.legend(fontsize=8)
    for ax in (ax_knn, ax_std):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
