# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One VM interface: its binding in the pod, the pod's DHCP, and its libvirt NIC.

Order on ``present``: pod side first (so that a hot-plugged NIC finds its tap), then the
domain. On ``absent`` the reverse. A run that fails while binding a new interface undoes
what it made.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from contextlib import contextmanager

from ansible_collections.vmnet.networks.plugins.module_utils import bindings, faults, names, status
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain
from ansible_collections.vmnet.networks.plugins.module_utils.host.dhcp import Dnsmasq
from ansible_collections.vmnet.networks.plugins.module_utils.spec import plugins

MAX_QUEUES = 256


def binding_of(iface, spec):
    """The binding module of ``iface``; a plugin's is the one that implements it (spec/plugins.py)."""
    name = iface['binding']
    if name == 'plugin':
        registration = (spec.get('networkBindingPlugins') or {}).get(iface['bindingPlugin'])
        name = plugins.implementation(iface['bindingPlugin'], registration) if registration is not None else None
    try:
        return bindings.get(name)
    except KeyError:
        raise VmnetError('interface "%s": the %s binding is not supported by this version'
                         % (iface['name'], iface['bindingPlugin'] or iface['binding']), field='interfaces')


def queues(spec, iface, domain):
    """virtio multiqueue: one queue per vCPU (reference §7.2), only when asked for."""
    if not spec.get('networkInterfaceMultiqueue') or iface['model'] != 'virtio':
        return None
    return min(domain.vcpus()['current'], MAX_QUEUES)


def check_domain(iface, domain, binding):
    """Refuse, before anything changes, what the domain cannot take: a ``bootOrder`` on a
    domain that boots by ``<os><boot dev=.../>`` (libvirt has either those or per-device
    boot orders, never both), and what the binding's ``check_domain`` refuses."""
    if domain is None:
        return
    if hasattr(binding, 'check_domain'):
        binding.check_domain(domain, iface)
    if iface['bootOrder'] is None:
        return
    devices = domain.os_boot_devices()
    if devices:
        raise VmnetError('interface "%s": bootOrder %d needs a domain that boots by per-device boot orders, but libvirt '
                         'domain "%s" boots by <os><boot dev=.../> (%s), and libvirt allows one or the other: give its '
                         'disks <boot order="N"/> instead, or leave bootOrder out (nothing was changed)'
                         % (iface['name'], iface['bootOrder'], domain.name, ', '.join(devices)),
                         field='interfaces[%d].bootOrder' % iface['index'])


@contextmanager
def sriov_host(pod, ifaces, uri):
    """When one of ``ifaces`` has the sriov binding, this host's SR-IOV side for the run
    (``pod.sriov_host``), with the VFs that libvirt domains (running or defined) use."""
    if not any(iface['binding'] == 'sriov' for iface in ifaces):
        yield
        return
    # imported here: a run without SR-IOV interfaces needs none of it
    from ansible_collections.vmnet.networks.plugins.module_utils import sriov
    from ansible_collections.vmnet.networks.plugins.module_utils.host import sriov_netlink
    from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import Sysfs
    with sriov_netlink.PfNetlink() as pf_netlink:
        pod.sriov_host = sriov.Host(Sysfs(), pf_netlink, libvirt_domain.pci_hostdev_users(uri))
        yield


def sync_dhcp(pod, iface_name, record, check_mode):
    """The pod's dnsmasq serves the DHCP entries of its interfaces, ``iface_name`` now
    being ``record`` (None when removed): check mode never wrote that record."""
    records = dict((n, pod.state.read('interfaces', n)) for n in pod.state.names('interfaces'))
    records[iface_name] = record
    entries = [records[n]['dhcp'] for n in sorted(records) if records[n] and records[n].get('dhcp')]
    return Dnsmasq(pod.state, pod.netns).ensure(entries, check_mode)


