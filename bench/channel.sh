#!/usr/bin/env bash
# channel.sh -- the channel's figures side by side, in one run on this machine (BENCHMARKS.md):
#   bulk:       `head -c $SIZE /dev/zero | CMD >/dev/null` for CMD =
#                 tether run -- cat               (default path: front door/agent, mux over MINA SSH)
#                 tether run --control no -- cat  (this JVM speaks SSH itself; as bin/tether starts it: C1 only)
#                   and again with TETHER_JAVA_OPTS=-XX:TieredStopAtLevel=4 (C2: the mux over SSH, no relay)
#                 RawSshChannel client            (MINA SSH on both ends, no mux: an echo subsystem),
#                   with AES-GCM (what tether negotiates) and with chacha20 (MINA's default)
#                 ssh tgt cat                     (OpenSSH on both ends)
#               after one warm-up transfer each (resident JVMs JIT-compiled), interleaved for $ROUNDS
#               rounds; wall-clock MB/s and CPU seconds per GiB on each side (client: the command's
#               processes plus the resident agent and front door; target: tetherd/sshd/raw server
#               with their children)
#   round trip: tether ping (mux PING over SSH, and to the control agent), 1-byte echoes through a raw
#               MINA channel and through an OpenSSH channel
#   warm start: hyperfine: tether run true (as bin/tether runs it; the JVM path; the JVM path with
#               AppCDS) vs ssh true through a master connection
# The target is a network namespace on a veth pair with loopback-range addresses (bench/netns.sh).
# Needs root, hyperfine, openssh-server, a built tree (bin/tether builds it). Env: SIZE (default
# 1G), ROUNDS (3), RUNS (hyperfine runs, 30), PINGS (2000), D (work dir, /tmp/tether-bench).
set -euo pipefail
home=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-/tmp/tether-bench}
SIZE=${SIZE:-1G}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-30}
PINGS=${PINGS:-2000}
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
B=127.79.0.2
"$home/bench/netns.sh" down "$D" 2>/dev/null || true
cleanup() {
  [ -f "$D/raw.pid" ] && kill "$(cat "$D/raw.pid")" 2>/dev/null || true
  # This target's control agent (the front door is shared by all targets: it exits when idle).
  for p in $(pgrep -f "$home/client/target/tether.jar.*io.tether.client.Tether agent .*--host $B " || true); do
    kill "$p" 2>/dev/null || true
  done
  "$home/bench/netns.sh" down "$D"
}
trap cleanup EXIT
"$home/bench/netns.sh" up "$D"
echo "== $(date -u +'%F %T UTC'): $(nproc) vCPU,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), Linux $(uname -r),"\
  "$(java -version 2>&1 | head -1), $(ssh -V 2>&1), git $(git -C "$home" rev-parse --short HEAD 2>/dev/null || echo '?')"

T="ssh://root@$B:2222"
tether=("$home/bin/tether")
topts=(-t "$T" -i "$D/id_ed25519" --known-hosts "$D/known_hosts")
ssh_=(ssh -F "$D/ssh_config")
lib="$home/client/target/lib/*"

# The raw-channel baseline: bench/RawSshChannel.java, its server in the namespace like tetherd.
mkdir -p "$D/raw"
javac -d "$D/raw" -cp "$lib" "$home/bench/RawSshChannel.java"
raw=(java -XX:+UseSerialGC -Xss512k -cp "$D/raw:$lib")
nsenter --net=/run/netns/tether-bench "${raw[@]}" RawSshChannel server $B 2223 "$D/raw_host" "$D/authorized_keys" \
  >"$D/raw.log" 2>&1 &
echo $! > "$D/raw.pid"
for i in $(seq 100); do bash -c "exec 3<>/dev/tcp/$B/2223" 2>/dev/null && break || sleep 0.2; done
rawc=("${raw[@]}" -Dciphers=aes128-gcm@openssh.com,aes128-ctr RawSshChannel)
rawcc=("${raw[@]}" -Dciphers=chacha20-poly1305@openssh.com RawSshChannel)

"${tether[@]}" run "${topts[@]}" --accept-new-host-key -- true   # records the host key, starts the agent (and front door)
"${tether[@]}" run "${topts[@]}" -- true
"${ssh_[@]}" -o ControlMaster=auto -o ControlPersist=600 tgt true
sleep 1

