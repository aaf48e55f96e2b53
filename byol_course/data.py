"""Datasets as uint8 tensors: the embedded default, CIFAR-10, STL-10 and folders of images.

Every loader returns a :class:`Dataset` whose ``images`` are one contiguous
``(N, 3, H, W)`` uint8 tensor and whose ``labels`` are an ``(N,)`` int64 tensor
(-1 where a dataset has no labels).  The datasets of this course are small: CIFAR-10's
50,000 training images take 150 MB as uint8, four times less than as float32.  Kept
as uint8 they fit on the accelerator whole, and BYOL's augmentations run there on
batches drawn by indexing, with no data-loader workers and no per-image Python.  Conversion
to float (and normalisation with :meth:`Dataset.mean_std`) happens per batch, after
augmentation.

    >>> ds = load_dataset("cifar10", "train")               # doctest: +SKIP
    >>> ds.images.shape, ds.images.dtype, ds.classes[:2]    # doctest: +SKIP
    (torch.Size([50000, 3, 32, 32]), torch.uint8, ['airplane', 'automobile'])

Names: ``"embedded"`` (the default, generated, no download), ``"cifar10"``, ``"stl10"``
(both through torchvision, downloaded into :func:`default_data_root` when missing)
and ``"folder:PATH"`` for your own images, in one of three layouts:

* ``PATH/train/<class>/*`` and ``PATH/test/<class>/*``: the split as given;
* ``PATH/<class>/*``: a fixed, seeded, stratified 80/20 train/test split;
* ``PATH/*``: no labels, for pretraining only (split ``"train"`` or ``"unlabeled"``).

Folder images are converted to RGB and resized to ``image_size`` x ``image_size``
(32 by default) without cropping, so images that are not square are squashed (`folders`).
"""

from __future__ import annotations

import math
import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .folders import DEFAULT_FOLDER_IMAGE_SIZE, DatasetError, load_folder

__all__ = ["DATASETS", "DatasetError", "Dataset", "default_data_root", "load_dataset"]

DATASETS = ("embedded", "cifar10", "stl10", "folder:PATH")

_SPLITS = {
    "embedded": ("train", "test"),
    "cifar10": ("train", "test"),
    "stl10": ("train", "test", "unlabeled"),
    "folder": ("train", "test", "unlabeled"),
}
_STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
# What torchvision raises when a download or an extraction fails (URLError and
# HTTPError are OSErrors), and what a corrupt pickle or binary file raises when parsed.
_LOAD_ERRORS = (RuntimeError, OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError, tarfile.TarError)


