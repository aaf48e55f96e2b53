"""Chapter 8 — the collapse lab: which ingredients keep BYOL from collapsing?

BYOL has no negative pairs, so one trivial solution minimises its loss: every image maps
to the same point. Each experiment below removes or changes one ingredient of the baseline
recipe, trains briefly, and records the signs of collapse over training:

- loss (`‖p̄ − z̄‖²` summed over both views, 0 … 8);
- embedding std: per-channel std of z/‖z‖ over images, averaged (healthy ≈ 1/√d, collapsed → 0);
- effective rank (RankMe) of the projections (collapse → 1; dimensional collapse: low);
- kNN accuracy of the backbone's features;
- mean cosine of positive pairs (two views of one image) and of random pairs.

A collapsed network has cos(random pair) ≈ cos(positive) ≈ 1, std ≈ 0, rank ≈ 1. Chance
accuracy alone is not proof (a diverged run is at chance too): the lab shows them together.

Results are cached on disk, keyed by the run's full configuration, so re-running the lab
(or re-opening the notebook) reads them instead of retraining; an interrupted run resumes
from its last epoch. `python -m byol_course collapse` runs the same set headless.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from .augment import normalize
from .evaluate import extract_features, knn_accuracy, linear_probe
from .networks import BYOLNetworks
from .report import collapse_metrics, hardware, load_train_split
from .data import load_dataset
from .train import (
    RunConfig,
    _atomic_write_text,
    classroom_config,
    gpu_config,
    pretrain,
    resolve_device,
)

__all__ = [
    "Experiment",
    "EXPERIMENTS",
    "CORE",
    "lab_config",
    "experiment_config",
    "custom_config",
    "run_key",
    "LabData",
    "load_lab_data",
    "run_experiment",
    "run_lab",
    "verdict",
    "results_table",
    "plot_curves",
    "plot_spectra",
    "plot_umaps",
    "plot_projections",
    "projection_2d",
    "write_report",
    "LabPanel",
    "LabSizes",
]

LAB_VERSION = 2  # bump when what a run records changes: old cache entries are then ignored (2: projections, init probe)


@dataclass(frozen=True)
class Experiment:
    """One ablation: how it changes the baseline and what the paper measured for the same change."""

    name: str
    label: str
    change: Callable[[RunConfig], None]  # edits a copy of the baseline config in place
    paper: str  # the published number for the same change, with its protocol
    source: str  # citation


def _tau(value: float) -> Callable[[RunConfig], None]:
    def change(cfg: RunConfig) -> None:
        cfg.train.tau_base, cfg.train.tau_schedule = value, False

    return change


def _set(section: str, **values: Any) -> Callable[[RunConfig], None]:
    def change(cfg: RunConfig) -> None:
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)

    return change


def _no_stop_gradient(cfg: RunConfig) -> None:
    cfg.train.stop_gradient = False


def _crop_only(cfg: RunConfig) -> None:
    for view in (cfg.augment.view1, cfg.augment.view2):
        view.jitter_p, view.grayscale_p, view.blur_p, view.solarize_p = 0.0, 0.0, 0.0, 0.0


def _small_batch(cfg: RunConfig) -> None:
    cfg.train.batch_size = max(4, cfg.train.batch_size // 4)


_IMAGENET = "Grill et al. 2020, Table 5 (ImageNet, ResNet-50, 300 epochs, linear top-1)"
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in [
        Experiment("baseline", "baseline BYOL", lambda cfg: None, "72.5%", _IMAGENET),
        Experiment("no_predictor", "no predictor", _set("network", predictor=False), "0.2%", _IMAGENET),
        Experiment("tau_0", "τ = 0 (target = online, stop-grad)", _tau(0.0), "0.3%", _IMAGENET),
        Experiment("tau_1", "τ = 1 (target stays at init)", _tau(1.0), "18.8%", _IMAGENET),
        Experiment(
            "no_stop_gradient",
            "no stop-gradient",
            _no_stop_gradient,
            "0.1%",
            "Chen & He 2020 (SimSiam), §4.1 (ImageNet, ResNet-50, linear top-1)",
        ),
        Experiment(
            "no_norm",
            "no norm in heads",
            _set("network", head_norm="none"),
            "28.3% (random encoder 28.8%)",
            "untitled-ai 2020 (STL-10, 10 epochs, linear)",
        ),
        Experiment(
            "group_norm_ws",
            "GroupNorm + WS in heads",
            _set("network", head_norm="group"),
            "73.9% (BN: 74.3%)",
            "Richemond et al. 2020 (ImageNet, ResNet-50, linear top-1)",
        ),
        Experiment("no_weight_decay", "no weight decay", _set("optim", weight_decay=0.0), "—", "no published ablation"),
        Experiment("crop_only", "crop + flip only", _crop_only, "59.4%", _IMAGENET),
        Experiment(
            "small_batch", "batch ÷ 4", _small_batch, "batch 256: 71.8%, 64: 59.7% (4096: 72.5%)", _IMAGENET
        ),
    ]
}
CORE = ["baseline", "no_predictor", "tau_0", "tau_1", "no_stop_gradient", "no_norm"]


@dataclass
class LabSizes:
    """How much data a lab run trains and evaluates on."""

    train_images: int  # the first N images of the (shuffled) training split
    bank_images: int  # labelled training images for the kNN bank and linear probe
    test_images: int  # test images for kNN, collapse metrics and UMAP


def lab_config(mode: str = "classroom") -> tuple[RunConfig, LabSizes]:
    """The baseline recipe and data sizes for a run mode ('smoke' | 'classroom' | 'full')."""
    if mode == "full":  # a CUDA GPU: CIFAR-10, ResNet-18 (not yet timed on a GPU)
        cfg = gpu_config("cifar10")
        cfg.train.epochs = 10
        return cfg, LabSizes(train_images=25_000, bank_images=10_000, test_images=5_000)
    cfg = classroom_config("embedded")
    cfg.train.log_every = 25
    if mode == "smoke":
        cfg.train.epochs = 2
        cfg.network.convnet_width, cfg.network.hidden_dim, cfg.network.proj_dim = 4, 64, 32
        cfg.train.batch_size = 32
        return cfg, LabSizes(train_images=256, bank_images=256, test_images=128)
    if mode != "classroom":
        raise ValueError(f"Unknown lab mode {mode!r}; choose smoke, classroom or full.")
    cfg.train.epochs = 8
    return cfg, LabSizes(train_images=5_000, bank_images=2_000, test_images=1_000)


def experiment_config(name: str, base: RunConfig) -> RunConfig:
    """A copy of base with experiment `name`'s change applied."""
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}.")
    cfg = RunConfig.from_dict(base.to_dict())
    EXPERIMENTS[name].change(cfg)
    return cfg


