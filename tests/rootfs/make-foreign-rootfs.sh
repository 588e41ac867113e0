#!/bin/sh
# make-foreign-rootfs.sh [ARCH [DEST]] -- a Debian bookworm rootfs of a foreign architecture
# (debootstrap --variant=minbase --foreign, plus python3), its second stage run under qemu-user, for
# `tether run -q qemu-ARCH-static` (QemuRootfsTest), cached between runs. Prints DEST on its last line.
#   ARCH: a Debian architecture, default arm64 (armhf works the same way).
#   DEST: default $TETHER_ROOTFS_CACHE/rootfs-bookworm-ARCH (TETHER_ROOTFS_CACHE: /var/cache/tether-test).
# The second stage needs the kernel to run ARCH binaries by itself: a binfmt_misc handler for
# qemu-ARCH-static is registered in a PRIVATE binfmt_misc instance, inside a user namespace (with the
# identity mapping of all ids) that this script creates and that dies with it (Linux 6.7+: "sandboxed"
# binfmt_misc mounts), so the machine's own binfmt_misc (its other users, the tests that prove
# tether's -q runs foreign binaries) never sees it. Where a global handler already exists (binfmt-support),
# it is used as it is.
# DEST/.tether-rootfs-stamp holds this script's hash: the rootfs is rebuilt only when the script changes.
# A build goes into a temporary directory next to DEST, renamed into place when complete, under a lock.
# Exit 0: DEST is ready; 3: it cannot be built here (not root, no debootstrap or qemu-user-static and
# no apt-get, Debian mirror unreachable, no sandboxed binfmt_misc): callers skip; anything else: failure.
# Env: MIRROR (default: the first Debian URI in this machine's apt sources, else deb.debian.org);
#      EXTRA: more packages, comma-separated (tests/device/make-device-image.sh: a JRE and a kernel);
#      OVERLAY: a directory copied into the rootfs between the stages (dpkg and initramfs settings).
# A cold arm64 build took 194 s on a loaded 2-vCPU VM (first stage 21 s; the second stage, dpkg under
# emulation, 173 s); 244 MB. Warm: instant (the stamp matches).
set -eu
SUITE=bookworm
ARCH=${1:-arm64}
INCLUDE=python3${EXTRA:+,$EXTRA}
CACHE=${TETHER_ROOTFS_CACHE:-/var/cache/tether-test}
DEST=${2:-$CACHE/rootfs-$SUITE-$ARCH}
STAMP=.tether-rootfs-stamp
cannot() { echo "make-foreign-rootfs: cannot build here: $*" >&2; exit 3; }

# qemu's name for the architecture, and its binfmt_misc magic and mask (from qemu's qemu-binfmt-conf.sh).
case "$ARCH" in
  arm64) QARCH=aarch64
    MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
    MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' ;;
  armhf|armel) QARCH=arm
    MAGIC='\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00'
    MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' ;;
  *) echo "make-foreign-rootfs: unsupported architecture $ARCH" >&2; exit 2 ;;
esac

hash=$({ cat "$0"; echo "$INCLUDE"; [ -z "${OVERLAY:-}" ] || tar -C "$OVERLAY" --sort=name --mtime=@0 --owner=0 --group=0 -cf - .; } \
  | sha256sum | cut -c1-16)
if [ -f "$DEST/$STAMP" ] && [ "$(cat "$DEST/$STAMP")" = "$hash" ]; then echo "$DEST"; exit 0; fi

[ "$(id -u)" = 0 ] || cannot "debootstrap needs root"
need=
command -v debootstrap >/dev/null || need="$need debootstrap"
command -v qemu-$QARCH-static >/dev/null || need="$need qemu-user-static"
if [ -n "$need" ]; then
  command -v apt-get >/dev/null || cannot "no$need and no apt-get"
  # --no-install-recommends: binfmt-support would register qemu for the whole machine.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1; } \
    || cannot "apt-get install$need failed"
fi
QEMU=$(command -v qemu-$QARCH-static)
if [ -z "${MIRROR:-}" ]; then
  MIRROR=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
if command -v wget >/dev/null; then
  wget -q -T 15 -t 2 -O /dev/null "$MIRROR/dists/$SUITE/Release" || cannot "$MIRROR is unreachable"
elif command -v curl >/dev/null; then
  curl -fsS -m 30 -o /dev/null "$MIRROR/dists/$SUITE/Release" || cannot "$MIRROR is unreachable"
