"""Which dataset design and classroom recipe make BYOL visibly work in a few CPU minutes? (issue 13)

Three modes:

    python benchmarks/recipe_study.py train --variants base,lr4e-3 [--umap] [--supervised]
        trains each named variant (dataset design × recipe, see VARIANTS) for a fixed number of
        steps and evaluates the online backbone at random init and after BYOL; rows are merged
        into benchmarks/results/recipe_study.json (keyed by variant) and the table is printed.
        --steps N / --n-train N / --n-test N shorten every variant (a smoke run; these need
        another --out than the results file, and the row records them under "overrides").
    python benchmarks/recipe_study.py throughput --nets w16,w32 --sizes 24,32 --batches 64,128 --threads-list 1,2
        images/s of one BYOL step and one supervised step (views included) per network, image
        size, batch and thread count; --concurrent 2 runs the same measurement in two
        single-thread processes at once (what a BYOL run beside a supervised run sees).
    python benchmarks/recipe_study.py check --run /tmp/demo-study [--supervised-seconds S]
        on a finished `python -m byol_course demo` folder: the UMAP-space kNN of random init and
        of the checkpoint's online backbone, and the same network trained with labels for the
        demo's pretraining wall time (or S seconds).

Protocol (every mode): kNN k = 200, T = 0.1, cosine, bank = the train split; linear probe on
standardised features (byol_course.evaluate.linear_probe); UMAP kNN: cosine UMAP of the test
split's online-backbone features (byol_course.visualize.umap_embed, seed 0), then kNN (k = 20) by
5-fold cross-validation on the 2-d coordinates (byol_course.evaluate.knn_cross_validated: stratified,
shuffled folds, seed 0, as the demo's metrics.json; rows without "umap_knn_folds" were scored by
cross_val_score(cv=5), unshuffled stratified folds).
Run one process at a time on a shared 2-core machine, with OMP_NUM_THREADS=1
OMP_WAIT_POLICY=PASSIVE; accuracy after a fixed number of steps does not depend on the load,
timings do (the load average is recorded beside each one).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads slow a shared machine many times

import argparse
import copy
import dataclasses
import json
import multiprocessing as mp
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# --- the variants ---------------------------------------------------------------------------
# data: generator settings (byol_course.embedded.generate) plus n_train and size (the native
#   size drawn); recipe: dotted overrides of classroom_config() ("views.X" sets both views);
#   steps: BYOL steps (rounded to whole epochs). "base" is the embedded dataset v3 with the
#   classroom recipe of 2026-11-30, shortened.

# the embedded dataset v3 and the classroom recipe of 2026-11-30, pinned, so that the rows stay
# reproducible after the defaults change (every variant is written relative to these)
V3 = dict(colors="independent", polarity="light", scale=(0.45, 0.85), background=(0.25, 0.75), contrast=(0.25, 0.45),
          saturation=(0.5, 0.6), noise=0.03, position=1.0)
CLASSROOM_V1 = {"train.tau_base": 0.96, "views.crop_scale": (0.2, 1.0), "train.batch_size": 64, "optim.base_lr": 2e-3,
                "augment.image_size": 32, "network.convnet_width": 16, "network.hidden_dim": 512, "network.proj_dim": 256}
VARIANTS: dict[str, dict[str, Any]] = {}


# supervised steps per BYOL step in the same wall time: the ratio of their images/s, measured with
# two single-thread processes side by side (recipe_throughput.json, w16, batch 64): 32 px 1114/344, 24 px 1654/618
SUPERVISED_PER_BYOL_STEP = {32: 3.2, 24: 2.7}


def variant(name: str, steps: int, data: dict | None = None, recipe: dict | None = None, note: str = "", pinned: bool = True) -> None:
    """pinned: relative to v3 and the first classroom recipe; False: the worktree's generate() and classroom_config() defaults."""
    data = {**V3, **(data or {})} if pinned else dict(data or {})
    recipe = {**CLASSROOM_V1, **(recipe or {})} if pinned else dict(recipe or {})
    size = recipe.get("augment.image_size", 32)
    VARIANTS[name] = dict(steps=steps, data=data, recipe=recipe, note=note,
                          supervised_steps=round(steps * SUPERVISED_PER_BYOL_STEP.get(size, 3.0)))


