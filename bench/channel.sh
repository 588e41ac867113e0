#!/usr/bin/env bash
# channel.sh -- the channel's figures side by side, in one run on this machine:
#   bulk throughput: `tether run -- cat` (mux over the embedded SSH server) vs `ssh tgt cat` (OpenSSH)
#   warm start:      `tether run true` (control agent) vs `ssh -o ControlPath=... tgt true` (master)
#   mux RPC round trip over SSH: `tether ping`
# The target is a network namespace on a veth pair with loopback-range addresses (bench/netns.sh).
# Needs root, hyperfine, openssh-server. Env: SIZE (bulk bytes, default 1G), RUNS (default 30).
set -euo pipefail
home=$(cd "$(dirname "$0")/.." && pwd)
D=${D:-/tmp/tether-bench}
SIZE=${SIZE:-1G}
RUNS=${RUNS:-30}
command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
"$home/bench/netns.sh" down "$D" 2>/dev/null || true
trap '"$home/bench/netns.sh" down "$D"' EXIT
"$home/bench/netns.sh" up "$D"

T="ssh://root@127.79.0.2:2222"
tether=("$home/bin/tether")
topts=(-t "$T" -i "$D/id_ed25519" --known-hosts "$D/known_hosts" --accept-new-host-key)
ssh_=(ssh -F "$D/ssh_config")
"${tether[@]}" run "${topts[@]}" -- true   # records the host key, starts the agent
"${ssh_[@]}" -o ControlMaster=auto -o ControlPersist=600 tgt true

bytes=$(numfmt --from=iec "$SIZE")
echo "== bulk: $SIZE through one channel (MB/s, median of 3)"
rate() { # command...
  local best=() t0 t1
  for i in 1 2 3; do
    t0=$(date +%s.%N)
    head -c "$SIZE" /dev/zero | "$@" > /dev/null
    t1=$(date +%s.%N)
    best+=("$(echo "$bytes / ($t1 - $t0) / 1000000" | bc -l)")
  done
  printf '%s\n' "${best[@]}" | sort -n | sed -n 2p
}
mux=$(rate "${tether[@]}" run "${topts[@]}" -- cat)
raw=$(rate "${ssh_[@]}" -o ControlMaster=no -o ControlPath=none tgt cat)
printf 'tether run -- cat: %.1f MB/s\nssh tgt cat:       %.1f MB/s\nratio:             %.2f (goal >= 0.80)\n' "$mux" "$raw" "$(echo "$mux / $raw" | bc -l)"

echo "== warm start: $RUNS runs each"
hyperfine -N -w 3 -r "$RUNS" --export-json "$D/warm.json" \
  "$home/bin/tether run -t $T -i $D/id_ed25519 --known-hosts $D/known_hosts -- true" \
  "ssh -F $D/ssh_config -o ControlMaster=auto -o ControlPersist=600 tgt true"
python3 - "$D/warm.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
t, s = r[0]["median"], r[1]["median"]
print(f"tether run true: {t*1000:.1f} ms  ssh master true: {s*1000:.1f} ms  ratio {t/s:.2f} (goal <= 2.0)")
PY

echo "== mux RPC round trip over SSH"
"${tether[@]}" ping "${topts[@]}" -n 2000 || echo "(tether ping unavailable)"
