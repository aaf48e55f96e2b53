"""Chapter 10's module: the linear BYOL model of Tian et al. (2021), its read-outs, and DirectPred.

Values asserted: the hand-written update equals autograd on the loss; on a fixed seed the healthy
model keeps every eigenvalue of F away from 0 while removing the predictor or the stop-gradient sends
them all to 0, and a slow predictor (λ small) loses modes that a fast one keeps; DirectPred's W_p
commutes with F and has the eigenvalues Eq. 18 prescribes; chapter 5's loop is reproduced bit for bit.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
import torch

from byol_course.config import classroom_config
from byol_course.dynamics import (
    DirectPredictor,
    LinearConfig,
    correlation,
    directpred_predictor,
    init_linear,
    linear_loss,
    linear_step,
    predictor_for,
    predictor_gains,
    pretrain_with_predictor,
    run_linear,
    sample_views,
    spectrum,
    track_correlation,
)
from byol_course.train import pretrain

pytestmark = pytest.mark.usefixtures("one_thread")

SHORT = LinearConfig(steps=1500, record_every=100)  # half the chapter's run: the same outcome, half the time


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    W, W_p, W_a = init_linear(dataclasses.replace(LinearConfig(), predictor_init_scale=1.0), g)
    W_a = W_a + 0.3 * torch.randn(W_a.shape, generator=g)  # a target that lags behind
    return (W, W_p, W_a, *sample_views(64, W.shape[1], 0.5, g))


@pytest.mark.parametrize("stop_gradient", [True, False])
def test_the_update_is_one_sgd_step_on_the_loss_by_autograd(stop_gradient: bool) -> None:
    """linear_step = autograd's gradients of J (through both branches without the stop-gradient), weight decay, λ, then the EMA."""
    W, W_p, W_a, x1, x2 = _inputs()
    lr, wd, lam, tau = 0.1, 0.05, 3.0, 0.7
    W_, Wp_ = W.clone().requires_grad_(), W_p.clone().requires_grad_()
    gW, gWp = torch.autograd.grad(linear_loss(W_, Wp_, W_a, x1, x2, stop_gradient), (W_, Wp_))
    new_W, new_Wp, new_Wa = linear_step(W, W_p, W_a, x1, x2, lr, wd, lam, tau, stop_gradient=stop_gradient)
    assert torch.allclose(new_W, W - lr * (gW + wd * W), atol=1e-6)
    assert torch.allclose(new_Wp, W_p - lam * lr * (gWp + wd * W_p), atol=1e-6)
    assert torch.allclose(new_Wa, tau * W_a + (1 - tau) * new_W if stop_gradient else new_W, atol=1e-6)


def test_the_switches_and_the_ema_ends() -> None:
    """No predictor: W_p stays I; τ = 0 copies the new W, τ = 1 keeps W_a; the inputs are never modified."""
    W, W_p, W_a, x1, x2 = _inputs()
    kept = [t.clone() for t in (W, W_p, W_a, x1, x2)]
    eye = torch.eye(W.shape[0])
    new_W, new_Wp, new_Wa = linear_step(W, eye, W_a, x1, x2, 0.1, 0.01, 1.0, 0.0, predictor=False)
    assert torch.equal(new_Wp, eye) and torch.equal(new_Wa, new_W)
    assert torch.equal(linear_step(W, W_p, W_a, x1, x2, 0.1, 0.01, 1.0, 1.0)[2], W_a)
    assert torch.equal(linear_step(W, W_p, W_a, x1, x2, 0.1, 0.01, 0.0, 0.5)[1], W_p)  # λ = 0: the predictor is frozen
    assert all(torch.equal(a, b) for a, b in zip((W, W_p, W_a, x1, x2), kept))


