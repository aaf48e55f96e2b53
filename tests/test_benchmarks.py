"""The benchmark scripts run end to end (tiny sizes, CPU). The CUDA-only checks are in test_cuda.py;
the full rehearsal of the device run (a torch-only environment, the carried wheels) in test_gpu_rehearsal.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_driver_writes_one_json_with_every_section_it_ran(tmp_path: Path) -> None:
    """gpu_check.sh --tiny in the course's own environment (its wheel step finds the course's packages and
    records what it cannot install): env, the CUDA-only tests (skipped here), precision and pretraining."""
    out = tmp_path / "check.json"
    env = {**os.environ, "PY": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--tiny", "--sections", "env,tests,precision,pretrain", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert list(report["sections"]) == ["env", "tests", "precision", "pretrain"]
    assert all(s["ok"] for s in report["sections"].values())
    env_result = report["sections"]["env"]["result"]
    assert env_result["torch"] == __import__("torch").__version__ and env_result["date_utc"] and "wheel_install" in env_result
    tests = report["sections"]["tests"]["result"]["counts"]
    assert tests.get("skipped", 0) >= 1 and not tests.get("failed") and not tests.get("error")  # no CUDA here
    modes = report["sections"]["precision"]["result"]["modes"]
    assert set(modes) == {"fp32", "bf16", "fp16+scaler"} and all(m["ok"] for m in modes.values())
    pre = report["sections"]["pretrain"]["result"]
    assert pre["epochs_done"] == pre["epochs_planned"] >= 1 and 0.0 <= pre["final_knn_top1"] <= 1.0
    assert all(e["train_epoch_seconds"] > 0 for e in pre["epochs"])
    assert out.with_suffix(".log").is_file()
