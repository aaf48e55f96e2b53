"""Chapter 9 — the collapse lab's experiments: the baseline recipe, and one ablation per ingredient.

Each experiment removes or changes one ingredient of the baseline recipe, with what the paper
measured for the same change beside it. `run_key` names a run in the cache: a hash of its
config, its data sizes and the lab's version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from ..config import RunConfig, classroom_config, gpu_config
from ..paper import NUMBERS, PaperNumber

__all__ = [
    "LAB_VERSION", "KNN_K", "Experiment", "EXPERIMENTS", "CORE", "LAMBDAS", "LAMBDA_SWEEP", "SEEDS", "LabSizes", "lab_config",
    "experiment_config", "custom_config", "with_seed", "run_key",
]

LAB_VERSION = 4  # bump when what a run records changes: old cache entries are then ignored (2: projections, init probe; 3: seeds, λ; 4: k = 20, metrics on 500 images)
# Neighbours that vote in the lab's kNN. Its bank holds 200 images a class: with the demo's k = 200
# (Wu et al. 2018's, for CIFAR's 50,000) each vote pooled about a whole class, and the baseline's three
# seeds read 24–49%; k = 20 (DINO's eval_knn: "usually working the best") reads the same networks at
# 37–62% and the collapsed runs at 14–19%, below the untrained network's 21% (measured, LAB_VERSION 3 → 4).
KNN_K = 20


@dataclass(frozen=True)
class Experiment:
    """One ablation: how it changes the baseline and what the paper measured for the same change."""

    name: str
    label: str
    change: Callable[[RunConfig], None]  # edits a copy of the baseline config in place
    paper: str  # the published number for the same change, with its protocol
    source: str  # citation


def _tau(value: float) -> Callable[[RunConfig], None]:
    def change(cfg: RunConfig) -> None:
        cfg.train.tau_base, cfg.train.tau_schedule = value, False

    return change


def _set(section: str, **values: Any) -> Callable[[RunConfig], None]:
    def change(cfg: RunConfig) -> None:
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)

    return change


def _no_stop_gradient(cfg: RunConfig) -> None:
    cfg.train.stop_gradient = False


def _crop_only(cfg: RunConfig) -> None:
    for view in (cfg.augment.view1, cfg.augment.view2):
        view.jitter_p, view.grayscale_p, view.blur_p, view.solarize_p = 0.0, 0.0, 0.0, 0.0


def _small_batch(cfg: RunConfig) -> None:
    cfg.train.batch_size = max(4, cfg.train.batch_size // 4)


_IMAGENET = "Grill et al. 2020 (ImageNet, ResNet-50, 300 epochs, linear top-1, 3 seeds averaged)"


def _paper(*keys: str) -> str:
    """The paper's numbers for an experiment, each with its place (byol_course.paper), joined by '; '."""
    return "; ".join(str(NUMBERS[k]) for k in keys)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment("baseline", "baseline BYOL", lambda cfg: None, _paper("byol"), _IMAGENET),
        Experiment("no_predictor", "no predictor", _set("network", predictor=False), _paper("no_predictor"), _IMAGENET),
        Experiment(
            "tau_0", "τ = 0 (target = online, stop-grad)", _tau(0.0),
            _paper("tau_0", "sg_online_predictor"), _IMAGENET + "; Tables 5a and 19 give two numbers for close settings",
        ),
        Experiment("tau_1", "τ = 1 (target stays at init)", _tau(1.0), _paper("tau_1"), _IMAGENET),
        Experiment(
            "no_stop_gradient",
            "no stop-gradient",
            _no_stop_gradient,
            _paper("no_target_network") + "; SimSiam: 0.1%",
            _IMAGENET + " (its 'predictor, no target network' row); Chen & He 2020 (SimSiam), §4.1",
        ),
        Experiment(
            "no_norm",
            "no norm in heads",
            _set("network", head_norm="none"),
            "28.3% (random encoder 28.8%)",
            "untitled-ai 2020 (STL-10, 10 epochs, linear)",
        ),
        Experiment(
            "group_norm_ws",
            "GroupNorm + WS in heads",
            _set("network", head_norm="group"),
            "73.9% (BN: 74.3%)",
            "Richemond et al. 2020 (ImageNet, ResNet-50, linear top-1; GN + WS everywhere, not only in the heads)",
        ),
        Experiment("no_weight_decay", "no weight decay", _set("optim", weight_decay=0.0), "—", "no published ablation"),
        Experiment("crop_only", "crop + flip only", _crop_only, _paper("crop_flip_only"), _IMAGENET),
        Experiment(
            "small_batch", "batch ÷ 4", _small_batch, _paper("batch_256", "batch_64", "batch_4096"),
            _IMAGENET + "; the paper's small batches accumulate gradients to batch 4096's optimiser step, ours are real",
        ),
    ]
}
CORE = ["baseline", "no_predictor", "tau_0", "tau_1", "no_stop_gradient", "no_norm"]


