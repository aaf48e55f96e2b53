"""Chapter 7 — how good is the representation, and has it collapsed?

- kNN: weighted k-nearest neighbours on cosine similarity (k = 200, temperature 0.1, as in
  Wu et al. 2018 and the lightly / solo-learn CIFAR benchmarks).
- Linear probe: multinomial logistic regression on frozen, standardised features. Its weight
  decay is chosen on a validation split carved from *train*; the test split is touched once.
- Collapse metrics: per-channel std of ℓ2-normalised embeddings (SimSiam, Chen & He 2020:
  healthy ≈ 1/√d, collapse → 0), effective rank (RankMe, Garrido et al. 2023) and the
  singular-value spectrum.

Features come from the *online* backbone (evaluating the target instead is a bug lightly
shipped, #1471).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .augment import AugmentConfig, normalize

__all__ = [
    "extract_features",
    "knn_predict",
    "knn_accuracy",
    "linear_probe",
    "embedding_std",
    "effective_rank",
    "singular_values",
    "pair_cosines",
]


@torch.no_grad()
def extract_features(
    encoder: nn.Module, images: torch.Tensor, aug: AugmentConfig, batch_size: int = 512, device: torch.device | str | None = None
) -> torch.Tensor:
    """Encode uint8 images (N, 3, H, W) in eval mode -> float32 features (N, d) on the CPU."""
    was_training = encoder.training
    encoder.eval()
    device = device or next(encoder.parameters()).device
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = normalize(images[i : i + batch_size].to(device), aug)  # (b, 3, S, S)
        out.append(encoder(x).float().cpu())  # (b, d)
    encoder.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def knn_predict(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk: int = 1024,
) -> torch.Tensor:
    """Weighted kNN on cosine similarity: each neighbour votes exp(sim / T) for its class."""
    train = F.normalize(train_features.float(), dim=1)  # (N, d)
    labels = train_labels.to(train.device)
    k = min(k, train.shape[0])
    preds = []
    for i in range(0, test_features.shape[0], chunk):
        q = F.normalize(test_features[i : i + chunk].float(), dim=1)  # (b, d)
        sim, idx = (q @ train.T).topk(k, dim=1)  # (b, k)
        weights = (sim / temperature).exp()
        votes = torch.zeros(q.shape[0], num_classes, device=q.device)  # on the features' device (CPU or GPU)
        votes.scatter_add_(1, labels[idx], weights)  # (b, C)
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds)


def knn_accuracy(train_features, train_labels, test_features, test_labels, k: int = 200, temperature: float = 0.1) -> float:
    """Top-1 accuracy (a fraction) of the weighted kNN classifier."""
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    pred = knn_predict(train_features, train_labels, test_features, num_classes, k, temperature)
    return float((pred == test_labels.to(pred.device)).float().mean())


def _fit_softmax(x: torch.Tensor, y: torch.Tensor, num_classes: int, weight_decay: float, max_iter: int) -> nn.Linear:
    """Multinomial logistic regression by full-batch L-BFGS (deterministic on CPU)."""
    torch.manual_seed(0)
    model = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y) + weight_decay * model.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    weight_decays: Sequence[float] = (1e-5, 1e-4, 1e-3, 1e-2),
    val_fraction: float = 0.2,
    seed: int = 0,
    max_iter: int = 200,
) -> dict[str, float]:
    """Linear probe on frozen, standardised features; weight decay picked on a split of train.

    Returns test top-1, the validation top-1 of the chosen weight decay, and the choice.
    """
    x_tr, y_tr = train_features.float(), train_labels.long()
    num_classes = int(max(y_tr.max(), test_labels.max())) + 1
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(x_tr.shape[0], generator=g)
    n_val = int(val_fraction * x_tr.shape[0])
    val_idx, fit_idx = perm[:n_val], perm[n_val:]

    def standardise(fit: torch.Tensor, *others: torch.Tensor):
        mean, std = fit.mean(0), fit.std(0) + 1e-6
        return [(t - mean) / std for t in (fit, *others)]

    fit_x, val_x = standardise(x_tr[fit_idx], x_tr[val_idx])
    scores = {}
    for wd in weight_decays:
        model = _fit_softmax(fit_x, y_tr[fit_idx], num_classes, wd, max_iter)
        with torch.no_grad():
            scores[wd] = float((model(val_x).argmax(1) == y_tr[val_idx]).float().mean())
    best = max(weight_decays, key=lambda wd: (scores[wd], wd))  # ties -> stronger regularisation
    all_x, test_x = standardise(x_tr, test_features.float())
    model = _fit_softmax(all_x, y_tr, num_classes, best, max_iter)  # refit on all of train
    with torch.no_grad():
        top1 = float((model(test_x).argmax(1) == test_labels).float().mean())
    return {"top1": top1, "val_top1": scores[best], "weight_decay": best}


def embedding_std(z: torch.Tensor) -> float:
    """Mean over channels of the std over samples of z/‖z‖ (healthy ≈ 1/√d, collapsed → 0)."""
    return float(F.normalize(z.float(), dim=1).std(dim=0).mean())


def singular_values(z: torch.Tensor) -> torch.Tensor:
    """Singular values of the (N, d) embedding matrix, largest first."""
    return torch.linalg.svdvals(z.float())


def effective_rank(z: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values, in [1, min(N, d)]."""
    s = singular_values(z)
    p = s / s.sum() + eps
    return float(torch.exp(-(p * p.log()).sum()))


def pair_cosines(z1: torch.Tensor, z2: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """Mean cosine of positive pairs (row i of z1 with row i of z2) and of random pairs."""
    a, b = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    pos = (a * b).sum(1).mean()
    perm = torch.randperm(a.shape[0], generator=torch.Generator().manual_seed(seed))
    shift = torch.roll(perm, 1)  # a derangement of the rows: never a positive pair
    neg = (a[perm] * b[shift]).sum(1).mean()
    return {"positive_cosine": float(pos), "negative_cosine": float(neg)}