# CPU ticks (user+system, children reaped included) of the given processes.
ticks() { local s=0 p; for p in "$@"; do [ -r "/proc/$p/stat" ] && s=$((s + $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat"))); done; echo $s; }
resident() { pgrep -f "$home/client/target/tether.jar.*io.tether.client.Tether (agent|frontdoor)" | tr '\n' ' '; }
tetherd=$(cat "$D/tetherd.pid"); sshd=$(cat "$D/sshd.pid"); rawd=$(cat "$D/raw.pid")
bytes=$(numfmt --from=iec "$SIZE")
: > "$D/bulk.tsv"
# bulk NAME "SERVER_PIDS" CMD...: one transfer; appends NAME MB/s client-CPU server-CPU to bulk.tsv
bulk() {
  local name=$1 spids=$2; shift 2
  local res s0 s1 r0 r1 t0 t1 c
  res=$(resident)
  s0=$(ticks $spids); r0=$(ticks $res); t0=$(date +%s.%N)
  c=$( { /usr/bin/time -f '%U %S' sh -c 'head -c "$0" /dev/zero | "$@" >/dev/null 2>>"'"$D"'/bulk.err"' "$SIZE" "$@"; } 2>&1 | tail -1)
  t1=$(date +%s.%N); sleep 0.5 # sshd reaps its session process
  s1=$(ticks $spids); r1=$(ticks $res)
  python3 -c "
b=$bytes; w=$t1-$t0; cu,cs=map(float,'$c'.split()); g=b/2**30
print('$name\t%.1f\t%.2f\t%.2f' % (b/w/1e6, (cu+cs+($r1-$r0)/100)/g, ($s1-$s0)/100/g))" >> "$D/bulk.tsv"
  tail -1 "$D/bulk.tsv"
}

variants() {
  bulk "tether run -- cat" "$tetherd" "${tether[@]}" run "${topts[@]}" -- cat
  bulk "tether run --control no -- cat" "$tetherd" "${tether[@]}" run "${topts[@]}" --control no -- cat
  bulk "  the same, client JVM with C2" "$tetherd" env TETHER_JAVA_OPTS=-XX:TieredStopAtLevel=4 \
    "${tether[@]}" run "${topts[@]}" --control no -- cat
  bulk "raw MINA channel (AES-GCM)" "$rawd" "${rawc[@]}" client $B 2223 root "$D/id_ed25519"
  bulk "raw MINA channel (chacha20)" "$rawd" "${rawcc[@]}" client $B 2223 root "$D/id_ed25519"
  bulk "ssh tgt cat" "$sshd" "${ssh_[@]}" -o ControlMaster=no -o ControlPath=none tgt cat
}
echo "== bulk warm-up (not counted)"
SIZE=256M bytes=$((256 << 20)) variants
: > "$D/bulk.tsv"
echo "== bulk: $SIZE through one channel, $ROUNDS interleaved rounds (load: $(cut -d' ' -f1-3 /proc/loadavg))"
echo -e "variant\tMB/s\tclient CPU s/GiB\ttarget CPU s/GiB"
for r in $(seq "$ROUNDS"); do variants; done
echo "(load after: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$D/bulk.tsv" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    n, *v = line.rstrip("\n").split("\t")
    rows.setdefault(n, []).append([float(x) for x in v])
med = {n: [statistics.median(c) for c in zip(*r)] for n, r in rows.items()}
print("-- medians")
for n, (mb, cc, tc) in med.items():
    print(f"{n:32s} {mb:7.1f} MB/s   client {cc:5.2f} s/GiB   target {tc:5.2f} s/GiB   total {cc+tc:5.2f} s/GiB")
raw, ssh = med["raw MINA channel (AES-GCM)"][0], med["ssh tgt cat"][0]
for n in ("tether run -- cat", "tether run --control no -- cat", "  the same, client JVM with C2"):
    print(f"{n.strip():32s} / raw MINA channel (AES-GCM): {med[n][0]/raw:.2f} (goal >= 0.80)   / ssh: {med[n][0]/ssh:.2f}")
PY

echo "== round trips ($PINGS each, after a warm-up)"
"${tether[@]}" ping "${topts[@]}" --control no -n "$PINGS"
"${tether[@]}" ping "${topts[@]}" --control auto -n "$PINGS"
"${rawc[@]}" ping $B 2223 root "$D/id_ed25519" "$PINGS" 2>/dev/null
python3 "$home/bench/ssh-echo-rtt.py" "$PINGS" "${ssh_[@]}" -o ControlMaster=no -o ControlPath=none tgt

echo "== warm start: $RUNS runs each"
# AppCDS for the JVM path: a dynamic archive of the classes one `tether run true` loads.
jsa="$D/tether-client.jsa"
rm -f "$jsa"
TETHER_NO_FE=1 TETHER_JAVA_OPTS="-XX:ArchiveClassesAtExit=$jsa" "${tether[@]}" run "${topts[@]}" -- true 2>/dev/null
run="$home/bin/tether run ${topts[*]} -- true"
hyperfine -N -w 3 -r "$RUNS" --export-json "$D/warm.json" \
  -n "tether run true" "$run" \
  -n "tether run true (JVM)" "env TETHER_NO_FE=1 $run" \
  -n "tether run true (JVM+AppCDS)" "env TETHER_NO_FE=1 TETHER_JAVA_OPTS=-XX:SharedArchiveFile=$jsa $run" \
  -n "ssh master true" "ssh -F $D/ssh_config -o ControlMaster=auto -o ControlPersist=600 tgt true"
python3 - "$D/warm.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s = r["ssh master true"]["median"]
for n, x in r.items():
    print(f"{n:30s} median {x['median']*1000:7.1f} ms  (min {x['min']*1000:6.1f})  x{x['median']/s:5.2f} of ssh master (goal <= 2.0)")
PY
