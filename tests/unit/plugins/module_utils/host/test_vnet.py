# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of the fleet's stretched-network links (the steps against real links are covered by
tests/integration/test_fleet.py)."""

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import vnet


class NoLinks(object):
    def __init__(self, taken=()):
        self.taken = set(taken)

    def name_taken(self, name):
        return name in self.taken


def owned_links(w):
    alias_net = w['network']
    return {
        w['bridge']: dict(network=alias_net, kind='bridge', mtu=w['mtu'], up=True, mac=w['gateway_mac'] or 'x',
                          master=None, vni=None, local=None, port=None, learning=None, port_learning=None,
                          neigh_suppress=None, addresses=[w['gateway']] if w['gateway'] else []),
        w['vxlan']: dict(network=alias_net, kind='vxlan', mtu=w['mtu'], up=True, mac='y', master=w['bridge'],
                         vni=w['vni'], local=w['local'], port=w['port'], learning=False, port_learning=False,
                         neigh_suppress=True, addresses=[]),
    }


def test_new_network_is_made_with_no_learning_and_suppression():
    wanted = vnet.desired([{'name': 'blue', 'vni': 100, 'mtu': 1450, 'gateway': '10.10.0.1/24'}], '198.51.100.1', 4789)
    steps, foreign = vnet.plan(wanted, {}, NoLinks())
    assert foreign == []
    assert ['link', 'add', 'vnbr100', 'type', 'bridge'] in steps
    assert ['link', 'add', 'vnvx100', 'type', 'vxlan', 'id', '100', 'local', '198.51.100.1', 'dstport', '4789',
            'nolearning'] in steps
    assert ['link', 'set', 'vnvx100', 'type', 'bridge_slave', 'learning', 'off', 'neigh_suppress', 'on'] in steps
    assert ['addr', 'add', '10.10.0.1/24', 'dev', 'vnbr100'] in steps
    assert ['link', 'set', 'vnbr100', 'address', '02:76:6e:00:00:64'] in steps


def test_matching_links_need_no_step_and_unlisted_ones_go():
    wanted = vnet.desired([{'name': 'blue', 'vni': 100, 'mtu': 1450, 'gateway': ''}], '198.51.100.1', 4789)
    owned = owned_links(wanted[0])
    assert vnet.plan(wanted, owned, NoLinks()) == ([], [])
    other = vnet.desired([{'name': 'red', 'vni': 300, 'mtu': 1450, 'gateway': ''}], '198.51.100.1', 4789)[0]
    owned.update(owned_links(other))
    steps, _foreign = vnet.plan(wanted, owned, NoLinks())
    assert steps == [['link', 'del', 'vnvx300'], ['link', 'del', 'vnbr300']]


def test_a_changed_vtep_recreates_the_vxlan_device():
    wanted = vnet.desired([{'name': 'blue', 'vni': 100, 'mtu': 1450, 'gateway': ''}], '198.51.100.1', 4789)
    owned = owned_links(wanted[0])
    owned['vnvx100']['local'] = '198.51.100.9'
    steps, _foreign = vnet.plan(wanted, owned, NoLinks())
    assert steps[:2] == [['link', 'del', 'vnvx100'],
                         ['link', 'add', 'vnvx100', 'type', 'vxlan', 'id', '100', 'local', '198.51.100.1',
                          'dstport', '4789', 'nolearning']]


def test_foreign_links_in_the_way_are_named():
    wanted = vnet.desired([{'name': 'blue', 'vni': 100, 'mtu': 1450, 'gateway': ''}], '198.51.100.1', 4789)
    _steps, foreign = vnet.plan(wanted, {}, NoLinks(['vnbr100']))
    assert foreign == ['vnbr100']


def test_every_bad_field_is_reported_at_once():
    with pytest.raises(VmnetError) as err:
        vnet.desired([{'name': 'a', 'vni': 0, 'mtu': 1450, 'gateway': ''},
                      {'name': 'a', 'vni': 5, 'mtu': 100, 'gateway': '10.0.0.1'},
                      {'name': 'b', 'vni': 5, 'mtu': 1450, 'gateway': 'x'}], 'nope', 4789)
    text = str(err.value)
    for part in ('local:', 'networks[0].vni', 'networks[1].name: a is given twice', 'networks[1].mtu',
                 'networks[1].gateway', 'networks[2].vni: 5 is also the VNI of a', 'networks[2].gateway'):
        assert part in text
    assert err.value.field == 'networks'