def _register() -> None:
    # the starting point: the classroom recipe as shipped (12 epochs of 10k, batch 64)
    variant("v3-classroom", 1872, note="the shipped demo: v3 dataset, classroom recipe, 12 epochs")
    variant("base", 780, note="v3 dataset, classroom recipe, 5 epochs")
    # sweep 1: one change at a time from base (780 steps of 64 = 5 epochs of 10k)
    variant("lr4e-3", 780, recipe={"optim.base_lr": 4e-3})
    variant("lr8e-3", 780, recipe={"optim.base_lr": 8e-3})
    variant("tau0.99", 780, recipe={"train.tau_base": 0.99})
    variant("tau0.9", 780, recipe={"train.tau_base": 0.9})
    variant("crop0.4", 780, recipe={"views.crop_scale": (0.4, 1.0)})
    variant("crop0.08", 780, recipe={"views.crop_scale": (0.08, 1.0)})
    variant("jitter0.8", 780, recipe={"views.brightness": 0.8, "views.contrast": 0.8, "views.saturation": 0.8})
    variant("gray0.5", 780, recipe={"views.grayscale_p": 0.5})
    variant("w32", 780, recipe={"network.convnet_width": 32})
    variant("s24", 780, recipe={"augment.image_size": 24})
    variant("b128", 390, recipe={"train.batch_size": 128})
    variant("heads1024-128", 780, recipe={"network.hidden_dim": 1024, "network.proj_dim": 128})
    variant("data-big", 780, data={"scale": (0.6, 0.9)})
    variant("data-bg-narrow", 780, data={"background": (0.35, 0.6)})
    variant("data-no-noise", 780, data={"noise": 0.0})
    # sweep 2: the background's brightness survives brightness jitter (x0.6-1.4 against a 3x range): narrow it, and the rest
    NB = {"background": (0.35, 0.6)}
    variant("bg0.45-0.55", 780, data={"background": (0.45, 0.55)})
    variant("bg0.5", 780, data={"background": (0.5, 0.5)})
    variant("bgN-contrast0.3-0.4", 780, data={**NB, "contrast": (0.3, 0.4)})
    variant("bgN-size0.6-0.8", 780, data={**NB, "scale": (0.6, 0.8)})
    variant("bgN-pos0.5", 780, data={**NB, "position": 0.5})
    variant("bgN-jitter0.8", 780, data=NB, recipe={"views.brightness": 0.8, "views.contrast": 0.8, "views.saturation": 0.8})
    variant("bgN-noise0.06", 780, data={**NB, "noise": 0.06})
    variant("bgN-tau0.9-crop0.4", 780, data=NB, recipe={"train.tau_base": 0.9, "views.crop_scale": (0.4, 1.0)})
    # sweep 3: the winners together (narrow background, narrower size, half the position range; τ 0.9, crops ≥ 40%)
    D = {**NB, "scale": (0.6, 0.8), "position": 0.5}
    R = {"train.tau_base": 0.9, "views.crop_scale": (0.4, 1.0)}
    variant("C", 780, data=D, recipe=R, note="combined data + recipe")
    variant("C-s24", 780, data=D, recipe={**R, "augment.image_size": 24})
    variant("C-pos1", 780, data={**NB, "scale": (0.6, 0.8)}, recipe=R)
    variant("C-tau0.8", 780, data=D, recipe={**R, "train.tau_base": 0.8})
    variant("C-lr4e-3", 780, data=D, recipe={**R, "optim.base_lr": 4e-3})
    variant("C-crop0.25", 780, data=D, recipe={**R, "views.crop_scale": (0.25, 1.0)})
    variant("C-crop0.6", 780, data=D, recipe={**R, "views.crop_scale": (0.6, 1.0)})
    variant("C-size0.65-0.75", 780, data={**D, "scale": (0.65, 0.75)}, recipe=R)
    # sweep 4: τ 0.8 and larger crops together; a richer position range; then the demo's budget
    R2 = {"train.tau_base": 0.8, "views.crop_scale": (0.5, 1.0)}
    variant("C2", 780, data=D, recipe=R2, note="τ 0.8, crops 50-100%")
    variant("C2-crop0.6", 780, data=D, recipe={**R2, "views.crop_scale": (0.6, 1.0)})
    variant("C2-pos0.75", 780, data={**D, "position": 0.75}, recipe=R2)
    variant("C2-pos1", 780, data={**D, "position": 1.0}, recipe=R2)
    # sweep 5: position 0.75 with crops of 60-100%; the demo's budget at 32 and 24 px
    D3 = {**NB, "scale": (0.6, 0.8), "position": 0.75}
    R3 = {"train.tau_base": 0.8, "views.crop_scale": (0.6, 1.0)}
    variant("C3", 780, data=D3, recipe=R3, note="background 0.35-0.6, size 0.6-0.8, position 0.75; τ 0.8, crops 60-100%")
    variant("C3-e4", 624, data=D3, recipe=R3)
    variant("C3-s24-e8", 1248, data=D3, recipe={**R3, "augment.image_size": 24})
    variant("C2-pos0.75-s24-e8", 1248, data=D3, recipe={**R3, "views.crop_scale": (0.5, 1.0), "augment.image_size": 24})
    # the recommendation as the worktree's defaults (embedded v4, classroom_config()): must equal C3; other training seeds
    variant("recommended", 780, pinned=False, note="generate() and classroom_config() defaults (embedded v4)")
    variant("recommended-seed1", 780, pinned=False, recipe={"train.seed": 1})
    variant("recommended-seed2", 780, pinned=False, recipe={"train.seed": 2})
    # sweep 6: seeds 1 and 2 were weaker (kNN 68%, 73% against 84% for seed 0): what makes the recipe robust?
    for seed in (1, 2):
        variant(f"rec-e7-seed{seed}", 1092, pinned=False, recipe={"train.seed": seed})
        variant(f"rec-tau0.9-seed{seed}", 780, pinned=False, recipe={"train.seed": seed, "train.tau_base": 0.9})
        variant(f"rec-crop0.5-seed{seed}", 780, pinned=False, recipe={"train.seed": seed, "views.crop_scale": (0.5, 1.0)})


