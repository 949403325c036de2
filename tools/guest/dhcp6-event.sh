#!/bin/sh
# dhcpcd hook of the vmnet test guest (IPv6 only): reports each DHCPv6 lease on the console.
#   VMNET-LEASE6 if=<if> ip=<address> lease=<valid lifetime>
# dhcpcd itself adds the address and, from router advertisements, the default route.
case "$reason" in
  BOUND6|REBIND6|REBOOT6|RENEW6)
    echo "VMNET-LEASE6 if=$interface ip=$new_dhcp6_ia_na1_ia_addr1 lease=$new_dhcp6_ia_na1_ia_addr1_vltime" > /dev/console ;;
esac
exit 0
