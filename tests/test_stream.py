"""The streaming path for large datasets: same images, same batches, same training as in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _tiny import tiny_config
from byol_course import stream
from byol_course.data import load_dataset
from byol_course.train import pretrain


def _folder(root: Path, n_per_class: int = 12) -> Path:
    """PATH/<class>/*.png with two classes of random 40×24 images (not square: they get squashed)."""
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(root / c / f"{i:02d}.png")
    return root


def test_folder_stream_reads_what_load_dataset_loads(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    whole = load_dataset(f"folder:{root}", "train")
    s = stream.open_stream(f"folder:{root}", "train", mode="always", workers=1)
    assert s is not None and len(s) == len(whole) == 20  # 80% of 2 × 12
    order = torch.randperm(len(s), generator=torch.Generator().manual_seed(0))
    batches = list(s.batches([order[:8], order[8:16]], "cpu"))
    assert [b.shape for b in batches] == [(8, 3, 32, 32)] * 2 and batches[0].dtype == torch.uint8
    assert torch.equal(torch.cat(batches), whole.images[order[:16]])


def test_open_stream_modes(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", 3)
    assert stream.open_stream(f"folder:{root}", "train") is None  # tiny: loads whole
    assert stream.open_stream(f"folder:{root}", "train", mode="never") is None
    assert stream.open_stream("embedded", "train", mode="always") is None  # small datasets never stream
    assert isinstance(stream.open_stream(f"folder:{root}", "test", mode="always"), stream.ImageStream)
    with pytest.raises(ValueError, match="mode must be auto, always or never"):
        stream.open_stream(f"folder:{root}", mode="sometimes")


def test_auto_mode_streams_above_the_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folder(tmp_path / "imgs", 3)
    monkeypatch.setattr(stream, "STREAM_ABOVE_BYTES", 3 * 32 * 32 * 3)  # three 32×32 images
    s = stream.open_stream(f"folder:{root}", "train")
    assert isinstance(s, stream.ImageStream) and len(s) == 4


def test_unreadable_file_is_replaced_by_the_next_one(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", 3)
    (root / "a" / "00.png").write_bytes(b"not an image")
    ds = stream.FolderImages(sorted((root / "a").iterdir()), 16)
    with pytest.warns(UserWarning, match="Skipped unreadable image"):
        first = ds[0]
    assert torch.equal(first, ds[1])


def test_stl10_unlabeled_memmap_matches_torchvision_layout(tmp_path: Path) -> None:
    raw = np.random.default_rng(0).integers(0, 256, (5, 3, 96, 96), dtype=np.uint8)
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    raw.tofile(folder / "unlabeled_X.bin")
    s = stream.open_stream("stl10", "unlabeled", root=tmp_path, mode="always", workers=0)
    assert s is not None and len(s) == 5
    expected = torch.from_numpy(np.transpose(raw, (0, 1, 3, 2)).copy())  # what torchvision's STL10 returns
    (batch,) = list(s.batches([torch.tensor([4, 0, 2])], "cpu"))
    assert torch.equal(batch, expected[[4, 0, 2]])
    assert stream.open_stream("stl10", "unlabeled", root=tmp_path / "elsewhere") is None  # absent: load_dataset explains


def test_pretrain_on_a_stream_equals_pretrain_in_memory(tmp_path: Path, one_thread) -> None:
    root = _folder(tmp_path / "imgs")
    cfg = tiny_config(epochs=2, batch_size=8)
    net_mem, hist_mem = pretrain(cfg, tmp_path / "mem", train_images=load_dataset(f"folder:{root}", "train").images, progress=False)
    s = stream.open_stream(f"folder:{root}", "train", mode="always", workers=1)
    net_str, hist_str = pretrain(cfg, tmp_path / "str", train_images=s, progress=False)
    assert [h["loss"] for h in hist_mem] == [h["loss"] for h in hist_str]
    for (k, a), b in zip(net_mem.state_dict().items(), net_str.state_dict().values()):
        assert torch.equal(a, b), k


def test_compile_model_is_off_by_default_and_compiles_the_online_forward(tmp_path: Path, monkeypatch, one_thread) -> None:
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(fn) or fn)
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8)
    pretrain(tiny_config(epochs=1), tmp_path / "a", train_images=images, progress=False)
    assert calls == []
    pretrain(tiny_config(epochs=1), tmp_path / "b", train_images=images, progress=False, compile_model=True)
    assert len(calls) == 1
