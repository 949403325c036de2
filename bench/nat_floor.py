# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The masquerade path taken apart: paths built in the masquerade pod's topology that add
its costs one at a time, so that masquerade.py can say where its distance to the bridge
binding goes.

Each is a masquerade VM plumbed by the library as the product is (pod eth0 keeps the pod IP,
k6t-eth0 holds the gateway, forwarding on, tap0 and the glue, the guest behind it), after
which the pod's ``ip nat`` table is changed:

    routed, no nft      the table deleted: no nftables and so no conntrack in the pod. The
                        guest's CIDR (10.0.3.0/24) is routed to the pod IP in the client pod,
                        which talks to the guest's own address: the cost of routing alone
    routed + conntrack  the same (10.0.4.0/24) with a nat prerouting chain whose only rule
                        (``ct state new``) translates nothing: conntrack and the NAT hooks
                        run for every packet, no address is rewritten
    NAT floor           the least NAT with masquerade's semantics: ``dnat to`` the VM for
                        what comes in on eth0, ``masquerade`` for what the VM sends; the
                        client talks to the pod IP as for the product

Two changes to the product, tried as savings (the product's rules, one setting more):

    + UDP GRO fwd       ``ethtool -K eth0 gro on rx-udp-gro-forwarding on`` in the pod: the veth
                        would aggregate forwarded UDP datagrams (GRO in its NAPI) so that
                        routing, conntrack and NAT run once per batch
    + ct checksum 0     ``net.netfilter.nf_conntrack_checksum = 0`` in the pod: conntrack does
                        not verify the checksum of what it tracks

A nat chain is consulted for the first packet of a connection only; every later packet
pays conntrack's lookup and the NAT rewrite, the same for the floor and for KubeVirt's
rules (masquerade.rules), whose other chains (output, input) forwarded packets never pass.
"""

import re
import subprocess

from ansible_collections.vmnet.networks.plugins.module_utils.bindings import masquerade
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink, nft
from ansible_collections.vmnet.networks.plugins.module_utils.spec.model import KUBEVIRT_VM_CIDR


def conntrack_table(_addresses, _pod_iface):
    """nat hooks (so conntrack) and no translation."""
    return ('  chain prerouting {\n    type nat hook prerouting priority -100;\n    ct state new counter\n  }\n'
            '  chain postrouting {\n    type nat hook postrouting priority 100;\n    ct state new counter\n  }\n')


def floor_table(addresses, pod_iface):
    """DNAT of what comes in on the pod interface to the VM, masquerade of what the VM sends."""
    return ('  chain prerouting {\n    type nat hook prerouting priority -100;\n'
            '    iifname "%s" counter dnat to %s\n  }\n'
            '  chain postrouting {\n    type nat hook postrouting priority 100;\n'
            '    ip saddr %s counter masquerade\n  }\n' % (pod_iface, addresses['vm'], addresses['vm']))


class Variant(object):
    """A masquerade VM on ``cidr`` whose nat table is then ``table(addresses, pod_iface)``
    (None: deleted); ``routed``: the client reaches the guest's address by a route."""

    def __init__(self, cidr, table, routed):
        self.cidr, self.table, self.routed = cidr, table, routed

    def iface(self, base):
        return dict(base, vmNetworkCIDR=self.cidr)

    def apply(self, pod_netns, record, client, pod_ip):
        """Change the pod's nat table; route the guest's CIDR via the pod in ``client``."""
        if self.table is None:
            nft.delete_table(pod_netns, 'ip', masquerade.TABLE)
        else:
            nft.replace_table(pod_netns, 'ip', masquerade.TABLE, self.table(record['ipv4'], record['pod_iface']))
        if self.routed:
            with netlink.Namespace(client) as ns:
                ns.add_route('eth0', self.cidr, pod_ip)


class Tuned(object):
    """The product's masquerade VM, then ``tune(pod_netns, record)``; ``evidence(pod_netns,
    record)`` says afterwards whether the setting took effect."""
    routed = False

    def __init__(self, tune, evidence):
        self.tune, self.evidence = tune, evidence
        self.seen = None

    def iface(self, base):
        return base

    def apply(self, pod_netns, record, _client, _pod_ip):
        self.tune(pod_netns, record)
        self.seen = (pod_netns, record)


def udp_gro_forwarding(pod_netns, record):
    netlink.run_in(pod_netns, ['ethtool', '-K', record['pod_iface'], 'gro', 'on', 'rx-udp-gro-forwarding', 'on'],
                   check=True, stdout=subprocess.DEVNULL)


def napi_packets(pod_netns, record):
    """Packets the pod interface received, and those of them its NAPI (where GRO runs) saw."""
    stats = netlink.run_in(pod_netns, ['ethtool', '-S', record['pod_iface']], check=True,
                           stdout=subprocess.PIPE, universal_newlines=True).stdout
    napi = sum(int(value) for key, value in re.findall(r'(rx_queue_\d+_xdp_packets): (\d+)', stats))
    with netlink.Namespace(pod_netns) as ns:
        received = ns.ipr.get_links(ifname=record['pod_iface'])[0].get_attr('IFLA_STATS64')['rx_packets']
    return '%s received %d packets, %d of them through its NAPI (GRO)' % (record['pod_iface'], received, napi)


def no_conntrack_checksum(pod_netns, _record):
    netlink.sysctl_set(pod_netns, 'net.netfilter.nf_conntrack_checksum', '0')


def conntrack_checksum(pod_netns, _record):
    return 'nf_conntrack_checksum %s' % netlink.sysctl_get(pod_netns, 'net.netfilter.nf_conntrack_checksum')


VARIANTS = {
    'routed, no nft': Variant('10.0.3.0/24', None, True),
    'routed + conntrack': Variant('10.0.4.0/24', conntrack_table, True),
    'NAT floor': Variant(KUBEVIRT_VM_CIDR, floor_table, False),
}
# after the product in the report
CANDIDATES = {
    '+ UDP GRO fwd': Tuned(udp_gro_forwarding, napi_packets),
    '+ ct checksum 0': Tuned(no_conntrack_checksum, conntrack_checksum),
}
