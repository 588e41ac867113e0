#!/usr/bin/env bash
# tracer-cpu.sh -- CPU seconds per run of one workload, three ways, for a shared machine whose load
# makes wall-clock medians swing (BENCHMARKS.md, "Tracer"): user+sys of everything a run costs.
#   native  chroot ROOT env -i ... /bin/sh -c W    (/usr/bin/time: the whole tree)
#   tether  through the front end to a warm door: the door's CPU delta (its tracer threads, JIT and GC,
#           and the reaped tracees) plus the front end's own; with the door's threads apart by name
#   proot   env -i ... proot -r ROOT /bin/sh -c W  (/usr/bin/time: PRoot and its tracees)
# Interleaved, REPS rounds. Reuses what bench/tracer.sh left in D (the prepared rootfs copy and the
# client snapshot): run that first. Env: W (workload file prefix in ../shared/bench/workloads, w5),
# REPS (3), D (/tmp/tether-bench-tracer), SHARED (../shared/bench). Needs root, python3, /usr/bin/time.
set -euo pipefail
home=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-/tmp/tether-bench-tracer}
R=$D/rootfs
SNAP=$D/snap
REPS=${REPS:-3}
W=${W:-w5}
SHARED=${SHARED:-$home/../shared/bench}
[ -x "$SNAP/bin/tether" ] && [ -d "$R/bench" ] || { echo "tracer-cpu.sh: run bench/tracer.sh first (D=$D)" >&2; exit 1; }
if [ -z "${TRACER_CPU_NS:-}" ]; then exec unshare --mount --propagation private env TRACER_CPU_NS=1 "$0" "$@"; fi

mount --bind /proc "$R/proc"
mount --bind /dev "$R/dev"
# A door of our own, as in tracer.sh, warmed before anything is measured.
export XDG_RUNTIME_DIR=$D/xdg-cpu
rm -rf "$XDG_RUNTIME_DIR" && mkdir -m 700 "$XDG_RUNTIME_DIR"
trap 'rm -f "$XDG_RUNTIME_DIR"/tether/frontdoor-*.sock' EXIT
served() { (cd / && TETHER_FE_TRACE=1 "$SNAP/bin/tether" run -r "$R" -- /bin/true 2>&1 >/dev/null | grep -q 'served by the front door'); }
for i in $(seq 60); do
  served && break
  (cd / && TETHER_NO_FE=1 "$SNAP/bin/tether" run -r "$R" -- /bin/true)
  sleep 1
done
served || { echo "tracer-cpu.sh: the front door does not serve" >&2; exit 1; }
for i in $(seq 30); do (cd / && "$SNAP/bin/tether" run -r "$R" -- /bin/sh -c 'for i in 1 2 3 4 5; do /bin/true; done'); done
door=$(pgrep -n -f "$SNAP/client/target/tether.jar.*frontdoor")

script=$(grep -v '^#' "$SHARED"/workloads/$W-*.sh)
env_=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C)
# Per-thread CPU of the door while a run lasts (threads that end are sampled every 0.2 s until then).
sampler='
import os, re, sys, time
pid, stop = sys.argv[1], sys.argv[2]
tick = os.sysconf("SC_CLK_TCK"); first, last, names = {}, {}, {}
sampled = False  # a thread born after the first sample started from 0
while True:
    for tid in os.listdir(f"/proc/{pid}/task"):
        try: s = open(f"/proc/{pid}/task/{tid}/stat").read()
        except OSError: continue
        f = s[s.rindex(")") + 2:].split()
        cpu = (int(f[11]) + int(f[12])) / tick
        first.setdefault(tid, cpu if not sampled else 0); last[tid] = cpu
        names[tid] = re.sub(r"\d+", "N", s[s.index("(") + 1:s.rindex(")")])
    if not sampled: open(stop + ".ready", "w").close()
    sampled = True
    if os.path.exists(stop): break
    time.sleep(0.2)
agg = {}
for tid in last: agg[names[tid]] = agg.get(names[tid], 0) + last[tid] - first[tid]
print(", ".join(f"{n} {v:.2f}" for n, v in sorted(agg.items(), key=lambda x: -x[1]) if v >= 0.01))
'
doorcpu() { awk -v t="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15 + $16 + $17) / t}' "/proc/$door/stat"; }
echo "W=$W, $REPS rounds; load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$REPS"); do
  (cd / && /usr/bin/time -f "native  wall %e s, cpu %U + %S s" chroot "$R" "${env_[@]}" /bin/sh -c "$script" 2>&1 >/dev/null | tail -1)
  rm -f "$D/cpu.stop" "$D/cpu.stop.ready"
  python3 -c "$sampler" "$door" "$D/cpu.stop" > "$D/cpu.threads" & sampler_pid=$!
  while [ ! -e "$D/cpu.stop.ready" ]; do sleep 0.05; done   # its first sample comes before the run
  before=$(doorcpu); t0=$(date +%s.%N)
  (cd / && /usr/bin/time -f "%U + %S" -o "$D/cpu.fe" "$SNAP/bin/tether" run -r "$R" -- "${env_[@]}" /bin/sh -c "$script" >/dev/null 2>&1)
  t1=$(date +%s.%N); after=$(doorcpu)
  touch "$D/cpu.stop"; wait "$sampler_pid"
  python3 -c "import sys; print(f'tether  wall {float(sys.argv[2]) - float(sys.argv[1]):.2f} s, cpu door {float(sys.argv[4]) - float(sys.argv[3]):.2f} s + front end {sys.argv[5]} s (door threads: {sys.argv[6]})')" \
    "$t0" "$t1" "$before" "$after" "$(cat "$D/cpu.fe")" "$(cat "$D/cpu.threads")"
  (cd / && /usr/bin/time -f "proot   wall %e s, cpu %U + %S s" "${env_[@]}" proot -r "$R" /bin/sh -c "$script" 2>&1 >/dev/null | tail -1)
done
echo "load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
