#!/usr/bin/env bash
# nonfs.sh -- the "No NFS" figures side by side, in one run (BENCHMARKS.md, "No NFS"): W1-W6 of
# ../shared/bench/workloads with the Debian rootfs on the HOST, run on a simulated device:
#   native       chroot into a local copy of the rootfs                      (the physical limit)
#   tether       bin/tether run -t ssh://DEVICE -r HOST_ROOTFS -- /bin/sh -c W (No NFS: tetherd serves the
#                tracee from its --cache-dir, fetching over the one SSH connection)
#   sshfs        sshfs (cached variant: kernel_cache, 1-day timeouts) of the host rootfs on the device,
#                then chroot into it                                           (what users do today)
# each warm (caches filled by warm-up runs) and cold (tether: before each run the rootfs gets a host
# path the running daemon has no tree for, a new bind mount of the same files, so its cache holds
# nothing of it, as for a rootfs it never served; COLD_DAEMON=restart instead restarts tetherd on an
# empty --cache-dir and re-makes the connection with a `tether run -- true`, so a cold run also pays
# a fresh JVM's interpreted mirror code; sshfs: unmounted and mounted again before each run; all
# untimed, and the host's page cache stays warm for both, as ../shared/bench/bench.sh does). Prints medians, ratios, and what each workload
# cost on the link: bytes and packets each way through the device's veth, one extra run per cell.
#
# The device: network namespace nonfs-t (veth 127.78.0.2) reached from nonfs-h (127.78.0.1), where the
# client and the sshd that sshfs logs into run. tetherd runs in nonfs-t AND in a mount namespace of
# its own in which the host rootfs, the native copy and /var/cache/tether-test are covered by empty
# tmpfs mounts (the script checks that it cannot see the rootfs). The whole script runs in a private
# mount namespace (sshfs and /proc,/dev binds vanish with it).
# Rootfs: a copy under $D/host of the debootstrap that tests/rootfs/make-debian-rootfs.sh caches, with
# the W5/W6 inputs (../shared/bench/prepare-workloads.sh); $DEV/tgt is its "copied to the device" twin, on the
# device's own disk (DEVICE_DISK, below) with tetherd's cache.
# Needs root, hyperfine, sshfs, openssh-server (installed with apt-get if missing).
# W0 is one /bin/true: each launcher's fixed cost (tether: a JVM start, the agent hop, one traced spawn);
# the "less W0" columns subtract each mode's W0 median first.
# Env: RUNS (hyperfine runs per warm cell, 5), WARMUP (2), COLD_RUNS (3), COLD_WARMUP (untimed cold runs
# first, each made cold as the timed ones: 3; tetherd is a long-lived service, and its cold-path code, which
# warm runs never use, is still being compiled by the JIT in a young daemon's first cold runs: -XX:+PrintCompilation
# counted 423, 278, 202 compilations in a fresh daemon's first three cold W3 runs, 92 and 59 in its fifth and sixth;
# COLD_WARMUP=0 measures a young daemon), SLOW_COLD_WARMUP (W5/W6's, whose runs are long: 1), SLOW_RUNS/SLOW_COLD_RUNS
# (W5/W6: 3/2), ONLY (e.g. "W0 W1 W2"), D (/tmp/tether-bench-nonfs), SHARED (../shared/bench), SHORT (0; N: after the
# cells, N short runs on a new tree, each run's time and mode, against sshfs: see the end of this script),
# COLD_DAEMON (running: cold runs use a daemon that stays up, on a rootfs path new to it; restart: a
# restarted daemon on an empty cache), CAP (seconds per W5/W6 run before it is killed and reported as a timeout: 600),
# DEVICE_DISK (image: the device's files on a journaled ext4 image of DEVICE_DISK_SIZE, 8G, kept as $D/device.img;
# host: on this machine's file system), TETHERD_OPTS (extra tetherd options, e.g. "--cache-size 2G"), MODES ("native tether sshfs"),
# NS and ADDR (namespaces NS-h/NS-t and addresses ADDR.1/.2: nonfs, 127.78.0; another pair and D
# let two runs share the machine), COLD (no: warm cells only), ROUNDS (warm: hyperfine is run ROUNDS times over all modes, RUNS/ROUNDS
# runs each, and the median taken over every round, so modes take turns under a shifting load: 1).
# TETHER_KERNEL_ROOT (tetherd's: off runs every tracee in rewrite mode, for an A/B against kernel-rooted runs).
# RTT_MS (0): a round trip in milliseconds added to both remote modes' links, half of it in each
# direction, by bench/delay-proxy.py (this kernel has no netem): sshfs's ssh reaches the host's sshd
# through it as a ProxyCommand, and the tether client reaches tetherd through it as a TCP relay on
# ADDR.1:2223 in the host-side namespace; both at nice -10, since they stand for the wire. RELAY (auto: the relays only when RTT_MS is not 0; yes: at
# RTT_MS=0 too, to see what the relays cost themselves). The round trip each mode then sees is measured
# (tether ping to tetherd, bench/ssh-echo-rtt.py through sshfs's ssh) and printed.
# Warm tether runs go through the native front end and the front door (which serves the host's files
# itself); the script waits for the door before timing and says if a run went to the JVM client.
set -euo pipefail
home=$(cd "$(dirname "$0")/.." && pwd)
self=$(readlink -f "$0")
D=${D:-/tmp/tether-bench-nonfs}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-2}
COLD_RUNS=${COLD_RUNS:-3}
COLD_WARMUP=${COLD_WARMUP:-3}
SLOW_COLD_WARMUP=${SLOW_COLD_WARMUP:-1}
SLOW_RUNS=${SLOW_RUNS:-3}
SLOW_COLD_RUNS=${SLOW_COLD_RUNS:-2}
CAP=${CAP:-600}
ONLY=${ONLY:-W0 W1 W2 W3 W4 W5 W6}
MODES=${MODES:-native tether sshfs}
COLD=${COLD:-yes}
COLD_DAEMON=${COLD_DAEMON:-running}
ROUNDS=${ROUNDS:-1}
SHARED=${SHARED:-$home/../shared/bench}
TETHERD_OPTS=${TETHERD_OPTS:-}
# The daemon's per-session mirror counters (listings, fetches, write-backs, validations, changes) are
# logged by MirrorSession at debug when a session ends, each run's mode (kernel-rooted or rewriting paths) and
# stops by KernelRoot and Tracer: turn on those loggers only.
export TETHERD_JAVA_OPTS="${TETHERD_JAVA_OPTS:-} -Dorg.slf4j.simpleLogger.log.io.tether.daemon.mirror.MirrorSession=debug -Dorg.slf4j.simpleLogger.log.io.tether.daemon.tracer.Tracer=debug -Dorg.slf4j.simpleLogger.log.io.tether.daemon.tracer.KernelRoot=debug"
NS=${NS:-nonfs}; ADDR=${ADDR:-127.78.0}
HNS=$NS-h; TNS=$NS-t; A=$ADDR.1; B=$ADDR.2; PORT=2222
RTT_MS=${RTT_MS:-0}; RELAY=${RELAY:-auto}
ONEWAY_MS=$(python3 -c "import sys; print(float(sys.argv[1]) / 2)" "$RTT_MS")
[ "$RELAY" = auto ] && RELAY=$(python3 -c "import sys; print('yes' if float(sys.argv[1]) else 'no')" "$RTT_MS")
# tether's way to tetherd: straight over the veth, or through the delaying relay on the host side.
if [ "$RELAY" = yes ]; then TADDR=$A; TPORT=2223; else TADDR=$B; TPORT=$PORT; fi
# The device's own disk (DEVICE_DISK=image): a journaled ext4 image, loop-mounted at $DEV in the private mount
# namespace, holding what lives on the device: tetherd's --cache-dir and the native copy. DEVICE_DISK=host puts
# them on this machine's file system instead (a journal-less ext4 here: creating a file there scans past every
# inode deleted in the last minutes, ext4's recently_deleted(), which made a cold W2's 10k placeholders cost 2-6x).
DEVICE_DISK=${DEVICE_DISK:-image}; DEVICE_DISK_SIZE=${DEVICE_DISK_SIZE:-8G}; DEV=$D/device
HOSTROOT=$D/host/rootfs; COLDROOT=$D/cold/root; TGTROOT=$DEV/tgt/rootfs; NET=$D/net; MNT=$D/mnt-sshfs; CACHE=$DEV/cache
RCACHE=${TETHER_ROOTFS_CACHE:-/var/cache/tether-test}
SSHFS_OPTS="no_contain_symlinks,kernel_cache,dcache_timeout=86400,dcache_stat_timeout=86400,dcache_link_timeout=86400,dcache_dir_timeout=86400,attr_timeout=86400,entry_timeout=86400,negative_timeout=86400"
export D TETHERD_OPTS SHARED XDG_RUNTIME_DIR=$D/run TETHER_CONFIG=$NET/targets.properties
TOPTS=(-t "ssh://root@$TADDR:$TPORT" -i "$NET/id_ed25519" --known-hosts "$NET/known_hosts")
TETHER=(nsenter --net=/run/netns/$HNS "$D/snap/bin/tether" run "${TOPTS[@]}")

