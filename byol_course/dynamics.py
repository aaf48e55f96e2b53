"""Chapter 10 — why BYOL does not collapse: the linear model of Tian, Chen & Ganguli (2021) and DirectPred.

The model (Tian et al. 2021, §2, arXiv 2102.06810): a *linear* online network W (n_out × n_in),
a linear predictor W_p (n_out × n_out) and a target W_a, trained on
    J(W, W_p) = ½·E‖W_p W x₁ − StopGrad(W_a x₂)‖²
with weight decay; W_a follows W by BYOL's EMA. Data x ~ N(0, I) and two views xᵢ = x + σ·εᵢ:
their Assumption 2 ("zero mean and identity covariance ... covariance σ²I"), so X = I, X' = σ²I.
Everything the chapter measures is read from F = E[f fᵀ], the correlation of the online
representation f = W x (their F := W X Wᵀ), and from W_p in F's eigenbasis.

DirectPred (their §4): no gradient for the predictor, which "simply estimates F, computes its
eigen-decomposition F̂ = Û Λ̂_F Ûᵀ, ... and sets W_p via p_j = √s_j + ε max_j s_j, W_p = Û diag[p_j] Ûᵀ" (Eq. 18), with
"F̂ = ρ F̂ + (1 − ρ) E_B[f fᵀ]" (Eq. 19), "without zero-centering f". Their released code
(luckmatters, ssl/real-dataset, `balance_type=boost_scale`) divides the eigenvalues by the largest
first: p_j = √(s_j / max s) + ε, which is Eq. 18 on F̂ / max s. `DirectPredictor` puts DirectPred
into the real network of chapter 5 that way: its loss is ℓ2-normalised, so W_p's scale is free.

Which sentence is whose: the docstrings say "Tian et al." for their analysis and "measured" for
what `run_linear` shows; nothing here is BYOL's §3.2 hypothesis.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .config import RunConfig
from .device import Precision, resolve_device
from .images import TensorImages, epoch_batches
from .networks import BYOLNetworks, build_networks
from .optim import build_optimizer, set_lr
from .train import Schedule, Views, check_finite, train_step

__all__ = [
    "LinearConfig",
    "init_linear",
    "sample_views",
    "linear_loss",
    "linear_step",
    "correlation",
    "spectrum",
    "predictor_gains",
    "directpred_predictor",
    "track_correlation",
    "Trajectory",
    "run_linear",
    "DirectPredictor",
    "predictor_for",
    "pretrain_with_predictor",
]

Weights = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (W, W_p, W_a)


# --- the linear model ---------------------------------------------------------------------------


@dataclass
class LinearConfig:
    """The linear model's knobs. Defaults: a healthy run that takes about a second on one CPU core (measured)."""

    n_in: int = 32  # input dimension n₁
    n_out: int = 16  # representation dimension n₂: F has n_out eigenvalues
    sigma: float = 0.5  # augmentation noise: xᵢ = x + σ·ε (Assumption 2: X' = σ²I)
    lr: float = 0.02  # α, the online network's learning rate (plain SGD)
    weight_decay: float = 0.005  # η: W ← W − α(∇J + ηW), the predictor likewise
    tau: float = 0.99  # BYOL's EMA rate of the target; 0: the target is a copy of W at every step
    lam: float = 1.0  # λ: the predictor learns at λ·α (BYOL's Table 21; Tian et al. call it α_p)
    predictor: bool = True  # False: W_p = I for good (Tian et al.'s "no predictor")
    stop_gradient: bool = True  # False: no target; the loss's gradient flows through both branches (W_a = W)
    batch_size: int = 256
    steps: int = 3000
    init_scale: float = 0.5  # W ~ N(0, init_scale² / n_in)
    predictor_init_scale: float = 0.1  # W_p ~ N(0, scale² / n_out): small, as a freshly initialised head
    directpred: bool = False  # True: W_p set from F̂ every step (Eq. 18), never trained
    rho: float = 0.3  # DirectPred's moving average of F̂ (Eq. 19; Tian et al.'s Table 8 value)
    eps: float = 0.1  # DirectPred's boost of small eigenvalues (Eq. 18; Table 8)
    record_every: int = 20  # steps between read-outs of F and W_p
    probe_size: int = 2048  # clean inputs F is measured on


def init_linear(cfg: LinearConfig, generator: torch.Generator) -> Weights:
    """Small random W and W_p (W_p = I without a predictor); the target starts as a copy of W, as in chapter 2."""
    W = cfg.init_scale * torch.randn(cfg.n_out, cfg.n_in, generator=generator) / cfg.n_in**0.5  # (n_out, n_in)
    if cfg.predictor:
        W_p = cfg.predictor_init_scale * torch.randn(cfg.n_out, cfg.n_out, generator=generator) / cfg.n_out**0.5
    else:
        W_p = torch.eye(cfg.n_out)
    return W, W_p, W.clone()