def test_spectrum_and_gains_read_out_an_aligned_predictor() -> None:
    """F = E[f fᵀ] (not centred), eigenvalues largest first with their eigenvectors; a W_p sharing them has cos = 1 and gains = its eigenvalues."""
    f = torch.tensor([[1.0, 1.0], [1.0, -1.0], [3.0, 0.0]])  # not zero-mean
    F = correlation(f)
    assert torch.allclose(F, torch.tensor([[11 / 3, 0.0], [0.0, 2 / 3]]))
    s, U = spectrum(F)
    assert torch.allclose(s, torch.tensor([11 / 3, 2 / 3])) and torch.allclose(F @ U, U * s)
    W_p = U @ torch.diag(torch.tensor([0.5, -2.0])) @ U.T
    p, cos = predictor_gains(W_p, U)
    assert torch.allclose(p, torch.tensor([0.5, -2.0])) and torch.allclose(cos, torch.tensor([1.0, -1.0]))


def test_directpred_is_eq_18_and_commutes_with_F() -> None:
    """W_p = U diag(√s_j + ε·max s) Uᵀ: by hand on a diagonal F, and commuting with a random PSD F; negative rounding clamped."""
    F = torch.diag(torch.tensor([4.0, 1.0, 0.0, -1e-7]))
    assert torch.allclose(directpred_predictor(F, 0.1), torch.diag(torch.tensor([2.4, 1.4, 0.4, 0.4])), atol=1e-6)
    A = torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    F = A @ A.T
    W_p = directpred_predictor(F, 0.01)
    assert torch.allclose(F @ W_p, W_p @ F, atol=1e-9) and torch.allclose(W_p, W_p.T, atol=1e-12)
    s = torch.linalg.eigvalsh(F)
    assert torch.allclose(torch.linalg.eigvalsh(W_p), s.sqrt() + 0.01 * s.max(), atol=1e-9)


def test_track_correlation_is_eq_19() -> None:
    f1, f2 = torch.randn(5, 3), torch.randn(5, 3)
    first = track_correlation(None, f1, 0.3)
    assert torch.allclose(first, f1.T @ f1 / 5)
    assert torch.allclose(track_correlation(first, f2, 0.3), 0.3 * first + 0.7 * f2.T @ f2 / 5)


def _final(**changes) -> torch.Tensor:
    """F's eigenvalues at the end of a SHORT run on seed 0."""
    return run_linear(dataclasses.replace(SHORT, **changes), seed=0).eigenvalues[-1]


def test_the_four_cases_of_the_collapse_lab_in_the_linear_model() -> None:
    """Seed 0, 1,500 steps: healthy keeps every eigenvalue of F away from 0 (from 0.04–0.73 at the start);
    no predictor and no stop-gradient send all of them to 0; at τ = 0 a slow predictor loses a mode, a fast one does not."""
    start = run_linear(dataclasses.replace(SHORT, steps=0)).eigenvalues[0]
    assert 0.03 < start.min() < start.max() < 0.8
    healthy = _final()
    assert healthy.min() > 0.5
    assert _final(predictor=False).max() < 1e-2  # Tian et al.: with W_p = I, W → 0
    assert _final(stop_gradient=False).max() < 1e-10  # Theorem 2: W → 0, faster
    assert _final(tau=0.0, lam=0.1).min() < 1e-2 < 0.2 < _final(tau=0.0, lam=10.0).min()


def test_healthy_run_aligns_the_predictor_with_F_at_the_fixed_point() -> None:
    """Eigenspace alignment (Theorem 3) and the predictor's fixed point τ/(1 + σ²) = 0.8 of the decoupled dynamics, measured."""
    traj = run_linear(SHORT, seed=0)
    assert traj.stacked("alignment")[-1].min() > 0.99
    assert torch.allclose(traj.stacked("gains")[-1], torch.full((16,), 0.8), atol=0.03)
    assert torch.allclose(traj.predictor_eigenvalues[-1], torch.full((16,), 0.8), atol=0.03)  # W_p's own (symmetric part)
    assert traj.stacked("eigenvalues").shape == (16, 16) and traj.steps[-1] == 1500


