# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The masquerade binding: the guest behind NAT on the pod IP (reference §4).

    k6t-eth0  bridge, MAC 02:00:00:00:00:00, the gateway of the VM CIDR per family
              (10.0.2.1/24, fd10:0:2::1/120), route_localnet
    tap0      the glue's pod end, a bridge port
    eth0      untouched: it keeps the pod IP
    nftables  table ``nat`` of family ip and/or ip6 with KubeVirt's chains and rules
    sysctls   forwarding; bridge-nf-call-ip(6)tables 0 where the kernel has br_netfilter, so
              that the pod's conntrack and nat see a guest packet once, routed, and not a
              second time as it crosses k6t-eth0 (nothing in the pod filters bridged frames)

The guest is VM = CIDR+2 and reaches the world through NAT; inbound connections to the
pod IP (all ports, or only ``ports``) and connections to localhost in the pod are DNATed to
it. dnsmasq gives the guest its IPv4 over DHCP and, for IPv6, its address over DHCPv6 and
its default route by router advertisements.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import re

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import common
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp, glue, netlink, nft

BRIDGE_MAC = '02:00:00:00:00:00'
TABLE = 'nat'
LOOPBACK = {'ip': '127.0.0.1', 'ip6': '::1'}
FAMILY_KEYS = {'ip': 'ipv4', 'ip6': 'ipv6'}
SYSCTLS = {'ipv4': ('net.ipv4.ip_forward', 'net.ipv4.conf.k6t-eth0.route_localnet'),
           'ipv6': ('net.ipv6.conf.all.forwarding',)}
BRIDGE_NF = {'ipv4': 'net.bridge.bridge-nf-call-iptables', 'ipv6': 'net.bridge.bridge-nf-call-ip6tables'}


