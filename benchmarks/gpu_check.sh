#!/usr/bin/env bash
# The GPU check: one command for a bare device machine (no registry, no .venv, nothing installed),
# run from the repository root with the machine's own python3 and PYTHONPATH=. (no install of the
# project). What it needs beyond torch and torchvision travels in .whl/ and the CIFAR-10 zips in
# .cifar10/ (both prepared here by `make gpu-prepare`; benchmarks/gpu_prepare.py prints the call):
#
#   bash benchmarks/gpu_check.sh --out $OUT/gpu_check.json            # the device run: about 9 minutes
#   bash benchmarks/gpu_check.sh --tiny --host-wheels .whl-host ...    # what `make gpu-rehearsal` runs on the CPU
#
# 1. installs from .whl/ what this python3 lacks (benchmarks/install_wheels.py, never a registry);
# 2. runs benchmarks/gpu_check.py: the CUDA-only tests, fp16 + GradScaler and bf16 steps, the step
#    benchmark against lightly (2 and 16 DataLoader workers) and byol-pytorch, a time-budgeted
#    ResNet-18 pretraining on CIFAR-10 with kNN at the end, and torch.compile on vs off; every section
#    into one JSON (written again after each section, atomically), each failure recorded, not fatal.
#
# Options: --host-wheels DIR (rehearsal: wheels standing in for the device image's packages),
# --strict-install (stop if a wheel is missing or fails), PY=python3 (the interpreter); the rest
# goes to gpu_check.py (--out, --tiny, --data, --deadline, --sections; see its --help).
set -uo pipefail
STARTED=$(date +%s.%N)
cd "$(dirname "$0")/.."
PY=${PY:-python3}
HOST=""; STRICT=""; PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --host-wheels) HOST=$2; shift 2 ;;
    --strict-install) STRICT=--strict; shift ;;
    *) PASS+=("$1"); shift ;;
  esac
done
SITE=$(mktemp -d /tmp/byol-site.XXXXXX)
echo "== installing missing wheels into $SITE"
"$PY" benchmarks/install_wheels.py --target "$SITE" --wheels .whl ${HOST:+--host-wheels "$HOST"} \
  --report "$SITE/install-report.json" $STRICT || exit 1
export PYTHONPATH=".:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
"$PY" benchmarks/gpu_check.py --started "$STARTED" --install-report "$SITE/install-report.json" "${PASS[@]}"
rc=$?
rm -rf "$SITE"
exit $rc
