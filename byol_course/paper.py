"""Chapter 0 — the BYOL paper's numbers that the course quotes, in one place.

Grill et al. 2020, "Bootstrap Your Own Latent", arXiv 2006.07733 v3. Every row below was read
against the paper's own text (not a summary of it) and says where it stands and what was
measured. Unless a row says otherwise: ImageNet, ResNet-50 (1×), linear evaluation, top-1 in %.
§5's ablations ran 300 epochs with τ_base = 0.99, lr 0.3 at batch 4096 and weight decay 1e-6,
"over three seeds", reporting "the average performance" and the half range when above 0.25
(Appendix F); the main results (Table 1) ran 1000 epochs with τ_base = 0.996 (§3.3).

The notebooks print their comparisons with the paper from this table (`quote`), and
tests/test_paper_numbers.py fails when a notebook's or a doc's text quotes a number next to a
table reference that this table does not hold for that reference.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAPER", "PaperNumber", "NUMBERS", "SETTINGS", "ABLATIONS", "ALIASES", "quote", "at", "places"]

PAPER = "Grill et al. 2020 (BYOL), arXiv 2006.07733 v3"
ABLATIONS = "ImageNet, ResNet-50, 300 epochs, 3 seeds averaged, linear top-1"  # §5 and Appendix F


@dataclass(frozen=True)
class PaperNumber:
    """One published number: its value, where the paper gives it, and what it measured."""

    value: float  # in % for accuracies
    where: str  # "Table 5a", "Appendix G", "§5" ...
    setting: str  # what differs from the baseline, as the paper states it
    measured: str = ABLATIONS
    spread: float | None = None  # ± the half range over seeds, where the paper gives one

    def __str__(self) -> str:
        spread = f" ± {self.spread:g}" if self.spread is not None else ""
        return f"{self.value:g}%{spread} ({self.where})"


def _n(value: float, where: str, setting: str, measured: str = ABLATIONS, spread: float | None = None) -> PaperNumber:
    return PaperNumber(value, where, setting, measured, spread)


_MAIN = "ImageNet, ResNet-50, 1000 epochs, linear top-1"
_SEMI = "ImageNet, ResNet-50, fine-tuned on a fraction of the labels, top-1"
NUMBERS: dict[str, PaperNumber] = {
    # Table 1 and §4: the main results (1000 epochs, τ_base = 0.996)
    "linear_resnet50": _n(74.3, "Table 1", "BYOL, ResNet-50 (1×)", _MAIN),
    "linear_resnet200_2x": _n(79.6, "Table 1", "BYOL, ResNet-200 (2×)", "ImageNet, ResNet-200 (2×), 1000 epochs, linear top-1"),
    "random_network": _n(1.4, "§3", "the randomly initialised network alone, no training"),
    # Table 2: semi-supervised (fine-tuning on 1% and 10% of the labels)
    "semi_1pct": _n(53.2, "Table 2", "BYOL fine-tuned on 1% of the labels", _SEMI),
    "semi_10pct": _n(68.8, "Table 2", "BYOL fine-tuned on 10% of the labels", _SEMI),
    "semi_supervised_1pct": _n(25.4, "Table 2", "supervised from scratch on 1% of the labels", _SEMI),
    "semi_supervised_10pct": _n(56.4, "Table 2", "supervised from scratch on 10% of the labels", _SEMI),
    # Table 5a: target modes (τ_base; "in the stop gradient of online, τ = τ_base = 0 is kept constant")
    "tau_1": _n(18.8, "Table 5a", "τ_base = 1: constant random network", spread=0.7),
    "tau_0.999": _n(69.8, "Table 5a", "τ_base = 0.999"),
    "tau_0.99": _n(72.5, "Table 5a", "τ_base = 0.99, the ablations' baseline"),
    "tau_0.9": _n(68.4, "Table 5a", "τ_base = 0.9"),
    "tau_0": _n(0.3, "Table 5a", "τ = 0 kept constant: stop gradient of online"),
    # Table 5b: intermediate variants between BYOL and SimCLR (β: weight of the negative pairs)
    "byol": _n(72.5, "Table 5b", "predictor and target network, β = 0 (BYOL)"),
    "byol_beta_1": _n(70.9, "Table 5b", "predictor and target network, β = 1"),
    "target_beta_1": _n(70.7, "Table 5b", "target network, no predictor, β = 1"),
    "simclr": _n(69.4, "Table 5b", "no predictor, no target network, β = 1 (SimCLR)"),
    "predictor_beta_1": _n(69.1, "Table 5b", "predictor, no target network, β = 1"),
    "no_target_network": _n(0.3, "Table 5b", "predictor, no target network, β = 0: the online network is its own target and "
                            "gradients flow through both branches (the paper's no-stop-gradient run)"),
    "no_predictor": _n(0.2, "Table 5b", "target network, no predictor, β = 0"),
    "neither": _n(0.1, "Table 5b", "no predictor, no target network, β = 0"),
    # Table 16 (Figure 3a): batch size, built by averaging gradients over N steps (optimiser batch,
    # learning rate and steps of batch 4096 kept; the target updated every N steps)
    "batch_4096": _n(72.5, "Table 16", "batch 4096"),
    "batch_2048": _n(72.4, "Table 16", "batch 2048 (accumulated)"),
    "batch_1024": _n(72.2, "Table 16", "batch 1024 (accumulated)"),
    "batch_512": _n(72.2, "Table 16", "batch 512 (accumulated)"),
    "batch_256": _n(71.8, "Table 16", "batch 256 (accumulated)"),
    "batch_128": _n(69.6, "Table 16", "batch 128 (accumulated)", spread=0.5),
    "batch_64": _n(59.7, "Table 16", "batch 64 (accumulated)", spread=1.5),
    "simclr_batch_4096": _n(67.9, "Table 16", "SimCLR (repro), batch 4096"),
    "simclr_batch_64": _n(59.2, "Table 16", "SimCLR (repro), batch 64", spread=2.9),
    # Appendix G: a real batch of 512
    "batch_512_real": _n(73.7, "Appendix G", "batch 512 over 64 TPU cores, 1000 epochs, base lr 0.4, τ_base = 0.9995, wd 1.5e-6",
                         "ImageNet, ResNet-50, 1000 epochs, linear top-1"),
    # Table 17 (Figure 3b): image augmentations
    "augment_baseline": _n(72.5, "Table 17", "baseline augmentations"),
    "no_colour": _n(63.4, "Table 17", "remove colour (jittering and grayscale)", spread=0.7),
    "simclr_no_colour": _n(45.7, "Table 17", "SimCLR (repro), remove colour"),
    "crop_only": _n(59.4, "Table 17", "crop only", spread=0.3),
    "simclr_crop_only": _n(40.3, "Table 17", "SimCLR (repro), crop only", spread=0.3),
    "crop_flip_only": _n(60.1, "Table 17", "crop and flip only", spread=0.3),
    "simclr_crop_flip_only": _n(40.2, "Table 17", "SimCLR (repro), crop and flip only"),
    # Table 19: Table 5b again, with a stop gradient of the online network as a third kind of target
    "sg_online_predictor": _n(5.5, "Table 19", "predictor, target sg(θ) (τ = 0 with stop-gradient), β = 0"),
    "online_predictor": _n(0.3, "Table 19", "predictor, target θ (no stop-gradient), β = 0"),
    "sg_online_no_predictor": _n(0.1, "Table 19", "no predictor, target sg(θ), β = 0"),
    # Table 20: the normalisation in the loss
    "loss_no_normalisation": _n(67.4, "Table 20", "no normalisation of prediction and target"),
    # Table 21: τ = 0 ("directly hard copying the weights of the online network into the target")
    # with the predictor's learning rate multiplied by λ
    "lambda_0": _n(0.01, "Table 21", "τ = 0, predictor lr × λ = 0"),
    "lambda_1": _n(5.5, "Table 21", "τ = 0, predictor lr × λ = 1"),
    "lambda_2": _n(62.8, "Table 21", "τ = 0, predictor lr × λ = 2", spread=1.5),
    "lambda_10": _n(66.6, "Table 21", "τ = 0, predictor lr × λ = 10"),
    "lambda_20": _n(66.3, "Table 21", "τ = 0, predictor lr × λ = 20", spread=0.3),
    "lambda_baseline": _n(72.5, "Table 21", "baseline (τ_base = 0.99)"),
    # §5, "Importance of a near-optimal predictor": no target network
    "optimal_linear_predictor": _n(52.5, "§5", "no target network, optimal linear predictor on each batch"),
    "faster_predictor": _n(66.5, "§5", "no target network, the predictor's learning rate increased"),
}

# Settings the paper states (not accuracies): the numbers that may stand beside its accuracies.
SETTINGS: dict[str, tuple[float, ...]] = {
    "Table 1": (1, 2, 50, 200),
    "Table 2": (1, 10),  # % of the labels
    "Table 5a": (1, 0.999, 0.99, 0.9, 0),
    "Table 16": (4096, 2048, 1024, 512, 256, 128, 64),
    "Table 21": (0, 1, 2, 10, 20),
    "Appendix G": (512, 1000, 0.4, 0.9995, 1.5e-6),
    "Table 17": (8, 100),  # crop area 8–100% (Appendix B)
}


# Other names the course uses for the same places.
ALIASES: dict[str, tuple[str, ...]] = {
    "Table 5": ("Table 5a", "Table 5b"),
    "Figure 3a": ("Table 16",), "Figure 3b": ("Table 17",), "Figure 3": ("Table 16", "Table 17"),
    "§5": ("§5", "Table 5a", "Table 5b", "Table 16", "Table 17"),  # the ablations' section holds these tables
    "§3": ("§3", "Table 5a"),  # §3 quotes Table 5a's τ = 1 row beside the random network's 1.4%
    "Appendix F.2": ("Table 16",), "Appendix F.3": ("Table 17",), "Appendix I": ("Table 21",),
}


def places(where: str) -> tuple[str, ...]:
    """The table's own names for a place as the text may cite it: "Fig. 3b" → ("Table 17",)."""
    where = where.replace("Fig. ", "Figure ").replace("App. ", "Appendix ")
    return ALIASES.get(where, (where,))


def at(where: str) -> list[PaperNumber]:
    """Every number the table holds for one place of the paper ("Table 5" means 5a and 5b)."""
    names = places(where)
    return [n for n in NUMBERS.values() if n.where in names]


def quote(key: str) -> str:
    """The number as the notebooks print it, with its place: "0.3% (Table 5a)", "18.8% ± 0.7 (Table 5a)"."""
    try:
        return str(NUMBERS[key])
    except KeyError:
        raise KeyError(f"no paper number called {key!r}; the table has: {', '.join(NUMBERS)}.") from None
