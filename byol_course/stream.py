"""Large datasets that do not fit in memory: stream uint8 batches from disk, augment on the device.

The course's datasets (embedded, CIFAR-10, STL-10 train/test) live whole on the device as
uint8 and `train.pretrain` draws batches by indexing. A big folder of photos or STL-10's
100,000 unlabeled 96×96 images (2.8 GB as uint8) is different: here a DataLoader's worker
processes decode or read the images of each batch — only decoding and resizing, never
augmenting — into pinned memory, the batch goes to the device asynchronously, and the two
BYOL views are made there by the same per-sample batched ops (`byol_course.augment`) as for
the in-memory path. The batches follow the same seeded order, so a streamed epoch sees the
same images in the same batches as an in-memory one.

    >>> stream = open_stream("folder:~/photos", "train", mode="always")   # doctest: +SKIP
    >>> pretrain(cfg, "runs/photos", train_images=stream)                 # doctest: +SKIP

`open_stream(..., mode="auto")` returns None when the dataset is small enough to load
(below `STREAM_ABOVE_BYTES` as uint8), so callers fall back to `data.load_dataset`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from . import data
from .folders import DEFAULT_FOLDER_IMAGE_SIZE, DatasetError, folder_files, read_image

__all__ = ["STREAM_ABOVE_BYTES", "ImageStream", "FolderImages", "STL10Unlabeled", "open_stream", "default_workers"]

STREAM_ABOVE_BYTES = 1 << 30  # 1 GiB of uint8: e.g. 350,000 images at 32×32, or STL-10 unlabeled (2.8 GB)
_STL10_SIZE = 96


class FolderImages(torch.utils.data.Dataset):
    """Image files decoded one by one (RGB, squashed to size×size, as `data.load_dataset` does)."""

    def __init__(self, files: Sequence[Path], size: int) -> None:
        self.files, self.size = list(files), size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        for j in range(len(self.files)):  # an unreadable file is replaced by the next readable one
            path = self.files[(i + j) % len(self.files)]
            try:
                rgb = read_image(path, self.size)  # (S, S, 3) uint8, identical to the in-memory loader
            except Exception as exc:  # noqa: BLE001 - decoders raise many types for corrupt files; all mean "skip"
                warnings.warn(f"Skipped unreadable image {path} ({type(exc).__name__}: {exc}).", stacklevel=2)
                continue
            return torch.from_numpy(rgb.copy()).permute(2, 0, 1).contiguous()  # (3, S, S); PIL arrays are read-only
        raise DatasetError(f"None of the {len(self.files)} image files could be read; check that they are images.")


class STL10Unlabeled(torch.utils.data.Dataset):
    """STL-10's unlabeled_X.bin read through a memory map: one 96×96 image per item, nothing loaded up front."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        n = self.path.stat().st_size // (3 * _STL10_SIZE * _STL10_SIZE)
        self.shape = (n, 3, _STL10_SIZE, _STL10_SIZE)
        self._array: np.ndarray | None = None  # opened lazily, once per worker process

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        if self._array is None:
            self._array = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self.shape)
        # the binary stores each channel column-major, as torchvision's STL10 reads it
        return torch.from_numpy(np.ascontiguousarray(self._array[i].transpose(0, 2, 1)))  # (3, 96, 96)


class _Batches(torch.utils.data.Sampler):
    """A batch sampler whose list of batches is set before each epoch (the workers can persist)."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def default_workers() -> int:
    """DataLoader workers: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


class ImageStream:
    """A dataset read batch by batch through a DataLoader (workers, pinned memory); `len()` is its size."""

    def __init__(self, dataset: torch.utils.data.Dataset, name: str, workers: int | None = None) -> None:
        self.dataset, self.name = dataset, name
        self.workers = default_workers() if workers is None else workers
        self._sampler = _Batches()
        self._loader: torch.utils.data.DataLoader | None = None
        self._pin = False

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"ImageStream({self.name!r}, n={len(self)}, workers={self.workers})"

    def batches(self, indices: Sequence[torch.Tensor], device: torch.device | str) -> Iterator[torch.Tensor]:
        """Yield one uint8 batch (b, 3, H, W) on `device` per index tensor in `indices`, in that order."""
        device = torch.device(device)
        pin = device.type == "cuda"
        if self._loader is None or pin != self._pin:
            self._pin = pin
            self._loader = torch.utils.data.DataLoader(
                self.dataset,
                batch_sampler=self._sampler,
                num_workers=self.workers,
                pin_memory=pin,  # page-locked host memory: the copy to the GPU can overlap compute
                persistent_workers=self.workers > 0,  # no start-up cost per epoch
                prefetch_factor=4 if self.workers > 0 else None,
            )
        self._sampler.batches = [idx.tolist() for idx in indices]
        for batch in self._loader:
            yield batch.to(device, non_blocking=pin)  # (b, 3, H, W) uint8


def open_stream(
    name: str,
    split: str = "train",
    *,
    root: str | Path | None = None,
    image_size: int | None = None,
    seed: int = 0,
    mode: str = "auto",
    workers: int | None = None,
) -> ImageStream | None:
    """An ImageStream for `name`/`split`, or None where the dataset should be loaded whole instead.

    mode: "auto" streams folders and STL-10 unlabeled whose uint8 tensor would exceed
    STREAM_ABOVE_BYTES; "always" streams every folder and STL-10 unlabeled; "never" returns None.
    Other datasets (embedded, CIFAR-10, STL-10 train/test) are small and always load whole.
    """
    if mode not in ("auto", "always", "never"):
        raise ValueError(f"mode must be auto, always or never, got {mode!r}.")
    if mode == "never" or not isinstance(name, str):
        return None
    key = name.strip()
    if key.lower().startswith("folder:"):
        size = image_size or DEFAULT_FOLDER_IMAGE_SIZE
        _, files, _, _ = folder_files(key[len("folder:") :], split, seed)
        if mode == "auto" and len(files) * 3 * size * size <= STREAM_ABOVE_BYTES:
            return None
        return ImageStream(FolderImages(files, size), f"folder:{key[len('folder:'):]} ({split})", workers)
    if key.lower() == "stl10" and split == "unlabeled" and image_size in (None, _STL10_SIZE):
        from torchvision.datasets import STL10

        path = (Path(root).expanduser() if root else data.default_data_root()) / STL10.base_folder / "unlabeled_X.bin"
        if not path.is_file():
            return None  # load_dataset downloads it or explains where to put it
        return ImageStream(STL10Unlabeled(path), "stl10 (unlabeled)", workers)
    return None
