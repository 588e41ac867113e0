#!/usr/bin/env bash
# tracer.sh -- the tracer's figures side by side, in one run (BENCHMARKS.md, "Tracer"): each workload
# of ../shared/bench/workloads on the same Debian rootfs three ways, with hyperfine:
#   native  chroot ROOT env -i ... /bin/sh -c W               (the physical limit)
#   tether  bin/tether run -r ROOT -- /bin/sh -c W            (target local: through the native front end,
#           served by the warm front door, whose own daemon traces W; FE=0: the JVM client, TETHER_NO_FE=1)
#   proot   env -i ... proot -r ROOT /bin/sh -c W             (Debian's PRoot 5.1)
# then prints each median and its ratio to native. Workloads (W1-W6 are ../shared/bench/workloads/*.sh):
#   W0  /bin/true once: the fixed cost of each launcher (tether: front end, door and one traced spawn)
#   W1  200 x /bin/true from sh            W2  find /usr -xdev | wc -l
#   W3  cat every file under /usr/lib/x86_64-linux-gnu
#   W4  10 x python3 -c 'import json, email.parser, http.client, unittest'
#   W5  5 x gcc -O2 of hello.c + a 400-line generated gen.c
#   W6  ./configure of GNU hello 2.10, out of tree
#   micro  daemon/src/test/resources/tracer/microbench.c, static: ns per untrapped getppid (wall and the
#          thread's CPU time) and per trapped stat (200k each), median and min-max of MICRO_RUNS runs of
#          each launcher, interleaved
# ROOT: a private copy under $D of the debootstrap that tests/rootfs/make-debian-rootfs.sh makes and
# caches (or of $ROOTFS), with the W5/W6 inputs under /bench (../shared/bench/prepare-workloads.sh;
# the hello source is fetched from the Debian mirror) and the micro-benchmark; the copy is remade only
# when its sources change. Runs in a private mount namespace (/proc and /dev bound into ROOT).
# Needs root, hyperfine, proot (installed with apt-get if missing). Env: RUNS (hyperfine runs, 10),
# WARMUP (2), SLOW_RUNS/SLOW_WARMUP (for W5 and W6: 3/1), CAP (seconds per run of W5/W6, beyond which
# it is killed and reported as a timeout: 900), MICRO_RUNS (5), D (work dir, /tmp/tether-bench-tracer),
# ONLY (space-separated ids, e.g. "W1 W2 micro"), SHARED (../shared/bench), FE (1: the front end and a
# door of the bench's own, in a private XDG_RUNTIME_DIR under $D, warmed up first and stopped at the end;
# 0: every tether run is a JVM client).
set -euo pipefail
home=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-/tmp/tether-bench-tracer}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
SLOW_RUNS=${SLOW_RUNS:-3}
SLOW_WARMUP=${SLOW_WARMUP:-1}
CAP=${CAP:-900}
MICRO_RUNS=${MICRO_RUNS:-5}
ONLY=${ONLY:-W0 W1 W2 W3 W4 W5 W6 micro}
SHARED=${SHARED:-$home/../shared/bench}
R=$D/rootfs
FE=${FE:-1}

