"""The command line: a whole run on a tiny folder dataset, and one clear sentence for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from byol_course.__main__ import main


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two classes of 40 images each: horizontal vs vertical stripes, random colours."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for cls in ("horizontal", "vertical"):
        (root / cls).mkdir()
        for i in range(40):
            img = np.zeros((32, 32, 3), np.uint8) + rng.integers(0, 256, 3, dtype=np.uint8)
            stripes = (np.arange(32) // 4) % 2 == 0
            if cls == "horizontal":
                img[stripes, :, :] = rng.integers(0, 256, 3)
            else:
                img[:, stripes, :] = rng.integers(0, 256, 3)
            Image.fromarray(img).save(root / cls / f"{i:03d}.png")
    return root


def test_demo_writes_metrics_table_and_figures(tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """demo: pretrain, baselines, table; metrics.json has every promised key as a fraction in [0, 1]."""
    out = tmp_path / "run"
    code = main(["demo", "--dataset", f"folder:{tiny_folder}", "--epochs", "1", "--batch-size", "16", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "raw pixels" in printed and "random-init network" in printed and "BYOL (online encoder)" in printed
    m = json.loads((out / "metrics.json").read_text())
    for key in ("knn_top1", "linear_top1"):
        assert 0.0 <= m[key] <= 1.0
        for base in ("raw_pixels", "random_init"):
            assert 0.0 <= m["baselines"][base][key] <= 1.0
    assert m["embedding_std"] > 0 and m["effective_rank"] >= 1 and m["wall_seconds"] > 0
    for name in ("checkpoint.pt", "config.json", "umap.png", "training_curves.png", "spectrum.png"):
        assert (out / name).stat().st_size > 0, name

    # evaluate the checkpoint it wrote
    assert main(["evaluate", "--checkpoint", str(out / "checkpoint.pt"), "--device", "cpu"]) == 0
    ev = json.loads((out / "eval_metrics.json").read_text())
    assert ev["knn_top1"] == pytest.approx(m["knn_top1"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["pretrain", "--dataset", "folder:/no/such/folder"], "does not exist"),
        (["pretrain", "--dataset", "imagenet"], "embedded"),
        (["pretrain", "--epochs", "0"], "epochs must be at least 1"),
        (["pretrain", "--tau", "1.5"], r"tau must be in \[0, 1\]"),
        (["pretrain", "--lr", "-1"], "learning rate must be positive"),
        (["pretrain", "--arch", "vgg"], "convnet, resnet18, resnet50"),
        (["pretrain", "--device", "cuda"], "no CUDA GPU"),
        (["evaluate", "--checkpoint", "/no/such.pt"], "does not exist"),
    ],
)
def test_bad_input_is_one_sentence_and_nonzero_exit(args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Bad input: exit code 1, one line on stderr saying what is wrong, no traceback."""
    if "--device" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    code = main(args + (["--out", str(tmp_path / "run")] if args[0] == "pretrain" else []))
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(message, err), err


def test_module_entry_point_exit_code(tmp_path: Path) -> None:
    """`python -m byol_course` returns a non-zero exit status for bad input (not just prints)."""
    r = subprocess.run(
        [sys.executable, "-m", "byol_course", "pretrain", "--dataset", "folder:/no/such/folder", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
