"""Which dataset design lets BYOL learn shape in a few CPU minutes? Measures the variants in data/README.md.

For each variant of the embedded generator (byol_course.embedded.generate) and each colour
recipe, trains the classroom recipe (byol_course.train.classroom_config) on 5,000 generated
images and reports kNN (k=200, T=0.1) and linear-probe top-1 on 2,000 test images, for the
network at random initialisation and after BYOL.

    python benchmarks/embedded_design.py --jobs 2 --out benchmarks/results/embedded_design.json

Runs take ~1.5 min each on one core; --jobs runs that many at once (one thread each).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import platform
import tempfile
import time
from pathlib import Path

import torch

VARIANTS = [
    # (name, generator settings, hue jitter)
    ("naive: 1–4 rotated copies, unrelated hues, random polarity", dict(colors="independent", polarity="random", max_copies=4, rotation=180), 0.5),
    ("gray, random polarity", dict(colors="gray", polarity="random"), 0.5),
    ("gray, shape always lighter", dict(colors="gray", polarity="light"), 0.5),
    ("unrelated hues, shape lighter, paper hue jitter 0.1", dict(colors="independent", polarity="light"), 0.1),
    ("unrelated hues, shape lighter (the embedded dataset)", dict(colors="independent", polarity="light"), 0.5),
    ("shared hue, shape lighter, paper hue jitter 0.1", dict(colors="tint", polarity="light"), 0.1),
    ("shared hue, shape lighter", dict(colors="tint", polarity="light"), 0.5),
]


def run_variant(args: tuple) -> dict:
    name, gen_kwargs, hue, n_train, epochs = args
    torch.set_num_threads(1)
    from byol_course.embedded import generate
    from byol_course.evaluate import extract_features, knn_accuracy, linear_probe
    from byol_course.networks import BYOLNetworks
    from byol_course.config import classroom_config
    from byol_course.train import pretrain

    cfg = classroom_config()
    cfg.train.epochs = epochs
    cfg.augment.view1 = dataclasses.replace(cfg.augment.view1, hue=hue)
    cfg.augment.view2 = dataclasses.replace(cfg.augment.view2, hue=hue)
    xtr, ytr = generate(n_train, seed=1, **gen_kwargs)
    xte, yte = generate(2000, seed=2, **gen_kwargs)

    def probe(net: BYOLNetworks) -> dict:
        ftr = extract_features(net.online_backbone, xtr, cfg.augment)
        fte = extract_features(net.online_backbone, xte, cfg.augment)
        return {"knn_top1": knn_accuracy(ftr, ytr, fte, yte), "linear_top1": linear_probe(ftr, ytr, fte, yte)["top1"]}

    torch.manual_seed(cfg.train.seed)
    init = probe(BYOLNetworks(cfg.network))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        net, _ = pretrain(cfg, tmp, train_images=xtr, progress=False)
    byol = probe(net)
    row = {"variant": name, "generator": gen_kwargs, "hue_jitter": hue, "random_init": init, "byol": byol, "train_seconds": time.perf_counter() - t0}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--out", default="benchmarks/results/embedded_design.json")
    a = ap.parse_args()
    tasks = [(name, kw, hue, a.n_train, a.epochs) for name, kw, hue in VARIANTS]
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        rows = pool.map(run_variant, tasks)
    lines = [
        f"| variant | hue jitter | kNN random init | kNN BYOL | linear random init | linear BYOL |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        i, b = r["random_init"], r["byol"]
        lines.append(
            f"| {r['variant']} | {r['hue_jitter']} | {i['knn_top1']:.1%} | {b['knn_top1']:.1%} | {i['linear_top1']:.1%} | {b['linear_top1']:.1%} |"
        )
    table = "\n".join(lines)
    print(table)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "protocol": f"{a.n_train} train / 2000 test generated images, classroom recipe, {a.epochs} epochs, one thread per run; kNN k=200 T=0.1; linear probe on standardised features",
            "command": f"python benchmarks/embedded_design.py --jobs {a.jobs} --n-train {a.n_train} --epochs {a.epochs}"}
    out.write_text(json.dumps({**meta, "rows": rows, "table": table}, indent=2))


if __name__ == "__main__":
    main()
