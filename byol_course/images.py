"""Chapter 5 — the training images, one batch at a time, whether they fit in memory or not.

Both sources answer the same call, `images.batches(indices, device)`: one uint8 batch
(b, 3, H, W) on the device per tensor of image indices, in that order.
- `TensorImages`: the course's datasets (embedded, CIFAR-10, STL-10 train/test) live whole on
  the device as uint8, and a batch is an indexing — no workers, no per-image Python.
- `stream.ImageStream`: a folder of photos or STL-10's unlabeled split, too big for memory, read
  by DataLoader workers into pinned memory.
Either way the loop draws the same batches: `epoch_batches` orders the images by a permutation
that depends only on (seed, epoch), so a resumed run, a streamed run and an in-memory run see
the same images in the same batches.
"""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

import torch

from .config import RunConfig
from .distributed import Ranks, local_batch
from .stream import ImageStream, open_stream

__all__ = ["TrainingImages", "TensorImages", "epoch_batches", "training_images"]


class TrainingImages(Protocol):
    """What the training loop needs of its images."""

    def __len__(self) -> int: ...

    def batches(self, indices: Sequence[torch.Tensor], device: torch.device) -> Iterator[torch.Tensor]: ...


class TensorImages:
    """uint8 images (N, 3, H, W) kept whole on one device; a batch is `images[indices]`."""

    def __init__(self, images: torch.Tensor, device: torch.device | str) -> None:
        self.images = images.to(device)  # uint8 on the device: augmentation happens there

    def __len__(self) -> int:
        return self.images.shape[0]

    def batches(self, indices: Sequence[torch.Tensor], device: torch.device | str) -> Iterator[torch.Tensor]:
        """Yield images[idx] (b, 3, H, W) for each index tensor, in order."""
        for idx in indices:
            yield self.images[idx.to(self.images.device)]


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, ranks: Ranks = Ranks()) -> list[torch.Tensor]:
    """This process's share of every full batch of an epoch (the last partial batch is dropped: BatchNorm wants full ones).

    The order depends only on (seed, epoch): resuming reproduces it exactly.
    """
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return [local_batch(order[j * batch_size : (j + 1) * batch_size], ranks) for j in range(n // batch_size)]


def training_images(
    cfg: RunConfig, images: torch.Tensor | ImageStream | None, device: torch.device
) -> TensorImages | ImageStream:
    """The run's training images: those given, or cfg's dataset (a folder too big for memory streams from disk)."""
    if images is None:
        from .data import load_dataset

        images = open_stream(cfg.train.dataset, "train", seed=cfg.train.seed) or load_dataset(
            cfg.train.dataset, "train", seed=cfg.train.seed
        ).images
    source = images if isinstance(images, ImageStream) else TensorImages(images, device)
    n, batch = len(source), cfg.train.batch_size
    if n < 2:
        raise ValueError(
            f"The training set has {n} image(s) but BYOL needs at least 2 (BatchNorm compares the images of a batch); "
            "add images."
        )
    if batch > n:
        raise ValueError(f"Batch size {batch} is larger than the dataset ({n} images); use --batch-size {n} or less.")
    return source
