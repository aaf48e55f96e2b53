"""Beyond the course — the trained encoder as plain weights that other code can load.

    python -m byol_course export --checkpoint runs/c10/checkpoint.pt --to exported/c10

writes two files into the folder, each atomically (`atomic`):
- `encoder.pt`: the *online* backbone's state_dict (BYOL's representation is the online
  encoder; evaluating the momentum copy instead is a bug lightly shipped, #1471), tensors
  only, loadable with `torch.load(..., weights_only=True)`;
- `encoder.json`: architecture, feature size, image size, normalisation, and the lines
  that build the matching model.

ResNets load into torchvision with `strict=True`. Build the model as below; the classifier
is `nn.Identity()` because the encoder ends at the pooled features:

    import torch, torch.nn as nn, torchvision
    m = torchvision.models.resnet18(weights=None)        # or resnet50
    m.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)      # resnet18 only: the CIFAR stem, 3×3 stride 1 ...
    m.maxpool = nn.Identity()                            # ... and no max-pool (32×32 inputs)
    m.fc = nn.Identity()                                 # features (B, 512) or (B, 2048); add your own head
    m.load_state_dict(torch.load("encoder.pt", weights_only=True), strict=True)

The small `convnet` has no torchvision counterpart. It is exported all the same (the course's
CPU runs train it, and chapter 8 fine-tunes it): `byol_course.networks.ConvNet(width)` loads
it with `strict=True`, and it is plain Conv2d/BatchNorm2d/ReLU/MaxPool2d layers that any code
can rebuild from encoder.json's "builder".

Inputs, as in training and evaluation: float RGB in [0, 1] resized to `image_size`, then
`(x - mean) / std` per channel with encoder.json's `mean` and `std`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .atomic import atomic_path
from .checkpoint import load_checkpoint, load_networks
from .networks import ConvNet

__all__ = ["ENCODER_FILE", "META_FILE", "export_encoder", "build_encoder", "load_encoder"]

ENCODER_FILE = "encoder.pt"
META_FILE = "encoder.json"
_ELSEWHERE = "choose another --to folder"

_BUILDERS = {
    "resnet18": (
        "m = torchvision.models.resnet18(weights=None); "
        "m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False); "
        "m.maxpool = nn.Identity(); m.fc = nn.Identity()"
    ),
    "resnet50": "m = torchvision.models.resnet50(weights=None); m.fc = nn.Identity()",
    "convnet": "m = byol_course.networks.ConvNet(width={width})",
}


def build_encoder(meta: dict[str, Any]) -> nn.Module:
    """The bare model that encoder.pt loads into with strict=True: torchvision's ResNet, or the ConvNet."""
    arch = meta["arch"]
    if arch == "convnet":
        return ConvNet(meta["convnet_width"])
    import torchvision  # lazily: ~2 s at start-up

    m = getattr(torchvision.models, arch)(weights=None)
    if meta.get("cifar_stem"):
        m.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
    m.fc = nn.Identity()
    return m


def load_encoder(folder: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model of an exported folder and load its weights (strict=True); returns (model, meta)."""
    folder = Path(folder)
    meta = json.loads((folder / META_FILE).read_text())
    model = build_encoder(meta)
    model.load_state_dict(torch.load(folder / ENCODER_FILE, map_location="cpu", weights_only=True), strict=True)
    return model, meta


def export_encoder(checkpoint: str | Path, to: str | Path) -> dict[str, Any]:
    """Write the checkpoint's online encoder as to/encoder.pt (plain state_dict) and to/encoder.json; returns the meta."""
    checkpoint, to = Path(checkpoint), Path(to)
    if to.exists() and not to.is_dir():
        raise ValueError(f"Cannot export into {to}: it is a file, not a folder; {_ELSEWHERE}.")
    state = load_checkpoint(checkpoint)
    net, cfg = load_networks(state)
    arch = cfg.network.arch
    weights = {k: v.detach().clone().contiguous() for k, v in net.online_backbone.state_dict().items()}  # online, not target
    meta = {
        "format": "byol_course encoder 1",
        "arch": arch,
        "torchvision_model": None if arch == "convnet" else arch,
        "cifar_stem": arch == "resnet18",  # conv1 3×3 stride 1, maxpool Identity (networks.py)
        "convnet_width": cfg.network.convnet_width if arch == "convnet" else None,
        "builder": _BUILDERS[arch].format(width=cfg.network.convnet_width),
        "load": f"m.load_state_dict(torch.load('{ENCODER_FILE}', weights_only=True), strict=True)",
        "feature_dim": int(net.online_backbone.out_dim),
        "image_size": cfg.augment.image_size,
        "input": "float RGB in [0, 1], (B, 3, image_size, image_size), then (x - mean) / std per channel",
        "mean": list(cfg.augment.mean),
        "std": list(cfg.augment.std),
        "encoder": "online backbone (BYOL's representation), batch norm in eval mode with its running statistics",
        "source": {"checkpoint": str(checkpoint), "epoch": state.get("epoch"), "dataset": cfg.train.dataset},
    }
    to.mkdir(parents=True, exist_ok=True)
    with atomic_path(to / ENCODER_FILE, what="encoder", elsewhere=_ELSEWHERE) as tmp, open(tmp, "wb") as f:
        torch.save(weights, f)
    with atomic_path(to / META_FILE, what="file", elsewhere=_ELSEWHERE) as tmp:
        tmp.write_text(json.dumps(meta, indent=2))
    return meta