[ "$FE" = 1 ] || export TETHER_NO_FE=1
if [ -z "${TRACER_BENCH_NS:-}" ]; then
  command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
  command -v proot >/dev/null || apt-get install -y -qq proot >/dev/null
  "$home/bin/tether" --version >/dev/null   # builds the client on first use, outside the timings
  # Run a snapshot of the built client: a jar rebuilt in the tree mid-run would fail runs at random.
  snap=$D/snap
  rm -rf "$snap" && mkdir -p "$snap/client/target"
  cp -a "$home/bin" "$snap/"
  cp -a "$home/client/target/tether.jar" "$home/client/target/lib" "$snap/client/target/"
  if [ "$FE" = 1 ]; then
    [ -x "$home/client/target/native/tether-fe" ] || { echo "tracer.sh: no client/target/native/tether-fe (FE=0 runs without)" >&2; exit 1; }
    cp -a "$home/client/target/native" "$snap/client/target/"
  fi

  # The rootfs: a copy, since prepare-workloads.sh writes /bench and W5/W6 write /tmp.
  src=${ROOTFS:-$("$home/tests/rootfs/make-debian-rootfs.sh" | tail -1)}
  micro_c=$home/daemon/src/test/resources/tracer/microbench.c
  stamp="$src $(cat "$src/.tether-rootfs-stamp" 2>/dev/null || echo unstamped) $(cat "$SHARED/prepare-workloads.sh" \
    "$SHARED"/workloads/*.sh "$micro_c" | sha256sum | cut -c1-16)"
  if [ "$(cat "$D/rootfs.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "tracer.sh: copying $src to $R and preparing the workloads" >&2
    rm -rf "$R" "$D/rootfs.stamp"
    mkdir -p "$D/src"
    cp -a "$src" "$R"
    if [ ! -f "$D/src/hello_2.10.orig.tar.gz" ]; then
      # Straight from the pool, so prepare-workloads.sh need not add a deb-src entry to this host's apt.
      mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
      wget -q -O "$D/src/hello_2.10.orig.tar.gz.part" "${mirror:-http://deb.debian.org/debian}/pool/main/h/hello/hello_2.10.orig.tar.gz"
      mv "$D/src/hello_2.10.orig.tar.gz.part" "$D/src/hello_2.10.orig.tar.gz"
    fi
    SRC=$D/src sh "$SHARED/prepare-workloads.sh" "$R" >&2
    gcc -static -O2 -o "$R/bench/microbench" "$micro_c"
    echo "$stamp" > "$D/rootfs.stamp"
  fi
  exec unshare --mount --propagation private env TRACER_BENCH_NS=1 "$0" "$@"
fi

# chroot's reference has the target's /proc and /dev, as the tracer's default binds give the guest.
mount --bind /proc "$R/proc"
mount --bind /dev "$R/dev"

if [ "$FE" = 1 ]; then
  # A door of our own, in this namespace (a door serves only callers of its namespaces), started by
  # a JVM client, then warmed (JIT) before anything is timed; removing its socket ends it.
  export XDG_RUNTIME_DIR=$D/xdg
  rm -rf "$XDG_RUNTIME_DIR" && mkdir -m 700 "$XDG_RUNTIME_DIR"
  trap 'rm -f "$XDG_RUNTIME_DIR"/tether/frontdoor-*.sock' EXIT
  served() { (cd / && TETHER_FE_TRACE=1 "$D/snap/bin/tether" run -r "$R" -- /bin/true 2>&1 >/dev/null | grep -q 'served by the front door'); }
  for i in $(seq 60); do
    served && break
    (cd / && TETHER_NO_FE=1 "$D/snap/bin/tether" run -r "$R" -- /bin/true)
    sleep 1
  done
  served || { echo "tracer.sh: the front door does not serve; see $XDG_RUNTIME_DIR/tether/*.log" >&2; exit 1; }
  for i in $(seq 30); do (cd / && "$D/snap/bin/tether" run -r "$R" -- /bin/sh -c 'for i in 1 2 3 4 5; do /bin/true; done'); done
fi

W0='/bin/true'
for w in 1 2 3 4 5 6; do printf -v "W$w" '%s' "$(grep -v '^#' "$SHARED"/workloads/w$w-*.sh)"; done
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
env_=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C)

load0=$(cut -d' ' -f1-3 /proc/loadavg)   # the machine is shared: the figures are read against it
# "less W0": each launcher's W0 median subtracted first (tether's JVM start), the tracing cost alone.
printf '| workload | native chroot (s) | tether -r (s) | proot -r (s) | tether/native | proot/native | tether/proot | less W0: tether/native | proot/native | tether/proot |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for w in $ONLY; do
  [ "$w" = micro ] && continue
  script=${!w}
  runs=$RUNS warmup=$WARMUP cap=() ignore=()
  case $w in W5|W6) runs=$SLOW_RUNS warmup=$SLOW_WARMUP cap=(timeout -k 10 "$CAP") ignore=(-i) ;; esac
  native="${cap[*]} chroot $R ${env_[*]} /bin/sh -c $(q "$script")"
  tether="${cap[*]} $D/snap/bin/tether run -r $R -- ${env_[*]} /bin/sh -c $(q "$script")"
  proot="${cap[*]} ${env_[*]} proot -r $R /bin/sh -c $(q "$script")"
  json=$D/$w.json
  # The client runs from / (outside the rootfs): the guest cwd is /, as chroot's.
  (cd / && hyperfine -N "${ignore[@]}" --runs "$runs" --warmup "$warmup" --export-json "$json" \
      -n native "$native" -n tether "$tether" -n proot "$proot" >"$D/$w.log" 2>&1) || {
    echo "| $w | failed: see $D/$w.log ||||||||| "; continue; }
  python3 - "$w" "$json" "$CAP" "$(case " $ONLY " in *" W0 "*) echo "$D/W0.json";; esac)" <<'EOF'
