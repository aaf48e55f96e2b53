#!/usr/bin/env bash
# make gpu-rehearsal: the device command (benchmarks/gpu_check.sh), here on the CPU with tiny sizes, in a
# fresh environment that has only torch and torchvision (benchmarks/torch_only_env.py: a new venv that
# sees the course environment's torch, torchvision and their dependencies, nothing else), run as on
# the device: from the repository root, with that environment's python3 first on PATH, PYTHONPATH
# unset, the same wheel step from .whl/. So a dependency missing from .whl/ fails here, not there.
#
# The device image's own packages (pytest, tqdm, pytorch-lightning, ...: benchmarks/gpu_wheels.txt's
# `image` lines) come from .whl-host/ (make gpu-prepare). Where .whl-host/ is absent (a fresh clone,
# CI), the rehearsal is partial: the stand-ins the course environment has (pytest, tqdm) are linked
# in, the peers cannot be installed and the step benchmark runs without them; it says so.
#
#   COURSE_PY=.venv/bin/python BUILD=build/gpu-rehearsal bash benchmarks/gpu_rehearsal.sh
set -euo pipefail
cd "$(dirname "$0")/.."
COURSE_PY=${COURSE_PY:-.venv/bin/python}
BUILD=${BUILD:-build/gpu-rehearsal}
start=$(date +%s)
mkdir -p "$BUILD"
rm -rf "$BUILD/venv" "$BUILD/torch-only-site" "$BUILD/gpu_check.json" "$BUILD/gpu_check.log"
WITH=()
if [ -d .whl-host ] && [ -d .whl ]; then
  MODE=full
else
  MODE=partial
  WITH=(--with $(awk '!/^#/ && $2 == "image" {split($1, a, "=="); print a[1]}' benchmarks/gpu_wheels.txt))
  echo "== partial rehearsal: .whl/ or .whl-host/ is absent (make gpu-prepare fetches them); the peers will be missing"
fi
env -u PYTHONPATH "$COURSE_PY" benchmarks/torch_only_env.py --venv "$BUILD/venv" --json "$BUILD/env.json" "${WITH[@]}"
BIN=$(cd "$BUILD/venv/bin" && pwd)
found=$(PATH="$BIN:$PATH" command -v python3)
[ "$found" = "$BIN/python3" ] || { echo "python3 on PATH is $found, not the rehearsal's $BIN/python3" >&2; exit 1; }
set +e
env -u PYTHONPATH -u PY PATH="$BIN:$PATH" OMP_NUM_THREADS=1 \
  bash benchmarks/gpu_check.sh --tiny --out "$BUILD/gpu_check.json" \
  $([ "$MODE" = full ] && echo "--host-wheels .whl-host --strict-install")
rc=$?
set -e
"$COURSE_PY" - "$BUILD" "$MODE" "$rc" "$(( $(date +%s) - start ))" <<'PYEOF'
import json, sys
from pathlib import Path
build, mode, rc, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
report = json.loads((build / "gpu_check.json").read_text()) if (build / "gpu_check.json").is_file() else {"sections": {}}
problems = [f"{n}: {s['error']}" for n, s in report["sections"].items() if not s["ok"]]
expected = ["env", "tests", "precision", "step", "compile", "pretrain"]
if list(report["sections"]) != expected:
    problems.append(f"sections {list(report['sections'])}, expected {expected}")
install = ((report["sections"].get("env") or {}).get("result") or {}).get("wheel_install") or {}
step = ((report["sections"].get("step") or {}).get("result") or {}).get("results") or {}
peers = sorted(n for n in step if n != "byol_course")
if mode == "full":
    if install.get("errors"):
        problems.append(f"wheel install errors: {install['errors']}")
    for want in ("byol-pytorch", "lightly (1 workers)", "lightly (2 workers)"):
        if want not in step:
            problems.append(f"the step benchmark did not run {want}")
summary = {"mode": mode, "seconds": seconds, "returncode": rc, "problems": problems, "peers_run": peers,
           "wheels_installed": sorted(install.get("installed", {})), "wheel_errors": install.get("errors"),
           "environment": json.loads((build / "env.json").read_text())["distributions"]}
(build / "rehearsal.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"\n== gpu-rehearsal ({mode}): {'passed' if not problems and rc == 0 else 'FAILED'} in {seconds} s; "
      f"peers run: {', '.join(peers) or 'none'}; wheels installed: {len(summary['wheels_installed'])}")
for p in problems:
    print(f"   problem: {p}")
sys.exit(0 if not problems and rc == 0 else 1)
PYEOF