# --- helpers, also called by hyperfine's --prepare as "$0 _cold_tether" / "$0 _cold_sshfs" -----------
listening() { nsenter --net=/run/netns/$TNS ss -Hltn "( sport = :$PORT )" | grep -q ":$PORT"; }
start_tetherd() {
  # nsenter, unshare (no --fork) and sh exec: the pid written is tetherd's JVM.
  setsid nsenter --net=/run/netns/$TNS unshare --mount --propagation private sh -ec '
      for d in "$1" "$2" "$3"; do mount -t tmpfs -o size=64k,mode=0755 nonfs-hidden "$d"; done
      shift 3; exec "$@"' sh "$D/host" "$DEV/tgt" "$RCACHE" \
    "$D/snap/bin/tetherd" --listen "$B:$PORT" --host-key "$NET/tetherd_host" --authorized-keys "$NET/authorized_keys" \
    --cache-dir "$CACHE" $TETHERD_OPTS </dev/null >>"$D/tetherd.log" 2>&1 &
  echo $! > "$D/tetherd.pid"
  for _ in $(seq 300); do listening && break; kill -0 "$(cat "$D/tetherd.pid")" 2>/dev/null || break; sleep 0.1; done
  listening || { tail -20 "$D/tetherd.log" >&2; echo "nonfs.sh: tetherd did not start" >&2; exit 1; }
}
stop_tetherd() {
  local pid; pid=$(cat "$D/tetherd.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
warm_connection() { "${TETHER[@]}" -- /bin/true >/dev/null; }   # agent up, no file served
mount_sshfs() {
  mkdir -p "$MNT"
  nsenter --net=/run/netns/$TNS sshfs -F "$NET/ssh_config" -o "$SSHFS_OPTS" "sbhost:$HOSTROOT" "$MNT"
  mount --bind /dev "$MNT/dev"; mount -t proc proc "$MNT/proc"
}
umount_sshfs() {
  umount "$MNT/proc" 2>/dev/null || true; umount "$MNT/dev" 2>/dev/null || true
  if mountpoint -q "$MNT"; then fusermount -u "$MNT" 2>/dev/null || umount -l "$MNT"; fi
}
# A host path for the rootfs that the daemon never saw (the cache key is the client's host identity
# and the export's host path, symlinks resolved): the same files, bound anew, so nothing of it is cached.
new_coldroot() {
  local n; n=$(( $(cat "$D/cold/n" 2>/dev/null || echo 0) + 1 ))
  mkdir -p "$D/cold/$n"; mount --bind "$HOSTROOT" "$D/cold/$n"
  echo "$n" > "$D/cold/n"; ln -sfn "$D/cold/$n" "$COLDROOT"
}
case ${1:-} in
  _cold_tether)
    if [ "$COLD_DAEMON" = restart ]; then stop_tetherd; rm -rf "$CACHE"; start_tetherd; warm_connection; else new_coldroot; fi
    exit 0 ;;
  _cold_sshfs) umount_sshfs; mount_sshfs; exit 0 ;;