import json, os, sys
w, path, cap, w0 = sys.argv[1:5]
res = {r["command"]: r for r in json.load(open(path))["results"]}
base = {r["command"]: r["median"] for r in json.load(open(w0))["results"]} if w != "W0" and w0 and os.path.exists(w0) else None
def cell(name):
    r = res[name]
    bad = [c for c in r.get("exit_codes", []) if c != 0]
    if not bad:
        return r["median"], f"{r['median']:.3f}"
    why = f"timeout {cap} s" if bad[0] in (124, 137) else f"exit {bad[0]}"
    return None, f"fails ({why}, {len(bad)}/{len(r['exit_codes'])} runs; {r['median']:.1f} s)"
(n, ns), (t, ts), (p, ps) = cell("native"), cell("tether"), cell("proot")
ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"
less = ["-"] * 3
if base:
    n0, t0, p0 = (x - base[k] if x else None for x, k in ((n, "native"), (t, "tether"), (p, "proot")))
    less = [ratio(t0, n0), ratio(p0, n0), ratio(t0, p0)]
print(f"| {w} | {ns} | {ts} | {ps} | {ratio(t, n)} | {ratio(p, n)} | {ratio(t, p)} | {' | '.join(less)} |")
EOF
done

case " $ONLY " in *" micro "*)
  echo
  printf '| micro (ns per call, median of %s) | native chroot | tether -r | proot -r | tether/native | proot/native | tether/proot |\n' "$MICRO_RUNS"
  printf '|---|---|---|---|---|---|---|\n'
  : > "$D/micro.log"
  for i in $(seq "$MICRO_RUNS"); do
    (cd / && chroot "$R" "${env_[@]}" /bench/microbench) | sed 's/^/native /' >> "$D/micro.log"
    (cd / && "$D/snap/bin/tether" run -r "$R" -- "${env_[@]}" /bench/microbench) | sed 's/^/tether /' >> "$D/micro.log"
    (cd / && "${env_[@]}" proot -r "$R" /bench/microbench) | sed 's/^/proot /' >> "$D/micro.log"
  done
  python3 - "$D/micro.log" <<'EOF'
import statistics, sys
v = {}
for line in open(sys.argv[1]):
    how, call, ns, _ = line.split()
    v.setdefault((call, how), []).append(int(ns))
rows = (("getppid", "untrapped getppid"), ("getppid-cpu", "untrapped getppid, thread CPU time"),
        ("stat", "trapped stat"))
for call, what in rows:
    if (call, "native") not in v: continue
    n, t, p = (statistics.median(v[(call, h)]) for h in ("native", "tether", "proot"))
    print(f"| {what} | {n:.0f} | {t:.0f} | {p:.0f} | {t / n:.2f}x | {p / n:.2f}x | {t / p:.2f}x |")
# The spread (min-max) of each launcher's runs: a 25 ms loop on a shared 2-core machine swings.
print()
for call, what in rows:
    if (call, "native") not in v: continue
    print(f"{what}: " + ", ".join(f"{h} {min(v[(call, h)])}-{max(v[(call, h)])}" for h in ("native", "tether", "proot")) + " ns")
EOF
;; esac
echo
echo "medians (hyperfine -N; $RUNS runs after $WARMUP warm-up, W5/W6 $SLOW_RUNS after $SLOW_WARMUP, capped at $CAP s);" \
  "tether: $([ "$FE" = 1 ] && echo "front end + warm front door" || echo "JVM client (FE=0)");" \
  "rootfs: copy of ${ROOTFS:-the make-debian-rootfs.sh debootstrap} at $R; logs and JSON in $D;" \
  "load average (1, 5, 15 min) at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
