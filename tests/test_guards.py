"""Guards for the package's layout: what was saved before a change still loads, and the loop is the paper's.

- `RunConfig().to_dict()` is the format of every config.json and checkpoint: its keys are pinned
  here, so that a rename or a move can never silently change what is written (or make an old
  checkpoint unreadable). A new field is a deliberate change: add it here, with a default, and
  old files load with that default.
- The collapse lab's cache is keyed by a hash of the run's config; the key of a fixed config is
  pinned, so that cache entries written before a refactoring are found after it.
- `pretrain` must equal a reference loop written from the public pieces in a dozen lines, bit for
  bit on the CPU: whatever the loop grows (checkpoints, DDP, streaming, progress), the training
  it does stays the paper's.
"""

from __future__ import annotations

import pytest
import torch

from byol_course.augment import AugmentConfig, make_views
from byol_course.ema import ema_update_, tau_schedule
from byol_course.networks import BYOLNetworks, NetworkConfig
from byol_course.objective import symmetric_loss
from byol_course.config import RunConfig, TrainConfig
from byol_course.optim import OptimConfig, build_optimizer, lr_at, peak_lr
from byol_course.train import pretrain

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG_KEYS = [
    "train.dataset", "train.epochs", "train.batch_size", "train.seed", "train.device", "train.tau_base",
    "train.tau_schedule", "train.stop_gradient", "train.precision", "train.channels_last", "train.knn_every",
    "train.log_every", "augment.image_size",
    *[f"augment.{v}.{k}" for v in ("view1", "view2") for k in (
        "crop_scale", "crop_ratio", "flip_p", "jitter_p", "brightness", "contrast", "saturation", "hue",
        "grayscale_p", "blur_p", "blur_sigma", "solarize_p")],
    "augment.blur", "augment.mean", "augment.std",
    "network.arch", "network.hidden_dim", "network.proj_dim", "network.head_norm", "network.predictor",
    "network.convnet_width",
    "optim.name", "optim.base_lr", "optim.weight_decay", "optim.momentum", "optim.trust_coefficient",
    "optim.clip_lr",  # added for solo-learn's LARS (issue 16); older files load with False
    "optim.warmup_epochs", "optim.scale_lr_by_batch",
    "optim.predictor_lr_scale",  # added for the collapse lab's λ sweep (issue 15); older files load with λ = 1
]


def _flat_keys(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [prefix + k]
    return out


def test_saved_config_format_is_pinned() -> None:
    """The keys of config.json / a checkpoint's config, in order (a move or rename must not change them)."""
    d = RunConfig().to_dict()
    assert _flat_keys(d) == CONFIG_KEYS
    assert RunConfig.from_dict(d) == RunConfig()


def test_collapse_lab_cache_key_is_pinned() -> None:
    """A fixed config's cache key: entries written before a refactoring are found after it.

    The key changes only on purpose: with a new config field (optim.clip_lr and
    optim.predictor_lr_scale: it was a71724eab6f9 before them) or a new LAB_VERSION (3, with seeds
    and the λ sweep: it was f3ca3d24aa7a at 2; 4, with the kNN's k = 20 and LabSizes.metric_images:
    f0bac4ba4452 at 3) — then the lab recomputes its runs.
    """
    from byol_course.collapse import LabSizes, run_key

    assert run_key(RunConfig(), LabSizes(100, 50, 20)) == "26490394ed0a"


def _config(**train) -> RunConfig:
    return RunConfig(
        train=TrainConfig(**{"epochs": 2, "batch_size": 16, "precision": "fp32", "device": "cpu", **train}),
        augment=AugmentConfig(image_size=16),
        network=NetworkConfig(arch="convnet", hidden_dim=32, proj_dim=8, convnet_width=4),
        optim=OptimConfig(name="lars", base_lr=0.5, warmup_epochs=1),
    )


def reference_pretrain(cfg: RunConfig, images: torch.Tensor) -> BYOLNetworks:
    """BYOL from the public pieces (Grill et al. 2020, Algorithm 1), with pretrain's seeds and batch order."""
    t, n, b = cfg.train, len(images), cfg.train.batch_size
    steps, warmup = t.epochs * (n // b), int(cfg.optim.warmup_epochs * (n // b))
    torch.manual_seed(t.seed)
    net = BYOLNetworks(cfg.network).to(memory_format=torch.channels_last)
    optimizer, gen, step = build_optimizer(net, cfg.optim, b), torch.Generator().manual_seed(t.seed), 0
    for epoch in range(t.epochs):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(t.seed * 100_003 + epoch))
        for i in range(n // b):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, steps, warmup, peak_lr(cfg.optim, b))
            views = make_views(images[order[i * b : (i + 1) * b]], cfg.augment, gen)
            x1, x2 = (x.contiguous(memory_format=torch.channels_last) for x in views)
            p1, p2 = net.online(x1), net.online(x2)
            with torch.no_grad():
                z1, z2 = net.target(x1), net.target(x2)
            loss = symmetric_loss(p1, p2, z1, z2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tau = tau_schedule(step, steps, t.tau_base) if t.tau_schedule else t.tau_base
            for target, online in zip(net.target_modules(), net.online_modules()):
                ema_update_(target, online, tau)
            step += 1
    return net


@pytest.mark.parametrize("train", [{}, {"tau_schedule": False, "tau_base": 0.9, "seed": 3}], ids=["paper", "fixed-tau"])
def test_pretrain_equals_the_reference_loop_bit_for_bit(tmp_path, train: dict) -> None:
    """pretrain == a dozen lines of BYOL from the public pieces: every parameter and buffer, bit for bit."""
    images = torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    cfg = _config(**train)
    net, _ = pretrain(cfg, tmp_path, train_images=images, progress=False)
    want = reference_pretrain(cfg, images).state_dict()
    got = net.state_dict()
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k