def _tau_0_lambda(lam: float) -> Callable[[RunConfig], None]:
    def change(cfg: RunConfig) -> None:
        _tau(0.0)(cfg)
        cfg.optim.predictor_lr_scale = lam

    return change


# τ = 0 with the predictor's learning rate × λ: BYOL's appendix, Table 21 (ImageNet, ResNet-50, 300 epochs, linear top-1)
LAMBDAS: dict[float, PaperNumber] = {lam: NUMBERS[f"lambda_{lam:g}"] for lam in (0.0, 1.0, 2.0, 10.0, 20.0)}
_TABLE_21 = "Grill et al. 2020, appendix Table 21 (ImageNet, ResNet-50, 300 epochs, τ = 0, linear top-1)"
for _lam, _paper_number in LAMBDAS.items():
    _name = f"tau_0_lambda_{_lam:g}"
    EXPERIMENTS[_name] = Experiment(_name, f"τ = 0, predictor lr × {_lam:g}", _tau_0_lambda(_lam), str(_paper_number), _TABLE_21)
LAMBDA_SWEEP = [f"tau_0_lambda_{lam:g}" for lam in LAMBDAS]
SEEDS = (0, 1, 2)  # the core set's seeds in the default suite


def with_seed(cfg: RunConfig, seed: int) -> RunConfig:
    """A copy of cfg with another seed (the initial weights, the batches and the views change)."""
    cfg = RunConfig.from_dict(cfg.to_dict())
    cfg.train.seed = seed
    return cfg


@dataclass
class LabSizes:
    """How much data a lab run trains and evaluates on."""

    train_images: int  # the first N images of the (shuffled) training split
    bank_images: int  # labelled training images for the kNN bank and linear probe
    test_images: int  # test images for kNN and UMAP
    metric_images: int | None = None  # the first test images the collapse metrics use (None: all of them)


def lab_config(mode: str = "classroom") -> tuple[RunConfig, LabSizes]:
    """The baseline recipe and data sizes for a run mode ('smoke' | 'classroom' | 'full')."""
    if mode == "full":  # a CUDA GPU: CIFAR-10, ResNet-18 (not yet timed on a GPU)
        cfg = gpu_config("cifar10")
        cfg.train.epochs = 10
        return cfg, LabSizes(train_images=25_000, bank_images=10_000, test_images=5_000)
    cfg = classroom_config("embedded")
    cfg.train.log_every = 25
    if mode == "smoke":
        cfg.train.epochs = 2
        cfg.network.convnet_width, cfg.network.hidden_dim, cfg.network.proj_dim = 4, 64, 32
        cfg.train.batch_size = 32
        return cfg, LabSizes(train_images=256, bank_images=256, test_images=128)
    if mode != "classroom":
        raise ValueError(f"Unknown lab mode {mode!r}; choose smoke, classroom or full.")
    cfg.train.epochs = 4  # 312 steps, about 45 s a run on 2 cores: the default suite's 22 runs fit 20 minutes
    # collapse metrics on 500 test images, as the continuations from a healthy start: half the cost of a
    # run's per-epoch measurement, which was a third of its time
    return cfg, LabSizes(train_images=5_000, bank_images=2_000, test_images=1_000, metric_images=500)


def experiment_config(name: str, base: RunConfig) -> RunConfig:
    """A copy of base with experiment `name`'s change applied."""
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}.")
    cfg = RunConfig.from_dict(base.to_dict())
    EXPERIMENTS[name].change(cfg)
    return cfg


def custom_config(
    base: RunConfig,
    predictor: bool = True,
    tau: float | None = None,
    stop_gradient: bool = True,
    head_norm: str = "batch",
    weight_decay: float | None = None,
) -> tuple[str, RunConfig]:
    """Your own combination of switches; returns (a name describing it, the config). tau None keeps the schedule."""
    cfg = RunConfig.from_dict(base.to_dict())
    cfg.network.predictor, cfg.network.head_norm, cfg.train.stop_gradient = predictor, head_norm, stop_gradient
    parts = []
    if not predictor:
        parts.append("no pred")
    if tau is not None:
        _tau(tau)(cfg)
        parts.append(f"τ={tau:g}")
    if not stop_gradient:
        parts.append("no stop-grad")
    if head_norm != "batch":
        parts.append(f"norm={head_norm}")
    if weight_decay is not None:
        cfg.optim.weight_decay = weight_decay
        parts.append(f"wd={weight_decay:g}")
    cfg.network.__post_init__()  # validate head_norm
    return ("custom: " + ", ".join(parts)) if parts else "custom: baseline", cfg


def run_key(cfg: RunConfig, sizes: LabSizes) -> str:
    """A short hash of everything that determines a run's result: config, data sizes, lab version, kNN's k."""
    key = {"config": cfg.to_dict(), "sizes": dataclasses.asdict(sizes), "lab": LAB_VERSION, "knn_k": KNN_K}
    if cfg.optim.name == "lars" and cfg.optim.clip_lr and cfg.optim.predictor_lr_scale != 1.0:
        key["lambda_after_clip"] = True  # λ under clipped LARS changed meaning (it now scales the capped step): older runs differ
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


