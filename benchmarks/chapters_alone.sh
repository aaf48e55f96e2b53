#!/usr/bin/env bash
# Every chapter alone, each in an empty folder, from a wheel of the checkout (not the editable install),
# in smoke or classroom mode: wall time, CPU time and peak memory per chapter, as a student's machine sees them.
# Usage: bash benchmarks/chapters_alone.sh classroom [WORKDIR]   -> WORKDIR/classroom/results.txt
#        CHAPTERS="07 09" bash benchmarks/chapters_alone.sh classroom   # only those chapters (merge their lines by hand)
set -u
MODE=${1:?usage: benchmarks/chapters_alone.sh smoke|classroom [WORKDIR]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${2:-/tmp/byol-chapters-alone}/$MODE; rm -rf $W; mkdir -p $W/wheels
cd $ROOT && .venv/bin/python -m pip wheel -q --no-deps --no-build-isolation --wheel-dir $W/wheels . || exit 1
python3 -m venv --without-pip $W/venv
PURE=$($W/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
.venv/bin/python -c "import site; print(site.getsitepackages()[0])" > $PURE/zz_course_venv_packages.pth
.venv/bin/python -m pip install -q --no-deps --target $PURE $W/wheels/byol_course-*.whl
mkdir -p $W/kernels/standalone
printf '{"argv": ["%s", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "standalone", "language": "python"}' $W/venv/bin/python > $W/kernels/standalone/kernel.json
export JUPYTER_PATH=$W BYOL_COURSE_DATA=$ROOT/data
unset BYOL_COURSE_LAB_CACHE
if [ "$MODE" = smoke ]; then export BYOL_COURSE_SMOKE=1; else unset BYOL_COURSE_SMOKE; fi
echo "chapter wall_s cpu_s maxrss_MiB rc" > $W/results.txt
for nb in $ROOT/notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename $nb .ipynb)
  if [ -n "${CHAPTERS:-}" ] && ! [[ " $CHAPTERS " == *" ${name:0:2} "* ]]; then continue; fi
  d=$W/run/$name; mkdir -p $d; cp $nb $d/
  ( cd $d && /usr/bin/time -f "%e %U %S %M" -o $d/time.txt $ROOT/.venv/bin/jupyter nbconvert --to notebook --execute \
      --ExecutePreprocessor.kernel_name=standalone --ExecutePreprocessor.timeout=1800 $name.ipynb --output out.ipynb > $d/log.txt 2>&1 )
  rc=$?
  read -r wall user sys rss < $d/time.txt 2>/dev/null || true
  echo "$name $wall $(python3 -c "print(round($user+$sys,1))") $(python3 -c "print(round($rss/1024))") $rc" | tee -a $W/results.txt
done
echo DONE
