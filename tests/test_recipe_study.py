"""benchmarks/recipe_study.py runs its train mode end to end on the current API (a smoke run: a few steps, a few hundred images)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "recipe_study.py"


def _load_script(monkeypatch):
    """Import the script from its path; its OMP defaults are set (and undone) here, not left in the test process."""
    for name in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY"):
        monkeypatch.setenv(name, os.environ.get(name, "1" if name == "OMP_NUM_THREADS" else "PASSIVE"))
    spec = importlib.util.spec_from_file_location("recipe_study", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fractions(metrics: dict) -> list[float]:
    keys = ("knn_top1", "knn_std_top1", "linear_top1", "linear_val_top1")
    return [metrics[k] for k in keys] + list(metrics["nuisance_knn"].values() if "nuisance_knn" in metrics else [])


def test_train_mode_writes_a_row_for_the_smallest_variant(tmp_path: Path, monkeypatch, one_thread, capsys) -> None:
    study = _load_script(monkeypatch)
    assert {"base", "recommended"} <= set(study.VARIANTS)
    out = tmp_path / "study.json"
    study.main(["train", "--variants", "base", "--steps", "2", "--n-train", "128", "--n-test", "100",
                "--supervised", "--supervised-steps", "2", "--threads", "1", "--out", str(out)])

    blob = json.loads(out.read_text())
    assert list(blob["rows"]) == ["base"] and "knn_cross_validated" in blob["protocol"]
    row = blob["rows"]["base"]
    assert {"variant", "config", "steps", "epochs", "random_init", "byol", "supervised", "final_loss", "train_seconds",
            "overrides", "measured"} <= set(row)
    assert row["overrides"] == {"steps": 2, "n_train": 128, "n_test": 100}
    assert row["epochs"] == 1 and row["steps"] == 2 and row["images_seen"] == 128  # 128 // 64 = 2 steps an epoch
    assert row["config"]["train"]["tau_base"] == 0.96 and row["config"]["augment"]["view1"]["crop_scale"] == [0.2, 1.0]  # pinned
    assert math.isfinite(row["final_loss"]) and 0.0 <= row["final_loss"] <= 8.0  # 2 × (2 − 2·cos) per pair
    for part in ("random_init", "byol"):
        values = _fractions(row[part])
        assert len(values) == 4 + 9 and all(0.0 <= x <= 1.0 for x in values), (part, row[part])
        assert sum(map(sum, row[part]["knn_confusion"])) == 100  # every test image once
    sup = row["supervised"]
    assert sup["steps"] == 2 and 0.0 <= sup["classifier_top1"] <= 1.0 and all(0.0 <= x <= 1.0 for x in _fractions(sup))
    assert row["measured"]["command"].startswith("python benchmarks/recipe_study.py train --variants base")
    assert "| base | 2 × 64 |" in capsys.readouterr().out


def test_smoke_overrides_never_write_to_the_study_results(monkeypatch) -> None:
    study = _load_script(monkeypatch)
    try:
        study.main(["train", "--variants", "base", "--steps", "2"])
    except SystemExit as e:
        assert "another --out" in str(e)
    else:
        raise AssertionError("a smoke run into benchmarks/results/recipe_study.json was not refused")
