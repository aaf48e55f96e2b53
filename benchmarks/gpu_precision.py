"""A few BYOL steps in fp32, bf16 autocast and fp16 autocast + GradScaler: finite, and agreeing with fp32.

The GPU recipe (gpu_config: ResNet-18, LARS η 0.02 with clipping) from the same initial weights
and the same views in each mode (one seed for the weights, one generator seed for the
augmentations), on a fixed batch of random uint8 images:

- fp16 + GradScaler is what `autocast_dtype` picks on a GPU of compute capability < 8.0 such
  as Colab's T4, forced here on whatever GPU runs it;
- bf16 is what it picks on compute capability ≥ 8.0 (A100, H100, H200), without a scaler;
- fp32 is the reference (cuDNN may use TF32 in its convolutions, PyTorch's default).

Checks per mode: every loss finite, the weights finite and moved, the first loss within 5%
of fp32's (the same function in lower precision), and for fp16 at least one optimiser step
taken (GradScaler skips steps whose gradients overflow and lowers its scale). Times: the
median step after the first two.

    python benchmarks/gpu_precision.py --device cuda --json out.json
    python benchmarks/gpu_precision.py --device cpu --tiny           # the rehearsal
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from byol_course.networks import BYOLNetworks
from byol_course.config import gpu_config
from byol_course.device import Precision, autocast_dtype, resolve_device
from byol_course.optim import build_optimizer
from byol_course.train import Views, train_step

MODES = {"fp32": None, "bf16": torch.bfloat16, "fp16+scaler": torch.float16}
TOLERANCE = 0.05


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_mode(mode: str, cfg, images: torch.Tensor, steps: int, device: torch.device) -> dict:
    amp = MODES[mode]
    torch.manual_seed(0)
    net = BYOLNetworks(cfg.network).to(device).to(memory_format=torch.channels_last)
    opt = build_optimizer(net, cfg.optim, images.shape[0])
    for group in opt.param_groups:
        group["lr"] = 0.1 * group["lr"]  # a warm-up-sized step: the check is about numbers, not about training
    precision = Precision(device, {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[amp])
    scaler = precision.scaler if precision.scaler.is_enabled() else None
    gen = torch.Generator(device=device).manual_seed(0)
    views = Views(cfg.augment, [gen], channels_last=True)
    before = [p.detach().clone() for p in net.online_parameters()]
    losses, times, scales, taken = [], [], [], 0
    for k in range(steps):
        prev = next(iter(net.online_parameters())).detach().clone()
        sync(device)
        t = time.perf_counter()
        loss = train_step(net, opt, images, views, 0.99, precision=precision)
        sync(device)
        times.append(time.perf_counter() - t)
        losses.append(float(loss))
        taken += int(not torch.equal(prev, next(iter(net.online_parameters())).detach()))
        if scaler is not None:
            scales.append(float(scaler.get_scale()))
    after = list(net.online_parameters())
    moved = any(not torch.equal(a, b) for a, b in zip(before, after))
    finite = all(torch.isfinite(p).all() for p in after)
    return {
        "dtype": str(amp).replace("torch.", "") if amp else "float32",
        "losses": [round(x, 6) for x in losses],
        "losses_finite": all(map(lambda x: x == x and abs(x) != float("inf"), losses)),
        "weights_finite": bool(finite),
        "weights_moved": moved,
        "optimizer_steps_taken": taken,
        "grad_scaler_scales": scales or None,
        "step_ms_median": round(1000 * statistics.median(times[2:] or times), 2),
        "first_step_ms": round(1000 * times[0], 1),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--tiny", action="store_true", help="a tiny ConvNet at 16×16, batch 16, 3 steps (CPU rehearsal)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    cfg = gpu_config("cifar10")
    if args.tiny:
        cfg.network.arch, cfg.network.convnet_width, cfg.network.hidden_dim, cfg.network.proj_dim = "convnet", 4, 32, 8
        cfg.augment.image_size, args.batch_size, args.steps = 16, 16, 3
        torch.set_num_threads(1)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    g = torch.Generator().manual_seed(1)
    size = cfg.augment.image_size
    images = torch.randint(0, 256, (args.batch_size, 3, size, size), dtype=torch.uint8, generator=g).to(device)
    report: dict = {"device": str(device), "arch": cfg.network.arch, "batch_size": args.batch_size, "steps": args.steps,
                    "autocast_dtype_auto": str(autocast_dtype(device, "auto")), "tolerance_first_loss": TOLERANCE, "modes": {}}
    if device.type == "cuda":
        prop = torch.cuda.get_device_properties(device)
        report["gpu"] = f"{prop.name} (compute capability {prop.major}.{prop.minor})"
    for mode in MODES:
        try:
            report["modes"][mode] = run_mode(mode, cfg, images, args.steps, device)
        except Exception as e:  # noqa: BLE001 — one mode failing must not hide the others
            report["modes"][mode] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    ref = report["modes"].get("fp32", {}).get("losses")
    for mode, r in report["modes"].items():
        if "error" in r:
            r["ok"] = False
            continue
        r["first_loss_rel_diff_vs_fp32"] = round(abs(r["losses"][0] - ref[0]) / abs(ref[0]), 5) if ref else None
        r["ok"] = bool(r["losses_finite"] and r["weights_finite"] and r["weights_moved"] and r["optimizer_steps_taken"] > 0
                       and (r["first_loss_rel_diff_vs_fp32"] or 0.0) <= TOLERANCE)
    report["ok"] = all(r["ok"] for r in report["modes"].values())
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    for mode, r in report["modes"].items():
        print(f"{mode:<12} {'ok' if r['ok'] else 'FAILED'} {json.dumps({k: v for k, v in r.items() if k != 'ok'})}")
    if not report["ok"]:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()
