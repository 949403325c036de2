# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A removal killed half-way (faults.py's points of ``state: absent``) is finished by the
next one: the interface's record goes last, and a glue half gone is removed. The real
host: tests/integration/test_faults.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import faults, interface
from ansible_collections.vmnet.networks.plugins.module_utils import pod as pods
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import common
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import glue


class Killed(BaseException):
    """Stands for the SIGKILL of a fault point (no ``except Exception`` catches it)."""


class Binding(object):
    """A binding whose pieces are a set; teardown takes them all away."""

    def __init__(self):
        self.pieces = {'bridge', 'nic', 'glue'}

    def observe(self, pod, record):
        return sorted(self.pieces)

    def teardown(self, pod, record, check_mode):
        actions = ['delete %s' % piece for piece in sorted(self.pieces)]
        if not check_mode:
            self.pieces.clear()
        return actions


class Dnsmasq(object):
    """The pod's DHCP server: the entries it serves."""
    served = None

    def __init__(self, state, netns):
        pass

    def ensure(self, entries, check_mode):
        if entries == Dnsmasq.served:
            return []
        if not check_mode:
            Dnsmasq.served = entries
        return ['serve %d entries' % len(entries)]


@pytest.fixture
def pod(tmp_path, monkeypatch):
    binding = Binding()
    monkeypatch.setattr(interface.bindings, 'get', lambda name: binding)
    monkeypatch.setattr(interface, 'Dnsmasq', Dnsmasq)
    monkeypatch.setattr(pods.Pod, 'exists', lambda self: True)
    made = pods.Pod('web', state_dir=str(tmp_path))
    made.binding = binding
    for name in ('default', 'red'):
        made.state.write('interfaces', name, {'interface': name, 'binding': 'bridge', 'dhcp': {'tag': name}})
    Dnsmasq.served = [{'tag': 'default'}, {'tag': 'red'}]
    return made


@pytest.mark.parametrize('point', [None, 'remove:binding'], ids=['undisturbed', 'killed'])
def test_an_absent_killed_after_the_teardown_is_finished_by_the_next(pod, monkeypatch, point):
    def die(name):
        if name == point:
            raise Killed(name)
    monkeypatch.setattr(faults, 'point', die)
    iface = {'name': 'red', 'binding': 'bridge'}
    if point == 'remove:binding':
        with pytest.raises(Killed):
            interface.remove(pod, iface, None, check_mode=False)
        # the binding is undone, its DHCP entry still served: its record must still be there
        assert pod.binding.pieces == set() and Dnsmasq.served == [{'tag': 'default'}, {'tag': 'red'}]
        assert pod.state.read('interfaces', 'red') is not None
        monkeypatch.setattr(faults, 'point', lambda name: None)   # the next run, without the fault
    done = interface.remove(pod, iface, None, check_mode=False)
    assert done['changed'] and Dnsmasq.served == [{'tag': 'default'}], done
    assert pod.state.names('interfaces') == ['default']
    again = interface.remove(pod, iface, None, check_mode=False)
    assert (again['changed'], again['actions']) == (False, [])


class Host(object):
    """The host namespace's links, by name: ``{name: alias}``."""

    def __init__(self, links):
        self.links = links

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def link(self, name):
        return {'name': name, 'alias': self.links[name]} if name in self.links else None

    def delete(self, name):
        del self.links[name]


GLUE = {'host_tap': 'vmtap1', 'host_veth': 'vmveth1', 'pod_tap': 'tap0', 'owner': 'vmnet:default/web/red'}


@pytest.mark.parametrize('links,actions', [
    ({'vmtap1': GLUE['owner'], 'vmveth1': GLUE['owner']}, ['delete glue vmtap1']),
    ({'vmtap1': GLUE['owner']}, ['delete glue vmtap1']),        # its veth deleted, the run killed (remove:glue-veth)
    ({'vmveth1': GLUE['owner']}, ['delete glue vmtap1']),
    ({}, []),
])
def test_a_glue_half_gone_is_removed(monkeypatch, links, actions):
    host = Host(dict(links, lo=None))
    monkeypatch.setattr(glue.netlink, 'Namespace', lambda netns=None: host)
    record = {'glue': GLUE}
    assert common.remove_glue(None, record, check_mode=True) == actions
    assert sorted(host.links) == sorted(dict(links, lo=None))   # check mode changed nothing
    assert common.remove_glue(None, record, check_mode=False) == actions
    assert sorted(host.links) == ['lo']
    assert common.remove_glue(None, record, check_mode=False) == []


def test_a_foreign_link_of_the_glue_name_is_refused(monkeypatch):
    host = Host({'vmtap1': 'someone else'})
    monkeypatch.setattr(glue.netlink, 'Namespace', lambda netns=None: host)
    with pytest.raises(VmnetError, match='not owned by vmnet'):
        common.remove_glue(None, {'glue': GLUE}, check_mode=False)
    assert host.links == {'vmtap1': 'someone else'}
