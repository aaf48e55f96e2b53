"""torch.compile on vs off: the BYOL step of the GPU recipe, eager and with the online forward compiled.

What `pretrain(..., compile_model=True)` does (the online network's forward through
torch.compile; the views, the target forward, the loss, LARS and the EMA stay eager), timed on
a short run at batch 512: the first steps (where compilation happens; their time is the cost a
run pays once) and the steady images/s after a warm-up, for the same network, data and seeds.
The JSON is written after the eager run and again after the compiled one, so a compile that
outlasts --budget (the driver then stops it) still leaves the eager figure and says so.

    python benchmarks/compile_check.py --device cuda --json out.json
    python benchmarks/compile_check.py --device cpu --tiny    # the rehearsal (backend aot_eager: no C++ build)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from bench_step import load_images
from byol_course.networks import BYOLNetworks
from byol_course.config import gpu_config
from byol_course.device import Precision, resolve_device
from byol_course.optim import build_optimizer
from byol_course.train import Views, train_step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write(report: dict, path: str | None) -> None:
    if path:
        p = Path(path)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, p)


def run(compiled: bool, cfg, images: torch.Tensor, args: argparse.Namespace, device: torch.device, t_end: float) -> dict:
    torch.manual_seed(0)
    net = BYOLNetworks(cfg.network).to(device).to(memory_format=torch.channels_last)
    opt = build_optimizer(net, cfg.optim, args.batch_size)
    precision = Precision(device, "auto")
    online = torch.compile(net.online, backend=args.backend) if compiled else net.online
    gen = torch.Generator(device=device).manual_seed(0)
    views = Views(cfg.augment, [gen], channels_last=True)
    order = torch.Generator(device="cpu").manual_seed(0)

    def step() -> None:
        idx = torch.randint(images.shape[0], (args.batch_size,), generator=order).to(device)
        train_step(net, opt, images[idx], views, 0.99, precision=precision, online=online)

    first = []
    for _ in range(3):  # compilation happens here (and, for eager, cuDNN's autotuning)
        t = time.perf_counter()
        step()
        sync(device)
        first.append(time.perf_counter() - t)
    if time.perf_counter() > t_end:
        return {"first_steps_seconds": round(sum(first), 2), "images_per_s": None, "note": "budget spent before timing"}
    for _ in range(args.warmup):
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    dt = time.perf_counter() - t
    return {"first_steps_seconds": round(sum(first), 2), "first_steps": [round(x, 3) for x in first],
            "images_per_s": round(args.steps * args.batch_size / dt, 1), "timed_steps": args.steps,
            "precision": precision.name}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default="auto", help="the CIFAR-10 JPEG training zip (bench_step's loader), or 'embedded'")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--backend", default=None, help="torch.compile backend (default inductor; aot_eager with --tiny)")
    p.add_argument("--budget", type=float, default=300.0, help="seconds: skip what would start after this")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    t_end = time.perf_counter() + args.budget
    device = resolve_device(args.device)
    cfg = gpu_config("cifar10")
    if args.tiny:
        cfg.network.arch, cfg.network.convnet_width, cfg.network.hidden_dim, cfg.network.proj_dim = "convnet", 4, 32, 8
        cfg.augment.image_size, args.batch_size, args.warmup, args.steps = 16, 16, 1, 2
        args.backend = args.backend or "aot_eager"
        torch.set_num_threads(1)
    args.backend = args.backend or "inductor"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    np_images, data_note = load_images(args.data, 1024 if args.tiny else 5120, cfg.augment.image_size)
    images = torch.from_numpy(np_images).permute(0, 3, 1, 2).contiguous().to(device)  # (N, 3, H, W) uint8
    report: dict = {"device": str(device), "torch": torch.__version__, "arch": cfg.network.arch, "batch_size": args.batch_size,
                    "backend": args.backend, "data": data_note, "what": "online forward compiled, as pretrain(compile_model=True)"}
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
    report["eager"] = run(False, cfg, images, args, device, t_end)
    write(report, args.json)
    print(f"eager: {report['eager']}", flush=True)
    if time.perf_counter() > t_end:
        report["compiled"] = None
        report["note"] = "no time left for the compiled run"
    else:
        report["compiled"] = run(True, cfg, images, args, device, t_end)
        print(f"compiled: {report['compiled']}", flush=True)
        e, c = report["eager"]["images_per_s"], report["compiled"]["images_per_s"]
        if e and c:
            report["speedup_compiled_over_eager"] = round(c / e, 3)
            extra = report["compiled"]["first_steps_seconds"] - report["eager"]["first_steps_seconds"]
            report["compile_seconds_estimate"] = round(extra, 1)
            gain = args.batch_size / e - args.batch_size / c  # seconds saved per step
            report["steps_to_repay_compile"] = round(extra / gain) if gain > 0 else None
    write(report, args.json)
    return report


if __name__ == "__main__":
    main()
