# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throughput of the host-side glue (host/glue.py) against a plain bridge port.

iperf3 runs between a "guest" netns (10.0.2.2 on eth0) and its "pod" netns (server on
k6t-eth0, 10.0.2.1). The tap is replaced by a veth whose guest end is in the guest
netns (a tap has no carrier without QEMU). Paths:

    plain bridge        guest eth0 ⇄ tap0 on k6t-eth0 (the data path without glue)
    glue_tc             guest eth0 ⇄ stand-in tap ⇐tc⇒ host veth ⇄ tap0 on k6t-eth0, each
                        direction an ingress u32 match-all mirred egress redirect
                        (host/glue_tc.py)
    BPF redirect only   the same, each direction a cls_bpf program ``bpf_redirect``
    cls_bpf: peer       glue_bpf's two programs as cls_bpf filters (its fallback where the
                        kernel has no tcx): the tap's program hands frames to the pod end
                        with ``bpf_redirect_peer`` (no veth transmit, no backlog pass), the
                        veth's redirects to the tap
    glue (tcx: peer)    the glue vmnet makes (host/glue_bpf.py): the same programs attached
                        with tcx (Linux >= 6.6), run by the device's ingress hook
    floor: peer both    ``bpf_redirect_peer`` both ways (tcx): one receive pass in the host
                        namespace per direction and nothing else, the least a hop through
                        the host namespace costs; a real tap has no peer, so no glue can
                        do this on the way back to QEMU

RUNS rounds (VMNET_BENCH_GLUE_RUNS, default 3) of SECONDS each.

