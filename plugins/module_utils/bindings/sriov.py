# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sriov binding (reference §5): a VF of an SR-IOV pool passed through to the guest.

Nothing is built in the pod. In KubeVirt the device plugin gives the launcher pod a VF
already bound to vfio-pci, and sriov-cni, in its "DPDK mode", moves nothing into the pod
but sets the VF's settings on its PF. Here the binding does both: it allocates a free
vfio-pci VF of the pool that the NAD's ``k8s.v1.cni.cncf.io/resourceName`` names (the
pools of ``sriov_pool``) and sets the NAD's VF settings as sriov-cni does (``vlan``,
``spoofchk``, ``trust``, ``mac``, ...), the interface's ``macAddress`` being the VF's
admin MAC (``sriov_allocation.allocate``, which records the VF under ``<state_dir>/<vm>/sriov/``
and ``release`` puts the VF back). The domain gets KubeVirt's ``<hostdev type='pci'
managed='no'>`` with alias ``ua-sriov-<name>``: no MAC, link state or queues there.

The NAD is the one the network's attachment names (vm_network records SR-IOV networks
without running CNI, see pod.py); it is read when the interface is bound, as the device
plugin and sriov-cni read it when a pod starts.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from contextlib import contextmanager

from ansible_collections.vmnet.networks.plugins.module_utils import faults, nad, sriov, sriov_allocation, sriov_pools
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_xml
from ansible_collections.vmnet.networks.plugins.module_utils.host.sriov_netlink import ZERO_MAC, PfNetlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import Sysfs

CNI_TYPE = 'sriov'


@contextmanager
def host_of(pod):
    """The SR-IOV host the pod's VFs are on: ``pod.sriov_host`` when set (vm_interface, with
    the VFs running domains use; tests), else this host's sysfs and PF netlink, VFs used
    by domains unknown (the re-plumbing hook, which only re-applies recorded VFs)."""
    if pod.sriov_host is not None:
        yield pod.sriov_host
        return
    with PfNetlink() as netlink:
        yield sriov.Host(Sysfs(), netlink)


def _nad(pod, iface):
    """``(resource name, sriov-cni config, 'namespace/name')`` of the interface's NAD."""
    attachment = pod.attachment(iface['network']) or {}
    ref = attachment.get('sriov_nad')
    if not ref:
        raise VmnetError('interface "%s": network "%s" is not attached as an SR-IOV network: attach it first '
                         '(vm_network) with a NetworkAttachmentDefinition of CNI type sriov'
                         % (iface['name'], iface['network']), field='networks')
    conflist, location = nad.network_config(pod.nads, ref['namespace'], ref['name'])
    resource = nad.view(pod.nads.get(ref['namespace'], ref['name']))['resource_name']
    if not resource:
        raise VmnetError('interface "%s": NetworkAttachmentDefinition %s has no %s annotation: it names the SR-IOV '
                         'pool (sriov_pool) the VF comes from' % (iface['name'], location, nad.RESOURCE_NAME),
                         field='networks')
    config = next((p for p in conflist['plugins'] if p['type'] == CNI_TYPE), {})
    return resource, config, '%s/%s' % (ref['namespace'], ref['name'])


def discover(pod, iface, queues):
    """The VF the interface gets: the one recorded for it, else the first free one of the
    pool (chosen, not yet taken: ``apply`` takes it)."""
    resource, config, nad_name = _nad(pod, iface)
    settings = sriov_allocation.cni_vf_settings(config, iface['macAddress'])
    with host_of(pod) as host:
        try:
            pools = sriov_pools.load_pools(pod.sriov_pools_file)
            chosen = sriov_allocation.allocate(host, pod.state, pools, resource, iface['name'], settings,
                                               check_mode=True)['record']
        except VmnetError as exc:
            raise VmnetError('interface "%s": %s' % (iface['name'], exc), field=exc.field)
    return {'interface': iface['name'], 'binding': 'sriov', 'pod_iface': iface['podInterfaceName'],
            'nad': nad_name, 'resource': resource, 'cni_config': config, 'pci_address': chosen['pci_address'],
            'original': {'mac': chosen['original'].get('mac')}}


def refresh(record, iface, hostname, dns, search):
    """The VF's settings from the NAD and ``macAddress``; the guest's MAC is the VF's admin
    MAC: the one asked for, else the one the VF had. No DHCP: the guest is on the VF's network."""
    record['settings'] = sriov_allocation.cni_vf_settings(record['cni_config'], iface['macAddress'])
    original = record['original']['mac']
    record['guest_mac'] = record['settings'].get('mac') or (original if original != ZERO_MAC else None)
    record['dhcp'] = None


def desired(record):
    """Nothing in the pod: the VF, from its pool, with its settings."""
    return {'vf': {'pool': record['resource'], 'pci_address': record['pci_address'],
                   'settings': record['settings']}}


def observe(pod, record):
    """The VF as allocated (its record), None before."""
    allocated = pod.state.read(sriov_allocation.ALLOCATION_KIND, record['interface'])
    if allocated is None:
        return {'vf': None}
    return {'vf': {'pool': allocated['resource'], 'pci_address': allocated['pci_address'],
                   'settings': allocated['settings']}}


def apply(pod, record, check_mode, previous=None):
    """Allocate the VF (the pool's first free one, unless recorded) and set its settings."""
    with host_of(pod) as host:
        pools = sriov_pools.load_pools(pod.sriov_pools_file)
        result = sriov_allocation.allocate(host, pod.state, pools, record['resource'], record['interface'],
                                           record['settings'], check_mode)
    record['pci_address'] = result['record']['pci_address']
    if not check_mode:
        faults.point('sriov:allocate')
    return result['actions']


def teardown(pod, record, check_mode):
    """Give the VF back to its pool with its original settings."""
    with host_of(pod) as host:
        return sriov_allocation.release(host, pod.state, record['interface'], check_mode)['actions']


def status_ips(record):
    """None: KubeVirt has no pod IPs for SR-IOV, only what the guest agent reports."""
    return []


def ensure_domain(domain, record, iface, queues, check_mode):
    """KubeVirt's ``<hostdev>`` of the VF; no multiqueue (``queues`` is ignored)."""
    hostdev = libvirt_xml.render_hostdev(record['pci_address'], iface['name'], iface['pciAddress'],
                                         iface['bootOrder'])
    return domain.ensure_hostdev(hostdev, check_mode=check_mode)


def remove_domain(domain, iface, check_mode):
    return domain.remove_hostdev(libvirt_xml.SRIOV_ALIAS_PREFIX + iface['name'], check_mode=check_mode)
