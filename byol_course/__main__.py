"""Command line: `python -m byol_course {demo,pretrain,evaluate}`.

    python -m byol_course demo --out runs/demo
    python -m byol_course pretrain --dataset embedded --epochs 10 --out runs/my-run
    python -m byol_course evaluate --checkpoint runs/my-run/checkpoint.pt --dataset embedded

Every run folder holds checkpoint.pt, config.json, metrics.json and PNG figures. Errors a
user can fix are printed as one sentence, with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _add_run_args(p: argparse.ArgumentParser, epochs_default: int | None) -> None:
    p.add_argument("--dataset", default="embedded", help="embedded (default), cifar10, stl10 or folder:PATH")
    p.add_argument("--epochs", type=int, default=epochs_default, help="training epochs (default: the recipe's)")
    p.add_argument("--arch", default=None, help="convnet (default on CPU), resnet18, resnet50")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="base learning rate (before batch scaling for LARS/SGD)")
    p.add_argument("--tau", type=float, default=None, help="base EMA rate τ in [0, 1]")
    p.add_argument("--image-size", type=int, default=None, help="resize images to this side (default: native)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run folder (checkpoint, config, metrics, figures)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config_from_args(args: argparse.Namespace, classroom: bool = False):
    """The recipe (classroom on CPU or when asked, GPU otherwise), then the user's overrides."""
    from .train import classroom_config, gpu_config, resolve_device

    device = resolve_device(args.device)
    use_gpu_recipe = device.type == "cuda" and not classroom and args.arch != "convnet"
    cfg = gpu_config(args.dataset) if use_gpu_recipe else classroom_config(args.dataset)
    t, n, o = cfg.train, cfg.network, cfg.optim
    t.device, t.seed, t.dataset = args.device, args.seed, args.dataset
    if args.epochs is not None:
        t.epochs = args.epochs
    if args.batch_size is not None:
        t.batch_size = args.batch_size
    if args.tau is not None:
        t.tau_base = args.tau
    if args.lr is not None:
        o.base_lr = args.lr
    if args.arch is not None:
        n.arch = args.arch
    if args.image_size is not None:
        cfg.augment.image_size = args.image_size
    # re-run the dataclass checks on the edited fields: one sentence per problem
    from dataclasses import replace

    cfg.train, cfg.network = replace(t), replace(n)
    if o.base_lr <= 0:
        raise ValueError(f"The learning rate must be positive, got {o.base_lr}.")
    return cfg


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Pretrain, then evaluate the online encoder; writes the run folder."""
    from .report import run_and_report

    cfg = _config_from_args(args)
    out = Path(args.out or f"runs/{args.dataset.replace(':', '_').replace('/', '_')}-{cfg.network.arch}")
    run_and_report(cfg, out, resume=args.resume, progress=not args.no_progress, baselines=False)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: BYOL on the embedded dataset, against raw pixels and a random-init network."""
    from .report import run_and_report

    cfg = _config_from_args(args, classroom=True)
    out = Path(args.out or "runs/demo")
    run_and_report(cfg, out, resume=args.resume, progress=not args.no_progress, baselines=True)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint's online encoder on a dataset (kNN, linear probe, collapse metrics)."""
    from .report import evaluate_checkpoint

    evaluate_checkpoint(Path(args.checkpoint), args.dataset, device=args.device, out=Path(args.out) if args.out else None)
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    """Save a grid of sample images, one row per class."""
    from .data import load_dataset
    from .visualize import image_grid, save_figure

    ds = load_dataset(args.dataset, args.split, seed=args.seed)
    path = save_figure(image_grid(ds.images, ds.labels, ds.classes, per_class=args.per_class), args.out, dpi=90)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="python -m byol_course", description="BYOL, built to be read.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="BYOL on the embedded dataset vs raw pixels and random init (≈5 min on 2 CPU cores)")
    _add_run_args(p, None)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("pretrain", help="pretrain BYOL and evaluate the online encoder")
    _add_run_args(p, None)
    p.set_defaults(func=cmd_pretrain)
    p = sub.add_parser("evaluate", help="kNN, linear probe and collapse metrics of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", default=None, help="default: the dataset the checkpoint was trained on")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="where to write metrics.json and figures (default: beside the checkpoint)")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("samples", help="save a grid of sample images, one row per class")
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--out", default="samples.png")
    p.set_defaults(func=cmd_samples)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors become one sentence on stderr and exit code 1 (130 on Ctrl-C)."""
    from .data import DatasetError
    from .train import CheckpointError, TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        out = getattr(args, "out", None) or "the run folder"
        print(
            f"\nInterrupted. The last completed epoch is saved in {out}/checkpoint.pt; "
            "run the same command with --resume to continue.",
            file=sys.stderr,
        )
        return 130
    except (DatasetError, CheckpointError, TrainingDiverged, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