Runs are interleaved across paths, the order rotating each round (the 2-core box
drifts); the figures are the delivered Gbit/s the server saw.
"""

import json
import os
import subprocess
import time

from ansible_collections.vmnet.networks.plugins.module_utils.host import bpf, glue_bpf, glue_tc, netlink

from _netns import OWNER, PREFIX, Ledger, median, netns_exec, tag, warn

GUEST_IP, POD_IP = '10.0.2.2/24', '10.0.2.1/24'
SERVER = POD_IP.split('/', maxsplit=1)[0]
BRIDGE, POD_TAP, GUEST_NIC = 'k6t-eth0', 'tap0', 'eth0'
MTU = 1500
RUNS, SECONDS = int(os.environ.get('VMNET_BENCH_GLUE_RUNS', '3')), 5
IPERF_PORT = 5201
PROTOCOLS = {'TCP': [], 'UDP 1400 B': ['-u', '-b', '0', '-l', '1400']}
GOAL = 0.97


# -- the glue's redirect shapes besides the product's (glue.connect) -------------------------
def bpf_redirect_both(host, tap, veth):
    """cls_bpf, bpf_redirect (to the veth's egress, then its backlog) in both directions:
    what ``bpf_redirect_peer`` alone gains."""
    glue_bpf.cls_attach(host, tap, bpf.BPF_FUNC_REDIRECT, host.link(veth)['index'])
    glue_bpf.cls_attach(host, veth, bpf.BPF_FUNC_REDIRECT, host.link(tap)['index'])


def peer_both_ways(host, tap, veth):
    """The floor: tcx ``bpf_redirect_peer`` in both directions, so that each direction pays
    one receive pass in the host namespace and nothing else (no transmit, no backlog). Not
    a glue vmnet can make: a real tap has no peer (the stand-in here is a veth)."""
    glue_bpf.tcx_attach(host, tap, bpf.BPF_FUNC_REDIRECT_PEER, host.link(veth)['index'])
    glue_bpf.tcx_attach(host, veth, bpf.BPF_FUNC_REDIRECT_PEER, host.link(tap)['index'])


# -- topologies ------------------------------------------------------------------------
def namespaces(ledger, name):
    """A guest netns and a pod netns whose k6t-eth0 holds the server address."""
    guest = ledger.netns('%s-%s-guest' % (PREFIX, name))
    pod = ledger.netns('%s-%s-pod' % (PREFIX, name))
    with netlink.Namespace(pod) as ns:
        ns.add_bridge(BRIDGE, MTU)
        ns.add_address(BRIDGE, POD_IP)
        ns.set_link(BRIDGE, state='up')
    return guest, pod


def finish(guest, pod):
    """Enslave the pod end of the path to k6t-eth0 and address the guest."""
    with netlink.Namespace(pod) as ns:
        ns.set_link(POD_TAP, master=BRIDGE, mtu=MTU)
        ns.set_link(POD_TAP, state='up')
    with netlink.Namespace(guest) as ns:
        ns.add_address(GUEST_NIC, GUEST_IP)
        ns.set_link(GUEST_NIC, state='up')
    return guest, pod


def plain_bridge(ledger):
    guest, pod = namespaces(ledger, 'plain-' + tag())
    with netlink.Namespace(pod) as ns:
        ns.add_veth_into(POD_TAP, GUEST_NIC, guest, MTU, OWNER)
    return finish(guest, pod)


def glued(connect, label):
    """A path through the host namespace shaped as glue.create builds it, the tap
    replaced by a veth into the guest; ``connect(host, tap, veth)`` makes both directions."""
    def build(ledger):
        suffix = tag()
        guest, pod = namespaces(ledger, '%s-%s' % (label, suffix))
        stand_in_tap = ledger.host_link('%s%s%st' % (PREFIX, label[0], suffix))
        host_veth = ledger.host_link('%s%s%sv' % (PREFIX, label[0], suffix))
        with netlink.Namespace() as host:
            host.add_veth_into(stand_in_tap, GUEST_NIC, guest, MTU, OWNER)
            host.add_veth_into(host_veth, POD_TAP, pod, MTU, OWNER)
            for ifname in (stand_in_tap, host_veth):
                with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % ifname, 'w') as handle:
                    handle.write('1')
                host.set_link(ifname, state='up')
            connect(host, stand_in_tap, host_veth)
        return finish(guest, pod)
    return build


GLUE, FLOOR = 'glue (tcx: peer)', 'floor: peer both'
PATHS = [('plain bridge', plain_bridge),
         ('glue_tc: u32+mirred', glued(glue_tc.connect, 'mirred')),
         ('BPF redirect only', glued(bpf_redirect_both, 'bpf')),
         ('cls_bpf: peer', glued(glue_bpf.cls_both, 'cls')),
         (GLUE, glued(glue_bpf.tcx_both, 'tcx')),
         (FLOOR, glued(peer_both_ways, 'floor'))]


# -- iperf3 ------------------------------------------------------------------------------
def start_server(ledger, pod):
    proc = ledger.process(subprocess.Popen(
        ['ip', 'netns', 'exec', pod, 'iperf3', '-s', '-J', '-B', SERVER, '-p', str(IPERF_PORT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for _attempt in range(100):
        if listening(proc.pid, IPERF_PORT):
            return
        time.sleep(0.05)
    raise RuntimeError('iperf3 server in %s did not start' % pod)


def listening(pid, port):
    """Whether the netns of ``pid`` has a TCP socket listening on ``port``."""
    with open('/proc/%d/net/tcp' % pid) as handle:
        return any(f[1].endswith(':%04X' % port) and f[3] == '0A'
                   for f in (line.split() for line in handle.readlines()[1:]))


def measure(guest, options):
    """Delivered Gbit/s as the server saw it."""
    out = netns_exec(guest, 'iperf3', '-c', SERVER, '-p', str(IPERF_PORT),
                     '-t', str(SECONDS), '-J', '--get-server-output', *options,
                     timeout=SECONDS + 30).stdout
    return json.loads(out)['server_output_json']['end']['sum_received']['bits_per_second'] / 1e9


# -- the benchmark -------------------------------------------------------------------------
def build_paths(ledger):
    """{label: guest netns} of the paths this kernel supports, and {label: why not}."""
    ready, refused = {}, {}
    for label, build in PATHS:
        try:
            guest, pod = build(ledger)
        except bpf.Unsupported as exc:
            refused[label] = str(exc)
            warn('%s skipped: %s' % (label, exc))
            continue
        start_server(ledger, pod)
        ready[label] = guest
    return ready, refused


def run():
    """Measure every path; returns the report as text."""
    with Ledger() as ledger:
        ready, refused = build_paths(ledger)
        results = dict(((label, proto), []) for label in ready for proto in PROTOCOLS)
        labels = list(ready)
        for turn in range(RUNS):
            order = labels[turn % len(labels):] + labels[:turn % len(labels)]  # no path always first
            for proto, options in PROTOCOLS.items():
                for label in order:
                    results[(label, proto)].append(measure(ready[label], options))
    return report(results, ready, refused)


def report(results, ready, refused):
    baseline = PATHS[0][0]
    lines = ['Glue throughput: iperf3, %d x %d s per path and protocol, interleaved, median; '
             'server-side delivered Gbit/s; ratio to %s (goal >= %.2f)' % (RUNS, SECONDS, baseline, GOAL), '']
    lines += ratio_table('path', ready, results, baseline, GOAL)
    lines += ['%-20s| not measured: %s' % (label, why) for label, why in refused.items()]
    lines.append('(! = below the goal)')
    if GLUE in ready and FLOOR in ready:
        lines.append('glue / floor: ' + ', '.join('%s %.3f' % (proto, median(results[(GLUE, proto)]) /
                                                               median(results[(FLOOR, proto)])) for proto in PROTOCOLS))
    return '\n'.join(lines) + '\n'


def ratio_table(first_column, labels, results, baseline, goal):
    """Rows of runs, medians and ratios to ``baseline`` per protocol; ``!`` marks a ratio below ``goal``."""
    header = '%-20s' % first_column + ''.join('| %-28s| %-6s' % (proto + ' runs -> median', 'ratio')
                                              for proto in PROTOCOLS)
    lines = [header, '-' * len(header)]
    for label in labels:
        row = '%-20s' % label
        for proto in PROTOCOLS:
            runs = results[(label, proto)]
            ratio = median(runs) / median(results[(baseline, proto)])
            row += '| %-28s| %.3f%s' % (' '.join('%.2f' % r for r in runs) + ' -> %.2f' % median(runs),
                                        ratio, ' ' if label == baseline or ratio >= goal else '!')
        lines.append(row)
    return lines


if __name__ == '__main__':
    print(run())
