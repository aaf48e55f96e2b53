"""Tests of byol_course.collapse: the ablations collapse (or not) as measured, the cache, the CLI.

The collapse thresholds come from a measured run of exactly this configuration (seed 0, CPU,
torch 2.14.1, 2026-11-30): the tiny smoke network (ConvNet width 4, heads 64 → 32), 512
embedded images, batch 32, 6 epochs (96 steps). Final embedding std (1/√d = 0.177):
baseline 0.142, no predictor 0.021, no stop-gradient 0.022; effective rank 11.2 / 4.9 / 5.0;
cos(random pair) 0.31 / 0.99 / 0.99. The assertions leave a margin of about 2× either way.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from byol_course import collapse
from byol_course.__main__ import main
from byol_course.collapse import LabSizes


def _tiny_lab(epochs: int = 6, n: int = 512):
    base, _ = collapse.lab_config("smoke")
    base.train.epochs, base.train.batch_size, base.train.device = epochs, 32, "cpu"
    return base, LabSizes(train_images=n, bank_images=512, test_images=256)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The three runs the thresholds were measured on (about 30 s on 2 cores)."""
    torch.set_num_threads(1)
    base, sizes = _tiny_lab()
    cache = tmp_path_factory.mktemp("lab")
    results = collapse.run_lab(["baseline", "no_predictor", "no_stop_gradient"], base=base, sizes=sizes, cache=cache, progress=False, umap=False)
    return {r["name"]: r for r in results}, cache, base, sizes


def test_baseline_stays_spread_out(measured) -> None:
    """Baseline BYOL keeps its projections spread over the sphere (measured std 0.142, 80% of 1/√d)."""
    r = measured[0]["baseline"]
    healthy = 1 / math.sqrt(r["proj_dim"])
    assert r["final"]["embedding_std"] > 0.5 * healthy
    assert r["final"]["negative_cosine"] < 0.7  # measured 0.31
    assert collapse.verdict(r) == "healthy"


@pytest.mark.parametrize("name", ["no_predictor", "no_stop_gradient"])
def test_removing_predictor_or_stop_gradient_collapses(measured, name: str) -> None:
    """Without the predictor, or without stop-gradient, every image goes to nearly one point (measured std 0.021)."""
    runs = measured[0]
    r, base = runs[name], runs["baseline"]
    healthy = 1 / math.sqrt(r["proj_dim"])
    assert r["final"]["embedding_std"] < 0.25 * healthy
    assert r["final"]["negative_cosine"] > 0.9  # two random images: nearly parallel projections
    assert r["final"]["embedding_std"] < 0.3 * base["final"]["embedding_std"]
    assert r["final"]["effective_rank"] < 0.75 * base["final"]["effective_rank"]  # measured 5.0 vs 11.2
    assert collapse.verdict(r) == "collapsed"


def test_history_starts_at_the_initial_network(measured) -> None:
    """Epoch 0 is the untrained network; every epoch records the six curves."""
    r = measured[0]["baseline"]
    assert [h["epoch"] for h in r["history"]] == list(range(7))
    for h in r["history"]:
        for key in ("embedding_std", "effective_rank", "knn_top1", "positive_cosine", "negative_cosine"):
            assert math.isfinite(h[key])
    assert all("loss" in h for h in r["history"][1:])
    assert len(r["final"]["spectrum"]) == r["proj_dim"] and 0 <= r["final"]["linear_top1"] <= 1


def test_second_run_reads_the_cache(measured, monkeypatch) -> None:
    """Re-running the lab reads result.json instead of training (pretrain must not be called)."""
    _, cache, base, sizes = measured

    def no_training(*args, **kwargs):
        raise AssertionError("pretrain called for a cached result")

    monkeypatch.setattr(collapse.runner, "pretrain", no_training)
    again = collapse.run_lab(["baseline", "no_predictor"], base=base, sizes=sizes, cache=cache, progress=False, umap=False)
    assert all(r["cached"] for r in again)
    assert again[0]["final"] == measured[0]["baseline"]["final"]


