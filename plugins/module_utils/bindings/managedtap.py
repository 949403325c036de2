# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Binding plugins with ``domainAttachmentType: managedTap`` (KubeVirt v1.4+).

KubeVirt makes the tap of such a plugin's interface and connects it to the pod interface
with an in-pod bridge, and leaves addressing to the network: no DHCP, no IPAM. That is the
bridge binding without its IPv4 part, and this module is the bridge binding (bindings/
bridge.py) with ``ipam`` off: ``k6t-<x>`` without the fake address, ``<x>-nic`` enslaved,
the tap ``tap<x>`` (the glue's pod end), the placeholder keeping the pod NIC's name and
addresses, no ``arp_ignore``, and no DHCP entry. The guest configures its address itself
(statically, or from a DHCP server on the network). The domain NIC is the tap-based one.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils.bindings import bridge, common


def discover(pod, iface, queues):
    record = bridge.discover(pod, iface, queues, ipam=False)
    record['binding'] = 'managedtap'
    return record


def refresh(record, iface, hostname, dns, search):
    """The guest's MAC; no DHCP entry."""
    record['guest_mac'] = iface['macAddress'] or record['original']['mac']
    record['dhcp'] = None


desired = bridge.desired
observe = bridge.observe
apply = bridge.apply
teardown = bridge.teardown


def status_ips(record):
    """No IPAM: the pod has no address for the guest (the guest agent may report its own)."""
    return []


ensure_domain = common.ensure_tap_nic
remove_domain = common.remove_nic
