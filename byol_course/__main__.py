"""Command line: `python -m byol_course {demo,pretrain,evaluate,collapse,samples}`.

    python -m byol_course demo --out runs/demo
    python -m byol_course pretrain --dataset embedded --epochs 10 --out runs/my-run
    python -m byol_course pretrain --dataset embedded --epochs 10 --out runs/my-run --resume  # after Ctrl-C or a crash
    python -m byol_course evaluate --checkpoint runs/my-run/checkpoint.pt --dataset embedded
    python -m byol_course collapse --out runs/collapse  # the collapse lab's core set, cached

Every run folder holds checkpoint.pt, config.json, metrics.json and PNG figures. Errors a
user can fix are printed as one sentence, with a non-zero exit code (1; 130 after Ctrl-C).
A run stopped at any moment continues from its last complete epoch with `--resume`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
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
    p.add_argument(
        "--override-config",
        action="store_true",
        help="with --resume: continue even if the settings differ from the checkpoint's (the changes are printed and recorded)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config_from_args(args: argparse.Namespace, classroom: bool = False):
    """The recipe (classroom on CPU or when asked, GPU otherwise), then the user's overrides."""
    from .config import check_config, classroom_config, gpu_config
    from .device import resolve_device

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
    check_config(cfg)  # re-runs the dataclass checks on the edited fields, and the image size
    if args.override_config and not args.resume:
        raise ValueError("--override-config only applies when resuming; add --resume to continue the run in --out.")
    return cfg


def _train_and_report(args: argparse.Namespace, cfg, out: Path, baselines: bool, evaluate: bool = True) -> None:
    """Pretrain into out; then, if evaluate, run_and_report's evaluation and figures."""
    from .report import load_train_split, run_and_report
    from .train import pretrain

    args.out = str(out)  # for the Ctrl-C message
    progress = not args.no_progress
    if not evaluate:
        train, cfg = load_train_split(cfg)
        _, history = pretrain(
            cfg, out, resume=args.resume, override_config=args.override_config, train_images=train.images, progress=progress
        )
        ckpt = out / "checkpoint.pt"
        done = f"epoch {history[-1]['epoch']} of {cfg.train.epochs}" if history else "no epoch"
        print(f"Saved {done} in {ckpt}; evaluate it with: python -m byol_course evaluate --checkpoint {ckpt}")
        return
    if args.override_config:
        # run_and_report has no override: train here, then it resumes the finished run and only evaluates
        # (so its pretrain_seconds is ~0; each epoch's wall_seconds in the history stays right)
        train, normalised = load_train_split(cfg)
        pretrain(normalised, out, resume=True, override_config=True, train_images=train.images, progress=progress)
    run_and_report(cfg, out, resume=args.resume, progress=progress, baselines=baselines)


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Pretrain, then (unless --no-eval) evaluate the online encoder; writes the run folder."""
    cfg = _config_from_args(args)
    out = Path(args.out or f"runs/{args.dataset.replace(':', '_').replace('/', '_')}-{cfg.network.arch}")
    from .distributed import launched_by_torchrun

    if launched_by_torchrun():
        return _pretrain_distributed(args, cfg, out)
    _train_and_report(args, cfg, out, baselines=False, evaluate=not args.no_eval)
    return 0


def _pretrain_distributed(args: argparse.Namespace, cfg, out: Path) -> int:
    """Under torchrun: every rank trains its share with DDP; then rank 0 alone evaluates the checkpoint."""
    import torch.distributed as dist

    from .distributed import init_from_env
    from .report import evaluate_checkpoint, load_train_split
    from .train import pretrain

    args.out = str(out)  # for the Ctrl-C message
    init_from_env(args.device)
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        train, cfg = load_train_split(cfg)
        _, history = pretrain(
            cfg, out, resume=args.resume, override_config=args.override_config, train_images=train.images,
            progress=not args.no_progress,
        )
    finally:
        dist.destroy_process_group()
    if rank != 0:
        return 0
    ckpt = out / "checkpoint.pt"
    done = f"epoch {history[-1]['epoch']} of {cfg.train.epochs}" if history else "no epoch"
    print(f"Saved {done} in {ckpt} (trained on {world} processes).")
    if not args.no_eval:
        evaluate_checkpoint(ckpt, cfg.train.dataset, device=args.device)  # one process: eval_metrics.json
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job: BYOL on the embedded dataset, against raw pixels and a random-init network."""
    cfg = _config_from_args(args, classroom=True)
    cfg.train.knn_every = cfg.train.knn_every or 1  # the curves of kNN and embedding std, one point per epoch
    _train_and_report(args, cfg, Path(args.out or "runs/demo"), baselines=True)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint's online encoder on a dataset (kNN, linear probe, collapse metrics)."""
    from .report import evaluate_checkpoint

    evaluate_checkpoint(Path(args.checkpoint), args.dataset, device=args.device, out=Path(args.out) if args.out else None)
    return 0


