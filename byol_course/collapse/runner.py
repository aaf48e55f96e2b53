"""Chapter 9 — running the collapse lab: train each experiment, measure collapse after every epoch, cache the result.

The per-epoch record (epoch 0 = the untrained network): loss, embedding std against 1/√d,
effective rank, kNN accuracy of the backbone, and the cosines of positive and random pairs; at
the end a linear probe (and the untrained network's), the spectrum, a UMAP of the test
features and the projections on their two main axes at one scale. A result is cached under
cache/<name>-<key>/result.json, keyed by `run_key`; an interrupted run resumes from its last epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..augment import normalize
from ..config import RunConfig
from ..data import load_dataset
from ..device import hardware, resolve_device
from ..evaluate import Monitor, eval_mode, linear_probe
from ..networks import BYOLNetworks, build_networks
from ..lock import RunLocked, held_by, run_lock
from ..train import pretrain
from .experiments import CORE, EXPERIMENTS, KNN_K, LAB_VERSION, LabSizes, experiment_config, lab_config, run_key, with_seed
from .report import verdict
from .store import Store, checksum

__all__ = ["LabData", "load_lab_data", "linear_top1", "cache_folder", "run_experiment", "run_lab", "projection_2d", "summary"]

@dataclass
class LabData:
    """The images one lab uses, loaded once and shared by its runs, and their colour statistics."""

    name: str
    train: torch.Tensor  # uint8 (N, 3, H, W), unlabelled pretraining images
    bank: torch.Tensor  # uint8, labelled training images (kNN bank, linear-probe training set)
    bank_labels: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, float, float]  # per-channel mean and std of the training split, for the views
    std: tuple[float, float, float]
    metric_images: int | None = None  # the first test images the collapse metrics use (LabSizes.metric_images)
    _init_probes: dict[tuple[int, str], float] = field(default_factory=dict, repr=False, compare=False)

    def normalised(self, cfg: RunConfig) -> RunConfig:
        """A copy of cfg whose views are normalised with this data's mean and std."""
        cfg = RunConfig.from_dict(cfg.to_dict())
        cfg.augment.mean, cfg.augment.std = self.mean, self.std
        return cfg

    def init_probe(self, bank: torch.Tensor, test: torch.Tensor, seed: int) -> float:
        """linear_top1 of an untrained backbone's features, computed once per distinct set of features.

        Experiments that change only the heads or the training start from the same backbone
        (the same seed, the same weights): their features, and so their probe, are identical.
        """
        key = (seed, hashlib.sha256(bank.numpy().tobytes() + test.numpy().tobytes()).hexdigest())
        if key not in self._init_probes:
            self._init_probes[key] = linear_top1(bank, test, self, seed)
        return self._init_probes[key]

    def monitor(self, cfg: RunConfig) -> Monitor:
        """What a run on this data watches: kNN against the bank, collapse metrics on the test images."""
        return Monitor(self.bank, self.bank_labels, self.test, self.test_labels, cfg.augment, seed=cfg.train.seed, k=KNN_K,
                       metric_images=self.metric_images)


