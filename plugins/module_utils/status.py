# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's interfaces as a VMI's ``status.interfaces`` reports them (reference §8).

Built like virt-handler builds it: from the domain's NICs (matched by their ``ua-``
alias; slirp NICs are QEMU arguments, see host/libvirt_qemu_args.py) and SR-IOV host
devices (alias ``ua-sriov-<name>``: no link state or queue count, the MAC asked for or
the VF's admin MAC, from the binding record), overlaid with the
pod's IPs from the binding records, then merged with what the QEMU guest agent reports,
matched by MAC (guest-only NICs appended, at most 10). The primary network's entry comes
first.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import bindings, names
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_qemu_args
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import SRIOV_ALIAS_PREFIX

MAX_GUEST_ONLY = 10


def interfaces(pod, domain):
    """``status.interfaces`` of the VM; ``domain`` may be None (gone): records only."""
    records = dict((n, pod.state.read('interfaces', n)) for n in pod.state.names('interfaces'))
    nics, hostdevs = [], []
    if domain is not None:
        nics = domain.list_nics() + [{'alias': nic['alias'], 'config': nic, 'live': None}
                                     for nic in libvirt_qemu_args.list_nics(domain)]
        hostdevs = domain.list_hostdevs()
    agent = dict((g['mac'], g) for g in domain.guest_interfaces()) if domain is not None else {}
    entries = []
    for nic in nics:
        name = nic['alias'][len(names.user_alias('')):]
        entries.append(entry(name, nic['live'] or nic['config'], records.get(name), agent))
    for hostdev in hostdevs:
        name = hostdev['alias'][len(SRIOV_ALIAS_PREFIX):]
        entries.append(entry(name, hostdev['live'] or hostdev['config'], records.get(name), agent))
    for name, record in sorted(records.items()):
        if record and not any(e['name'] == name for e in entries):
            entries.append(entry(name, None, record, agent))
    known = set(e.get('mac') for e in entries)
    guest_only = [g for mac, g in sorted(agent.items()) if mac not in known][:MAX_GUEST_ONLY]
    entries += [_guest_only(g) for g in guest_only]
    entries.sort(key=lambda e: e.get('podInterfaceName') != names.PRIMARY_POD_IFACE)
    return entries


def entry(name, nic, record, agent=None):
    """One ``status.interfaces[]`` entry from the domain NIC, the binding record and the agent."""
    result = {'name': name, 'infoSource': 'domain'}
    ips = []
    if record:
        result['podInterfaceName'] = record['pod_iface']
        ips = bindings.get(record['binding']).status_ips(record)
    if nic and 'source' not in nic:
        # a slirp NIC has no link state or queues: always up, one queue
        result.update(mac=nic['mac'], linkState=nic.get('link_state', 'up'), queueCount=nic.get('queues') or 1)
    elif record:
        # an SR-IOV host device (its ``source``, the VF) has neither: the record has the MAC
        result['mac'] = record.get('guest_mac')
    guest = (agent or {}).get(result.get('mac'))
    if guest:
        result['interfaceName'] = guest['name']
        result['infoSource'] += ', guest-agent'
        # the agent fills only a family the pod's addresses lack
        families = set(':' in ip for ip in ips)
        ips = ips + [ip for ip in guest['ips'] if (':' in ip) not in families]
    if ips:
        result['ipAddress'] = ips[0]
        result['ipAddresses'] = ips
    return result


def _guest_only(guest):
    entry = {'name': '', 'mac': guest['mac'], 'interfaceName': guest['name'], 'infoSource': 'guest-agent'}
    if guest['ips']:
        entry['ipAddress'] = guest['ips'][0]
        entry['ipAddresses'] = guest['ips']
    return entry