def test_directpred_keeps_every_mode_and_a_student_step_plugs_in() -> None:
    """DirectPred: every eigenvalue of F ends away from 0; run_linear with step_fn=linear_step is the same run."""
    dp = _final(directpred=True)
    assert dp.min() > 0.3 and dp.max() < 0.6  # near one value: p = √s drives every mode to the same fixed point
    cfg = dataclasses.replace(SHORT, steps=40, record_every=20)
    a, b = run_linear(cfg), run_linear(cfg, step_fn=linear_step)
    assert all(torch.equal(x, y) for x, y in zip(a.eigenvalues, b.eigenvalues))


def test_directpredictor_tracks_and_sets_its_weight() -> None:
    """Forward in training mode collects both views; refresh folds them in by Eq. 19 and sets W_p (largest eigenvalue 1 + ε); eval collects nothing."""
    torch.manual_seed(0)
    m = DirectPredictor(4, rho=0.3, eps=0.1)
    assert list(m.parameters()) == [] and torch.equal(m.weight, torch.eye(4))
    z1, z2 = torch.randn(8, 4), torch.randn(8, 4)
    assert torch.equal(m(z1), z1)  # W_p = I before the first refresh
    m(z2)
    m.refresh()
    first = (z1.T @ z1 + z2.T @ z2) / 16
    assert torch.allclose(m.corr, first)
    assert torch.allclose(m.corr @ m.weight, m.weight @ m.corr, atol=1e-5)
    assert torch.allclose(torch.linalg.eigvalsh(m.weight)[-1], torch.tensor(1.1))
    m.eval()
    m(torch.randn(8, 4) * 100)
    m.train()
    m(z1)
    m.refresh()
    assert torch.allclose(m.corr, 0.3 * first + 0.7 * z1.T @ z1 / 8, atol=1e-6)


def _tiny():
    cfg = classroom_config()
    cfg.train.epochs, cfg.train.batch_size = 2, 32
    cfg.network.hidden_dim, cfg.network.proj_dim = 64, 32
    images = torch.randint(0, 256, (96, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return cfg, images


def test_pretrain_with_the_recipes_predictor_is_chapter_5s_run_bit_for_bit() -> None:
    """predictor=None: the same weights as `train.pretrain`, to the last bit (CPU); DirectPred and a linear predictor train too."""
    cfg, images = _tiny()
    with tempfile.TemporaryDirectory() as tmp:
        ref, ref_history = pretrain(cfg, Path(tmp), train_images=images, progress=False)
    mine, history = pretrain_with_predictor(cfg, images, progress=False)
    assert all(torch.equal(v, mine.state_dict()[k]) for k, v in ref.state_dict().items())
    assert [h["loss"] for h in history] == [h["loss"] for h in ref_history]
    net, history = pretrain_with_predictor(cfg, images, predictor_for("directpred", 32, 0), progress=False)
    assert net.predictor.refreshes == 6 and all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    linear = predictor_for("linear", 32, 0)
    assert torch.equal(linear.weight, predictor_for("linear", 32, 0).weight) and linear.bias is None
    with pytest.raises(ValueError, match="choose learned, linear or directpred"):
        predictor_for("mlp", 32, 0)


def test_the_benchmark_writes_its_record(tmp_path: Path) -> None:
    """benchmarks/directpred.py --tiny (one seed, DirectPred only): the JSON has the protocol, the command and a kNN per run."""
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("directpred_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "directpred.py")
    bench = importlib.util.module_from_spec(spec)
    before = dict(os.environ)
    try:
        spec.loader.exec_module(bench)  # it sets OMP_* defaults for its own process: undone below
        out = tmp_path / "dp.json"
        result = bench.main(["--tiny", "--seeds", "0", "--arms", "directpred", "--out", str(out)])
    finally:
        os.environ.clear()
        os.environ.update(before)
    assert out.is_file() and result["command"].startswith("python benchmarks/directpred.py --tiny")
    assert [r["arm"] for r in result["runs"]] == ["untrained", "directpred"] and all(0 <= r["knn_top1"] <= 1 for r in result["runs"])
    assert {"date", "hardware", "torch", "protocol"} <= set(result)
