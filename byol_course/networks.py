"""Chapter 2 — the Siamese networks: a backbone, a projector and a predictor.

    online:  image -> backbone f_θ -> y -> projector g_θ -> z -> predictor q_θ -> p
    target:  image -> backbone f_ξ -> y -> projector g_ξ -> z          (no predictor)

The target has the online network's architecture and starts as an exact copy; it is never
trained by gradients, only moved towards the online weights by an EMA (see `ema`).

Backbones:
- `resnet18` in its CIFAR form: 3×3 stride-1 stem, no max-pool (32×32 inputs keep their
  resolution through the first stage), 512-d output;
- `resnet50`: torchvision's ImageNet ResNet-50 (the seed document's encoder), 2048-d;
- `convnet`: a small 4-stage ConvNet (~0.4 M parameters) sized for CPU classrooms, 256-d.

Heads: Linear → Norm → ReLU → Linear (BYOL §3.3: projector d→4096→256, predictor
256→4096→256). The norm is selectable for the collapse lab: batch norm (the paper), group
norm with weight standardisation (Richemond et al. 2020), or none.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ARCHS",
    "NORMS",
    "NetworkConfig",
    "WSLinear",
    "MLPHead",
    "ConvNet",
    "build_backbone",
    "BYOLNetworks",
    "build_networks",
    "classroom_network",
    "count_parameters",
]

ARCHS = ("convnet", "resnet18", "resnet50")
NORMS = ("batch", "group", "none")


@dataclass
class NetworkConfig:
    """Backbone and head shapes. Defaults: the BYOL paper's heads (§3.3) on the classroom ConvNet."""

    arch: str = "convnet"
    hidden_dim: int = 4096  # projector and predictor hidden width (paper: 4096)
    proj_dim: int = 256  # projection size (paper: 256)
    head_norm: str = "batch"  # "batch" (paper) | "group" (GN + weight standardisation) | "none"
    predictor: bool = True  # the collapse lab switches it off
    convnet_width: int = 32  # channels of the ConvNet's first stage (doubles per stage)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"Unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}.")
        if self.head_norm not in NORMS:
            raise ValueError(f"Unknown head norm {self.head_norm!r}; choose one of {', '.join(NORMS)}.")


class WSLinear(nn.Linear):
    """Linear layer with weight standardisation: each output row has zero mean, unit variance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean(dim=1, keepdim=True)) / (w.std(dim=1, keepdim=True) + 1e-5)
        return F.linear(x, w, self.bias)


class MLPHead(nn.Sequential):
    """Linear–Norm–ReLU–Linear, the BYOL projector / predictor."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, norm: str = "batch") -> None:
        if norm == "batch":
            layers = [nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim)]
        elif norm == "group":
            layers = [WSLinear(in_dim, hidden_dim), nn.GroupNorm(32, hidden_dim)]
        elif norm == "none":
            layers = [nn.Linear(in_dim, hidden_dim)]
        else:
            raise ValueError(f"Unknown head norm {norm!r}; choose one of {', '.join(NORMS)}.")
        super().__init__(*layers, nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvNet(nn.Module):
    """Four conv–BN–ReLU stages, max-pool between them, global average pool: 32×32 -> (8·width)-d."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn_relu(3, w),  # (B, w, 32, 32)
            nn.MaxPool2d(2),
            _conv_bn_relu(w, 2 * w),  # (B, 2w, 16, 16)
            nn.MaxPool2d(2),
            _conv_bn_relu(2 * w, 4 * w),  # (B, 4w, 8, 8)
            nn.MaxPool2d(2),
            _conv_bn_relu(4 * w, 8 * w),  # (B, 8w, 4, 4)
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # (B, 8w)
        )
        self.out_dim = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _torchvision_resnet(name: str, cifar_stem: bool) -> nn.Module:
    import torchvision  # imported here: it costs ~2 s at start-up and only the ResNets need it

    net = getattr(torchvision.models, name)(weights=None)
    net.out_dim = net.fc.in_features
    net.fc = nn.Identity()
    if cifar_stem:  # the CIFAR variant: keep 32×32 resolution in the first stage
        net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    return net


def build_backbone(cfg: NetworkConfig) -> nn.Module:
    """The encoder f: images (B, 3, H, W) -> representations (B, out_dim); sets `.out_dim`."""
    if cfg.arch == "convnet":
        return ConvNet(cfg.convnet_width)
    if cfg.arch == "resnet18":
        return _torchvision_resnet("resnet18", cifar_stem=True)
    if cfg.arch == "resnet50":
        return _torchvision_resnet("resnet50", cifar_stem=False)
    raise ValueError(f"Unknown architecture {cfg.arch!r}; choose one of {', '.join(ARCHS)}.")


class BYOLNetworks(nn.Module):
    """The online backbone, projector and predictor, and the target copies of backbone and projector.

    The target's parameters have `requires_grad=False`: the optimiser never sees them and
    no gradient can reach them.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.online_backbone = build_backbone(cfg)
        d = self.online_backbone.out_dim
        self.online_projector = MLPHead(d, cfg.hidden_dim, cfg.proj_dim, cfg.head_norm)
        self.predictor = (
            MLPHead(cfg.proj_dim, cfg.hidden_dim, cfg.proj_dim, cfg.head_norm) if cfg.predictor else nn.Identity()
        )
        self.target_backbone = copy.deepcopy(self.online_backbone)
        self.target_projector = copy.deepcopy(self.online_projector)
        for p in self.target_parameters():
            p.requires_grad_(False)
        # The course's choice: the EMA, not the target's forward, moves its BN statistics (ema.ema_update_ averages
        # them). DeepMind's code and solo-learn keep the momentum and average parameters only; training is the
        # same either way, the statistics are read only when the target runs in eval mode.
        for m in self.target_modules():
            for bn in m.modules():
                if isinstance(bn, nn.modules.batchnorm._BatchNorm):
                    bn.momentum = 0.0

    def online_modules(self) -> list[nn.Module]:
        """The online encoder's pieces that the target mirrors (backbone, projector)."""
        return [self.online_backbone, self.online_projector]

    def target_modules(self) -> list[nn.Module]:
        """The target's pieces, in the same order as `online_modules`."""
        return [self.target_backbone, self.target_projector]

    def online_parameters(self):
        """Everything the optimiser trains: online backbone, projector and predictor."""
        for m in (self.online_backbone, self.online_projector, self.predictor):
            yield from m.parameters()

    def target_parameters(self):
        """The target's parameters (updated by EMA only)."""
        for m in self.target_modules():
            yield from m.parameters()

    def online(self, x: torch.Tensor) -> torch.Tensor:
        """Online prediction p = q(g(f(x))): (B, 3, H, W) -> (B, proj_dim)."""
        return self.predictor(self.online_projector(self.online_backbone(x)))

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Target projection z = g'(f'(x)): (B, 3, H, W) -> (B, proj_dim)."""
        return self.target_projector(self.target_backbone(x))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Online projection z = g(f(x)) (no predictor), for collapse metrics."""
        return self.online_projector(self.online_backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The representation used downstream: the *online* backbone's output (B, out_dim)."""
        return self.online_backbone(x)


def build_networks(cfg: NetworkConfig, seed: int) -> BYOLNetworks:
    """The networks a run with this seed starts from, drawn without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BYOLNetworks(cfg)


def classroom_network() -> NetworkConfig:
    """The classroom recipe's network: the ConvNet at width 16 (128-d features), heads 512 wide, 256 out."""
    return NetworkConfig(arch="convnet", convnet_width=16, hidden_dim=512, proj_dim=256)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with requires_grad)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
