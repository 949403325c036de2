#!/usr/bin/env bash
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# One VM's pod and bridge binding of eth0 made with raw ip/tc/sysctl/dnsmasq: the changes
# Pod.ensure + interface.ensure make (pod.py, bindings/bridge.py, host/glue.py, host/dhcp.py),
# without their checks and records. The benchmark's yardstick (bench/plumb_time.py).
# Environment: POD NODE CNI_CONF (one plugin's conf) HOST_TAP HOST_VETH HOST_TMP OWNER STATE VM DNS SEARCH
set -euo pipefail
p() { ip -n "$POD" "$@"; }
field() { sed -n "s|.* $1 \([^ ]*\).*|\1|p"; }

# the pod: a netns and CNI ADD (bridge + host-local), the plugin run in the node netns
ip netns add "$POD"
CNI_COMMAND=ADD CNI_CONTAINERID="$POD" CNI_NETNS="/var/run/netns/$POD" CNI_IFNAME=eth0 \
  CNI_PATH=/usr/lib/cni ip netns exec "$NODE" /usr/lib/cni/bridge < "$CNI_CONF" > /dev/null

# what the binding keeps of the pod NIC
mac=$(p -o link show eth0 | field link/ether)
mtu=$(p -o link show eth0 | field mtu)
cidr=$(p -o -4 addr show dev eth0 | awk '{print $4}')
gateway=$(p -4 route show default | field via)

# k6t-eth0 with a pinned MAC and the fake address; the pod NIC renamed into it
p link add k6t-eth0 type bridge
bridge_mac=$(p -o link show k6t-eth0 | field link/ether)
p link set k6t-eth0 address "$bridge_mac" mtu "$mtu"
p addr add 169.254.75.10/32 dev k6t-eth0
p link set k6t-eth0 up
p link set eth0 down
p addr flush dev eth0
p link set eth0 name eth0-nic address "$bridge_mac"
p link set eth0-nic master k6t-eth0 up
bridge -n "$POD" link set dev eth0-nic learning off

# the glue: a persistent tap, a veth into the pod, a u32 + mirred redirect each way. The library
# attaches two BPF programs with tcx instead (host/glue_bpf.py): tc(8) loads eBPF only from an
# object file, there is no compiler here, and this iproute2 knows no tcx, so the script makes
# one redirect on each end in glue_tc.py's shape (an ingress qdisc and a filter).
ip tuntap add dev "$HOST_TAP" mode tap
ip link set "$HOST_TAP" mtu "$mtu" alias "$OWNER"
ip link add "$HOST_VETH" mtu "$mtu" type veth peer name tap0 netns "$POD"
ip link set "$HOST_VETH" alias "$OWNER"
for dev in "$HOST_TAP" "$HOST_VETH"; do
  sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1"
  ip link set "$dev" up
done
redirect() {
  tc qdisc add dev "$1" ingress
  tc filter add dev "$1" parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev "$2"
}
redirect "$HOST_TAP" "$HOST_VETH"
redirect "$HOST_VETH" "$HOST_TAP"
p link set tap0 master k6t-eth0 mtu "$mtu" up

# the placeholder: a tap (no dummy in this kernel) made in the host, moved in as eth0, down
ip tuntap add dev "$HOST_TMP" mode tap
ip link set "$HOST_TMP" alias "$OWNER" netns "$POD" name eth0
p link set eth0 address "$mac" mtu "$mtu"
p addr add "$cidr" dev eth0
ip netns exec "$POD" sysctl -q -w net.ipv4.conf.all.arp_ignore=1

# DHCP for the guest: the options host/dhcp.py renders for one bridge entry
ip=${cidr%/*}
bits=$(( 0xffffffff << (32 - ${cidr#*/}) & 0xffffffff ))
IFS=. read -r a b c d <<< "$ip"
address=$(( (a << 24) | (b << 16) | (c << 8) | d ))
dotted() { echo "$(( $1 >> 24 & 255 )).$(( $1 >> 16 & 255 )).$(( $1 >> 8 & 255 )).$(( $1 & 255 ))"; }
cat > "$STATE/dnsmasq.conf" <<EOF
port=0
bind-interfaces
except-interface=lo
dhcp-authoritative
dhcp-leasefile=$STATE/dnsmasq.leases
log-dhcp
log-facility=$STATE/dnsmasq.log
user=root
interface=k6t-eth0
shared-network=k6t-eth0,$ip
dhcp-range=set:eth0,$(dotted $(( address & bits ))),static,$(dotted $bits),999d
dhcp-host=$mac,set:eth0,$ip,999d
dhcp-option-force=tag:eth0,option:router,$gateway
dhcp-option-force=tag:eth0,option:dns-server,$DNS
dhcp-option-force=tag:eth0,option:mtu,$mtu
dhcp-option-force=tag:eth0,12,$VM
dhcp-option-force=tag:eth0,option:domain-name,$SEARCH
dhcp-option-force=tag:eth0,option:domain-search,$SEARCH
dhcp-option-force=tag:eth0,option:classless-static-route,0.0.0.0/0,$gateway
EOF
ip netns exec "$POD" dnsmasq --conf-file="$STATE/dnsmasq.conf" --pid-file="$STATE/dnsmasq.pid"
for _ in $(seq 50); do [ -s "$STATE/dnsmasq.pid" ] && exit 0; sleep 0.02; done
echo "dnsmasq did not write $STATE/dnsmasq.pid" >&2
exit 1
