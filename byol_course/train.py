"""Chapter 5 — training: the BYOL step, optimisers, schedules, checkpoints and the loop.

The step, in the paper's order (Grill et al. 2020, Algorithm 1):
    two views → online predictions → target projections (no grad) → symmetric loss
    → backward → optimiser step → EMA update of the target.

The loop around it keeps small datasets on the device as uint8 and augments there, writes
a checkpoint atomically after every epoch (models, optimiser, RNG streams, step, history)
and resumes from it bit for bit on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from tqdm.auto import tqdm

from . import distributed
from ._atomic import WriteError, atomic_path, remove_partial_writes
from .augment import AugmentConfig, ViewConfig, make_views
from .networks import BYOLNetworks, NetworkConfig
from .ema import ema_update_, tau_schedule
from .objective import symmetric_loss

if TYPE_CHECKING:
    from .stream import ImageStream

__all__ = [
    "OptimConfig",
    "TrainConfig",
    "RunConfig",
    "LARS",
    "build_optimizer",
    "lr_at",
    "resolve_device",
    "autocast_dtype",
    "train_step",
    "pretrain",
    "save_checkpoint",
    "load_checkpoint",
    "TrainingDiverged",
    "CheckpointError",
    "WriteError",
    "check_config",
    "MIN_IMAGE_SIZE",
    "classroom_config",
    "gpu_config",
    "load_networks",
    "peak_lr",
    "replace_config",
]

CHECKPOINT = "checkpoint.pt"
OPTIMIZERS = ("lars", "sgd", "adamw")
# The smallest views each backbone takes (measured): the ConvNet's three 2×2 max-pools halve
# 8 to 1 pixel, and a 7×7 view fails in the last pool; the ResNets run down to 1×1, but the
# views' Gaussian blur pads by reflection, which needs 2×2.
MIN_IMAGE_SIZE = {"convnet": 8, "resnet18": 2, "resnet50": 2}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: truncated, untrusted, or for another model."""


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule. Defaults: BYOL's LARS recipe (§3.3, Appendix C)."""

    name: str = "lars"  # "lars" (paper) | "sgd" | "adamw"
    base_lr: float = 0.2  # scaled by batch_size / 256 (paper: 0.2 × B/256)
    weight_decay: float = 1.5e-6  # paper: 1.5e-6
    momentum: float = 0.9
    trust_coefficient: float = 1e-3  # LARS η: 1e-3 in the paper (ImageNet); solo-learn's CIFAR recipe: 0.02
    clip_lr: bool = False  # LARS: cap each layer's rate at the global lr (solo-learn's CIFAR recipe: True)
    warmup_epochs: float = 10.0  # paper: 10 of 1000 epochs; linear warm-up, then cosine to 0
    scale_lr_by_batch: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.name not in OPTIMIZERS:
            problems.append(f"unknown optimiser {self.name!r}, choose one of {', '.join(OPTIMIZERS)}")
        if not (math.isfinite(self.base_lr) and self.base_lr > 0):
            problems.append(
                f"the learning rate must be positive and finite, got {self.base_lr} (LARS: 0.2 × batch/256, AdamW: about 1e-3)"
            )
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            problems.append(f"weight decay must be 0 or more, got {self.weight_decay}")
        if not 0.0 <= self.momentum < 1.0:
            problems.append(f"momentum must be in [0, 1), got {self.momentum}")
        if not (math.isfinite(self.trust_coefficient) and self.trust_coefficient > 0):
            problems.append(f"the LARS trust coefficient must be positive, got {self.trust_coefficient} (paper: 1e-3)")
        if not (math.isfinite(self.warmup_epochs) and self.warmup_epochs >= 0):
            problems.append(f"warm-up epochs must be 0 or more, got {self.warmup_epochs}")
        if problems:
            raise ValueError("; ".join(problems) + ".")


