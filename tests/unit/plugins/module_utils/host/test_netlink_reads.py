# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Namespace reads once until it changes something: a pod's links and addresses from one
dump each, the host's links one at a time. The kernel is pyroute2's: faked here (its messages
only), what the reads make of them is the code under test."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections

from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink


class Msg(dict):
    def __init__(self, attrs, **fields):
        dict.__init__(self, fields)
        self.attrs = attrs

    def get_attr(self, name):
        return self.attrs.get(name)


def link_msg(index, name, master=None):
    return Msg({'IFLA_IFNAME': name, 'IFLA_ADDRESS': '02:00:00:00:00:%02x' % index, 'IFLA_MTU': 1500,
                'IFLA_MASTER': master}, index=index, flags=1)


class FakeIPRoute(object):
    """The links k6t-eth0 (1) and eth0-nic (2, its port), one address on k6t-eth0."""

    def __init__(self):
        self.calls = collections.Counter()
        self.links = [link_msg(1, 'k6t-eth0'), link_msg(2, 'eth0-nic', master=1)]

    def get_links(self):
        self.calls['dump links'] += 1
        return list(self.links)

    def get_addr(self, index=None):
        self.calls['dump addresses'] += 1
        found = [Msg({'IFA_ADDRESS': '169.254.75.10'}, index=1, scope=0, family=2, prefixlen=32)]
        return [m for m in found if index is None or m['index'] == index]

    def link(self, command, ifname=None, index=None, **attrs):
        self.calls['link ' + command] += 1
        if command != 'get':
            self.links.append(link_msg(3, attrs.get('name', 'new')))
            return []
        found = [m for m in self.links if m.get_attr('IFLA_IFNAME') == ifname or m['index'] == index]
        if not found:
            raise OSError('no such device')
        return found

    def close(self):
        pass


def namespace(monkeypatch, name):
    fake = FakeIPRoute()
    monkeypatch.setattr(netlink, '_open', lambda ns: fake)
    return netlink.Namespace(name), fake


def test_a_pod_is_read_with_one_link_dump_and_one_address_dump(monkeypatch):
    ns, fake = namespace(monkeypatch, 'vmnet-default_vm')
    bridge, nic = ns.link('k6t-eth0'), ns.link('eth0-nic')
    assert (bridge['index'], nic['master'], ns.link('missing')) == (1, 'k6t-eth0', None)
    assert ns.addresses('k6t-eth0') == ['169.254.75.10/32'] and ns.addresses('eth0-nic') == []
    assert ns.link_names() == ['eth0-nic', 'k6t-eth0']
    assert fake.calls == {'dump links': 1, 'dump addresses': 1}


def test_a_change_forgets_what_was_read(monkeypatch):
    ns, fake = namespace(monkeypatch, 'vmnet-default_vm')
    assert ns.link('new') is None
    ns.ipr.link('add', name='new')
    assert ns.link('new')['index'] == 3
    assert fake.calls['dump links'] == 2


def test_the_host_is_read_link_by_link(monkeypatch):
    ns, fake = namespace(monkeypatch, None)
    assert ns.link('eth0-nic')['master'] == 'k6t-eth0'
    assert ns.link('eth0-nic')['index'] == 2 and ns.link('gone') is None
    assert ns.addresses('k6t-eth0') == ['169.254.75.10/32']
    # eth0-nic, its master (by index), gone, k6t-eth0 (by name): once each
    assert fake.calls['dump links'] == 0 and fake.calls['link get'] == 4
