"""Chapter 9 — the collapse lab: which ingredients keep BYOL from collapsing?

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
from its last epoch. Finished runs are also read from read-only stores (store.py): a class's
shared cache and the course's precomputed runs. `python -m byol_course collapse` runs the
same set headless.
"""

from .experiments import (
    CORE, EXPERIMENTS, KNN_K, LAB_VERSION, LAMBDA_SWEEP, LAMBDAS, SEEDS, Experiment, LabSizes, custom_config, experiment_config,
    lab_config, run_key, with_seed,
)
from .healthy import HEALTHY, HealthySizes, healthy_config, run_from_healthy, run_healthy
from .plots import plot_curves, plot_healthy, plot_lambda, plot_projections, plot_spectra, plot_umaps
from .report import by_experiment, healthy_table, results_table, separated, spread, verdict, write_report
from .runner import LabData, cache_folder, load_lab_data, projection_2d, run_experiment, run_lab, summary
from .store import CLASS_CACHE_VARIABLE, Store, StoreWarning, class_cache, precomputed, read_sources, where_from
from .suite import Suite, healthy_sizes, run_suite, suite_plan
from .widget import LabPanel, LambdaSlider

__all__ = [
    "Experiment", "EXPERIMENTS", "CORE", "LAMBDAS", "LAMBDA_SWEEP", "SEEDS", "LAB_VERSION", "KNN_K", "LabSizes", "lab_config",
    "experiment_config", "custom_config", "with_seed", "run_key", "LabData", "load_lab_data", "cache_folder",
    "run_experiment", "run_lab", "projection_2d", "summary", "HEALTHY", "HealthySizes", "healthy_config",
    "run_from_healthy", "run_healthy", "verdict", "by_experiment", "spread", "separated", "results_table",
    "healthy_table", "plot_curves", "plot_spectra", "plot_umaps", "plot_projections", "plot_healthy", "plot_lambda",
    "write_report", "LabPanel", "LambdaSlider", "Suite", "healthy_sizes", "run_suite", "suite_plan",
    "CLASS_CACHE_VARIABLE", "Store", "StoreWarning", "class_cache", "precomputed", "read_sources", "where_from",
]  # fmt: skip
