#!/bin/sh
# netns.sh up|down DIR -- a target "device" for benchmarks: network namespace tether-bench with a
# veth pair 127.79.0.1 (this side) <-> 127.79.0.2 (device), tetherd on :2222 and OpenSSH sshd on :22
# inside it, keys and configs under DIR. Loopback-range addresses need route_localnet (as
# ../shared/bench/target-netns.sh does). Nothing outside 127.0.0.0/8 is used. Env NETNS, NETNS_NET ("127.79.0")
# and NETNS_VETH ("tb") give another bench its own namespace, addresses (.1, .2) and veth pair.
set -eu
cmd=$1; D=$2; NS=${NETNS:-tether-bench}; net=${NETNS_NET:-127.79.0}; A=$net.1; B=$net.2; v=${NETNS_VETH:-tb}
home=$(cd "$(dirname "$0")/.." && pwd)
case $cmd in
up)
  mkdir -p "$D" /run/sshd; chmod 700 "$D"
  ip netns add $NS
  ip link add ${v}h type veth peer name ${v}t
  ip link set ${v}t netns $NS
  sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.${v}h.route_localnet=1
  ip addr add $A/24 dev ${v}h; ip link set ${v}h up
  nsenter --net=/run/netns/$NS sh -ec "
    sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.${v}t.route_localnet=1
    ip link set lo up; ip addr add $B/24 dev ${v}t; ip link set ${v}t up"
  [ -f "$D/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/id_ed25519"
  cp "$D/id_ed25519.pub" "$D/authorized_keys"
  [ -f "$D/sshd_host" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/sshd_host"
  : > "$D/bashrc"
  cat > "$D/sshd.conf" <<EOC
ListenAddress $B:22
HostKey $D/sshd_host
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxSessions 64
MaxStartups 64
Subsystem tether $home/bin/tetherd --stdio
EOC
  cat > "$D/ssh_config" <<EOC
Host tgt
  HostName $B
  User root
  IdentityFile $D/id_ed25519
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  ControlPath $D/cm-%h
EOC
  # sshd runs bash for commands; keep ~/.bashrc (pyenv init here) out of the measurement.
  nsenter --net=/run/netns/$NS unshare -m --propagation slave sh -ec "
    if [ -f /root/.bashrc ]; then mount --bind '$D/bashrc' /root/.bashrc; fi
    exec /usr/sbin/sshd -f '$D/sshd.conf' -E '$D/sshd.log'"
  nsenter --net=/run/netns/$NS "$home/bin/tetherd" --listen $B:2222 --host-key "$D/tetherd_host" \
    --authorized-keys "$D/authorized_keys" >"$D/tetherd.log" 2>&1 &
  echo $! > "$D/tetherd.pid"
  for i in $(seq 100); do
    bash -c "exec 3<>/dev/tcp/$B/2222" 2>/dev/null && break || sleep 0.2
  done
  ;;
down)
  [ -f "$D/tetherd.pid" ] && kill "$(cat "$D/tetherd.pid")" 2>/dev/null || true
  [ -f "$D/sshd.pid" ] && kill "$(cat "$D/sshd.pid")" 2>/dev/null || true
  ssh -F "$D/ssh_config" -O exit tgt 2>/dev/null || true
  ip netns del $NS 2>/dev/null || true
  ip link del ${v}h 2>/dev/null || true
  ;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
