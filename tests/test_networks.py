"""Tests of byol_course.networks: backbones (CIFAR ResNet-18, ResNet-50, ConvNet), the MLP heads
(batch / group+WS / no norm), and the online/target pair of BYOLNetworks."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from byol_course.networks import (
    ARCHS,
    NORMS,
    BYOLNetworks,
    ConvNet,
    MLPHead,
    NetworkConfig,
    WSLinear,
    build_backbone,
    count_parameters,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_cfg(**kw) -> NetworkConfig:
    base = dict(arch="convnet", hidden_dim=64, proj_dim=16, convnet_width=8)
    base.update(kw)
    return NetworkConfig(**base)


def images(b: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --- backbones ----------------------------------------------------------------------------------


def test_resnet18_has_the_cifar_stem_and_keeps_32x32_resolution():
    """ResNet-18 (CIFAR form): 3×3 stride-1 conv1, no max-pool, 32×32 maps after the stem, 512-d output."""
    torch.manual_seed(0)
    net = build_backbone(NetworkConfig(arch="resnet18"))
    assert isinstance(net.conv1, nn.Conv2d)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1) and net.conv1.padding == (1, 1)
    assert net.conv1.in_channels == 3 and net.conv1.out_channels == 64
    assert isinstance(net.maxpool, nn.Identity)
    assert isinstance(net.fc, nn.Identity)
    assert net.out_dim == 512
    seen = {}
    hooks = [
        net.maxpool.register_forward_hook(lambda m, i, o: seen.__setitem__("stem", o.shape)),
        net.layer1.register_forward_hook(lambda m, i, o: seen.__setitem__("layer1", o.shape)),
    ]
    net.eval()
    with torch.no_grad():
        out = net(images(2))
    for h in hooks:
        h.remove()
    assert seen["stem"][-2:] == (32, 32)
    assert seen["layer1"][-2:] == (32, 32)
    assert out.shape == (2, 512)


def test_resnet50_is_the_imagenet_form_with_2048_outputs():
    """ResNet-50 keeps torchvision's ImageNet stem (7×7 stride 2 + max-pool) and outputs 2048-d."""
    torch.manual_seed(0)
    net = build_backbone(NetworkConfig(arch="resnet50"))
    assert net.out_dim == 2048
    assert net.conv1.kernel_size == (7, 7) and net.conv1.stride == (2, 2)
    assert isinstance(net.maxpool, nn.MaxPool2d)
    assert isinstance(net.fc, nn.Identity)
    net.eval()
    with torch.no_grad():
        out = net(images(1, 32))
    assert out.shape == (1, 2048)


@pytest.mark.parametrize("width", [4, 8, 32])
def test_convnet_output_is_eight_times_width(width):
    """ConvNet(width) maps 32×32 images to (B, 8·width) and advertises out_dim = 8·width."""
    torch.manual_seed(0)
    net = build_backbone(NetworkConfig(arch="convnet", convnet_width=width))
    assert isinstance(net, ConvNet)
    assert net.out_dim == 8 * width
    net.eval()
    with torch.no_grad():
        assert net(images(2)).shape == (2, 8 * width)


def test_convnet_default_size_matches_its_documentation():
    """The classroom ConvNet at width 32 has ~0.4 M parameters (documented in networks.py)."""
    n = count_parameters(ConvNet(32))
    assert 0.3e6 < n < 0.5e6, n


# --- heads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "norm, types",
    [
        ("batch", [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]),
        ("group", [WSLinear, nn.GroupNorm, nn.ReLU, nn.Linear]),
        ("none", [nn.Linear, nn.ReLU, nn.Linear]),
    ],
)
def test_mlp_head_structure_and_dims(norm, types):
    """MLPHead is Linear–Norm–ReLU–Linear (none: Linear–ReLU–Linear), in_dim → hidden → out_dim."""
    torch.manual_seed(0)
    head = MLPHead(24, 64, 10, norm)
    assert [type(m) for m in head] == types
    first, last = head[0], head[-1]
    assert (first.in_features, first.out_features) == (24, 64)
    assert (last.in_features, last.out_features) == (64, 10)
    if norm == "batch":
        assert head[1].num_features == 64
    if norm == "group":
        assert head[1].num_channels == 64 and head[1].num_groups == 32
    out = head(torch.randn(5, 24))
    assert out.shape == (5, 10)