esac

# --- set-up, outside the private mount namespace --------------------------------------------------
if [ -z "${NONFS_BENCH_NS:-}" ]; then
  command -v hyperfine >/dev/null || apt-get install -y -qq hyperfine >/dev/null
  command -v sshfs >/dev/null || apt-get install -y -qq sshfs >/dev/null
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || apt-get install -y -qq openssh-server >/dev/null
  "$home/bin/tether" --version >/dev/null && "$home/bin/tetherd" --version >/dev/null
  # Snapshots of the built jars: a jar rebuilt in the tree mid-run would fail runs at random.
  snap=$D/snap
  rm -rf "$snap" && mkdir -p "$snap/client/target" "$snap/daemon/target" "$D/run"
  chmod 700 "$D/run"
  cp -a "$home/bin" "$snap/"
  cp -a "$home/client/target/tether.jar" "$home/client/target/lib" "$snap/client/target/"
  [ -d "$home/client/target/native" ] && cp -a "$home/client/target/native" "$snap/client/target/"
  cp -a "$home/daemon/target/tetherd.jar" "$home/daemon/target/lib" "$snap/daemon/target/"

  src=${ROOTFS:-$("$home/tests/rootfs/make-debian-rootfs.sh" | tail -1)}
  stamp="$src $(cat "$src/.tether-rootfs-stamp" 2>/dev/null || echo unstamped) $(cat "$SHARED/prepare-workloads.sh" \
    "$SHARED"/workloads/*.sh | sha256sum | cut -c1-16)"
  if [ "$(cat "$D/rootfs.stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "nonfs.sh: copying $src to $HOSTROOT, preparing the workloads" >&2
    rm -rf "$D/host" "$D/tgt" "$D/rootfs.stamp"
    mkdir -p "$D/host" "$D/src"
    cp -a "$src" "$HOSTROOT"
    if [ ! -f "$D/src/hello_2.10.orig.tar.gz" ]; then
      for c in "$RCACHE/hello_2.10.orig.tar.gz" /tmp/tether-bench-tracer/src/hello_2.10.orig.tar.gz; do
        [ -f "$c" ] && cp "$c" "$D/src/" && break
      done
    fi
    if [ ! -f "$D/src/hello_2.10.orig.tar.gz" ]; then
      mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
      wget -q -O "$D/src/hello_2.10.orig.tar.gz.part" "${mirror:-http://deb.debian.org/debian}/pool/main/h/hello/hello_2.10.orig.tar.gz"
      mv "$D/src/hello_2.10.orig.tar.gz.part" "$D/src/hello_2.10.orig.tar.gz"
    fi
    SRC=$D/src sh "$SHARED/prepare-workloads.sh" "$HOSTROOT" >&2
    echo "$stamp" > "$D/rootfs.stamp"
  fi

  # Network: the host side (client, sshd for sshfs) and the device (tetherd, sshfs), as target-netns.sh.
  mkdir -p "$NET" /run/sshd; chmod 700 "$NET"
  for ns in $HNS $TNS; do ip netns del $ns 2>/dev/null || true; ip netns add $ns; done
  cleanup() {
    [ -f "$D/sshd.pid" ] && kill "$(cat "$D/sshd.pid")" 2>/dev/null || true
    for ns in $HNS $TNS; do
      for p in $(ip netns pids $ns 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
      ip netns del $ns 2>/dev/null || true
    done
  }
  trap cleanup EXIT
  ip -n $HNS link add vh type veth peer name vt netns $TNS
  for pair in $HNS:vh:$A $TNS:vt:$B; do
    ns=${pair%%:*}; rest=${pair#*:}; dev=${rest%%:*}; ip=${rest#*:}
    nsenter --net=/run/netns/$ns sh -ec "
      sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.default.route_localnet=1
      ip addr add 127.0.0.1/32 dev lo; ip link set lo up; ip addr del 127.0.0.1/8 dev lo
      sysctl -qw net.ipv4.conf.$dev.route_localnet=1
      ip addr add $ip/24 dev $dev; ip link set $dev up"
  done
  [ -f "$NET/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$NET/id_ed25519"
  cp "$NET/id_ed25519.pub" "$NET/authorized_keys"
  [ -f "$NET/sshd_host" ] || ssh-keygen -q -t ed25519 -N '' -f "$NET/sshd_host"
  : > "$NET/bashrc"; : > "$NET/targets.properties"; : > "$NET/known_hosts"
  cat > "$NET/sshd.conf" <<EOC
ListenAddress $A:22
HostKey $NET/sshd_host
PidFile $D/sshd.pid
AuthorizedKeysFile $NET/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxSessions 64
MaxStartups 64
Subsystem sftp /usr/lib/openssh/sftp-server
EOC
  cat > "$NET/ssh_config" <<EOC
Host sbhost
  HostName $A
  User root
  IdentityFile $NET/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
EOC
  if [ "$RELAY" = yes ]; then
    # nice -n -10: the relays stand for the wire, which should not queue for a CPU behind the load.
    echo "  ProxyCommand nice -n -10 python3 $home/bench/delay-proxy.py %h %p $ONEWAY_MS" >> "$NET/ssh_config"
    # tetherd is not up yet: the relay connects for each connection it accepts.
    nsenter --net=/run/netns/$HNS setsid nice -n -10 python3 "$home/bench/delay-proxy.py" --listen "$TADDR:$TPORT" "$B:$PORT" "$ONEWAY_MS" \
      </dev/null >"$D/relay.log" 2>&1 &
    disown $!   # cleanup kills it with the namespace's other processes
    for _ in $(seq 100); do nsenter --net=/run/netns/$HNS ss -Hltn "( sport = :$TPORT )" | grep -q ":$TPORT" && break; sleep 0.1; done
  fi
  # sshd runs bash for the sftp subsystem; keep ~/.bashrc out of the measurement (target-netns.sh).
  nsenter --net=/run/netns/$HNS unshare -m --propagation slave sh -ec "
    if [ -f /root/.bashrc ]; then mount --bind '$NET/bashrc' /root/.bashrc; fi
    exec /usr/sbin/sshd -f '$NET/sshd.conf' -E '$D/sshd.log'"
  set +e
  NONFS_BENCH_NS=1 unshare --mount --propagation private "$self" "$@"
  rc=$?
  set -e
  exit $rc
fi

# --- inside the private mount namespace ----------------------------------------------------------
# The device's disk, and on it the native copy of the host's rootfs (made again when the host's changed).
mkdir -p "$DEV"
if [ "$DEVICE_DISK" = image ]; then
  if [ ! -f "$D/device.img" ]; then
    truncate -s "$DEVICE_DISK_SIZE" "$D/device.img.part"
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$D/device.img.part"   # no init writes during runs
    mv "$D/device.img.part" "$D/device.img"
  fi
  mount -o loop "$D/device.img" "$DEV"
fi
if [ "$(cat "$DEV/tgt.stamp" 2>/dev/null)" != "$(cat "$D/rootfs.stamp")" ]; then
  echo "nonfs.sh: copying $HOSTROOT to the device ($TGTROOT, device disk: $DEVICE_DISK)" >&2
  rm -rf "$DEV/tgt" "$DEV/tgt.stamp"; mkdir -p "$DEV/tgt"
  cp -a "$HOSTROOT" "$TGTROOT"
  cp "$D/rootfs.stamp" "$DEV/tgt.stamp"
fi
for d in proc dev; do mount --bind /$d "$TGTROOT/$d"; done
: > "$D/tetherd.log"
rm -rf "$CACHE" "$D/cold"; mkdir -p "$D/cold"
start_tetherd
"${TETHER[@]}" --accept-new-host-key -- /bin/true >/dev/null
if nsenter -t "$(cat "$D/tetherd.pid")" -m test -e "$HOSTROOT/usr"; then
  echo "nonfs.sh: tetherd can see $HOSTROOT: the set-up is wrong" >&2; exit 1
fi
mount_sshfs
cleanup_ns() { stop_tetherd; umount_sshfs; }
# The first JVM client started the front door; warm runs must be its (a JVM client start is ~0.8 s).
door=no
for _ in $(seq 60); do
  if TETHER_FE_TRACE=1 "${TETHER[@]}" -r "$HOSTROOT" -- /bin/true 2>&1 >/dev/null | grep -q 'served by the front door'; then
    door=yes; break
  fi
  sleep 0.5
done
echo "nonfs.sh: front door serving -r runs: $door; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Warm runs are kernel-rooted once the rootfs's mirror is whole: from a tree's second run on, a pass lists the rest
# in the background during sessions (ARCHITECTURE.md, wholeness). Let it finish once, so the warm columns measure
# the steady state; how long it took is printed (with TETHER_KERNEL_ROOT=off on tetherd the wait is skipped).
if [ "${TETHER_KERNEL_ROOT:-on}" != off ]; then
  w0=$(date +%s.%N); whole=no
  for _ in $(seq 60); do
    grep -q ': whole: ' "$D/tetherd.log" && { whole=yes; break; }
    "${TETHER[@]}" -r "$HOSTROOT" -- /bin/sleep 1 >/dev/null 2>&1 || true
  done
  echo "nonfs.sh: rootfs mirror whole: $whole after $(python3 -c "import time;print(round(time.time()-$w0,1))") s ($(grep -h ': whole: ' "$D/tetherd.log" | head -1 | sed 's/.*: whole: //'))" >&2
fi
# The round trip each remote mode sees (the veth, plus the relays' delay and cost when RELAY=yes).
rtt() { sed -n 's/.*\(min [0-9.]* us, median [0-9.]* us\).*/\1/p'; }
rtt_tether=$(nsenter --net=/run/netns/$HNS "$D/snap/bin/tether" ping "${TOPTS[@]}" --control no -n 300 2>&1 | rtt)
rtt_sshfs=$(nsenter --net=/run/netns/$TNS python3 "$home/bench/ssh-echo-rtt.py" 300 ssh -F "$NET/ssh_config" sbhost 2>&1 | rtt)
link="RTT_MS=$RTT_MS (relays: $RELAY); round trip measured after set-up (300 one at a time): tether ping to tetherd ${rtt_tether:-failed}, 1-byte echo through sshfs's ssh ${rtt_sshfs:-failed}"
echo "nonfs.sh: $link" >&2
trap cleanup_ns EXIT

W0='/bin/true'   # once: each launcher's fixed cost (tether: a JVM start, the connection, one traced spawn)
for w in 1 2 3 4 5 6; do printf -v "W$w" '%s' "$(grep -v '^#' "$SHARED"/workloads/w$w-*.sh)"; done
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
env_="env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C"
has() { case " $MODES " in *" $1 "*) return 0;; esac; return 1; }

# Bytes and packets through the device's veth (rx: host to device, tx: device to host).
link_counters() {
  ip -n $TNS -s -j link show vt | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["stats64"]; print(s["rx"]["bytes"], s["tx"]["bytes"], s["rx"]["packets"], s["tx"]["packets"])'
}
# CPU clock ticks: the whole machine's (user, nice, system, irq, softirq: both sides of the link, every
# process of either mode) and tetherd's own (its threads, not its tracees).
cpu_ticks() { # bash builtins only: a python3 here costs ~0.4 s of CPU, more than a warm run
  local _c u n sy _i _w irq sirq _rest pid stat
  read -r _c u n sy _i _w irq sirq _rest < /proc/stat
  pid=$(cat "$D/tetherd.pid" 2>/dev/null || echo 0)
  local d=0
  if [ -r "/proc/$pid/stat" ]; then
    read -r stat < "/proc/$pid/stat"
    stat=${stat##*) }            # fields from the 3rd on: state is $1, utime the 12th, stime the 13th
    set -- $stat
    d=$(( ${12} + ${13} ))
  fi
  echo "$((u + n + sy + irq + sirq)),$d"
}
measure() { # name command...: one run, prints "name rx tx rxp txp seconds listings fetches fetchedB uploads uploadedB validations changes cpu"
  local name=$1; shift
  local before after t0 t1 logged c0 c1
  logged=$(wc -l < "$D/tetherd.log")
  before=$(link_counters); c0=$(cpu_ticks); t0=$(date +%s.%N)
  (cd / && "$@" >/dev/null 2>&1) || echo "nonfs.sh: $name failed in the traffic run" >&2
  t1=$(date +%s.%N); c1=$(cpu_ticks); after=$(link_counters)
  sleep 1   # the session's counters are logged as it finishes
  tail -n +$((logged + 1)) "$D/tetherd.log" | python3 -c '
import os, re, sys
name, b, a, t0, t1, c0, c1 = sys.argv[1:8]
delta = [y - x for x, y in zip(map(int, b.split()), map(int, a.split()))]
pat = re.compile(r"mirror session \(.*\): (\d+) listings, (\d+) fetches \((\d+) bytes\), (\d+) write-backs \((\d+) bytes\), (\d+) validations, (\d+) changes")
tot, seen = [0] * 7, False
for line in sys.stdin:
    m = pat.search(line)
    if m:
        seen = True
        tot = [x + int(v) for x, v in zip(tot, m.groups())]
hz = os.sysconf("SC_CLK_TCK")
cpu = "%.2f/%.2f" % tuple((int(y) - int(x)) / hz for x, y in zip(c0.split(","), c1.split(",")))
print(name, *delta, "%.2f" % (float(t1) - float(t0)), *(tot if seen else ["-"] * 7), cpu)' "$name" "$before" "$after" "$t0" "$t1" "$c0" "$c1"
}

printf '| workload | native (s) | tether warm (s) | sshfs warm (s) | tether cold (s) | sshfs cold (s) | warm: tether/native | warm: sshfs/tether | cold: sshfs/tether | cold: tether/native | warm less W0: tether/native | sshfs/tether |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
: > "$D/traffic.txt"
for w in $ONLY; do
  script=${!w}
  runs=$RUNS warmup=$WARMUP cruns=$COLD_RUNS cwarmup=$COLD_WARMUP cap=()
  case $w in W5|W6) runs=$SLOW_RUNS warmup=1 cruns=$SLOW_COLD_RUNS cwarmup=$SLOW_COLD_WARMUP cap=(timeout -k 10 "$CAP") ;; esac
  native="${cap[*]} chroot $TGTROOT $env_ /bin/sh -c $(q "$script")"
  tether="${cap[*]} ${TETHER[*]} -r $HOSTROOT -- $env_ /bin/sh -c $(q "$script")"
  tether_cold="${cap[*]} ${TETHER[*]} -r $COLDROOT -- $env_ /bin/sh -c $(q "$script")"
  sshfs="${cap[*]} chroot $MNT $env_ /bin/sh -c $(q "$script")"
  warm=() cold=() cprep=()
  has native && warm+=(-n native "$native")
  has tether && { warm+=(-n tether-warm "$tether"); cold+=(-n tether-cold "$tether_cold"); cprep+=(--prepare "$self _cold_tether"); }
  has sshfs && { warm+=(-n sshfs-warm "$sshfs"); cold+=(-n sshfs-cold "$sshfs"); cprep+=(--prepare "$self _cold_sshfs"); }
  [ "$COLD" = no ] && cold=()
  # Warm first (warm-up runs fill both caches), then cold, each prepare restarting its own side only.
  rm -f "$D/$w".warm.*.json
  per=$(( (runs + ROUNDS - 1) / ROUNDS ))
  for r in $(seq "$ROUNDS"); do
    (cd / && hyperfine -N -i --runs "$per" --warmup "$([ "$r" = 1 ] && echo "$warmup" || echo 0)" --export-json "$D/$w.warm.$r.json" \
      "${warm[@]}" >"$D/$w.warm.log" 2>&1) || echo "nonfs.sh: $w warm: hyperfine failed, see $D/$w.warm.log" >&2
  done
  python3 - "$D/$w.warm.json" "$D/$w".warm.*.json <<'EOF'
import json, statistics, sys
merged = {}
for path in sys.argv[2:]:
    try:
        for r in json.load(open(path))["results"]:
            m = merged.setdefault(r["command"], {"command": r["command"], "times": [], "exit_codes": []})
            m["times"] += r["times"]; m["exit_codes"] += r.get("exit_codes", [])
    except (OSError, ValueError):
        pass
for m in merged.values():
    m["median"] = statistics.median(m["times"])
json.dump({"results": list(merged.values())}, open(sys.argv[1], "w"))
EOF
  echo "nonfs.sh: $w warm done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  rm -f "$D/$w.cold.json"
  if [ ${#cold[@]} -gt 0 ]; then
    (cd / && hyperfine -N -i --runs "$cruns" --warmup "$cwarmup" "${cprep[@]}" --export-json "$D/$w.cold.json" "${cold[@]}" >"$D/$w.cold.log" 2>&1) \
      || echo "nonfs.sh: $w cold: hyperfine failed, see $D/$w.cold.log" >&2
  fi
  # Traffic: one cold and one warm run of each remote mode.
  if has tether; then
    [ "$COLD" = no ] || { "$self" _cold_tether; measure "$w tether-cold" bash -c "exec $tether_cold"; }
    measure "$w tether-warm" bash -c "exec $tether"
  fi >> "$D/traffic.txt"
  if has sshfs; then
    [ "$COLD" = no ] || { "$self" _cold_sshfs; measure "$w sshfs-cold" bash -c "exec $sshfs"; }
    measure "$w sshfs-warm" bash -c "exec $sshfs"
  fi >> "$D/traffic.txt"
  python3 - "$w" "$D/$w.warm.json" "$D/$w.cold.json" "$CAP" "$D/W0.warm.json" <<'EOF'
import json, os, sys
w, warm, cold, cap, w0 = sys.argv[1:6]
res = {}
for path in (warm, cold):
    try:
        res.update({r["command"]: r for r in json.load(open(path))["results"]})
    except (OSError, ValueError):
        pass  # that hyperfine failed: its cells show "-"
def cell(name):
    r = res.get(name)
    if r is None:
        return None, "-"
    bad = [c for c in r.get("exit_codes", []) if c != 0]
    if not bad:
        return r["median"], f"{r['median']:.3f}"
    why = f"timeout {cap} s" if bad[0] in (124, 137) else f"exit {bad[0]}"
    return None, f"fails ({why}, {len(bad)}/{len(r['exit_codes'])} runs)"
(n, ns), (tw, tws), (sw, sws), (tc, tcs), (sc, scs) = (cell(x) for x in ("native", "tether-warm", "sshfs-warm", "tether-cold", "sshfs-cold"))
ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"
less = ["-", "-"]
try:
    base = {r["command"]: r["median"] for r in json.load(open(w0))["results"]} if w != "W0" else None
except (OSError, ValueError):
    base = None
if base and n and tw and sw:
    n0, t0, s0 = n - base.get("native", 0), tw - base.get("tether-warm", 0), sw - base.get("sshfs-warm", 0)
    less = [ratio(t0, n0), ratio(s0, t0)]
print(f"| {w} | {ns} | {tws} | {sws} | {tcs} | {scs} | {ratio(tw, n)} | {ratio(sw, tw)} | {ratio(sc, tc)} | {ratio(tc, n)} | {' | '.join(less)} |")
EOF
done

echo
echo "Link cost of one run (device veth; rx = host to device, tx = device to host):"
python3 - "$D/traffic.txt" <<'EOF'
import sys
print("| workload | mode | MB to device | MB to host | packets to device | packets to host | s (this run) "
      "| CPU s: machine / tetherd | daemon requests: listings | fetches (MB) | write-backs (MB) | validations | changes |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    w, mode, rx, tx, rxp, txp, s, *c = line.split()
    cpu = c.pop() if c and "/" in c[-1] else "-"
    if c and c[0] != "-":
        l, f, fb, u, ub, v, ch = map(int, c)
        extra = f"{l} | {f} ({fb / 1e6:.2f}) | {u} ({ub / 1e6:.2f}) | {v} | {ch}"
    else:
        extra = "- | - | - | - | -"
    print(f"| {w} | {mode} | {int(rx) / 1e6:.2f} | {int(tx) / 1e6:.2f} | {rxp} | {txp} | {s} | {cpu} | {extra} |")
EOF
# Short runs on a new tree (SHORT=N): the sbrsh use, one `tether run` per conftest-sized program. N runs of W0 on
# a rootfs path new to the daemon (the first is cold; from the second on a completion pass makes the tree whole in
# the background, after which runs are kernel-rooted), each run's time and mode (KernelRoot's debug line);
# against sshfs mounted anew once, then N runs of the same.
if [ "${SHORT:-0}" -gt 0 ]; then
  new_coldroot
  short_t="" short_m=""
  for _ in $(seq "$SHORT"); do
    n0=$(grep -c 'KernelRoot - ' "$D/tetherd.log" || true)
    s0=$(date +%s%N); "${TETHER[@]}" -r "$COLDROOT" -- $env_ /bin/sh -c /bin/true >/dev/null 2>&1 || true; s1=$(date +%s%N)
    m=$(grep 'KernelRoot - ' "$D/tetherd.log" | tail -n +$((n0 + 1)) | grep -o 'kernel-rooted run\|path-rewriting run' | head -1 | cut -c1-4)
    short_t="$short_t $(( (s1 - s0) / 1000000 ))" short_m="$short_m ${m:-?}"
  done
  umount_sshfs; mount_sshfs
  sshfs_t=""
  for _ in $(seq "$SHORT"); do
    s0=$(date +%s%N); chroot "$MNT" $env_ /bin/sh -c /bin/true >/dev/null 2>&1 || true; s1=$(date +%s%N)
    sshfs_t="$sshfs_t $(( (s1 - s0) / 1000000 ))"
  done
  python3 - "$short_t" "$short_m" "$sshfs_t" <<'EOF2'
import statistics, sys
t = [int(x) for x in sys.argv[1].split()]; m = sys.argv[2].split(); st = [int(x) for x in sys.argv[3].split()]
first = next((i + 1 for i, x in enumerate(m) if x == "kern"), None)
tail = max(1, len(t) // 4)
print()
print(f"Short runs on a new tree ({len(t)} x W0, ms; r = rewriting paths, k = kernel-rooted):")
print("tether: " + " ".join(f"{x}{'k' if y == 'kern' else 'r' if y == 'path' else '?'}" for x, y in zip(t, m)))
print("sshfs:  " + " ".join(str(x) for x in st))
print(f"| mode | first kernel-rooted run | median of the last {tail} (ms) | all {len(t)} (s) |")
print("|---|---|---|---|")
print(f"| tether | {first or 'none'} | {statistics.median(t[-tail:]):.0f} | {sum(t) / 1000:.2f} |")
print(f"| sshfs (mounted anew) | - | {statistics.median(st[-tail:]):.0f} | {sum(st) / 1000:.2f} |")
EOF2
fi

echo
echo "medians (hyperfine -N; warm: $RUNS runs after $WARMUP warm-up in $ROUNDS round(s), cold: $COLD_RUNS runs after $COLD_WARMUP cold warm-up (COLD=$COLD); W5/W6 $SLOW_RUNS/$SLOW_COLD_RUNS after $SLOW_COLD_WARMUP," \
  "capped at $CAP s); rootfs: copy of ${ROOTFS:-the make-debian-rootfs.sh debootstrap} at $HOSTROOT (host) and $TGTROOT (native; device disk: $DEVICE_DISK);" \
  "sshfs options $SSHFS_OPTS; link: $link; tetherd --cache-dir $CACHE $TETHERD_OPTS; logs and JSON in $D"
