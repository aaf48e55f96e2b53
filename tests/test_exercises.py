"""Each exercise checker accepts the reference and catches the typical wrong answers."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from byol_course import exercises
from byol_course.networks import MLPHead
from byol_course.ema import ema_update_
from byol_course.objective import byol_loss


def _not_written(*args):
    raise NotImplementedError


def test_solarize_checker(capsys: pytest.CaptureFixture) -> None:
    """Reference passes; uint8-style inversion, inverting everything, or doing nothing is caught."""
    assert exercises.check_solarize(lambda x, t: torch.where(x >= t, 1 - x, x))
    assert not exercises.check_solarize(lambda x, t: torch.where(x >= t, 255 - x, x))
    assert "1 − x" in capsys.readouterr().out
    assert not exercises.check_solarize(lambda x, t: 1 - x)
    assert "below the threshold" in capsys.readouterr().out
    assert not exercises.check_solarize(lambda x, t: x)
    assert not exercises.check_solarize(_not_written)
    assert "not written yet" in capsys.readouterr().out


def test_projector_checker(capsys: pytest.CaptureFixture) -> None:
    """Reference passes; a head without batch norm or with wrong widths is caught."""
    assert exercises.check_projector(lambda i, h, o: MLPHead(i, h, o))
    assert not exercises.check_projector(lambda i, h, o: nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o)))
    assert "BatchNorm1d" in capsys.readouterr().out
    assert not exercises.check_projector(lambda i, h, o: nn.Sequential(nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(), nn.Linear(o, o)))
    assert not exercises.check_projector(_not_written)


def test_loss_checker(capsys: pytest.CaptureFixture) -> None:
    """Reference passes; −2·cos, unnormalised MSE and a sum are caught with the right hint."""
    assert exercises.check_loss(byol_loss)
    assert not exercises.check_loss(lambda p, z: -2 * F.cosine_similarity(p, z).mean())
    assert "−2·cos" in capsys.readouterr().out
    assert not exercises.check_loss(lambda p, z: ((p - z) ** 2).sum(1).mean())
    assert "normalise" in capsys.readouterr().out
    assert not exercises.check_loss(lambda p, z: byol_loss(p, z, reduction="none").sum())
    assert "mean over the batch" in capsys.readouterr().out


def test_ema_checker(capsys: pytest.CaptureFixture) -> None:
    """Reference passes; swapped weights and skipped BatchNorm buffers are caught."""
    assert exercises.check_ema(ema_update_)

    @torch.no_grad()
    def swapped(t, o, tau):
        for a, b in zip(t.parameters(), o.parameters()):
            a.copy_((1 - tau) * a + tau * b)
        for a, b in zip(t.buffers(), o.buffers()):
            if a.is_floating_point():
                a.copy_((1 - tau) * a + tau * b)

    assert not exercises.check_ema(swapped)
    assert "swapped" in capsys.readouterr().out

    @torch.no_grad()
    def params_only(t, o, tau):
        for a, b in zip(t.parameters(), o.parameters()):
            a.copy_(tau * a + (1 - tau) * b)

    assert not exercises.check_ema(params_only)
    assert "running statistics" in capsys.readouterr().out