fi

parent=$(dirname "$DEST")
name=$(basename "$DEST")
mkdir -p "$parent"
exec 9>"$parent/.$name.lock"
flock 9
if [ -f "$DEST/$STAMP" ] && [ "$(cat "$DEST/$STAMP")" = "$hash" ]; then echo "$DEST"; exit 0; fi
rm -rf "$parent/.$name.build."* "$parent/.$name.old."*
tmp=$(mktemp -d "$parent/.$name.build.XXXXXX")
trap 'rm -rf "$tmp" "$tmp.log" "$tmp.go"' EXIT
t0=$(date +%s)
debootstrap --variant=minbase --foreign --arch="$ARCH" --include="$INCLUDE" "$SUITE" "$tmp" "$MIRROR" >"$tmp.log" 2>&1 || {
  tail -20 "$tmp.log" >&2; echo "make-foreign-rootfs: debootstrap (first stage) failed" >&2; exit 1; }
[ -z "${OVERLAY:-}" ] || cp -a "$OVERLAY/." "$tmp/"
t1=$(date +%s)

# The second stage: chroot + /debootstrap/debootstrap, where every program is an ARCH binary.
stage2='chroot "$0" /debootstrap/debootstrap --second-stage'
if [ -f /proc/sys/fs/binfmt_misc/qemu-$QARCH ] && head -1 /proc/sys/fs/binfmt_misc/qemu-$QARCH | grep -q enabled; then
  sh -c "$stage2" "$tmp" >>"$tmp.log" 2>&1 || { tail -20 "$tmp.log" >&2; echo "make-foreign-rootfs: second stage failed" >&2; exit 1; }
else
  # A user namespace needs its id maps written from outside: the inner shell waits on a FIFO until
  # they are. Its own pid and mount namespaces give it a /proc to mount and a binfmt_misc of its own.
  mkfifo "$tmp.go"
  unshare --user --mount --pid --fork --kill-child sh -c '
    read go <"$1" || exit 125
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || exit 124
    # F: the kernel opens qemu now, so the chroot needs no copy of it.
    printf "%s" ":tether-$2:M::$3:$4:$5:F" >/proc/sys/fs/binfmt_misc/register || exit 124
    # container=lxc: debootstrap then skips its mknod probe (no device nodes in a user namespace; the
    # first stage made /dev/null and /dev/zero as real root).
    container=lxc exec chroot "$6" /debootstrap/debootstrap --second-stage' stage2 "$tmp.go" "$QARCH" "$MAGIC" "$MASK" "$QEMU" "$tmp" \
    >>"$tmp.log" 2>&1 &
  ns=$!
  # The child of unshare --fork has the namespaces; unshare itself joined the user namespace too.
  i=0
  while [ "$(readlink /proc/$ns/ns/user 2>/dev/null)" = "$(readlink /proc/self/ns/user)" ] && [ $i -lt 100 ]; do
    sleep 0.1; i=$((i + 1))
  done
  echo '0 0 4294967295' >/proc/$ns/uid_map && echo '0 0 4294967295' >/proc/$ns/gid_map \
    || { kill $ns 2>/dev/null; wait $ns 2>/dev/null; cannot "no user namespace id maps"; }
  echo go >"$tmp.go"
  rc=0; wait $ns || rc=$?
  [ $rc != 124 ] || cannot "no sandboxed binfmt_misc in a user namespace (Linux 6.7+ needed, or a global qemu-$QARCH handler)"
  [ $rc = 0 ] || { tail -20 "$tmp.log" >&2; echo "make-foreign-rootfs: second stage failed ($rc)" >&2; exit 1; }
fi
t2=$(date +%s)
rm -f "$tmp.log" "$tmp.go"
rm -f "$tmp"/var/cache/apt/archives/*.deb
chmod 755 "$tmp"
echo "$hash" > "$tmp/$STAMP"
if [ -e "$DEST" ]; then old=$(mktemp -u "$parent/.$name.old.XXXXXX"); mv "$DEST" "$old"; else old=; fi
mv "$tmp" "$DEST"
trap - EXIT
[ -z "$old" ] || rm -rf "$old"
echo "make-foreign-rootfs: built $DEST in $((t2 - t0)) s (first stage $((t1 - t0)) s, second stage $((t2 - t1)) s), $(du -sh "$DEST" | cut -f1)" >&2
echo "$DEST"
