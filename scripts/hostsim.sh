#!/usr/bin/env bash
# Simulated hypervisors for the fleet tests (tests only; the collection never runs this).
#
#   hostsim.sh create NAME UNDERLAY_IP/PREFIX [UNDERLAY_IP6/PREFIX]
#                                               start a simulated host (IPv6 underlay optional)
#   hostsim.sh pid NAME                         print the PID to enter (nsenter -t PID -m -n)
#   hostsim.sh destroy NAME                     stop it and remove everything it made
#   hostsim.sh list                             the simulated hosts that run
#
# A simulated host is a long-lived process with its own network namespace (its "root"
# namespace: lo and eth0, a veth to the bridge ul0 of the shared underlay namespace
# vmnet-hostsim-ul, with the underlay address and a default route through it, the same for
# IPv6 when an IPv6 underlay address is given) and its own
# private mount namespace in which the directories a hypervisor keeps its state in are
# private copies (the list below): it runs its own libvirtd and virtlogd (its own host_uuid,
# no cgroup controllers, no per-domain mount namespaces) and looks like a freshly installed
# Debian host with the frr package (the package's /etc/frr, FRR not running). Ansible reaches
# it with the community.docker.nsenter connection (ansible_nsenter_pid).
#
# Its libvirtd is reachable from outside as qemu+unix:///system?socket=<dir>/libvirt-sock
# (printed by `create`). `destroy` stops every process of the host's mount namespace by PID,
# and removes its links, namespaces and directories; the shared underlay namespace goes
# with the last host.
set -euo pipefail

BASE=/run/vmnet-hostsim
UNDERLAY_NS=vmnet-hostsim-ul
UNDERLAY_BR=ul0
# The directories that are private to each simulated host.
PRIVATE_DIRS=(
  /run/netns /run/vmnet /etc/vmnet /var/lib/vmnet /etc/cni /var/lib/cni
  /etc/frr /run/frr /var/log/frr /var/lib/frr /etc/sysctl.d
  /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
)

die() { echo "hostsim: $*" >&2; exit 1; }

check_name() {
  [[ "$1" =~ ^[a-z][a-z0-9-]{0,12}$ ]] || die "NAME must match [a-z][a-z0-9-]{0,12}: $1"
}

host_pid() {
  local dir="$BASE/$1" pid
  [ -f "$dir/pid" ] || return 1
  pid=$(cat "$dir/pid")
  [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] || return 1
  echo "$pid"
}

in_host() { local pid=$1; shift; nsenter -t "$pid" -m -n "$@"; }

# The PIDs of every process of the host but the holder: in its mount namespace, in its network
# namespace, or in one of the network namespaces named in its /run/netns (pods: `ip netns exec`
# gives their processes a mount namespace of their own).
members() {
  local holder=$1 mnt nets p f
  mnt=$(readlink "/proc/$holder/ns/mnt")
  nets=" $(readlink "/proc/$holder/ns/net") "
  for f in $(nsenter -t "$holder" -m sh -c 'for f in /run/netns/*; do [ -e "$f" ] && stat -L -c %i "$f"; done' 2>/dev/null); do
    nets="$nets net:[$f] "
  done
  local pnet
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$holder" ] && continue
    pnet=$(readlink "/proc/$p/ns/net" 2>/dev/null) || continue
    if [ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$mnt" ] || [[ "$nets" == *" $pnet "* ]]; then
      echo "$p"
    fi
  done
  return 0
}

ensure_underlay() {
  if ! ip netns list | grep -qw "^$UNDERLAY_NS"; then
    ip netns add "$UNDERLAY_NS"
    ip -n "$UNDERLAY_NS" link set lo up
  fi
  ip -n "$UNDERLAY_NS" link show "$UNDERLAY_BR" >/dev/null 2>&1 || {
    ip -n "$UNDERLAY_NS" link add "$UNDERLAY_BR" type bridge
    ip -n "$UNDERLAY_NS" link set "$UNDERLAY_BR" up
  }
}

create() {
  local name=$1 cidr=$2 cidr6=${3:-} dir pid d i uuid v6=""
  check_name "$name"
  [[ "$cidr" =~ ^[0-9.]+/[0-9]+$ ]] || die "UNDERLAY_IP/PREFIX expected, got $cidr"
  if [ -n "$cidr6" ]; then
    [[ "$cidr6" =~ ^[0-9a-fA-F:]+/[0-9]+$ ]] || die "UNDERLAY_IP6/PREFIX expected, got $cidr6"
    v6="ip -6 addr add $cidr6 dev eth0 nodad; ip -6 route add default dev eth0"
  fi
  case "$cidr" in 192.0.2.*) die "192.0.2.0/24 is the machine's uplink: use another underlay range";; esac
  dir="$BASE/$name"
  if pid=$(host_pid "$name"); then echo "hostsim: $name runs (pid $pid)"; return 0; fi
  [ -e "$dir" ] && die "$dir exists without a running host: run destroy $name first"
  mkdir -p "$dir/root"
  chmod 0700 "$dir"
  # Mount points must exist on the machine; the ones made here are listed for destroy.
  for d in "${PRIVATE_DIRS[@]}"; do
    mkdir -p "$dir/root$d"
    if [ ! -d "$d" ]; then mkdir -p "$d" && echo "$d" >> "$BASE/.mountpoints"; fi
  done
  # A freshly installed frr package: its /etc/frr, owned by frr.
  [ -d /etc/frr ] && cp -a /etc/frr/. "$dir/root/etc/frr/"
  for d in /etc/frr /run/frr /var/log/frr /var/lib/frr; do chown frr:frr "$dir/root$d"; done
  uuid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$dir/root/etc/libvirt/libvirtd.conf" <<EOF
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "$uuid"
EOF
  cat > "$dir/root/etc/libvirt/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
EOF
  : > "$dir/root/etc/libvirt/virtlogd.conf"

  # The holder: private mounts, then sleep forever in its own network namespace.
  local binds=""
  for d in "${PRIVATE_DIRS[@]}"; do binds="$binds mount --bind '$dir/root$d' '$d';"; done
  setsid unshare -m -n --propagation private sh -c "$binds exec sleep infinity" \
    </dev/null >"$dir/holder.log" 2>&1 &
  echo $! > "$dir/pid"
  for i in $(seq 50); do
    pid=$(cat "$dir/pid")
    [ "$(readlink /proc/$pid/ns/mnt 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" ] && \
      [ "$(cat /proc/$pid/comm 2>/dev/null)" = sleep ] && break
    sleep 0.1
  done
  host_pid "$name" >/dev/null || die "the holder of $name did not start: $(cat "$dir/holder.log")"

  ensure_underlay
  local ul="u-$name"
  ip -n "$UNDERLAY_NS" link add "$ul" type veth peer name eth0 netns "/proc/$pid/ns/net"
  ip -n "$UNDERLAY_NS" link set "$ul" master "$UNDERLAY_BR" up
  in_host "$pid" sh -ec "
    ip link set lo up
    ip addr add $cidr dev eth0
    ip link set eth0 up
    ip route add default dev eth0
    $v6
    hostname >/dev/null
    /usr/sbin/virtlogd -d -f /etc/libvirt/virtlogd.conf -p /run/libvirt/virtlogd.pid
    /usr/sbin/libvirtd -d -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
  "
  for i in $(seq 100); do
    [ -S "$dir/root/run/libvirt/libvirt-sock" ] && break
    sleep 0.1
  done
  [ -S "$dir/root/run/libvirt/libvirt-sock" ] || die "libvirtd of $name did not start"
  echo "hostsim: $name pid $pid uri qemu+unix:///system?socket=$dir/root/run/libvirt/libvirt-sock"
}

