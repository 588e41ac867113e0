#!/usr/bin/env bash
# install-tetherd.sh: put tetherd and its runtime on a device over SSH.
#
#   deploy/install-tetherd.sh [--prefix DIR] [--key PUBKEY] [--no-systemd] [--ssh-opt OPT]... [USER@]DEVICE[:PORT]
#
# Copies bin/tetherd, the daemon jar and its libraries (built here if needed) to PREFIX on the device
# (default /opt/tether), adds PUBKEY (default: the first of ~/.ssh/id_*.pub) to the daemon's
# authorized_keys, and, unless --no-systemd, installs deploy/tetherd.service, creates the `tetherd`
# user and starts the unit. The device needs a Java 17 runtime (Debian: openjdk-17-jre-headless);
# the script says so and stops if `java` is missing there. Root on the device (or sudo) is needed for
# the default prefix and for systemd; `--prefix /home/me/tether --no-systemd` needs neither.
set -euo pipefail
home=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
prefix=/opt/tether key= systemd=1 ssh_opts=()
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) prefix=$2; shift 2 ;;
    --key) key=$2; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    --ssh-opt) ssh_opts+=(-o "$2"); shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "install-tetherd: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
dest=${1#ssh://}
port=22
if [[ $dest == *:* ]]; then port=${dest##*:}; dest=${dest%:*}; fi
if [ -z "$key" ]; then
  for k in ~/.ssh/id_ed25519.pub ~/.ssh/id_ecdsa.pub ~/.ssh/id_rsa.pub; do [ -f "$k" ] && { key=$k; break; }; done
fi
[ -n "$key" ] && [ -f "$key" ] || { echo "install-tetherd: no public key (give --key PUBKEY)" >&2; exit 2; }

# Build here, never on the device.
. "$home/bin/.launcher-lib"
tether_ensure_built daemon tetherd

ssh_cmd=(ssh -p "$port" "${ssh_opts[@]}" "$dest")
rc=0
"${ssh_cmd[@]}" 'command -v java >/dev/null' </dev/null || rc=$?
if [ "$rc" = 255 ]; then
  echo "install-tetherd: cannot reach $dest over ssh (port $port)" >&2
  exit 1
elif [ "$rc" != 0 ]; then
  echo "install-tetherd: no java on $dest: install a Java 17 runtime there first (Debian: apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi

echo "install-tetherd: copying tetherd to $dest:$prefix" >&2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/daemon/target" "$stage/deploy"
cp "$home/bin/tetherd" "$home/bin/.launcher-lib" "$stage/bin/"
cp -r "$home/daemon/target/tetherd.jar" "$home/daemon/target/lib" "$stage/daemon/target/"
cp "$home/deploy/tetherd.service" "$stage/deploy/"
cp "$key" "$stage/deploy/authorized_keys.add"
q=$(printf %q "$prefix")
# Unpack beside and swap, so a running daemon's jar is never overwritten in place.
tar -C "$stage" -czf - . | "${ssh_cmd[@]}" "set -e; mkdir -p $q.new; tar -C $q.new -xzf -;
  rm -rf $q.old; if [ -d $q ]; then mv $q $q.old; fi; mv $q.new $q; rm -rf $q.old"

if [ "$systemd" = 1 ]; then
  "${ssh_cmd[@]}" "set -e; s=; [ \$(id -u) = 0 ] || s=sudo
    id tetherd >/dev/null 2>&1 || \$s useradd --system --home-dir /var/lib/tetherd --shell /usr/sbin/nologin tetherd
    \$s mkdir -p /etc/tetherd
    \$s sh -c 'cat $q/deploy/authorized_keys.add >> /etc/tetherd/authorized_keys'
    sed 's#/opt/tether#'$q'#g' $q/deploy/tetherd.service | \$s tee /etc/systemd/system/tetherd.service >/dev/null
    \$s systemctl daemon-reload
    \$s systemctl enable --now tetherd
    \$s systemctl restart tetherd"
  echo "install-tetherd: tetherd runs on $dest port 2222 (systemctl status tetherd)" >&2
else
  "${ssh_cmd[@]}" "set -e; mkdir -p $q/etc; cat $q/deploy/authorized_keys.add >> $q/etc/authorized_keys"
  echo "install-tetherd: installed in $prefix; start it with:" >&2
  echo "  $prefix/bin/tetherd --listen 127.0.0.1:2222 --host-key $prefix/etc/host_key --authorized-keys $prefix/etc/authorized_keys" >&2
fi