_register()


# --- helpers --------------------------------------------------------------------------------


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def apply_recipe(cfg, recipe: dict[str, Any]) -> None:
    """Dotted overrides, in place: 'train.batch_size', 'augment.image_size', 'views.crop_scale' (both views), 'view2.solarize_p'."""
    for key, value in recipe.items():
        head, field = key.rsplit(".", 1)
        if head == "views":
            cfg.augment.view1 = dataclasses.replace(cfg.augment.view1, **{field: value})
            cfg.augment.view2 = dataclasses.replace(cfg.augment.view2, **{field: value})
        elif head in ("view1", "view2"):
            setattr(cfg.augment, head, dataclasses.replace(getattr(cfg.augment, head), **{field: value}))
        else:
            obj = cfg
            for part in head.split("."):
                obj = getattr(obj, part)
            if not hasattr(obj, field):
                raise KeyError(f"unknown recipe field {key}")
            setattr(obj, field, value)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3, size, size) uint8, antialiased bilinear, in chunks.

    The same rule as load_dataset(..., image_size=size) applies (byol_course.data's resize is
    private, so it is repeated here): float, F.interpolate(bilinear, antialias, align_corners=False),
    round, clamp to 0..255; images already at that size are returned as they are.
    """
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8, device=images.device)
    chunk = max(1, (1 << 24) // (images.shape[1] * max(images.shape[2] * images.shape[3], size * size)))  # ≈ 64 MB of float32
    for start in range(0, images.shape[0], chunk):
        y = F.interpolate(images[start : start + chunk].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def make_data(data: dict[str, Any], image_size: int):
    """(train images, labels, test images, labels) as the embedded loader draws them (seeds 1 and 2), at image_size."""
    from byol_course.embedded import SPLIT_SIZES, generate

    gen = {k: v for k, v in data.items() if k not in ("n_train", "n_test")}
    ftr, fte = {}, {}
    xtr, ytr = generate(data.get("n_train", SPLIT_SIZES["train"]), seed=1, factors=ftr, **gen)
    xte, yte = generate(data.get("n_test", SPLIT_SIZES["test"]), seed=2, factors=fte, **gen)
    return resize(xtr, image_size), ytr, resize(xte, image_size), yte, (ftr, fte)


def nuisance_bins(factors: dict[str, torch.Tensor], edges: dict[str, torch.Tensor] | None = None):
    """Each nuisance cut into 5 bins (quantiles of the train split; hues: 5 equal arcs), as labels."""
    f = dict(factors)
    f["relative_hue"] = torch.remainder(f["shape_hue"] - f["background_hue"], 1.0)
    f["position"] = torch.sqrt(f["x"] ** 2 + f["y"] ** 2)  # distance from the centre
    edges = edges or {k: (torch.tensor([0.2, 0.4, 0.6, 0.8]) if "hue" in k else torch.quantile(v, torch.tensor([0.2, 0.4, 0.6, 0.8])))
                      for k, v in f.items()}
    return {k: torch.bucketize(v, edges[k]) for k, v in f.items()}, edges


def nuisance_knn(ftr, fte, factors) -> dict[str, float]:
    """kNN (k = 200, T = 0.1) top-1 at telling each nuisance's bin (chance 20%): what the features encode besides shape."""
    from byol_course.evaluate import knn_accuracy

    btr, edges = nuisance_bins(factors[0])
    bte, _ = nuisance_bins(factors[1], edges)
    return {k: knn_accuracy(ftr, btr[k], fte, bte[k]) for k in btr}


def set_normalisation(cfg, xtr: torch.Tensor) -> None:
    """The demo's rule (report.load_train_split): normalise with the train split's mean and std."""
    from byol_course.data import Dataset

    mean, std = Dataset(xtr, torch.zeros(len(xtr), dtype=torch.long), [], "embedded", "train").mean_std()
    cfg.augment.mean, cfg.augment.std = tuple(round(m, 4) for m in mean), tuple(round(s, 4) for s in std)