def cmd_collapse(args: argparse.Namespace) -> int:
    """The collapse lab, headless: run (or read from the cache) a set of ablations; write the table and figures."""
    from . import collapse
    from .course import mode

    lab_mode = args.mode or mode()
    base, sizes = collapse.lab_config(lab_mode)
    if args.epochs is not None:
        base.train.epochs = args.epochs
    base.train.device, base.train.seed = args.device, args.seed
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None
    out = Path(args.out)
    sources = []
    if args.cache:  # a class's read-only cache: read from, never written to
        store = collapse.class_cache(args.cache)
        if (problem := store.problem()) is not None:
            print(f"warning: {problem} Going on without it.", file=sys.stderr)
        else:
            sources.append(store)
    data = collapse.load_lab_data(base, sizes)  # once for all runs
    common = dict(cache=out / "cache", progress=not args.no_progress, base=base, sizes=sizes, data=data, sources=sources)
    if args.experiments == "default":
        suite = collapse.run_suite(lab_mode, seeds=seeds, **common)
        results, lambdas, healthy = suite.results, suite.lambdas, suite.healthy
    else:
        everything = [n for n in collapse.EXPERIMENTS if n not in collapse.LAMBDA_SWEEP]
        names = {"core": collapse.CORE, "all": everything}.get(args.experiments) or [
            n.strip() for n in args.experiments.split(",") if n.strip()
        ]
        results, lambdas, healthy = collapse.run_lab(names, seeds=seeds, **common), [], []
    paths = collapse.write_report(results, out, data, healthy=healthy, lambdas=lambdas)
    print("\n" + collapse.where_from(results + lambdas + healthy))
    print("\n" + collapse.results_table(results + lambdas, markdown=False))
    if healthy:
        print("\n" + collapse.healthy_table(healthy))
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    """Save a grid of sample images, one row per class."""
    from .data import load_dataset
    from .visualize import image_grid, save_figure

    ds = load_dataset(args.dataset, args.split, seed=args.seed)
    path = save_figure(image_grid(ds.images, ds.labels, ds.classes, per_class=args.per_class), args.out, dpi=90)
    print(f"wrote {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a checkpoint's online encoder as a plain state_dict (torchvision-loadable ResNets) plus a JSON."""
    from .export import ENCODER_FILE, META_FILE, export_encoder

    meta = export_encoder(Path(args.checkpoint), Path(args.to))
    to = Path(args.to)
    print(f"wrote {to / ENCODER_FILE} and {to / META_FILE} ({meta['arch']}, {meta['feature_dim']}-d features)")
    print(f"load it with: {meta['builder']}; {meta['load']}")
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
    p.add_argument("--no-eval", action="store_true", help="only pretrain and save the checkpoint (no evaluation, no figures)")
    p.set_defaults(func=cmd_pretrain)
    p = sub.add_parser("evaluate", help="kNN, linear probe and collapse metrics of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", default=None, help="default: the dataset the checkpoint was trained on")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="where to write metrics.json and figures (default: beside the checkpoint)")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("collapse", help="the collapse lab: which ingredients keep BYOL from collapsing (≈15 min on 2 CPU cores)")
    p.add_argument(
        "--experiments",
        default="default",
        help="default (the core set over 3 seeds, the λ sweep at τ = 0, the continuations from a healthy start), core "
        "(baseline, no_predictor, tau_0, tau_1, no_stop_gradient, no_norm), all, or names separated by commas",
    )
    p.add_argument("--seeds", default=None, help="seeds separated by commas, e.g. 0,1,2 (default: 0,1,2 for the default set, else --seed)")
    p.add_argument("--mode", choices=("smoke", "classroom", "full"), default=None, help="sizes (default: full on a GPU, else classroom)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per run (default: the mode's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/collapse", help="folder for the table, figures and the cache of runs")
    p.add_argument("--cache", default=None, help="a read-only folder of finished runs (a class's cache, another run's OUT/cache): "
                   "read from, never written to; only what it lacks is trained into OUT/cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_collapse)
    p = sub.add_parser("samples", help="save a grid of sample images, one row per class")
    p.add_argument("--dataset", default="embedded")
    p.add_argument("--split", default="train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--out", default="samples.png")
    p.set_defaults(func=cmd_samples)
    p = sub.add_parser("export", help="write the online encoder as a plain state_dict (+ JSON) for other code")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--to", required=True, help="folder for encoder.pt and encoder.json")
    p.set_defaults(func=cmd_export)
    return parser


def _interrupted(args: argparse.Namespace) -> str:
    """The one line printed after Ctrl-C: what is saved and how to continue."""
    if args.func not in (cmd_pretrain, cmd_demo):
        return "Interrupted."
    from .checkpoint import CHECKPOINT, load_checkpoint

    ckpt = Path(args.out or ".") / CHECKPOINT
    if not args.out or not ckpt.exists():
        return (
            "Interrupted before the first epoch was saved, so there is nothing to resume; "
            "run the same command again to start over."
        )
    try:
        state = load_checkpoint(ckpt)
        saved = f"epoch {state['epoch']} of {state['config']['train']['epochs']} is saved in {ckpt}"
    except Exception:  # noqa: BLE001 — the message must not fail; the checkpoint is checked on --resume
        saved = f"the last complete epoch is saved in {ckpt}"
    return f"Interrupted; {saved}; run the same command with --resume to continue."


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point; user errors become one sentence on stderr and exit code 1 (130 on Ctrl-C)."""
    import torch

    from .checkpoint import CheckpointError
    from .lock import RunLocked
    from .data import DatasetError
    from .train import TrainingDiverged

    args = build_parser().parse_args(argv)
    from .distributed import launched_by_torchrun

    if launched_by_torchrun() and args.func is not cmd_pretrain:
        print("error: Under torchrun only `pretrain` runs on several processes; run the others with python.", file=sys.stderr)
        return 1
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # a warning is one line too, not a source listing
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print(_interrupted(args), file=sys.stderr)
            return 130
        except getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError) as e:  # torch.OutOfMemoryError: torch ≥ 2.5
            first = str(e).strip().splitlines()[0] if str(e).strip() else "out of memory"
            print(
                f"error: Out of memory ({first}); lower --batch-size or --image-size, or use a smaller --arch.",
                file=sys.stderr,
            )
            return 1
        except (DatasetError, CheckpointError, TrainingDiverged, RunLocked, ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
