# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The glue's redirects as two 4-instruction BPF programs on the ingress of its two links.

    tap ingress:  vmnet_p<veth ifindex, hex>  r0 = bpf_redirect_peer(veth, 0): the frame
                                              enters the pod end of the veth at once (no
                                              veth transmit, no backlog pass: the u32 +
                                              mirred glue pays both on every guest frame)
    veth ingress: vmnet_r<tap ifindex, hex>   r0 = bpf_redirect(tap, 0): out of the tap, to QEMU

The programs are loaded with bpf(2) from raw instructions (host/bpf.py) and attached, in
this order of preference, with
  1. tcx (Linux >= 6.6): run by the device's own ingress hook, no qdisc, no classifier;
     ``bpftool net show`` lists them. The fastest here (README "Performance").
  2. cls_bpf direct-action filters on an ingress qdisc, where the kernel refuses tcx
     (Debian 12's 6.1, RHEL 9); each filter named ``vmnet-peer:<ifindex>`` /
     ``vmnet-redirect:<ifindex>``.
  3. glue_tc.py (u32 + mirred) where the kernel refuses BPF altogether.
Any of the three shapes counts as connected. A program's name carries its target's
ifindex, which is how ``connected`` checks it; only programs named ``vmnet_*`` are ever
detached. Measured against the others and a plain bridge by bench/glue_throughput.py.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.vmnet.networks.plugins.module_utils.host import bpf, glue_tc, netlink

PREFIX = 'vmnet_'
PROGRAMS = {bpf.BPF_FUNC_REDIRECT_PEER: PREFIX + 'p%x', bpf.BPF_FUNC_REDIRECT: PREFIX + 'r%x'}
FILTERS = {bpf.BPF_FUNC_REDIRECT_PEER: 'vmnet-peer:%d', bpf.BPF_FUNC_REDIRECT: 'vmnet-redirect:%d'}


def program_name(helper, ifindex):
    """The name of the program ``r0 = helper(ifindex, 0)``: ``vmnet_p``/``vmnet_r`` and the
    target's ifindex in hex (15 characters at most for any ifindex)."""
    return PROGRAMS[helper] % ifindex


def _indexes(host, tap, veth):
    return host.link(tap)['index'], host.link(veth)['index']


# -- tcx ------------------------------------------------------------------------------------
def tcx_attach(host, ifname, helper, ifindex):
    """The tcx ingress of ``ifname`` → the program ``r0 = helper(ifindex, 0)``; Unsupported if refused."""
    index = host.link(ifname)['index']

    def attach():
        fd = bpf.load(helper, ifindex, program_name(helper, ifindex))
        try:
            bpf.tcx_attach(index, fd)
        finally:
            os.close(fd)  # the attachment holds its own reference
    netlink.in_netns(host.name, attach)


def tcx_both(host, tap, veth):
    """Both programs attached with tcx; Unsupported when the kernel refuses one."""
    tap_index, veth_index = _indexes(host, tap, veth)
    tcx_attach(host, tap, bpf.BPF_FUNC_REDIRECT_PEER, veth_index)
    tcx_attach(host, veth, bpf.BPF_FUNC_REDIRECT, tap_index)


def tcx_names(host, ifname):
    """Names of the programs on the tcx ingress of ``ifname``, in the order they run."""
    index = host.link(ifname)['index']
    return [name for _id, name in netlink.in_netns(host.name, bpf.tcx_programs, index)]


def tcx_detach_ours(host, ifname):
    """Detach the programs named ``vmnet_*`` from the tcx ingress of ``ifname``, nothing else."""
    link = host.link(ifname)
    if link is None:
        return

    def detach():
        for prog_id, name in bpf.tcx_programs(link['index']):
            if name.startswith(PREFIX):
                bpf.tcx_detach(link['index'], prog_id)
    netlink.in_netns(host.name, detach)


# -- cls_bpf ----------------------------------------------------------------------------------
def cls_attach(host, ifname, helper, ifindex):
    """A cls_bpf filter on the ingress of ``ifname`` → ``r0 = helper(ifindex, 0)``; Unsupported if refused."""
    fd = bpf.load(helper, ifindex, program_name(helper, ifindex))
    try:
        host.add_bpf_filter(ifname, fd, FILTERS[helper] % ifindex)
    except Exception as exc:  # pyroute2's NetlinkError: no cls_bpf, say
        host.drop_ingress(ifname)
        raise bpf.Unsupported('cls_bpf filter on %s: %s' % (ifname, exc))
    finally:
        os.close(fd)  # the filter holds its own reference


def cls_both(host, tap, veth):
    """Both programs as cls_bpf filters; Unsupported when the kernel refuses one."""
    tap_index, veth_index = _indexes(host, tap, veth)
    cls_attach(host, tap, bpf.BPF_FUNC_REDIRECT_PEER, veth_index)
    cls_attach(host, veth, bpf.BPF_FUNC_REDIRECT, tap_index)


# -- the interface of a glue redirect file -------------------------------------------------------
def disconnect(host, tap, veth):
    """Take away every redirect of the glue's shapes from both links: the ``vmnet_*`` tcx
    programs and the ingress qdiscs (cls_bpf or u32 filters)."""
    for ifname in (tap, veth):
        tcx_detach_ours(host, ifname)
        host.drop_ingress(ifname)


def connect(host, tap, veth):
    """Frames from the tap enter the pod end of the veth, and back (``host``: a netlink.Namespace
    whose links carry no redirect yet): tcx, else cls_bpf, else glue_tc."""
    for attach_both in (tcx_both, cls_both):
        try:
            attach_both(host, tap, veth)
            return
        except bpf.Unsupported:
            disconnect(host, tap, veth)  # the first program may be attached already
    glue_tc.connect(host, tap, veth)


def connected(host, tap, veth):
    """Whether both programs (by tcx or cls_bpf) or glue_tc's fallback are in place, the only
    ones of vmnet on each link (``tap``/``veth``: links as netlink observes them)."""
    peer = program_name(bpf.BPF_FUNC_REDIRECT_PEER, veth['index'])
    back = program_name(bpf.BPF_FUNC_REDIRECT, tap['index'])
    ours = [[name for name in tcx_names(host, link['name']) if name.startswith(PREFIX)] for link in (tap, veth)]
    if ours == [[peer], [back]]:
        return True
    if any(ours):
        return False  # a stale or misdirected program runs before any qdisc
    if (FILTERS[bpf.BPF_FUNC_REDIRECT_PEER] % veth['index'] in host.bpf_filter_names(tap['name']) and
            FILTERS[bpf.BPF_FUNC_REDIRECT] % tap['index'] in host.bpf_filter_names(veth['name'])):
        return True
    return glue_tc.connected(host, tap, veth)