destroy() {
  local name=$1 dir pid p dom i
  check_name "$name"
  dir="$BASE/$name"
  if pid=$(host_pid "$name"); then
    # Domains first (libvirt tears their taps down), then every process of the host by PID.
    for dom in $(in_host "$pid" virsh -c qemu:///system list --all --name 2>/dev/null); do
      in_host "$pid" virsh -c qemu:///system destroy "$dom" >/dev/null 2>&1 || true
      in_host "$pid" virsh -c qemu:///system undefine "$dom" >/dev/null 2>&1 || true
    done
    for p in $(members "$pid"); do kill -TERM "$p" 2>/dev/null || true; done
    for i in $(seq 30); do [ -z "$(members "$pid")" ] && break; sleep 0.1; done
    for p in $(members "$pid"); do kill -KILL "$p" 2>/dev/null || true; done
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 30); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  fi
  ip -n "$UNDERLAY_NS" link del "u-$name" 2>/dev/null || true
  rm -rf "$dir"
  # The last host takes the shared pieces with it.
  if [ -z "$(ls -A "$BASE" 2>/dev/null | grep -v '^\.mountpoints$')" ]; then
    ip netns del "$UNDERLAY_NS" 2>/dev/null || true
    if [ -f "$BASE/.mountpoints" ]; then
      tac "$BASE/.mountpoints" | while read -r d; do rmdir "$d" 2>/dev/null || true; done
    fi
    rm -rf "$BASE"
  fi
}

list() {
  local d
  [ -d "$BASE" ] || return 0
  for d in "$BASE"/*/; do
    [ -d "$d" ] || continue
    d=$(basename "$d")
    if host_pid "$d" >/dev/null; then echo "$d $(host_pid "$d")"; else echo "$d (not running)"; fi
  done
}

[ "$(id -u)" = 0 ] || die "run as root"
case "${1:-}" in
  create) [ $# -eq 3 ] || [ $# -eq 4 ] || die "usage: $0 create NAME UNDERLAY_IP/PREFIX [UNDERLAY_IP6/PREFIX]"
          create "$2" "$3" "${4:-}" ;;
  pid) [ $# -eq 2 ] || die "usage: $0 pid NAME"; host_pid "$2" || die "$2 does not run" ;;
  destroy) [ $# -eq 2 ] || die "usage: $0 destroy NAME"; destroy "$2" ;;
  list) list ;;
  *) die "usage: $0 create NAME UNDERLAY_IP/PREFIX [UNDERLAY_IP6/PREFIX] | pid NAME | destroy NAME | list" ;;
esac
