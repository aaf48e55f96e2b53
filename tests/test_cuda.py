"""The CUDA-only tests: each skips without a CUDA GPU. The GPU check (benchmarks/gpu_check.sh) runs this file there.

They import nothing beyond torch, numpy, PIL and the package, so that the device machine
(a bare Python with torch) runs them with the carried wheels only.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from _tiny import tiny_config
from byol_course.augment import AugmentConfig, ViewConfig, make_views
from byol_course.networks import BYOLNetworks, NetworkConfig
from byol_course.config import gpu_config
from byol_course.device import Precision, autocast_dtype
from byol_course.optim import LARS, build_optimizer
from byol_course.train import Views, train_step

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

FIXED = ViewConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)


def _small_net(device: str) -> BYOLNetworks:
    torch.manual_seed(0)
    return BYOLNetworks(NetworkConfig(arch="convnet", hidden_dim=64, proj_dim=16, convnet_width=8)).to(device)


@pytest.fixture
def no_tf32(monkeypatch: pytest.MonkeyPatch):
    """TF32 off: cuDNN's convolutions default to it on Ampere and later (~1e-3 relative), which is not fp32."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # matmuls in fp32 (newer torch has no matmul.allow_tf32 flag)
    yield
    torch.set_float32_matmul_precision(before)


def test_train_step_on_cuda_agrees_with_cpu(no_tf32) -> None:
    """With the randomness of the views switched off, one fp32 step gives the same loss and weights on CUDA as on CPU."""
    cfg = tiny_config()
    aug = AugmentConfig(image_size=16, view1=FIXED, view2=replace(FIXED, solarize_p=1.0), blur=False)
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8)
    results = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        net = BYOLNetworks(cfg.network).to(device)
        opt = build_optimizer(net, cfg.optim, 16)
        views = Views(aug, [torch.Generator(device=device).manual_seed(0)])
        loss = train_step(net, opt, images.to(device), views, 0.99, precision=Precision(torch.device(device), "fp32"))
        results.append((float(loss), [p.detach().cpu() for p in net.parameters()]))
    (loss_cpu, w_cpu), (loss_gpu, w_gpu) = results
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-4, abs=1e-5)
    for a, b in zip(w_cpu, w_gpu):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_stream_batches_reach_the_gpu_pinned(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from byol_course.stream import open_stream

    for i in range(8):
        Image.fromarray(np.full((32, 32, 3), i * 30, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    s = open_stream(f"folder:{tmp_path}", "train", mode="always", workers=1)
    (batch,) = list(s.batches([torch.arange(8)], "cuda"))
    assert batch.device.type == "cuda" and batch.dtype == torch.uint8 and batch[:, 0, 0, 0].tolist() == [i * 30 for i in range(8)]


def test_lars_on_cuda_matches_cpu_with_clipping_over_steps() -> None:
    """The recipe's LARS (η 0.02, clip, exclusions) gives the same weights on CUDA as on CPU over three steps."""
    g = torch.Generator().manual_seed(0)
    shapes = [(64, 3, 3, 3), (64,), (256, 512), (256,), (10, 256)]
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) * 0.1 for s in shapes] for _ in range(3)]
    final = {}
    for device in ("cpu", "cuda"):
        params = [nn.Parameter(w.clone().to(device)) for w in start]
        opt = LARS(params, lr=2.0, momentum=0.9, weight_decay=1e-5, trust_coefficient=0.02, clip_lr=True)
        for step_grads, lr in zip(grads, (2.0, 1.0, 0.01)):
            for group in opt.param_groups:
                group["lr"] = lr
            for p, gr in zip(params, step_grads):
                p.grad = gr.to(device)
            opt.step()
        final[device] = [p.detach().cpu() for p in params]
    for a, b in zip(final["cpu"], final["cuda"]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_autocast_dtype_on_this_gpu() -> None:
    """auto: bf16 from compute capability 8.0 (A100, H100), fp16 with GradScaler below (T4)."""
    major, _ = torch.cuda.get_device_capability()
    assert autocast_dtype(torch.device("cuda")) == (torch.bfloat16 if major >= 8 else torch.float16)


@pytest.mark.parametrize("amp", [torch.bfloat16, torch.float16], ids=["bf16", "fp16+GradScaler"])
def test_mixed_precision_steps_are_finite_and_close_to_fp32(amp: torch.dtype) -> None:
    """The recipe's step under autocast (fp16 with a GradScaler, as on a T4): the first loss is within
    5% of fp32's on the same weights and views, losses and weights stay finite, the weights move."""
    cfg = gpu_config("cifar10")
    aug = replace(cfg.augment, image_size=32)
    images = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)).cuda()
    losses = {}
    for dtype in (None, amp):
        net = _small_net("cuda")
        opt = build_optimizer(net, cfg.optim, 32)
        precision = Precision(torch.device("cuda"), {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype])
        scaler = precision.scaler if precision.scaler.is_enabled() else None
        views = Views(aug, [torch.Generator(device="cuda").manual_seed(0)])
        before = [p.detach().clone() for p in net.online_parameters()]
        run = [float(train_step(net, opt, images, views, 0.99, precision=precision)) for _ in range(4)]
        losses[dtype] = run
        assert all(torch.isfinite(torch.tensor(run)))
        assert all(torch.isfinite(p).all() for p in net.online_parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, net.online_parameters()))
        if scaler is not None:
            assert 0 < scaler.get_scale() < float("inf")
    assert losses[amp][0] == pytest.approx(losses[None][0], rel=0.05)


def test_views_on_cuda_are_per_sample_and_match_the_recipe_shapes() -> None:
    """make_views on the GPU: (B, 3, 32, 32) float views, different per sample, different between the two views."""
    cfg = gpu_config("cifar10")
    images = torch.full((64, 3, 32, 32), 128, dtype=torch.uint8, device="cuda")
    images[:, :, :16] = 250  # structure for the crops to move
    x1, x2 = make_views(images, cfg.augment, torch.Generator(device="cuda").manual_seed(0))
    assert x1.shape == x2.shape == (64, 3, 32, 32) and x1.is_cuda and x1.dtype == torch.float32
    assert not torch.allclose(x1[0], x1[1]) and not torch.allclose(x1, x2)