@dataclass(eq=False, repr=False)
class Dataset:
    """Images as one (N, 3, H, W) uint8 tensor with (N,) int64 labels (-1 = unlabeled)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    split: str

    def __post_init__(self) -> None:
        """Check the tensor conventions and make the images contiguous."""
        images, labels = self.images, self.labels
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise DatasetError(
                f"Dataset images must be a (N, 3, H, W) uint8 tensor, got {images.dtype} of shape "
                f"{tuple(images.shape)}; convert them with images.to(torch.uint8) in that layout."
            )
        if images.shape[2] != images.shape[3]:
            raise DatasetError(
                f"Dataset images must be square, got {images.shape[2]}x{images.shape[3]}; resize them first."
            )
        if labels.dtype != torch.int64 or labels.shape != (images.shape[0],):
            raise DatasetError(
                f"Dataset labels must be an int64 tensor of shape ({images.shape[0]},), got {labels.dtype} of "
                f"shape {tuple(labels.shape)}; use -1 for unlabeled images."
            )
        self.images = images.contiguous()

    def __len__(self) -> int:
        """Return the number of images."""
        return self.images.shape[0]

    def __repr__(self) -> str:
        """Summarise the dataset without printing its tensors."""
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"image_size={self.image_size}, classes={len(self.classes)})"
        )

    @property
    def image_size(self) -> int:
        """Return the side H (= W) of the square images."""
        return self.images.shape[-1]

    def mean_std(self, max_images: int = 10_000) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """Return the per-channel mean and std of images/255, from at most max_images evenly spaced images."""
        if len(self) == 0:
            raise DatasetError(f"Dataset {self.name!r} ({self.split}) is empty, so it has no mean or std.")
        sample = self.images[:: max(1, math.ceil(len(self) / max_images))]
        total = torch.zeros(3, dtype=torch.float64, device=sample.device)
        total_sq = torch.zeros_like(total)
        for chunk in sample.split(256):
            x = chunk.float()
            total += x.sum(dim=(0, 2, 3), dtype=torch.float64)
            total_sq += x.square().sum(dim=(0, 2, 3), dtype=torch.float64)
        count = sample.shape[0] * sample.shape[2] * sample.shape[3]
        mean = total / count / 255.0
        std = (total_sq / count / 255.0**2 - mean.square()).clamp(min=0).sqrt()
        return tuple(mean.tolist()), tuple(std.tolist())  # type: ignore[return-value]


def default_data_root() -> Path:
    """Return $BYOL_COURSE_DATA, else the checkout's data/ folder, else ~/.cache/byol-course."""
    env = os.environ.get("BYOL_COURSE_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return Path.home() / ".cache" / "byol-course"


def load_dataset(
    name: str = "embedded",
    split: str = "train",
    *,
    root: str | Path | None = None,
    image_size: int | None = None,
    download: bool = True,
    seed: int = 0,
) -> Dataset:
    """Load dataset `name` ("embedded", "cifar10", "stl10" or "folder:PATH") as uint8 tensors."""
    if not isinstance(name, str):
        raise DatasetError(f"The dataset name must be a string, got {name!r}; use one of {', '.join(DATASETS)}.")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise DatasetError(f"image_size must be a positive integer or None, got {image_size!r}.")
    key = name.strip()
    kind = "folder" if key.lower().startswith("folder:") else key.lower()
    if kind not in _SPLITS:
        raise DatasetError(_unknown_name_message(name))
    if split not in _SPLITS[kind]:
        raise DatasetError(f"Dataset {name!r} has no split {split!r}; use one of: {', '.join(_SPLITS[kind])}.")

    if kind == "folder":
        images, labels, classes, folder = load_folder(key[len("folder:") :], split, image_size or DEFAULT_FOLDER_IMAGE_SIZE, seed)
        return Dataset(images, labels, classes, folder, split)
    data_root = Path(root).expanduser() if root is not None else default_data_root()
    if kind == "embedded":
        from . import embedded  # imported here so that this module works on its own

        images, labels, classes = embedded.load_embedded(split, root=data_root, seed=seed)
    elif kind == "cifar10":
        images, labels, classes = _load_cifar10(split, data_root, download)
    else:
        images, labels, classes = _load_stl10(split, data_root, download)
    if image_size is not None:
        images = _resize(images, image_size)
    return Dataset(images, labels, list(classes), kind, split)


def _unknown_name_message(name: str) -> str:
    """Say which names exist, with a hint when `name` is an existing folder."""
    message = f"Unknown dataset {name!r}; use one of: {', '.join(DATASETS)}"
    if Path(name).expanduser().is_dir():
        message += f" (to load the folder {name}, pass 'folder:{name}')"
    return message + "."


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (N, 3, H, W) uint8 images to size x size with antialiased bilinear filtering, in chunks."""
    if images.shape[-2:] == (size, size):
        return images
    n = images.shape[0]
    out = torch.empty((n, images.shape[1], size, size), dtype=torch.uint8, device=images.device)
    pixels = images.shape[1] * max(images.shape[2] * images.shape[3], size * size)
    chunk = max(1, (1 << 24) // pixels)  # about 64 MB of float32 at a time
    for start in range(0, n, chunk):
        x = images[start : start + chunk].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


# --- CIFAR-10 and STL-10, through torchvision ---------------------------------------------


def _any_copy(cls: type) -> type:
    """Subclass a torchvision dataset so that its files need to be present, not byte-identical.

    torchvision checks every file against the MD5 of the official release, and refuses to
    parse a copy that differs (a re-packed copy, one converted by another tool, the small
    real-format fixtures of the tests).  ``check_integrity(path, md5=None)`` only checks that
    the file exists, so the subclass keeps the file lists and drops their checksums; a file
    that is truncated or not in the format still fails when it is parsed.  The MD5 of the
    downloaded archive (``tgz_md5``) is kept, so downloads are still verified.
    """
    attrs = {
        "train_list": [[filename, None] for filename, _ in cls.train_list],
        "test_list": [[filename, None] for filename, _ in cls.test_list],
    }
    if hasattr(cls, "meta"):
        attrs["meta"] = {**cls.meta, "md5": None}
    return type(f"{cls.__name__}AnyCopy", (cls,), attrs)


def _load_cifar10(split: str, root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read CIFAR-10 from root/cifar-10-batches-py, downloading it there if allowed."""
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    try:
        ds = _any_copy(CIFAR10)(str(root), train=split == "train", download=download)
    except _LOAD_ERRORS as exc:
        needed = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
        raise DatasetError(
            _torchvision_message("CIFAR-10", folder, root, needed, download, exc, CIFAR10.filename,
                                 "https://www.cs.toronto.edu/~kriz/cifar.html")
        ) from exc
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) -> (N, 3, 32, 32)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return images, labels, list(ds.classes)


def _load_stl10(split: str, root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Read STL-10 from root/stl10_binary, downloading it there if allowed."""
    from torchvision.datasets import STL10

    folder = root / STL10.base_folder
    try:
        ds = _any_copy(STL10)(str(root), split=split, download=download)
    except _LOAD_ERRORS as exc:
        needed = [name for name, _ in STL10.train_list + STL10.test_list]
        raise DatasetError(
            _torchvision_message("STL-10", folder, root, needed, download, exc, STL10.filename,
                                 "https://cs.stanford.edu/~acoates/stl10/")
        ) from exc
    images = torch.from_numpy(ds.data).contiguous()  # torchvision already turned it into (N, 3, 96, 96) rows
    labels = torch.as_tensor(ds.labels.astype(np.int64))
    classes = [] if split == "unlabeled" else list(getattr(ds, "classes", _STL10_CLASSES))
    return images, labels, classes


def _torchvision_message(
    title: str, folder: Path, root: Path, needed: list[str], download: bool, exc: Exception, archive: str, url: str
) -> str:
    """Explain why a torchvision dataset failed: missing (and not downloadable) or unreadable."""
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        reason = f"{type(exc).__name__}: {exc}" if download else "download=False"
        partial = f" (missing {', '.join(missing)})" if len(missing) < len(needed) else ""
        return (
            f"{title} is not in {folder}{partial} and could not be downloaded ({reason}); "
            f"download {archive} from {url} and extract it into {root}, or pass root=... pointing at the "
            f"folder that contains {folder.name}."
        )
    return (
        f"{title} in {folder} could not be read ({type(exc).__name__}: {exc}); delete {folder} and download "
        f"{archive} from {url} again."
    )
