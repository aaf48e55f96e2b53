"""Tests of byol_course.data: the real on-disk formats (fabricated small), folder layouts, errors."""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from byol_course.data import DATASETS, Dataset, DatasetError, default_data_root, load_dataset

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
STL_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def pattern(n: int, size: int, offset: int = 0) -> np.ndarray:
    """(n, 3, size, size) uint8 images whose values differ per image, channel, row and column (y != x)."""
    k = np.arange(offset, offset + n)[:, None, None, None]
    c = np.arange(3)[None, :, None, None]
    y = np.arange(size)[None, None, :, None]
    x = np.arange(size)[None, None, None, :]
    return ((k * 37 + c * 80 + y * 7 + x) % 256).astype(np.uint8)


# --- CIFAR-10 ------------------------------------------------------------------------------


def write_cifar10(root: Path, per_batch: int = 3, n_test: int = 4) -> dict[str, np.ndarray]:
    """Write CIFAR-10's python-version files (cifar-10-batches-py) with small fabricated contents.

    The real files are Python 2 pickles of dicts; torchvision unpickles them with
    encoding="latin1", which turns their keys into str, so str keys here give the same
    objects.  b"data" is (n, 3072) uint8: per image the 1024 red values in row-major
    order, then the green, then the blue.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def dump(name: str, obj: dict) -> None:
        with open(folder / name, "wb") as f:
            pickle.dump(obj, f, protocol=2)

    train = pattern(5 * per_batch, 32)
    train_labels = [(3 * i + 1) % 10 for i in range(5 * per_batch)]
    # Image 1 is black but for two pixels placed by their offsets in the 3072-byte row:
    # red at (row 2, column 30) and blue at (row 31, column 0).
    row = np.zeros(3072, dtype=np.uint8)
    row[0 * 1024 + 2 * 32 + 30] = 255
    row[2 * 1024 + 31 * 32 + 0] = 254
    train[1] = row.reshape(3, 32, 32)
    for b in range(5):
        part = slice(b * per_batch, (b + 1) * per_batch)
        dump(f"data_batch_{b + 1}", {
            "batch_label": f"training batch {b + 1} of 5",
            "labels": train_labels[part],
            "data": train[part].reshape(per_batch, 3072),
            "filenames": [f"img_{i}.png" for i in range(per_batch)],
        })
    test = pattern(n_test, 32, offset=100)
    test[0] = 200  # a constant image, which any resize must keep constant
    test[1] = 0
    test[1, :, :, ::4] = 255  # every 4th column white: subsampling without antialiasing misses them all
    test_labels = [9 - i for i in range(n_test)]
    dump("test_batch", {"batch_label": "testing batch 1 of 1", "labels": test_labels,
                        "data": test.reshape(n_test, 3072), "filenames": [f"t_{i}.png" for i in range(n_test)]})
    dump("batches.meta", {"num_cases_per_batch": per_batch, "label_names": CIFAR_CLASSES, "num_vis": 3072})
    return {"train": train, "train_labels": np.array(train_labels), "test": test, "test_labels": np.array(test_labels)}


def test_cifar10_real_format_round_trips_exactly(tmp_path):
    expected = write_cifar10(tmp_path)
    ds = load_dataset("cifar10", "train", root=tmp_path, download=False)
    assert ds.images.shape == (15, 3, 32, 32) and ds.images.dtype == torch.uint8 and ds.images.is_contiguous()
    assert ds.labels.dtype == torch.int64
    assert torch.equal(ds.images, torch.from_numpy(expected["train"]))
    assert ds.labels.tolist() == expected["train_labels"].tolist()
    assert ds.classes == CIFAR_CLASSES
    assert (ds.name, ds.split, len(ds), ds.image_size) == ("cifar10", "train", 15, 32)
    # Orientation and channel order, from the byte offsets alone:
    assert ds.images[1, 0, 2, 30] == 255 and ds.images[1, 2, 31, 0] == 254
    assert ds.images[1, 0, 30, 2] == 0 and ds.images[1].sum() == 255 + 254

    test = load_dataset("cifar10", "test", root=str(tmp_path), download=False)
    assert torch.equal(test.images, torch.from_numpy(expected["test"]))
    assert test.labels.tolist() == expected["test_labels"].tolist()


def test_cifar10_image_size_resizes_with_antialiasing(tmp_path):
    expected = write_cifar10(tmp_path)
    small = load_dataset("cifar10", "test", root=tmp_path, image_size=16, download=False)
    assert small.images.shape == (4, 3, 16, 16) and small.images.dtype == torch.uint8
    assert small.image_size == 16 and small.images.is_contiguous()
    assert (small.images[0] == 200).all()  # a constant image stays constant
    # Antialiased 2x downsampling averages, so per-image means survive (nearest would not).
    means = torch.from_numpy(expected["test"]).float().mean(dim=(1, 2, 3))
    assert torch.allclose(small.images.float().mean(dim=(1, 2, 3)), means, atol=2.0)
    tiny = load_dataset("cifar10", "test", root=tmp_path, image_size=8, download=False)
    assert abs(tiny.images[1].float().mean() - 255 / 4) < 2 and tiny.images[1].float().std() < 8
    big = load_dataset("cifar10", "test", root=tmp_path, image_size=40, download=False)
    assert big.images.shape == (4, 3, 40, 40)
    same = load_dataset("cifar10", "test", root=tmp_path, image_size=32, download=False)
    assert torch.equal(same.images, torch.from_numpy(expected["test"]))


def test_cifar10_missing_offline_names_the_folder(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("cifar10", root=tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    assert "cifar-10-python.tar.gz" in message and "download=False" in message and "root=" in message


def test_cifar10_partial_and_corrupt_files_are_explained(tmp_path):
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="could not be read"):
        load_dataset("cifar10", root=tmp_path, download=False)
    (folder / "test_batch").unlink()
    with pytest.raises(DatasetError, match="missing test_batch"):
        load_dataset("cifar10", "test", root=tmp_path, download=False)


# --- STL-10 --------------------------------------------------------------------------------


def write_stl10(root: Path, n_train: int = 4, n_test: int = 3, n_unlabeled: int = 5) -> dict[str, np.ndarray]:
    """Write STL-10's binary files (stl10_binary) with small fabricated contents.

    *_X.bin holds, per image, the 96x96 red, green and blue planes, each in column-major
    order (the format of the Matlab arrays they come from); *_y.bin holds labels 1..10.
    """
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)

    def write_images(name: str, images: np.ndarray) -> None:
        (folder / name).write_bytes(b"".join(plane.tobytes(order="F") for image in images for plane in image))

    images = {
        "train": pattern(n_train, 96),
        "test": pattern(n_test, 96, offset=50),
        "unlabeled": pattern(n_unlabeled, 96, offset=80),
    }
    images["train"][0] = 0  # image 0: one red pixel at (row 3, column 90), placed by byte offset below
    for split, name in (("train", "train_X.bin"), ("test", "test_X.bin"), ("unlabeled", "unlabeled_X.bin")):
        write_images(name, images[split])
    raw = bytearray((folder / "train_X.bin").read_bytes())
    raw[0 * 9216 + 90 * 96 + 3] = 255  # channel 0, column 90, row 3 of image 0
    (folder / "train_X.bin").write_bytes(bytes(raw))
    images["train"][0, 0, 3, 90] = 255
    labels = {"train": np.array([1, 10, 5, 2][:n_train], np.uint8), "test": np.array([7, 3, 10][:n_test], np.uint8)}
    (folder / "train_y.bin").write_bytes(labels["train"].tobytes())
    (folder / "test_y.bin").write_bytes(labels["test"].tobytes())
    (folder / "class_names.txt").write_text("\n".join(STL_CLASSES) + "\n")
    (folder / "fold_indices.txt").write_text("\n".join(" ".join(str(i) for i in range(n_train)) for _ in range(10)))
    return {**images, **{f"{k}_labels": v for k, v in labels.items()}}


def test_stl10_real_format_round_trips_exactly(tmp_path):
    expected = write_stl10(tmp_path)
    ds = load_dataset("stl10", "train", root=tmp_path, download=False)
    assert ds.images.shape == (4, 3, 96, 96) and ds.images.dtype == torch.uint8 and ds.images.is_contiguous()
    assert ds.images[0, 0, 3, 90] == 255 and ds.images[0, 0, 90, 3] == 0 and ds.images[0].sum() == 255
    assert torch.equal(ds.images, torch.from_numpy(expected["train"]))
    assert ds.labels.dtype == torch.int64 and ds.labels.tolist() == [0, 9, 4, 1]  # 0-based
    assert ds.classes == STL_CLASSES and ds.image_size == 96

    test = load_dataset("stl10", "test", root=tmp_path, download=False)
    assert torch.equal(test.images, torch.from_numpy(expected["test"]))
    assert test.labels.tolist() == [6, 2, 9]

    unlabeled = load_dataset("stl10", "unlabeled", root=tmp_path, download=False, image_size=32)
    assert unlabeled.images.shape == (5, 3, 32, 32)
    assert unlabeled.labels.tolist() == [-1] * 5 and unlabeled.classes == []


def test_stl10_missing_offline_names_the_folder(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("stl10", "unlabeled", root=tmp_path, download=False)
    assert str(tmp_path / "stl10_binary") in str(info.value) and "stl10_binary.tar.gz" in str(info.value)


# --- folders of images ---------------------------------------------------------------------


def save(path: Path, color, size=(32, 32), mode: str = "RGB", **kwargs) -> Path:
    """Save a solid-colour image at path (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, **kwargs)
    return path


