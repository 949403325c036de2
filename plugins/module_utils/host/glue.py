# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The glue between a guest's tap (host namespace) and its pod's bridge.

libvirt starts QEMU in the host namespace, so the guest's frames must be carried into
the pod. Chosen after measurement (toolchain §4, option b, Kata Containers' model):

    host ns:  vmtap<h> (persistent tap, QEMU opens it)  <== tc redirects ==>  vmveth<h>
    pod ns:                                                  veth peer "tap0"/"tap<hash>"
                                                             enslaved to k6t-<x>

Each direction is a redirect on the ingress of one end. How it redirects is one swappable
file behind ``connect``/``disconnect``/``connected``: glue_bpf.py (BPF programs attached with
tcx, ``bpf_redirect_peer`` into the pod, the fastest here, see README "Performance"; cls_bpf
filters where the kernel has no tcx) or glue_tc.py (u32 + mirred, Kata's model, the fallback
where BPF is refused). Nothing in the host namespace has an address, so host routing and
firewalls never see the traffic.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import faults, names
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import glue_bpf as redirects, netlink


def describe(netns, pod_iface, bridge, mtu, queues, owner):
    """The desired glue of one interface as a plain dict (recorded, diffed, shown)."""
    host_tap, host_veth = names.host_links(netns, pod_iface)
    return {'host_tap': host_tap, 'host_veth': host_veth, 'pod_tap': names.pod_tap(pod_iface),
            'bridge': bridge, 'mtu': mtu, 'queues': queues, 'multi_queue': bool(queues and queues > 1),
            'owner': owner}


def observe(glue, netns):
    """What exists of the glue, in the same shape as ``describe`` (None when absent)."""
    with netlink.Namespace() as host:
        tap = host.link(glue['host_tap'])
        veth = host.link(glue['host_veth'])
        _refuse_foreign(glue, tap, veth)
        if not tap or not veth:
            return None
        joined = redirects.connected(host, tap, veth)
    pod_tap = None
    if netlink.netns_exists(netns):
        with netlink.Namespace(netns) as pod:
            pod_tap = pod.link(glue['pod_tap'])
    if not pod_tap or not joined or not (tap['up'] and veth['up'] and pod_tap['up']):
        return dict(glue, broken=True)
    return {'host_tap': tap['name'], 'host_veth': veth['name'], 'pod_tap': pod_tap['name'],
            'bridge': pod_tap['master'], 'mtu': tap['mtu'], 'queues': glue['queues'],
            'multi_queue': bool(tap['multi_queue']), 'owner': tap['alias']}


def leftovers(glue):
    """The names of the glue's host links that exist, whole glue or not (a removal killed
    half-way leaves the host tap alone); a link of that name vmnet does not own is refused."""
    with netlink.Namespace() as host:
        links = [host.link(glue['host_tap']), host.link(glue['host_veth'])]
        _refuse_foreign(glue, *links)
    return [link['name'] for link in links if link]


def _refuse_foreign(glue, *links):
    for link in links:
        if link and link['alias'] != glue['owner']:
            raise VmnetError('host link %s exists and is not owned by vmnet (%s): refusing to touch it'
                             % (link['name'], glue['owner']))


def create(glue, netns):
    """Make the glue whole. A host tap that is vmnet's and as wanted is kept (QEMU may hold
    it open: a tap made anew is one QEMU never opens), as is a veth whose pod end exists;
    every other piece is made (again)."""
    with netlink.Namespace() as host:
        tap = host.link(glue['host_tap'])
        if not tap or tap['alias'] != glue['owner'] or tap['mtu'] != glue['mtu'] or \
                bool(tap['multi_queue']) != glue['multi_queue']:
            _remove_owned(host, glue, glue['host_tap'])
            host.add_tap(glue['host_tap'], glue['mtu'], glue['multi_queue'], glue['owner'])
        faults.point('glue:host-tap')
        if not host.link(glue['host_veth']) or not _pod_tap(glue, netns):
            _remove_owned(host, glue, glue['host_veth'])
            host.add_veth_into(glue['host_veth'], glue['pod_tap'], netns, glue['mtu'], glue['owner'])
        faults.point('glue:veth')
        for ifname in (glue['host_tap'], glue['host_veth']):
            # keep the host stack off these links (no IPv6 link-local, no router solicitations)
            with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % ifname, 'w') as handle:
                handle.write('1')
            host.set_link(ifname, mtu=glue['mtu'], state='up')
        connect(host, glue['host_tap'], glue['host_veth'])
    with netlink.Namespace(netns) as pod:
        pod.set_link(glue['pod_tap'], master=glue['bridge'], mtu=glue['mtu'])
        pod.set_link(glue['pod_tap'], state='up')


def connect(host, tap, veth):
    """The redirects between the host tap and the host veth, both ways, made anew (``host``:
    netlink.Namespace): whatever of the glue's redirects is there (vmnet's own tcx programs,
    the ingress qdiscs) is taken away first, then attached again."""
    redirects.disconnect(host, tap, veth)
    redirects.connect(host, tap, veth)


def redirect(glue):
    """Make both redirects anew, as after a NIC was plugged again (libvirt deletes the tap's
    ingress qdisc when it unplugs a NIC: the tcx programs stay, the fallbacks' filters go)."""
    with netlink.Namespace() as host:
        connect(host, glue['host_tap'], glue['host_veth'])


def _pod_tap(glue, netns):
    if not netlink.netns_exists(netns):
        return None
    with netlink.Namespace(netns) as pod:
        return pod.link(glue['pod_tap'])


def _remove_owned(host, glue, ifname):
    link = host.link(ifname)
    if link and link['alias'] == glue['owner']:
        host.delete(ifname)


def abandoned(glue):
    """True when the host tap is there and up but no process holds it (no carrier): the
    QEMU that opened it lost it (the tap was deleted and made anew)."""
    with netlink.Namespace() as host:
        tap = host.link(glue['host_tap'])
    return bool(tap and tap['up'] and not tap['carrier'])


def remove(glue):
    """Delete the host links (the pod end goes with its veth). Only links vmnet owns."""
    with netlink.Namespace() as host:
        _remove_owned(host, glue, glue['host_veth'])
        faults.point('remove:glue-veth')
        _remove_owned(host, glue, glue['host_tap'])