def test_mlp_head_rejects_unknown_norm_naming_the_options():
    """An unknown head norm raises ValueError listing batch, group, none."""
    with pytest.raises(ValueError) as err:
        MLPHead(8, 32, 4, "layer")
    for name in NORMS:
        assert name in str(err.value)


def test_wslinear_uses_standardised_weights():
    """WSLinear's effective weight rows have zero mean and unit (unbiased) std, so its output is
    invariant to a per-row affine change of the stored weight (Qiao et al.; Richemond et al. 2020)."""
    torch.manual_seed(0)
    layer = WSLinear(6, 4)
    with torch.no_grad():
        layer.weight.mul_(5).add_(3)  # far from standardised
        layer.bias.zero_()
    eff = layer(torch.eye(6)).T  # (out, in): the weight actually applied
    torch.testing.assert_close(eff.mean(dim=1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(eff.std(dim=1), torch.ones(4), atol=1e-3, rtol=0)
    x = torch.randn(3, 6)
    before = layer(x)
    with torch.no_grad():
        layer.weight.mul_(torch.tensor([[2.0], [0.5], [7.0], [1.5]])).add_(torch.tensor([[1.0], [-2.0], [0.0], [4.0]]))
    torch.testing.assert_close(layer(x), before, atol=1e-4, rtol=1e-4)
    plain = nn.Linear(6, 4)
    plain.load_state_dict(layer.state_dict())
    assert not torch.allclose(plain(x), layer(x), atol=1e-2)


def test_wslinear_gradient_reaches_weights_and_bias():
    """Gradients flow through the standardisation into the stored weight and the bias."""
    layer = WSLinear(5, 3)
    layer(torch.randn(4, 5)).pow(2).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert layer.bias.grad is not None and layer.bias.grad.abs().sum() > 0


# --- BYOLNetworks -------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
def test_target_starts_as_an_exact_independent_copy_of_online(norm):
    """target_backbone/projector state dicts equal the online ones bit for bit, in separate storage."""
    torch.manual_seed(0)
    net = BYOLNetworks(tiny_cfg(head_norm=norm))
    for online, target in zip(net.online_modules(), net.target_modules()):
        o, t = online.state_dict(), target.state_dict()
        assert o.keys() == t.keys()
        for k in o:
            assert torch.equal(o[k], t[k]), k
            assert o[k].data_ptr() != t[k].data_ptr(), k
    with torch.no_grad():
        next(net.online_backbone.parameters()).add_(1.0)
    assert not torch.equal(next(net.online_backbone.parameters()), next(net.target_backbone.parameters()))


def test_target_is_frozen_and_its_bn_momentum_is_zero():
    """Target parameters have requires_grad False; target BN momentum 0 (the EMA moves its stats);
    online parameters are trainable with default BN momentum."""
    torch.manual_seed(0)
    net = BYOLNetworks(tiny_cfg())
    assert all(not p.requires_grad for p in net.target_parameters())
    assert all(p.requires_grad for p in net.online_parameters())
    t_bns = [m for t in net.target_modules() for m in t.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    o_bns = [m for o in net.online_modules() for m in o.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert t_bns and len(t_bns) == len(o_bns)
    assert all(m.momentum == 0.0 for m in t_bns)
    assert all(m.momentum == 0.1 for m in o_bns)


def test_target_forward_in_train_mode_does_not_move_its_running_stats():
    """A train-mode target forward leaves running_mean/var unchanged (byol-pytorch #73: buffers are
    the EMA's business), while the online forward moves its own."""
    torch.manual_seed(0)
    net = BYOLNetworks(tiny_cfg()).train()
    t_before = {k: v.clone() for k, v in net.target_backbone.state_dict().items() if v.is_floating_point()}
    o_before = {k: v.clone() for k, v in net.online_backbone.state_dict().items() if "running" in k}
    x = images(4)
    with torch.no_grad():
        net.target(x)
        net.online(x)
    for k, v in net.target_backbone.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(v, t_before[k]), k
    assert any(not torch.equal(net.online_backbone.state_dict()[k], v) for k, v in o_before.items())


def test_output_shapes_of_online_target_project_and_forward():
    """online → (B, proj), target → (B, proj), project → (B, proj), forward → (B, backbone dim)."""
    torch.manual_seed(0)
    net = BYOLNetworks(tiny_cfg())
    x = images(4)
    assert net.online(x).shape == (4, 16)
    with torch.no_grad():
        assert net.target(x).shape == (4, 16)
    assert net.project(x).shape == (4, 16)
    assert net(x).shape == (4, 64)


def test_forward_uses_the_online_backbone_not_the_target():
    """The downstream representation comes from the online backbone (guards lightly #1471)."""
    torch.manual_seed(0)
    net = BYOLNetworks(tiny_cfg()).eval()
    x = images(3)
    with torch.no_grad():
        ref = net(x)
        for p in net.target_backbone.parameters():
            p.mul_(-3.0)
        assert torch.equal(net(x), ref)
        next(net.online_backbone.parameters()).mul_(-3.0)
        assert not torch.allclose(net(x), ref)


def test_predictor_is_identity_when_switched_off():
    """predictor=False: the predictor is nn.Identity, online(x) equals project(x), and it has no parameters."""
    torch.manual_seed(0)
    net = BYOLNetworks(tiny_cfg(predictor=False)).eval()
    assert isinstance(net.predictor, nn.Identity)
    x = images(3)
    with torch.no_grad():
        assert torch.equal(net.online(x), net.project(x))
    on = BYOLNetworks(tiny_cfg(predictor=True))
    assert isinstance(on.predictor, MLPHead)
    assert on.predictor[0].in_features == 16 and on.predictor[-1].out_features == 16


def test_unknown_arch_raises_naming_the_valid_options():
    """NetworkConfig(arch='vit') raises ValueError listing convnet, resnet18, resnet50."""
    with pytest.raises(ValueError) as err:
        NetworkConfig(arch="vit")
    for name in ARCHS:
        assert name in str(err.value)
    assert "vit" in str(err.value)


def test_unknown_head_norm_raises_naming_the_valid_options():
    """NetworkConfig(head_norm='layer') raises ValueError listing batch, group, none."""
    with pytest.raises(ValueError) as err:
        NetworkConfig(head_norm="layer")
    for name in NORMS:
        assert name in str(err.value)


def _head_params(i: int, h: int, o: int, norm: str) -> int:
    n = i * h + h + h * o + o
    if norm in ("batch", "group"):
        n += 2 * h  # affine weight and bias of the norm
    return n


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("predictor", [True, False])
def test_count_parameters_total_and_trainable(norm, predictor):
    """count_parameters: all = 2·(backbone + projector) + predictor; trainable = online only (hand-counted heads)."""
    torch.manual_seed(0)
    net = BYOLNetworks(tiny_cfg(head_norm=norm, predictor=predictor))
    backbone = count_parameters(ConvNet(8))
    proj = _head_params(64, 64, 16, norm)
    pred = _head_params(16, 64, 16, norm) if predictor else 0
    assert count_parameters(net.online_projector) == proj
    assert count_parameters(net.predictor) == pred
    assert count_parameters(net) == 2 * (backbone + proj) + pred
    assert count_parameters(net, trainable_only=True) == backbone + proj + pred
    assert count_parameters(net, trainable_only=True) == sum(p.numel() for p in net.online_parameters())


def test_count_parameters_small_module_by_hand():
    """count_parameters(nn.Linear(3, 2)) = 8; freezing the bias drops it from trainable_only."""
    lin = nn.Linear(3, 2)
    assert count_parameters(lin) == 8
    lin.bias.requires_grad_(False)
    assert count_parameters(lin) == 8
    assert count_parameters(lin, trainable_only=True) == 6
