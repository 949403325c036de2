# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge binding, built in the pod exactly as KubeVirt builds it (reference §2).

    k6t-<x>   bridge, up, fake 169.254.75.1<i>/32 when the pod NIC had IPv4
    <x>-nic   the pod NIC renamed, carrying the bridge's MAC, no addresses, learning off
    tap<x>    the glue's pod end (see host/glue.py), a bridge port
    <pod>     a placeholder with the pod NIC's original name, MAC, MTU and addresses, down
    arp_ignore=1 (net.ipv4.conf.all) when the pod NIC had IPv4

The guest gets the pod NIC's original MAC (or ``macAddress``) and, over DHCP, its IPv4
address, gateway and routes. Without IPv4 the binding is L2 only: no fake address, no
DHCP. The record written before any change holds the original addressing, so that the
binding can be undone (``state: absent``) and an interrupted run completed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import common
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp, glue, netlink

ARP_IGNORE = 'net.ipv4.conf.all.arp_ignore'
PLACEHOLDER_KINDS = ('dummy', 'tun')  # tun: a tap, where the kernel has no dummy


def discover(pod, iface, queues, ipam=True):
    """Read the untouched pod NIC and make the binding's record (reference §2.1). Without
    ``ipam`` (managedTap) the binding is L2 only whatever addresses the pod NIC has."""
    pod_iface = iface['podInterfaceName']
    with pod.namespace() as ns:
        link = common.pod_link(ns, pod, iface)
        addresses = ns.addresses(pod_iface)
        routes = ns.ipv4_routes(pod_iface)
        arp_ignore = netlink.sysctl_get(pod.netns, ARP_IGNORE)
    ipv4 = [a for a in addresses if ':' not in a]
    if ipam and ipv4 and not routes:
        raise VmnetError('no gateway address found in routes for %s' % pod_iface)
    bridge = names.bridge_name(pod_iface)
    return {
        'interface': iface['name'], 'binding': 'bridge', 'pod_iface': pod_iface,
        'nic': names.renamed_nic(pod_iface), 'bridge': bridge,
        'fake_ip': names.fake_bridge_ip(iface['index']) + '/32' if ipv4 and ipam else None,
        'original': {'mac': link['mac'], 'mtu': link['mtu'], 'addresses': addresses,
                     'routes': routes, 'arp_ignore': arp_ignore},
        'glue': glue.describe(pod.netns, pod_iface, bridge, link['mtu'], queues,
                              names.owner_alias(pod.vm_namespace, pod.vm, iface['name'])),
    }


def has_ipv4(record):
    return record['fake_ip'] is not None


def desired(record):
    """The pod as the binding wants it, as shown in diffs."""
    original = record['original']
    bridge_mac = '<MAC of %s>' % record['bridge']
    view = {
        record['bridge']: {'kind': 'bridge', 'up': True, 'mtu': original['mtu'],
                           'addresses': [record['fake_ip']] if has_ipv4(record) else []},
        record['nic']: {'master': record['bridge'], 'mac': bridge_mac, 'up': True,
                        'addresses': [], 'learning': False},
        record['pod_iface']: {'kind': 'dummy|tap', 'mac': original['mac'], 'mtu': original['mtu'],
                              'up': False, 'addresses': original['addresses']},
        'glue': record['glue'],
    }
    if has_ipv4(record):
        view['sysctl'] = {ARP_IGNORE: '1'}
    return view


def observe(pod, record):
    """The same view of what exists now (None for a missing piece)."""
    view = dict((name, None) for name in (record['bridge'], record['nic'], record['pod_iface']))
    view['glue'] = glue.observe(record['glue'], pod.netns)
    if not pod.exists():
        return view
    with pod.namespace() as ns:
        bridge = ns.link(record['bridge'])
        if bridge:
            view[record['bridge']] = {'kind': bridge['kind'], 'up': bridge['up'], 'mtu': bridge['mtu'],
                                      'addresses': ns.addresses(record['bridge'])}
        nic = ns.link(record['nic'])
        if nic:
            view[record['nic']] = {
                'master': nic['master'], 'up': nic['up'], 'addresses': ns.addresses(record['nic']),
                'learning': ns.learning(record['nic']) if nic['master'] else None,
                'mac': '<MAC of %s>' % record['bridge'] if bridge and nic['mac'] == bridge['mac'] else nic['mac']}
        placeholder = ns.link(record['pod_iface'])
        if placeholder:
            view[record['pod_iface']] = {
                'kind': 'dummy|tap' if placeholder['kind'] in PLACEHOLDER_KINDS else placeholder['kind'],
                'mac': placeholder['mac'], 'mtu': placeholder['mtu'], 'up': placeholder['up'],
                'addresses': ns.addresses(record['pod_iface'])}
    if has_ipv4(record):
        view['sysctl'] = {ARP_IGNORE: netlink.sysctl_get(pod.netns, ARP_IGNORE)}
    return view


