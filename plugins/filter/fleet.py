# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address arithmetic of the fleet role: a host's pod block and its slice of a stretched network."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
name: fleet_block
short_description: The INDEX-th block of PREFIX in a CIDR
version_added: 0.2.0
author:
  - vmnet.networks contributors (@vmnet)
description:
  - The O(_input) CIDR cut into blocks of prefix length O(prefix); returns the block number O(index) (from 0).
  - The role M(vmnet.networks.fleet) gives each host of a fleet its pod block this way.
  - Fails when the CIDR has fewer than O(index)+1 blocks of that size.
options:
  _input:
    description: The CIDR (IPv4 or IPv6), for example C(10.244.0.0/16).
    type: str
    required: true
  prefix:
    description: The blocks' prefix length (not shorter than the CIDR's).
    type: int
    required: true
  index:
    description: Which block, from 0.
    type: int
    required: true
'''

EXAMPLES = r'''
- name: The third /24 of 10.244.0.0/16 (10.244.2.0/24)
  ansible.builtin.debug:
    msg: "{{ '10.244.0.0/16' | vmnet.networks.fleet_block(24, 2) }}"
'''

RETURN = r'''
_value:
  description: The block, as a CIDR.
  type: str
'''

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
