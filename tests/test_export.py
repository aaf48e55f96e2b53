"""Export: the online encoder loads into torchvision (strict=True) and gives the package's features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from byol_course.__main__ import main
from byol_course.augment import AugmentConfig, normalize
from byol_course.export import ENCODER_FILE, META_FILE, export_encoder, load_encoder
from byol_course.networks import BYOLNetworks, ConvNet, NetworkConfig
from byol_course.checkpoint import CheckpointError, save_checkpoint
from byol_course.config import RunConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def _checkpoint(tmp_path: Path, arch: str, **network) -> tuple[Path, BYOLNetworks, RunConfig]:
    """A checkpoint whose online and target encoders differ and whose BN statistics are not the defaults."""
    torch.manual_seed(0)
    cfg = RunConfig(
        augment=AugmentConfig(image_size=32, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3)),
        network=NetworkConfig(arch=arch, hidden_dim=16, proj_dim=8, **network),
    )
    net = BYOLNetworks(cfg.network)
    with torch.no_grad():
        for name, t in net.named_buffers():
            if "running_mean" in name:
                t.normal_(0, 0.1)
            elif "running_var" in name:
                t.uniform_(0.5, 2.0)
        for p in net.online_backbone.parameters():  # the online encoder moves away from the target
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": net.state_dict(), "config": cfg.to_dict(), "epoch": 3})
    return path, net, cfg


def _batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=g)


def _torchvision_resnet18_cifar() -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem and no classifier, as docs/export.md builds it (tests/test_docs.py runs that page's code)."""
    import torchvision

    m = torchvision.models.resnet18(weights=None)
    m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()
    m.fc = nn.Identity()
    return m


@torch.no_grad()
def test_resnet18_export_loads_into_torchvision_and_gives_the_same_features(tmp_path: Path) -> None:
    """torchvision.models.resnet18 (CIFAR stem) + encoder.pt, strict=True, == the package's online encoder."""
    ckpt, net, cfg = _checkpoint(tmp_path, "resnet18")
    export_encoder(ckpt, tmp_path / "exported")
    tv = _torchvision_resnet18_cifar()
    tv.load_state_dict(torch.load(tmp_path / "exported" / ENCODER_FILE, weights_only=True), strict=True)
    x = normalize(_batch(), cfg.augment)  # (4, 3, 32, 32)
    ours = net.online_backbone.eval()(x)  # (4, 512)
    assert torch.equal(tv.eval()(x), ours)
    assert not torch.allclose(net.target_backbone.eval()(x), ours)  # the online encoder, not the target, was exported


@torch.no_grad()
def test_resnet50_export_loads_into_torchvision(tmp_path: Path) -> None:
    """ResNet-50 keeps torchvision's ImageNet stem; the JSON says so and the features agree."""
    import torchvision

    ckpt, net, cfg = _checkpoint(tmp_path, "resnet50")
    meta = export_encoder(ckpt, tmp_path / "exported")
    assert meta["torchvision_model"] == "resnet50" and meta["cifar_stem"] is False and meta["feature_dim"] == 2048
    tv = torchvision.models.resnet50(weights=None)
    tv.fc = nn.Identity()
    tv.load_state_dict(torch.load(tmp_path / "exported" / ENCODER_FILE, weights_only=True), strict=True)
    x = normalize(_batch(), cfg.augment)
    assert torch.equal(tv.eval()(x), net.online_backbone.eval()(x))


@torch.no_grad()
def test_convnet_export_and_json_describe_inputs(tmp_path: Path) -> None:
    """The ConvNet (no torchvision counterpart) loads into ConvNet(width); the JSON names size and normalisation."""
    ckpt, net, cfg = _checkpoint(tmp_path, "convnet", convnet_width=4)
    export_encoder(ckpt, tmp_path / "exported")
    meta = json.loads((tmp_path / "exported" / META_FILE).read_text())
    assert meta["arch"] == "convnet" and meta["torchvision_model"] is None and meta["convnet_width"] == 4
    assert meta["image_size"] == 32 and meta["mean"] == [0.4, 0.5, 0.6] and meta["std"] == [0.2, 0.25, 0.3]
    assert meta["feature_dim"] == 32 and meta["source"]["epoch"] == 3
    m = ConvNet(4)
    m.load_state_dict(torch.load(tmp_path / "exported" / ENCODER_FILE, weights_only=True), strict=True)
    model, _ = load_encoder(tmp_path / "exported")
    x = normalize(_batch(), cfg.augment)
    assert torch.equal(model.eval()(x), net.online_backbone.eval()(x))
    assert sorted(p.name for p in (tmp_path / "exported").iterdir()) == [META_FILE, ENCODER_FILE]  # no temporaries


def test_export_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m byol_course export` writes both files and says how to load them; a missing checkpoint is one sentence."""
    ckpt, _, _ = _checkpoint(tmp_path, "convnet", convnet_width=4)
    assert main(["export", "--checkpoint", str(ckpt), "--to", str(tmp_path / "out")]) == 0
    assert "strict=True" in capsys.readouterr().out
    assert (tmp_path / "out" / ENCODER_FILE).exists()
    assert main(["export", "--checkpoint", str(tmp_path / "nope.pt"), "--to", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Checkpoint") and err.count("\n") == 1
    with pytest.raises(CheckpointError):
        export_encoder(tmp_path / "nope.pt", tmp_path / "out3")
