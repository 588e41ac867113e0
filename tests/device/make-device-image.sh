#!/bin/sh
# make-device-image.sh [--arch ARCH] [DEST] -- an emulated Debian bookworm device for qemu-system-aarch64
# or qemu-system-arm (tests/device/boot-device.sh, DeviceE2eTest), cached between runs. Prints DEST on its
# last line.
#   ARCH: arm64 (default) or armhf (32-bit ARM EABI, hard float: Debian's armmp-lpae kernel, for -M virt
#   -cpu cortex-a15).
#   DEST: default $TETHER_ROOTFS_CACHE/device-bookworm-ARCH (TETHER_ROOTFS_CACHE: /var/cache/tether-test),
#   a directory holding rootfs.img (ext4, raw), vmlinuz and initrd.img (Debian's kernel for ARCH).
# The root filesystem is tests/rootfs/make-foreign-rootfs.sh's (debootstrap --arch=ARCH, its second
# stage under qemu-user) with openjdk-17-jre-headless, the kernel and iproute2 added, the
# `tetherd` user, and no systemd: under TCG a systemd boot costs more than the whole test. PID 1 is
# /sbin/tether-device-init, a stub that mounts the second disk (/dev/vdb, made per boot by
# boot-device.sh: this checkout's tetherd as install-tetherd.sh lays it out, and tests/device/device-init.sh)
# on /opt/tether and execs its device-init, so neither a new commit nor a new init rebuilds the image.
# DEST/.tether-device-stamp holds the cache key (a hash of this script, make-foreign-rootfs.sh and ARCH):
# the image is rebuilt only when one of them changes. Built in a temporary directory next to DEST, renamed
# into place when complete, under a lock. Exit 0: DEST is ready; 3: it cannot be built here (as
# make-foreign-rootfs.sh, or no mkfs.ext4); anything else: failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
foreign=$here/../rootfs/make-foreign-rootfs.sh
CACHE=${TETHER_ROOTFS_CACHE:-/var/cache/tether-test}
ARCH=arm64
if [ "${1:-}" = --arch ]; then ARCH=${2:?--arch needs an architecture}; shift 2; fi
case "$ARCH" in
  arm64) KERNEL=linux-image-arm64 MODULES= ;;
  # The armmp kernel has virtio over MMIO as a module as well as over PCI: both, whichever qemu wires.
  armhf) KERNEL=linux-image-armmp-lpae MODULES=virtio_mmio ;;
  *) echo "make-device-image: unsupported architecture $ARCH (arm64, armhf)" >&2; exit 2 ;;
esac
DEST=${1:-$CACHE/device-bookworm-$ARCH}
STAMP=.tether-device-stamp
cannot() { echo "make-device-image: cannot build here: $*" >&2; exit 3; }

# The key leaves out the same_as line. same_as: "KEY:STAMP" pairs, an image stamped STAMP by an earlier
# version of this script that this version (KEY) builds the same; each pair saves one rebuild and
# lapses by itself once the script changes. The arm64 image of the script before --arch, unchanged.
same_as="e7cd30e17998eb83:a0f76567dc4723e4"
key=$({ grep -v '^same_as=' "$0"; cat "$foreign"; echo "$ARCH"; } | sha256sum | cut -c1-16)
current() {
  [ -f "$DEST/$STAMP" ] || return 1
  s=$(cat "$DEST/$STAMP")
  [ "$s" = "$key" ] || case " $same_as " in *" $key:$s "*) ;; *) return 1 ;; esac
}
if current; then echo "$DEST"; exit 0; fi
[ "$(id -u)" = 0 ] || cannot "debootstrap needs root"
command -v mkfs.ext4 >/dev/null || cannot "no mkfs.ext4 (e2fsprogs)"

