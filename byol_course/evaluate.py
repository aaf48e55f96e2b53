"""Chapters 5 and 8 — how good is the representation, and has it collapsed?

- kNN: weighted k-nearest neighbours on cosine similarity (k = 200, temperature 0.1: InstDisc's
  CIFAR script, Wu et al. 2018, and lightly's benchmarks; solo-learn's kNN defaults to k = 20,
  T = 0.07, and its published CIFAR numbers are online linear probes, not kNN).
- Linear probe: scikit-learn's multinomial logistic regression on frozen, standardised features.
  Its penalty is chosen on a validation split carved from *train*; the test split is touched once.
- Collapse metrics: per-channel std of ℓ2-normalised embeddings (SimSiam, Chen & He 2020:
  healthy ≈ 1/√d, collapse → 0), effective rank (RankMe, Garrido et al. 2023) and the
  singular-value spectrum.

Features come from the *online* backbone (evaluating the target instead is a bug lightly
shipped, #1471). `Monitor` is what the training loop watches after each epoch (chapter 5);
chapter 8 opens up the kNN classifier and the linear probe.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .augment import AugmentConfig, make_views, normalize
from .networks import BYOLNetworks

__all__ = [
    "extract_features",
    "knn_predict",
    "knn_accuracy",
    "linear_probe",
    "knn_cross_validated",
    "embedding_std",
    "effective_rank",
    "singular_values",
    "pair_cosines",
    "eval_mode",
    "collapse_metrics",
    "Monitor",
]


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run the block with module in eval mode (BatchNorm uses its running statistics), then restore its mode."""
    modes = [m.training for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in zip(module.modules(), modes):
            m.training = mode


@torch.no_grad()
def extract_features(
    encoder: nn.Module, images: torch.Tensor, aug: AugmentConfig, batch_size: int = 512, device: torch.device | str | None = None
) -> torch.Tensor:
    """Encode uint8 images (N, 3, H, W) in eval mode -> float32 features (N, d) on the CPU."""
    device = device or next(encoder.parameters()).device
    out = []
    with eval_mode(encoder):
        for i in range(0, images.shape[0], batch_size):
            x = normalize(images[i : i + batch_size].to(device), aug)  # (b, 3, S, S)
            out.append(encoder(x).float().cpu())  # (b, d)
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


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    Cs: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    val_fraction: float = 0.2,
    seed: int = 0,
    max_iter: int = 1000,
) -> dict[str, float]:
    """scikit-learn's StandardScaler + LogisticRegression on frozen features; the inverse penalty C picked on a split of train.

    The C with the best accuracy on a stratified validation split of train (ties: the smaller C,
    the stronger penalty) is refitted on all of train; the test split is touched once. Returns the
    test top-1, the validation top-1 of the chosen C, and C.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    x, y = train_features.float().numpy(), train_labels.numpy()
    counts = torch.bincount(train_labels)
    n_val, n_classes = math.ceil(val_fraction * len(y)), int((counts > 0).sum())
    stratified = int(counts[counts > 0].min()) >= 2 and min(n_val, len(y) - n_val) >= n_classes
    stratify = y if stratified else None  # a few labels (a 1% label fraction) cannot be split by class
    x_fit, x_val, y_fit, y_val = train_test_split(x, y, test_size=val_fraction, random_state=seed, stratify=stratify)

    def fit(features, labels, c):
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
        # one BLAS thread: beside torch's OpenMP threads, BLAS threads on 2 cores made each fit 4–5× slower (measured)
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)  # smoke runs cap max_iter on purpose
            return probe.fit(features, labels)

    scores = {c: float(fit(x_fit, y_fit, c).score(x_val, y_val)) for c in Cs}
    best = max(Cs, key=lambda c: (scores[c], -c))
    top1 = float(fit(x, y, best).score(test_features.float().numpy(), test_labels.numpy()))
    return {"top1": top1, "val_top1": scores[best], "C": best}


def knn_cross_validated(points: torch.Tensor | Any, labels: torch.Tensor, k: int = 20, folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of scikit-learn's k-nearest-neighbour classifier under stratified k-fold cross-validation.

    What a picture shows, as a number: kNN in the 2-d UMAP coordinates of a test split tells how
    well the classes separate *in the map*.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    y = labels.numpy() if isinstance(labels, torch.Tensor) else labels
    x = points.numpy() if isinstance(points, torch.Tensor) else points
    folds = max(2, min(folds, int(torch.bincount(torch.as_tensor(y)).min())))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(cross_val_score(KNeighborsClassifier(n_neighbors=min(k, len(y) - len(y) // folds)), x, y, cv=splits).mean())


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


@torch.no_grad()
def collapse_metrics(
    net: BYOLNetworks,
    images: torch.Tensor,
    aug: AugmentConfig,
    seed: int = 0,
    max_images: int = 2000,
    features: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Embedding std, effective rank, spectrum and pair cosines of the online projections of (at most max_images) images.

    features: the online backbone's features of `images` (extract_features), when the caller has
    them already — the images are then not encoded a second time.
    """
    device = next(net.parameters()).device
    x = images[:max_images].to(device)
    with eval_mode(net):
        v1, v2 = make_views(x, aug, torch.Generator(device=device).manual_seed(seed))
        z1, z2 = net.project(v1).float().cpu(), net.project(v2).float().cpu()  # (N, d) each: two views of each image
        if features is None:
            z = net.project(normalize(x, aug)).float().cpu()  # (N, d): the images themselves
        else:
            z = net.online_projector(features[: len(x)].to(device)).float().cpu()
    return {
        "embedding_std": embedding_std(z),
        "embedding_std_healthy": 1 / z.shape[1] ** 0.5,
        "effective_rank": effective_rank(z),
        **pair_cosines(z1, z2, seed),
        "spectrum": singular_values(z).tolist(),
    }


@dataclass
class Monitor:
    """What to watch while BYOL trains: kNN accuracy of the online backbone and the collapse metrics.

    A bank of labelled training images and a set of query images (labels used only to measure);
    call it as pretrain's eval_fn: monitor(net, epoch) -> {"knn_top1", "embedding_std", ...}.
    """

    bank: torch.Tensor  # uint8 (N, 3, H, W)
    bank_labels: torch.Tensor
    queries: torch.Tensor  # uint8 (M, 3, H, W)
    query_labels: torch.Tensor
    aug: AugmentConfig
    seed: int = 0
    k: int = 200
    metric_images: int | None = None  # the first queries the collapse metrics use (None: all)

    def measure(self, net: BYOLNetworks) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
        """The metrics (spectrum included) and the bank's and queries' features they came from."""
        bank = extract_features(net.online_backbone, self.bank, self.aug)  # (N, d)
        queries = extract_features(net.online_backbone, self.queries, self.aug)  # (M, d)
        metrics = collapse_metrics(net, self.queries, self.aug, self.seed, max_images=self.metric_images or len(self.queries), features=queries)
        metrics["knn_top1"] = knn_accuracy(bank, self.bank_labels, queries, self.query_labels, k=min(self.k, len(bank)))
        return metrics, bank, queries

    def __call__(self, net: BYOLNetworks, epoch: int = 0) -> dict[str, Any]:
        metrics, _, _ = self.measure(net)
        metrics.pop("spectrum")
        return metrics
