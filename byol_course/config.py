"""Chapter 5 — a run's configuration and the course's two recipes.

A run is described by one `RunConfig`: a dataclass per component (`TrainConfig` here,
`augment.AugmentConfig`, `networks.NetworkConfig`, `optim.OptimConfig`), each with its source's
defaults. It is saved as config.json beside every checkpoint and inside it; `RunConfig.from_dict`
reads it back and says in one sentence what is wrong with a file that does not fit (a missing
section, an unknown or mistyped setting). A setting missing from an older file takes its default.

The recipes: `classroom_config` (the small ConvNet, minutes on a laptop CPU) and `gpu_config`
(ResNet-18 on CIFAR-10, after solo-learn).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

from .augment import AugmentConfig, ViewConfig, classroom_augment
from .device import PRECISIONS
from .networks import NetworkConfig, classroom_network
from .optim import OptimConfig

__all__ = [
    "TrainConfig",
    "RunConfig",
    "MIN_IMAGE_SIZE",
    "check_config",
    "replace_config",
    "classroom_config",
    "gpu_config",
]

# The smallest views each backbone takes (measured): the ConvNet's three 2×2 max-pools halve
# 8 to 1 pixel, and a 7×7 view fails in the last pool; the ResNets run down to 1×1, but the
# views' Gaussian blur pads by reflection, which needs 2×2.
MIN_IMAGE_SIZE = {"convnet": 8, "resnet18": 2, "resnet50": 2}


@dataclass
class TrainConfig:
    """The run: data, length, EMA, precision, switches for the collapse lab."""

    dataset: str = "embedded"
    epochs: int = 10
    batch_size: int = 256
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    tau_base: float = 0.99  # paper: 0.996 for its 1000-epoch runs (§3.3); 0.99 in its 300-epoch ablations (§5)
    tau_schedule: bool = True  # cosine from tau_base to 1; False keeps τ = tau_base
    stop_gradient: bool = True  # False: gradients through both branches, target = online
    precision: str = "auto"  # "auto" | "fp32" | "bf16" | "fp16"
    channels_last: bool = True
    knn_every: int = 0  # epochs between kNN checks on the test split (0: only at the end)
    log_every: int = 10  # steps between host syncs (loss logging, NaN check)

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            problems.append(f"batch size must be at least 2 (BatchNorm needs two samples), got {self.batch_size}")
        if not 0.0 <= self.tau_base <= 1.0:
            problems.append(f"tau must be in [0, 1], got {self.tau_base}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if self.seed < 0:
            problems.append(f"the seed must be 0 or more, got {self.seed}")
        if self.log_every < 1:
            problems.append(f"log_every must be at least 1, got {self.log_every}")
        if self.knn_every < 0:
            problems.append(f"knn_every must be 0 (only at the end) or more, got {self.knn_every}")
        if problems:
            raise ValueError("; ".join(problems) + ".")


@dataclass
class RunConfig:
    """Everything a run needs; saved as config.json beside its checkpoint."""

    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON- and weights_only-safe)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: Any) -> "RunConfig":
        """Inverse of to_dict; a ValueError naming the setting when d does not describe a run."""
        return _build(cls, d, "config")


def _build(cls: type, data: Any, where: str) -> Any:
    """cls(**data), every field checked against its type hint; nested dataclasses recursively."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} should be a table of settings, got {type(data).__name__} {data!r:.40}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where} has unknown setting(s) {', '.join(map(str, unknown))}")
    sections = [name for name in fields if dataclasses.is_dataclass(hints[name]) and name not in data]
    if sections:
        raise ValueError(f"{where} lacks the section(s) {', '.join(sections)}")
    values = {name: _value(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except ValueError as e:
        raise ValueError(f"{where}: {str(e).rstrip('.')}") from None


def _value(hint: Any, value: Any, where: str) -> Any:
    """value checked against a field's type hint (int, float, bool, str, tuple of floats, a dataclass)."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        ok = isinstance(value, (list, tuple)) and len(value) == len(args) and all(_is_number(v) for v in value)
        if not ok:
            raise ValueError(f"{where} should be a list of {len(args)} numbers, got {value!r:.60}")
        return tuple(value)
    description, fits = _SCALARS[hint]
    if not fits(value):
        raise ValueError(f"{where} should be {description}, got {value!r:.60}")
    return value  # an int stays an int (its JSON, and so the collapse lab's cache key, is unchanged)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_SCALARS = {  # type hint -> (what it should be, in words; the test)
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", _is_number),
    str: ("a string", lambda v: isinstance(v, str)),
}


def check_config(cfg: RunConfig) -> None:
    """Refuse a config that cannot run, with one sentence (also after fields were edited in place)."""
    for part in (cfg.train, cfg.network, cfg.optim):
        dataclasses.replace(part)  # re-runs each component's own checks
    size, arch = cfg.augment.image_size, cfg.network.arch
    smallest = MIN_IMAGE_SIZE[arch]
    if isinstance(size, bool) or not isinstance(size, int) or size < smallest:
        why = "its three 2×2 max-pools need" if arch == "convnet" else "the augmented views need"
        raise ValueError(
            f"Image size {size} is too small for the {arch}: {why} at least {smallest}×{smallest} pixels; "
            f"use --image-size {smallest} or more (32 is the usual)."
        )


def replace_config(cfg: Any, **changes: Any) -> Any:
    """dataclasses.replace, re-exported for notebooks."""
    return dataclasses.replace(cfg, **changes)


# --- recipes --------------------------------------------------------------------------------


def classroom_config(dataset: str = "embedded") -> RunConfig:
    """The CPU classroom recipe: the small ConvNet, about two minutes of BYOL on 2 cores.

    Measured choices (data/README.md, benchmarks/embedded_design.py, benchmarks/recipe_study.py):
    AdamW 2e-3 (Adam with LARS's learning rate of 0.2 collapses, byol-pytorch #44; 4e-3 and
    8e-3 were worse); τ_base 0.8 (a run of 780 steps needs a target that keeps up: in kNN
    0.99 < 0.96 < 0.9 < 0.8); batch 64 (more steps in the same time); 5 epochs of 32×32 (24×24
    is 1.8× faster a step but worse at equal time); the views and the network of
    `augment.classroom_augment` and `networks.classroom_network`.
    """
    return RunConfig(
        train=TrainConfig(dataset=dataset, epochs=5, batch_size=64, tau_base=0.8),
        augment=classroom_augment(),
        network=classroom_network(),
        optim=OptimConfig(name="adamw", base_lr=2e-3, weight_decay=1e-4, warmup_epochs=1, scale_lr_by_batch=False),
    )


def gpu_config(dataset: str = "cifar10") -> RunConfig:
    """The GPU recipe: solo-learn's CIFAR BYOL (scripts/pretrain/cifar/byol.yaml), ResNet-18 in CIFAR form.

    As solo-learn: ResNet-18 with a 3×3 stride-1 stem and no max-pool; projector and predictor
    Linear(→4096)–BN–ReLU–Linear(→256); LARS with momentum 0.9, base lr 1.0 scaled by
    batch/256 (solo-learn's rule too), weight decay 1e-5, trust coefficient η = 0.02 with
    `clip_lr` and biases and norm parameters excluded; a 10-epoch linear warm-up, then cosine
    to 0, per step; τ from 0.99 to 1 on a cosine over all steps; the symmetric loss summed
    over both view pairs. Views (its augmentations/asymmetric.yaml): random resized crop with
    area (0.08, 1), flip 0.5, colour jitter 0.8 (0.4, 0.4, 0.2, 0.1), grayscale 0.2, no blur in
    either view, solarize 0 in view 1 and 0.2 in view 2; CIFAR-10's mean and std.

    Deviations, each on purpose:
    - batch 512, not 256: the batch of lightly's CIFAR-10 benchmark and of our GPU timings; it
      halves the steps of an epoch on a large GPU (whether it fits a T4's memory is not measured yet). The learning rate
      follows solo-learn's own linear rule (1.0 × 512/256 = 2.0), so this is solo-learn's
      recipe at batch 512. (BYOL's batch-size ablation, Table 16, reads 71.8% at 256 and 72.2% at
      512, but it built those batches by accumulating gradients up to batch 4096's optimiser step:
      it varies what batch normalisation sees, not the optimiser's batch. Its real batch-512 run,
      Appendix G, needed its own lr 0.4 and τ_base 0.9995.)
    - epochs 200, not 1000: a run that fits an afternoon (lightly's benchmark length); pass
      --epochs 1000 for solo-learn's. τ_base 0.99 either way, as solo-learn uses for 1000.
    - precision: bf16 autocast on GPUs of compute capability ≥ 8.0 (no loss scaling needed),
      fp16 with GradScaler below (T4), where solo-learn runs fp16 ("16-mixed") everywhere.
    - the stem conv pads by 1 (output 32×32), solo-learn's by 2 (34×34, a border of zeros).
    - views: bilinear resampling in the crop (solo-learn: bicubic) and a YIQ hue rotation
      (torchvision: HSV), both from `augment`, which augments per sample on the device. Like
      solo-learn (torchvision's ColorJitter), brightness is a factor, not the offset of BYOL's
      appendix and DeepMind's code (`augment`'s docstring names each difference).
    - the target's BatchNorm statistics: momentum 0, averaged by the EMA with the weights
      (`ema.ema_update_`); solo-learn averages parameters only and lets the target's own forward
      passes keep them. Training is the same; they differ only if the target runs in eval mode.
    - the predictor's learning-rate multiplier λ (collapse lab) multiplies the step after
      `clip_lr`'s cap (`optim.LARS`), so that it does something under clipping.
    - no online linear classifier trained beside BYOL (solo-learn's `classifier_lr`): we
      measure with kNN (k = 200) and the offline linear probe of `evaluate`.
    - the warm-up starts at lr/warm-up steps, not at solo-learn's 3e-5; both are ≈ 0.
    """
    view1 = ViewConfig(blur_p=0.0, solarize_p=0.0)
    view2 = ViewConfig(blur_p=0.0, solarize_p=0.2)
    augment = AugmentConfig(view1=view1, view2=view2, blur=False)  # CIFAR recipes drop blur (solo-learn, lightly)
    if dataset == "cifar10":  # solo-learn's normalisation for CIFAR-10 (solo/data/pretrain_dataloader.py)
        augment.mean, augment.std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    return RunConfig(
        train=TrainConfig(dataset=dataset, epochs=200, batch_size=512, tau_base=0.99),
        augment=augment,
        network=NetworkConfig(arch="resnet18", hidden_dim=4096, proj_dim=256),
        optim=OptimConfig(
            name="lars", base_lr=1.0, weight_decay=1e-5, momentum=0.9, trust_coefficient=0.02, clip_lr=True,
            warmup_epochs=10,
        ),
    )