def custom_config(
    base: RunConfig,
    predictor: bool = True,
    tau: float | None = None,
    stop_gradient: bool = True,
    head_norm: str = "batch",
    weight_decay: float | None = None,
) -> tuple[str, RunConfig]:
    """Your own combination of switches; returns (a name describing it, the config). tau None keeps the schedule."""
    cfg = RunConfig.from_dict(base.to_dict())
    cfg.network.predictor, cfg.network.head_norm, cfg.train.stop_gradient = predictor, head_norm, stop_gradient
    parts = []
    if not predictor:
        parts.append("no pred")
    if tau is not None:
        _tau(tau)(cfg)
        parts.append(f"τ={tau:g}")
    if not stop_gradient:
        parts.append("no stop-grad")
    if head_norm != "batch":
        parts.append(f"norm={head_norm}")
    if weight_decay is not None:
        cfg.optim.weight_decay = weight_decay
        parts.append(f"wd={weight_decay:g}")
    cfg.network.__post_init__()  # validate head_norm
    return ("custom: " + ", ".join(parts)) if parts else "custom: baseline", cfg


def run_key(cfg: RunConfig, sizes: LabSizes) -> str:
    """A short hash of everything that determines a run's result: config, data sizes, lab version."""
    blob = json.dumps({"config": cfg.to_dict(), "sizes": dataclasses.asdict(sizes), "lab": LAB_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class LabData:
    """The images one lab uses, loaded once and shared by its runs."""

    name: str
    train: torch.Tensor  # uint8 (N, 3, H, W), unlabelled pretraining images
    bank: torch.Tensor  # uint8, labelled training images (kNN bank, linear-probe training set)
    bank_labels: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]


def load_lab_data(cfg: RunConfig, sizes: LabSizes) -> LabData:
    """Load the dataset once; sets cfg.augment's normalisation from the training split (in place)."""
    train = load_train_split(cfg)
    test = load_dataset(cfg.train.dataset, "test", seed=cfg.train.seed, image_size=cfg.augment.image_size)
    return LabData(
        name=train.name,
        train=train.images[: sizes.train_images],
        bank=train.images[: sizes.bank_images],
        bank_labels=train.labels[: sizes.bank_images],
        test=test.images[: sizes.test_images],
        test_labels=test.labels[: sizes.test_images],
        classes=list(test.classes),
    )


def _measure(net: BYOLNetworks, cfg: RunConfig, data: LabData) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    """The per-epoch record (kNN accuracy plus collapse metrics), and the bank and test features it used."""
    bank = extract_features(net.online_backbone, data.bank, cfg.augment)
    test = extract_features(net.online_backbone, data.test, cfg.augment)
    m = collapse_metrics(net, data.test, cfg, seed=cfg.train.seed, max_images=data.test.shape[0])
    m["knn_top1"] = knn_accuracy(bank, data.bank_labels, test, data.test_labels, k=min(200, bank.shape[0]))
    return m, bank, test


def _linear(bank: torch.Tensor, test: torch.Tensor, data: LabData, seed: int) -> float:
    return linear_probe(bank, data.bank_labels, test, data.test_labels, seed=seed)["top1"]


@torch.no_grad()
def projection_2d(net: BYOLNetworks, cfg: RunConfig, images: torch.Tensor) -> list[list[float]]:
    """The normalised online projections z̄ of images on their two main axes (PCA), at their true scale.

    Unlike UMAP, which rescales every map to fill its plot, this keeps distances: a collapsed
    run, whose z̄ are all nearly the same unit vector, shows as a point at the origin.
    """
    device = next(net.parameters()).device
    net.eval()
    z = torch.cat([net.project(normalize(images[i : i + 512].to(device), cfg.augment)).float().cpu() for i in range(0, len(images), 512)])
    net.train()
    zc = F.normalize(z, dim=1)
    zc = zc - zc.mean(dim=0)  # (N, d) centred unit vectors
    _, _, v = torch.linalg.svd(zc, full_matrices=False)
    return (zc @ v[:2].T).tolist()  # (N, 2)


def _cache_dir(cache: Path, name: str, key: str) -> Path:
    """cache/<name>-<key>; an existing folder with the same key is reused whatever its name."""
    found = sorted(cache.glob(f"*-{key}")) if cache.exists() else []
    if found:
        return found[0]
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in name).strip("-")[:40] or "run"
    return cache / f"{safe}-{key}"