def sample_views(n: int, n_in: int, sigma: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n inputs x ~ N(0, I) and two views of each, xᵢ = x + σ·εᵢ: (n, n_in) each."""
    x = torch.randn(n, n_in, generator=generator)
    return x + sigma * torch.randn(n, n_in, generator=generator), x + sigma * torch.randn(n, n_in, generator=generator)


def linear_loss(W: torch.Tensor, W_p: torch.Tensor, W_a: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor,
                stop_gradient: bool = True) -> torch.Tensor:
    """J = ½·mean over the batch of ‖W_p W x₁ − W_a x₂‖² (Tian et al.'s Eq. 1); the target is W_a's, detached, or W's."""
    target = x2 @ W_a.T if stop_gradient else x2 @ W.T  # (B, n_out)
    target = target.detach() if stop_gradient else target
    return 0.5 * (x1 @ W.T @ W_p.T - target).square().sum(dim=1).mean()


def linear_step(W: torch.Tensor, W_p: torch.Tensor, W_a: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor,
                lr: float, weight_decay: float, lam: float, tau: float, *,
                predictor: bool = True, stop_gradient: bool = True) -> Weights:
    """One SGD step on J with weight decay (the predictor at λ·lr), then the EMA; new tensors, the inputs untouched.

    The gradients by hand (both taken at the old weights, as autograd would): with the residual
    r = W_p W x₁ − W_a x₂, ∂J/∂W_p = E[r fᵀ] and ∂J/∂W = W_pᵀ E[r x₁ᵀ]. Without the stop-gradient
    the target is W x₂ and its branch adds −E[r x₂ᵀ] (Tian et al.'s Theorem 2 setting).
    """
    B = x1.shape[0]
    f1 = x1 @ W.T  # (B, n_out) online representation of view 1
    target = x2 @ (W_a if stop_gradient else W).T  # (B, n_out)
    r = f1 @ W_p.T - target  # (B, n_out) the prediction error
    grad_W = W_p.T @ r.T @ x1 / B  # (n_out, n_in)
    if not stop_gradient:
        grad_W = grad_W - r.T @ x2 / B  # the gradient through the target branch
    new_W = W - lr * (grad_W + weight_decay * W)
    new_W_p = W_p - lam * lr * (r.T @ f1 / B + weight_decay * W_p) if predictor else W_p  # (n_out, n_out)
    new_W_a = tau * W_a + (1 - tau) * new_W if stop_gradient else new_W  # EMA towards the *updated* W
    return new_W, new_W_p, new_W_a


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """torch on one thread for the block (CPU only), then as before.

    Small tensors gain nothing from a second thread and, on a busy 2-core CPU, wait for it (measured:
    DirectPred's refresh 70–90 ms on 2 threads, 12 ms on one; 42 runs of the linear model 561 s against 81 s).
    """
    n = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# --- reading out F and W_p ----------------------------------------------------------------------


def correlation(f: torch.Tensor) -> torch.Tensor:
    """F = E[f fᵀ] over the rows of f (N, d) -> (d, d): a correlation, not a covariance (f is not centred)."""
    return f.T @ f / f.shape[0]


def spectrum(F: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues of the symmetric F, largest first (d,), and the eigenvectors as the columns of U (d, d)."""
    s, U = torch.linalg.eigh(F)  # ascending
    return s.flip(0), U.flip(1)


def predictor_gains(W_p: torch.Tensor, U: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Along each eigenvector u_j of F: the gain p_j = u_jᵀ W_p u_j and the alignment cos(W_p u_j, u_j) (Tian et al.'s Fig. 2)."""
    Wu = W_p @ U  # (d, d): column j is W_p u_j
    p = (U * Wu).sum(dim=0)  # (d,)
    return p, p / Wu.norm(dim=0).clamp_min(1e-12)


def directpred_predictor(F: torch.Tensor, eps: float) -> torch.Tensor:
    """DirectPred (Tian et al.'s Eq. 18): W_p = U diag(√s_j + ε·max_j s_j) Uᵀ from F's eigen-decomposition."""
    s, U = torch.linalg.eigh(F)  # any order: U diag(p) Uᵀ pairs each p_j with its own u_j
    s = s.clamp_min(0)  # F is PSD: negative eigenvalues are rounding errors, and √ of them is NaN
    p = s.sqrt() + eps * s.max()  # (d,)
    return (U * p) @ U.T  # U diag(p) Uᵀ


def track_correlation(F_hat: torch.Tensor | None, f: torch.Tensor, rho: float) -> torch.Tensor:
    """Tian et al.'s Eq. 19: F̂ ← ρ·F̂ + (1 − ρ)·E_B[f fᵀ]; the first batch's correlation when there is no F̂ yet."""
    batch = correlation(f.detach().float())  # (d, d)
    return batch if F_hat is None else rho * F_hat + (1 - rho) * batch


@dataclass
class Trajectory:
    """What run_linear read out every cfg.record_every steps: F's eigenvalues, W_p's gains and alignment along F's eigenvectors."""

    steps: list[int] = field(default_factory=list)
    eigenvalues: list[torch.Tensor] = field(default_factory=list)  # (d,) each, largest first
    gains: list[torch.Tensor] = field(default_factory=list)  # (d,) p_j = u_jᵀ W_p u_j
    alignment: list[torch.Tensor] = field(default_factory=list)  # (d,) cos(W_p u_j, u_j)
    predictor_eigenvalues: list[torch.Tensor] = field(default_factory=list)  # (d,) of (W_p + W_pᵀ)/2, largest first
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    final: Weights | None = None  # (W, W_p, W_a) after the last step

    def stacked(self, name: str) -> torch.Tensor:
        """One record as a (T, d) tensor (or (T,) for the loss)."""
        values = getattr(self, name)
        return torch.stack(values) if isinstance(values[0], torch.Tensor) else torch.tensor(values)


def run_linear(cfg: LinearConfig, seed: int = 0, on_record: Callable[[Trajectory], None] | None = None,
               step_fn: Callable[..., Weights] | None = None,
               directpred_fn: Callable[[torch.Tensor, float], torch.Tensor] | None = None) -> Trajectory:
    """Train the linear model for cfg.steps steps; read out F (on fixed clean inputs) and W_p every cfg.record_every.

    step_fn: a student's step with linear_step's nine positional arguments (predictor and stop-gradient
    on); directpred_fn(F, eps): a student's DirectPred. on_record(trajectory) after every read-out.
    """
    with _one_cpu_thread(torch.device("cpu")):  # matrices of 16 × 32: one thread is fastest (see _one_cpu_thread)
        gen = torch.Generator().manual_seed(seed)
        W, W_p, W_a = init_linear(cfg, gen)
        probe = torch.randn(cfg.probe_size, cfg.n_in, generator=torch.Generator().manual_seed(seed + 10_000))  # clean x
        traj, F_hat, t0 = Trajectory(), None, time.perf_counter()
        for k in range(cfg.steps + 1):
            x1, x2 = sample_views(cfg.batch_size, cfg.n_in, cfg.sigma, gen)  # (B, n_in) each
            if cfg.directpred:  # the predictor is set, not learned (λ = 0 below)
                F_hat = track_correlation(F_hat, x1 @ W.T, cfg.rho)
                W_p = (directpred_fn or directpred_predictor)(F_hat, cfg.eps)
            if k % cfg.record_every == 0 or k == cfg.steps:
                s, U = spectrum(correlation(probe @ W.T))  # F = E[f fᵀ], f = W x
                p, cos = predictor_gains(W_p, U)
                traj.steps.append(k), traj.eigenvalues.append(s), traj.gains.append(p), traj.alignment.append(cos)
                traj.predictor_eigenvalues.append(spectrum((W_p + W_p.T) / 2)[0])  # W_p's own may be complex
                traj.loss.append(float(linear_loss(W, W_p, W_a, x1, x2, cfg.stop_gradient)))
                traj.seconds = time.perf_counter() - t0
                if on_record is not None:
                    on_record(traj)
            if k == cfg.steps:
                traj.final = (W, W_p, W_a)
                break
            lam = 0.0 if cfg.directpred else cfg.lam
            if step_fn is not None:
                W, W_p, W_a = step_fn(W, W_p, W_a, x1, x2, cfg.lr, cfg.weight_decay, lam, cfg.tau)
            else:
                W, W_p, W_a = linear_step(W, W_p, W_a, x1, x2, cfg.lr, cfg.weight_decay, lam, cfg.tau,
                                          predictor=cfg.predictor, stop_gradient=cfg.stop_gradient)
            if not torch.isfinite(W).all():
                raise FloatingPointError(f"The linear model diverged at step {k}; lower cfg.lr (now {cfg.lr}).")
        return traj


# --- DirectPred in the real network -------------------------------------------------------------


class DirectPredictor(nn.Module):
    """A linear predictor set from the tracked correlation of its inputs (DirectPred), never trained.

    In training mode every forward adds its batch to this step's correlation; `refresh()`, called
    once per step after the optimiser step (as in Tian et al.'s code), folds it into F̂ by Eq. 19
    and sets W_p = Eq. 18 on F̂ / max eigenvalue (their code's normalisation: p_max = 1 + ε).
    Before the first refresh W_p = I. It has no parameters: the optimiser never sees it.
    """

    def __init__(self, dim: int, rho: float = 0.3, eps: float = 0.1) -> None:
        super().__init__()
        self.rho, self.eps = rho, eps
        self.register_buffer("weight", torch.eye(dim))  # (d, d) W_p
        self.register_buffer("corr", torch.zeros(dim, dim))  # (d, d) F̂
        self.register_buffer("pending", torch.zeros(dim, dim), persistent=False)  # Σ f fᵀ of this step
        self.count, self.refreshes = 0, 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """p = W_p z for z (B, d); in training mode z's correlation is kept for the next refresh."""
        if self.training:
            f = z.detach().float()
            with torch.autocast(f.device.type, enabled=False):  # F̂ in float32, also under a bf16/fp16 run
                self.pending += f.T @ f  # (d, d)
            self.count += f.shape[0]
        return z @ self.weight.to(z.dtype).T

    @torch.no_grad()
    def refresh(self) -> None:
        """F̂ ← ρ·F̂ + (1 − ρ)·(this step's E[f fᵀ]); W_p ← DirectPred on F̂ scaled to a largest eigenvalue of 1."""
        if self.count == 0:
            return
        with _one_cpu_thread(self.corr.device):
            batch = self.pending / self.count
            self.corr.copy_(batch if self.refreshes == 0 else self.rho * self.corr + (1 - self.rho) * batch)
            F = self.corr.double()  # eigh in float64: F̂'s small eigenvalues are what DirectPred boosts
            top = torch.linalg.eigvalsh(F)[-1].clamp_min(1e-12)
            self.weight.copy_(directpred_predictor(F / top, self.eps).to(self.weight.dtype))
            self.pending.zero_()
        self.count, self.refreshes = 0, self.refreshes + 1


def predictor_for(kind: str, dim: int, seed: int) -> nn.Module | None:
    """The predictor of a comparison arm: "learned" (None: the recipe's MLP), "linear" (a learned Linear) or "directpred"."""
    if kind == "learned":
        return None
    if kind == "linear":  # Tian et al.'s baseline: a bias-free linear predictor trained by gradient
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return nn.Linear(dim, dim, bias=False)
    if kind == "directpred":
        return DirectPredictor(dim)
    raise ValueError(f"Unknown predictor {kind!r}; choose learned, linear or directpred.")


def pretrain_with_predictor(
    cfg: RunConfig,
    train_images: torch.Tensor,
    predictor: nn.Module | None = None,
    eval_fn: Callable[[BYOLNetworks, int], dict[str, Any]] | None = None,
    progress: bool = True,
) -> tuple[BYOLNetworks, list[dict[str, Any]]]:
    """Chapter 5's `pretrain` on one process, without checkpoints, with the predictor replaced by `predictor`.

    Same networks, schedule, views and steps as `pretrain` (predictor=None gives its run bit for bit
    on a CPU); a predictor with a `refresh()` (DirectPredictor) is refreshed after every step.
    eval_fn(net, epoch) after the last epoch.
    """
    tc = cfg.train
    device = resolve_device(tc.device)
    net = build_networks(cfg.network, tc.seed)
    if predictor is not None:
        net.predictor = predictor
    net = net.to(device)
    net = net.to(memory_format=torch.channels_last) if tc.channels_last else net
    images = TensorImages(train_images, device)
    schedule = Schedule.for_run(cfg, len(images))
    optimizer = build_optimizer(net, cfg.optim, tc.batch_size)
    precision = Precision(device, tc.precision)
    gen = torch.Generator(device=device).manual_seed(tc.seed)  # every augmentation draw of the run, as in pretrain
    refresh = getattr(net.predictor, "refresh", None)
    step, history, t0 = 0, [], time.perf_counter()
    bar = tqdm(total=schedule.total_steps, disable=not progress, desc="BYOL", unit="step", dynamic_ncols=True)
    for epoch in range(tc.epochs):
        net.train()
        views, losses = Views(cfg.augment, [gen], tc.channels_last), []
        for batch in images.batches(epoch_batches(len(images), tc.batch_size, tc.seed, epoch), device):
            lr, tau = schedule.lr(step), schedule.tau(step)
            set_lr(optimizer, lr)
            losses.append(train_step(net, optimizer, batch, views, tau, stop_gradient=tc.stop_gradient, precision=precision))
            if refresh is not None:
                refresh()  # DirectPred: W_p from F̂, after the optimiser step
            step += 1
            bar.update(1)
        mean = check_finite(losses, step - len(losses) + 1, epoch + 1, lr, "nothing was saved")
        history.append({"epoch": epoch + 1, "step": step, "loss": mean, "wall_seconds": time.perf_counter() - t0})
    bar.close()
    if eval_fn is not None:
        history[-1].update(eval_fn(net, tc.epochs))
    return net, history
