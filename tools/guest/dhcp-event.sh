#!/bin/sh
# udhcpc -s script of the vmnet test guest; init also runs it as "dhcp-event.sh static"
# for a vmnet.static NIC (with interface, ip, mask and router in the environment).
#
# Reports on the console, one line each (values holding spaces get commas instead):
#   VMNET-LEASE if= mac= ip= mask= router= dns= domain= search= hostname= mtu=
#               serverid= lease= staticroutes=            (every bound/renew)
#   VMNET-STATIC if=<if> ip=<ip>/<prefix>
#   VMNET-PING if=<if> dst=<router> ok|fail                (3 pings, up to 5 rounds; only with a router)
# and applies the address, the routes (option 121 when given, else the router) and
# the MTU, and names the guest (hostname, httpd's page) after the lease's hostname.
export PATH=/bin

commas() { echo "$*" | tr ' ' ','; }

report_lease() {
  echo "VMNET-LEASE if=$interface mac=$(cat "/sys/class/net/$interface/address")" \
    "ip=$ip mask=${mask:-$subnet} router=$(commas "$router") dns=$(commas "$dns")" \
    "domain=$(commas "$domain") search=$(commas "$search") hostname=$hostname mtu=$mtu" \
    "serverid=$serverid lease=$lease staticroutes=$(commas "$staticroutes")" > /dev/console
}

# One default route per NIC, told apart by metric, so that NICs do not fight over it.
metric() { cat "/sys/class/net/$interface/ifindex"; }

apply_routes() {
  if [ -n "$staticroutes" ]; then
    # RFC 3442: with classless routes the router option is ignored.
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = 0.0.0.0 ]; then
        ip route replace "$1" dev "$interface" metric "$(metric)"
      else
        ip route replace "$1" via "$2" dev "$interface" metric "$(metric)"
      fi
      shift 2
    done
  elif [ -n "$router" ]; then
    ip route replace default via "${router%% *}" dev "$interface" metric "$(metric)"
  fi
}

apply_address() {
  ip -4 addr flush dev "$interface"
  ip addr add "$ip/${mask:-$subnet}" dev "$interface"
  [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
  apply_routes
}

name_guest() {
  local name=${hostname:-vmnet-guest}
  hostname "$name"
  echo "hello-from-$name" > /www/index.html
}

ping_router() {
  local dst=${router%% *} result=fail
  [ -n "$dst" ] || return 0
  # up to 5 rounds: a NIC model that resets its adapter when configured (e1000) drops the
  # carrier for a moment right after the lease
  for _round in 1 2 3 4 5; do
    ping -c 3 -W 2 -I "$interface" "$dst" >/dev/null 2>&1 && { result=ok; break; }
    sleep 1
  done
  echo "VMNET-PING if=$interface dst=$dst $result" > /dev/console
}

case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ;;
  bound|renew)
    report_lease
    apply_address
    name_guest
    # In the background: udhcpc waits for this script.
    ping_router &
    ;;
  static)
    echo "VMNET-STATIC if=$interface ip=$ip/$mask" > /dev/console
    apply_address
    ping_router &
    ;;
esac