@dataclass
class TrainConfig:
    """The run: data, length, EMA, precision, switches for the collapse lab."""

    dataset: str = "embedded"
    epochs: int = 10
    batch_size: int = 256
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N" | "mps"
    tau_base: float = 0.99  # paper: 0.996 (1000 epochs), 0.99 (≤ 300 epochs)
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
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
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
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """Inverse of to_dict."""
        aug = dict(d["augment"])
        for key in ("view1", "view2"):
            v = dict(aug[key])
            for k in ("crop_scale", "crop_ratio", "blur_sigma"):
                v[k] = tuple(v[k])
            aug[key] = ViewConfig(**v)
        aug["mean"], aug["std"] = tuple(aug["mean"]), tuple(aug["std"])
        return cls(
            train=TrainConfig(**d["train"]),
            augment=AugmentConfig(**aug),
            network=NetworkConfig(**d["network"]),
            optim=OptimConfig(**d["optim"]),
        )


# --- optimiser ------------------------------------------------------------------------------


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (LARS; You et al. 2017, arXiv 1708.03888).

    For every parameter tensor w (a "layer") with gradient g, at the step's learning rate lr:

        local = η·‖w‖ / (‖g‖ + wd·‖w‖ + ε)         the trust ratio (You et al. 2017, eq. 6)
        ratio = min(local / lr, 1)  if clip_lr      the layer never steps faster than plain SGD at lr
                local               otherwise
        d     = ratio · (g + wd·w)
        m    ← μ·m + d   (m = d at the first step);   w ← w − lr·m

    clip_lr and the trust coefficient η = 0.02 are what solo-learn's CIFAR BYOL runs
    (scripts/pretrain/cifar/byol.yaml: `eta: 0.02, clip_lr: True, exclude_bias_n_norm: True`,
    with solo/utils/lars.py, which follows the formula above); the BYOL paper's ImageNet
    recipe uses η = 1e-3 without clipping (Appendix C). With clipping the effective step of
    a layer is lr·ratio = min(local, lr): the trust ratio bounds each layer's rate, and the
    global schedule (warm-up, cosine) caps it.

    Excluded (exclude_bias_and_norm, on by default): every parameter with at most one
    dimension, i.e. the biases and the normalisation scales and shifts, gets d = g, no trust
    ratio and no weight decay ("the biases and batch normalization parameters are excluded
    from LARS adaptation and weight decay", BYOL Appendix C; solo-learn's rule is `ndim == 1`).
    A weight whose norm or gradient norm is 0 also gets d = g (as in solo-learn; the ratio
    would be 0 or undefined).

    BYOL's own JAX code divides by ‖g + wd·w‖ instead of ‖g‖ + wd·‖w‖; the two agree when
    wd·‖w‖ is small next to ‖g‖, as with the weight decays used here (1e-5, 1.5e-6).

    No host synchronisation: the norms and ratios stay on the device (`torch.where`, not `if`).
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 1e-3,
        clip_lr: bool = False,
        exclude_bias_and_norm: bool = True,
        eps: float = 1e-8,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0 or trust_coefficient <= 0 or eps < 0:
            raise ValueError(
                f"LARS needs lr, momentum, weight decay, eps >= 0 and a positive trust coefficient; got lr={lr}, "
                f"momentum={momentum}, weight_decay={weight_decay}, trust_coefficient={trust_coefficient}, eps={eps}."
            )
        defaults = dict(
            lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient,
            clip_lr=clip_lr, exclude_bias_and_norm=exclude_bias_and_norm, eps=eps,
        )
        super().__init__(params, defaults)

    def __setstate__(self, state: dict) -> None:
        """Groups loaded from an older state dict get this version's defaults for the newer settings."""
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("clip_lr", False)
            group.setdefault("exclude_bias_and_norm", True)
            group.setdefault("eps", 1e-8)

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        """One LARS update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            params = [p for p in group["params"] if p.grad is not None]
            adapted = [p for p in params if p.ndim > 1 or not group["exclude_bias_and_norm"]]
            updates = {p: p.grad for p in params}  # excluded parameters: d = g
            if adapted:
                grads = [p.grad for p in adapted]
                w_norm = torch.stack(torch._foreach_norm(adapted))  # (P,) one norm per layer
                g_norm = torch.stack(torch._foreach_norm(grads))  # (P,)
                local = group["trust_coefficient"] * w_norm / (g_norm + wd * w_norm + group["eps"])  # (P,)
                if group["clip_lr"]:
                    local = (local / lr).clamp(max=1.0) if lr > 0 else torch.ones_like(local)
                usable = (w_norm > 0) & (g_norm > 0)  # a zero weight or gradient: plain SGD
                ratio = torch.where(usable, local, torch.ones_like(local))
                decay = torch.where(usable, torch.full_like(local, wd), torch.zeros_like(local))
                d = torch._foreach_add(grads, torch._foreach_mul(adapted, list(decay.unbind())))  # g + wd·w
                d = torch._foreach_mul(d, list(ratio.unbind()))  # ratio · (g + wd·w)
                updates.update(zip(adapted, d))
            going = [p for p in params if "momentum_buffer" in self.state[p]]
            for p in params:
                if "momentum_buffer" not in self.state[p]:  # the first step: m = d
                    self.state[p]["momentum_buffer"] = torch.clone(updates[p]).detach()
            if going:  # m ← μ·m + d
                bufs = [self.state[p]["momentum_buffer"] for p in going]
                torch._foreach_mul_(bufs, group["momentum"])
                torch._foreach_add_(bufs, [updates[p] for p in going])
            if params:  # w ← w − lr·m
                torch._foreach_add_(params, [self.state[p]["momentum_buffer"] for p in params], alpha=-lr)
        return loss


def _param_groups(net: BYOLNetworks, weight_decay: float) -> list[dict]:
    """Weights get weight decay; biases and norm parameters (1-d) do not."""
    decay, no_decay = [], []
    for p in net.online_parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def peak_lr(optim: OptimConfig, batch_size: int) -> float:
    """base_lr × batch/256 (the paper's linear scaling rule) unless scaling is off."""
    return optim.base_lr * (batch_size / 256 if optim.scale_lr_by_batch else 1.0)


def build_optimizer(net: BYOLNetworks, optim: OptimConfig, batch_size: int) -> torch.optim.Optimizer:
    """The optimiser over the online parameters only (the target is never trained by gradients)."""
    if optim.base_lr <= 0:
        raise ValueError(f"The learning rate must be positive, got {optim.base_lr}.")
    lr = peak_lr(optim, batch_size)
    groups = _param_groups(net, optim.weight_decay)
    if optim.name == "lars":
        return LARS(
            groups, lr=lr, momentum=optim.momentum, trust_coefficient=optim.trust_coefficient, clip_lr=optim.clip_lr
        )
    if optim.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=optim.momentum)
    if optim.name == "adamw":
        if lr > 0.01:  # byol-pytorch #44: Adam at LARS's 0.2 collapsed
            warnings.warn(
                f"AdamW with learning rate {lr:g} is in LARS's range; BYOL with Adam at such rates has been seen "
                "to collapse (byol-pytorch #44). Adam usually wants 1e-4 to 3e-3.",
                stacklevel=2,
            )
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"Unknown optimiser {optim.name!r}; choose one of lars, sgd, adamw.")


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Linear warm-up to peak over warmup_steps, then cosine decay to 0 at total_steps."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# --- device and precision ---------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda if available, else mps, else cpu; a clear error for an absent device."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name} was asked for but no CUDA GPU is visible; use --device cpu or auto.")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps was asked for but this machine has no Apple GPU; use --device cpu or auto.")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"Unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps.") from None


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for a device, or None for float32.

    auto: bf16 on GPUs of compute capability ≥ 8.0; fp16 (with GradScaler) on older GPUs such
    as the T4, whose bf16 is emulated and slow; float32 on CPU unless the CPU has native bf16
    (measured on a 2-core AVX-512 Xeon without it: bf16 autocast made the step slower).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        major, _ = torch.cuda.get_device_capability(device)
        return torch.bfloat16 if major >= 8 else torch.float16
    if device.type == "cpu" and _cpu_has_native_bf16():
        return torch.bfloat16
    return None


