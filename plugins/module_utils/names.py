# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of everything vmnet creates, in the pod (KubeVirt's own names) and on the host.

Someone who knows KubeVirt must recognise a vmnet pod, so the in-pod names follow
kubevirt:pkg/network/namescheme and pkg/network/link/names.go exactly.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import re

PRIMARY_POD_IFACE = 'eth0'
IFNAMSIZ = 15
# The owner tag written to IFLA_IFALIAS of every host-side link vmnet creates:
# vmnet never touches a host link that does not carry it.
OWNER_ALIAS_PREFIX = 'vmnet:'
NETNS_PREFIX = 'vmnet-'
_NETNS_SAFE = re.compile(r'^[A-Za-z0-9_.-]{1,50}$')


def _sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def pod_netns(vm_name):
    """The pod network namespace of a VM: ``vmnet-<vm>``.

    Names that are long (over 50 characters) or hold characters that are unsafe in a
    path get ``vmnet-<first 40 safe characters>-<sha256(vm)[:8]>`` instead, so that the
    namespace stays readable and unique.
    """
    if _NETNS_SAFE.match(vm_name):
        return NETNS_PREFIX + vm_name
    safe = re.sub(r'[^A-Za-z0-9_.-]', '_', vm_name)[:40]
    return '%s%s-%s' % (NETNS_PREFIX, safe, _sha256(vm_name)[:8])


def secondary_pod_iface(network_name, ordinal=None):
    """KubeVirt's pod interface of a secondary network.

    Hashed scheme (KubeVirt >= 1.0): ``pod`` + sha256(network name)[:11]; the legacy
    ordinal scheme gives ``net<ordinal>`` (1-based among secondary networks).
    """
    if ordinal is not None:
        return 'net%d' % ordinal
    return 'pod' + _sha256(network_name)[:11]


def pod_iface(network_name, primary, ordinal=None):
    return PRIMARY_POD_IFACE if primary else secondary_pod_iface(network_name, ordinal)


def _suffix(pod_iface_name):
    # eth0 -> eth0, pod<hash> -> <hash>, net1 -> net1
    return pod_iface_name[3:] if pod_iface_name.startswith('pod') else pod_iface_name


def bridge_name(pod_iface_name):
    """In-pod bridge: ``k6t-eth0``, ``k6t-<hash>``, ``k6t-net1``."""
    return 'k6t-' + _suffix(pod_iface_name)


def renamed_nic(pod_iface_name):
    """The pod NIC after the bridge binding took it over: ``eth0-nic``, ``<hash>-nic``."""
    return _suffix(pod_iface_name) + '-nic'


def pod_tap(pod_iface_name):
    """The tap port of the in-pod bridge: ``tap0``, ``tap<hash>``, ``tap1``."""
    if pod_iface_name == PRIMARY_POD_IFACE:
        return 'tap0'
    return 'tap' + pod_iface_name[3:]


def fake_bridge_ip(index):
    """KubeVirt's fake bridge address: ``169.254.75.1<index>`` (string concatenation)."""
    return '169.254.75.1%d' % index


def host_links(netns, pod_iface_name):
    """Host-namespace names of the glue of one interface: (tap for QEMU, veth host end).

    They must be unique on the host and fit IFNAMSIZ, so they carry a hash of the pod
    namespace and pod interface.
    """
    digest = _sha256('%s/%s' % (netns, pod_iface_name))[:10]
    return 'vmtap' + digest, 'vmveth' + digest[:9]


def host_temp_link(netns, pod_iface_name):
    """A short-lived host name for a link made in the host and moved into the pod."""
    return 'vmtmp' + _sha256('%s/%s' % (netns, pod_iface_name))[:10]


def owner_alias(vm_name, iface_name):
    return '%s%s/%s' % (OWNER_ALIAS_PREFIX, vm_name, iface_name)


def user_alias(iface_name):
    """libvirt user alias of a domain NIC (``ua-<name>``); KubeVirt matches NICs by it."""
    return 'ua-' + iface_name


def sriov_alias(iface_name):
    return 'ua-sriov-' + iface_name
