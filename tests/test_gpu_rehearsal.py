"""make gpu-rehearsal: the device command on the CPU with tiny sizes, in a fresh torch-only environment.

benchmarks/gpu_rehearsal.sh builds a new venv that sees only torch, torchvision and their
dependencies, puts its python3 first on PATH and runs benchmarks/gpu_check.sh --tiny from the
repository root, exactly as the device runs it (wheels from .whl/, PYTHONPATH=.). With .whl/ and
.whl-host/ present (make gpu-prepare) every section must pass with both peers installed from
the wheels; without them (a fresh clone, CI) the rehearsal is partial and this test, after
checking everything else, skips with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_rehearsal_runs_the_device_command_in_a_torch_only_environment(tmp_path: Path) -> None:
    build = tmp_path / "rehearsal"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PY")}
    env.update(COURSE_PY=sys.executable, BUILD=str(build), OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "benchmarks/gpu_rehearsal.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    summary = json.loads((build / "rehearsal.json").read_text()) if (build / "rehearsal.json").is_file() else None
    assert done.returncode == 0 and summary is not None, done.stdout[-4000:] + done.stderr[-3000:]
    assert summary["problems"] == []
    # the environment it ran in: torch, torchvision, their dependencies and pip, nothing of the course's
    assert {"torch", "torchvision", "pip"} <= set(summary["environment"])
    assert not {"tqdm", "pytest", "lightly", "matplotlib", "scikit-learn"} & set(summary["environment"]) - set(
        json.loads((build / "env.json").read_text()).get("added", [])
    )
    report = json.loads((build / "gpu_check.json").read_text())
    assert [n for n, s in report["sections"].items() if s["ok"]] == ["env", "tests", "precision", "step", "compile", "pretrain"]
    assert report["sections"]["step"]["result"]["results"]["byol_course"]["images_per_s"] > 0
    assert report["sections"]["pretrain"]["result"]["epochs_done"] >= 1
    if summary["mode"] != "full":
        pytest.skip("partial rehearsal: .whl/ or .whl-host/ is absent (run `make gpu-prepare`, which needs PyPI), so the "
                    "peers' wheels were not installed and the step benchmark ran without lightly and byol-pytorch; "
                    "every other section passed")
    assert summary["wheel_errors"] == [] and {"lightly", "byol-pytorch", "hydra-core"} <= set(summary["wheels_installed"])
    assert {"byol-pytorch", "lightly (1 workers)", "lightly (2 workers)"} <= set(summary["peers_run"])
