# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pods of a live migration: the source's records, the target pod, and removing either.

The target pod is built like the boot hook rebuilds a pod after a reboot (replumb.py): the
networks attached (CNI ADD on the target: the pod network's address comes from the
target's block), the bindings built from the source's records, so that the guest keeps its
MAC (and, on a stretched secondary network with the bridge binding, its addresses: DHCP
on the target serves what the guest has). As KubeVirt prepares a migration target, the
guest's links in the pod (the glue's pod end of each tap binding) stay down until the guest
runs there (``set_guest_links``), so the target pod sends nothing for the guest before.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import interface, migration
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink
from ansible_collections.vmnet.networks.plugins.module_utils.pod import plugin_network


def export(pod):
    """What the target needs of the source pod: its interfaces' binding records."""
    settings = pod.state.read_settings() if pod.state.exists() else None
    if not settings:
        raise VmnetError('VM "%s/%s" has no pod on the source (%s): apply the vm role there first'
                         % (pod.vm_namespace, pod.vm, pod.state.root))
    records = dict((n, pod.state.read('interfaces', n)) for n in pod.state.names('interfaces'))
    return {'interfaces': dict((n, r) for n, r in records.items() if r)}


def _networks(spec):
    """(network, interface bound to it) to attach, in spec order, plugin networks after theirs."""
    ifaces = dict((i['network'], i) for i in migration.migrating_interfaces(spec))
    out = []
    for network in spec['networks']:
        if network['name'] in ifaces:
            out.append((network, ifaces[network['name']]))
            extra = plugin_network(spec, ifaces[network['name']])
            if extra:
                out.append((extra, None))
    return out


def plan(pod, spec):
    """What ``prepare`` would do (check mode)."""
    actions = ['create network namespace %s' % pod.netns]
    actions += ['attach %s' % network['name'] for network, _iface in _networks(spec)]
    actions += ['bind %s (%s), guest link down' % (i['name'], i['binding']) for i in migration.migrating_interfaces(spec)]
    return actions


def prepare(pod, spec, source, dns):
    """Build the target pod from the source's records (``export``), its DHCP with the target's
    ``dns`` ([servers, search domains], as vm_interface takes them); the guest's links down.
    Returns (actions, {interface: record}). Anything made is removed again on failure."""
    if pod.exists() or pod.state.exists():
        raise VmnetError('the target already has a pod for VM "%s/%s" (%s): a VM there, or a failed migration: '
                         'remove it first (vm role, vmnet_vm_state: absent)' % (pod.vm_namespace, pod.vm, pod.state.root))
    actions, records = [], {}
    try:
        for network, iface in _networks(spec):
            actions += pod.ensure(network, iface=iface)[1]
        for iface in migration.migrating_interfaces(spec):
            old = source['interfaces'].get(iface['name'])
            if old is None:
                raise VmnetError('interface "%s" has no binding on the source: apply the vm role there first'
                                 % iface['name'], field='interfaces')
            pod.state.write('interfaces', iface['name'], old)
            keep = ('mac', 'addresses', 'routes') if migration.keeps_address(iface, spec) else ('mac',)
            queues = old['glue']['queues'] if 'glue' in old else None
            record, done = interface.bind(pod, spec, iface, queues, dns, False, rediscover=True, keep_original=keep)[:2]
            records[iface['name']] = record
            actions += done
        pod.state.write_settings(dict(pod.settings(), spec=spec, dns=list(dns)))
        actions += set_guest_links(pod, records, up=False)
    except Exception:
        remove(pod, spec)
        raise
    return actions, records


def records_of(pod):
    return dict((n, pod.state.read('interfaces', n)) for n in pod.state.names('interfaces'))


def set_guest_links(pod, records, up):
    """The glue's pod end of every tap binding up or down."""
    state = 'up' if up else 'down'
    actions = []
    with netlink.Namespace(pod.netns) as ns:
        for record in records.values():
            if record and 'glue' in record and ns.link(record['glue']['pod_tap']):
                ns.set_link(record['glue']['pod_tap'], state=state)
                actions.append('set %s %s' % (record['glue']['pod_tap'], state))
    return actions


def remove(pod, spec, check_mode=False):
    """The pod gone: bindings, DHCP, networks (CNI DEL: IPAM released), namespace, state."""
    actions = []
    by_name = dict((i['name'], i) for i in spec['interfaces'])
    for name in reversed(pod.state.names('interfaces')):
        record = pod.state.read('interfaces', name)
        iface = by_name.get(name) or {'name': name, 'binding': (record or {}).get('binding', 'bridge')}
        actions += interface.remove(pod, iface, None, check_mode, spec=spec)['actions']
    for name in reversed(pod.state.names('networks')):
        actions += pod.remove(name, check_mode)[1]
    if pod.exists() or pod.state.exists():
        actions += pod.remove('', check_mode)[1]
    return actions
