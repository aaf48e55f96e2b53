"""Chapter 8 — the upper bound: the same network trained *with* the labels, for the same time as BYOL.

BYOL never sees a label. How much of what the labels could teach did it find? Train the same
backbone, plus a linear classifier, with cross-entropy on the same augmented views (the recipe's
view 1) for the same wall time as BYOL's pretraining, then measure it with the same kNN and linear
probe. The learning rate follows a cosine over the *time* budget (lr·(1 + cos(π·t/T))/2 at t
seconds of T), so the run fills its budget exactly whatever the machine's speed.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .augment import make_view
from .config import RunConfig
from .device import resolve_device
from .networks import build_networks

__all__ = ["train_supervised"]


def train_supervised(
    cfg: RunConfig, images: torch.Tensor, labels: torch.Tensor, seconds: float, progress: bool = True
) -> tuple[nn.Module, dict[str, Any]]:
    """The backbone of cfg's network trained with labels for `seconds` of wall time; returns it and a record of the run."""
    device = resolve_device(cfg.train.device)
    backbone = build_networks(cfg.network, cfg.train.seed).online_backbone.to(device)  # BYOL's starting weights
    classes = int(labels.max()) + 1
    head = nn.Linear(backbone.out_dim, classes).to(device)
    params = [*backbone.parameters(), *head.parameters()]
    lr = cfg.optim.base_lr if cfg.optim.name == "adamw" else 1e-3  # LARS's rates are not Adam's (byol-pytorch #44)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.optim.weight_decay)
    gen = torch.Generator(device=device).manual_seed(cfg.train.seed)
    x_all, y_all = images.to(device), labels.to(device)
    b, v1 = cfg.train.batch_size, cfg.augment.views()[0]  # view 1 as BYOL makes it (blur off when the recipe turns it off)

    def step(progress: float) -> torch.Tensor:
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        idx = torch.randint(len(x_all), (b,), device=device, generator=gen)
        x = make_view(x_all[idx], v1, cfg.augment.image_size, cfg.augment.mean, cfg.augment.std, gen)  # (b, 3, S, S)
        loss = F.cross_entropy(head(backbone(x)), y_all[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    if not seconds > 0:
        raise ValueError(f"The supervised baseline needs a positive time budget, got {seconds} s.")
    backbone.train()
    t0, k = time.perf_counter(), 0
    bar = tqdm(total=round(seconds), desc="supervised", unit="s", disable=not progress, dynamic_ncols=True)
    while (elapsed := time.perf_counter() - t0) < seconds or k == 0:
        loss = step(elapsed / seconds)
        k += 1
        bar.update(round(time.perf_counter() - t0) - bar.n)
    bar.close()
    backbone.eval()
    return backbone, {"steps": k, "seconds": time.perf_counter() - t0, "final_loss": float(loss), "lr": lr}
