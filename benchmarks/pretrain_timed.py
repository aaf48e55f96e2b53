"""Pretrain on CIFAR-10 (JPEG) for the epochs that fit in a time budget, with kNN at the end.

Uses the package's own path end to end: the JPEG folders through `load_dataset("folder:...")`,
the GPU recipe (`config.gpu_config`: solo-learn's CIFAR BYOL, ResNet-18 CIFAR form, LARS
η 0.02 with clipping, batch 512), `pretrain`, and a kNN evaluation (k = 200, T = 0.1) of the
online backbone on the test split once, at the end. The number of epochs is fixed before the
run, so that the learning-rate and τ schedules end where they should: a probe run of two
epochs (one on --tiny) measures the steady epoch time (the second epoch, after cuDNN's
autotuning) and one kNN pass; the run then gets floor((budget left − kNN) / epoch) epochs.
Its warm-up is the recipe's 10 epochs, or 10% of the run if that is shorter.

The JSON (--json) is rewritten after every epoch (temp file + rename), so a run stopped from
outside keeps its epochs. Per epoch it records the training time without the checkpoint write
(timed around `save_checkpoint`) and the wall time with it.

    python benchmarks/pretrain_timed.py --minutes 6 --json benchmarks/results/pretrain_gpu.json
    python benchmarks/pretrain_timed.py --tiny --device cpu     # seconds: a tiny ConvNet, what the rehearsal runs

--data: a folder holding cifar10-jpg-train.zip and cifar10-jpg-test.zip (default .cifar10/, else
../shared/data), or a folder in the layout PATH/train/<class>/*, PATH/test/<class>/*; 'embedded'
for the generated dataset (when CIFAR-10 is not there).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import torch

import byol_course.checkpoint as checkpoint_module
from byol_course.config import gpu_config
from byol_course.data import Dataset, load_dataset
from byol_course.device import autocast_dtype, hardware, resolve_device
from byol_course.evaluate import extract_features, knn_accuracy
from byol_course.train import pretrain

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = (ROOT / ".cifar10", ROOT.parent / "shared" / "data")


class OutOfTime(Exception):
    """The budget ran out at the end of an epoch."""


def default_data() -> str:
    for d in CANDIDATES:
        if (d / "cifar10-jpg-train.zip").is_file():
            return str(d)
    return "embedded"


def prepare_folder(data: str, workdir: Path, every: int) -> str:
    """The dataset name to load: 'embedded', or 'folder:DIR' with the zips extracted (every k-th image) into workdir."""
    if data == "embedded":
        return "embedded"
    path = Path(data).expanduser()
    zips = [path / "cifar10-jpg-train.zip", path / "cifar10-jpg-test.zip"]
    if all(z.is_file() for z in zips):
        for z in zips:
            with zipfile.ZipFile(z) as zf:
                members = sorted(m for m in zf.namelist() if m.lower().endswith(".jpg"))
                for m in members[::every]:
                    zf.extract(m, workdir)
        return f"folder:{workdir}"
    if (path / "train").is_dir() and (path / "test").is_dir():
        return f"folder:{path}"
    raise SystemExit(f"--data {data}: neither the two CIFAR-10 JPEG zips nor train/ and test/ folders are there.")


def write_json(report: dict, path: str | None) -> None:
    if not path:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, p)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=6.0, help="time budget for loading, the probe, the run and the kNN")
    p.add_argument("--data", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--precision", default="auto", help="auto (bf16 on compute capability >= 8, fp16 + GradScaler below) | fp32 | bf16 | fp16")
    p.add_argument("--every", type=int, default=1, help="use every k-th image of each zip (1: all 50,000 + 10,000)")
    p.add_argument("--max-epochs", type=int, default=1000)
    p.add_argument("--compile", action="store_true", help="torch.compile the online forward (compile time counts against the budget)")
    p.add_argument("--tiny", action="store_true", help="seconds: a tiny ConvNet at 16×16, every 250th image, 1 epoch after a 1-epoch probe")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.tiny:
        args.arch, args.batch_size, args.every, args.max_epochs = "convnet", 32, max(args.every, 250), 1
        torch.set_num_threads(1)
    data = args.data or default_data()
    if data != "embedded" and not Path(data).expanduser().exists():
        data = "embedded"

    t_all = time.perf_counter()
    budget = args.minutes * 60
    report: dict = {
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/pretrain_timed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "budget_seconds": budget,
    }
    with tempfile.TemporaryDirectory() as tmp:
        name = prepare_folder(data, Path(tmp) / "cifar10", args.every)
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
    if args.tiny and name == "embedded":  # 10,000 + 2,000 generated images: keep a few
        train = Dataset(train.images[:200], train.labels[:200], train.classes, train.name, "train")
        test = Dataset(test.images[:40], test.labels[:40], test.classes, test.name, "test")
    load_seconds = time.perf_counter() - t_all
    train_x, train_y, test_x, test_y = train.images, train.labels, test.images, test.labels

    cfg = gpu_config(name)
    cfg.network.arch = args.arch
    cfg.train.batch_size, cfg.train.device, cfg.train.precision = args.batch_size, args.device, args.precision
    cfg.train.knn_every = 0  # kNN at the end only
    if args.tiny:
        cfg.network.hidden_dim, cfg.network.proj_dim, cfg.network.convnet_width = 32, 8, 4
        cfg.augment.image_size = 16
    if not name.startswith("folder:") or cfg.augment.mean == (0.5, 0.5, 0.5):  # not CIFAR-10's known statistics
        mean, std = train.mean_std()
        cfg.augment.mean, cfg.augment.std = tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
    device = resolve_device(args.device)
    amp = autocast_dtype(device, args.precision)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    report.update({
        "hardware": hardware(), "torch": torch.__version__, "device": str(device),
        "dataset": "CIFAR-10 (JPEG)" if name.startswith("folder:") and data != "embedded" else name,
        "data": data, "train_images": len(train_x), "test_images": len(test_x), "arch": args.arch,
        "batch_size": cfg.train.batch_size, "precision": {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16 + GradScaler"}[amp],
        "compile": args.compile, "load_seconds": load_seconds,
        "recipe": "gpu_config (solo-learn CIFAR BYOL: LARS lr 1.0 × B/256, wd 1e-5, η 0.02 with clip_lr, τ 0.99 → 1)",
    })

    knn_seconds: list[float] = []

    def knn(net, epoch: int) -> dict[str, float]:
        t = time.perf_counter()
        ftr = extract_features(net.online_backbone, train_x, cfg.augment).to(device)  # (N, 512): the kNN runs on the device
        fte = extract_features(net.online_backbone, test_x, cfg.augment).to(device)
        acc = knn_accuracy(ftr, train_y.to(device), fte, test_y.to(device))
        knn_seconds.append(time.perf_counter() - t)
        return {"knn_top1": acc}

    save_seconds: list[float] = []
    save = checkpoint_module.save_checkpoint

    def timed_save(*a, **k):  # the checkpoint write, timed apart from training
        t = time.perf_counter()
        save(*a, **k)
        save_seconds.append(time.perf_counter() - t)

    checkpoint_module.save_checkpoint = timed_save
    with tempfile.TemporaryDirectory() as tmp:
        # probe: cuDNN autotuning and the allocator's warm-up land in its first epoch; the second is steady
        probe_epochs = 1 if args.tiny else 2
        cfg.train.epochs = args.max_epochs + probe_epochs
        probe_net, probe = pretrain(cfg, Path(tmp) / "probe", train_images=train_x, progress=False,
                                    stop_after_epochs=probe_epochs, compile_model=args.compile)
        walls = [r["wall_seconds"] for r in probe]
        # training time of each probe epoch: wall clock between records, less the checkpoint write in between
        saves = save_seconds or [0.0] * len(walls)  # empty if save_checkpoint moved out of reach of the timer
        probe_train = [walls[0]] + [b - a - s for a, b, s in zip(walls, walls[1:], saves)]
        knn(probe_net, 0)
        knn_s = knn_seconds[-1]
        del probe_net
        if device.type == "cuda":
            torch.cuda.empty_cache()
        per_epoch = probe_train[-1] + statistics.mean(saves)  # a run's epoch: training and its checkpoint
        left = budget - (time.perf_counter() - t_all)
        epochs = max(1, min(args.max_epochs, math.floor((left - 1.2 * knn_s) / per_epoch)))
        cfg.train.epochs = epochs
        cfg.optim.warmup_epochs = min(cfg.optim.warmup_epochs, 0.1 * epochs)
        report.update({"probe_train_epoch_seconds": [round(x, 3) for x in probe_train], "probe_knn_seconds": round(knn_s, 2),
                       "checkpoint_seconds_probe": [round(x, 3) for x in save_seconds], "epochs_planned": epochs,
                       "warmup_epochs": cfg.optim.warmup_epochs, "epochs": []})
        write_json(report, args.json)
        log: list[dict] = report["epochs"]
        last_wall = [0.0]

        def on_epoch_end(record: dict) -> None:
            train_s = record["wall_seconds"] - last_wall[0] - (save_seconds[-2] if len(log) and len(save_seconds) > 1 else 0.0)
            row = {"epoch": record["epoch"], "train_epoch_seconds": round(train_s, 3),
                   "checkpoint_seconds": round(save_seconds[-1], 3) if save_seconds else None, "loss": record["loss"],
                   "lr": record["lr"], "tau": record["tau"],
                   "images_per_s": round(len(train_x) // cfg.train.batch_size * cfg.train.batch_size / max(train_s, 1e-9), 1),
                   "knn_top1": record.get("knn_top1")}
            last_wall[0] = record["wall_seconds"]
            log.append(row)
            report["epochs_done"] = len(log)
            write_json(report, args.json)
            print(json.dumps(row), flush=True)
            if time.perf_counter() - t_all > budget and record["epoch"] < epochs:
                raise OutOfTime

        t_run = time.perf_counter()
        stopped_early = False
        try:
            pretrain(cfg, Path(tmp) / "run", train_images=train_x, eval_fn=knn, progress=False, on_epoch_end=on_epoch_end,
                     compile_model=args.compile)
        except OutOfTime:
            stopped_early = True
        run_seconds = time.perf_counter() - t_run
        stopped_knn = None
        if stopped_early and log:  # the network as it stands, mid-schedule: measured and labelled as such
            net, _ = checkpoint_module.load_networks(checkpoint_module.load_checkpoint(Path(tmp) / "run" / checkpoint_module.CHECKPOINT))
            stopped_knn = knn(net.to(device), len(log))["knn_top1"]
    checkpoint_module.save_checkpoint = save

    report.update({
        "stopped_early": stopped_early,
        "run_seconds": round(run_seconds, 1),
        "total_seconds": round(time.perf_counter() - t_all, 1),
        "final_knn_top1": None if stopped_early or not log else log[-1]["knn_top1"],
        # when the budget stopped the run before its schedule ended: kNN of the last saved epoch, mid-schedule
        "stopped_knn_top1": stopped_knn,
        "final_knn_seconds": knn_seconds[-1] if len(knn_seconds) > 1 else None,
        "train_epoch_seconds_median": statistics.median(r["train_epoch_seconds"] for r in log) if log else None,
    })
    write_json(report, args.json)
    print(f"{len(log)}/{epochs} epochs of {args.arch} in {run_seconds:.0f} s "
          f"(median training epoch {report['train_epoch_seconds_median']} s); final kNN {report['final_knn_top1']}"
          + (f"; stopped early: kNN {stopped_knn} after epoch {len(log)} of {epochs}" if stopped_early else ""))
    return report


if __name__ == "__main__":
    main()
