#!/usr/bin/env bash
# Create benchmarks/.venv for `make bench`: it sees the course's environment (.venv: torch,
# torchvision, byol_course) through a .pth file and adds the peers (requirements.txt) on top,
# with torch and torchvision pinned to the course's versions so that pip never pulls another
# torch. The course's own environment is never changed.
#   benchmarks/make_env.sh [--wheels DIR]   # DIR: install the peers offline from downloaded wheels
set -euo pipefail
cd "$(dirname "$0")/.."
COURSE_PY=${COURSE_PY:-.venv/bin/python}
BENCH=benchmarks/.venv
WHEELS=""
if [ "${1:-}" = "--wheels" ]; then WHEELS=$2; fi
[ -x "$BENCH/bin/python" ] || "$COURSE_PY" -m venv "$BENCH"
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
echo "import site; site.addsitedir('$(cd "$(purelib "$COURSE_PY")" && pwd)')" > "$(purelib "$BENCH/bin/python")/_byol_course_env.pth"
"$COURSE_PY" -c 'import torch, torchvision as tv; v = lambda s: s.split("+")[0]; print(f"torch=={v(torch.__version__)}\ntorchvision=={v(tv.__version__)}")' > "$BENCH/constraints.txt"
if [ -n "$WHEELS" ]; then
  "$BENCH/bin/python" -m pip install --quiet --no-index --find-links "$WHEELS" -c "$BENCH/constraints.txt" -r benchmarks/requirements.txt
else
  "$BENCH/bin/python" -m pip install --quiet -c "$BENCH/constraints.txt" -r benchmarks/requirements.txt
fi
touch "$BENCH/.installed"
echo "benchmarks/.venv ready: $("$BENCH/bin/python" -c 'import lightly, byol_pytorch, torch; print("lightly", lightly.__version__, "| torch", torch.__version__)')"
