"""Tests of the collapse lab's default suite: seeds, the λ sweep, the continuations from a healthy
start, results.json's schema, the tables' spread and 'separated', and the λ slider.

One tiny suite (smoke network, 256 images, 2 epochs; 2 seeds, 2 λ, 6-step continuations) is run
once for the module, about 30 s on 2 cores.
"""

from __future__ import annotations

import json

import pytest
import torch

from byol_course import collapse
from byol_course.collapse import LabSizes

FINAL_KEYS = {"knn_top1", "linear_top1", "embedding_std", "effective_rank"}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    torch.set_num_threads(1)
    base, _ = collapse.lab_config("smoke")
    base.train.epochs, base.train.device = 2, "cpu"
    sizes = LabSizes(train_images=256, bank_images=256, test_images=128)
    cache = tmp_path_factory.mktemp("suite")
    data = collapse.load_lab_data(base, sizes)
    s = collapse.run_suite("smoke", cache=cache / "cache", progress=False, base=base, sizes=sizes, data=data)
    paths = collapse.write_report(s.results, cache / "report", data, healthy=s.healthy, lambdas=s.lambdas)
    return s, paths, base


def test_core_set_runs_every_seed(suite) -> None:
    s, _, _ = suite
    seeds, _ = collapse.suite_plan("smoke")
    groups = collapse.by_experiment(s.results)
    assert list(groups) == collapse.CORE
    for name, runs in groups.items():
        assert sorted(r["config"]["train"]["seed"] for r in runs) == sorted(seeds), name
    # different seeds are different runs: the weights start elsewhere, so the numbers differ
    base = groups["baseline"]
    assert base[0]["key"] != base[1]["key"] and base[0]["final"]["embedding_std"] != base[1]["final"]["embedding_std"]


def test_lambda_sweep_changes_only_the_predictor_rate(suite) -> None:
    s, _, base = suite
    _, lambdas = collapse.suite_plan("smoke")
    assert [r["name"] for r in s.lambdas] == lambdas
    for r in s.lambdas:
        lam = float(r["name"].rsplit("_", 1)[1])
        assert r["config"]["optim"]["predictor_lr_scale"] == lam and r["config"]["train"]["tau_base"] == 0.0
    # λ = 1 is τ = 0 itself: the same run, read from the cache the core set filled
    one = next(r for r in s.lambdas if r["name"] == "tau_0_lambda_1")
    tau_0 = next(r for r in s.results if r["name"] == "tau_0" and r["config"]["train"]["seed"] == one["config"]["train"]["seed"])
    assert one["key"] == tau_0["key"] and one["final"] == tau_0["final"]


def test_continuations_start_from_the_trained_baseline(suite) -> None:
    s, _, _ = suite
    sizes = collapse.healthy_sizes("smoke")
    assert [r["name"] for r in s.healthy] == list(collapse.HEALTHY)
    starts = {r["start"] for r in s.healthy}
    baseline_seed0 = next(r for r in s.results if r["name"] == "baseline" and r["config"]["train"]["seed"] == 0)
    assert starts == {baseline_seed0["key"]}
    for r in s.healthy:
        steps = [h["step"] for h in r["history"]]
        assert steps == list(range(0, sizes.steps + 1, sizes.every)), r["name"]  # every few steps, not per epoch
        # every continuation starts from the same trained network: the same first measurement
        assert r["history"][0]["embedding_std"] == pytest.approx(s.healthy[0]["history"][0]["embedding_std"])
        # start and end are read on the same images: the last record and the final measurement agree
        assert r["final"]["embedding_std"] == pytest.approx(r["history"][-1]["embedding_std"]), r["name"]
    knn_steps = [h["step"] for h in s.healthy[0]["history"] if "knn_top1" in h]
    assert knn_steps[0] == 0 and knn_steps[-1] == sizes.steps and len(knn_steps) < len(s.healthy[0]["history"])
    no_pred = next(r for r in s.healthy if r["name"] == "healthy_no_predictor")
    assert no_pred["config"]["network"]["predictor"] is False


def test_results_json_schema(suite) -> None:
    s, paths, _ = suite
    entries = json.loads(paths["json"].read_text())
    assert len(entries) == len(s.results) + len(s.lambdas) + len(s.healthy)
    for e in entries:
        assert isinstance(e["name"], str) and isinstance(e["config"]["train"]["seed"], int)
        assert FINAL_KEYS <= set(e["final"]), e["name"]
        assert all(0.0 <= e["final"][k] <= 1.0 for k in ("knn_top1", "linear_top1")), e["name"]
        assert e["final"]["embedding_std"] >= 0 and e["final"]["effective_rank"] >= 1
        assert isinstance(e["proj_dim"], int) and e["proj_dim"] > 0
        assert e["history"] and all({"step", "embedding_std"} <= set(h) for h in e["history"]), e["name"]
        assert [h["step"] for h in e["history"]] == sorted(h["step"] for h in e["history"])
        assert "umap" not in e and "projection_2d" not in e  # the pictures stay in the cache
    for name in ("table", "curves", "spectra", "projections", "healthy", "lambda"):
        assert paths[name].stat().st_size > 0, name
    md = paths["table"].read_text()
    assert "## τ = 0, the predictor's learning rate × λ" in md and "## From a healthy start" in md
    assert "62.8%" in md  # Table 21's λ = 2, beside our λ rows


def test_table_shows_mean_and_range_over_seeds(suite) -> None:
    s, _, _ = suite
    runs = collapse.by_experiment(s.results)["baseline"]
    mean, lo, hi = collapse.spread(runs, "knn_top1")
    assert lo <= mean <= hi
    row = next(line for line in collapse.results_table(s.results).splitlines() if line.startswith("| baseline BYOL"))
    assert f"{mean:.1%} ({lo:.1%}–{hi:.1%})" in row and "| 2 |" in row


def _runs(*knn: float) -> list[dict]:
    return [{"final": {"knn_top1": x}} for x in knn]


def test_separated_only_when_ranges_do_not_overlap() -> None:
    assert collapse.separated(_runs(0.6, 0.7, 0.65), _runs(0.1, 0.2, 0.15))
    assert not collapse.separated(_runs(0.6, 0.3, 0.65), _runs(0.1, 0.4, 0.15))  # one seed of each overlaps
    assert not collapse.separated(_runs(0.1, 0.2), _runs(0.6, 0.7))  # the other way round


def test_lambda_slider_shows_each_cached_run(suite) -> None:
    s, _, _ = suite
    slider = collapse.LambdaSlider(s.lambdas)
    assert sorted(slider.runs) == [0.0, 1.0, 2.0]
    text = slider.show(0.0)
    r = next(r for r in s.lambdas if r["name"] == "tau_0_lambda_0")
    assert f"kNN {r['final']['knn_top1']:.1%}" in text and "0.01%" in text  # ours, and Table 21's λ = 0
    assert "was not run" in slider.show(7.0)
    slider.slider.value = 1.0  # moving the slider redraws without raising
    with pytest.raises(ValueError, match="λ sweep"):
        collapse.LambdaSlider(s.results)
