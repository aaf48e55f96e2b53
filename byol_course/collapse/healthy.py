"""Chapter 9 — collapse from a healthy start: continue a trained network with one ingredient removed.

An ablation trained from scratch can only fail to *escape* the untrained network's near-collapsed
start (its projections already point almost the same way). Here the starting point is the lab's
healthy baseline, trained to the end; training goes on with one ingredient removed — or nothing
removed, the control — and the collapse metrics are recorded every few steps, kNN at coarser
intervals, so a student can watch the embedding std fall (or hold).

Every continuation uses the same steps, batches, views and a constant learning rate (the recipe's
peak): only the removed ingredient differs. A result is cached under
cache/<name>-<key>/result.json, keyed by the starting run, the change and the sizes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..checkpoint import CHECKPOINT, load_checkpoint, load_networks
from ..config import RunConfig
from ..device import hardware, resolve_device
from ..evaluate import collapse_metrics
from ..optim import build_optimizer, peak_lr, set_lr
from ..train import Views, train_step
from .experiments import KNN_K, LAB_VERSION, LabSizes, experiment_config
from .runner import LabData, cache_folder, linear_top1, run_experiment
from .store import Store, checksum

__all__ = ["Continuation", "HEALTHY", "HealthySizes", "healthy_config", "run_from_healthy", "run_healthy"]


@dataclass(frozen=True)
class Continuation:
    """One way to continue the healthy run: what it removes."""

    name: str
    label: str
    change: Callable[[RunConfig], None]  # edits a copy of the healthy run's config in place


def _no_stop_gradient(cfg: RunConfig) -> None:
    cfg.train.stop_gradient = False


def _no_predictor(cfg: RunConfig) -> None:
    cfg.network.predictor = False


def _tau_0(cfg: RunConfig) -> None:
    cfg.train.tau_base = 0.0


HEALTHY: dict[str, Continuation] = {
    c.name: c
    for c in [
        Continuation("healthy_control", "healthy, continued (control)", lambda cfg: None),
        Continuation("healthy_no_stop_gradient", "healthy, then no stop-gradient", _no_stop_gradient),
        Continuation("healthy_no_predictor", "healthy, then no predictor", _no_predictor),
        Continuation("healthy_tau_0", "healthy, then τ = 0", _tau_0),
    ]
}


@dataclass
class HealthySizes:
    """How long each continuation runs and how often it is measured."""

    steps: int  # training steps after the healthy start
    every: int  # steps between collapse measurements (std, rank, cosines)
    knn_every: int  # steps between kNN measurements (a multiple of every)
    probe_images: int  # test images the collapse metrics use at each measurement


def healthy_config(name: str, start: RunConfig) -> RunConfig:
    """The healthy run's config with continuation `name`'s change; τ stays at its base, without the schedule."""
    if name not in HEALTHY:
        raise ValueError(f"Unknown continuation {name!r}; choose one of {', '.join(HEALTHY)}.")
    cfg = RunConfig.from_dict(start.to_dict())
    cfg.train.tau_schedule = False  # the healthy run's schedule ended at τ = 1, a frozen target; continue at τ_base
    HEALTHY[name].change(cfg)
    return cfg


def _key(start_key: str, name: str, sizes: HealthySizes) -> str:
    blob = json.dumps({"start": start_key, "name": name, "sizes": dataclasses.asdict(sizes), "lab": LAB_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def run_from_healthy(
    name: str, start: dict[str, Any], start_folder: str | Path, data: LabData, sizes: HealthySizes,
    cache: str | Path = "runs/collapse", progress: bool = True, sources: Sequence[Store] = (),
) -> dict[str, Any]:
    """Continue the healthy run (`start`: its lab result; its checkpoint in start_folder) with one change; or read the
    cache, or a read-only source."""
    key = _key(start["key"], name, sizes)
    folder = Path(cache) / f"{name}-{key}"
    if (folder / "result.json").exists():
        return {**json.loads((folder / "result.json").read_text()), "cached": True, "source": f"local cache: {Path(cache)}"}
    for store in sources:
        if (result := store.result(key)) is not None:
            return {**result, "cached": True, "source": str(store)}
    t0 = time.perf_counter()
    net, healthy = load_networks(load_checkpoint(Path(start_folder) / CHECKPOINT))
    cfg = healthy_config(name, healthy)
    if not cfg.network.predictor:
        net.predictor = nn.Identity()  # the trained predictor is dropped: p = z from here on
    device = resolve_device(cfg.train.device)
    net = net.to(device).train()
    optimizer = build_optimizer(net, cfg.optim, cfg.train.batch_size)  # fresh moments, the same for every continuation
    set_lr(optimizer, peak_lr(cfg.optim, cfg.train.batch_size))  # constant: the recipe's peak
    gen = torch.Generator(device=device).manual_seed(cfg.train.seed + 1)
    views = Views(cfg.augment, [gen], cfg.train.channels_last)
    monitor = dataclasses.replace(data.monitor(cfg), metric_images=sizes.probe_images)  # every measurement on the same images
    probe = data.test[: sizes.probe_images]
    images = data.train.to(device)

    def measure(step: int, losses: list[torch.Tensor], knn: bool) -> dict[str, Any]:
        metrics = monitor(net) if knn else collapse_metrics(net, probe, cfg.augment, cfg.train.seed)
        record = {k: v for k, v in metrics.items() if k != "spectrum"}
        record.update(step=step, loss=float(torch.stack(losses).mean()) if losses else None)
        return record

    history, losses = [measure(0, [], knn=True)], []
    for step in tqdm(range(1, sizes.steps + 1), desc=name, disable=not progress, dynamic_ncols=True):
        idx = torch.randint(len(images), (cfg.train.batch_size,), device=device, generator=gen)
        losses.append(train_step(net, optimizer, images[idx], views, cfg.train.tau_base, stop_gradient=cfg.train.stop_gradient))
        if step % sizes.every == 0:
            history.append(measure(step, losses, knn=step % sizes.knn_every == 0 or step == sizes.steps))
            losses = []
    final, bank, test = monitor.measure(net)
    final["linear_top1"] = linear_top1(bank, test, data, cfg.train.seed)
    result = {
        "name": name, "label": HEALTHY[name].label, "key": key, "start": start["key"], "config": cfg.to_dict(),
        "sizes": dataclasses.asdict(sizes), "knn_k": KNN_K, "dataset": data.name, "proj_dim": cfg.network.proj_dim, "history": history,
        "final": final, "hardware": hardware(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
        "lab_version": LAB_VERSION, "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    result["sha256"] = checksum(result)
    atomic_write_text(folder / "result.json", json.dumps(result))
    return {**result, "cached": False, "source": f"trained: {folder}"}


def run_healthy(
    base: RunConfig, sizes: LabSizes, data: LabData, healthy: HealthySizes, cache: str | Path = "runs/collapse",
    names: list[str] | None = None, progress: bool = True, sources: Sequence[Store] = (),
) -> list[dict[str, Any]]:
    """The lab's baseline (trained, or read from the cache or a source) continued with each change of HEALTHY; one result each."""
    start = run_experiment("baseline", experiment_config("baseline", base), data, sizes, cache, progress=progress, umap=False,
                           sources=sources)
    folder = cache_folder(Path(cache), "baseline", start["key"])
    results = []
    for name in names or list(HEALTHY):
        r = run_from_healthy(name, start, folder, data, healthy, cache, progress, sources)
        if progress:
            f = r["final"]
            how = "from cache" if r["cached"] else f"{r['seconds']:.0f} s"
            print(f"{name}: std {r['history'][0]['embedding_std']:.4f} -> {f['embedding_std']:.4f}, kNN {f['knn_top1']:.1%} ({how})")
        results.append(r)
    return results
