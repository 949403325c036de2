# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address arithmetic of the fleet role: a host's pod block and its slice of a stretched network
(documented in fleet_block.yml and fleet_slice.yml)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress

from ansible.errors import AnsibleFilterError


def _network(cidr):
    try:
        return ipaddress.ip_network(str(cidr), strict=False)
    except ValueError as exc:
        raise AnsibleFilterError('%r is not a CIDR: %s' % (cidr, exc))


def fleet_block(cidr, prefix, index):
    net = _network(cidr)
    prefix, index = int(prefix), int(index)
    if not net.prefixlen <= prefix <= net.max_prefixlen:
        raise AnsibleFilterError('block prefix /%d does not fit in %s' % (prefix, net))
    count = 2 ** (prefix - net.prefixlen)
    if not 0 <= index < count:
        raise AnsibleFilterError('%s has %d blocks of /%d; block %d does not exist' % (net, count, prefix, index))
    size = 2 ** (net.max_prefixlen - prefix)
    return str(ipaddress.ip_network((int(net.network_address) + index * size, prefix)))


def fleet_slice(cidr, bits, index):
    """The INDEX-th of the 2**BITS equal slices of CIDR as host-local's range
    ({subnet, rangeStart, rangeEnd}), without the subnet's network and broadcast address."""
    net = _network(cidr)
    block = ipaddress.ip_network(fleet_block(cidr, min(net.prefixlen + int(bits), net.max_prefixlen), index))
    first, last = int(block.network_address), int(block.broadcast_address)
    if net.version == 4:
        first = max(first, int(net.network_address) + 1)
        last = min(last, int(net.broadcast_address) - 1)
    if first > last:
        raise AnsibleFilterError('slice %d of %s holds no address' % (int(index), net))
    return dict(subnet=str(net), rangeStart=str(ipaddress.ip_address(first)),
                rangeEnd=str(ipaddress.ip_address(last)))


class FilterModule(object):
    def filters(self):
        return dict(fleet_block=fleet_block, fleet_slice=fleet_slice)