def colors_of(ds: Dataset) -> list[tuple[int, int, int]]:
    """The colour of the top-left pixel of every image."""
    return [tuple(int(v) for v in ds.images[i, :, 0, 0]) for i in range(len(ds))]


def test_folder_train_test_layout_is_used_as_given(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for c, name in enumerate(["dog", "cat"]):
            for i in range(n):
                save(tmp_path / split / name / f"{i:02d}.png", (c * 100, i * 10, 7 if split == "test" else 3))
    train = load_dataset(f"folder:{tmp_path}", "train")
    assert train.classes == ["cat", "dog"]  # sorted, label = index
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert colors_of(train) == [(100, 0, 3), (100, 10, 3), (100, 20, 3), (0, 0, 3), (0, 10, 3), (0, 20, 3)]
    test = load_dataset(f"folder:{tmp_path}", "test", image_size=8)
    assert test.images.shape == (4, 3, 8, 8) and test.labels.tolist() == [0, 0, 1, 1]
    assert {c[2] for c in colors_of(test)} == {7}
    assert train.name == f"folder:{tmp_path}" and test.split == "test"

    save(tmp_path / "test" / "bird" / "0.png", (1, 2, 3))
    with pytest.raises(DatasetError, match="bird"):
        load_dataset(f"folder:{tmp_path}", "test")


def make_class_folders(root: Path, sizes: dict[str, int]) -> None:
    """Class folders of PNGs, each image a unique colour (class index * 50, file index, 0)."""
    for c, (name, n) in enumerate(sizes.items()):
        for i in range(n):
            save(root / name / f"img{i:03d}.png", (c * 50, i, 0))


def test_folder_class_layout_gets_a_seeded_stratified_80_20_split(tmp_path):
    sizes = {"a": 10, "b": 7, "c": 5}
    make_class_folders(tmp_path, sizes)
    train = load_dataset(f"folder:{tmp_path}", "train", seed=0)
    test = load_dataset(f"folder:{tmp_path}", "test", seed=0)
    assert train.classes == test.classes == ["a", "b", "c"]
    assert torch.bincount(train.labels).tolist() == [8, 6, 4]
    assert torch.bincount(test.labels).tolist() == [2, 1, 1]
    train_ids, test_ids = set(colors_of(train)), set(colors_of(test))
    assert len(train_ids) == len(train) and len(test_ids) == len(test)
    assert not train_ids & test_ids
    assert train_ids | test_ids == {(c * 50, i, 0) for c, n in enumerate(sizes.values()) for i in range(n)}
    assert all(color[0] == 50 * label for color, label in zip(colors_of(train), train.labels.tolist()))

    again = load_dataset(f"folder:{tmp_path}", "train", seed=0)
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)
    other = load_dataset(f"folder:{tmp_path}", "train", seed=1)
    assert set(colors_of(other)) != train_ids
    assert torch.bincount(other.labels).tolist() == [8, 6, 4]


