"""The benchmark scripts run end to end (tiny sizes, CPU); the CUDA checks run where a GPU is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from _tiny import tiny_config
from byol_course.augment import AugmentConfig, ViewConfig
from byol_course.networks import BYOLNetworks
from byol_course.optim import build_optimizer
from byol_course.train import Views, train_step

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_end_to_end_on_cpu_with_tiny_sizes(tmp_path: Path) -> None:
    """gpu_check.sh --tiny: tests, step benchmark and timed pretraining, one JSON; no peers, no network."""
    out = tmp_path / "check.json"
    env = {**os.environ, "PY": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--tiny", "--no-peer-install", "--peers", "none", "--minutes", "1", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["tests"]["returncode"] == 0 and "passed" in report["tests"]["summary"]
    ours = report["step_benchmark"]["results"]["byol_course"]
    assert ours["images_per_s"] > 0 and report["step_benchmark"]["ratios_ours_over"] == {}
    epochs = report["pretrain"]["epochs"]
    assert len(epochs) >= 1 and all(0.0 <= e["knn_top1"] <= 1.0 and e["epoch_seconds"] > 0 for e in epochs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_train_step_on_cuda_agrees_with_cpu() -> None:
    """With the randomness of the views switched off, one fp32 step gives the same loss and weights on CUDA as on CPU."""
    cfg = tiny_config()
    fixed = ViewConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
    aug = AugmentConfig(image_size=16, view1=fixed, view2=replace(fixed, solarize_p=1.0), blur=False)
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8)
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        net = BYOLNetworks(cfg.network).to(device)
        opt = build_optimizer(net, cfg.optim, 16)
        views = Views(aug, [torch.Generator(device=device).manual_seed(0)])
        loss = train_step(net, opt, images.to(device), views, 0.99)
        results.append((float(loss), [p.detach().cpu() for p in net.parameters()]))
    (loss_cpu, w_cpu), (loss_gpu, w_gpu) = results
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-4, abs=1e-5)
    for a, b in zip(w_cpu, w_gpu):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_stream_batches_reach_the_gpu_pinned(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from byol_course.stream import open_stream

    for i in range(8):
        Image.fromarray(np.full((32, 32, 3), i * 30, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    s = open_stream(f"folder:{tmp_path}", "train", mode="always", workers=1)
    (batch,) = list(s.batches([torch.arange(8)], "cuda"))
    assert batch.device.type == "cuda" and batch.dtype == torch.uint8 and batch[:, 0, 0, 0].tolist() == [i * 30 for i in range(8)]