def umap_knn(features: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """kNN (k = 20) top-1 by 5-fold cross-validation in the 2-d cosine UMAP of the features (the demo's umap_knn_top1)."""
    from byol_course.evaluate import knn_cross_validated
    from byol_course.visualize import umap_embed

    xy = umap_embed(features, seed=seed)
    return knn_cross_validated(xy, labels, k=20, folds=5, seed=seed)


def probe(backbone: nn.Module, cfg, xtr, ytr, xte, yte, with_umap: bool = False, with_linear: bool = True, factors=None) -> dict[str, float]:
    """kNN on the raw and on the standardised online-backbone features, linear probe, optionally UMAP kNN."""
    from byol_course.evaluate import extract_features, knn_accuracy, knn_predict, linear_probe

    ftr = extract_features(backbone, xtr, cfg.augment)
    fte = extract_features(backbone, xte, cfg.augment)
    mean, std = ftr.mean(0), ftr.std(0) + 1e-6  # from the train bank only
    pred = knn_predict(ftr, ytr, fte, int(ytr.max()) + 1)
    confusion = torch.zeros(int(ytr.max()) + 1, int(ytr.max()) + 1, dtype=torch.long)
    confusion.index_put_((yte, pred), torch.ones_like(yte), accumulate=True)  # rows: true class, columns: kNN's
    out = {
        "knn_top1": float((pred == yte).float().mean()),
        "knn_std_top1": knn_accuracy((ftr - mean) / std, ytr, (fte - mean) / std, yte),
        "knn_confusion": confusion.tolist(),
    }
    if factors is not None:
        out["nuisance_knn"] = nuisance_knn(ftr, fte, factors)
    if with_linear:
        lin = linear_probe(ftr, ytr, fte, yte)  # {"top1", "val_top1", "C"}
        out["linear_top1"], out["linear_val_top1"], out["linear_C"] = lin["top1"], lin["val_top1"], lin["C"]
    if with_umap:
        t = time.perf_counter()
        out["umap_knn_top1"] = umap_knn(fte, yte)
        out["umap_knn_folds"] = "knn_cross_validated(k=20, folds=5, seed=0)"
        out["umap_seconds"] = time.perf_counter() - t
    return out


def build_config(v: dict[str, Any]):
    from byol_course.config import classroom_config

    cfg = classroom_config()
    apply_recipe(cfg, v["recipe"])
    return cfg


# --- supervised baseline --------------------------------------------------------------------
# The script keeps its own supervised baseline rather than byol_course.supervised.train_supervised,
# whose results would mean something else here: that one runs for a time budget only (the study's
# train mode needs a fixed number of steps, so that a row does not depend on the machine's load),
# draws batches with replacement under a cosine over time with no warm-up, and returns the
# backbone without its classifier (no classifier_top1). It also augments with cfg.augment.view1
# as stored, i.e. with the blur that AugmentConfig.views() switches off when blur is False, while
# the step below uses BYOL's own view 1 (views()[0]). The check mode keeps this one too, so that
# its supervised row is comparable with the train mode's.


class Supervised(nn.Module):
    """The BYOL run's backbone with a linear classifier on top."""

    def __init__(self, cfg, num_classes: int = 10) -> None:
        super().__init__()
        from byol_course.networks import build_backbone

        self.backbone = build_backbone(cfg.network)
        self.head = nn.Linear(self.backbone.out_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def supervised_step(model, opt, images, labels, cfg, gen, channels_last: bool) -> torch.Tensor:
    """One cross-entropy step on view 1 of BYOL's augmentations (crop, flip, colour jitter, grayscale)."""
    from byol_course.augment import make_view

    x = make_view(images, cfg.augment.views()[0], cfg.augment.image_size, cfg.augment.mean, cfg.augment.std, gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    loss = F.cross_entropy(model(x), labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def train_supervised(cfg, xtr, ytr, steps: int | None = None, seconds: float | None = None, seed: int = 0) -> tuple[Supervised, dict]:
    """AdamW at the BYOL recipe's lr and batch, warm-up then cosine; for `steps` steps, or as many as fit in `seconds`.

    With a time budget the schedule is laid out for the number of steps the first 20 steps'
    pace predicts (re-estimated every 50 steps), so that it ends, decayed, when time is up.
    """
    from byol_course.optim import lr_at

    torch.manual_seed(seed)
    model = Supervised(cfg, int(ytr.max()) + 1)
    cl = cfg.train.channels_last
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.base_lr, weight_decay=cfg.optim.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    B, n = cfg.train.batch_size, len(xtr)
    spe = n // B
    total = steps if steps is not None else 10**9
    t0 = time.perf_counter()
    step, epoch = 0, 0
    done = False
    while not done:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        for i in range(spe):
            if seconds is not None and step >= 20 and step % 50 in (0, 20) and step < total:  # re-plan the schedule
                pace = (time.perf_counter() - t0) / step
                total = max(step + 1, int(seconds / pace))
            warm = min(spe, max(1, total // 10))
            lr = lr_at(step, total, warm, cfg.optim.base_lr)
            for g in opt.param_groups:
                g["lr"] = lr
            idx = order[i * B : (i + 1) * B]
            supervised_step(model, opt, xtr[idx], ytr[idx], cfg, gen, cl)
            step += 1
            if step >= total or (seconds is not None and time.perf_counter() - t0 >= seconds):
                done = True
                break
        epoch += 1
    model.eval()
    return model, {"steps": step, "images": step * B, "seconds": time.perf_counter() - t0}


@torch.no_grad()
def classifier_top1(model: Supervised, cfg, xte, yte) -> float:
    from byol_course.augment import normalize

    model.eval()
    pred = torch.cat([model(normalize(xte[i : i + 500], cfg.augment)).argmax(1) for i in range(0, len(xte), 500)])
    return float((pred == yte).float().mean())


# --- mode: train ----------------------------------------------------------------------------


def run_variant(task: tuple) -> dict:
    name, v, opts = task
    torch.set_num_threads(opts["threads"])
    from byol_course.networks import build_networks
    from byol_course.train import pretrain

    cfg = build_config(v)
    t = time.perf_counter()
    xtr, ytr, xte, yte, factors = make_data(v["data"], cfg.augment.image_size)
    gen_seconds = time.perf_counter() - t
    set_normalisation(cfg, xtr)
    spe = len(xtr) // cfg.train.batch_size
    cfg.train.epochs = max(1, round(v["steps"] / spe))
    # the network pretrain starts from (build_networks: the same weights as manual_seed(seed) + BYOLNetworks)
    init = probe(build_networks(cfg.network, cfg.train.seed).online_backbone, cfg, xtr, ytr, xte, yte, opts["umap"], factors=factors)
    curve = []
    eval_fn = None
    if opts["curve"]:
        from byol_course.evaluate import extract_features, knn_accuracy

        def eval_fn(net, epoch):
            t_eval = time.perf_counter()
            f1 = extract_features(net.online_backbone, xtr, cfg.augment)
            f2 = extract_features(net.online_backbone, xte, cfg.augment)
            curve.append({"epoch": epoch, "step": epoch * spe, "knn_top1": knn_accuracy(f1, ytr, f2, yte),
                          "eval_seconds": time.perf_counter() - t_eval})
            return {}

        cfg.train.knn_every = opts["curve"]
    load0 = loadavg()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        net, history = pretrain(cfg, tmp, train_images=xtr, progress=False, eval_fn=eval_fn)
        if opts.get("save"):
            Path(opts["save"]).mkdir(parents=True, exist_ok=True)
            torch.save({"model": net.state_dict(), "config": cfg.to_dict()}, Path(opts["save"]) / f"{name}.pt")
    train_seconds = time.perf_counter() - t0 - sum(c["eval_seconds"] for c in curve)  # without the curve's kNN checks
    load1 = loadavg()
    byol = probe(net.online_backbone, cfg, xtr, ytr, xte, yte, opts["umap"], factors=factors)
    row = {
        "variant": name,
        "note": v["note"],
        "data": v["data"],
        "recipe": {k: list(x) if isinstance(x, tuple) else x for k, x in v["recipe"].items()},
        "config": cfg.to_dict(),
        "steps": cfg.train.epochs * spe,
        "images_seen": cfg.train.epochs * spe * cfg.train.batch_size,
        "epochs": cfg.train.epochs,
        "random_init": init,
        "byol": byol,
        "final_loss": history[-1]["loss"],
        "train_seconds": train_seconds,
        "generate_seconds": gen_seconds,
        "threads": opts["threads"],
        "loadavg_before_after": [load0, load1],
    }
    if v.get("overrides"):
        row["overrides"] = v["overrides"]
    if curve:
        row["curve"] = curve
    if opts.get("raw"):
        from byol_course.evaluate import knn_accuracy, linear_probe

        ptr, pte = xtr.flatten(1).float(), xte.flatten(1).float()
        row["raw_pixels"] = {"knn_top1": knn_accuracy(ptr, ytr, pte, yte), "linear_top1": linear_probe(ptr, ytr, pte, yte)["top1"]}
    if opts["supervised"]:
        sup_steps = opts["supervised_steps"] or v["supervised_steps"]
        model, info = train_supervised(cfg, xtr, ytr, steps=sup_steps)
        row["supervised"] = {**info, "classifier_top1": classifier_top1(model, cfg, xte, yte),
                             **probe(model.backbone, cfg, xtr, ytr, xte, yte, with_umap=opts["umap"])}
    brief = {k: row[k] for k in ("variant", "steps", "train_seconds", "loadavg_before_after")}
    for k in ("random_init", "byol", "supervised"):
        if k in row:
            brief[k] = {m: round(x, 4) for m, x in row[k].items() if isinstance(x, float)}
    print(json.dumps(brief), flush=True)
    return row


def fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.1%}"


def table(rows: list[dict]) -> str:
    lines = [
        "| variant | steps × batch | kNN init / BYOL | kNN std. init / BYOL | linear init / BYOL | UMAP-kNN init / BYOL | supervised (clf / kNN) | train s (1 thr, load) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        i, b, s = r["random_init"], r["byol"], r.get("supervised")
        sup = f"{fmt(s['classifier_top1'])} / {fmt(s['knn_top1'])} ({s['steps']} st)" if s else "—"
        lines.append(
            f"| {r['variant']} | {r['steps']} × {r['config']['train']['batch_size']} | {fmt(i['knn_top1'])} / **{fmt(b['knn_top1'])}** | "
            f"{fmt(i['knn_std_top1'])} / {fmt(b['knn_std_top1'])} | {fmt(i.get('linear_top1'))} / {fmt(b.get('linear_top1'))} | "
            f"{fmt(i.get('umap_knn_top1'))} / {fmt(b.get('umap_knn_top1'))} | {sup} | {r['train_seconds']:.0f} ({r['loadavg_before_after'][0]:.1f}) |"
        )
    return "\n".join(lines)


def meta(command: str) -> dict:
    from byol_course.device import hardware

    return {"date": time.strftime("%Y-%m-%d %H:%M"), "hardware": hardware(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "command": command}


def merge(path: Path, key: str, rows: list[dict], extra: dict) -> dict:
    blob = json.loads(path.read_text()) if path.exists() else {"rows": {}}
    for r in rows:
        blob["rows"][r[key]] = {**r, "measured": extra}
    blob["protocol"] = __doc__.split("Protocol (every mode): ")[1].split("\nRun one")[0].replace("\n", " ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(blob, indent=1))
    return blob


class _Serial:
    """A stand-in for a Pool of one: runs in this process."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap(self, fn, tasks):
        return map(fn, tasks)


def shortened(v: dict[str, Any], steps: int = 0, n_train: int = 0, n_test: int = 0) -> dict[str, Any]:
    """A copy of variant v with fewer BYOL steps (and supervised steps in proportion) or images; v itself when none is given."""
    overrides = {k: x for k, x in (("steps", steps), ("n_train", n_train), ("n_test", n_test)) if x}
    if not overrides:
        return v
    v = copy.deepcopy(v)
    if steps:
        size = v["recipe"].get("augment.image_size", 32)
        v["steps"], v["supervised_steps"] = steps, max(1, round(steps * SUPERVISED_PER_BYOL_STEP.get(size, 3.0)))
    v["data"].update({k: overrides[k] for k in ("n_train", "n_test") if k in overrides})
    v["overrides"] = overrides
    return v


def cmd_train(a) -> None:
    names = [n for n in a.variants.split(",") if n] if a.variants != "all" else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    if (a.steps or a.n_train or a.n_test) and Path(a.out).resolve() == (RESULTS / "recipe_study.json").resolve():
        raise SystemExit("--steps, --n-train and --n-test make smoke rows: write them to another --out, not the study's results")
    opts = dict(threads=a.threads, umap=a.umap, supervised=a.supervised, supervised_steps=a.supervised_steps, curve=a.curve, save=a.save, raw=a.raw)
    tasks = [(n, shortened(VARIANTS[n], a.steps, a.n_train, a.n_test), opts) for n in names]
    torch.set_num_threads(a.threads)  # so that meta's hardware() names the threads the variants train with
    info = meta("python benchmarks/recipe_study.py " + " ".join(a.argv))  # argv starts with the mode
    rows = []
    with mp.get_context("spawn").Pool(a.jobs) if a.jobs > 1 else _Serial() as pool:
        for row in pool.imap(run_variant, tasks):
            rows.append(row)
            blob = merge(Path(a.out), "variant", [row], info)  # each row as soon as it is done
    print(table(rows))
    if a.show_all:
        print(table(list(blob["rows"].values())))


# --- mode: throughput -------------------------------------------------------------------------

NETS = {  # name -> NetworkConfig fields
    "w8": dict(convnet_width=8, hidden_dim=512, proj_dim=256),
    "w16": dict(convnet_width=16, hidden_dim=512, proj_dim=256),
    "w16h256": dict(convnet_width=16, hidden_dim=256, proj_dim=128),
    "w24": dict(convnet_width=24, hidden_dim=512, proj_dim=256),
    "w32": dict(convnet_width=32, hidden_dim=512, proj_dim=256),
}


def cpu_ticks() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    f = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(f) - f[3] - f[4]) / hz, sum(f) / hz


def wait_until_idle(max_wait: float, threshold: float = 0.15, window: float = 2.0) -> float:
    """Wait (at most max_wait s) until other processes use under `threshold` cores over `window` s; return their last use."""
    t_end = time.perf_counter() + max_wait
    while True:
        busy0, own0 = cpu_ticks()[0], sum(os.times()[:2])
        time.sleep(window)
        others = (cpu_ticks()[0] - busy0 - (sum(os.times()[:2]) - own0)) / window
        if others < threshold or time.perf_counter() > t_end:
            return others


def time_steps(fn, min_seconds: float, warmup: int = 3) -> tuple[float, float]:
    """(steps per second of fn() after warm-up over at least min_seconds, cores used by other processes meanwhile)."""
    for _ in range(warmup):
        fn()
    n, t0, busy0, own0 = 0, time.perf_counter(), cpu_ticks()[0], sum(os.times()[:2])
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds and n >= 3:
            others = (cpu_ticks()[0] - busy0 - (sum(os.times()[:2]) - own0)) / dt  # cores busy with other work
            return n / dt, others


def throughput_one(task: tuple) -> list[dict]:
    nets, sizes, batches, threads, channels_last, seconds, kinds, wait = task
    from byol_course.config import classroom_config
    from byol_course.device import Precision
    from byol_course.embedded import generate
    from byol_course.networks import BYOLNetworks
    from byol_course.optim import build_optimizer
    from byol_course.train import Views, train_step

    rows = []
    for t in threads:
        torch.set_num_threads(t)
        for size in sizes:
            pool, labels = generate(1024, seed=0, size=size)
            for net_name in nets:
                for B in batches:
                    for cl in channels_last:
                        cfg = classroom_config()
                        cfg.augment.image_size = size
                        for k, v in NETS[net_name].items():
                            setattr(cfg.network, k, v)
                        gen = torch.Generator().manual_seed(0)
                        row = {"net": net_name, "image_size": size, "batch": B, "threads": t, "channels_last": cl}
                        if "byol" in kinds:
                            net = BYOLNetworks(cfg.network)
                            if cl:
                                net = net.to(memory_format=torch.channels_last)
                            opt = build_optimizer(net, cfg.optim, B)
                            # as pretrain builds them: the views from one generator, the recipe's precision (CPU: fp32
                            # unless the CPU has native bf16)
                            views = Views(cfg.augment, [gen], cl)
                            precision = Precision(torch.device("cpu"), cfg.train.precision)
                            row["precision"] = precision.name
                            it = iter(range(10**9))

                            def step():
                                j = next(it) % (1024 // B)
                                train_step(net, opt, pool[j * B : (j + 1) * B], views, 0.99,
                                           stop_gradient=cfg.train.stop_gradient, precision=precision, online=net.online)

                            if wait:
                                wait_until_idle(wait)
                            la = loadavg()
                            sps, others = time_steps(step, seconds)
                            row["byol_images_per_s"], row["byol_other_cores"], row["byol_loadavg"] = B * sps, others, la
                        if "supervised" in kinds:
                            model = Supervised(cfg)
                            if cl:
                                model = model.to(memory_format=torch.channels_last)
                            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                            it2 = iter(range(10**9))

                            def sstep():
                                j = next(it2) % (1024 // B)
                                supervised_step(model, opt, pool[j * B : (j + 1) * B], labels[j * B : (j + 1) * B], cfg, gen, cl)

                            if wait:
                                wait_until_idle(wait)
                            la = loadavg()
                            sps, others = time_steps(sstep, seconds)
                            row["supervised_images_per_s"], row["supervised_other_cores"], row["supervised_loadavg"] = B * sps, others, la
                        print(json.dumps(row), flush=True)
                        rows.append(row)
    return rows


def cmd_throughput(a) -> None:
    import statistics

    nets, sizes = a.nets.split(","), [int(s) for s in a.sizes.split(",")]
    batches, threads = [int(b) for b in a.batches.split(",")], [int(t) for t in a.threads_list.split(",")]
    cls = [c == "on" for c in a.channels_last.split(",")]
    kinds = a.kinds.split(",")
    rows = []
    for rep in range(a.repeats):  # the whole grid again: repeats are spread over time, not back to back
        if a.concurrent > 1:  # the same measurement in several single-thread processes at once
            if a.wait_idle:
                wait_until_idle(a.wait_idle)
            task = (nets, sizes, batches, [1], cls, a.seconds, kinds, 0.0)  # (each sees the others as load)
            with mp.get_context("spawn").Pool(a.concurrent) as pool:
                per_proc = pool.map(throughput_one, [task] * a.concurrent)
            for cols in zip(*per_proc):
                r = dict(cols[0])
                r["concurrent"] = a.concurrent
                for k in ("byol_images_per_s", "supervised_images_per_s"):
                    if k in r:
                        r[k + "_each"] = [c[k] for c in cols]
                        r[k] = sum(c[k] for c in cols) / len(cols)
                rows.append({**r, "repeat": rep})
        else:
            for r in throughput_one((nets, sizes, batches, threads, cls, a.seconds, kinds, a.wait_idle)):
                rows.append({**r, "concurrent": 1, "repeat": rep})
    path = Path(a.out)
    blob = json.loads(path.read_text()) if path.exists() else {"runs": []}
    blob["runs"].append({**meta("python benchmarks/recipe_study.py " + " ".join(a.argv)), "rows": rows})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(blob, indent=1))
    print("| net | size | batch | threads | processes | channels_last | BYOL img/s per process (median; all) | supervised img/s (median; all) | load | other cores busy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(r["net"], r["image_size"], r["batch"], r["threads"], r["concurrent"], r["channels_last"]) for r in rows},
                  key=lambda k: (k[0], k[1], k[2], k[3], k[4], k[5]))
    for key in keys:
        rs = [r for r in rows if (r["net"], r["image_size"], r["batch"], r["threads"], r["concurrent"], r["channels_last"]) == key]

        def cell(k):
            v = [r[k] for r in rs if k in r]
            return f"{statistics.median(v):.0f}; {', '.join(f'{x:.0f}' for x in v)}" if v else "—"

        loads = ", ".join(f"{r.get('byol_loadavg', r.get('supervised_loadavg', 0)):.1f}" for r in rs)
        others = ", ".join(f"{r.get('byol_other_cores', 0):.2f}" for r in rs)
        print(f"| {' | '.join(str(x) for x in key)} | {cell('byol_images_per_s')} | {cell('supervised_images_per_s')} | {loads} | {others} |")


# --- mode: check a demo run -------------------------------------------------------------------


def cmd_check(a) -> None:
    from byol_course.checkpoint import load_checkpoint, load_networks
    from byol_course.data import load_dataset
    from byol_course.networks import build_networks

    torch.set_num_threads(a.threads)
    run = Path(a.run)
    metrics = json.loads((run / "metrics.json").read_text())
    state = load_checkpoint(run / "checkpoint.pt")
    net, cfg = load_networks(state)
    size = cfg.augment.image_size
    train = load_dataset(cfg.train.dataset, "train", seed=cfg.train.seed, image_size=size)
    test = load_dataset(cfg.train.dataset, "test", seed=cfg.train.seed, image_size=size)
    xtr, ytr, xte, yte = train.images, train.labels, test.images, test.labels
    demo_keys = ("knn_top1", "linear_top1", "umap_knn_top1", "pretrain_seconds", "training_seconds", "wall_seconds")
    out: dict[str, Any] = {"run": str(run), "demo_metrics": {k: metrics.get(k) for k in demo_keys},
                           "demo_baselines": metrics.get("baselines"), "demo_supervised": metrics.get("supervised"),
                           "config": cfg.to_dict()}
    t = time.perf_counter()
    init = build_networks(cfg.network, cfg.train.seed)  # the demo's random-init network, as pretrain builds it
    out["random_init"] = probe(init.online_backbone, cfg, xtr, ytr, xte, yte, with_umap=True, with_linear=False)
    out["byol"] = probe(net.online_backbone, cfg, xtr, ytr, xte, yte, with_umap=True, with_linear=False)
    out["umap_check_seconds"] = time.perf_counter() - t
    # BYOL's training time (without the per-epoch monitoring) where the demo records it, else its pretrain call's
    seconds = a.supervised_seconds or metrics.get("training_seconds") or metrics["pretrain_seconds"]
    la = loadavg()
    model, info = train_supervised(cfg, xtr, ytr, seconds=seconds)
    out["supervised"] = {**info, "budget_seconds": seconds, "loadavg_before": la, "loadavg_after": loadavg(),
                         "classifier_top1": classifier_top1(model, cfg, xte, yte),
                         **probe(model.backbone, cfg, xtr, ytr, xte, yte, with_umap=a.supervised_umap)}
    out.update(meta("python benchmarks/recipe_study.py " + " ".join(a.argv)))
    out["threads"] = a.threads
    path = Path(a.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("demo_metrics", "random_init", "byol", "supervised")}, indent=1))


def main(argv: list[str] | None = None) -> None:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("train")
    p.add_argument("--variants", default="base", help="names separated by commas, or all")
    p.add_argument("--jobs", type=int, default=1, help="variants at once, one process each (1 on a shared machine)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--umap", action="store_true", help="also the UMAP-space kNN (≈15 s per network)")
    p.add_argument("--supervised", action="store_true", help="also the same network trained with labels")
    p.add_argument("--supervised-steps", type=int, default=0, help="its steps (default: the variant's, as many as fit in BYOL's time)")
    p.add_argument("--raw", action="store_true", help="also kNN and linear probe on raw pixels")
    p.add_argument("--curve", type=int, default=0, help="kNN every this many epochs (curve in the JSON)")
    p.add_argument("--steps", type=int, default=0, help="BYOL steps of every variant (default: the variant's; a smoke run)")
    p.add_argument("--n-train", type=int, default=0, help="train images of every variant (default: the variant's; a smoke run)")
    p.add_argument("--n-test", type=int, default=0, help="test images of every variant (default: the variant's; a smoke run)")
    p.add_argument("--out", default=str(RESULTS / "recipe_study.json"))
    p.add_argument("--show-all", action="store_true", help="print every row stored in --out")
    p.add_argument("--save", default="", help="folder to keep each variant's trained networks in (never commit it)")
    p.add_argument("--list", action="store_true")
    p = sub.add_parser("throughput")
    p.add_argument("--nets", default="w16")
    p.add_argument("--sizes", default="32")
    p.add_argument("--batches", default="64")
    p.add_argument("--threads-list", default="1,2")
    p.add_argument("--channels-last", default="on")
    p.add_argument("--kinds", default="byol,supervised")
    p.add_argument("--seconds", type=float, default=4.0, help="timed seconds per measurement")
    p.add_argument("--concurrent", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--wait-idle", type=float, default=0.0, help="before each measurement wait up to this many s for other processes to go quiet")
    p.add_argument("--out", default=str(RESULTS / "recipe_throughput.json"))
    p = sub.add_parser("check")
    p.add_argument("--run", required=True, help="a demo run folder (metrics.json, checkpoint.pt)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--supervised-seconds", type=float, default=0.0)
    p.add_argument("--supervised-umap", action="store_true")
    p.add_argument("--out", default=str(RESULTS / "recipe_check.json"))
    a = ap.parse_args(argv)
    a.argv = argv  # the whole command line after the script, the mode first
    if a.mode == "train" and a.list:
        for n, v in VARIANTS.items():
            print(f"{n}: {v}")
        return
    {"train": cmd_train, "throughput": cmd_throughput, "check": cmd_check}[a.mode](a)


if __name__ == "__main__":
    main()
