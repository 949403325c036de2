# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Throughput of the host-side glue (host/glue.py) against a plain bridge port.

iperf3 runs between a "guest" netns (10.0.2.2 on eth0) and its "pod" netns (server on
k6t-eth0, 10.0.2.1). The tap is replaced by a veth whose guest end is in the guest
netns (a tap has no carrier without QEMU). Paths:

    plain bridge   guest eth0 ⇄ tap0 on k6t-eth0 (the data path without glue)
    u32 + mirred   guest eth0 ⇄ stand-in tap ⇐tc⇒ host veth ⇄ tap0 on k6t-eth0, each
                   direction an ingress u32 match-all mirred egress redirect, made with
                   the project's ``netlink.Namespace.redirect``
    tc BPF         the same, each direction an ingress cls_bpf direct-action program
                   ``r0 = bpf_redirect(peer, 0); exit``

Runs are interleaved across paths, the order rotating each round (the 2-core box
drifts); the figures are the delivered Gbit/s the server saw.
"""

import ctypes
import json
import os
import platform
import subprocess
import time

from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink

from _netns import OWNER, PREFIX, Ledger, median, netns_exec, tag, warn

GUEST_IP, POD_IP = '10.0.2.2/24', '10.0.2.1/24'
SERVER = POD_IP.split('/', maxsplit=1)[0]
BRIDGE, POD_TAP, GUEST_NIC = 'k6t-eth0', 'tap0', 'eth0'
MTU = 1500
RUNS, SECONDS = 3, 5
IPERF_PORT = 5201
PROTOCOLS = {'TCP': [], 'UDP 1400 B': ['-u', '-b', '0', '-l', '1400']}
GOAL = 0.97


class Unsupported(Exception):
    """The kernel refused a path; the message says why."""


# -- tc BPF redirect: a 4-instruction program loaded with bpf(2) ----------------------
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_FUNC_REDIRECT = 23
SYS_BPF = {'x86_64': 321, 'aarch64': 280}
LOG_SIZE = 4096


class BpfInsn(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint8), ('regs', ctypes.c_uint8),
                ('off', ctypes.c_int16), ('imm', ctypes.c_int32)]


class BpfProgLoad(ctypes.Structure):
    """The head of ``union bpf_attr`` for BPF_PROG_LOAD (the kernel zero-fills the rest)."""
    _fields_ = [('prog_type', ctypes.c_uint32), ('insn_cnt', ctypes.c_uint32),
                ('insns', ctypes.c_uint64), ('license', ctypes.c_uint64),
                ('log_level', ctypes.c_uint32), ('log_size', ctypes.c_uint32),
                ('log_buf', ctypes.c_uint64), ('kern_version', ctypes.c_uint32),
                ('prog_flags', ctypes.c_uint32), ('prog_name', ctypes.c_char * 16)]


def redirect_program(ifindex):
    """mov64 r1, ifindex; mov64 r2, 0; call bpf_redirect; exit (r0 = TC_ACT_REDIRECT)."""
    mov64_imm, call, exit_ = 0xb7, 0x85, 0x95
    return (BpfInsn * 4)(BpfInsn(mov64_imm, 1, 0, ifindex), BpfInsn(mov64_imm, 2, 0, 0),
                         BpfInsn(call, 0, 0, BPF_FUNC_REDIRECT), BpfInsn(exit_, 0, 0, 0))


def load_redirect_program(ifindex):
    """A BPF_PROG_TYPE_SCHED_CLS fd, or Unsupported with the kernel's reason."""
    if platform.machine() not in SYS_BPF:
        raise Unsupported('no bpf(2) syscall number known for %s' % platform.machine())
    insns, license_ = redirect_program(ifindex), ctypes.create_string_buffer(b'GPL')
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = BpfProgLoad(prog_type=BPF_PROG_TYPE_SCHED_CLS, insn_cnt=len(insns),
                       insns=ctypes.addressof(insns), license=ctypes.addressof(license_),
                       log_level=1, log_size=LOG_SIZE, log_buf=ctypes.addressof(log),
                       prog_name=b'vmnb_redirect')
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(SYS_BPF[platform.machine()]), ctypes.c_int(BPF_PROG_LOAD),
                      ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if fd < 0:
        err = ctypes.get_errno()
        raise Unsupported('bpf(BPF_PROG_LOAD) failed: %s%s' % (
            os.strerror(err), ('; verifier: ' + log.value.decode(errors='replace').strip()) if log.value else ''))
    return fd


def bpf_redirect(host, src, dst):
    """Ingress of ``src`` → egress of ``dst`` through a cls_bpf direct-action program."""
    index = host.link(src)['index']
    fd = load_redirect_program(host.link(dst)['index'])
    host.ipr.tc('add', 'ingress', index, netlink.INGRESS)
    try:
        host.ipr.tc('add-filter', 'bpf', index, parent=netlink.INGRESS, fd=fd,
                    name='vmnb_redirect', direct_action=True)
    except Exception as exc:  # pyroute2's NetlinkError
        raise Unsupported('attaching the cls_bpf filter failed: %s' % exc) from exc
    finally:
        os.close(fd)  # the filter holds its own reference


def mirred_redirect(host, src, dst):
    host.redirect(src, dst)


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
    replaced by a veth into the guest; ``connect(host, src, dst)`` makes one direction."""
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
            connect(host, host_veth, stand_in_tap)
        return finish(guest, pod)
    return build


PATHS = [('plain bridge', plain_bridge),
         ('u32 + mirred glue', glued(mirred_redirect, 'mirred')),
         ('tc BPF redirect', glued(bpf_redirect, 'bpf'))]


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
        except Unsupported as exc:
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
