# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The glue's redirects as tc u32 match-all filters with a mirred egress redirect, one on the
ingress of each end (this kernel has no matchall/flower). Kata Containers' "tcfilter".

The fallback of host/glue_bpf.py where the kernel refuses BPF, and the bench's yardstick.
``connect``, ``disconnect`` and ``connected`` are the interface every glue redirect file offers.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def connect(host, tap, veth):
    """Frames from the tap go out of the host veth and back (``host``: a netlink.Namespace)."""
    host.redirect(tap, veth)
    host.redirect(veth, tap)


def disconnect(host, tap, veth):
    """Take both redirects away (the ingress qdiscs and their filters)."""
    for ifname in (tap, veth):
        host.drop_ingress(ifname)


def connected(host, tap, veth):
    """Whether both redirects are in place (``tap``/``veth``: links as netlink observes them)."""
    return (host.redirect_target(tap['name']) == veth['index'] and
            host.redirect_target(veth['name']) == tap['index'])
