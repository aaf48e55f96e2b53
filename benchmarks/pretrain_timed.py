"""Pretrain on CIFAR-10 (JPEG) for as many epochs as fit in a time budget; epoch time and kNN per epoch.

Uses the package's own path end to end: the JPEG folders through `load_dataset("folder:...")`,
the GPU recipe (`train.gpu_config`: ResNet-18 CIFAR form, LARS, batch 512), `pretrain` with a
kNN evaluation (k = 200, T = 0.1, on the test split) after every epoch. The number of epochs
is fixed before the run, so that the learning-rate and τ schedules end where they should:
one probe epoch measures the epoch time and the kNN time, then the run gets
floor(remaining budget / (epoch + kNN time)) epochs.

    python benchmarks/pretrain_timed.py --minutes 7 --json benchmarks/results/pretrain_gpu.json
    python benchmarks/pretrain_timed.py --tiny --device cpu     # seconds, what the tests run

--data: a folder holding cifar10-jpg-train.zip and cifar10-jpg-test.zip (default ../shared/data),
or a folder in the layout PATH/train/<class>/*, PATH/test/<class>/*; 'embedded' for the
generated dataset (when CIFAR-10 is not there).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

import torch

from byol_course.data import Dataset, load_dataset
from byol_course.evaluate import extract_features, knn_accuracy
from byol_course.report import hardware
from byol_course.config import classroom_config, gpu_config
from byol_course.device import resolve_device
from byol_course.train import pretrain

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


class OutOfTime(Exception):
    """The budget ran out at the end of an epoch."""


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


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=7.0, help="time budget for the probe plus the run")
    p.add_argument("--data", default=str(SHARED))
    p.add_argument("--device", default="auto")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--every", type=int, default=1, help="use every k-th image of each zip (1: all 50,000 + 10,000)")
    p.add_argument("--max-epochs", type=int, default=1000)
    p.add_argument("--tiny", action="store_true", help="seconds: a tiny ConvNet at 16×16, every 250th image, 1 epoch after the probe")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.tiny:
        args.arch, args.batch_size, args.every, args.max_epochs = "convnet", 32, max(args.every, 250), 1
        torch.set_num_threads(1)
    data = args.data if args.data == "embedded" or Path(args.data).expanduser().exists() else "embedded"

    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        name = prepare_folder(data, Path(tmp) / "cifar10", args.every)
        t0 = time.perf_counter()
        train, test = load_dataset(name, "train"), load_dataset(name, "test")
        load_seconds = time.perf_counter() - t0
    if args.tiny and name == "embedded":  # 10,000 + 2,000 generated images: keep a few
        train = Dataset(train.images[:200], train.labels[:200], train.classes, train.name, "train")
        test = Dataset(test.images[:40], test.labels[:40], test.classes, test.name, "test")
    train_x, train_y, test_x, test_y = train.images, train.labels, test.images, test.labels

    cfg = gpu_config(name) if args.arch != "convnet" else classroom_config(name)
    cfg.network.arch = args.arch
    cfg.train.batch_size, cfg.train.device, cfg.train.knn_every = args.batch_size, args.device, 1
    if args.tiny:
        cfg.network.hidden_dim, cfg.network.proj_dim, cfg.network.convnet_width = 32, 8, 4
        cfg.augment.image_size = 16
    mean, std = train.mean_std()
    cfg.augment.mean, cfg.augment.std = tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    knn_seconds: list[float] = []

    def knn(net, epoch: int) -> dict[str, float]:
        t = time.perf_counter()
        ftr = extract_features(net.online_backbone, train_x, cfg.augment)
        fte = extract_features(net.online_backbone, test_x, cfg.augment)
        acc = knn_accuracy(ftr, train_y, fte, test_y)
        knn_seconds.append(time.perf_counter() - t)
        return {"knn_top1": acc}

    budget = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        # probe: one epoch (cuDNN autotuning and allocator warm-up included) and one kNN pass
        cfg.train.epochs = args.max_epochs
        _, probe = pretrain(cfg, Path(tmp) / "probe", train_images=train_x, eval_fn=knn, progress=False, stop_after_epochs=1)
        epoch_s, knn_s = probe[0]["wall_seconds"], knn_seconds[-1]
        left = budget - (time.perf_counter() - t_all)
        epochs = max(1, min(args.max_epochs, math.floor(left / (epoch_s + knn_s))))
        cfg.train.epochs = epochs
        log: list[dict] = []
        last = [time.perf_counter()]

        def on_epoch_end(record: dict) -> None:
            now = time.perf_counter()
            row = {"epoch": record["epoch"], "epoch_seconds": now - last[0], "train_seconds": record["wall_seconds"],
                   "knn_top1": record.get("knn_top1"), "loss": record["loss"],
                   "images_per_s": len(train_x) // cfg.train.batch_size * cfg.train.batch_size / max(1e-9, now - last[0] - knn_seconds[-1])}
            log.append(row)
            print(json.dumps(row), flush=True)
            last[0] = now
            if now - t_all > budget and record["epoch"] < epochs:
                raise OutOfTime

        t_run = time.perf_counter()
        stopped_early = False
        try:
            pretrain(cfg, Path(tmp) / "run", train_images=train_x, eval_fn=knn, progress=False, on_epoch_end=on_epoch_end)
        except OutOfTime:
            stopped_early = True
        run_seconds = time.perf_counter() - t_run

    report = {
        "date": date.today().isoformat(),
        "hardware": hardware(),
        "torch": torch.__version__,
        "device": str(device),
        "dataset": "CIFAR-10 (JPEG)" if name.startswith("folder:") else name,
        "train_images": len(train_x),
        "test_images": len(test_x),
        "arch": args.arch,
        "batch_size": cfg.train.batch_size,
        "recipe": "gpu_config (LARS lr 1.0 × B/256, wd 1e-5, τ 0.99)" if args.arch != "convnet" else "classroom_config",
        "budget_seconds": budget,
        "load_seconds": load_seconds,
        "probe_epoch_seconds": epoch_s,
        "knn_seconds": knn_s,
        "epochs_planned": epochs,
        "stopped_early": stopped_early,
        "run_seconds": run_seconds,
        "total_seconds": time.perf_counter() - t_all,
        "epochs": log,
        "final_knn_top1": log[-1]["knn_top1"] if log else None,
        "command": "python benchmarks/pretrain_timed.py " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{len(log)} epochs of {args.arch} in {run_seconds:.0f} s; final kNN {report['final_knn_top1']}")
    return report


if __name__ == "__main__":
    main()