def run_experiment(
    name: str,
    cfg: RunConfig,
    data: LabData,
    sizes: LabSizes,
    cache: str | Path = "runs/collapse",
    label: str | None = None,
    progress: bool = True,
    umap: bool = True,
) -> dict[str, Any]:
    """Train one configuration and record its collapse metrics, or read them from the cache.

    The cache entry is cache/<name>-<key>/result.json, key = run_key(cfg, sizes); a run that
    was interrupted resumes from its last saved epoch.
    """
    key = run_key(cfg, sizes)
    folder = _cache_dir(Path(cache), name, key)
    result_path = folder / "result.json"
    if result_path.exists():
        result = json.loads(result_path.read_text())
        if not umap or result.get("umap") is not None:
            result["cached"] = True
            return result
    t0 = time.perf_counter()
    torch.manual_seed(cfg.train.seed)  # the same initial weights pretrain() will build
    device = resolve_device(cfg.train.device)
    init = BYOLNetworks(cfg.network).to(device)
    first, init_bank, init_test = _measure(init, cfg, data)
    init_linear = _linear(init_bank, init_test, data, cfg.train.seed)
    del init
    last: dict[int, tuple] = {}  # the last epoch's measurement, reused as the final one

    def eval_fn(net: BYOLNetworks, epoch: int) -> dict[str, Any]:
        m, bank, test = _measure(net, cfg, data)
        last.clear()
        last[epoch] = (dict(m), bank, test)
        m.pop("spectrum")
        return m

    cfg = RunConfig.from_dict(cfg.to_dict())
    cfg.train.knn_every = 1
    if progress:
        print(f"[{name}] training {cfg.train.epochs} epochs on {data.train.shape[0]} images ({folder})")
    resume = (folder / "checkpoint.pt").exists()  # an interrupted run continues
    net, history = pretrain(cfg, folder, resume=resume, train_images=data.train, eval_fn=eval_fn, progress=progress)
    final, bank, test_features = last[cfg.train.epochs] if cfg.train.epochs in last else _measure(net, cfg, data)
    final["linear_top1"] = _linear(bank, test_features, data, cfg.train.seed)
    init_record = {"epoch": 0, **{k: v for k, v in first.items() if k != "spectrum"}}
    result: dict[str, Any] = {
        "name": name,
        "label": label or (EXPERIMENTS[name].label if name in EXPERIMENTS else name),
        "key": key,
        "config": cfg.to_dict(),
        "sizes": dataclasses.asdict(sizes),
        "dataset": data.name,
        "proj_dim": cfg.network.proj_dim,
        "history": [init_record, *history],
        "final": final,
        "init_spectrum": first["spectrum"],
        "init_linear_top1": init_linear,
        "hardware": hardware(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "train_seconds": history[-1]["wall_seconds"],
    }
    result["projection_2d"] = projection_2d(net, cfg, data.test)
    if umap:
        from .visualize import umap_embed

        result["umap"] = umap_embed(test_features, seed=cfg.train.seed).tolist()
    result["seconds"] = time.perf_counter() - t0
    _atomic_write_text(json.dumps(result), result_path)
    result["cached"] = False
    return result


def run_lab(
    names: Sequence[str] = CORE,
    mode: str = "classroom",
    cache: str | Path = "runs/collapse",
    progress: bool = True,
    umap: bool = True,
    base: RunConfig | None = None,
    sizes: LabSizes | None = None,
    data: LabData | None = None,
) -> list[dict[str, Any]]:
    """Run (or read from the cache) the named experiments on the lab's data; one result per name.

    base, sizes: the baseline recipe and data sizes (default: lab_config(mode)); data: the
    images, when the caller already loaded them with load_lab_data(base, sizes).
    """
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"Unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}.")
    if base is None or sizes is None:
        base_cfg, base_sizes = lab_config(mode)
        base, sizes = base or base_cfg, sizes or base_sizes
    base = RunConfig.from_dict(base.to_dict())
    if data is None:
        data = load_lab_data(base, sizes)  # also sets base's normalisation from the training split
    results = []
    for i, name in enumerate(names):
        cfg = experiment_config(name, base)
        r = run_experiment(name, cfg, data, sizes, cache, progress=progress, umap=umap)
        if progress:
            print(f"[{i + 1}/{len(names)}] {name}: {_summary(r)}")
        results.append(r)
    return results


