#!/usr/bin/env bash
# tracer.sh -- the tracer's figures side by side, in one run (BENCHMARKS.md, "Tracer"): each workload
# of ../shared/bench/workloads on the same rootfs three ways, with hyperfine:
#   native  chroot ROOT /bin/sh -c W                          (the physical limit)
#   tether  bin/tether run -r ROOT -- /bin/sh -c W            (target local: daemon in the client JVM)
#   proot   proot -r ROOT /bin/sh -c W                        (Debian's PRoot)
# then prints each median and its ratio to native. Workloads:
#   W0  /bin/true once: the fixed cost of each launcher (tether: a JVM start and one traced spawn)
#   W1  200 x /bin/true from sh           W2  find /usr -xdev | wc -l
#   W4  10 x python3 -c 'import json, email.parser, http.client, unittest' (if the rootfs has python3)
# ROOT: $ROOTFS if set (e.g. a debootstrap made with ../shared/bench/make-rootfs.sh), else a rootfs made
# of the host's /usr and /etc bound into an empty directory (merged-/usr symlinks for bin, lib, lib64,
# sbin), inside a private mount namespace so nothing outlives the run.
# Needs root, hyperfine, proot (apt-get install proot). Env: RUNS (hyperfine runs, 10), WARMUP (2),
# D (work dir, /tmp/tether-bench-tracer), ONLY (space-separated workload ids, e.g. "W1 W2").
set -euo pipefail
home=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-/tmp/tether-bench-tracer}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
ONLY=${ONLY:-W0 W1 W2 W4}

export TETHER_NO_FE=1 # -r runs go to the JVM client anyway; the native front end is not measured here
if [ -z "${TRACER_BENCH_NS:-}" ]; then
  command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
  command -v proot >/dev/null || apt-get install -y -qq proot >/dev/null
  "$home/bin/tether" --version >/dev/null   # builds the client on first use, outside the timings
  # Run a snapshot of the built client: a jar rebuilt in the tree mid-run would fail runs at random.
  snap=$D/snap
  rm -rf "$snap" && mkdir -p "$snap/client/target"
  cp -a "$home/bin" "$snap/"
  cp -a "$home/client/target/tether.jar" "$home/client/target/lib" "$snap/client/target/"
  exec unshare --mount --propagation private env TRACER_BENCH_NS=1 "$0" "$@"
fi

mkdir -p "$D"
if [ -n "${ROOTFS:-}" ]; then
  R=$ROOTFS
else
  R=$D/rootfs
  mkdir -p "$R"/{usr,etc,proc,dev,sys,tmp}
  for l in bin lib lib64 sbin; do [ -e "$R/$l" ] || [ -L "$R/$l" ] || ln -s "usr/$l" "$R/$l"; done
  mount --bind /usr "$R/usr"
  mount --bind /etc "$R/etc"
fi
# chroot's reference has the target's /proc and /dev, as the tracer's default binds give the guest.
mount --bind /proc "$R/proc"
mount --bind /dev "$R/dev"

W0='/bin/true'
W1='i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done'
W2='find /usr -xdev | wc -l >/dev/null'
W4="i=0; while [ \$i -lt 10 ]; do python3 -c 'import json, email.parser, http.client, unittest' || exit 1; i=\$((i+1)); done"
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

printf '| workload | native chroot (s) | tether -r (s) | proot -r (s) | tether/native | proot/native | tether/proot |\n'
printf '|---|---|---|---|---|---|---|\n'
for w in $ONLY; do
  script=${!w}
  if [ "$w" = W4 ] && [ ! -x "$R/usr/bin/python3" ]; then echo "| W4 | (no python3 in the rootfs) |||||| "; continue; fi
  env_=(env -i PATH=/usr/bin:/bin HOME=/ LC_ALL=C)
  native="chroot $R ${env_[*]} /bin/sh -c $(q "$script")"
  tether="$D/snap/bin/tether run -r $R -e PATH=/usr/bin:/bin -e LC_ALL=C -- /bin/sh -c $(q "$script")"
  proot="${env_[*]} proot -r $R /bin/sh -c $(q "$script")"
  json=$D/$w.json
  # The client runs from / (outside the rootfs): the guest cwd is /, as chroot's.
  (cd / && hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --export-json "$json" \
      -n native "$native" -n tether "$tether" -n proot "$proot" >"$D/$w.log" 2>&1) || {
    echo "| $w | failed: see $D/$w.log |||||| "; continue; }
  python3 - "$w" "$json" <<'EOF'
import json, sys
w, path = sys.argv[1], sys.argv[2]
res = {r["command"]: r["median"] for r in json.load(open(path))["results"]}
n, t, p = res["native"], res["tether"], res["proot"]
print(f"| {w} | {n:.3f} | {t:.3f} | {p:.3f} | {t/n:.2f}x | {p/n:.2f}x | {t/p:.2f}x |")
EOF
done
echo
echo "medians of $RUNS runs (hyperfine -N, $WARMUP warm-up); rootfs: ${ROOTFS:-host /usr and /etc bound}; logs and JSON in $D"
