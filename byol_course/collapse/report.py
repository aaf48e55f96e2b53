"""Chapter 9 — reading the collapse lab: a verdict per run, the table beside the paper's numbers, the figures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

from ..atomic import atomic_write_text
from .experiments import EXPERIMENTS

if TYPE_CHECKING:
    from .runner import LabData

__all__ = ["verdict", "results_table", "plot_curves", "plot_spectra", "plot_umaps", "plot_projections", "write_report"]

def verdict(result: dict[str, Any]) -> str:
    """'collapsed', 'partial collapse' or 'healthy', from the final embedding std and random-pair cosine.

    Collapsed: std below a quarter of 1/√d *and* two random images' projections nearly parallel
    (cos > 0.9): every image lands at almost the same point. Partial: std below half of 1/√d —
    the projections occupy a narrow cone. (An untrained network is "collapsed" by this test too:
    its projections all point the same way; training is what spreads them out.)
    """
    f = result["final"]
    healthy = 1 / math.sqrt(result["proj_dim"])
    if f["embedding_std"] < 0.25 * healthy and f["negative_cosine"] > 0.9:
        return "collapsed"
    if f["embedding_std"] < 0.5 * healthy:
        return "partial collapse"
    return "healthy"


def results_table(results: Sequence[dict[str, Any]], markdown: bool = True) -> str:
    """One row per run: final metrics, verdict, and the paper's number for the same change."""
    head = [
        "experiment", "loss", "std (1/√d)", "eff. rank", "cos pos", "cos rand", "kNN (init)", "linear (init)", "verdict", "published", "source",
    ]
    rows = []
    for r in results:
        f, last = r["final"], r["history"][-1]
        exp = EXPERIMENTS.get(r["name"])
        rows.append(
            [
                r["label"],
                f"{last['loss']:.3f}",
                f"{f['embedding_std']:.4f} ({f['embedding_std_healthy']:.4f})",
                f"{f['effective_rank']:.1f}",
                f"{f['positive_cosine']:.2f}",
                f"{f['negative_cosine']:.2f}",
                f"{f['knn_top1']:.1%} ({r['history'][0]['knn_top1']:.1%})",
                f"{f['linear_top1']:.1%}" + (f" ({r['init_linear_top1']:.1%})" if "init_linear_top1" in r else ""),
                verdict(r),
                exp.paper if exp else "—",
                exp.source if exp else "your own combination",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *rows])


_CURVES = [
    ("loss", "loss"),
    ("embedding_std", "embedding std"),
    ("effective_rank", "effective rank"),
    ("knn_top1", "kNN top-1"),
    ("positive_cosine", "cos(positive pair)"),
    ("negative_cosine", "cos(random pair)"),
]


def plot_curves(results: Sequence[dict[str, Any]]):
    """Small multiples: one panel per metric, one line per run (epoch 0 = the initial network)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 3, figsize=(15, 6.4))
    cmap = plt.get_cmap("tab10")
    for ax, (key, title) in zip(axes.flat, _CURVES):
        for i, r in enumerate(results):
            pts = [(h["epoch"], h[key]) for h in r["history"] if key in h]
            bold = r["name"] == "baseline"  # the reference line, drawn on top
            ax.plot(*zip(*pts), marker="o", ms=2.5, color=cmap(i % 10), label=r["label"], lw=2.6 if bold else 1.4, zorder=3 if bold else 2)
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


def plot_spectra(results: Sequence[dict[str, Any]]):
    """Final singular-value spectra of the projections, normalised, on one log plot."""
    from ..visualize import spectrum

    spectra = {r["label"]: torch.tensor(r["final"]["spectrum"]) for r in results}
    if results:
        spectra["initial network"] = torch.tensor(results[0]["init_spectrum"])
    return spectrum(spectra)


def plot_umaps(results: Sequence[dict[str, Any]], data: LabData | None = None, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None):
    """Side-by-side UMAPs of each run's test features, coloured by class (a collapsed run: a point or a thin curve)."""
    from ..visualize import scatter_panels

    labels = data.test_labels if data is not None else labels
    classes = data.classes if data is not None else classes
    panels = {r["label"]: torch.tensor(r["umap"]) for r in results if r.get("umap") is not None}
    return scatter_panels(panels, labels, classes, ncols=min(4, max(1, len(panels))))


def plot_projections(results: Sequence[dict[str, Any]], data: LabData | None = None, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None):
    """Side-by-side: each run's normalised projections on their two main axes, all panels at one scale."""
    from ..visualize import scatter_panels

    labels = data.test_labels if data is not None else labels
    classes = data.classes if data is not None else classes
    panels = {r["label"]: torch.tensor(r["projection_2d"]) for r in results if r.get("projection_2d") is not None}
    return scatter_panels(panels, labels, classes, ncols=min(4, max(1, len(panels))), same_scale=True)


def write_report(results: Sequence[dict[str, Any]], out: str | Path, data: LabData) -> dict[str, Path]:
    """Write results.md, results.json and the figures (curves, spectra, UMAPs) into out."""
    from ..visualize import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r0 = results[0]
    header = (
        f"# Collapse lab\n\n{r0['dataset']}: {r0['sizes']['train_images']} training images, "
        f"{r0['config']['network']['arch']}, {r0['config']['train']['epochs']} epochs, batch "
        f"{r0['config']['train']['batch_size']}; kNN (k=200, T=0.1) and linear probe on "
        f"{r0['sizes']['bank_images']} labelled training / {r0['sizes']['test_images']} test images; "
        f"{r0['hardware']}, torch {r0['torch']}, {r0['date']}.\n\n"
    )
    atomic_write_text(out / "results.md", header + results_table(results) + "\n")
    slim = [{k: v for k, v in r.items() if k not in ("umap", "projection_2d")} for r in results]
    atomic_write_text(out / "results.json", json.dumps(slim, indent=1))
    paths = {"table": out / "results.md", "json": out / "results.json"}
    paths["curves"] = save_figure(plot_curves(results), out / "curves.png")
    paths["spectra"] = save_figure(plot_spectra(results), out / "spectra.png")
    if any(r.get("umap") is not None for r in results):
        paths["umaps"] = save_figure(plot_umaps(results, data), out / "umaps.png")
    paths["projections"] = save_figure(plot_projections(results, data), out / "projections.png")
    return paths


