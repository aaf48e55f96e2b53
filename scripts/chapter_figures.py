"""Draw the README's picture of each chapter into docs/figures/, from the package's own code.

    python scripts/chapter_figures.py [--demo runs/demo]

Chapters 0–4 and 6–7 are drawn from scratch in seconds (images, views, the networks' measured
shapes, the loss, the τ schedule, the seed's loss, the data path on a GPU); chapter 5's picture is
the training curves of a `make demo` run (its metrics.json), skipped with a message if there is none.
Chapters 8 and 9 show the headline figures in data/ (`make demo`, `python -m byol_course collapse`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from byol_course.augment import classroom_augment, make_views  # noqa: E402
from byol_course.data import load_dataset  # noqa: E402
from byol_course.ema import tau_schedule  # noqa: E402
from byol_course.networks import BYOLNetworks, classroom_network  # noqa: E402
from byol_course.visualize import architecture, image_grid, save_figure, training_curves, view_pairs  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"


def chapter_0(train) -> plt.Figure:
    return image_grid(train.images, train.labels, train.classes, per_class=6)


def chapter_1(train) -> plt.Figure:
    aug = classroom_augment()
    images = torch.stack([train.images[(train.labels == c).nonzero()[0, 0]] for c in range(6)])  # one per class
    v1, v2 = make_views(images, aug, torch.Generator().manual_seed(0))
    return view_pairs(images, v1, v2, aug.mean, aug.std, n=6)


def chapter_2() -> plt.Figure:
    return architecture(BYOLNetworks(classroom_network()))


def chapter_3() -> plt.Figure:
    angle = np.linspace(0, 180, 361)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(angle, 2 - 2 * np.cos(np.radians(angle)), lw=2)
    ax.set(xlabel="angle between prediction p and target z (degrees)", ylabel="ℓ = 2 − 2·cos", xticks=range(0, 181, 45))
    ax.annotate("a constant output scores 0 too:\ncollapse", xy=(0, 0), xytext=(40, 2.6), arrowprops=dict(arrowstyle="->"), fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def chapter_4() -> plt.Figure:
    k = np.arange(2001)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for base in (0.96, 0.99, 0.996):
        ax.plot(k, [tau_schedule(int(s), 2000, base) for s in k], label=f"τ_base = {base}")
    ax.set(xlabel="training step", ylabel="τ", title="τ rises from τ_base to 1")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def chapter_5(demo: Path) -> plt.Figure | None:
    metrics = demo / "metrics.json"
    if not metrics.exists():
        print(f"chapter 5: no {metrics} (run `make demo` first); its picture is not redrawn")
        return None
    m = json.loads(metrics.read_text())
    return training_curves(m["history"], ("loss", "knn_top1", "embedding_std"), proj_dim=256)


def chapter_6() -> plt.Figure:
    c = np.linspace(-1, 1, 201)  # cos of both pairs, equal
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(c, 4 - 4 * c, lw=2, label="BYOL: ℓ₁ + ℓ₂ = 4 − 2·(cos₁ + cos₂), 0 … 8")
    ax.plot(c, 2 - 4 * c, lw=2, ls="--", label="the seed: 2 − 2·(cos₁ + cos₂), −2 … 6")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="cos₁ = cos₂", ylabel="loss", title="a bug you can see in the range")
    ax.legend(fontsize=7.5)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def chapter_7() -> plt.Figure:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(8, 2.4))
    ax.set(xlim=(0, 10.2), ylim=(0, 2.4))
    ax.axis("off")
    steps = [("CIFAR-10 as uint8\non the GPU (147 MiB)", "#eeeeee"), ("index a batch\n(no DataLoader)", "#dbe9f6"),
             ("two views per image\non the GPU", "#dbe9f6"), ("bf16 / fp16 step\nResNet-18", "#e4f2dc")]  # fmt: skip
    for i, (text, color) in enumerate(steps):
        x = 0.2 + i * 2.5
        ax.add_patch(FancyBboxPatch((x, 0.7), 2.1, 1.0, boxstyle="round,pad=0.05", fc=color, ec="0.3"))
        ax.text(x + 1.05, 1.2, text, ha="center", va="center", fontsize=7.5)
        if i:
            ax.add_patch(FancyArrowPatch((x - 0.35, 1.2), (x - 0.05, 1.2), arrowstyle="-|>", mutation_scale=12))
    ax.text(5, 0.25, "checkpoint every epoch (on Google Drive in Colab): a disconnect costs one epoch", ha="center", fontsize=8)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("runs/demo"), help="a `make demo` run folder")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    train = load_dataset("embedded", "train")
    figures = {0: chapter_0(train), 1: chapter_1(train), 2: chapter_2(), 3: chapter_3(), 4: chapter_4(),
               5: chapter_5(args.demo), 6: chapter_6(), 7: chapter_7()}  # fmt: skip
    for chapter, fig in figures.items():
        if fig is not None:
            print(f"wrote {save_figure(fig, OUT / f'chapter-{chapter:02d}.png', dpi=72)}")


if __name__ == "__main__":
    main()