def _cpu_has_native_bf16() -> bool:
    """True where the CPU advertises AVX512-BF16 or AMX-BF16 (Linux); float32 elsewhere."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# --- the step -------------------------------------------------------------------------------


def train_step(
    net: BYOLNetworks,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    aug: AugmentConfig,
    tau: float,
    generator: torch.Generator | list[torch.Generator] | None = None,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    stop_gradient: bool = True,
    channels_last: bool = False,
    online: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One BYOL step on a uint8 batch (B, 3, H, W); returns the loss (a 0-d tensor, not synced).

    generator: a list augments equal slices of the batch with one generator each, as that many
    DDP ranks would (see `distributed`). online: net.online, or its DDP wrapper under torchrun.
    """
    if isinstance(generator, list):
        x1, x2 = distributed.sharded_views(images, aug, generator)
    else:
        x1, x2 = make_views(images, aug, generator)  # (B, 3, S, S) each, two different pipelines
    online = online or net.online
    if channels_last:
        x1 = x1.contiguous(memory_format=torch.channels_last)
        x2 = x2.contiguous(memory_format=torch.channels_last)
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
        p1, p2 = online(x1), online(x2)  # (B, d) online predictions
        if stop_gradient:
            with torch.no_grad():  # the target only provides regression targets
                z1, z2 = net.target(x1), net.target(x2)  # (B, d) target projections
        else:  # collapse lab: no target network, gradients flow through both branches
            z1, z2 = net.project(x1), net.project(x2)
        loss = symmetric_loss(p1, p2, z1, z2)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    for target, online in zip(net.target_modules(), net.online_modules()):
        ema_update_(target, online, tau)
    return loss.detach()


