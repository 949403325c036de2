# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KubeVirt's names (reference §1.4): a KubeVirt user must recognise a vmnet pod."""

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import names


@pytest.mark.parametrize('network, pod_iface, bridge, nic, tap', [
    ('red', 'podb1f51a511f1', 'k6t-b1f51a511f1', 'b1f51a511f1-nic', 'tapb1f51a511f1'),
    ('blue', 'pod16477688c0e', 'k6t-16477688c0e', '16477688c0e-nic', 'tap16477688c0e'),
])
def test_secondary_names_are_kubevirts(network, pod_iface, bridge, nic, tap):
    assert names.pod_iface(network, primary=False) == pod_iface
    assert names.bridge_name(pod_iface) == bridge
    assert names.renamed_nic(pod_iface) == nic
    assert names.pod_tap(pod_iface) == tap
    assert max(len(pod_iface), len(bridge), len(nic), len(tap)) <= names.IFNAMSIZ


def test_primary_and_ordinal_names():
    assert names.pod_iface('default', primary=True) == 'eth0'
    assert (names.bridge_name('eth0'), names.renamed_nic('eth0'), names.pod_tap('eth0')) == \
        ('k6t-eth0', 'eth0-nic', 'tap0')
    assert names.pod_iface('red', primary=False, ordinal=2) == 'net2'
    assert (names.bridge_name('net2'), names.renamed_nic('net2'), names.pod_tap('net2')) == \
        ('k6t-net2', 'net2-nic', 'tap2')


@pytest.mark.parametrize('index, address', [(0, '169.254.75.10'), (1, '169.254.75.11'), (12, '169.254.75.112')])
def test_fake_bridge_ip_is_string_concatenation(index, address):
    assert names.fake_bridge_ip(index) == address


def test_pod_netns_names():
    assert names.pod_netns('testvm') == 'vmnet-testvm'
    long_name = names.pod_netns('x' * 60)
    assert long_name.startswith('vmnet-' + 'x' * 40 + '-') and len(long_name) == 6 + 40 + 1 + 8
    odd = names.pod_netns('a/b c')
    assert odd.startswith('vmnet-a_b_c-') and odd != names.pod_netns('a_b_c')


def test_host_links_fit_and_differ_per_vm():
    tap, veth = names.host_links('vmnet-a', 'eth0')
    assert len(tap) <= names.IFNAMSIZ and len(veth) <= names.IFNAMSIZ
    assert names.host_links('vmnet-b', 'eth0') != (tap, veth)
    assert names.user_alias('default') == 'ua-default'
