"""Where a CPU BYOL step's time goes: making the views vs the networks, ours and lightly's.

Complements bench_step.py (the whole step) to explain its ratio on a small CPU machine:

* views: lightly's BYOLTransform (the CIFAR-10 example's, no blur) on PIL images, one
  process, in view pairs/s; this package's make_views on a uint8 batch, in view pairs/s;
* networks: the step without making views (the same two fixed views every step): online
  forward + backward, target forward, optimiser step, EMA — this package's train path
  (channels_last, LARS, foreach EMA) and lightly's example model (SGD, update_momentum).

Alternating, median of --repeats, in one process.

    benchmarks/.venv/bin/python benchmarks/bench_components.py --json benchmarks/results/components_cpu.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn as nn

from bench_step import HIDDEN, PROJ, hardware, load_images, version
from byol_course.augment import AugmentConfig, make_views
from byol_course.networks import BYOLNetworks, NetworkConfig, build_backbone
from byol_course.ema import ema_update_
from byol_course.objective import symmetric_loss
from byol_course.optim import OptimConfig, build_optimizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.manual_seed(0)
    images_np, data_note = load_images("auto", args.batch_size * 4)
    B = args.batch_size
    batch = torch.from_numpy(images_np[:B]).permute(0, 3, 1, 2).contiguous()  # (B, 3, 32, 32) uint8
    aug = AugmentConfig(image_size=32, blur=False)
    gen = torch.Generator().manual_seed(0)

    from lightly.loss import NegativeCosineSimilarity
    from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
    from lightly.models.utils import deactivate_requires_grad, update_momentum
    from lightly.transforms.byol_transform import BYOLTransform, BYOLView1Transform, BYOLView2Transform
    from PIL import Image

    transform = BYOLTransform(
        view_1_transform=BYOLView1Transform(input_size=32, gaussian_blur=0.0),
        view_2_transform=BYOLView2Transform(input_size=32, gaussian_blur=0.0),
    )
    pil = [Image.fromarray(a) for a in images_np[:B]]

    def lightly_views() -> None:
        for im in pil:
            transform(im)

    def our_views() -> None:
        make_views(batch, aug, gen)

    # networks only, on fixed views
    v1, v2 = make_views(batch, aug, gen)
    net = BYOLNetworks(NetworkConfig(arch="convnet", hidden_dim=HIDDEN, proj_dim=PROJ)).to(memory_format=torch.channels_last)
    opt = build_optimizer(net, OptimConfig(), B)
    c1, c2 = v1.contiguous(memory_format=torch.channels_last), v2.contiguous(memory_format=torch.channels_last)

    def our_networks() -> None:
        z1, z2 = _no_grad(net.target, c1, c2)
        loss = symmetric_loss(net.online(c1), net.online(c2), z1, z2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for t, o in zip(net.target_modules(), net.online_modules()):
            ema_update_(t, o, 0.99)

    backbone = build_backbone(NetworkConfig(arch="convnet"))
    lm = nn.ModuleDict(dict(
        backbone=backbone, proj=BYOLProjectionHead(backbone.out_dim, HIDDEN, PROJ), pred=BYOLPredictionHead(PROJ, HIDDEN, PROJ)))
    lm["backbone_m"], lm["proj_m"] = copy.deepcopy(lm["backbone"]), copy.deepcopy(lm["proj"])
    deactivate_requires_grad(lm["backbone_m"]), deactivate_requires_grad(lm["proj_m"])
    crit = NegativeCosineSimilarity()
    lopt = torch.optim.SGD([q for n, q in lm.named_parameters() if q.requires_grad], lr=0.06)

    def lightly_networks() -> None:
        update_momentum(lm["backbone"], lm["backbone_m"], m=0.99)
        update_momentum(lm["proj"], lm["proj_m"], m=0.99)
        p0, p1 = lm["pred"](lm["proj"](lm["backbone"](v1))), lm["pred"](lm["proj"](lm["backbone"](v2)))
        with torch.no_grad():
            z0, z1 = lm["proj_m"](lm["backbone_m"](v1)), lm["proj_m"](lm["backbone_m"](v2))
        loss = 0.5 * (crit(p0, z1) + crit(p1, z0))
        loss.backward()
        lopt.step()
        lopt.zero_grad()

    tasks = {
        "views: lightly BYOLTransform on PIL (1 process)": lightly_views,
        "views: byol_course make_views (batched)": our_views,
        "networks: byol_course (channels_last, LARS, foreach EMA)": our_networks,
        "networks: lightly example model (SGD, update_momentum)": lightly_networks,
    }
    rates: dict[str, list[float]] = {k: [] for k in tasks}
    for rep in range(args.repeats):
        for name, fn in tasks.items():
            fn()  # warm-up
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            rates[name].append(args.steps * B / (time.perf_counter() - t0))
        print(f"repeat {rep + 1}: " + ", ".join(f"{r[-1]:.0f}" for r in rates.values()), flush=True)
    report = {
        "date": date.today().isoformat(), "hardware": hardware(torch.device("cpu")), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()[0],
        "versions": {"torch": torch.__version__, "lightly": version("lightly")}, "data": data_note, "batch_size": B,
        "per_second": {k: statistics.median(v) for k, v in rates.items()},
        "repeats": rates, "unit": "view pairs per second (views), images per second (networks)",
    }
    print("| component | median per second |\n|---|---|")
    for k, v in report["per_second"].items():
        print(f"| {k} | {v:.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


@torch.no_grad()
def _no_grad(fn, *xs):
    return [fn(x) for x in xs]


if __name__ == "__main__":
    main()
