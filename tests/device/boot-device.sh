#!/usr/bin/env bash
# boot-device.sh --key PUBKEY [--arch ARCH] [--port PORT] [--log FILE] [--timeout SECONDS] [--extra DIR]
#                [--forward PORT:GUESTPORT]... [IMAGE_DIR]
# Boots the emulated device (make-device-image.sh's IMAGE_DIR; by default it runs that script with
# --arch ARCH) under qemu-system-aarch64 -M virt -cpu cortex-a72 (ARCH arm64, the default) or
# qemu-system-arm -M virt -cpu cortex-a15 (armhf) with TCG, and runs tetherd of THIS checkout on it:
#   - the root image is opened with -snapshot: writes go to a temporary overlay, the cache stays clean;
#   - a second disk (/dev/vdb, mounted on /opt/tether) is made now with mkfs.ext4 -d from this checkout's
#     bin/tetherd, daemon jar and libraries (built if needed), etc/authorized_keys (PUBKEY) and
#     device-init (tests/device/device-init.sh: the device's init, which starts tetherd);
#   - user-mode networking forwards 127.0.0.1:PORT (loopback only; default 10022) to the device's
#     tetherd on port 2222;
#   - the serial console goes to FILE (default: $TMPDIR/tether-device-PORT.log);
#   - --extra DIR is copied onto the per-boot disk as /opt/tether/extra; device-init runs its `init`,
#     if executable, as root before tetherd starts (bench/device.sh: sshfs and a root tetherd);
#   - --forward PORT:GUESTPORT (repeatable) forwards 127.0.0.1:PORT to the device's GUESTPORT too.
# Prints "ready 127.0.0.1:PORT" once tetherd answers (its SSH banner), then keeps the device up until
# its stdin reaches EOF (or it gets SIGTERM, SIGINT or SIGHUP), and then stops qemu: a caller that dies
# takes the device with it. Exit 3: cannot boot here (no qemu-system-* or no image); 1: the device
# did not answer within SECONDS (default 900: a cold JVM under TCG on a loaded machine is slow), with the
# console's tail on stderr.
set -euo pipefail
home=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
port=10022 log= key= timeout=900 arch=arm64 extra= forwards=
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --key) key=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --extra) extra=$2; shift 2 ;;
    --forward) [[ $2 =~ ^[0-9]+:[0-9]+$ ]] || { echo "boot-device: --forward PORT:GUESTPORT, not $2" >&2; exit 2; }
      forwards+=",hostfwd=tcp:127.0.0.1:${2%%:*}-:${2#*:}"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "boot-device: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ -n "$key" ] && [ -f "$key" ] || { echo "boot-device: --key PUBKEY is needed" >&2; exit 2; }
case $arch in
  arm64) system=qemu-system-aarch64 cpu=cortex-a72 ;;
  armhf) system=qemu-system-arm cpu=cortex-a15 ;;
  *) echo "boot-device: unsupported architecture $arch (arm64, armhf)" >&2; exit 2 ;;
esac
command -v $system >/dev/null \
  || { echo "boot-device: cannot boot here: no $system (apt-get install qemu-system-arm)" >&2; exit 3; }
if [ $# -ge 1 ]; then
  image=$1
else
  rc=0; image=$("$home/tests/device/make-device-image.sh" --arch "$arch" | tail -1) || rc=$?
  [ $rc = 0 ] || exit $rc
fi
for f in rootfs.img vmlinuz initrd.img; do
  [ -f "$image/$f" ] || { echo "boot-device: cannot boot here: no $image/$f" >&2; exit 3; }
done
log=${log:-${TMPDIR:-/tmp}/tether-device-$port.log}

. "$home/bin/.launcher-lib"
tether_ensure_built daemon tetherd

work=$(mktemp -d "${TMPDIR:-/tmp}/tether-device.XXXXXX")
qemu=
stop() {
  trap - EXIT INT TERM HUP
  if [ -n "$qemu" ] && kill -0 "$qemu" 2>/dev/null; then
    kill "$qemu" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$qemu" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT
trap 'stop; exit 143' INT TERM HUP

# tetherd as deploy/install-tetherd.sh lays it out, on a disk of its own.
stage=$work/tether
mkdir -p "$stage/bin" "$stage/daemon/target" "$stage/etc"
cp "$home/bin/tetherd" "$home/bin/.launcher-lib" "$stage/bin/"
cp -r "$home/daemon/target/tetherd.jar" "$home/daemon/target/lib" "$stage/daemon/target/"
cp "$key" "$stage/etc/authorized_keys"
cp "$home/tests/device/device-init.sh" "$stage/device-init"
[ -z "$extra" ] || cp -a "$extra" "$stage/extra"
chmod -R a+rX "$stage"
mkfs.ext4 -q -F -L tether-opt -d "$stage" -E root_owner=0:0 "$work/tether.img" "$(( $(du -sm "$stage" | cut -f1) + 16 ))M" >/dev/null

: >"$log"
$system -M virt -cpu $cpu -smp "${TETHER_DEVICE_CPUS:-2}" -m "${TETHER_DEVICE_MEM:-1536}" \
  -nographic -monitor none -serial "file:$log" \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -append "console=ttyAMA0 root=/dev/vda rw init=/sbin/tether-device-init net.ifnames=0 quiet" \
  -snapshot \
  -drive "file=$image/rootfs.img,format=raw,if=virtio" \
  -drive "file=$work/tether.img,format=raw,if=virtio" \
  -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:2222$forwards" -device virtio-net-pci,netdev=net0,romfile= \
  </dev/null >"$work/qemu.out" 2>&1 &
qemu=$!

# slirp accepts on the host side before anything listens on the device: wait for tetherd's own banner.
answers() {
  local banner=
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  read -r -t 10 banner <&3 || true
  exec 3<&- 3>&-
  [[ $banner == SSH-* ]]
}
t0=$SECONDS
until answers; do
  if ! kill -0 "$qemu" 2>/dev/null; then
    echo "boot-device: qemu exited: $(cat "$work/qemu.out")" >&2; tail -30 "$log" >&2; exit 1
  fi
  if [ $((SECONDS - t0)) -ge "$timeout" ]; then
    echo "boot-device: tetherd did not answer on 127.0.0.1:$port within $timeout s; console ($log):" >&2
    tail -30 "$log" >&2; exit 1
  fi
  sleep 2
done
echo "ready 127.0.0.1:$port ($((SECONDS - t0)) s)"
# Up until the caller closes our stdin (or qemu ends: the device powers off when tetherd exits).
while kill -0 "$qemu" 2>/dev/null; do
  rc=0; read -r -t 2 _ || rc=$?
  [ $rc = 0 ] || [ $rc -gt 128 ] || break
done
