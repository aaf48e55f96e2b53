"""How many neighbours should vote in the collapse lab's kNN? Re-read its cached runs with several k.

    python benchmarks/lab_knn_k.py [--cache runs/collapse/cache] [--ks 10 20 50 200]

For every run in the cache (the default suite's, after `python -m byol_course collapse`), loads
its final checkpoint, encodes the lab's bank (2,000 labelled training images, 200 a class) and
its 1,000 test images with the online backbone, and measures the weighted kNN top-1 at each k —
the same features, only the vote changes. Also the untrained network of each seed. Writes
benchmarks/results/lab_knn_k.json and prints a table. No training: about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from byol_course.atomic import atomic_write_text
from byol_course.checkpoint import load_checkpoint
from byol_course.collapse import lab_config, load_lab_data
from byol_course.config import RunConfig
from byol_course.device import hardware
from byol_course.evaluate import extract_features, knn_accuracy
from byol_course.networks import build_networks

ROOT = Path(__file__).resolve().parents[1]


def knn_at(net, data, cfg: RunConfig, ks: list[int]) -> dict[str, float]:
    """kNN top-1 of net's online backbone on the lab's bank and test images, for each k."""
    bank = extract_features(net.online_backbone, data.bank, cfg.augment)
    test = extract_features(net.online_backbone, data.test, cfg.augment)
    return {str(k): knn_accuracy(bank, data.bank_labels, test, data.test_labels, k=k) for k in ks}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", default="runs/collapse/cache", help="the suite's cache of runs")
    p.add_argument("--ks", type=int, nargs="+", default=[10, 20, 50, 200])
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/lab_knn_k.json"))
    args = p.parse_args()
    cache = Path(args.cache)
    runs = sorted(d for d in cache.glob("*") if (d / "checkpoint.pt").exists() and (d / "config.json").exists())
    if not runs:
        raise SystemExit(f"No finished runs in {cache}; run `python -m byol_course collapse --out {cache.parent}` first.")
    base, sizes = lab_config("classroom")
    data = load_lab_data(base, sizes)
    t0 = time.perf_counter()
    rows = []
    for folder in runs:
        cfg = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
        net = build_networks(cfg.network, cfg.train.seed)
        net.load_state_dict(load_checkpoint(folder / "checkpoint.pt")["model"])
        name = json.loads((folder / "result.json").read_text())["name"] if (folder / "result.json").exists() else folder.name
        rows.append({"name": name, "seed": cfg.train.seed, "knn_top1": knn_at(net, data, cfg, args.ks)})
    for seed in sorted({r["seed"] for r in rows}):
        cfg = data.normalised(base)
        rows.append({"name": "untrained", "seed": seed, "knn_top1": knn_at(build_networks(cfg.network, seed), data, cfg, args.ks)})
    print(f"{'run':28}{'seed':>5}" + "".join(f"{'k=' + str(k):>9}" for k in args.ks))
    for r in rows:
        print(f"{r['name']:28}{r['seed']:>5}" + "".join(f"{r['knn_top1'][str(k)]:9.1%}" for k in args.ks))
    baseline = [r for r in rows if r["name"] == "baseline"]
    for k in args.ks:
        values = [r["knn_top1"][str(k)] for r in baseline]
        if values:
            print(f"baseline k={k}: mean {statistics.fmean(values):.1%} ({min(values):.1%}–{max(values):.1%})")
    result = {
        "command": "python benchmarks/lab_knn_k.py --cache " + str(args.cache),
        "hardware": hardware(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
        "bank_images": sizes.bank_images, "test_images": sizes.test_images, "ks": args.ks, "runs": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    atomic_write_text(Path(args.out), json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
