"""Chapter 5 — training: the BYOL step and the loop around it.

The step, in the paper's order (Grill et al. 2020, Algorithm 1):
    two views → online predictions → target projections (no grad) → symmetric loss
    → backward → optimiser step → EMA update of the target.

The loop is built from named pieces made before it (the images, the schedule, the networks,
the optimiser, the precision, the run folder); the epoch loop only calls them. It keeps small
datasets on the device as uint8 and augments there, writes a checkpoint atomically after every
epoch and resumes from it bit for bit on CPU.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from . import distributed
from .augment import AugmentConfig
from .checkpoint import CHECKPOINT, CheckpointError, RunFolder, compare_configs, load_checkpoint, load_networks
from .config import RunConfig, check_config
from .device import Precision, resolve_device
from .ema import ema_update_, tau_schedule
from .images import epoch_batches, training_images
from .networks import BYOLNetworks, build_networks
from .objective import symmetric_loss
from .optim import build_optimizer, lr_at, peak_lr, set_lr
from .stream import ImageStream

__all__ = ["Views", "Schedule", "TrainingDiverged", "check_finite", "train_step", "pretrain", "train_or_resume"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class Views:
    """views(images) -> (x1, x2): BYOL's two augmented views of a uint8 batch, as the step takes them.

    generators: one per slice of the batch (one on a single process; N for N simulated DDP ranks,
    each augmenting its equal slice). channels_last: the memory layout convolutions run fastest in.
    """

    aug: AugmentConfig
    generators: list[torch.Generator]
    channels_last: bool = False

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1, x2 = distributed.sharded_views(images, self.aug, self.generators)  # (B, 3, S, S) each, two pipelines
        if self.channels_last:
            x1, x2 = (x.contiguous(memory_format=torch.channels_last) for x in (x1, x2))
        return x1, x2


@dataclass(frozen=True)
class Schedule:
    """The learning rate and τ of every step: functions of the step number alone, so a resumed run picks them up."""

    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    peak_lr: float
    tau_base: float
    tau_cosine: bool = True  # False: τ stays tau_base

    @classmethod
    def for_run(cls, cfg: RunConfig, n_images: int) -> "Schedule":
        """A run's schedule: warm-up then cosine for the lr, BYOL's cosine from τ_base to 1 for τ."""
        per_epoch = n_images // cfg.train.batch_size  # full batches only: BatchNorm wants full ones
        return cls(per_epoch, per_epoch * cfg.train.epochs, int(cfg.optim.warmup_epochs * per_epoch),
                   peak_lr(cfg.optim, cfg.train.batch_size), cfg.train.tau_base, cfg.train.tau_schedule)

    def lr(self, step: int) -> float:
        """Learning rate of step `step` (0-based)."""
        return lr_at(step, self.total_steps, self.warmup_steps, self.peak_lr)

    def tau(self, step: int) -> float:
        """EMA rate of step `step`."""
        return tau_schedule(step, self.total_steps, self.tau_base) if self.tau_cosine else self.tau_base


def train_step(
    net: BYOLNetworks,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    views: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    tau: float,
    *,
    stop_gradient: bool = True,
    precision: Precision | None = None,
    online: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """One BYOL step on a uint8 batch (B, 3, H, W); returns the loss (a 0-d tensor, not synced with the host).

    views(images) -> (x1, x2); online: net.online, or its DDP wrapper under torchrun.
    stop_gradient=False is the collapse lab's switch: no target network at all.
    """
    precision = precision or Precision(images.device, "fp32")
    online = online or net.online
    x1, x2 = views(images)  # 1. two views (B, 3, S, S), from the two pipelines
    with precision.autocast():
        p1, p2 = online(x1), online(x2)  # 2. online predictions (B, d)
        if stop_gradient:
            with torch.no_grad():  # 3. target projections (B, d): regression targets, no gradient
                z1, z2 = net.target(x1), net.target(x2)
        else:  # no stop-gradient: the online network is its own target, gradients flow through both
            z1, z2 = net.project(x1), net.project(x2)
            tau = 0.0  # ...and the unused target stays a copy of it
        loss = symmetric_loss(p1, p2, z1, z2)  # 4. ℓ(p1, z2) + ℓ(p2, z1)
    optimizer.zero_grad(set_to_none=True)
    precision.backward(loss, optimizer)  # 5. backward and optimiser step, online parameters only
    for target, online_part in zip(net.target_modules(), net.online_modules()):
        ema_update_(target, online_part, tau)  # 6. ξ ← τ·ξ + (1 − τ)·θ
    return loss.detach()


def _check_own_step(step: Callable[..., torch.Tensor], cfg: RunConfig, precision: Precision, world_size: int, compile_model: bool) -> None:
    """A step of one's own takes (net, optimizer, images, views, tau): say which run settings it cannot serve."""
    if not callable(step):
        raise TypeError(f"step must be a function step(net, optimizer, images, views, tau), got {type(step).__name__}.")
    cannot = [what for what, on in [
        (f"mixed precision ({precision.name}; set train.precision to 'fp32' or 'auto')", precision.dtype is not None),
        ("the collapse lab's no-stop-gradient switch (train.stop_gradient must be True)", not cfg.train.stop_gradient),
        ("several processes (torchrun or simulate_ranks)", world_size > 1),
        ("torch.compile (compile_model=False)", compile_model),
    ] if on]
    if cannot:
        raise ValueError(f"A step of your own trains in fp32 in one process with the stop-gradient; this run asks for {'; '.join(cannot)}: "
                         "drop step= to train with the package's train_step, or change those settings.")


