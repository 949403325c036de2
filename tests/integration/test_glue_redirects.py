# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The glue's redirects (host/glue_bpf.py: tcx, else cls_bpf; its fallback host/glue_tc.py) on real links.

The topology of bench/glue_throughput.py, in namespaces of the test's own: a "host" netns
holds a stand-in tap (a veth whose other end is eth0 of a "guest" netns; a tap has no
carrier without QEMU) and the host veth, whose peer tap0 is on k6t-eth0 of a "pod" netns.
Frames must cross the glue both ways (ping), ``connected`` must see exactly what is there.
"""

import os
import subprocess

import pytest

from conftest import unique_name
from podnet import netns_run

from ansible_collections.vmnet.networks.plugins.module_utils.host import bpf, glue, glue_bpf, glue_tc, netlink

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


def qdiscs(made, ifname):
    return subprocess.run(['tc', '-n', made['host'], 'qdisc', 'show', 'dev', ifname], stdout=subprocess.PIPE,
                          universal_newlines=True, check=True).stdout


def jitted(name):
    """Whether the kernel holds a BPF program named ``name`` (its JIT image in /proc/kallsyms)."""
    with open('/proc/kallsyms') as handle:
        return any(line.split()[2].endswith('_' + name) for line in handle if ' bpf_prog_' in line)


def detach(host, ifname, name):
    index = host.link(ifname)['index']
    for prog_id, found in netlink.in_netns(host.name, bpf.tcx_programs, index):
        if found == name:
            netlink.in_netns(host.name, bpf.tcx_detach, index, prog_id)


def attach_named(host, ifname, helper, target, name, attach=None):
    """A program ``r0 = helper(target, 0)`` called ``name`` on the tcx ingress of ``ifname`` (in the test's host netns)."""
    fd = bpf.load(helper, target, name)
    try:
        netlink.in_netns(host.name, attach or bpf.tcx_attach, host.link(ifname)['index'], fd)
    finally:
        os.close(fd)


def test_tcx_glue_carries_frames_both_ways_and_its_drift_is_seen_and_repaired(glue_netns):
    with netlink.Namespace(glue_netns['host']) as host:
        tap, veth = links(host)
        peer, back = 'vmnet_p%x' % veth['index'], 'vmnet_r%x' % tap['index']
        assert not glue_bpf.connected(host, tap, veth)
        assert not pings(glue_netns, 1)
        glue.connect(host, 'tap', 'veth')
        assert glue_bpf.connected(host, tap, veth)
        assert (glue_bpf.tcx_names(host, 'tap'), glue_bpf.tcx_names(host, 'veth')) == ([peer], [back])
        # seen without the adapter: no qdisc, no filter on either link, the programs in the
        # kernel under their names, and the frames cross
        for ifname in ('tap', 'veth'):
            assert 'ingress' not in qdiscs(glue_netns, ifname) and 'clsact' not in qdiscs(glue_netns, ifname)
            assert ingress_kinds(glue_netns, ifname) == set()
        assert jitted(peer) and jitted(back)
        assert pings(glue_netns)

        # drift: one direction gone
        detach(host, 'veth', back)
        assert glue_bpf.tcx_names(host, 'veth') == []
        assert not glue_bpf.connected(host, tap, veth)
        assert not pings(glue_netns, 1)
        # or pointing at another link (here: itself), or a stale program before the right one
        glue_bpf.tcx_attach(host, 'veth', bpf.BPF_FUNC_REDIRECT, veth['index'])
        assert not glue_bpf.connected(host, tap, veth)
        glue_bpf.tcx_attach(host, 'veth', bpf.BPF_FUNC_REDIRECT, tap['index'])
        assert not glue_bpf.connected(host, tap, veth)
        # a program of another product on our link: the repair leaves it where it is
        attach_named(host, 'tap', bpf.BPF_FUNC_REDIRECT_PEER, veth['index'], 'other_glue')
        glue.connect(host, 'tap', 'veth')
        assert glue_bpf.connected(host, tap, veth)
        assert (glue_bpf.tcx_names(host, 'tap'), glue_bpf.tcx_names(host, 'veth')) == (['other_glue', peer], [back])
        assert pings(glue_netns)
        # the same again: the programs are replaced, not added
        glue.connect(host, 'tap', 'veth')
        assert (glue_bpf.tcx_names(host, 'tap'), glue_bpf.tcx_names(host, 'veth')) == (['other_glue', peer], [back])


def test_where_tcx_is_refused_the_glue_uses_cls_bpf_and_a_repair_moves_it_to_tcx(glue_netns, monkeypatch):
    def refused(ifindex, fd, attach_type=bpf.BPF_TCX_INGRESS):
        raise bpf.Unsupported('bpf(BPF_PROG_ATTACH) tcx on ifindex %d: Invalid argument (test)' % ifindex)
    with netlink.Namespace(glue_netns['host']) as host:
        # a kernel older than 6.6 (EINVAL): the first program is attached before the second is refused
        real_attach = bpf.tcx_attach
        monkeypatch.setattr(bpf, 'tcx_attach', lambda ifindex, fd, attach_type=bpf.BPF_TCX_INGRESS: (
            refused if ifindex == host.link('veth')['index'] else real_attach)(ifindex, fd, attach_type))
        glue.connect(host, 'tap', 'veth')
        assert glue_bpf.tcx_names(host, 'tap') == glue_bpf.tcx_names(host, 'veth') == []  # nothing of it stays
        assert ingress_kinds(glue_netns, 'tap') == ingress_kinds(glue_netns, 'veth') == {'bpf'}
        assert glue_bpf.connected(host, *links(host))
        assert pings(glue_netns)
        # a stale tcx program of vmnet runs before the filters: not connected, whatever they are
        attach_named(host, 'veth', bpf.BPF_FUNC_REDIRECT, 1, 'vmnet_r1', real_attach)
        assert not glue_bpf.connected(host, *links(host))
        assert not pings(glue_netns, 1)
        glue_bpf.tcx_detach_ours(host, 'veth')
        # drift of the cls_bpf shape is seen
        host.drop_ingress('veth')
        assert not glue_bpf.connected(host, *links(host))
        assert not pings(glue_netns, 1)
        # the kernel offers tcx again (an upgrade): a repair leaves no qdisc behind
        monkeypatch.setattr(bpf, 'tcx_attach', real_attach)
        glue.connect(host, 'tap', 'veth')
        assert ingress_kinds(glue_netns, 'tap') == ingress_kinds(glue_netns, 'veth') == set()
        assert glue_bpf.connected(host, *links(host)) and pings(glue_netns)


def test_where_bpf_is_refused_the_glue_falls_back_to_u32_mirred(glue_netns, monkeypatch):
    def refused(helper, ifindex, name):
        raise bpf.Unsupported('bpf(BPF_PROG_LOAD): Operation not permitted (test)')
    with netlink.Namespace(glue_netns['host']) as host:
        # the first program is loaded and attached before the second is refused: nothing of it stays
        real_load = bpf.load
        monkeypatch.setattr(bpf, 'load', lambda helper, ifindex, name: (
            refused if helper == bpf.BPF_FUNC_REDIRECT else real_load)(helper, ifindex, name))
        glue.connect(host, 'tap', 'veth')
        assert glue_bpf.tcx_names(host, 'tap') == glue_bpf.tcx_names(host, 'veth') == []
        assert ingress_kinds(glue_netns, 'tap') == ingress_kinds(glue_netns, 'veth') == {'u32'}
        assert glue_tc.connected(host, *links(host))
        assert glue_bpf.connected(host, *links(host))
        assert pings(glue_netns)