def load_lab_data(cfg: RunConfig, sizes: LabSizes) -> LabData:
    """Load cfg's dataset once, at the sizes of the lab."""
    train = load_dataset(cfg.train.dataset, "train", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    test = load_dataset(cfg.train.dataset, "test", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    mean, std = train.mean_std()
    return LabData(
        name=train.name,
        train=train.images[: sizes.train_images],
        bank=train.images[: sizes.bank_images],
        bank_labels=train.labels[: sizes.bank_images],
        test=test.images[: sizes.test_images],
        test_labels=test.labels[: sizes.test_images],
        classes=list(test.classes),
        mean=tuple(round(m, 4) for m in mean),
        std=tuple(round(s, 4) for s in std),
        metric_images=sizes.metric_images,
    )


def linear_top1(bank: torch.Tensor, test: torch.Tensor, data: LabData, seed: int) -> float:
    """The linear probe's test top-1 on features of the lab's bank and test images."""
    return linear_probe(bank, data.bank_labels, test, data.test_labels, seed=seed)["top1"]


@torch.no_grad()
def projection_2d(net: BYOLNetworks, cfg: RunConfig, images: torch.Tensor) -> list[list[float]]:
    """The normalised online projections z̄ of images on their two main axes (PCA), at their true scale.

    Unlike UMAP, which rescales every map to fill its plot, this keeps distances: a collapsed
    run, whose z̄ are all nearly the same unit vector, shows as a point at the origin.
    """
    device = next(net.parameters()).device
    with eval_mode(net):
        z = torch.cat([net.project(normalize(images[i : i + 512].to(device), cfg.augment)).float().cpu() for i in range(0, len(images), 512)])
    zc = F.normalize(z, dim=1)
    zc = zc - zc.mean(dim=0)  # (N, d) centred unit vectors
    _, _, v = torch.linalg.svd(zc, full_matrices=False)
    return (zc @ v[:2].T).tolist()  # (N, 2)


def cache_folder(cache: Path, name: str, key: str) -> Path:
    """cache/<name>-<key>; an existing folder with the same key is reused whatever its name."""
    found = sorted(cache.glob(f"*-{key}")) if cache.exists() else []
    if found:
        return found[0]
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in name).strip("-")[:40] or "run"
    return cache / f"{safe}-{key}"


LAB_LOCK = "lab.lock"  # held for a whole lab run (training, measuring, writing result.json); pretrain holds run.lock inside


def _writer(folder: Path) -> tuple[int, str] | None:
    return held_by(folder, LAB_LOCK) or held_by(folder)


def wait_for_writer(folder: Path, label: str, minutes: float = 60.0, poll: float = 2.0) -> dict[str, Any] | None:
    """If a live process is running this lab run into folder, wait for its result.json and return it.

    None when nobody holds the folder (run it yourself), or when the other process stopped without
    a result (its lock is then taken over by this one, which says so). Says what it waits for, how
    long at most, and how to stop waiting.
    """
    holder = _writer(folder)
    if holder is None:
        return None
    pid, host = holder
    where = "" if host == socket.gethostname() else f" on {host}"
    print(f"Another run (process {pid}{where}) is training '{label}' into {folder}: waiting for its result, up to "
          f"{minutes:g} min (interrupt the kernel, or press Ctrl-C, to stop waiting).", flush=True)
    t0 = time.monotonic()
    with tqdm(desc=f"waiting for process {pid}", bar_format="{desc}: {elapsed}", dynamic_ncols=True) as bar:
        while time.monotonic() - t0 < minutes * 60:
            if (folder / "result.json").exists():
                print(f"Process {pid} finished '{label}' after {time.monotonic() - t0:.0f} s: reading its result.", flush=True)
                return json.loads((folder / "result.json").read_text())
            if _writer(folder) is None:
                print(f"Process {pid} stopped before finishing '{label}': running it here.", flush=True)
                return None
            time.sleep(poll)
            bar.update()
    raise TimeoutError(f"Process {pid} has been training '{label}' into {folder} for {minutes:g} min: stop it, or wait longer "
                       f"(run_experiment(..., wait_minutes=…)), or delete {folder / LAB_LOCK} if that process is gone.")


def run_experiment(
    name: str,
    cfg: RunConfig,
    data: LabData,
    sizes: LabSizes,
    cache: str | Path = "runs/collapse",
    label: str | None = None,
    progress: bool = True,
    umap: bool = True,
    sources: Sequence[Store] = (),
    wait_minutes: float = 60.0,
) -> dict[str, Any]:
    """Train one configuration on data (normalised with its colour statistics) and record its collapse metrics,
    or read them from the cache, or from a read-only source (a class cache, the precomputed runs).

    The cache entry is cache/<name>-<key>/result.json, key = run_key(the normalised cfg, sizes);
    a run that was interrupted resumes from its last saved epoch. Each result says where it came
    from (`source`); nothing is ever written to a source. When another process is running the
    same experiment into the same cache (a class pressing Run together), this one waits for its
    result instead of training it twice.
    """
    cfg = data.normalised(cfg)
    label = label or (EXPERIMENTS[name].label if name in EXPERIMENTS else name)
    key = run_key(cfg, sizes)
    folder = cache_folder(Path(cache), name, key)
    result_path = folder / "result.json"
    found = [(json.loads(result_path.read_text()), f"local cache: {Path(cache)}")] if result_path.exists() else []
    found += [(r, str(store)) for store in sources if (r := store.result(key)) is not None]
    for result, source in found:
        if not umap or result.get("umap") is not None:
            # the same run may be cached under another experiment's name (τ = 0 is λ = 1 of the sweep): name it as asked
            result.update(name=name, label=label, cached=True, source=source)
            return result
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        if (waited := wait_for_writer(folder, label, wait_minutes)) is not None:  # a classmate's run of the same experiment
            waited.update(name=name, label=label, cached=True, source=f"local cache: {Path(cache)} (another process trained it)")
            return waited
        try:
            with run_lock(folder, "use another cache folder", name=LAB_LOCK):
                result = _train_and_measure(name, label, key, cfg, data, sizes, folder, progress, umap)
            break
        except RunLocked:  # another process took the run a moment ago: wait for it instead
            continue
    result.update(cached=False, source=f"trained: {folder}")
    return result


def _train_and_measure(name: str, label: str, key: str, cfg: RunConfig, data: LabData, sizes: LabSizes, folder: Path,
                       progress: bool, umap: bool) -> dict[str, Any]:
    """Train the run into folder (resuming an interrupted one), measure it, and write its result.json atomically."""
    t0 = time.perf_counter()
    monitor = data.monitor(cfg)
    first, init_bank, init_test = monitor.measure(build_networks(cfg.network, cfg.train.seed).to(resolve_device(cfg.train.device)))
    init_linear = data.init_probe(init_bank, init_test, cfg.train.seed)
    last: dict[int, tuple] = {}  # the last epoch's measurement, reused as the final one

    def eval_fn(net: BYOLNetworks, epoch: int) -> dict[str, Any]:
        m, bank, test = monitor.measure(net)
        last.clear()
        last[epoch] = (dict(m), bank, test)
        m.pop("spectrum")
        return m

    cfg.train.knn_every = 1
    if progress:
        print(f"[{name}] training {cfg.train.epochs} epochs on {data.train.shape[0]} images ({folder})")
    resume = (folder / "checkpoint.pt").exists()  # an interrupted run continues
    net, history = pretrain(cfg, folder, resume=resume, train_images=data.train, eval_fn=eval_fn, progress=progress)
    final, bank, test_features = last[cfg.train.epochs] if cfg.train.epochs in last else monitor.measure(net)
    final["linear_top1"] = linear_top1(bank, test_features, data, cfg.train.seed)
    init_record = {"epoch": 0, "step": 0, **{k: v for k, v in first.items() if k != "spectrum"}}
    result: dict[str, Any] = {
        "name": name,
        "label": label,
        "key": key,
        "config": cfg.to_dict(),
        "sizes": dataclasses.asdict(sizes),
        "knn_k": KNN_K,
        "dataset": data.name,
        "proj_dim": cfg.network.proj_dim,
        "history": [init_record, *history],
        "final": final,
        "init_spectrum": first["spectrum"],
        "init_linear_top1": init_linear,
        "hardware": hardware(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "lab_version": LAB_VERSION,
        "train_seconds": history[-1]["wall_seconds"],
    }
    result["projection_2d"] = projection_2d(net, cfg, data.test)
    if umap:
        from ..visualize import umap_embed

        result["umap"] = umap_embed(test_features, seed=cfg.train.seed).tolist()
    result["seconds"] = time.perf_counter() - t0
    result["sha256"] = checksum(result)  # a class cache's copy that was edited afterwards is refused
    atomic_write_text(folder / "result.json", json.dumps(result))
    return result


def run_lab(
    names: Sequence[str] = CORE,
    mode: str = "classroom",
    cache: str | Path = "runs/collapse",
    progress: bool = True,
    umap: bool = True,
    base: RunConfig | None = None,
    sizes: LabSizes | None = None,
    data: LabData | None = None,
    seeds: Sequence[int] | None = None,
    sources: Sequence[Store] = (),
) -> list[dict[str, Any]]:
    """Run (or read from the cache or a read-only source) the named experiments on the lab's data; one result per name and seed.

    base, sizes: the baseline recipe and data sizes (default: lab_config(mode)); data: the
    images, when the caller already loaded them with load_lab_data(base, sizes); seeds: each
    experiment once per seed (default: base's own seed); sources: read-only stores to read
    finished runs from before training (store.read_sources).
    """
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"Unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}.")
    if base is None or sizes is None:
        base_cfg, base_sizes = lab_config(mode)
        base, sizes = base or base_cfg, sizes or base_sizes
    data = data or load_lab_data(base, sizes)
    runs = [(name, seed) for name in names for seed in (seeds if seeds is not None else [base.train.seed])]
    results = []
    for i, (name, seed) in enumerate(runs):
        cfg = with_seed(experiment_config(name, base), seed)
        r = run_experiment(name, cfg, data, sizes, cache, progress=progress, umap=umap and seed == runs[0][1], sources=sources)
        if progress:
            print(f"[{i + 1}/{len(runs)}] {name} (seed {seed}): {summary(r)}")
        results.append(r)
    return results


def summary(r: dict[str, Any]) -> str:
    """One line: the final collapse metrics, kNN, linear probe, the verdict, and whether it came from the cache."""
    f = r["final"]
    how = f"from the {r['source'].split(': ', 1)[0]}" if r.get("cached") else f"{r['seconds']:.0f} s"
    return (
        f"std {f['embedding_std']:.4f}, rank {f['effective_rank']:.1f}, kNN {f['knn_top1']:.1%}, "
        f"linear {f['linear_top1']:.1%} → {verdict(r)} ({how})"
    )
