"""Chapter 9 — reading the collapse lab: a verdict per run, seeds summarised, the table beside the paper's numbers.

With several seeds of one experiment the table gives the mean and the spread (min–max), and
`separated` says whether two experiments' ranges overlap: a ranking is stated only where they don't.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..atomic import atomic_write_text
from .experiments import EXPERIMENTS

if TYPE_CHECKING:
    from .runner import LabData

__all__ = ["verdict", "by_experiment", "spread", "separated", "results_table", "healthy_table", "write_report"]


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


def by_experiment(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The runs grouped by experiment name (one per seed), in first-seen order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault(r["name"], []).append(r)
    return groups


def spread(runs: Sequence[dict[str, Any]], key: str) -> tuple[float, float, float]:
    """(mean, min, max) over the runs of final[key]."""
    values = [r["final"][key] for r in runs]
    return statistics.fmean(values), min(values), max(values)


def separated(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], key: str = "knn_top1") -> bool:
    """True when every seed of a beats every seed of b on final[key] (the ranges do not overlap)."""
    return min(r["final"][key] for r in a) > max(r["final"][key] for r in b)


def _cell(runs: Sequence[dict[str, Any]], key: str, fmt: str) -> str:
    mean, lo, hi = spread(runs, key)
    if len(runs) == 1:
        return format(mean, fmt)
    return f"{format(mean, fmt)} ({format(lo, fmt)}–{format(hi, fmt)})"


def results_table(results: Sequence[dict[str, Any]], markdown: bool = True) -> str:
    """One row per experiment: final metrics (mean and min–max over its seeds), verdicts, the paper's number."""
    head = ["experiment", "seeds", "std (1/√d)", "eff. rank", "cos rand", "kNN (init)", "linear (init)", "verdict", "published", "source"]
    rows = []
    for name, runs in by_experiment(results).items():
        r0, exp = runs[0], EXPERIMENTS.get(name)
        init = f" ({r0['history'][0]['knn_top1']:.1%})" if "knn_top1" in r0["history"][0] else ""
        init_linear = f" ({r0['init_linear_top1']:.1%})" if "init_linear_top1" in r0 else ""
        verdicts = sorted({verdict(r) for r in runs})
        rows.append([
            r0["label"], str(len(runs)),
            _cell(runs, "embedding_std", ".4f") + f" ({1 / math.sqrt(r0['proj_dim']):.4f})",
            _cell(runs, "effective_rank", ".1f"), _cell(runs, "negative_cosine", ".2f"),
            _cell(runs, "knn_top1", ".1%") + init, _cell(runs, "linear_top1", ".1%") + init_linear,
            " / ".join(verdicts), exp.paper if exp else "—", exp.source if exp else "your own combination",
        ])  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *rows])


def write_report(
    results: Sequence[dict[str, Any]], out: str | Path, data: LabData, healthy: Sequence[dict[str, Any]] = (),
    lambdas: Sequence[dict[str, Any]] = (),
) -> dict[str, Path]:
    """Write results.md, results.json and the figures (curves, spectra, UMAPs, projections, healthy, λ) into out."""
    from ..visualize import save_figure
    from . import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r0 = results[0]
    header = (
        f"# Collapse lab\n\n{r0['dataset']}: {r0['sizes']['train_images']} training images, "
        f"{r0['config']['network']['arch']}, {r0['config']['train']['epochs']} epochs, batch "
        f"{r0['config']['train']['batch_size']}; kNN (k={r0.get('knn_k', 200)}, T=0.1) and linear probe on "
        f"{r0['sizes']['bank_images']} labelled training / {r0['sizes']['test_images']} test images; "
        f"{r0['hardware']}, torch {r0['torch']}, {r0['date']}. Several seeds: mean (min–max).\n\n"
    )
    sections = [header + results_table(results)]
    if lambdas:
        sections.append("## τ = 0, the predictor's learning rate × λ\n\n" + results_table(lambdas))
    if healthy:
        sections.append("## From a healthy start\n\n" + healthy_table(healthy))
    atomic_write_text(out / "results.md", "\n\n".join(sections) + "\n")
    everything = [*results, *lambdas, *healthy]
    slim = [{k: v for k, v in r.items() if k not in ("umap", "projection_2d")} for r in everything]
    atomic_write_text(out / "results.json", json.dumps(slim, indent=1))
    paths = {"table": out / "results.md", "json": out / "results.json"}
    paths["curves"] = save_figure(plots.plot_curves(results), out / "curves.png")
    paths["spectra"] = save_figure(plots.plot_spectra(results), out / "spectra.png")
    if any(r.get("umap") is not None for r in results):
        paths["umaps"] = save_figure(plots.plot_umaps(results, data), out / "umaps.png")
    paths["projections"] = save_figure(plots.plot_projections(results, data), out / "projections.png")
    if healthy:
        paths["healthy"] = save_figure(plots.plot_healthy(healthy), out / "healthy.png")
    if lambdas:
        paths["lambda"] = save_figure(plots.plot_lambda(lambdas), out / "lambda.png")
    return paths


def healthy_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per continuation from the healthy start: std, rank, cos(random pair), kNN before and after."""
    head = ["continuation", "steps", "std: start → end", "eff. rank", "cos rand", "kNN: start → end", "verdict"]
    rows = []
    for r in results:
        first, f = r["history"][0], r["final"]
        rows.append([
            r["label"], str(r["history"][-1]["step"]), f"{first['embedding_std']:.4f} → {f['embedding_std']:.4f}",
            f"{first['effective_rank']:.1f} → {f['effective_rank']:.1f}", f"{first['negative_cosine']:.2f} → {f['negative_cosine']:.2f}",
            f"{first['knn_top1']:.1%} → {f['knn_top1']:.1%}", verdict(r),
        ])  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
