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
from its last epoch. `python -m byol_course collapse` runs the same set headless.
"""

from .experiments import CORE, EXPERIMENTS, LAB_VERSION, Experiment, LabSizes, custom_config, experiment_config, lab_config, run_key
from .report import plot_curves, plot_projections, plot_spectra, plot_umaps, results_table, verdict, write_report
from .runner import LabData, load_lab_data, projection_2d, run_experiment, run_lab, summary
from .widget import LabPanel

__all__ = [
    "Experiment", "EXPERIMENTS", "CORE", "LAB_VERSION", "LabSizes", "lab_config", "experiment_config", "custom_config",
    "run_key", "LabData", "load_lab_data", "run_experiment", "run_lab", "projection_2d", "summary", "verdict",
    "results_table", "plot_curves", "plot_spectra", "plot_umaps", "plot_projections", "write_report", "LabPanel",
]