parent=$(dirname "$DEST")
name=$(basename "$DEST")
mkdir -p "$parent"
exec 8>"$parent/.$name.lock"
flock 8
if current; then echo "$DEST"; exit 0; fi
rm -rf "$parent/.$name.build."* "$parent/.$name.old."*
tmp=$(mktemp -d "$parent/.$name.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)
rc=0
# Settings in place before dpkg runs, which all runs under emulation (the slow part): no docs, no
# locales, no kernel modules for hardware the virt machine lacks, and an initrd of the few modules the
# root needs rather than of "most" (mkinitramfs copies each module with a few emulated processes).
o=$tmp/overlay
mkdir -p "$o/etc/dpkg/dpkg.cfg.d" "$o/etc/initramfs-tools/conf.d"
{
  for d in /usr/share/doc /usr/share/man /usr/share/locale /usr/share/info; do echo "path-exclude=$d/*"; done
  for d in sound drivers/gpu drivers/media drivers/net/wireless drivers/net/ethernet drivers/infiniband \
           drivers/staging drivers/iio drivers/bluetooth drivers/usb drivers/hid drivers/scsi drivers/mmc \
           drivers/input drivers/video drivers/phy drivers/pinctrl drivers/clk drivers/soc drivers/crypto \
           drivers/mtd drivers/spi drivers/i2c drivers/regulator drivers/power drivers/rtc drivers/thermal \
           drivers/hwmon drivers/leds drivers/remoteproc drivers/tty/serial drivers/md drivers/nvme drivers/ata \
           drivers/net/can drivers/net/usb drivers/platform drivers/misc net/wireless net/mac80211 net/bluetooth \
           fs/btrfs fs/xfs fs/ocfs2 fs/nfs fs/nfsd fs/cifs fs/smbfs_common fs/f2fs fs/gfs2; do
    echo "path-exclude=/lib/modules/*/kernel/$d/*"
  done
} >"$o/etc/dpkg/dpkg.cfg.d/tether-device"
echo MODULES=list >"$o/etc/initramfs-tools/conf.d/tether-device"
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 $MODULES >"$o/etc/initramfs-tools/modules"
EXTRA=openjdk-17-jre-headless,$KERNEL,iproute2 OVERLAY=$o "$foreign" "$ARCH" "$tmp/root" >/dev/null || rc=$?
[ $rc = 0 ] || exit $rc
t1=$(date +%s)
root=$tmp/root
set -- "$root"/boot/vmlinuz-*
[ -f "$1" ] && [ -f "$root/boot/initrd.img-${1#*/boot/vmlinuz-}" ] \
  || { echo "make-device-image: no kernel and initrd in $root/boot" >&2; exit 1; }
cp "$1" "$tmp/vmlinuz"
cp "$root/boot/initrd.img-${1#*/boot/vmlinuz-}" "$tmp/initrd.img"

rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/boot/* "$root/.tether-rootfs-stamp" \
  "$root/vmlinuz"* "$root/initrd.img"*

echo tether-device >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 tether-device\n' >"$root/etc/hosts"
# The daemon's user, as install-tetherd.sh makes it (uid/gid picked here, without running ARCH code).
echo 'tetherd:x:990:990:tetherd:/var/lib/tetherd:/usr/sbin/nologin' >>"$root/etc/passwd"
echo 'tetherd:x:990:' >>"$root/etc/group"
echo 'tetherd:!:19000::::::' >>"$root/etc/shadow"
mkdir -p "$root/var/lib/tetherd" "$root/var/cache/tetherd" "$root/opt/tether"
chown 990:990 "$root/var/lib/tetherd" "$root/var/cache/tetherd"
# PID 1 is a stub that hands over to /opt/tether/device-init on the per-boot disk
# (tests/device/device-init.sh), so changing what the device runs never rebuilds this image.
cat >"$root/sbin/tether-device-init" <<'EOF'
#!/bin/sh
# PID 1 of the emulated device (tests/device/make-device-image.sh): the rest is on the per-boot disk.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# Debian's initrd has moved /proc, /sys and /dev here already; without one they are mounted now.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mount -o ro /dev/vdb /opt/tether && exec /opt/tether/device-init
echo "tether-device: no /opt/tether/device-init on /dev/vdb; powering off"
echo o >/proc/sysrq-trigger
sleep 60
EOF
chmod 755 "$root/sbin/tether-device-init"

size=$(du -sm "$root" | cut -f1)
mkfs.ext4 -q -F -L tether-root -d "$root" -E root_owner=0:0 "$tmp/rootfs.img" "$((size + size / 4 + 256))M" \
  >/dev/null || { echo "make-device-image: mkfs.ext4 -d failed" >&2; exit 1; }
rm -rf "$root" "$o" "$tmp/.root.lock"
t2=$(date +%s)
echo "$key" >"$tmp/$STAMP"
chmod 755 "$tmp"
if [ -e "$DEST" ]; then old=$(mktemp -u "$parent/.$name.old.XXXXXX"); mv "$DEST" "$old"; else old=; fi
mv "$tmp" "$DEST"
trap - EXIT
[ -z "$old" ] || rm -rf "$old"
echo "make-device-image: built $DEST in $((t2 - t0)) s (rootfs $((t1 - t0)) s, image $((t2 - t1)) s), $(du -sh --apparent-size "$DEST/rootfs.img" | cut -f1) image" >&2
echo "$DEST"