# --- reading the results ----------------------------------------------------------------------


def verdict(result: dict[str, Any]) -> str:
    """'collapsed', 'partial collapse' or 'healthy', from the final embedding std and random-pair cosine.

    Collapsed: std below a quarter of 1/√d *and* two random images' projections nearly parallel
    (cos > 0.9): every image lands at almost the same point. Partial: std below half of 1/√d —
    the projections occupy a narrow cone. (An untrained network is "collapsed" by this test too:
    its projections all point the same way; training is what spreads them out.)
    """
    f = result["final"]
    healthy = 1 / math.sqrt(result["proj_dim"])
    if f["embedding_std"] < 0.25 * healthy and f["negative_cosine"] > 0.9:
        return "collapsed"
    if f["embedding_std"] < 0.5 * healthy:
        return "partial collapse"
    return "healthy"


def _summary(r: dict[str, Any]) -> str:
    f = r["final"]
    how = "from cache" if r.get("cached") else f"{r['seconds']:.0f} s"
    return (
        f"std {f['embedding_std']:.4f}, rank {f['effective_rank']:.1f}, kNN {f['knn_top1']:.1%}, "
        f"linear {f['linear_top1']:.1%} → {verdict(r)} ({how})"
    )


def results_table(results: Sequence[dict[str, Any]], markdown: bool = True) -> str:
    """One row per run: final metrics, verdict, and the paper's number for the same change."""
    head = [
        "experiment", "loss", "std (1/√d)", "eff. rank", "cos pos", "cos rand", "kNN (init)", "linear (init)", "verdict", "published", "source",
    ]
    rows = []
    for r in results:
        f, last = r["final"], r["history"][-1]
        exp = EXPERIMENTS.get(r["name"])
        rows.append(
            [
                r["label"],
                f"{last['loss']:.3f}",
                f"{f['embedding_std']:.4f} ({f['embedding_std_healthy']:.4f})",
                f"{f['effective_rank']:.1f}",
                f"{f['positive_cosine']:.2f}",
                f"{f['negative_cosine']:.2f}",
                f"{f['knn_top1']:.1%} ({r['history'][0]['knn_top1']:.1%})",
                f"{f['linear_top1']:.1%}" + (f" ({r['init_linear_top1']:.1%})" if "init_linear_top1" in r else ""),
                verdict(r),
                exp.paper if exp else "—",
                exp.source if exp else "your own combination",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return "\n".join("  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in [head, *rows])


_CURVES = [
    ("loss", "loss"),
    ("embedding_std", "embedding std"),
    ("effective_rank", "effective rank"),
    ("knn_top1", "kNN top-1"),
    ("positive_cosine", "cos(positive pair)"),
    ("negative_cosine", "cos(random pair)"),
]


def plot_curves(results: Sequence[dict[str, Any]]):
    """Small multiples: one panel per metric, one line per run (epoch 0 = the initial network)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 3, figsize=(15, 6.4))
    cmap = plt.get_cmap("tab10")
    for ax, (key, title) in zip(axes.flat, _CURVES):
        for i, r in enumerate(results):
            pts = [(h["epoch"], h[key]) for h in r["history"] if key in h]
            bold = r["name"] == "baseline"  # the reference line, drawn on top
            ax.plot(*zip(*pts), marker="o", ms=2.5, color=cmap(i % 10), label=r["label"], lw=2.6 if bold else 1.4, zorder=3 if bold else 2)
        if key == "embedding_std" and results:
            ax.axhline(1 / math.sqrt(results[0]["proj_dim"]), ls="--", c="gray", lw=1, label="1/√d (healthy)")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles, names = axes[0, 1].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.legend(handles, names, loc="center left", bbox_to_anchor=(0.8, 0.5), fontsize=8, frameon=False)
    return fig


def plot_spectra(results: Sequence[dict[str, Any]]):
    """Final singular-value spectra of the projections, normalised, on one log plot."""
    from .visualize import spectrum

    spectra = {r["label"]: torch.tensor(r["final"]["spectrum"]) for r in results}
    if results:
        spectra["initial network"] = torch.tensor(results[0]["init_spectrum"])
    return spectrum(spectra)


def plot_umaps(results: Sequence[dict[str, Any]], data: LabData | None = None, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None):
    """Side-by-side UMAPs of each run's test features, coloured by class (a collapsed run: a point or a thin curve)."""
    from .visualize import scatter_panels

    labels = data.test_labels if data is not None else labels
    classes = data.classes if data is not None else classes
    panels = {r["label"]: torch.tensor(r["umap"]) for r in results if r.get("umap") is not None}
    return scatter_panels(panels, labels, classes, ncols=min(4, max(1, len(panels))))


def plot_projections(results: Sequence[dict[str, Any]], data: LabData | None = None, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None):
    """Side-by-side: each run's normalised projections on their two main axes, all panels at one scale."""
    from .visualize import scatter_panels

    labels = data.test_labels if data is not None else labels
    classes = data.classes if data is not None else classes
    panels = {r["label"]: torch.tensor(r["projection_2d"]) for r in results if r.get("projection_2d") is not None}
    return scatter_panels(panels, labels, classes, ncols=min(4, max(1, len(panels))), same_scale=True)


def write_report(results: Sequence[dict[str, Any]], out: str | Path, data: LabData) -> dict[str, Path]:
    """Write results.md, results.json and the figures (curves, spectra, UMAPs) into out."""
    from .visualize import save_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r0 = results[0]
    header = (
        f"# Collapse lab\n\n{r0['dataset']}: {r0['sizes']['train_images']} training images, "
        f"{r0['config']['network']['arch']}, {r0['config']['train']['epochs']} epochs, batch "
        f"{r0['config']['train']['batch_size']}; kNN (k=200, T=0.1) and linear probe on "
        f"{r0['sizes']['bank_images']} labelled training / {r0['sizes']['test_images']} test images; "
        f"{r0['hardware']}, torch {r0['torch']}, {r0['date']}.\n\n"
    )
    _atomic_write_text(header + results_table(results) + "\n", out / "results.md")
    slim = [{k: v for k, v in r.items() if k not in ("umap", "projection_2d")} for r in results]
    _atomic_write_text(json.dumps(slim, indent=1), out / "results.json")
    paths = {"table": out / "results.md", "json": out / "results.json"}
    paths["curves"] = save_figure(plot_curves(results), out / "curves.png")
    paths["spectra"] = save_figure(plot_spectra(results), out / "spectra.png")
    if any(r.get("umap") is not None for r in results):
        paths["umaps"] = save_figure(plot_umaps(results, data), out / "umaps.png")
    paths["projections"] = save_figure(plot_projections(results, data), out / "projections.png")
    return paths


class LabPanel:
    """An ipywidgets panel: switches for predictor, τ, stop-gradient and head norm, and a button
    that trains that combination (or reads it from the cache) and adds it to the comparison.

    `panel.widget` is what to display; `panel.run()` does what the button does (tests and
    notebooks call it directly); `panel.results` holds every run shown.
    """

    def __init__(self, results: Sequence[dict[str, Any]], base: RunConfig, sizes: LabSizes, data: LabData, cache: str | Path):
        import ipywidgets as widgets

        self.results, self.base, self.sizes, self.data, self.cache = list(results), base, sizes, data, cache
        self.predictor = widgets.Checkbox(value=True, description="predictor")
        self.stop_gradient = widgets.Checkbox(value=True, description="stop-gradient")
        self.tau = widgets.Dropdown(
            options=[("schedule (baseline)", None), ("0", 0.0), ("0.9", 0.9), ("0.99", 0.99), ("1", 1.0)],
            value=None,
            description="τ",
        )
        self.norm = widgets.Dropdown(
            options=[("BatchNorm", "batch"), ("GroupNorm + WS", "group"), ("none", "none")], value="batch", description="head norm"
        )
        self.button = widgets.Button(description="train and compare", button_style="primary", icon="play")
        self.output = widgets.Output()
        self.button.on_click(lambda _: self._clicked())
        self.widget = widgets.VBox(
            [widgets.HBox([self.predictor, self.stop_gradient]), widgets.HBox([self.tau, self.norm]), self.button, self.output]
        )

    def _clicked(self) -> None:
        from IPython.display import clear_output

        with self.output:
            clear_output(wait=True)
            self.button.disabled = True
            try:
                self.run(show=True)
            finally:
                self.button.disabled = False

    def run(self, show: bool = False) -> dict[str, Any]:
        """Train the selected combination (or read it from the cache) and add it to the comparison."""
        name, cfg = custom_config(
            self.base, predictor=self.predictor.value, tau=self.tau.value, stop_gradient=self.stop_gradient.value, head_norm=self.norm.value
        )
        result = run_experiment(name, cfg, self.data, self.sizes, self.cache, label=name)
        self.results = [r for r in self.results if r["key"] != result["key"]] + [result]
        print(f"{name}: {_summary(result)}")
        if show:
            import matplotlib.pyplot as plt
            from IPython.display import Markdown, display

            display(plot_curves(self.results))
            display(Markdown(results_table(self.results)))
            plt.close("all")
        return result