def test_folder_flat_is_unlabeled_and_for_pretraining_only(tmp_path):
    for i in range(5):
        save(tmp_path / f"{i}.jpg", (i * 40, 0, 0), quality=95)
    ds = load_dataset(f"folder:{tmp_path}", "train")
    assert ds.images.shape == (5, 3, 32, 32) and ds.classes == []
    assert ds.labels.tolist() == [-1] * 5
    assert torch.equal(load_dataset(f"folder:{tmp_path}", "unlabeled").images, ds.images)
    with pytest.raises(DatasetError, match="no labels.*pretraining"):
        load_dataset(f"folder:{tmp_path}", "test")


def test_folder_reads_every_image_mode_and_size(tmp_path):
    save(tmp_path / "a_gray.png", 100, mode="L")
    save(tmp_path / "b_rgba.png", (10, 20, 30, 128), mode="RGBA")
    Image.new("RGB", (32, 32), (200, 0, 0)).quantize(4).save(tmp_path / "c_palette.png")
    palette_alpha = Image.new("RGB", (32, 32), (0, 200, 0)).quantize(4)
    palette_alpha.info["transparency"] = 1
    palette_alpha.save(tmp_path / "d_palette_alpha.png", transparency=1)
    Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(tmp_path / "e_16bit.png")
    save(tmp_path / "f_tiny.png", (0, 255, 0), size=(4, 4))
    save(tmp_path / "g_large.jpg", (0, 0, 255), size=(500, 300), quality=95)
    save(tmp_path / "h_bilevel.png", 1, mode="1")
    save(tmp_path / "i_cmyk.jpg", (0, 0, 0, 0), mode="CMYK", quality=95)
    save(tmp_path / "j.gif", (50, 60, 70))
    save(tmp_path / "k.bmp", (80, 90, 100))
    save(tmp_path / "l.webp", (110, 120, 130), lossless=True)
    save(tmp_path / "m.tiff", (140, 150, 160))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(f"folder:{tmp_path}")
    assert ds.images.shape == (13, 3, 32, 32) and ds.images.dtype == torch.uint8
    expected = [(100, 100, 100), (10, 20, 30), (200, 0, 0), (0, 200, 0), (156, 156, 156), (0, 255, 0),
                (0, 0, 255), (255, 255, 255), (255, 255, 255), (50, 60, 70), (80, 90, 100), (110, 120, 130),
                (140, 150, 160)]
    centre = ds.images[:, :, 16, 16].to(torch.int64)
    assert (centre - torch.tensor(expected)).abs().max() <= 3, centre.tolist()