# --- checkpoints ----------------------------------------------------------------------------


_ELSEWHERE = "choose another --out folder"


def _atomic_write_text(text: str, path: Path) -> None:
    with atomic_path(path, what="file", elsewhere=_ELSEWHERE) as tmp:
        tmp.write_text(text)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (the previous one stays intact until the new one is complete).

    A full disk or read-only folder raises WriteError with one sentence. torch.save is given
    an open Python file, not a path, so that the disk's OSError(ENOSPC) is raised at all: with
    a path, a full disk surfaces only as torch's "unexpected pos" RuntimeError. Even so, torch
    raises that RuntimeError while closing the zip after the OSError; the OSError is re-raised.
    """
    with atomic_path(path, what="checkpoint", elsewhere=_ELSEWHERE) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(state, f)
        except RuntimeError as e:
            cause = e.__context__
            while cause is not None and not isinstance(cause, OSError):
                cause = cause.__context__
            if cause is None:
                raise
            raise cause from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True: tensors and plain containers only, never code."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Checkpoint {path} does not exist; pass the checkpoint.pt of a pretraining run.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 — every failure becomes one sentence
        first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(
                f"Refused to load {path}: it contains Python objects beyond tensors, which could run code "
                "when loaded; only load checkpoints you trust, and re-save them as plain state dicts."
            ) from None
        raise CheckpointError(f"Could not read checkpoint {path} ({first}); the file is truncated or not a checkpoint.") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a byol_course checkpoint (no 'model' and 'config' entries).")
    return state


def load_networks(state: dict[str, Any]) -> tuple[BYOLNetworks, RunConfig]:
    """Rebuild the networks of a checkpoint; a sentence naming the mismatch if the weights don't fit."""
    cfg = RunConfig.from_dict(state["config"])
    net = BYOLNetworks(cfg.network)
    missing, unexpected = [], []
    try:
        result = net.load_state_dict(state["model"], strict=False)
        missing, unexpected = result.missing_keys, result.unexpected_keys
    except RuntimeError as e:
        raise CheckpointError(
            f"The checkpoint's weights do not fit a {cfg.network.arch} network as its config describes "
            f"({str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else e})."
        ) from None
    if missing or unexpected:
        raise CheckpointError(
            f"The checkpoint's weights do not match a {cfg.network.arch} network: "
            f"{len(missing)} missing (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})."
        )
    return net, cfg


