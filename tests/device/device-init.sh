#!/bin/sh
# The emulated device's init after the image's stub (make-device-image.sh) has mounted this disk on
# /opt/tether: what deploy/tetherd.service does under systemd, done by hand. boot-device.sh puts this
# file on the per-boot disk, so changing it needs no image rebuild.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mountpoint -q /dev/shm || mount -t tmpfs tmpfs /dev/shm
mountpoint -q /run || mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
hostname tether-device
modprobe virtio_net 2>/dev/null
# QEMU user-mode networking: the guest is 10.0.2.15, the gateway 10.0.2.2. The initrd's udev may
# have renamed eth0 (enp0s2): the first interface that is not lo.
ip link set lo up
for n in /sys/class/net/*; do [ "${n##*/}" = lo ] || { nic=${n##*/}; break; }; done
ip link set "$nic" up
ip addr add 10.0.2.15/24 dev "$nic"
ip route add default via 10.0.2.2
mkdir -p /run/tetherd && chown tetherd:tetherd /run/tetherd
# boot-device.sh --extra: a caller's own set-up, as root (bench/device.sh).
if [ -x /opt/tether/extra/init ]; then /opt/tether/extra/init || echo "tether-device: extra/init failed ($?)"; fi
echo "tether-device: starting tetherd ($(nproc) cpus, $(uname -m), $(uname -r))"
# C1 only: under TCG the JIT's own time dominates what a test's daemon does.
TETHERD_JAVA_OPTS="-XX:TieredStopAtLevel=1" HOME=/var/lib/tetherd \
  setpriv --reuid=tetherd --regid=tetherd --init-groups \
  /opt/tether/bin/tetherd --listen 0.0.0.0:2222 --host-key /var/lib/tetherd/host_key \
    --authorized-keys /opt/tether/etc/authorized_keys --cache-dir /var/cache/tetherd </dev/null &
wait $!
echo "tether-device: tetherd exited ($?), powering off"
echo o >/proc/sysrq-trigger
sleep 60
