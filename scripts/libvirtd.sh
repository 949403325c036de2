#!/usr/bin/env bash
# Start, stop or query the libvirt daemons of a throw-away test machine without systemd
# (toolchain.md §2): the monolithic libvirtd plus virtlogd, configured for CI.
#
#   scripts/libvirtd.sh start|stop|status
#
# start   writes /etc/libvirt/qemu.conf with the CI settings (the original is kept once
#         as qemu.conf.vmnet-orig), then starts whichever daemon is not already running
#         and waits until qemu:///system answers. Idempotent.
# stop    stops only the daemons this script started (the PIDs in its pid files) and
#         removes the empty cgroup directories libvirt leaves behind.
# status  exits 0 when qemu:///system answers.
#
# Not for users' hosts: it rewrites qemu.conf (QEMU as root, no security driver).
set -euo pipefail
export PATH="/usr/sbin:/sbin:$PATH"

readonly URI=qemu:///system
readonly RUNDIR=/run/vmnet-test
readonly LIBVIRTD_PID=$RUNDIR/libvirtd.pid
readonly VIRTLOGD_PID=$RUNDIR/virtlogd.pid
readonly LIBVIRT_SOCK=/run/libvirt/libvirt-sock
readonly VIRTLOGD_SOCK=/run/libvirt/virtlogd-sock
readonly QEMU_CONF=/etc/libvirt/qemu.conf
readonly QEMU_CONF_ORIG=$QEMU_CONF.vmnet-orig
readonly MARKER='# Written by vmnet.networks scripts/libvirtd.sh for CI (throw-away test machine).'
readonly SOCKET_WAIT=10
# The first start on a machine probes QEMU's capabilities before it answers (~8 s
# here with a cold /var/cache/libvirt); later starts answer in ~0.1 s.
readonly ANSWER_WAIT=60

log() { echo "libvirtd.sh: $*" >&2; }

# The PID in $1 if that process is alive, not a zombie, and runs the program $2.
live_pid() {
  local pidfile=$1 program=$2 pid state
  [ -r "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$program" ] || return 1
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ] || return 1
  echo "$pid"
}

answering() { virsh -q -c "$URI" version >/dev/null 2>&1; }

gone() { ! live_pid "$1" "$2" >/dev/null; }

ensure_qemu_user() {
  # libvirt resolves its compiled-in default user before it reads qemu.conf.
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  getent passwd libvirt-qemu >/dev/null ||
    useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
}

desired_qemu_conf() {
  cat <<EOF
$MARKER
# QEMU runs as root without relabelling: no SELinux/AppArmor and no udev on CI machines.
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "logd"
EOF
}

# Prints "changed" when qemu.conf had to be (re)written.
write_qemu_conf() {
  local want
  want=$(desired_qemu_conf)
  [ -f "$QEMU_CONF" ] && [ "$(cat "$QEMU_CONF")" = "$want" ] && return 0
  if [ -f "$QEMU_CONF" ] && [ ! -e "$QEMU_CONF_ORIG" ] && ! grep -qxF "$MARKER" "$QEMU_CONF"; then
    cp -p "$QEMU_CONF" "$QEMU_CONF_ORIG"
    log "kept the original qemu.conf as $QEMU_CONF_ORIG"
  fi
  mkdir -p "$(dirname "$QEMU_CONF")"
  printf '%s\n' "$want" > "$QEMU_CONF.tmp"
  mv "$QEMU_CONF.tmp" "$QEMU_CONF"
  echo changed
}

# libvirt-daemon-config-network's "default" network would put virbr0 and a dnsmasq on
# the host; it must never come up on a test machine.
disable_default_network() {
  local link=/etc/libvirt/qemu/networks/autostart/default.xml
  if [ -L "$link" ] || [ -e "$link" ]; then
    rm -f "$link"
    log "removed the autostart link of libvirt's default network"
  fi
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$what: not within ${limit}s (see $RUNDIR/*.log)"
      return 1
    fi
    sleep 0.1
  done
}

start_virtlogd() {
  if live_pid "$VIRTLOGD_PID" virtlogd >/dev/null && [ -S "$VIRTLOGD_SOCK" ]; then
    return 0
  fi
  LIBVIRT_LOG_OUTPUTS="3:file:$RUNDIR/virtlogd.log" virtlogd -d -p "$VIRTLOGD_PID"
  wait_until "$SOCKET_WAIT" "virtlogd's socket" test -S "$VIRTLOGD_SOCK"
  log "virtlogd started (pid $(cat "$VIRTLOGD_PID"))"
}

start_libvirtd() {
  if answering; then
    return 0
  fi
  if live_pid "$LIBVIRTD_PID" libvirtd >/dev/null; then
    # Ours, but not answering yet: it may still be probing QEMU.
    wait_until "$ANSWER_WAIT" "libvirtd answering" answering
    return
  fi
  LIBVIRT_LOG_OUTPUTS="3:file:$RUNDIR/libvirtd.log" libvirtd -d -p "$LIBVIRTD_PID"
  wait_until "$SOCKET_WAIT" "libvirtd's socket" test -S "$LIBVIRT_SOCK"
  wait_until "$ANSWER_WAIT" "libvirtd answering" answering
  log "libvirtd started (pid $(cat "$LIBVIRTD_PID"))"
}

stop_daemon() {
  local pidfile=$1 program=$2 pid
  if pid=$(live_pid "$pidfile" "$program"); then
    kill "$pid"
    # Exited or a zombie (PID 1 here reaps late): either way it is gone.
    wait_until "$SOCKET_WAIT" "the exit of $program" gone "$pidfile" "$program"
    log "$program stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

remove_machine_cgroups() {
  local dir
  for dir in /sys/fs/cgroup/*/machine /sys/fs/cgroup/machine; do
    [ -d "$dir" ] && rmdir "$dir" 2>/dev/null || true
  done
}

cmd_start() {
  mkdir -p "$RUNDIR"
  ensure_qemu_user
  disable_default_network
  if [ "$(write_qemu_conf)" = changed ] && live_pid "$LIBVIRTD_PID" libvirtd >/dev/null; then
    log "qemu.conf changed: restarting our libvirtd"
    stop_daemon "$LIBVIRTD_PID" libvirtd
  fi
  start_virtlogd
  start_libvirtd
}

cmd_stop() {
  stop_daemon "$LIBVIRTD_PID" libvirtd
  stop_daemon "$VIRTLOGD_PID" virtlogd
  remove_machine_cgroups
}

cmd_status() {
  if answering; then
    echo "libvirtd: answering on $URI"
  else
    echo "libvirtd: not answering on $URI"
    return 1
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