def _rng_state(gen: torch.Generator) -> dict[str, torch.Tensor]:
    state = {"augment": gen.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def config_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the fields where two config dicts differ."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


# --- the loop -------------------------------------------------------------------------------


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


def _make_run_folder(out: Path) -> None:
    """Create the output folder, or say in one sentence why it cannot be."""
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise WriteError(f"Cannot use {out} as the output folder: {blocker} is a file, not a folder; {_ELSEWHERE}.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(f"Cannot create the output folder {out} ({e.strerror or e}); {_ELSEWHERE}.") from None


_RESUME_KEYS = ("model", "optimizer", "rng", "epoch", "step", "history", "config")


_WATCH_ONLY = ("train.knn_every", "train.log_every")  # fields that never change the trained weights


def _adopt_or_refuse_config(state: dict[str, Any], cfg: RunConfig, path: Path, override: bool) -> list[dict[str, Any]]:
    """Stop when cfg differs from the checkpoint's config, unless override; return the record of overrides."""
    overrides = list(state.get("config_overrides", []))
    diff = config_diff(state["config"], cfg.to_dict())
    watching = [d for d in diff if d.startswith(_WATCH_ONLY)]  # how often we look, not what is trained
    if watching:
        print(f"Resuming {path} with other monitoring settings: {', '.join(watching)}.")
        diff = [d for d in diff if d not in watching]
    if not diff:
        return overrides
    if not override:
        raise ValueError(
            f"Cannot resume {path}: the config differs from the checkpoint's in {', '.join(diff)}; resume with the "
            "same settings, pass --override-config (override_config=True) to continue with the new ones, or start a "
            "new --out folder."
        )
    fixed = [d for d in diff if d.startswith(("network.", "optim.name:"))]
    if fixed:
        raise ValueError(
            f"Cannot resume {path} even with --override-config: its weights and optimiser state cannot follow a "
            f"change of {', '.join(fixed)}; start a new --out folder."
        )
    print(f"Resuming {path} with a changed config, as --override-config asks: {', '.join(diff)}.")
    return [*overrides, {"epoch": state["epoch"], "changes": diff}]  # saved with the next epoch's checkpoint


def pretrain(
    cfg: RunConfig,
    out_dir: str | Path,
    resume: bool = False,
    train_images: torch.Tensor | ImageStream | None = None,
    eval_fn: Callable[[BYOLNetworks, int], dict[str, float]] | None = None,
    progress: bool = True,
    stop_after_epochs: int | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    override_config: bool = False,
    simulate_ranks: int = 1,
    compile_model: bool = False,
) -> tuple[BYOLNetworks, list[dict[str, Any]]]:
    """Pretrain BYOL; checkpoint every epoch to out_dir/checkpoint.pt; returns the networks and the history.

    Under torchrun (an initialised process group) every rank calls it and trains its slice of
    each global batch with DDP (see `distributed`); only rank 0 writes files.

    train_images: uint8 (N, 3, H, W), or a stream.ImageStream for datasets too big for memory (read
        by DataLoader workers, augmented on the device); when None, loaded from cfg.train.dataset
        (a folder bigger than stream.STREAM_ABOVE_BYTES as uint8 streams).
    eval_fn(net, epoch) -> metrics, called every cfg.train.knn_every epochs and at the end.
    resume: continue from out_dir/checkpoint.pt (the newest complete one; see _atomic) if it exists.
    override_config: when resuming with a config that differs from the checkpoint's, continue
        anyway: print the changed fields; the next checkpoint has the new config and records
        the change in "config_overrides" (the network and the optimiser's kind cannot change).
    stop_after_epochs: stop (as if interrupted) after this many epochs, for tests and demos.
    simulate_ranks: on one process, augment each batch as this many DDP ranks would (slice r
        with rank r's generator), so that the run can be compared with a multi-rank run.
    compile_model: torch.compile the online forward (off by default: 30–60 s to compile, no
        gain measured on CPU; worth trying on large GPUs).
    """
    tc = cfg.train
    check_config(cfg)
    ranks = distributed.current_ranks(simulate_ranks)
    distributed.check_batch(tc.batch_size, ranks)
    if override_config and not resume:
        raise ValueError("override_config (--override-config) only applies when resuming; pass resume=True (--resume) too.")
    out = Path(out_dir)
    _make_run_folder(out)
    device = distributed.rank_device(resolve_device(tc.device), ranks)
    amp_dtype = autocast_dtype(device, tc.precision)
    torch.manual_seed(tc.seed)

    if train_images is None:
        from .data import load_dataset
        from .stream import open_stream

        # a folder too big for memory streams from disk (byol_course.stream); the rest loads whole
        train_images = open_stream(tc.dataset, "train", seed=tc.seed) or load_dataset(tc.dataset, "train", seed=tc.seed).images
    streaming = not isinstance(train_images, torch.Tensor)  # an ImageStream: batches come from a DataLoader
    n = len(train_images)
    if n < 2:
        raise ValueError(
            f"The training set has {n} image(s) but BYOL needs at least 2 (BatchNorm compares the images of a batch); "
            "add images."
        )
    if tc.batch_size > n:
        raise ValueError(f"Batch size {tc.batch_size} is larger than the dataset ({n} images); use --batch-size {n} or less.")
    images = train_images if streaming else train_images.to(device)  # uint8 on the device: augmentation happens there
    steps_per_epoch = n // tc.batch_size  # drop the last partial batch (BatchNorm needs full batches)
    total_steps = steps_per_epoch * tc.epochs
    warmup_steps = int(cfg.optim.warmup_epochs * steps_per_epoch)

    net = distributed.sync_networks(BYOLNetworks(cfg.network), device, ranks).to(device)  # SyncBatchNorm under DDP
    if tc.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(net, cfg.optim, tc.batch_size)
    peak = peak_lr(cfg.optim, tc.batch_size)
    scaler = torch.amp.GradScaler(device.type) if amp_dtype == torch.float16 else None
    gen = torch.Generator(device=device).manual_seed(tc.seed)
    start_epoch, step, history = 0, 0, []

    ckpt_path = out / CHECKPOINT
    saved_epoch: int | None = None  # the epoch of this run's newest complete checkpoint
    overrides: list[dict[str, Any]] = []
    partial = remove_partial_writes(ckpt_path) if ranks.is_main else []  # a write killed half-way is never read
    if partial:
        print(f"Removed {len(partial)} incomplete checkpoint file(s) left by an interrupted write ({partial[0].name}).")
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=device)
        missing = [k for k in _RESUME_KEYS if k not in state]
        if missing:
            raise CheckpointError(
                f"Cannot resume {ckpt_path}: it lacks the training state {', '.join(missing)}, so it can be evaluated "
                "but not continued; start a new --out folder."
            )
        overrides = _adopt_or_refuse_config(state, cfg, ckpt_path, override_config)
        try:
            net.load_state_dict(state["model"])
            settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
            optimizer.load_state_dict(state["optimizer"])  # its slots (momentum, Adam moments) and old settings
            for group, setting in zip(optimizer.param_groups, settings):
                group.update(setting)  # settings come from cfg (they differ only under override_config)
            if scaler is not None and "scaler" in state:
                scaler.load_state_dict(state["scaler"])
            gen.set_state(state["rng"]["augment"].to("cpu"))
            torch.set_rng_state(state["rng"]["torch"].to("cpu"))
        except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(
                f"Cannot resume {ckpt_path}: its saved state does not fit this run ({first}); start a new --out folder."
            ) from None
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.to("cpu") for s in state["rng"]["cuda"]])
        start_epoch, step, history = state["epoch"], state["step"], list(state["history"])
        saved_epoch = start_epoch
    elif resume and ranks.is_main:
        print(f"No checkpoint in {out} to resume from; starting from scratch.")
    elif ckpt_path.exists() and ranks.is_main:
        print(
            f"Starting a new run in {out}; its existing checkpoint will be replaced after the first epoch "
            "(use --resume to continue it instead)."
        )
    distributed.agree(start_epoch, ranks, "the epoch to resume from")
    online = distributed.online_forward(net, device, ranks)  # net.online, or its DDP wrapper
    if compile_model:
        online = torch.compile(online)
    if ranks.is_main:
        record = cfg.to_dict()
        if ranks.world_size > 1:  # the global batch and the lr rule, as the issue asks
            record["distributed"] = distributed.run_record(
                tc.batch_size, peak, cfg.optim.base_lr, cfg.optim.scale_lr_by_batch, ranks
            )
        _atomic_write_text(json.dumps(record, indent=2), out / "config.json")

    net.train()
    end_epoch = tc.epochs if stop_after_epochs is None else min(tc.epochs, start_epoch + stop_after_epochs)
    t_start = time.perf_counter()
    prior_seconds = history[-1]["wall_seconds"] if history else 0.0
    bar = tqdm(
        total=total_steps, initial=step, disable=not (progress and ranks.is_main), desc="BYOL", unit="step", dynamic_ncols=True
    )
    try:
        for epoch in range(start_epoch, end_epoch):
            # the epoch's order depends only on (seed, epoch): resuming reproduces it exactly
            order = torch.randperm(n, generator=torch.Generator().manual_seed(tc.seed * 100_003 + epoch)).to(device)
            views_gen = distributed.epoch_generators(gen, tc.seed, epoch, ranks, device)  # gen itself on one process
            losses = []
            if streaming:  # the same batches as in memory, read from disk by the DataLoader's workers
                streamed = images.batches(
                    [distributed.local_batch(order[j * tc.batch_size : (j + 1) * tc.batch_size], ranks) for j in range(steps_per_epoch)],
                    device,
                )
            for i in range(steps_per_epoch):
                if streaming:
                    batch = next(streamed)  # (b, 3, H, W) uint8, already on the device
                else:
                    batch = images[distributed.local_batch(order[i * tc.batch_size : (i + 1) * tc.batch_size], ranks)]  # uint8
                lr = lr_at(step, total_steps, warmup_steps, peak)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                tau = tau_schedule(step, total_steps, tc.tau_base) if tc.tau_schedule else tc.tau_base
                if not tc.stop_gradient:
                    tau = 0.0  # no target network: the "target" is the online network itself
                loss = train_step(
                    net, optimizer, batch, cfg.augment, tau, views_gen, amp_dtype, scaler, tc.stop_gradient,
                    tc.channels_last, online,
                )
                losses.append(distributed.mean_over_ranks(loss, ranks))  # the global batch's loss
                step += 1
                if step % tc.log_every == 0 or i == steps_per_epoch - 1:
                    recent = torch.stack(losses[-tc.log_every :])  # host sync here, not every step
                    if not torch.isfinite(recent).all():
                        bad = int((~torch.isfinite(torch.stack(losses))).nonzero()[0]) + epoch * steps_per_epoch + 1
                        kept = (
                            f"the last good checkpoint, {ckpt_path} (epoch {saved_epoch}), is kept"
                            if saved_epoch is not None
                            else "no checkpoint of this run had been saved yet"
                        )
                        raise TrainingDiverged(
                            f"The loss became {float(recent[~torch.isfinite(recent)][0])} at step {bad} "
                            f"(epoch {epoch + 1}, learning rate {lr:.3g}); lower the learning rate "
                            f"(--lr) or lengthen the warm-up; {kept}."
                        )
                    bar.set_postfix(loss=f"{float(recent.mean()):.3f}", lr=f"{lr:.2g}", tau=f"{tau:.4f}")
                bar.update(1)
            record: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": step,
                "loss": float(torch.stack(losses).mean()),
                "lr": lr,
                "tau": tau,
                "wall_seconds": prior_seconds + time.perf_counter() - t_start,
            }
            if eval_fn is not None and ranks.is_main and (
                (tc.knn_every and (epoch + 1) % tc.knn_every == 0) or epoch + 1 == tc.epochs
            ):
                record.update(eval_fn(net, epoch + 1))
                net.train()
            history.append(record)
            state = {
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "rng": _rng_state(gen),
                "epoch": epoch + 1,
                "step": step,
                "history": history,
                "config": cfg.to_dict(),
            }
            if overrides:
                state["config_overrides"] = overrides
            if scaler is not None:
                state["scaler"] = scaler.state_dict()
            if ranks.world_size > 1:
                state["world_size"] = ranks.world_size
            if ranks.is_main:
                save_checkpoint(ckpt_path, state)
            saved_epoch = epoch + 1
            if on_epoch_end is not None:
                on_epoch_end(record)
    except KeyboardInterrupt:
        # In a notebook this is the last line the student sees; the CLI prints its own.
        raise KeyboardInterrupt(
            f"Interrupted; epoch {saved_epoch} is saved in {ckpt_path}; call pretrain(..., resume=True) to continue."
            if saved_epoch
            else "Interrupted before the first epoch was saved; nothing to resume."
        ) from None
    finally:
        bar.close()
    distributed.barrier(ranks)  # every rank returns once rank 0's last checkpoint is written
    return net, history