def test_cache_key_depends_on_the_whole_config() -> None:
    base, sizes = _tiny_lab()
    keys = {n: collapse.run_key(collapse.experiment_config(n, base), sizes) for n in collapse.EXPERIMENTS}
    by_key: dict[str, list[str]] = {}
    for name, key in keys.items():
        by_key.setdefault(key, []).append(name)
    # every ablation is a different run, but λ = 1 is the predictor's default rate: τ = 0 itself, cached once
    assert sorted(sorted(names) for names in by_key.values() if len(names) > 1) == [["tau_0", "tau_0_lambda_1"]]
    assert collapse.run_key(base, sizes) == collapse.run_key(collapse.experiment_config("baseline", base), sizes)
    assert collapse.run_key(base, LabSizes(1024, 512, 256)) != collapse.run_key(base, sizes)


def test_experiments_change_what_they_say() -> None:
    base, _ = _tiny_lab()
    c = {n: collapse.experiment_config(n, base) for n in collapse.EXPERIMENTS}
    assert c["no_predictor"].network.predictor is False
    assert (c["tau_0"].train.tau_base, c["tau_0"].train.tau_schedule) == (0.0, False)
    assert (c["tau_1"].train.tau_base, c["tau_1"].train.tau_schedule) == (1.0, False)
    assert c["no_stop_gradient"].train.stop_gradient is False
    assert c["no_norm"].network.head_norm == "none" and c["group_norm_ws"].network.head_norm == "group"
    assert c["no_weight_decay"].optim.weight_decay == 0.0
    assert all(v.jitter_p == v.grayscale_p == v.blur_p == v.solarize_p == 0 for v in (c["crop_only"].augment.view1, c["crop_only"].augment.view2))
    assert c["small_batch"].train.batch_size == base.train.batch_size // 4
    assert base.network.predictor and base.train.stop_gradient  # the base config is not modified
    with pytest.raises(ValueError, match="Unknown experiment 'nope'"):
        collapse.experiment_config("nope", base)


def test_custom_combination_and_panel(tmp_path) -> None:
    """The widget panel's run() trains the selected switches and adds the run to the comparison."""
    base, sizes = _tiny_lab(epochs=1, n=128)
    name, cfg = collapse.custom_config(base, predictor=False, tau=0.0, head_norm="group")
    assert name == "custom: no pred, τ=0, norm=group" and not cfg.network.predictor
    with pytest.raises(ValueError, match="head norm"):
        collapse.custom_config(base, head_norm="layer")
    data = collapse.load_lab_data(base, sizes)
    panel = collapse.LabPanel([], base, sizes, data, tmp_path)
    panel.predictor.value, panel.norm.value = False, "none"
    r = panel.run()
    assert r["label"] == "custom: no pred, norm=none" and panel.results == [r]
    assert not r["config"]["network"]["predictor"] and r["config"]["network"]["head_norm"] == "none"
    assert len(r["umap"]) == sizes.test_images


def test_cli_writes_table_and_figures(tmp_path, capsys) -> None:
    out = tmp_path / "lab"
    rc = main(["collapse", "--mode", "smoke", "--epochs", "1", "--experiments", "baseline,tau_1", "--out", str(out), "--no-progress"])
    assert rc == 0
    for name in ("results.md", "results.json", "curves.png", "spectra.png", "umaps.png", "projections.png"):
        assert (out / name).stat().st_size > 0, name
    table = (out / "results.md").read_text()
    assert "τ = 1 (target stays at init)" in table and "18.8%" in table  # the paper's number beside ours
    assert [r["name"] for r in json.loads((out / "results.json").read_text())] == ["baseline", "tau_1"]
    assert "baseline BYOL" in capsys.readouterr().out


def test_cli_unknown_experiment_is_one_line(tmp_path, capsys) -> None:
    rc = main(["collapse", "--mode", "smoke", "--experiments", "baseline,no_bn", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "no_bn" in err and "no_norm" in err