def _own_loss(loss: Any, step: Callable[..., torch.Tensor]) -> torch.Tensor:
    """The loss a step of one's own returned, as a detached 0-d tensor; a clear error if it returned something else."""
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"{getattr(step, '__name__', 'your step')} returned {type(loss).__name__}"
                        f"{'' if not isinstance(loss, torch.Tensor) else ' of shape ' + str(tuple(loss.shape))}; "
                        "a step returns the loss as a 0-d tensor (return loss.detach()).")
    return loss.detach().reshape(())


def check_finite(losses: list[torch.Tensor], first_step: int, epoch: int, lr: float, kept: str) -> float:
    """The mean of the losses of steps first_step…; TrainingDiverged naming the step if one is NaN or infinite.

    This reads the losses from the device: the loop calls it every log_every steps, not every step.
    """
    recent = torch.stack(losses)  # host sync
    bad = (~torch.isfinite(recent)).nonzero()
    if len(bad):
        i = int(bad[0])
        raise TrainingDiverged(
            f"The loss became {float(recent[i])} at step {first_step + i} (epoch {epoch}, learning rate {lr:.3g}); "
            f"lower the learning rate (--lr) or lengthen the warm-up; {kept}."
        )
    return float(recent.mean())


def pretrain(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    train_images: torch.Tensor | ImageStream | None = None,
    eval_fn: Callable[[BYOLNetworks, int], dict[str, float]] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    stop_after_epochs: int | None = None,
    override_config: bool = False,
    simulate_ranks: int = 1,
    compile_model: bool = False,
    step: Callable[..., torch.Tensor] | None = None,
) -> tuple[BYOLNetworks, list[dict[str, Any]]]:
    """Pretrain BYOL; checkpoint every epoch to out_dir/checkpoint.pt; returns the networks and the history.

    train_images: uint8 (N, 3, H, W), or a stream.ImageStream; None loads cfg.train.dataset.
    eval_fn(net, epoch) -> metrics, every cfg.train.knn_every epochs and at the end (e.g. evaluate.Monitor).
    on_epoch_end(record): after each epoch's checkpoint (a notebook redraws its live figure there).
    resume: continue from out_dir's checkpoint if there is one; override_config: even if cfg differs
        from the checkpoint's (the changes are printed and recorded; the network and optimiser kind cannot change).
    stop_after_epochs: stop as if interrupted after this many epochs. simulate_ranks: augment each batch
        as that many DDP ranks would. compile_model: torch.compile the online forward (no gain measured on CPU).
    step: a step to train with instead of `train_step`, called as step(net, optimizer, images, views, tau)
        (chapter 5's my_train_step): fp32, one process, with the stop-gradient; each epoch's record names it.
    Under torchrun every rank calls it and trains its slice of each global batch with DDP (`distributed`).
    """
    check_config(cfg)
    if override_config and not resume:
        raise ValueError("override_config (--override-config) only applies when resuming; pass resume=True (--resume) too.")
    tc = cfg.train
    ranks = distributed.current_ranks(simulate_ranks)
    distributed.check_batch(tc.batch_size, ranks)
    device = distributed.rank_device(resolve_device(tc.device), ranks)
    images = training_images(cfg, train_images, device)  # in memory or streamed: the same batches
    schedule = Schedule.for_run(cfg, len(images))
    net = distributed.sync_networks(build_networks(cfg.network, tc.seed), device, ranks).to(device)  # SyncBN under DDP
    net = net.to(memory_format=torch.channels_last) if tc.channels_last else net
    optimizer = build_optimizer(net, cfg.optim, tc.batch_size)
    # "auto" picks fp32 for a step of one's own, which does not autocast; an explicit bf16/fp16 is refused below
    precision = Precision(device, "fp32" if step is not None and tc.precision == "auto" else tc.precision)
    if step is not None:
        _check_own_step(step, cfg, precision, ranks.world_size, compile_model)
    gen = torch.Generator(device=device).manual_seed(tc.seed)  # every augmentation draw of the run
    run = RunFolder(out_dir, writer=ranks.is_main)
    with run.lock():
        state = run.restore(net, optimizer, precision.scaler, gen, cfg, resume, override_config, device)
        distributed.agree(state.epoch, ranks, "the epoch to resume from")
        online = distributed.online_forward(net, device, ranks)  # net.online, or its DDP wrapper
        online = torch.compile(online) if compile_model else online
        saved = cfg.to_dict()
        if ranks.world_size > 1:  # the global batch and the lr rule
            saved["distributed"] = distributed.run_record(tc.batch_size, schedule.peak_lr, cfg.optim, ranks)
        run.write_text("config.json", json.dumps(saved, indent=2))
        end = tc.epochs if stop_after_epochs is None else min(tc.epochs, state.epoch + stop_after_epochs)
        seconds_before = state.history[-1].get("wall_seconds", 0.0) if state.history else 0.0
        t0 = time.perf_counter()
        shown = progress and ranks.is_main
        bar = tqdm(total=schedule.total_steps, initial=state.step, disable=not shown, desc="BYOL", unit="step", dynamic_ncols=True)
        try:
            for epoch in range(state.epoch, end):
                net.train()
                views = Views(cfg.augment, distributed.epoch_generators(gen, tc.seed, epoch, ranks, device), tc.channels_last)
                batches, losses, window = epoch_batches(len(images), tc.batch_size, tc.seed, epoch, ranks), [], []
                for i, batch in enumerate(images.batches(batches, device)):  # (b, 3, H, W) uint8 on the device
                    lr, tau = schedule.lr(state.step), schedule.tau(state.step)
                    set_lr(optimizer, lr)
                    if step is None:
                        loss = train_step(
                            net, optimizer, batch, views, tau, stop_gradient=tc.stop_gradient, precision=precision, online=online
                        )
                    else:  # the student's step: the same arguments, and the same checks on what it returns
                        loss = _own_loss(step(net, optimizer, batch, views, tau), step)
                    window.append(distributed.mean_over_ranks(loss, ranks))  # the global batch's loss
                    state.step += 1
                    if state.step % tc.log_every == 0 or i == len(batches) - 1:
                        mean = check_finite(window, state.step - len(window) + 1, epoch + 1, lr, run.kept())
                        bar.set_postfix(loss=f"{mean:.3f}", lr=f"{lr:.2g}", tau=f"{tau:.4f}")
                        losses, window = losses + window, []
                    bar.update(1)
                record = {"epoch": epoch + 1, "step": state.step, "loss": float(torch.stack(losses).mean()), "lr": lr,
                          "tau": tau, "wall_seconds": seconds_before + time.perf_counter() - t0}
                if step is not None:  # only then: the package's runs (the lab's, the shipped ones) keep their records' schema
                    record["trained_by"] = getattr(step, "__name__", "your step")
                watch = (tc.knn_every and (epoch + 1) % tc.knn_every == 0) or epoch + 1 == tc.epochs
                if eval_fn is not None and ranks.is_main and watch:
                    record.update(eval_fn(net, epoch + 1))
                state.epoch = epoch + 1
                state.history.append(record)
                run.save(state, net, optimizer, precision.scaler, gen, cfg, ranks.world_size)
                if on_epoch_end is not None:
                    on_epoch_end(record)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(run.interrupted()) from None  # in a notebook, the last line the student sees
        finally:
            bar.close()
    distributed.barrier(ranks)  # every rank returns once rank 0's last checkpoint is written
    return net, state.history


