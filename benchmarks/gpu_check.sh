#!/usr/bin/env bash
# The GPU check, in one go, for a machine with a CUDA GPU (run from anywhere):
#   1. the unit tests (the CUDA-only ones run there, the rest as on CPU);
#   2. the step benchmark against lightly and byol-pytorch (benchmarks/bench_step.py);
#   3. ResNet-18 pretraining on the CIFAR-10 JPEGs for as many epochs as fit in --minutes
#      (benchmarks/pretrain_timed.py: epoch time and kNN accuracy per epoch);
#   4. everything in one JSON file (--out).
#
#   bash benchmarks/gpu_check.sh [--out FILE] [--data DIR] [--minutes 7] [--wheels DIR] [--tests "PYTEST ARGS"|none]
#   bash benchmarks/gpu_check.sh --tiny --no-peer-install --peers none   # CPU, tiny sizes: what the tests run
#
# --no-peer-install: do not pip-install the peers; they are measured only if benchmarks/.venv
#   already has them (a machine without a package registry). --peers auto|all|none: which peers
#   the step benchmark runs (default auto: those installed). --wheels DIR: install them offline
#   from wheels downloaded beforehand (pip download -r benchmarks/requirements.txt -d DIR).
# --tests: what step 1 runs (default: tests -m "not slow", about 2 min; none skips it, e.g. to fit a
#   10-minute limit per command: run the tests in one call and the rest in another).
# --data: a folder with cifar10-jpg-{train,test}.zip, or with train/ and test/ class folders
#   (default ../shared/data; the generated embedded dataset when it is absent).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/results/gpu_check.json; DATA=../shared/data; MINUTES=7; TINY=0; INSTALL=1; WHEELS=""; PEERS=auto; TESTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --minutes) MINUTES=$2; shift 2 ;;
    --wheels) WHEELS=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --tests) TESTS=$2; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --no-peer-install) INSTALL=0; shift ;;
    *) echo "gpu_check.sh: unknown option $1 (see the header of this script)" >&2; exit 2 ;;
  esac
done
PY=${PY:-.venv/bin/python}; [ -x "$PY" ] || PY=python3
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
note() { echo "== $*"; }

if [ "$INSTALL" = 1 ] && [ "$PEERS" != none ]; then
  note "installing the peers into benchmarks/.venv"
  if [ -n "$WHEELS" ]; then COURSE_PY=$PY bash benchmarks/make_env.sh --wheels "$WHEELS"; else COURSE_PY=$PY bash benchmarks/make_env.sh; fi \
    || note "the peers could not be installed; the step benchmark runs without them"
fi
BENCH_PY=$PY; [ -x benchmarks/.venv/bin/python ] && benchmarks/.venv/bin/python -c 'import byol_course' 2>/dev/null && BENCH_PY=benchmarks/.venv/bin/python

if [ "$TINY" = 1 ]; then
  TESTS=${TESTS:-tests/test_objective.py}; STEP_ARGS="--tiny --device cpu --no-memory"; PRE_ARGS="--tiny --device cpu"
else
  TESTS=${TESTS:-'tests -m "not slow"'}; STEP_ARGS="--device cuda --workers 2"; PRE_ARGS="--device auto"
fi

note "1/3 unit tests ($TESTS)"
t0=$(date +%s)
if [ "$TESTS" = none ]; then
  echo "skipped (--tests none)" > "$TMP/tests.log"; TESTS_RC=0
else
  eval "\"\$PY\" -m pytest -q -p no:cacheprovider $TESTS" > "$TMP/tests.log" 2>&1; TESTS_RC=$?
fi
tail -3 "$TMP/tests.log"
TESTS_SECONDS=$(( $(date +%s) - t0 ))

note "2/3 step benchmark ($BENCH_PY)"
"$BENCH_PY" benchmarks/bench_step.py $STEP_ARGS --peers "$PEERS" --json "$TMP/step.json"; STEP_RC=$?

note "3/3 timed pretraining ($MINUTES min budget)"
"$PY" benchmarks/pretrain_timed.py $PRE_ARGS --minutes "$MINUTES" --data "$DATA" --json "$TMP/pretrain.json"; PRE_RC=$?

note "writing $OUT"
mkdir -p "$(dirname "$OUT")"
"$PY" - "$TMP" "$OUT" "$TESTS_RC" "$TESTS_SECONDS" "$STEP_RC" "$PRE_RC" "$TESTS" <<'PYEOF'
import json, subprocess, sys
from pathlib import Path
tmp, out, tests_rc, tests_s, step_rc, pre_rc, tests = sys.argv[1:]
def read(name):
    p = Path(tmp) / name
    return json.loads(p.read_text()) if p.is_file() else None
log = (Path(tmp) / "tests.log").read_text().strip().splitlines()
try:
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
except (OSError, subprocess.SubprocessError):
    smi = None
report = {
    "tests": {"paths": tests, "returncode": int(tests_rc), "seconds": int(tests_s), "summary": log[-1] if log else ""},
    "step_benchmark": read("step.json") or {"returncode": int(step_rc)},
    "pretrain": read("pretrain.json") or {"returncode": int(pre_rc)},
    "nvidia_smi": smi,
}
Path(out).write_text(json.dumps(report, indent=2) + "\n")
print(f"wrote {out}")
PYEOF
[ "$TESTS_RC" = 0 ] && [ "$STEP_RC" = 0 ] && [ "$PRE_RC" = 0 ]
