"""The tiny training configuration the loop and reliability tests share."""

from __future__ import annotations

from byol_course.augment import AugmentConfig
from byol_course.networks import NetworkConfig
from byol_course.config import RunConfig, TrainConfig
from byol_course.optim import OptimConfig


def tiny_config(**train) -> RunConfig:
    """A network small enough that a few epochs take about a second on one core."""
    return RunConfig(
        train=TrainConfig(**{"epochs": 2, "batch_size": 16, "precision": "fp32", "device": "cpu", **train}),
        augment=AugmentConfig(image_size=16, blur=True),
        network=NetworkConfig(arch="convnet", hidden_dim=32, proj_dim=8, convnet_width=4),
        optim=OptimConfig(name="lars", base_lr=0.5, warmup_epochs=1),
    )
