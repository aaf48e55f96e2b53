"""Beyond one GPU — `pretrain` with DistributedDataParallel, launched by torchrun.

    torchrun --nproc_per_node=N -m byol_course pretrain --dataset cifar10 --out runs/c10

What changes with N processes ("ranks"), and why:
- `batch_size` stays the *global* batch. Every rank keeps the whole uint8 dataset on its
  device and takes its 1/N slice of each batch of the seeded per-epoch permutation, so the
  learning rate (base_lr × global batch / 256, the paper's rule) and the τ and lr schedules
  are those of one device that sees the whole batch; config.json states both.
- BatchNorm becomes SyncBatchNorm in the encoder and in both heads, online and target: its
  statistics are those of the global batch, so a run on N devices computes what one device
  would. That is the reason, not that BYOL needs batch statistics: Richemond et al. 2020 trained
  it without them (GroupNorm + weight standardisation, 73.9% against 74.3%), although with the
  course's BatchNorm heads removing the norm hurts (untitled-ai 2020; the collapse lab), and
  per-rank statistics of a small slice would be noisier. torch's SyncBatchNorm runs on GPUs only; on CPU (gloo: tests,
  laptops) `CPUSyncBatchNorm` here computes the same statistics with two all-reduces.
- DDP averages the online network's gradients, so every rank takes the same optimiser step
  and then the same EMA step: the target stays identical on every rank with no
  communication of its own.
- Each rank augments its own slice with its own generator, seeded at every epoch from
  (seed, epoch, rank) — so a resumed run needs no other rank's generator state. One process
  keeps its single generator stream (unchanged, so single-device runs resume bit for bit).
- Only rank 0 writes checkpoints and config.json and shows the progress bar; every rank
  reads the checkpoint on `--resume`, so on several nodes `--out` must be a shared folder.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn

from .augment import AugmentConfig, make_views

__all__ = [
    "Ranks",
    "current_ranks",
    "init_from_env",
    "launched_by_torchrun",
    "CPUSyncBatchNorm",
    "convert_sync_batchnorm",
    "OnlineNetwork",
    "rank_seed",
    "sharded_views",
]


@dataclass(frozen=True)
class Ranks:
    """Where this process stands: rank `rank` of `world_size` (0 of 1 without torch.distributed).

    simulated: one process that augments each batch as `world_size` ranks would (each slice
    with its rank's generator), to compare a one-device run with an N-rank run exactly.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    simulated: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together (DDP)."""
        return self.world_size > 1 and not self.simulated


def launched_by_torchrun() -> bool:
    """True in a process that torchrun started with more than one rank (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "auto") -> None:
    """Join the process group torchrun describes (env://): NCCL for CUDA devices, gloo otherwise."""
    if not launched_by_torchrun() or dist.is_initialized():
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")


def current_ranks(simulate: int = 1) -> Ranks:
    """This process's Ranks: from the initialised process group, or a simulation of `simulate` ranks."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        if simulate != 1:
            raise ValueError("simulate_ranks is for one process; under torchrun the ranks are real, leave it at 1.")
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    if simulate < 1:
        raise ValueError(f"simulate_ranks must be 1 or more, got {simulate}.")
    return Ranks(world_size=simulate, simulated=simulate > 1)


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """Under DDP each rank has its own GPU: cuda -> cuda:LOCAL_RANK (other devices unchanged)."""
    if ranks.distributed and device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    return device


def check_batch(batch_size: int, ranks: Ranks) -> None:
    """The global batch must split evenly over the ranks, with at least 2 images per rank for BatchNorm."""
    if ranks.world_size > 1 and (batch_size % ranks.world_size or batch_size // ranks.world_size < 2):
        raise ValueError(
            f"Batch size {batch_size} is the global batch and must split evenly into {ranks.world_size} ranks with at "
            f"least 2 images each; use a multiple of {ranks.world_size}, e.g. --batch-size "
            f"{max(2, -(-batch_size // ranks.world_size)) * ranks.world_size}."
        )


def run_record(batch_size: int, peak: float, optim: Any, ranks: Ranks) -> dict[str, Any]:
    """What config.json states about a multi-rank run: world size, global and per-rank batch, the lr rule.

    optim: the run's optim.OptimConfig (its base_lr and scale_lr_by_batch).
    """
    scaled = optim.scale_lr_by_batch
    rule = f"{optim.base_lr:g} × {batch_size} / 256 = {peak:g}" if scaled else f"{peak:g} (not scaled by batch)"
    return {
        "world_size": ranks.world_size,
        "backend": dist.get_backend() if ranks.distributed else None,
        "global_batch": batch_size,
        "per_rank_batch": batch_size // ranks.world_size,
        "peak_lr": peak,
        "lr_rule": "base_lr × global_batch / 256: " + rule if scaled else rule,
        "sync_batchnorm": ranks.distributed,
        "augment_seed": "per rank and epoch: sha256(seed/epoch/rank)",
    }


# --- SyncBatchNorm ----------------------------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    """y = Σ_ranks x, the same on every rank; backward: the gradient w.r.t. x is Σ_ranks ∂L/∂y."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)  # every rank's loss depends on y
        return grad


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """SyncBatchNorm for CPU processes (gloo): BatchNorm over the global batch by two all-reduces.

    torch's nn.SyncBatchNorm refuses CPU tensors (and DDP refuses it on CPU modules). Here, in
    training mode with a process group, the per-channel sum and then the sum of squared
    deviations are summed over all ranks with differentiable all-reduces (their backward
    all-reduces the gradients), so the output and its gradient are those of BatchNorm over the
    global batch. Eval mode, or no process group: plain BatchNorm. Same state_dict keys.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-d input (got {x.dim()}-d)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        world = dist.get_world_size()
        dims = [0, *range(2, x.dim())]  # every dimension but the channels
        shape = [1, -1] + [1] * (x.dim() - 2)
        n = (x.numel() // x.shape[1]) * world  # values per channel in the global batch
        mean = _AllReduceSum.apply(x.sum(dims)) / n  # (C,)
        xc = x - mean.view(shape)
        var = _AllReduceSum.apply(xc.square().sum(dims)) / n  # (C,) biased
        y = xc * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)  # unbiased
        return y


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm in module by `CPUSyncBatchNorm`, keeping its parameters, buffers and momentum."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        sync = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if module.affine:
            sync.weight, sync.bias = module.weight, module.bias  # the same Parameter objects
        sync.running_mean, sync.running_var = module.running_mean, module.running_var
        sync.num_batches_tracked = module.num_batches_tracked
        sync.train(module.training)
        return sync
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child))
    return module


def sync_networks(net: nn.Module, device: torch.device, ranks: Ranks) -> nn.Module:
    """Under DDP, every BatchNorm of the networks (encoder, heads, online and target) -> a SyncBatchNorm.

    torch's nn.SyncBatchNorm on GPUs (its converter keeps weights, buffers and the target's
    momentum 0), `CPUSyncBatchNorm` on CPU.
    """
    if not ranks.distributed:
        return net
    return convert_sync_batchnorm(net) if device.type == "cpu" else nn.SyncBatchNorm.convert_sync_batchnorm(net)


# --- the online branch under DDP --------------------------------------------------------------


class OnlineNetwork(nn.Module):
    """The online branch as one module, backbone → projector → predictor, for DDP to wrap.

    It holds the same submodules as the BYOLNetworks it comes from (no copies), so the
    optimiser built on `net.online_parameters()` trains what DDP synchronises.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.backbone, self.projector, self.predictor = net.online_backbone, net.online_projector, net.predictor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predictor(self.projector(self.backbone(x)))  # (B, proj_dim)


def online_forward(net: nn.Module, device: torch.device, ranks: Ranks) -> Callable[[torch.Tensor], torch.Tensor]:
    """`net.online` on one process; under DDP the same branch wrapped so that backward averages its gradients.

    broadcast_buffers=False: SyncBatchNorm already keeps the running statistics equal on every rank.
    """
    if not ranks.distributed:
        return net.online
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters  # torch ≥ 2.12 name
    no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return DistributedDataParallel(OnlineNetwork(net), device_ids=ids, **no_sync)


# --- data and augmentation --------------------------------------------------------------------


def local_batch(indices: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's slice of a global batch's indices (all of them on one process)."""
    if not ranks.distributed:
        return indices
    b = indices.shape[0] // ranks.world_size
    return indices[ranks.rank * b : (ranks.rank + 1) * b]


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """The augmentation seed of one rank in one epoch: 63 bits of sha256('seed/epoch/rank')."""
    digest = hashlib.sha256(f"{seed}/{epoch}/{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def epoch_generators(
    gen: torch.Generator, seed: int, epoch: int, ranks: Ranks, device: torch.device
) -> list[torch.Generator]:
    """The augmentation randomness of an epoch: one generator per slice of the batch this process augments.

    One process: [gen], one stream over the whole run. DDP: [this rank's generator], seeded from
    (seed, epoch, rank). Simulated ranks: every rank's, in rank order.
    """
    if ranks.world_size == 1:
        return [gen]

    def make(rank: int) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(rank_seed(seed, epoch, rank))

    return [make(r) for r in range(ranks.world_size)] if ranks.simulated else [make(ranks.rank)]


def sharded_views(
    images: torch.Tensor, aug: AugmentConfig, generators: list[torch.Generator]
) -> tuple[torch.Tensor, torch.Tensor]:
    """make_views on equal slices of the batch, slice r with generators[r]: the views N ranks would make."""
    if len(generators) == 1:
        return make_views(images, aug, generators[0])
    pairs = [make_views(chunk, aug, g) for chunk, g in zip(images.chunk(len(generators)), generators)]
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])  # (B, 3, S, S) each


# --- collectives the loop needs ---------------------------------------------------------------


def mean_over_ranks(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of a tensor over the ranks (the global batch's loss from each rank's); unchanged on one process."""
    if not ranks.distributed:
        return value
    value = value.detach().clone()
    dist.all_reduce(value)
    return value / ranks.world_size


def agree(value: int, ranks: Ranks, what: str) -> None:
    """Stop with one sentence when the ranks disagree on an integer (e.g. the epoch they resume from)."""
    if not ranks.distributed:
        return
    values: list[Any] = [None] * ranks.world_size
    dist.all_gather_object(values, value)
    if len(set(values)) > 1:
        raise ValueError(
            f"The ranks disagree on {what} ({', '.join(f'rank {r}: {v}' for r, v in enumerate(values))}); on several "
            "nodes put --out on a folder that every node sees."
        )


def barrier(ranks: Ranks) -> None:
    """Wait for every rank (e.g. until rank 0's last checkpoint is written)."""
    if ranks.distributed:
        dist.barrier()