def vm_addresses(cidr):
    """Gateway = network+1, VM = network+2; the CIDR must leave room for both (reference §4.1)."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.num_addresses < 4:
        raise VmnetError('VM CIDR subnet is too small, at least 2 host addresses are required: %s' % cidr)
    return {'gateway': str(network.network_address + 1), 'vm': str(network.network_address + 2),
            'prefix': network.prefixlen}


def discover(pod, iface, queues):
    pod_iface = iface['podInterfaceName']
    with pod.namespace() as ns:
        link = common.pod_link(ns, pod, iface)
        addresses = ns.addresses(pod_iface)
    families = {'ipv4': iface['vmNetworkCIDR'] if any(':' not in a for a in addresses) else None,
                'ipv6': iface['vmIPv6NetworkCIDR'] if any(':' in a for a in addresses) else None}
    if not any(families.values()):
        raise VmnetError('pod interface %s has no global IP address to masquerade behind' % pod_iface)
    record = {
        'interface': iface['name'], 'binding': 'masquerade', 'pod_iface': pod_iface,
        'bridge': names.bridge_name(pod_iface),
        'original': {'mac': link['mac'], 'mtu': link['mtu'], 'addresses': addresses,
                     'sysctls': _sysctls(pod.netns, families)},
        'glue': glue.describe(pod.netns, pod_iface, names.bridge_name(pod_iface), link['mtu'], queues,
                              names.owner_alias(pod.vm_namespace, pod.vm, iface['name'])),
        'applied_rules': {},
    }
    for family, cidr in families.items():
        record[family] = vm_addresses(cidr) if cidr else None
    return record


def _sysctls(netns, families):
    # route_localnet of k6t-eth0 does not exist before the bridge: start from 0
    values = dict((key, netlink.sysctl_get(netns, key) if 'k6t' not in key else '0')
                  for family in families if families[family] for key in SYSCTLS[family])
    for family in (f for f in families if families[f]):
        try:
            values[BRIDGE_NF[family]] = netlink.sysctl_get(netns, BRIDGE_NF[family])
        except OSError:  # no br_netfilter: no second pass to switch off
            pass
    return values


def rules(family, addresses, ports, pod_iface='eth0', bridge='k6t-eth0'):
    """The body of table ``<family> nat``: KubeVirt's chains and rules (reference §4.3).

    KubeVirt adds one rule per listed port; ports of one protocol are merged here into one
    rule with a set, so that a chain holds O(1) rules however many ports are forwarded. For
    one port per protocol the rules are KubeVirt's, word for word.
    """
    vm, gateway, loopback = _address(addresses['vm']), _address(addresses['gateway']), LOOPBACK[family]
    pod_iface, bridge = _ifname(pod_iface), _ifname(bridge)
    preinbound, postinbound, output = [], [], []
    if not ports:
        preinbound.append('counter dnat to %s' % vm)
        postinbound.append('%s saddr { %s } counter snat to %s' % (family, loopback, gateway))
        output.append('%s daddr { %s } counter dnat to %s' % (family, loopback, vm))
    for protocol, numbers in _ports_by_protocol(ports):
        listed = ', '.join(str(p) for p in numbers)
        dport = listed if len(numbers) == 1 else '{ %s }' % listed
        preinbound.append('%s dport { %s } counter dnat to %s' % (protocol, listed, vm))
        postinbound.append('%s dport %s %s saddr { %s } counter snat to %s'
                           % (protocol, dport, family, loopback, gateway))
        output.append('%s daddr { %s } %s dport %s counter dnat to %s' % (family, loopback, protocol, dport, vm))
    chains = [
        ('prerouting', 'type nat hook prerouting priority -100;',
         ['iifname "%s" counter jump KUBEVIRT_PREINBOUND' % pod_iface]),
        ('input', 'type nat hook input priority 100;', []),
        ('output', 'type nat hook output priority -100;', output),
        ('postrouting', 'type nat hook postrouting priority 100;',
         ['%s saddr %s counter masquerade' % (family, vm),
          'oifname "%s" counter jump KUBEVIRT_POSTINBOUND' % bridge]),
        ('KUBEVIRT_PREINBOUND', None, preinbound),
        ('KUBEVIRT_POSTINBOUND', None, postinbound),
    ]
    text = ''
    for name, hook, chain_rules in chains:
        text += '  chain %s {\n' % name
        if hook:
            text += '    %s\n' % hook
        text += ''.join('    %s\n' % rule for rule in chain_rules)
        text += '  }\n'
    return text


# What the nft text is made of, checked again here: rendered, never interpolated.
_IFNAME = re.compile(r'[A-Za-z0-9_.-]{1,15}')


def _address(text):
    try:
        return str(ipaddress.ip_address(names.plain_text(text, 'address')))
    except ValueError:
        raise VmnetError('refusing address %r in nft rules' % (text,), field='address')


def _ifname(name):
    if not _IFNAME.fullmatch(names.plain_text(name, 'interface')):
        raise VmnetError('refusing interface name %r in nft rules' % name, field='interface')
    return name


def _ports_by_protocol(ports):
    """``[(protocol, [port, ...])]``, each port once, in the order given (dicts: linear time)."""
    grouped = {}
    for port in ports:
        protocol, number = port['protocol'].lower(), port['port']
        if protocol not in ('tcp', 'udp') or isinstance(number, bool) or not isinstance(number, int) \
                or not 0 < number < 65536:
            raise VmnetError('refusing port %r/%r in nft rules' % (port['protocol'], number), field='ports')
        grouped.setdefault(protocol, {})[number] = None
    return sorted((protocol, list(numbers)) for protocol, numbers in grouped.items())


def refresh(record, iface, hostname, dns, search):
    record['guest_mac'] = iface['macAddress'] or record['original']['mac']
    record['rules'] = dict((family, rules(family, record[key], iface['ports'], record['pod_iface'],
                                          record['bridge']))
                           for family, key in FAMILY_KEYS.items() if record[key])
    record['dhcp'] = dhcp.masquerade_entry(record['pod_iface'], record['bridge'], record['ipv4'],
                                           record['ipv6'], record['original']['mtu'], hostname, dns, search)


def _gateways(record):
    return ['%s/%d' % (record[key]['gateway'], record[key]['prefix'])
            for key in ('ipv4', 'ipv6') if record[key]]


def _wanted_sysctls(record):
    wanted = dict((key, '1') for family in ('ipv4', 'ipv6') if record[family] for key in SYSCTLS[family])
    wanted.update((key, '0') for key in record['original']['sysctls'] if key in BRIDGE_NF.values())
    return wanted


def desired(record):
    return {
        record['bridge']: {'kind': 'bridge', 'mac': BRIDGE_MAC, 'up': True, 'mtu': record['original']['mtu'],
                           'addresses': _gateways(record)},
        'glue': record['glue'],
        'sysctl': _wanted_sysctls(record),
        'nftables': dict(('%s %s' % (family, TABLE), text) for family, text in record['rules'].items()),
    }


def observe(pod, record):
    view = {record['bridge']: None, 'glue': glue.observe(record['glue'], pod.netns), 'sysctl': None,
            'nftables': None}
    if not pod.exists():
        return view
    with pod.namespace() as ns:
        bridge = ns.link(record['bridge'])
        if bridge:
            view[record['bridge']] = {'kind': bridge['kind'], 'mac': bridge['mac'], 'up': bridge['up'],
                                      'mtu': bridge['mtu'], 'addresses': ns.addresses(record['bridge'])}
    if bridge:
        view['sysctl'] = dict((key, netlink.sysctl_get(pod.netns, key)) for key in _wanted_sysctls(record))
    view['nftables'] = dict(('%s %s' % (family, TABLE), _observed_rules(pod, record, family))
                            for family in record.get('rules', {}))
    return view


def _observed_rules(pod, record, family):
    """The wanted text when the live table is what this binding loaded, else the live text."""
    live = nft.read_table(pod.netns, family, TABLE)
    applied = record['applied_rules'].get(family)
    if live is not None and applied and applied['rules'] == record['rules'][family] and applied['json'] == live:
        return record['rules'][family]
    return nft.list_text(pod.netns, family, TABLE)


def apply(pod, record, check_mode, previous=None, have=None):
    """As bridge.apply: ``have`` is ``observe(pod, record)`` when the caller has just read it."""
    steps = [(record['bridge'], _bridge), ('glue', common.make_glue), ('sysctl', _sysctl),
             ('nftables', _nftables)]
    have = observe(pod, record) if have is None else have
    return common.converge(pod, record, desired(record), have, steps, check_mode, previous)


def _bridge(pod, record):
    with pod.namespace() as ns:
        if ns.link(record['bridge']) is None:
            ns.add_bridge(record['bridge'], record['original']['mtu'])
        ns.set_link(record['bridge'], address=BRIDGE_MAC, mtu=record['original']['mtu'])
        ns.flush_addresses(record['bridge'])
        for cidr in _gateways(record):
            ns.add_address(record['bridge'], cidr)
        ns.set_link(record['bridge'], state='up')


def _sysctl(pod, record):
    for key, value in _wanted_sysctls(record).items():
        netlink.sysctl_set(pod.netns, key, value)


def _nftables(pod, record):
    for family, text in record['rules'].items():
        nft.replace_table(pod.netns, family, TABLE, text)
        record['applied_rules'][family] = {'rules': text, 'json': nft.read_table(pod.netns, family, TABLE)}


def teardown(pod, record, check_mode):
    actions = common.remove_glue(pod, record, check_mode)
    if not pod.exists():
        return actions
    for family in FAMILY_KEYS:
        if nft.read_table(pod.netns, family, TABLE) is not None:
            actions.append('delete nftables table %s %s' % (family, TABLE))
            if not check_mode:
                nft.delete_table(pod.netns, family, TABLE)
    with pod.namespace() as ns:
        if ns.link(record['bridge']):
            actions.append('delete %s' % record['bridge'])
            if not check_mode:
                ns.delete(record['bridge'])
    if not check_mode:
        for key, value in record['original']['sysctls'].items():
            if 'k6t' not in key:
                netlink.sysctl_set(pod.netns, key, value)
    return actions


def status_ips(record):
    """Masquerade reports the pod's IPs, not the VM's (reference §4.4)."""
    return [a.split('/')[0] for a in record['original']['addresses']]


# The domain side: a NIC on the glue's host tap.
ensure_domain = common.ensure_tap_nic
remove_domain = common.remove_nic
