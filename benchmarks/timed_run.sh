#!/usr/bin/env bash
# Run a command and report its wall time, its own CPU time, and how many cores OTHER processes
# kept busy meanwhile (from /proc/stat), with the load average before and after: on a shared
# 2-core machine a wall time means little without them.
#   bash benchmarks/timed_run.sh LOGFILE command args...
set -euo pipefail
log=$1; shift
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }  # user nice system irq softirq steal, in ticks
hz=$(getconf CLK_TCK)
load0=$(cut -d' ' -f1-3 /proc/loadavg); b0=$(busy); t0=$(date +%s.%N)
/usr/bin/time -f "%e %U %S" -o "$log.time" "$@" 2>&1 | tee "$log"
t1=$(date +%s.%N); b1=$(busy); load1=$(cut -d' ' -f1-3 /proc/loadavg)
read -r wall user sys < "$log.time"
python3 - "$t0" "$t1" "$b0" "$b1" "$hz" "$user" "$sys" "$load0" "$load1" <<'EOF' | tee -a "$log"
import sys
t0, t1, b0, b1, hz, user, sys_ = map(float, sys.argv[1:8])
wall = t1 - t0
others = ((b1 - b0) / hz - user - sys_) / wall
print(f"timed_run: wall {wall:.1f} s, own CPU {user + sys_:.1f} s, other processes {others:.2f} cores on average, "
      f"load average before {sys.argv[8]}, after {sys.argv[9]}")
EOF
