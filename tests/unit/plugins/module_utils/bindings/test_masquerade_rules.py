# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The masquerade nftables rules are KubeVirt's (reference §4.3; the expected rule specs of
kubevirt:pkg/network/setup/netpod/masquerade/masquerade_test.go)."""

import re

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.bindings import masquerade
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

V4 = masquerade.vm_addresses('10.0.2.0/24')
V6 = masquerade.vm_addresses('fd10:0:2::/120')


def rulespecs(family, body):
    """Our table body in the form of KubeVirt's test expectations (chain, rule) lines."""
    lines, chain = [], None
    for line in body.splitlines():
        line = line.strip()
        match = re.match(r'chain (\S+) \{', line)
        if match:
            chain = match.group(1)
        elif line and line != '}' and not line.startswith('type nat'):
            lines.append('family %s table nat chain %s rulespec [%s]' % (family, chain, line.replace('"', '')))
    return sorted(lines)


def chainspecs(body):
    return re.findall(r'chain (\S+) \{\n(?:    (type nat[^\n]*)\n)?', body)


KUBEVIRT_V4_NO_PORTS = [
    'family ip table nat chain postrouting rulespec [ip saddr 10.0.2.2 counter masquerade]',
    'family ip table nat chain prerouting rulespec [iifname eth0 counter jump KUBEVIRT_PREINBOUND]',
    'family ip table nat chain postrouting rulespec [oifname k6t-eth0 counter jump KUBEVIRT_POSTINBOUND]',
    'family ip table nat chain KUBEVIRT_PREINBOUND rulespec [counter dnat to 10.0.2.2]',
    'family ip table nat chain KUBEVIRT_POSTINBOUND rulespec [ip saddr { 127.0.0.1 } counter snat to 10.0.2.1]',
    'family ip table nat chain output rulespec [ip daddr { 127.0.0.1 } counter dnat to 10.0.2.2]',
]
KUBEVIRT_V6_NO_PORTS = [
    'family ip6 table nat chain postrouting rulespec [ip6 saddr fd10:0:2::2 counter masquerade]',
    'family ip6 table nat chain prerouting rulespec [iifname eth0 counter jump KUBEVIRT_PREINBOUND]',
    'family ip6 table nat chain postrouting rulespec [oifname k6t-eth0 counter jump KUBEVIRT_POSTINBOUND]',
    'family ip6 table nat chain KUBEVIRT_PREINBOUND rulespec [counter dnat to fd10:0:2::2]',
    'family ip6 table nat chain KUBEVIRT_POSTINBOUND rulespec [ip6 saddr { ::1 } counter snat to fd10:0:2::1]',
    'family ip6 table nat chain output rulespec [ip6 daddr { ::1 } counter dnat to fd10:0:2::2]',
]
KUBEVIRT_V4_PORT_80 = [
    'family ip table nat chain postrouting rulespec [ip saddr 10.0.2.2 counter masquerade]',
    'family ip table nat chain prerouting rulespec [iifname eth0 counter jump KUBEVIRT_PREINBOUND]',
    'family ip table nat chain postrouting rulespec [oifname k6t-eth0 counter jump KUBEVIRT_POSTINBOUND]',
    'family ip table nat chain KUBEVIRT_PREINBOUND rulespec [tcp dport { 80 } counter dnat to 10.0.2.2]',
    'family ip table nat chain KUBEVIRT_POSTINBOUND rulespec [tcp dport 80 ip saddr { 127.0.0.1 } counter snat to 10.0.2.1]',
    'family ip table nat chain output rulespec [ip daddr { 127.0.0.1 } tcp dport 80 counter dnat to 10.0.2.2]',
]


@pytest.mark.parametrize('family, addresses, ports, expected', [
    ('ip', V4, [], KUBEVIRT_V4_NO_PORTS),
    ('ip6', V6, [], KUBEVIRT_V6_NO_PORTS),
    ('ip', V4, [{'name': 'http', 'protocol': 'TCP', 'port': 80}], KUBEVIRT_V4_PORT_80),
])
def test_rules_are_kubevirts(family, addresses, ports, expected):
    assert rulespecs(family, masquerade.rules(family, addresses, ports)) == sorted(expected)


def test_chains_are_kubevirts():
    assert chainspecs(masquerade.rules('ip', V4, [])) == [
        ('prerouting', 'type nat hook prerouting priority -100;'),
        ('input', 'type nat hook input priority 100;'),
        ('output', 'type nat hook output priority -100;'),
        ('postrouting', 'type nat hook postrouting priority 100;'),
        ('KUBEVIRT_PREINBOUND', ''), ('KUBEVIRT_POSTINBOUND', '')]


def test_many_ports_stay_one_rule_per_protocol_and_chain():
    ports = [{'name': None, 'protocol': 'TCP', 'port': p} for p in range(1000, 1200)]
    ports += [{'name': None, 'protocol': 'UDP', 'port': 53}]
    specs = rulespecs('ip', masquerade.rules('ip', V4, ports))
    assert len(specs) == 3 + 3 * 2   # three fixed rules, then one per protocol in each of three chains
    assert 'family ip table nat chain KUBEVIRT_PREINBOUND rulespec [udp dport { 53 } counter dnat to 10.0.2.2]' in specs
    tcp = [s for s in specs if 'KUBEVIRT_PREINBOUND rulespec [tcp' in s][0]
    assert tcp.startswith('family ip table nat chain KUBEVIRT_PREINBOUND rulespec [tcp dport { 1000, 1001, ')


def test_vm_addresses():
    assert V4 == {'gateway': '10.0.2.1', 'vm': '10.0.2.2', 'prefix': 24}
    assert V6 == {'gateway': 'fd10:0:2::1', 'vm': 'fd10:0:2::2', 'prefix': 120}
    assert masquerade.vm_addresses('10.0.2.0/30')['vm'] == '10.0.2.2'
    with pytest.raises(VmnetError, match='VM CIDR subnet is too small'):
        masquerade.vm_addresses('10.0.2.0/31')