def replace_config(cfg: Any, **changes: Any) -> Any:
    """dataclasses.replace, re-exported for notebooks."""
    return dataclasses.replace(cfg, **changes)


# --- recipes --------------------------------------------------------------------------------


def classroom_config(dataset: str = "embedded") -> RunConfig:
    """The CPU classroom recipe: the small ConvNet, about three minutes of BYOL on 2 cores.

    Measured choices (data/README.md, benchmarks/embedded_design.py): AdamW 2e-3 (Adam
    with LARS's learning rate of 0.2 collapses, byol-pytorch #44); τ_base 0.96 (a short
    run needs a target that keeps up); batch 64 (more steps in the same time); crops of
    20–100% of the area (32×32 images lose the object in 8% crops); hue jitter 0.5 (the
    full circle: with the paper's 0.1 the image's hue survives into both views and is
    learned instead of shape); no blur, as CIFAR recipes.
    """
    view = dict(crop_scale=(0.2, 1.0), brightness=0.4, contrast=0.4, saturation=0.2, hue=0.5)
    return RunConfig(
        train=TrainConfig(dataset=dataset, epochs=12, batch_size=64, tau_base=0.96),
        augment=AugmentConfig(
            view1=ViewConfig(**view, blur_p=1.0, solarize_p=0.0),
            view2=ViewConfig(**view, blur_p=0.1, solarize_p=0.2),
            blur=False,  # CIFAR-scale recipes drop blur (solo-learn, lightly)
        ),
        network=NetworkConfig(arch="convnet", convnet_width=16, hidden_dim=512, proj_dim=256),
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
      halves the steps of an epoch on a large GPU and fits a T4 in fp16. The learning rate
      follows solo-learn's own linear rule (1.0 × 512/256 = 2.0), so this is solo-learn's
      recipe at batch 512 (in BYOL's batch-size ablation, 256 → 512 gave +0.4 ImageNet top-1).
    - epochs 200, not 1000: a run that fits an afternoon (lightly's benchmark length); pass
      --epochs 1000 for solo-learn's. τ_base 0.99 either way, as solo-learn uses for 1000.
    - precision: bf16 autocast on GPUs of compute capability ≥ 8.0 (no loss scaling needed),
      fp16 with GradScaler below (T4), where solo-learn runs fp16 ("16-mixed") everywhere.
    - the stem conv pads by 1 (output 32×32), solo-learn's by 2 (34×34, a border of zeros).
    - views: bilinear resampling in the crop (solo-learn: bicubic) and a YIQ hue rotation
      (torchvision: HSV), both from `augment`, which augments per sample on the device.
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