def test_folder_names_with_unicode_and_spaces_and_ignored_files(tmp_path):
    save(tmp_path / "café photo 1.png", (1, 2, 3))
    save(tmp_path / "日本 写真.JPG", (200, 200, 200), quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "._café photo 1.png").write_bytes(b"AppleDouble junk")  # macOS resource fork
    (tmp_path / "Thumbs.db").write_bytes(b"junk")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "x.png").write_bytes(b"junk")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset(f"folder:{tmp_path}")
    assert len(ds) == 2
    assert colors_of(ds)[0] == (1, 2, 3)


def test_folder_skips_corrupt_files_with_one_warning(tmp_path):
    for i in range(3):
        save(tmp_path / "good" / f"{i}.jpg", (i * 50, 0, 0), quality=95)
        save(tmp_path / "other" / f"{i}.png", (0, i * 50, 0))
    whole = (tmp_path / "good" / "0.jpg").read_bytes()
    big = save(tmp_path / "good" / "9_truncated.jpg", (0, 0, 0), size=(256, 256))
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(big)
    big.write_bytes(big.read_bytes()[: len(big.read_bytes()) // 2])
    (tmp_path / "other" / "9_garbage.png").write_bytes(whole[:10] + b"garbage")
    tree = tmp_path / "tree"
    for part in ("train", "test"):
        for name in ("good", "other"):
            for f in sorted((tmp_path / name).iterdir()):
                (tree / part / name).mkdir(parents=True, exist_ok=True)
                (tree / part / name / f.name).write_bytes(f.read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(f"folder:{tree}", "train")
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "Skipped 2" in message and "9_truncated.jpg" in message and "9_garbage.png" in message
    assert caught[0].filename == __file__  # points at the caller
    assert len(ds) == 6 and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert colors_of(ds)[3:] == [(0, 0, 0), (0, 50, 0), (0, 100, 0)]

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"junk")
    (broken / "b.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="None of the 2"):
        load_dataset(f"folder:{broken}")


def test_folder_expands_user_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    save(tmp_path / "photos" / "a.png", (9, 9, 9))
    assert colors_of(load_dataset("folder:~/photos")) == [(9, 9, 9)]


@pytest.mark.parametrize(
    ("setup", "split", "match"),
    [
        ("nothing", "train", "does not exist"),
        ("file", "train", "is a file, not a folder"),
        ("empty", "train", "contains no images"),
        ("text_only", "train", "contains no images"),
        ("one_class", "train", "only one class"),
        ("mixed", "train", "ambiguous"),
        ("flat", "test", "no labels"),
        ("empty_class", "train", "Class folder .*empty_one"),
        ("train_only", "train", "no test/ folder"),
        ("classes", "unlabeled", "only for a flat folder"),
        ("one_each", "test", "test split .* is empty"),
    ],
)
def test_folder_errors_say_what_to_do(tmp_path, setup, split, match):
    path = tmp_path / "ds"
    if setup == "file":
        path.write_bytes(b"PK")
    elif setup != "nothing":
        path.mkdir()
    if setup == "text_only":
        (path / "readme.txt").write_text("hi")
    if setup == "one_class":
        save(path / "cats" / "1.png", (1, 1, 1))
    if setup == "mixed":
        save(path / "loose.png", (1, 1, 1))
        save(path / "cats" / "1.png", (1, 1, 1))
    if setup == "flat":
        save(path / "1.png", (1, 1, 1))
    if setup in ("empty_class", "classes"):
        save(path / "cats" / "1.png", (1, 1, 1))
        save(path / "dogs" / "1.png", (1, 1, 1))
        if setup == "empty_class":
            (path / "empty_one").mkdir()
    if setup == "train_only":
        save(path / "train" / "cats" / "1.png", (1, 1, 1))
        save(path / "train" / "dogs" / "1.png", (1, 1, 1))
    if setup == "one_each":
        save(path / "cats" / "1.png", (1, 1, 1))
        save(path / "dogs" / "1.png", (1, 1, 1))
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(f"folder:{path}", split)
    assert isinstance(info.value, ValueError)
    assert info.value.args[0].replace("e.g. ", "").count(". ") == 0  # one sentence


def test_folder_without_a_path_is_refused():
    with pytest.raises(DatasetError, match="needs a path"):
        load_dataset("folder:")


def shared_data_dir() -> Path:
    """The project's shared real data: $BYOL_COURSE_SHARED_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("BYOL_COURSE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def test_folder_of_real_cifar10_jpegs(tmp_path):
    archive = shared_data_dir() / "cifar10-jpg-test.zip"
    if not archive.is_file():
        pytest.skip(f"{archive} is absent (real CIFAR-10 JPEGs; set BYOL_COURSE_SHARED_DATA to its folder)")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    train = load_dataset(f"folder:{tmp_path / 'test'}", "train")
    test = load_dataset(f"folder:{tmp_path / 'test'}", "test")
    assert train.classes == test.classes == CIFAR_CLASSES
    assert len(train) + len(test) == 10_000
    assert torch.bincount(train.labels).tolist() == [800] * 10
    assert torch.bincount(test.labels).tolist() == [200] * 10
    assert train.images.shape == (8000, 3, 32, 32) and train.images.dtype == torch.uint8
    # CIFAR-10's test-set statistics (RGB order): a wrong channel order or scale fails here.
    mean, std = train.mean_std()
    assert np.allclose(mean, (0.4942, 0.4851, 0.4504), atol=0.02), mean
    assert np.allclose(std, (0.2467, 0.2429, 0.2616), atol=0.02), std


# --- Dataset, names, defaults --------------------------------------------------------------


def test_mean_std_is_per_channel_over_images_divided_by_255():
    images = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    images[:, 0] = 255
    images[2:, 2] = 255
    ds = Dataset(images, torch.full((4,), -1, dtype=torch.int64), [], "toy", "train")
    mean, std = ds.mean_std()
    assert np.allclose(mean, (1.0, 0.0, 0.5)) and np.allclose(std, (0.0, 0.0, 0.5))
    mean, _ = ds.mean_std(max_images=2)  # evenly spaced: images 0 and 2
    assert np.allclose(mean, (1.0, 0.0, 0.5))
    assert "toy" in repr(ds) and "tensor" not in repr(ds)


def test_dataset_checks_the_tensor_conventions():
    labels = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(DatasetError, match="uint8"):
        Dataset(torch.zeros(2, 3, 8, 8), labels, [], "x", "train")
    with pytest.raises(DatasetError, match="labels"):
        Dataset(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), labels.int(), [], "x", "train")
    strided = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)[::2]
    assert Dataset(strided, labels, [], "x", "train").images.is_contiguous()


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("BYOL_COURSE_DATA", str(tmp_path / "elsewhere"))
    assert default_data_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("BYOL_COURSE_DATA")
    repo = Path(__file__).resolve().parents[1]
    assert default_data_root() == repo / "data"  # the tests run from a source checkout


def test_unknown_names_and_bad_splits_list_the_valid_options(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("imagenet")
    assert all(name in str(info.value) for name in DATASETS)
    with pytest.raises(DatasetError, match=f"folder:{tmp_path}"):
        load_dataset(str(tmp_path))  # an existing folder without the folder: prefix gets a hint
    with pytest.raises(DatasetError, match="no split 'val'.*train, test"):
        load_dataset("cifar10", "val", root=tmp_path)
    with pytest.raises(DatasetError, match="train, test, unlabeled"):
        load_dataset("stl10", "training", root=tmp_path)
    with pytest.raises(DatasetError, match="no split 'unlabeled'"):
        load_dataset("embedded", "unlabeled")
    with pytest.raises(DatasetError, match="image_size"):
        load_dataset("cifar10", root=tmp_path, image_size=0)


def test_embedded_default(tmp_path):
    pytest.importorskip("byol_course.embedded", reason="byol_course/embedded.py is not written yet")
    ds = load_dataset(split="test", root=tmp_path)  # the smaller split: generated, then cached in tmp_path
    assert (ds.name, ds.split) == ("embedded", "test")
    assert ds.images.dtype == torch.uint8 and ds.images.ndim == 4 and ds.images.shape[1:] == (3, 32, 32)
    assert ds.labels.dtype == torch.int64 and len(ds.classes) >= 2
    assert 0 <= int(ds.labels.min()) and int(ds.labels.max()) < len(ds.classes)
    small = load_dataset("embedded", "test", root=tmp_path, image_size=16)
    assert small.images.shape[1:] == (3, 16, 16)


def test_symlink_loop_as_dataset_path_is_named(tmp_path):
    """A dataset path that is a symlink loop is reported as such, not as a missing folder."""
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(DatasetError, match="symbolic link that leads nowhere"):
        load_dataset(f"folder:{loop}")
