"""Chapter 0 — your own photos: a folder of images in one of three layouts, decoded to uint8.

* ``PATH/train/<class>/*`` and ``PATH/test/<class>/*``: the split as given;
* ``PATH/<class>/*``: a fixed, seeded, stratified 80/20 train/test split;
* ``PATH/*``: no labels, for pretraining only (split ``"train"`` or ``"unlabeled"``).

Images are converted to RGB (16-bit and float images scaled, EXIF rotation applied) and resized
to ``size`` x ``size`` without cropping, so images that are not square are squashed. Every way a
folder can be wrong (missing, a file, empty, mixed layouts, one class, unreadable images) is
one sentence saying what to do.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

__all__ = ["IMAGE_EXTENSIONS", "DEFAULT_FOLDER_IMAGE_SIZE", "DatasetError", "folder_files", "load_folder", "read_image"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_FOLDER_IMAGE_SIZE = 32
_IGNORED_FOLDERS = ("__MACOSX",)  # resource forks that macOS adds to zip files


class DatasetError(ValueError):
    """A dataset name, split, size or folder that cannot be loaded; the message says what to do."""


def folder_files(spec: str, split: str, seed: int = 0) -> tuple[Path, list[Path], list[int], list[str]]:
    """The folder, files, labels (-1: none) and classes of split `split` of the image folder `spec`, in load order.

    The one place where the three layouts are told apart and checked (see the module docstring);
    `load_folder` decodes these files, `stream` reads them batch by batch.
    """
    if not spec.strip():
        raise DatasetError("folder: needs a path; pass folder:PATH with PATH a folder of images, e.g. folder:~/photos.")
    path = Path(spec).expanduser()
    if path.is_symlink() and not path.exists():
        raise DatasetError(
            f"Dataset path {path} is a symbolic link that leads nowhere (broken, or a loop); "
            "point folder:PATH at the real folder of images."
        )
    if not path.exists():
        raise DatasetError(
            f"Dataset folder {path} does not exist; pass folder:PATH with PATH a folder of images, "
            f"e.g. PATH/<class>/*.jpg."
        )
    if not path.is_dir():
        raise DatasetError(
            f"Dataset path {path} is a file, not a folder; extract archives first and pass folder:PATH with PATH "
            f"a folder of images."
        )
    subfolders, top_images = _subfolders(path), _image_files(path)
    if subfolders and top_images:
        raise DatasetError(_mixed_message(path, top_images, subfolders))
    names = {folder.name for folder in subfolders}

    if {"train", "test"} <= names:  # layout 1: PATH/train/<class>/*, PATH/test/<class>/*
        groups = {part: _class_files(path / part) for part in ("train", "test")}
        classes = sorted(groups["train"])
        unknown = sorted(set(groups["test"]) - set(classes))
        if unknown:
            raise DatasetError(
                f"{path / 'test'} has class folders that {path / 'train'} lacks ({', '.join(unknown)}); "
                f"give train/ and test/ the same class subfolders."
            )
        _check_two_classes(path / "train", classes)
        _check_labelled_split(path, split)
        files, labels = _flatten({c: groups[split][c] for c in classes if c in groups[split]}, classes)
    elif subfolders:  # layout 2: PATH/<class>/*, split 80/20 here
        if names & {"train", "test"}:
            _explain_half_split(path, names)
        groups = _class_files(path)
        classes = sorted(groups)
        _check_two_classes(path, classes)
        _check_labelled_split(path, split)
        chosen = {c: _split_80_20(groups[c], seed)[split == "test"] for c in classes}
        files, labels = _flatten(chosen, classes)
        if not files:
            raise DatasetError(
                f"The {split} split of {path} is empty; each class folder needs at least two images for the "
                f"80/20 split."
            )
    elif top_images:  # layout 3: PATH/*, no labels
        if split == "test":
            raise DatasetError(
                f"{path} is a flat folder of images with no labels, so it has no test split and can only be used "
                f"for pretraining (split 'train' or 'unlabeled'); put the images in {path}/<class>/ folders to get "
                f"labels."
            )
        files, labels, classes = top_images, [-1] * len(top_images), []
    else:
        raise DatasetError(
            f"Dataset folder {path} contains no images ({' '.join(IMAGE_EXTENSIONS)}); add images directly "
            f"(unlabeled) or in one subfolder per class, e.g. {path}/<class>/*.jpg."
        )
    return path, files, labels, classes


def load_folder(spec: str, split: str, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str], str]:
    """Decode split `split` of the image folder `spec`: (images uint8 (N, 3, size, size), labels, classes, name).

    Unreadable files are skipped with one warning listing them; none readable is an error.
    """
    path, files, labels, classes = folder_files(spec, split, seed)
    images, failures = _decode_images(files, size)
    if len(failures) == len(files):
        raise DatasetError(
            f"None of the {len(files)} image files of the {split} split of {path} could be read "
            f"(first: {failures[0][1]}); check that they are valid images."
        )
    if failures:
        shown = "; ".join(reason for _, reason in failures[:3])
        more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
        warnings.warn(
            f"Skipped {len(failures)} unreadable image file(s) of {len(files)} in {path}: {shown}{more}.",
            stacklevel=3,  # the caller of load_dataset
        )
        keep = np.ones(len(files), dtype=bool)
        keep[[index for index, _ in failures]] = False
        images, labels = images[keep], [label for label, ok in zip(labels, keep) if ok]
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # (N, 3, size, size)
    return tensor, torch.as_tensor(labels, dtype=torch.int64), classes, f"folder:{path}"


def _is_visible(entry: Path) -> bool:
    """Tell whether a directory entry is a real entry, not a hidden file such as .DS_Store."""
    return not entry.name.startswith(".") and entry.name not in _IGNORED_FOLDERS


def _image_files(folder: Path) -> list[Path]:
    """Return the sorted visible image files directly inside `folder`."""
    return sorted(
        p for p in folder.iterdir() if _is_visible(p) and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def _subfolders(folder: Path) -> list[Path]:
    """Return the sorted visible subfolders of `folder`."""
    return sorted(p for p in folder.iterdir() if _is_visible(p) and p.is_dir())


def _class_files(folder: Path) -> dict[str, list[Path]]:
    """Return {class name: sorted image files} for a folder holding one subfolder per class."""
    subfolders, loose = _subfolders(folder), _image_files(folder)
    if subfolders and loose:
        raise DatasetError(_mixed_message(folder, loose, subfolders))
    if not subfolders:
        raise DatasetError(
            f"{folder} must hold one subfolder per class with the images inside, e.g. {folder}/<class>/*.jpg, "
            f"but it has {'loose images' if loose else 'no images'}."
        )
    groups = {sub.name: _image_files(sub) for sub in subfolders}
    empty = [name for name, files in groups.items() if not files]
    if empty:
        raise DatasetError(
            f"Class folder {folder / empty[0]} contains no image files ({' '.join(IMAGE_EXTENSIONS)}); add "
            f"images to it or remove it."
        )
    return groups


def _mixed_message(folder: Path, images: list[Path], subfolders: list[Path]) -> str:
    """Explain that a folder holding both images and subfolders has no clear layout."""
    names = ", ".join(sub.name for sub in subfolders[:3]) + (", ..." if len(subfolders) > 3 else "")
    return (
        f"{folder} holds both image files ({len(images)}, e.g. {images[0].name}) and subfolders ({names}), so "
        f"its layout is ambiguous; move the images into class subfolders for a labelled dataset, or remove the "
        f"subfolders to use it as a flat unlabeled folder."
    )


def _explain_half_split(path: Path, names: set[str]) -> None:
    """Refuse a folder that has train/ or test/ but not both."""
    present, absent = ("train", "test") if "train" in names else ("test", "train")
    raise DatasetError(
        f"{path} has a {present}/ folder but no {absent}/ folder; add {path / absent}/<class>/ images, or pass "
        f"folder:{path / present} to split its classes 80/20."
    )


def _check_two_classes(folder: Path, classes: list[str]) -> None:
    """Refuse a labelled folder with fewer than two classes."""
    if len(classes) < 2:
        raise DatasetError(
            f"{folder} has only one class folder ({classes[0]}); a labelled dataset needs at least two classes, "
            f"and for unlabeled pretraining put the images directly in the folder."
        )


def _check_labelled_split(path: Path, split: str) -> None:
    """Refuse the 'unlabeled' split on a folder that has labels."""
    if split == "unlabeled":
        raise DatasetError(
            f"{path} has class subfolders, so its splits are 'train' and 'test'; 'unlabeled' is only for a flat "
            f"folder of images."
        )


def _split_80_20(files: list[Path], seed: int) -> tuple[list[Path], list[Path]]:
    """Split one class's sorted files 80/20 by a seeded permutation; each part keeps file-name order."""
    n = len(files)
    n_train = min(max((4 * n + 2) // 5, 1), max(n - 1, 1))  # round(0.8 n), at least one each when n >= 2
    order = np.random.default_rng(seed).permutation(n)
    train = sorted(order[:n_train].tolist())
    test = sorted(order[n_train:].tolist())
    return [files[i] for i in train], [files[i] for i in test]


def _flatten(groups: dict[str, list[Path]], classes: list[str]) -> tuple[list[Path], list[int]]:
    """Turn {class: files} into parallel lists of files and label indices, in class order."""
    index = {name: i for i, name in enumerate(classes)}
    files = [f for name in classes if name in groups for f in groups[name]]
    labels = [index[name] for name in classes if name in groups for _ in groups[name]]
    return files, labels


def _decode_images(files: list[Path], size: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode files into an (N, size, size, 3) uint8 array; return it and the (index, reason) of failures."""
    out = np.zeros((len(files), size, size, 3), dtype=np.uint8)

    def decode(index: int) -> tuple[int, str] | None:
        try:
            out[index] = read_image(files[index], size)
        except Exception as exc:  # noqa: BLE001 - decoders raise many types for corrupt files; all mean "skip"
            return index, f"{files[index]} ({type(exc).__name__}: {exc})"
        return None

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL releases the GIL while decoding
        results = list(pool.map(decode, range(len(files))))
    return out, [r for r in results if r is not None]


def read_image(path: Path, size: int) -> np.ndarray:
    """Read one image file as a (size, size, 3) uint8 RGB array, squashed to a square."""
    with Image.open(path) as image:
        if image.format == "JPEG":
            image.draft(None, (2 * size, 2 * size))  # let libjpeg decode big photos at 1/2, 1/4 or 1/8 scale
        if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation: phone photos are stored rotated
            image = ImageOps.exif_transpose(image)
        rgb = _to_rgb(image)
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.BICUBIC)
    return np.asarray(rgb, dtype=np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB, scaling 16-bit and float images instead of clipping them."""
    if image.mode.startswith("I") or image.mode == "F":  # I;16 (16-bit PNG), I (32-bit int), F (float)
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0  # 0..65535 -> 0..255
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # the direct P -> RGB conversion warns about the transparency
    return image.convert("RGB")