def train_or_resume(
    cfg: RunConfig,
    run_dir: str | Path,
    train_images: torch.Tensor,
    eval_fn: Callable[[BYOLNetworks, int], dict[str, float]] | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    fresh: bool = False,
    progress: bool = True,
    step: Callable[..., torch.Tensor] | None = None,
) -> tuple[BYOLNetworks, list[dict[str, Any]], str]:
    """Load run_dir's finished run, continue an unfinished one, or train from the start.

    Returns (networks, history, what happened: "loaded" | "resumed" | "trained"). The saved run
    is this run when `checkpoint.compare_configs` says so; a run with another recipe is replaced
    (the message says so); fresh=True always starts over. on_epoch_end also sees the saved epochs.
    step: train with this step instead of `train_step` (pretrain's `step`); the records of the epochs it
    trained carry "trained_by", its name (no such key: the package's train_step), also for a loaded run.
    """
    ckpt = Path(run_dir) / CHECKPOINT
    state = None
    if ckpt.exists() and not fresh:
        try:
            state = load_checkpoint(ckpt, map_location="cpu")
        except CheckpointError as e:
            print(f"cannot use {ckpt} ({e}); training from the start")
    same = state is not None and compare_configs(state["config"], cfg).same_run
    if same:
        for record in state["history"] if on_epoch_end is not None else []:
            on_epoch_end(record)
        if state["epoch"] >= cfg.train.epochs:
            net, _ = load_networks(state)
            print(f"loaded the finished run in {ckpt}: {state['epoch']} epochs")
            return net.to(resolve_device(cfg.train.device)), list(state["history"]), "loaded"
        print(f"resuming {ckpt} after epoch {state['epoch']} of {cfg.train.epochs}")
    elif state is not None:
        print(f"{ckpt} holds a run with another recipe; training from the start in its place")
    net, history = pretrain(cfg, run_dir, resume=same, train_images=train_images, eval_fn=eval_fn,
                            on_epoch_end=on_epoch_end, progress=progress, step=step)
    return net, history, "resumed" if same else "trained"
