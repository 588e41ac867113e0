#!/usr/bin/env bash
# device.sh -- issue 6's benchmark (BENCHMARKS.md, "ARM device"): W1-W6 of ../shared/bench/workloads
# in an aarch64 Debian rootfs kept on this x86_64 HOST, three ways, side by side, in one run:
#   tether   the emulated aarch64 device (tests/device/boot-device.sh: qemu-system-aarch64 -M virt, TCG,
#            this checkout's tetherd as the tests run it) runs `tether run -t ssh://127.0.0.1:PORT
#            -r HOST_ROOTFS -- W`: No NFS, the rootfs served from the host over the one connection;
#   sshfs    the same device mounts HOST_ROOTFS with sshfs (the cached variant of bench/nonfs.sh) from an
#            sshd of its own on the host's 127.0.0.1:SPORT (10.0.2.2:SPORT from the guest), binds /dev
#            and /proc into it, and runs `chroot MNT W` (what users do today with a board);
#   qemu     qemu-user + chroot on the host: `chroot HOST_ROOTFS W`, aarch64 programs run by a
#            binfmt_misc handler for qemu-aarch64-static (what users pick with no board). The handler is
#            registered in a binfmt_misc instance of a user namespace of the run's own (Linux 6.7+, as
#            make-foreign-rootfs.sh does): the machine's binfmt_misc never sees it.
# Each W runs as `env -i ... bash -c 'a=$EPOCHREALTIME; /bin/sh -c W; b=$EPOCHREALTIME'` inside the
# root, so two times are reported per run: "inner" (bash's clock inside the root: the workload alone,
# no launcher; for tether, the traced run on the device) and "host" (wall time of the whole command on
# the host: tether's client and connection, or the root exec that runs the chroot on the device, or
# unshare + mounts + chroot). The sshfs mode's chroot is started on the device by a second tetherd
# that runs as root on guest port 2223 (forwarded from 127.0.0.1:PORT+1), WITHOUT -r: untraced, a plain
# remote exec. The device's root is copy-on-write (-snapshot) and the tests' image is used unchanged: the
# bench's set-up reaches it through boot-device.sh --extra (a directory on the per-boot disk whose
# `init` device-init runs as root before tetherd): sshfs, fuse3 and openssh-client, arm64 .debs resolved
# against the image's own dpkg status by apt-get with a private state directory, unpacked on the host,
# copied into the device's root at boot; `modprobe fuse`; the root tetherd; a tmpfs (1200M) for the
# tests' tetherd's --cache-dir (the image's root has ~390 MB free).
# Warm: WARMUP untimed runs per cell first, then RUNS timed runs, modes taking turns. COLD=yes adds one
# cold run per W for tether (the rootfs bind-mounted at a new host path: the daemon's cache is keyed by
# host path, so it holds nothing for it) and sshfs (unmounted and mounted again first).
# The bench rootfs: make-foreign-rootfs.sh's debootstrap with EXTRA=gcc,make,libc6-dev (W5, W6), a
# cache of its own ($TETHER_ROOTFS_CACHE/rootfs-bookworm-arm64-bench), copied to $D/rootfs with the
# W5/W6 inputs (../shared/bench/prepare-workloads.sh). Needs root, qemu-system-arm, qemu-user-static,
# openssh-server, debootstrap (the scripts install what they need).
# Env: RUNS (timed runs per cell, 1), WARMUP (1), CAP (seconds per run before it is killed and
# reported as a timeout, 1800), ONLY ("W1 W2 W3 W4 W5 W6"), MODES ("tether sshfs qemu"), COLD (no),
# D (/tmp/tbdev; keep it short: agent sockets live in it), PORT (10122; PORT+1 and PORT+2 too),
# SHARED (../shared/bench), TETHER_DEVICE_CPUS (2) and TETHER_DEVICE_MEM (4096) for the device.
# Prints medians and ratios at the end; `bench/device.sh report` prints them again from $D/results.txt
# (also while a run is going on).
set -euo pipefail
home=$(cd "$(dirname "$0")/.." && pwd)
self=$(readlink -f "$0")
D=${D:-/tmp/tbdev}
RUNS=${RUNS:-1}
WARMUP=${WARMUP:-1}
CAP=${CAP:-1800}
ONLY=${ONLY:-W1 W2 W3 W4 W5 W6}
MODES=${MODES:-tether sshfs qemu}
COLD=${COLD:-no}
PORT=${PORT:-10122}; RPORT=$((PORT + 1)); SPORT=$((PORT + 2))
SHARED=${SHARED:-$home/../shared/bench}
RCACHE=${TETHER_ROOTFS_CACHE:-/var/cache/tether-test}
export TETHER_DEVICE_CPUS=${TETHER_DEVICE_CPUS:-2} TETHER_DEVICE_MEM=${TETHER_DEVICE_MEM:-4096}
ROOT=$D/rootfs; NET=$D/net; MNT=/mnt/bench   # MNT: on the device
SSHFS_OPTS="no_contain_symlinks,kernel_cache,dcache_timeout=86400,dcache_stat_timeout=86400,dcache_link_timeout=86400,dcache_dir_timeout=86400,attr_timeout=86400,entry_timeout=86400,negative_timeout=86400"
export XDG_RUNTIME_DIR=$D/run TETHER_CONFIG=$NET/targets.properties
CLIENT=("$home/bin/tether" run -i "$NET/id_ed25519" --known-hosts "$NET/known_hosts")
DEV=("${CLIENT[@]}" -t "ssh://root@127.0.0.1:$PORT")      # the tests' tetherd (user tetherd)
RDEV=("${CLIENT[@]}" -t "ssh://root@127.0.0.1:$RPORT")    # the bench's root tetherd
QEMU=$(command -v qemu-aarch64-static || true)
log() { echo "device.sh: $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

report() {
  python3 - "$D/results.txt" "$RUNS" "$WARMUP" "$CAP" <<'EOF'
import statistics, sys
res, runs, warmup, cap = sys.argv[1:]
cells = {}
for line in open(res):
    w, mode, kind, host, inner, rc = line.split()
    cells.setdefault((w, mode, kind), []).append((host, inner, rc))
def med(w, mode, kind, i):
    rs = cells.get((w, mode, kind))
    if not rs:
        return None, "-"
    bad = [r[2] for r in rs if r[2] != "0"]
    if bad:
        return None, f"fails (rc {bad[0]}{', timeout ' + cap + ' s' if bad[0] in ('124', '137') else ''})"
    v = statistics.median(float(r[i]) for r in rs)
    return v, f"{v:.2f}"
ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "-"
ws = sorted({k[0] for k in cells}, key=lambda w: int(w[1:]))
print("Warm, inner (the workload's own time inside its root, s) and host (the whole command's wall time, s):\n")
print("| workload | tether inner | sshfs inner | qemu-user inner | tether/sshfs | tether/qemu-user | tether host | sshfs host | qemu-user host | host: tether/sshfs | tether/qemu-user |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for w in ws:
    (ti, tis), (si, sis), (qi, qis) = (med(w, m, "warm", 1) for m in ("tether", "sshfs", "qemu"))
    (th, ths), (sh, shs), (qh, qhs) = (med(w, m, "warm", 0) for m in ("tether", "sshfs", "qemu"))
    print(f"| {w} | {tis} | {sis} | {qis} | {ratio(ti, si)} | {ratio(ti, qi)} | {ths} | {shs} | {qhs} | {ratio(th, sh)} | {ratio(th, qh)} |")
if any(k[2] == "warmup" for k in cells):
    print("\nFirst run (the first warm-up run: tether's device cache and sshfs's kernel cache as the previous W left them), inner / host (s):\n")
    print("| workload | tether | sshfs | qemu-user | tether/sshfs (inner) |")
    print("|---|---|---|---|---|")
    for w in ws:
        firsts = {m: next((r for r in cells.get((w, m, "warmup"), [])), None) for m in ("tether", "sshfs", "qemu")}
        f = lambda r: "-" if r is None else (f"{float(r[1]):.2f} / {float(r[0]):.2f}" if r[2] == "0" and r[1] != "-" else f"fails (rc {r[2]})")
        t, sv = firsts["tether"], firsts["sshfs"]
        ok = t and sv and t[2] == "0" and sv[2] == "0"
        print(f"| {w} | {f(t)} | {f(sv)} | {f(firsts['qemu'])} | {ratio(float(t[1]), float(sv[1])) if ok else '-'} |")
if any(k[2] == "cold" for k in cells):
    print("\nCold (one run each), inner / host (s):\n")
    print("| workload | tether cold | sshfs cold | tether/sshfs (inner) |")
    print("|---|---|---|---|")
    for w in ws:
        (ti, tis), (si, sis) = (med(w, m, "cold", 1) for m in ("tether", "sshfs"))
        (th, ths), (sh, shs) = (med(w, m, "cold", 0) for m in ("tether", "sshfs"))
        print(f"| {w} | {tis} / {ths} | {sis} / {shs} | {ratio(ti, si)} |")
print(f"\nmedians of {runs} warm run(s) per cell after {warmup} warm-up run(s), capped at {cap} s; raw: {res}")
EOF
}
[ "${1:-}" != report ] || { report; exit 0; }

if [ -z "${DEVICE_BENCH_NS:-}" ]; then
  [ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }
  need=
  command -v qemu-system-aarch64 >/dev/null || need="$need qemu-system-arm"
  [ -n "$QEMU" ] || need="$need qemu-user-static"
  [ -x /usr/sbin/sshd ] || need="$need openssh-server"
  [ -z "$need" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  # Everything the bench mounts (the cold runs' binds, sshd's .bashrc) vanishes with this namespace.
  exec env DEVICE_BENCH_NS=1 unshare --mount --propagation private "$self" "$@"
fi

# --- the bench rootfs, on the host ---------------------------------------------------------------
mkdir -p "$D/src" "$NET" "$XDG_RUNTIME_DIR"; chmod 700 "$NET" "$XDG_RUNTIME_DIR"
src=$(EXTRA=gcc,make,libc6-dev "$home/tests/rootfs/make-foreign-rootfs.sh" arm64 "$RCACHE/rootfs-bookworm-arm64-bench" | tail -1)
stamp="$src $(cat "$src/.tether-rootfs-stamp") $(cat "$SHARED/prepare-workloads.sh" "$SHARED"/workloads/*.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$D/rootfs.stamp" 2>/dev/null)" != "$stamp" ]; then
  log "copying $src to $ROOT, preparing the workloads"
  rm -rf "$ROOT" "$D/rootfs.stamp"
  cp -a "$src" "$ROOT"
  [ -f "$D/src/hello_2.10.orig.tar.gz" ] || cp "$RCACHE/hello_2.10.orig.tar.gz" "$D/src/" 2>/dev/null || true
  SRC=$D/src sh "$SHARED/prepare-workloads.sh" "$ROOT" >&2
  echo "$stamp" > "$D/rootfs.stamp"
fi

# --- what the device gets on its per-boot disk (boot-device.sh --extra) ---------------------------
image=$("$home/tests/device/make-device-image.sh" | tail -1)
X=$D/extra
[ -f "$NET/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$NET/id_ed25519"
[ -f "$NET/sshd_host" ] || ssh-keygen -q -t ed25519 -N '' -f "$NET/sshd_host"
: > "$NET/targets.properties"; : > "$NET/known_hosts"; : > "$NET/bashrc"
if [ "$(cat "$D/extra.stamp" 2>/dev/null)" != "$(cat "$image/.tether-device-stamp")" ]; then
  # sshfs and what it needs that the image lacks: apt-get resolves against the image's dpkg status.
  log "fetching arm64 sshfs for the device"
  A=$D/apt; rm -rf "$A" "$X"; mkdir -p "$A"/{state/lists/partial,cache/archives/partial,parts,prefs} "$X/root"
  debugfs -R "dump /var/lib/dpkg/status $A/status" "$image/rootfs.img" 2>/dev/null
  mirror=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror:-http://deb.debian.org/debian} bookworm main" > "$A/sources.list"
  apt=(apt-get -qq -o "Dir::State=$A/state" -o "Dir::State::status=$A/status" -o "Dir::Cache=$A/cache"
       -o "Dir::Etc::sourcelist=$A/sources.list" -o "Dir::Etc::sourceparts=$A/parts" -o "Dir::Etc::preferencesparts=$A/prefs"
       -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1 -o APT::Install-Recommends=0)
  "${apt[@]}" update
  "${apt[@]}" install -y --download-only sshfs >/dev/null
  for deb in "$A"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$X/root"; done
  chmod 755 "$X/root"
  ls "$A"/cache/archives/*.deb | sed 's,.*/,,' > "$X/debs"
  cat "$image/.tether-device-stamp" > "$D/extra.stamp"
fi
cp "$NET/id_ed25519" "$X/id_ed25519"
cat > "$X/ssh_config" <<EOC
Host sbhost
  HostName 10.0.2.2
  Port $SPORT
  User root
  IdentityFile /root/.ssh/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
EOC
cat > "$X/init" <<'EOI'
#!/bin/sh
# bench/device.sh's set-up on the device, run as root by device-init before tetherd starts.
x=/opt/tether/extra
tar -C $x/root -cf - . | tar -C / --keep-directory-symlink -xf -
ldconfig
modprobe fuse
install -d -m 700 /root/.ssh
install -m 600 $x/id_ed25519 /root/.ssh/id_ed25519
install -m 600 $x/ssh_config /root/.ssh/config
mkdir -p /mnt/bench /var/cache/tetherd-root
# The tests' tetherd caches the served rootfs here: more room than the image's root has.
mount -t tmpfs -o size=1200M,mode=0755 tetherd-cache /var/cache/tetherd && chown tetherd:tetherd /var/cache/tetherd
# A root tetherd for the sshfs mode's mount and chroot (plain remote execs, no -r).
TETHERD_JAVA_OPTS="-XX:TieredStopAtLevel=1" HOME=/root setsid /opt/tether/bin/tetherd --listen 0.0.0.0:2223 \
  --host-key /root/tetherd_host_key --authorized-keys /opt/tether/etc/authorized_keys \
  --cache-dir /var/cache/tetherd-root </dev/null >/var/log/tetherd-root.log 2>&1 &
echo "tether-device: bench set-up done ($(cat $x/debs | tr '\n' ' '))"
EOI
chmod 755 "$X/init"

# --- the host's sshd for the device's sshfs (loopback only) ---------------------------------------
cp "$NET/id_ed25519.pub" "$NET/authorized_keys"
cat > "$NET/sshd.conf" <<EOC
ListenAddress 127.0.0.1:$SPORT
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
mkdir -p /run/sshd
# sshd runs bash for the sftp subsystem; keep ~/.bashrc out of the measurement (as nonfs.sh).
[ -f /root/.bashrc ] && mount --bind "$NET/bashrc" /root/.bashrc
rm -f "$D/sshd.pid"
/usr/sbin/sshd -f "$NET/sshd.conf" -E "$D/sshd.log"

boot= child=
cleanup() {
  trap - EXIT INT TERM HUP
  set +e
  # The run going on: TERM first (tether's client passes it on), then KILL (unshare --fork ignores TERM).
  if [ -n "$child" ]; then
    kill -TERM -- "-$child" 2>/dev/null; sleep 3; kill -KILL -- "-$child" 2>/dev/null; wait "$child" 2>/dev/null
  fi
  # Our children hold the FIFO's write end too: signal boot-device.sh, which then stops qemu.
  [ -n "$boot" ] && { exec 7>&-; kill "$boot"; for _ in $(seq 300); do kill -0 "$boot" 2>/dev/null || break; sleep 0.1; done; } 2>/dev/null
  [ -f "$D/sshd.pid" ] && kill "$(cat "$D/sshd.pid")" 2>/dev/null
  # The client's agents and front door for these targets outlive their runs: end them (by pid).
  for p in $(pgrep -f -- "$XDG_RUNTIME_DIR" || true); do [ "$p" = $$ ] || kill "$p" 2>/dev/null; done
  grep " $D/cold/" /proc/self/mounts | cut -d' ' -f2 | xargs -r -n1 umount -l 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the device -----------------------------------------------------------------------------------
log "load average at start: $(load); booting the device ($TETHER_DEVICE_CPUS cpus, $TETHER_DEVICE_MEM MB)"
rm -f "$D/boot.in"; mkfifo "$D/boot.in"
"$home/tests/device/boot-device.sh" --key "$NET/id_ed25519.pub" --port "$PORT" --forward "$RPORT:2223" \
  --extra "$X" --log "$D/console.log" "$image" <"$D/boot.in" >"$D/boot.out" 2>"$D/boot.err" &
boot=$!
exec 7>"$D/boot.in"   # the device stays up while this is open
until grep -q ready "$D/boot.out"; do
  kill -0 "$boot" 2>/dev/null || { cat "$D/boot.err" >&2; log "the device did not boot"; exit 1; }
  sleep 2
done
log "$(cat "$D/boot.out")"
cd /
t0=$SECONDS
until "${RDEV[@]}" --accept-new-host-key -- /bin/true >/dev/null 2>"$D/rdev.err"; do
  [ $((SECONDS - t0)) -lt 600 ] || { cat "$D/rdev.err" >&2; tail -20 "$D/console.log" >&2; log "no root tetherd"; exit 1; }
  sleep 3
done
"${DEV[@]}" --accept-new-host-key -r "$ROOT" -- /bin/true
log "device: $("${RDEV[@]}" -- /bin/sh -c 'echo "$(uname -m), $(nproc) cpus, $(grep MemTotal /proc/meminfo | tr -s " "), fuse: $(grep -c fuse /proc/filesystems)"')"

# sshfs and its ssh outlive the run that mounts: a session of their own (setsid), and none of the
# fds tetherd gave that run (held by sshfs, they kept the run from ending).
mount_sshfs() {
  "${RDEV[@]}" -- /bin/sh -ec "PATH=/usr/sbin:/usr/bin:/sbin:/bin
    mountpoint -q $MNT || python3 -c 'import os, sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' setsid -w sshfs -F /root/.ssh/config -o $SSHFS_OPTS sbhost:$ROOT $MNT </dev/null >/dev/null 2>>/var/log/sshfs.log
    mountpoint -q $MNT/dev || mount --bind /dev $MNT/dev
    mountpoint -q $MNT/proc || mount -t proc proc $MNT/proc
    test -x $MNT/usr/bin/gcc"
}
umount_sshfs() { "${RDEV[@]}" -- /bin/sh -c "PATH=/usr/sbin:/usr/bin:/sbin:/bin; umount $MNT/proc; umount $MNT/dev; umount $MNT" >/dev/null 2>&1 || true; }
has() { case " $MODES " in *" $1 "*) return 0;; esac; return 1; }
if has sshfs; then mount_sshfs; fi

# --- the runs -------------------------------------------------------------------------------------
for w in 1 2 3 4 5 6; do printf -v "W$w" '%s' "$(grep -v '^#' "$SHARED"/workloads/w$w-*.sh)"; done
INNER='a=$EPOCHREALTIME; /bin/sh -c "$1"; rc=$?; b=$EPOCHREALTIME; echo "@inner $a $b $rc"; exit $rc'
GUEST=(/usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LC_ALL=C /bin/bash -c "$INNER" bash)
# qemu-user on the host: a user namespace (root mapped to root) with binfmt_misc, /dev and /proc of
# its own, the handler registered with F (the kernel opens qemu now: the chroot needs no copy of it).
QMAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
QMASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
QSETUP='mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf "%s" ":bench-aarch64:M::$1:$2:$3:F" >/proc/sys/fs/binfmt_misc/register
mount --rbind /dev "$4/dev"; mount -t proc proc "$4/proc"
r=$4; shift 4; exec chroot "$r" "$@"'
QUSER=(unshare --user --map-root-user --mount --pid --fork --kill-child sh -ec "$QSETUP" q "$QMAGIC" "$QMASK" "$QEMU")

RES=$D/results.txt
: > "$RES"
# one W MODE KIND [ROOTFS]: one run, appends "W MODE KIND host_s inner_s rc" to $RES.
one() {
  local w=$1 mode=$2 kind=$3 root=${4:-$ROOT} script out a b rc=0 cmd
  script=${!w}
  out=$D/out.$w.$mode.$kind
  a=$EPOCHREALTIME
  case $mode in
    tether) cmd=("${DEV[@]}" -r "$root" -- "${GUEST[@]}" "$script") ;;
    sshfs) cmd=("${RDEV[@]}" -- /usr/sbin/chroot "$MNT" "${GUEST[@]}" "$script") ;;
    qemu) cmd=("${QUSER[@]}" "$ROOT" "${GUEST[@]}" "$script") ;;
  esac
  # In the background: a signal to this script interrupts the wait, and cleanup ends the run (timeout
  # runs it in a process group of its own, whose id is timeout's pid).
  timeout -k 10 "$CAP" "${cmd[@]}" >"$out" 2>>"$D/runs.err" &
  child=$!
  wait "$child" || rc=$?
  child=
  b=$EPOCHREALTIME
  python3 - "$w" "$mode" "$kind" "$a" "$b" "$rc" "$out" >>"$RES" <<'EOF'
import sys
w, mode, kind, a, b, rc, out = sys.argv[1:]
inner = [l.split() for l in open(out, errors="replace") if l.startswith("@inner ")]
t = "%.3f" % (float(inner[-1][2]) - float(inner[-1][1])) if inner else "-"
print(w, mode, kind, "%.3f" % (float(b) - float(a)), t, inner[-1][3] if inner else rc)
EOF
  tail -1 "$RES" | sed 's/^/device.sh: /' >&2
}

for w in $ONLY; do
  log "$w: load average $(load)"
  for i in $(seq "$WARMUP"); do for m in $MODES; do one "$w" "$m" warmup; done; done
  for i in $(seq "$RUNS"); do for m in $MODES; do one "$w" "$m" warm; done; done
  if [ "$COLD" = yes ]; then
    if has tether; then
      c=$D/cold/$w-$(date +%s); mkdir -p "$c"; mount --bind "$ROOT" "$c"
      one "$w" tether cold "$c"; umount "$c"
    fi
    if has sshfs; then umount_sshfs; mount_sshfs; one "$w" sshfs cold; fi
  fi
done
log "load average at the end: $(load)"

report
