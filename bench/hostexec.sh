#!/bin/bash
# hostexec.sh -- the latency of one host exec over the channel (issue 5). A target `sh` loop runs a host
# `true` N times (tether run -t ssh://... -r ROOTFS -b /usr/bin:/host/bin --host-exec '/host/bin/*', the
# rootfs a static busybox served by the client: "No NFS"), against:
#   - the same loop run natively (busybox sh running /usr/bin/true, no tether);
#   - the same tether run with N = 0 (connection, JVM, mirror and tracer start: subtracted);
#   - the loop under tether running the target's own `true` (busybox), for the tracer's exec cost;
#   - one OpenSSH exec over a master connection (`ssh -o ControlMaster=no tgt true` while a master is up,
#     as ../shared/bench/ssh-limits.sh measures it), the issue's yardstick: goal, a host exec under 3x that.
# tetherd and sshd run in a network namespace of their own (bench/netns.sh; NETNS tether-bench-hx,
# 127.79.5.1 <-> 127.79.5.2): nothing outside 127.0.0.0/8. Root; openssh-server, bc, a static busybox.
# Env: N (200), RUNS (rounds after one warm-up round, 5), D (work dir, /tmp/tether-bench-hostexec)
set -eu
home=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-200}; RUNS=${RUNS:-5}; D=${D:-/tmp/tether-bench-hostexec}
export NETNS=tether-bench-hx NETNS_NET=127.79.5 NETNS_VETH=tbx
B=$NETNS_NET.2
busybox=$(command -v busybox)
if ldd "$busybox" >/dev/null 2>&1; then echo "need a static busybox (Debian: busybox-static)" >&2; exit 1; fi

mkdir -p "$D"
"$home/bench/netns.sh" down "$D/net" 2>/dev/null || true
trap '"$home/bench/netns.sh" down "$D/net"' EXIT
"$home/bench/netns.sh" up "$D/net"
echo "== $(date -u +'%F %T UTC'): $(nproc) vCPU,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), Linux $(uname -r),"\
  "$(java -version 2>&1 | head -1), $(ssh -V 2>&1), git $(git -C "$home" rev-parse --short HEAD 2>/dev/null || echo '?'), N=$N"

# The rootfs: busybox and two applets, nothing else (the host's `true` is dynamic: it cannot run in it).
R=$D/rootfs
rm -rf "$R"; mkdir -p "$R/bin" "$R/tmp" "$R/etc" "$R/host/bin"
cp "$busybox" "$R/bin/busybox"; ln -s busybox "$R/bin/sh"; ln -s busybox "$R/bin/true"

loop() { echo "i=0; while [ \$i -lt $1 ]; do $2; i=\$((i+1)); done"; }
tether=("$home/bin/tether" run -t "ssh://root@$B:2222" -i "$D/net/id_ed25519" --known-hosts "$D/known_hosts" --control no
  -r "$R" -b /usr/bin:/host/bin --host-exec '/host/bin/*' -e PATH=/bin)
"${tether[@]}" --accept-new-host-key -- /bin/true
# A check that the loop really execs on the host: the host's dynamic `true` cannot run in this guest.
"${tether[@]}" -- /bin/sh -c "/host/bin/true && echo host-exec-ok" | grep -q host-exec-ok
ssh_=(ssh -F "$D/net/ssh_config")
"${ssh_[@]}" -o ControlMaster=yes -o ControlPersist=600 -fN tgt

# Interleaved rounds (on a shared machine a load change then hits every case alike): each round runs
# every case once, timed with its CPU (the command's own, children included, plus the target side's).
# The target side's CPU: every process of the namespace (tetherd, sshd and the session processes they
# fork), children they reaped included.
ticks() { local s=0 p; for p in $(ip netns pids "$NETNS"); do
  [ -r "/proc/$p/stat" ] && s=$((s + $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat"))); done; echo $s; }
hz=$(getconf CLK_TCK)
cases=("native loop" "tether, empty loop" "tether, target true loop" "tether, host true loop" "ssh master exec x20")
cmd() {
  case $1 in
  "native loop") "$busybox" sh -c "$(loop "$N" /usr/bin/true)" ;;
  "tether, empty loop") "${tether[@]}" -- /bin/sh -c "$(loop 0 /host/bin/true)" ;;
  "tether, target true loop") "${tether[@]}" -- /bin/sh -c "$(loop "$N" /bin/true)" ;;
  "tether, host true loop") "${tether[@]}" -- /bin/sh -c "$(loop "$N" /host/bin/true)" ;;
  "ssh master exec x20") for i in $(seq 20); do "${ssh_[@]}" -o ControlMaster=no tgt true; done ;;
  esac
}
: > "$D/hostexec.tsv"
for round in $(seq 0 "$RUNS"); do    # round 0 warms up
  for c in "${cases[@]}"; do
    d0=$(ticks); t0=$(date +%s.%N)
    tm=$( { TIMEFORMAT='%U %S'; time cmd "$c" >/dev/null; } 2>&1 | tail -1)
    t1=$(date +%s.%N); d1=$(ticks)
    [ "$round" = 0 ] || printf '%s\t%s\t%s\t%s\n' "$c" "$(echo "$t1 - $t0" | bc)" "$tm" "$(( (d1 - d0) ))" >> "$D/hostexec.tsv"
  done
done
"${ssh_[@]}" -O exit tgt 2>/dev/null || true

python3 - "$D/hostexec.tsv" "$N" "$hz" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
n, hz = int(sys.argv[2]), int(sys.argv[3])
wall, cpu = {}, {}
for name, w, uc, d in rows:
    u, s = map(float, uc.split())
    wall.setdefault(name, []).append(float(w))
    cpu.setdefault(name, []).append(u + s + int(d) / hz)
med = lambda m, k: statistics.median(m[k])
for k in wall:
    print(f"{k:26s} wall median {med(wall, k)*1e3:8.1f} ms (min {min(wall[k])*1e3:8.1f})   CPU median {med(cpu, k)*1e3:8.1f} ms"
          f" (client side with children + target side)")
def per(m):
    e = med(m, "tether, empty loop")
    return {"native": med(m, "native loop") / n, "target": (med(m, "tether, target true loop") - e) / n,
            "host": (med(m, "tether, host true loop") - e) / n, "ssh": med(m, "ssh master exec x20") / 20}
for label, m in (("wall", wall), ("CPU", cpu)):
    p = per(m)
    print(f"per exec ({label}): native {p['native']*1e3:.2f} ms, tether target exec {p['target']*1e3:.2f} ms, "
          f"tether host exec {p['host']*1e3:.2f} ms ({p['host']/p['native']:.1f}x native), ssh master exec {p['ssh']*1e3:.2f} ms;"
          f" host exec / ssh master exec {p['host']/p['ssh']:.2f}x (goal < 3x)")
PY