def apply(pod, record, check_mode, previous=None, have=None):
    """Converge the pod to ``desired(record)``, step by step in KubeVirt's order; ``have`` is
    ``observe(pod, record)`` when the caller has just read it (read once per run)."""
    steps = [(record['bridge'], _bridge), (record['nic'], _nic), ('glue', common.make_glue),
             (record['pod_iface'], _placeholder), ('sysctl', _arp_ignore)]
    have = observe(pod, record) if have is None else have
    return common.converge(pod, record, desired(record), have, steps, check_mode, previous)


def _bridge(pod, record):
    with pod.namespace() as ns:
        if ns.link(record['bridge']) is None:
            ns.add_bridge(record['bridge'], record['original']['mtu'])
        ns.flush_addresses(record['bridge'])
        if has_ipv4(record):
            ns.add_address(record['bridge'], record['fake_ip'])
        ns.set_link(record['bridge'], state='up')


def _nic(pod, record):
    with pod.namespace() as ns:
        nic = ns.link(record['nic'])
        if nic is None:
            pod_link = ns.link(record['pod_iface'])
            if pod_link is None or pod_link['kind'] in PLACEHOLDER_KINDS:
                raise VmnetError('%s: neither the pod NIC %s nor %s exists; re-attach the network'
                                 % (pod.netns, record['pod_iface'], record['nic']))
            ns.set_link(record['pod_iface'], ifname=record['nic'])
        bridge_mac = ns.link(record['bridge'])['mac']
        ns.flush_addresses(record['nic'])
        ns.set_link(record['nic'], address=bridge_mac)
        ns.set_link(record['nic'], master=record['bridge'])
        ns.set_link(record['nic'], state='up')
        ns.set_learning(record['nic'], False)


def _placeholder(pod, record):
    original = record['original']
    with pod.namespace() as ns:
        existing = ns.link(record['pod_iface'])
        if existing and existing['kind'] not in PLACEHOLDER_KINDS:
            raise VmnetError('%s: %s is not the binding placeholder (kind %s)'
                             % (pod.netns, record['pod_iface'], existing['kind']))
        ns.delete(record['pod_iface'])
        ns.add_placeholder(record['pod_iface'], original['mac'], original['mtu'],
                           names.host_temp_link(pod.netns, record['pod_iface']))
        for cidr in original['addresses']:
            ns.add_address(record['pod_iface'], cidr)


def _arp_ignore(pod, record):
    if has_ipv4(record):
        netlink.sysctl_set(pod.netns, ARP_IGNORE, '1')


def teardown(pod, record, check_mode):
    """Undo the binding: give the pod NIC back its name, MAC and addresses."""
    actions = common.remove_glue(pod, record, check_mode)
    if not pod.exists():
        return actions
    with pod.namespace() as ns:
        placeholder = ns.link(record['pod_iface'])
        nic = ns.link(record['nic'])
        if placeholder and placeholder['kind'] in PLACEHOLDER_KINDS:
            actions.append('delete placeholder %s' % record['pod_iface'])
            if not check_mode:
                ns.delete(record['pod_iface'])
        if nic:
            actions.append('restore %s as %s' % (record['nic'], record['pod_iface']))
            if not check_mode:
                _restore_nic(ns, record)
        if ns.link(record['bridge']):
            actions.append('delete %s' % record['bridge'])
            if not check_mode:
                ns.delete(record['bridge'])
    if has_ipv4(record) and not _other_ipv4_bindings(pod, record):
        if not check_mode and netlink.sysctl_get(pod.netns, ARP_IGNORE) != record['original']['arp_ignore']:
            netlink.sysctl_set(pod.netns, ARP_IGNORE, record['original']['arp_ignore'])
    return actions


def _restore_nic(ns, record):
    original = record['original']
    ns.set_link(record['nic'], master=None)
    ns.set_link(record['nic'], ifname=record['pod_iface'], address=original['mac'], mtu=original['mtu'])
    for cidr in original['addresses']:
        ns.add_address(record['pod_iface'], cidr)
    ns.set_link(record['pod_iface'], state='up')
    for route in original['routes']:
        if route['gateway']:  # connected routes came back with the addresses
            ns.add_route(record['pod_iface'], route['dst'], route['gateway'])


def _other_ipv4_bindings(pod, record):
    return any(r.get('binding') == 'bridge' and r.get('fake_ip') and r['interface'] != record['interface']
               for r in (pod.state.read('interfaces', n) for n in pod.state.names('interfaces')) if r)


def refresh(record, iface, hostname, dns, search):
    """Fill the record's per-run fields from the spec: the guest's MAC and DHCP entry."""
    record['guest_mac'] = iface['macAddress'] or record['original']['mac']
    record['dhcp'] = None
    if has_ipv4(record):
        original = record['original']
        cidr = next(a for a in original['addresses'] if ':' not in a)
        routes = original['routes']
        record['dhcp'] = dhcp.bridge_entry(record['pod_iface'], record['bridge'], cidr, record['guest_mac'],
                                           routes[0]['gateway'], routes, original['mtu'], hostname, dns, search)


def status_ips(record):
    """Bridge reports the pod's IPv4 only (reference §2.1)."""
    return [a.split('/')[0] for a in record['original']['addresses'] if ':' not in a][:1]


# The domain side: a NIC on the glue's host tap.
ensure_domain = common.ensure_tap_nic
remove_domain = common.remove_nic
