#!/bin/sh
# make-debian-rootfs.sh [DEST] -- a Debian bookworm amd64 rootfs (debootstrap --variant=minbase, plus
# gcc, libc6-dev, make, python3, busybox) for the tracer's distribution test (DebianRootfsTest) and its
# benchmark (bench/tracer.sh), cached between runs. Prints DEST on its last line.
#   DEST: default $TETHER_ROOTFS_CACHE/rootfs-bookworm-amd64 (TETHER_ROOTFS_CACHE: /var/cache/tether-test).
# DEST/.tether-rootfs-stamp holds this script's hash: the rootfs is rebuilt only when the script
# changes. A build goes into a temporary directory next to DEST that is renamed into place when
# complete, under a lock, so an interrupted build never leaves a half rootfs at DEST.
# Exit 0: DEST is ready; 3: it cannot be built here (not root, no debootstrap, Debian mirror
# unreachable): callers skip; anything else: the build failed.
# Env: MIRROR (default: the first Debian URI in this machine's apt sources, else deb.debian.org).
# A cold build took 35-65 s on a 2-vCPU VM (mostly downloads and dpkg unpacking); 420 MB.
set -eu
SUITE=bookworm
ARCH=amd64
INCLUDE=gcc,libc6-dev,make,python3,busybox
CACHE=${TETHER_ROOTFS_CACHE:-/var/cache/tether-test}
DEST=${1:-$CACHE/rootfs-$SUITE-$ARCH}
STAMP=.tether-rootfs-stamp
cannot() { echo "make-debian-rootfs: cannot build here: $*" >&2; exit 3; }

hash=$(sha256sum "$0" | cut -c1-16)
if [ -f "$DEST/$STAMP" ] && [ "$(cat "$DEST/$STAMP")" = "$hash" ]; then echo "$DEST"; exit 0; fi

[ "$(id -u)" = 0 ] || cannot "debootstrap needs root"
[ "$(dpkg --print-architecture 2>/dev/null)" = "$ARCH" ] || cannot "the host is not $ARCH"
if ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || cannot "no debootstrap and no apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1; } \
    || cannot "apt-get install debootstrap failed"
fi
if [ -z "${MIRROR:-}" ]; then
  MIRROR=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
# Reachability first, so that no network is a skip, not a failure (debootstrap itself fetches with wget).
if command -v wget >/dev/null; then
  wget -q -T 15 -t 2 -O /dev/null "$MIRROR/dists/$SUITE/Release" || cannot "$MIRROR is unreachable"
elif command -v curl >/dev/null; then
  curl -fsS -m 30 -o /dev/null "$MIRROR/dists/$SUITE/Release" || cannot "$MIRROR is unreachable"
fi

parent=$(dirname "$DEST")
name=$(basename "$DEST")
mkdir -p "$parent"
# One build at a time (the test and the benchmark may both want it); the second waits, then finds the stamp.
exec 9>"$parent/.$name.lock"
flock 9
if [ -f "$DEST/$STAMP" ] && [ "$(cat "$DEST/$STAMP")" = "$hash" ]; then echo "$DEST"; exit 0; fi
# Leftovers of interrupted builds (we hold the lock: nobody else is building).
rm -rf "$parent/.$name.build."* "$parent/.$name.old."*
tmp=$(mktemp -d "$parent/.$name.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)
debootstrap --variant=minbase --arch="$ARCH" --include="$INCLUDE" "$SUITE" "$tmp" "$MIRROR" >"$tmp.log" 2>&1 || {
  tail -20 "$tmp.log" >&2; rm -f "$tmp.log"; echo "make-debian-rootfs: debootstrap failed" >&2; exit 1; }
rm -f "$tmp.log"
# The downloaded .debs are half the size and nothing in the guest needs them.
rm -f "$tmp"/var/cache/apt/archives/*.deb
chmod 755 "$tmp"   # mktemp made it 0700; the guest's / is 0755
echo "$hash" > "$tmp/$STAMP"
if [ -e "$DEST" ]; then old=$(mktemp -u "$parent/.$name.old.XXXXXX"); mv "$DEST" "$old"; else old=; fi
mv "$tmp" "$DEST"
trap - EXIT
[ -z "$old" ] || rm -rf "$old"
echo "make-debian-rootfs: built $DEST in $(( $(date +%s) - t0 )) s, $(du -sh "$DEST" | cut -f1)" >&2
echo "$DEST"
