# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The glue's redirect files (host/glue_bpf.py, its fallback host/glue_tc.py) on real links.

The topology of bench/glue_throughput.py, in namespaces of the test's own: a "host" netns
holds a stand-in tap (a veth whose other end is eth0 of a "guest" netns; a tap has no
carrier without QEMU) and the host veth, whose peer tap0 is on k6t-eth0 of a "pod" netns.
Frames must cross the glue both ways (ping), ``connected`` must see exactly what is there.
"""

import subprocess

import pytest

from conftest import unique_name
from podnet import netns_run

from ansible_collections.vmnet.networks.plugins.module_utils.host import glue_bpf, glue_tc, netlink

POD_IP, GUEST_IP = '10.253.4.1', '10.253.4.2'


@pytest.fixture
def glue_netns():
    """{role: netns name} for host, guest and pod, wired but not yet connected."""
    tag = unique_name('vmnt', 6)
    made = dict((role, '%s-%s' % (tag, role)) for role in ('host', 'guest', 'pod'))
    try:
        for name in made.values():
            netlink.create_netns(name)
        with netlink.Namespace(made['pod']) as pod:
            pod.add_bridge('k6t-eth0', 1500)
            pod.add_address('k6t-eth0', POD_IP + '/24')
            pod.set_link('k6t-eth0', state='up')
        with netlink.Namespace(made['host']) as host:
            host.add_veth_into('tap', 'eth0', made['guest'], 1500, 'vmnt:glue')
            host.add_veth_into('veth', 'tap0', made['pod'], 1500, 'vmnt:glue')
            for ifname in ('tap', 'veth'):
                host.set_link(ifname, state='up')
        with netlink.Namespace(made['pod']) as pod:
            pod.set_link('tap0', master='k6t-eth0')
            pod.set_link('tap0', state='up')
        with netlink.Namespace(made['guest']) as guest:
            guest.add_address('eth0', GUEST_IP + '/24')
            guest.set_link('eth0', state='up')
        yield made
    finally:
        for name in made.values():
            netlink.remove_netns(name)


def links(host):
    return host.link('tap'), host.link('veth')


def pings(made, count=2):
    """Whether the guest reaches the pod (``count`` 1: a one-second look for a negative check)."""
    return netns_run(made['guest'], 'busybox', 'ping', '-c', str(count), '-W', str(count), POD_IP,
                     check=False).returncode == 0


def ingress_kinds(made, ifname):
    out = subprocess.run(['tc', '-n', made['host'], 'filter', 'show', 'dev', ifname, 'ingress'],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return set(kind for kind in ('bpf', 'u32') if ' %s ' % kind in out)


def test_bpf_glue_carries_frames_both_ways_and_its_drift_is_seen(glue_netns):
    with netlink.Namespace(glue_netns['host']) as host:
        assert not glue_bpf.connected(host, *links(host))
        assert not pings(glue_netns, 1)
        glue_bpf.connect(host, 'tap', 'veth')
        assert glue_bpf.connected(host, *links(host))
        assert ingress_kinds(glue_netns, 'tap') == ingress_kinds(glue_netns, 'veth') == {'bpf'}
        assert pings(glue_netns)
        # drift: one direction gone, or pointing at another link
        host.drop_ingress('veth')
        assert not glue_bpf.connected(host, *links(host))
        assert not pings(glue_netns, 1)
        glue_bpf.attach(host, 'veth', glue_bpf.BPF_FUNC_REDIRECT, host.link('veth')['index'])
        assert not glue_bpf.connected(host, *links(host))


def test_where_bpf_is_refused_the_glue_falls_back_to_u32_mirred(glue_netns, monkeypatch):
    def refused(helper, ifindex):
        raise glue_bpf.Unsupported('bpf(BPF_PROG_LOAD): Operation not permitted (test)')
    with netlink.Namespace(glue_netns['host']) as host:
        # the first program is attached before the second is refused: nothing of it stays
        real_load = glue_bpf.load
        monkeypatch.setattr(glue_bpf, 'load', lambda helper, ifindex: (
            refused if helper == glue_bpf.BPF_FUNC_REDIRECT else real_load)(helper, ifindex))
        glue_bpf.connect(host, 'tap', 'veth')
        assert ingress_kinds(glue_netns, 'tap') == ingress_kinds(glue_netns, 'veth') == {'u32'}
        assert glue_tc.connected(host, *links(host))
        assert glue_bpf.connected(host, *links(host))
        assert pings(glue_netns)
