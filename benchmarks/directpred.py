"""DirectPred against learned predictors in the real network of chapter 5, three seeds (issue 22).

    python benchmarks/directpred.py [--seeds 0 1 2] [--arms learned linear directpred] [--out FILE]
    python benchmarks/directpred.py --tiny --out /tmp/dp.json      # seconds: the code path only

For each seed and arm, trains the classroom recipe (`config.classroom_config`, the embedded
shapes' 10,000 training images with their own colour statistics, 5 epochs = 780 steps, as chapter
5 trains) through `dynamics.pretrain_with_predictor` — chapter 5's loop, bit for bit when the
predictor is the recipe's — with one of three predictors on the 256-d projection:
- learned: the recipe's own, Linear(256→512)–BN–ReLU–Linear(512→256), trained by AdamW;
- linear: a bias-free Linear(256→256) trained by AdamW (Tian et al.'s "linear predictor");
- directpred: `dynamics.DirectPredictor`, set every step from F̂ (ρ = 0.3, ε = 0.1: their Table 8).
Then measures the online backbone with chapter 5's `evaluate.Monitor` on the full splits: kNN
(k = 200, T = 0.1, cosine) with all 10,000 training images as the bank and the 2,000 test images
as queries, and the collapse metrics of the projections; also the untrained network of each seed.
Writes benchmarks/results/directpred.json (with date, machine, versions and this command);
results/directpred_h200.json is the same command on an NVIDIA H200 (bf16 autocast), 222 s for the nine runs.
Run it alone on a shared 2-core machine: one thread, passive OpenMP waits (the seeds' results do
not depend on the load; the times do, and the load average is recorded).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads slow a shared machine many times

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from byol_course.atomic import atomic_write_text
from byol_course.config import classroom_config
from byol_course.data import load_dataset
from byol_course.device import hardware
from byol_course.dynamics import predictor_for, pretrain_with_predictor
from byol_course.evaluate import Monitor
from byol_course.networks import build_networks

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("learned", "linear", "directpred")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/directpred.json"))
    p.add_argument("--tiny", action="store_true", help="600 images, 1 epoch, tiny heads: tests the code path in seconds")
    args = p.parse_args(argv)
    train, test = load_dataset("embedded", "train"), load_dataset("embedded", "test")
    cfg = classroom_config()
    mean, std = train.mean_std()  # as chapter 5 and `make demo`: the training set's own colour statistics
    cfg.augment.mean, cfg.augment.std = tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
    images, bank, bank_labels, queries, query_labels = train.images, train.images, train.labels, test.images, test.labels
    if args.tiny:
        cfg.train.epochs, cfg.network.hidden_dim, cfg.network.proj_dim = 1, 32, 16
        images, bank, bank_labels, queries, query_labels = images[:600], bank[:600], bank_labels[:600], queries[:200], query_labels[:200]
    monitor = Monitor(bank, bank_labels, queries, query_labels, cfg.augment)  # k = 200, as chapters 5 and 8
    runs, t_all = [], time.perf_counter()
    for seed in args.seeds:
        cfg.train.seed = seed
        start = monitor(build_networks(cfg.network, seed), 0)
        runs.append({"arm": "untrained", "seed": seed, "knn_top1": start["knn_top1"], "embedding_std": start["embedding_std"]})
        for arm in args.arms:
            t0 = time.perf_counter()
            predictor = predictor_for(arm, cfg.network.proj_dim, seed)
            _, history = pretrain_with_predictor(cfg, images, predictor, eval_fn=monitor, progress=False)
            last = history[-1]
            runs.append({
                "arm": arm, "seed": seed, "knn_top1": last["knn_top1"], "embedding_std": last["embedding_std"],
                "effective_rank": last["effective_rank"], "final_loss": last["loss"],
                "train_seconds": round(last["wall_seconds"], 1), "seconds": round(time.perf_counter() - t0, 1),
                "load_average": round(os.getloadavg()[0], 2),
            })  # fmt: skip
            print(f"seed {seed} {arm:10} kNN {last['knn_top1']:.1%}  std {last['embedding_std']:.4f}  "
                  f"rank {last['effective_rank']:.1f}  {runs[-1]['seconds']:.0f} s", flush=True)
    summary = {}
    for arm in ("untrained", *args.arms):
        values = [r["knn_top1"] for r in runs if r["arm"] == arm]
        summary[arm] = {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "per_seed": values}
        print(f"{arm:10} kNN mean {summary[arm]['mean']:.1%} ({summary[arm]['min']:.1%}–{summary[arm]['max']:.1%}) over seeds {args.seeds}")
    result = {
        "command": " ".join(["python benchmarks/directpred.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d"), "hardware": hardware(), "platform": platform.platform(),
        "python": platform.python_version(), "torch": torch.__version__,
        "protocol": {
            "recipe": "config.classroom_config (ConvNet width 16, heads 512 -> 256, AdamW 2e-3, batch 64, tau_base 0.8), "
                      f"{cfg.train.epochs} epochs on {len(images)} embedded training images, the set's colour statistics",
            "knn": f"evaluate.Monitor: k = 200, T = 0.1, cosine; bank {len(bank)} training images, {len(queries)} test images",
            "directpred": "dynamics.DirectPredictor(rho=0.3, eps=0.1): Eq. 18 on F / max eigenvalue, refreshed every step",
            "linear": "nn.Linear(256, 256, bias=False), trained by the same AdamW",
        },
        "tiny": args.tiny, "seeds": args.seeds, "runs": runs, "summary": summary,
        "seconds": round(time.perf_counter() - t_all, 1),
    }  # fmt: skip
    atomic_write_text(Path(args.out), json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