def ensure(pod, spec, iface, domain, dns, check_mode):
    """Make the interface present; returns a result dict (changed, actions, diff, status)."""
    binding = binding_of(iface, spec)
    check_domain(iface, domain, binding)
    nic_queues = queues(spec, iface, domain)
    fresh = pod.state.read('interfaces', iface['name']) is None
    if fresh and not pod.exists():
        if not check_mode:
            raise VmnetError('the pod of VM "%s/%s" does not exist: attach its networks first (vm_network)'
                             % (pod.vm_namespace, pod.vm))
        return predicted(iface)
    record, actions, before, after = bind(pod, spec, iface, nic_queues, dns, check_mode)
    try:
        nic = binding.ensure_domain(domain, record, iface, nic_queues, check_mode)
        actions += nic['actions']
        if nic['actions'] and not check_mode:
            faults.point('domain:nic')
        actions += domain.ensure_pod_metadata(pod.vm_namespace, pod.vm, pod.state.base, check_mode)
    except Exception:
        if fresh and not check_mode:
            remove(pod, iface, domain, check_mode=False, keep_domain=True, spec=spec)
        raise
    if not check_mode:
        pod.state.write_settings(dict(pod.settings(), spec=spec, dns=list(dns)))
    return {
        'changed': bool(actions),
        'actions': actions,
        'restart_required': nic.get('restart_required', False),
        'diff': {'before': {'pod': before, 'domain_nic': nic['before']},
                 'after': {'pod': after, 'domain_nic': nic['after']}},
        'status': status.entry(iface['name'], nic['after']['live'] or nic['after']['config'], record),
    }


def bind(pod, spec, iface, nic_queues, dns, check_mode, rediscover=False, keep_original=('mac',)):
    """The pod side of an interface: its binding and the pod's DHCP.

    Returns (record, actions, view before, view after). A run that fails while binding a new
    interface undoes what it made. ``rediscover`` reads the pod NIC again for a binding whose
    pod was made anew (after a host reboot, on a migration's target), keeping the MAC the guest
    already has (``keep_original``: the fields of the record's ``original`` kept).
    """
    binding = binding_of(iface, spec)
    record = pod.state.read('interfaces', iface['name'])
    fresh = record is None
    previous = None if fresh else binding.desired(record)
    # only tap-based bindings (those with a glue) built pieces in the old pod to rebuild
    if fresh or (rediscover and 'glue' in record):
        found = binding.discover(pod, iface, nic_queues)
        if record:
            found['original'].update((key, record['original'][key]) for key in keep_original)
        record = found
    binding.refresh(record, iface, spec.get('hostname'), *dns)
    before, after = binding.observe(pod, record), binding.desired(record)
    if not check_mode:
        pod.state.write('interfaces', iface['name'], record)
    try:
        actions = binding.apply(pod, record, check_mode, previous, before)
        if not check_mode:
            pod.state.write('interfaces', iface['name'], record)  # what apply learned
        dhcp_actions = sync_dhcp(pod, iface['name'], record, check_mode)
        actions += dhcp_actions
        if dhcp_actions and not check_mode:
            faults.point('dhcp:dnsmasq')
    except Exception:
        if fresh and not check_mode:
            remove(pod, iface, None, check_mode=False, spec=spec)
        raise
    return record, actions, before, after


def predicted(iface):
    """Check mode on a VM whose pod, or the interface's network, is not made yet: everything would be created."""
    return {'changed': True, 'actions': ['bind %s (%s) once the pod exists' % (iface['name'], iface['binding'])],
            'restart_required': False,
            'diff': {'before': {'pod': None, 'domain_nic': None},
                     'after': {'pod': '%s binding of %s' % (iface['binding'], iface['podInterfaceName']),
                               'domain_nic': names.user_alias(iface['name'])}},
            'status': None}


def remove(pod, iface, domain, check_mode, keep_domain=False, spec=None):
    """Unplug the NIC, undo the binding, stop serving its DHCP; absent is fine. ``spec``
    (the VM's) tells a plugin interface's implementation."""
    iface_name = iface['name']
    actions = []
    nic = {'before': None, 'after': None}
    if domain is not None and not keep_domain:
        nic = binding_of(iface, spec or {}).remove_domain(domain, iface, check_mode)
        actions += nic['actions']
        if nic['actions'] and not check_mode:
            faults.point('remove:domain-nic')
    record = pod.state.read('interfaces', iface_name)
    before = None
    if record:
        binding = bindings.get(record['binding'])
        before = binding.observe(pod, record)
        actions += binding.teardown(pod, record, check_mode)
        if not check_mode:
            faults.point('remove:binding')
        if pod.exists():
            actions += sync_dhcp(pod, iface_name, None, check_mode)
        # the record goes last: a run killed before this finds it and finishes the removal
        if not check_mode:
            pod.state.delete('interfaces', iface_name)
    others = [name for name in pod.state.names('interfaces') if name != iface_name]  # check mode kept it
    if domain is not None and not keep_domain and not others:
        actions += domain.remove_pod_metadata(check_mode)
    return {'changed': bool(actions), 'actions': actions, 'restart_required': nic.get('restart_required', False),
            'diff': {'before': {'pod': before, 'domain_nic': nic['before']},
                     'after': {'pod': None, 'domain_nic': None}},
            'status': None}
