# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KubeVirt's names (reference §1.4): a KubeVirt user must recognise a vmnet pod."""

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError


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


def test_pod_netns_names_carry_the_namespace():
    assert names.pod_netns('default', 'testvm') == 'vmnet-default_testvm'
    assert names.pod_netns('a', 'web') != names.pod_netns('b', 'web')
    long_name = names.pod_netns('ns', 'x' * 60)
    assert long_name.startswith('vmnet-ns_' + 'x' * 20 + '_') and len(long_name) <= names.MAX_NETNS
    assert long_name != names.pod_netns('ns', 'x' * 61)
    # the longest identities Kubernetes allows still fit
    longest = names.pod_netns('n' * 63, 'v' * 253)
    assert len(longest) <= names.MAX_NETNS and longest.count(names.ID_SEPARATOR) == 2


def test_no_name_equals_another_vms_hashed_identity():
    # a hashed identity has two separators, a plain one one, and names cannot hold it
    hashed = names.pod_id('ns', 'y' * 80)
    assert hashed.count(names.ID_SEPARATOR) == 2
    assert names.pod_id('ns', 'short').count(names.ID_SEPARATOR) == 1
    namespace, _sep, rest = hashed.partition(names.ID_SEPARATOR)
    with pytest.raises(VmnetError, match='metadata.name'):
        names.pod_id(namespace, rest)


@pytest.mark.parametrize('namespace, name, field', [
    ('default', '..', 'metadata.name'), ('default', '../x', 'metadata.name'), ('default', '/etc', 'metadata.name'),
    ('default', 'Web', 'metadata.name'), ('default', 'a_b', 'metadata.name'), ('default', 'web\n', 'metadata.name'),
    ('default', 'x' * 254, 'metadata.name'), ('a.b', 'web', 'metadata.namespace'), ('', 'web', 'metadata.namespace'),
])
def test_vm_identity_is_refused_naming_the_field(namespace, name, field):
    with pytest.raises(VmnetError, match=field) as info:
        names.check_vm_identity(namespace, name)
    assert info.value.field == field


def test_owner_alias_fits_ifaliasz_and_carries_the_namespace():
    assert names.owner_alias('a', 'web', 'default') != names.owner_alias('b', 'web', 'default')
    long_alias = names.owner_alias('n' * 63, 'v' * 253, 'i' * 200)
    assert len(long_alias) <= names.MAX_ALIAS
    assert long_alias != names.owner_alias('n' * 63, 'v' * 253, 'i' * 201)


def test_host_links_fit_and_differ_per_vm():
    tap, veth = names.host_links('vmnet-a', 'eth0')
    assert len(tap) <= names.IFNAMSIZ and len(veth) <= names.IFNAMSIZ
    assert names.host_links('vmnet-b', 'eth0') != (tap, veth)
    assert names.user_alias('default') == 'ua-default'


def test_default_domain_differs_per_namespace():
    assert names.default_domain('default', 'web') == 'web'
    assert names.default_domain('a', 'web') == 'a_web' != names.default_domain('b', 'web')
    with pytest.raises(VmnetError):
        names.default_domain('default', '../web')
