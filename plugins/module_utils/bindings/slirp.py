# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The slirp binding: QEMU's user-mode network, as KubeVirt <= v1.0 rendered it (reference §6.1).

The NIC is no libvirt ``<interface>`` but a pair of QEMU arguments (host/libvirt_qemu_args.py)::

    -netdev user,id=ua-<name>,net=<vmNetworkCIDR>,hostname=<hostname>[,dnssearch=<domain>...]
            [,hostfwd=<tcp|udp>:127.0.0.1:<port>-:<port>...]
    -device {"driver":"e1000","netdev":"ua-<name>","id":"ua-<name>","mac":"<mac>"}

QEMU is the guest's router, DHCP and DNS server: the guest gets CIDR+15 (10.0.2.15), its
router is CIDR+2 and its DNS server CIDR+3. Only TCP and UDP pass. The model is ``e1000``
unless it is ``rtl8139``; each (protocol, port) of ``ports`` is forwarded once.

Nothing is made in the pod. In KubeVirt QEMU ran in the pod and slirp used the pod's
namespace; here QEMU runs in the host's, and so does slirp. Hence these differences:

* ``ports`` are forwarded from the host's ``127.0.0.1`` (KubeVirt: every address of the
  pod). Two VMs that forward the same port collide: the second one fails to start.
* The guest's connections leave from the host, and the router address (10.0.2.2) is the
  host's loopback: the guest reaches every service that listens on the host's 127.0.0.1.
* The ids are the NIC's user alias ``ua-<name>`` (KubeVirt: ``<name>``); the MAC, when
  ``macAddress`` is unset, is ``52:54:00`` and a hash of the VM and interface names
  (KubeVirt let QEMU pick one); QEMU's DHCP also offers the VM's hostname.

The pod network stays attached and untouched, as it was in KubeVirt's pod: the status
reports its addresses, read when the binding is made, as KubeVirt's pod-interface cache did.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import common
from ansible_collections.vmnet.networks.plugins.module_utils.bindings.common import generated_mac
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_qemu_args

MODELS = ('e1000', 'rtl8139')
HOST_ADDRESS = '127.0.0.1'


def model(iface):
    """slirp works with ``e1000`` or ``rtl8139`` only; any other model becomes ``e1000``."""
    return iface['model'] if iface['model'] in MODELS else MODELS[0]


def host_forwards(ports):
    """The ``hostfwd`` option of each (protocol, port), once, from the host's loopback."""
    forwards = {}
    for port in ports:
        forwards['%s:%s:%d-:%d' % (port['protocol'].lower(), HOST_ADDRESS, port['port'], port['port'])] = None
    return list(forwards)


def discover(pod, iface, queues):
    pod_iface = iface['podInterfaceName']
    with pod.namespace() as ns:
        link = common.pod_link(ns, pod, iface)
        addresses = ns.addresses(pod_iface)
    return {'interface': iface['name'], 'binding': 'slirp', 'pod_iface': pod_iface,
            'original': {'mac': link['mac'], 'addresses': addresses},
            'generated_mac': generated_mac(pod.vm_namespace, pod.vm, iface['name'])}


def refresh(record, iface, hostname, dns, search):
    """The NIC from the spec; QEMU forwards DNS itself, so ``dns`` is not used."""
    record['guest_mac'] = iface['macAddress'] or record['generated_mac']
    record['dhcp'] = None
    record['qemu_nic'] = {
        'alias': names.user_alias(iface['name']), 'netdev': 'user', 'model': model(iface),
        'mac': record['guest_mac'], 'net': iface['vmNetworkCIDR'], 'hostname': hostname, 'dnssearch': list(search),
        'hostfwd': host_forwards(iface['ports']), 'socket': None,
    }


def desired(record):
    """Nothing in the pod."""
    return {}


def observe(pod, record):
    return {}


def apply(pod, record, check_mode, previous=None, have=None):
    return []


def teardown(pod, record, check_mode):
    return []


def status_ips(record):
    """The pod's IPs, as KubeVirt reports them for slirp."""
    return [a.split('/')[0] for a in record['original']['addresses']]


def ensure_domain(domain, record, iface, queues, check_mode):
    return libvirt_qemu_args.ensure(domain, record['qemu_nic'], check_mode=check_mode)


def remove_domain(domain, iface, check_mode):
    return libvirt_qemu_args.remove(domain, names.user_alias(iface['name']), check_mode=check_mode)
