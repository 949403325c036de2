# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passt binding beside the bridge and masquerade bindings: throughput from a client pod
to the pod IP (TCP, 1400 B UDP), as ratios to the bridge binding measured in the same run,
and the memory (RSS) of the per-VM process each binding runs in the pod.

bridge and masquerade are plumbed and given a veth "guest" exactly as masquerade.py does.
passt is plumbed by the library too (``Pod.ensure`` + ``interface.bind``: passt in the pod,
forwarding the iperf3 port, TCP and UDP); its "guest" is QEMU without a machine, in a guest
netns, relaying between passt's socket (``-netdev stream``, as the domain's NIC has it) and a
tap there (``-netdev tap``) through a hub, the tap set up with the pod IP, the guest MAC
and the pod's gateway as the guest gets them from passt's DHCP:

    passt    client ⇄ node bridge ⇄ eth0 (pod IP) ⇄ passt's sockets ⇄ passt ⇐unix⇒ QEMU ⇄ tap (guest)

RSS: passt's VmRSS after the runs (it forwards one port per protocol here; forwarding every
port opens a socket per port, KubeVirt documents ~250 MiB per VM then), against the pod's
dnsmasq that bridge and masquerade run.
"""

import json
import subprocess
import time

from ansible_collections.vmnet.networks.plugins.module_utils import interface
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.passt import Passt

import masquerade
from _netns import PREFIX, Ledger, exit_on_sigterm, kill_pidfile
from glue_throughput import IPERF_PORT, PROTOCOLS, RUNS, SECONDS, ratio_table
from plumb_time import DNS, IFACE, NETWORK, library_leftovers, library_unplumb

GOAL = 0.50
GUEST_NIC = 'eth0'
PASST_IFACE = dict(IFACE, binding='passt', ports=[{'port': IPERF_PORT, 'protocol': 'TCP'},
                                                  {'port': IPERF_PORT, 'protocol': 'UDP'}])
LABELS = ('bridge', 'masquerade', 'passt')


def plumb_passt(ledger, net):
    vm = '%s-%s-pass' % (PREFIX, net.tag)
    guest = ledger.netns('%s-%s-pguest' % (PREFIX, net.tag))
    ledger.defer('leftovers of ' + vm, lambda: library_leftovers(net, vm))
    ledger.defer('passt of ' + vm, lambda: kill_pidfile(net.pod(vm).state.path('passt-default.pid'), 'passt'))
    ledger.defer('library teardown of ' + vm, lambda: library_unplumb(net, vm))
    with net.pod(vm) as pod:
        pod.ensure(NETWORK, iface=PASST_IFACE)
        record = interface.bind(pod, {'hostname': vm}, PASST_IFACE, None, DNS, False)[0]
        status = pod.interface_status(pod.attachment(NETWORK['name']))
        pid = Passt(pod.state, pod.netns, 'default').pid()
    ledger.process(subprocess.Popen(
        ['ip', 'netns', 'exec', guest, 'qemu-system-x86_64', '-machine', 'none', '-nodefaults', '-display', 'none',
         '-netdev', 'stream,id=s,server=off,addr.type=unix,addr.path=%s' % record['socket'],
         '-netdev', 'tap,id=t,ifname=%s,script=no,downscript=no' % GUEST_NIC,
         '-netdev', 'hubport,id=h1,hubid=0,netdev=s', '-netdev', 'hubport,id=h2,hubid=0,netdev=t'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    with netlink.Namespace(guest) as ns:
        for _attempt in range(100):
            if ns.link(GUEST_NIC):
                break
            time.sleep(0.05)
        ns.set_link(GUEST_NIC, address=record['guest_mac'], mtu=masquerade.MTU)
        ns.add_address(GUEST_NIC, status['ips'][0])
        ns.set_link(GUEST_NIC, state='up')
        ns.add_route(GUEST_NIC, '0.0.0.0/0', status['gateway'])
    # a guest speaks first (DHCP): passt learns its MAC from its first frame
    subprocess.run(['ip', 'netns', 'exec', guest, 'busybox', 'ping', '-c', '2', '-W', '2', status['gateway']],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=30)
    pod_ip = status['ips'][0].split('/')[0]
    return {'pod': net.pod(vm).netns, 'guest': guest, 'target': pod_ip, 'guest_ip': pod_ip, 'pid': pid}


def rss_kib(pid):
    try:
        with open('/proc/%d/status' % pid) as handle:
            return int(next(line.split()[1] for line in handle if line.startswith('VmRSS:')))
    except (OSError, StopIteration, ValueError):
        return None


def dnsmasq_pid(net, label):
    """The pod dnsmasq of masquerade.plumb's VM of ``label``."""
    vm = '%s-%s-%s' % (PREFIX, net.tag, label[:4])
    try:
        with open(net.pod(vm).state.path('dnsmasq.pid')) as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return None


def run():
    with Ledger() as ledger:
        net = masquerade.pod_network(ledger)
        client = masquerade.client_pod(ledger, net)
        vms = dict((label, masquerade.plumb(ledger, net, label)) for label in ('bridge', 'masquerade'))
        vms['passt'] = plumb_passt(ledger, net)
        for vm in vms.values():
            masquerade.start_server(ledger, vm['guest'], vm['guest_ip'])
        results = dict(((label, proto), []) for label in LABELS for proto in PROTOCOLS)
        errors = []
        for turn in range(RUNS):
            order = LABELS[turn % 3:] + LABELS[:turn % 3]
            for proto, options in PROTOCOLS.items():
                for label in order:
                    results[(label, proto)].append(measure(client, vms[label]['target'], options, errors, label))
        memory = {'passt': rss_kib(vms['passt']['pid'])}
        for label in ('bridge', 'masquerade'):
            pid = dnsmasq_pid(net, label)
            memory[label] = rss_kib(pid) if pid else None
    return report(results, memory, errors)


def measure(client, target, options, errors, label):
    """Delivered Gbit/s as the server saw it (masquerade.measure); a failed run counts 0 and
    its iperf3 error is kept."""
    proc = subprocess.run(['ip', 'netns', 'exec', client, 'iperf3', '-c', target, '-p', str(IPERF_PORT),
                           '-t', str(SECONDS), '-J', '--get-server-output'] + list(options), check=False,
                          timeout=SECONDS + 30, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    try:
        out = json.loads(proc.stdout)
        return out['server_output_json']['end']['sum_received']['bits_per_second'] / 1e9
    except (KeyError, ValueError) as exc:
        errors.append('%s %s: %s %s' % (label, ' '.join(options) or 'TCP', exc, proc.stdout[-300:].replace('\n', ' ')))
        return 0.0


def report(results, memory, errors):
    lines = ['passt throughput: iperf3 from a client pod to the pod IP, %d runs per binding and protocol, '
             'interleaved, median; server-side delivered Gbit/s; pod MTU %d; ratio to the bridge binding '
             '(goal >= %.2f; passt copies every frame through user space twice, QEMU and passt)'
             % (RUNS, masquerade.MTU, GOAL), '']
    lines += ratio_table('binding', LABELS, results, 'bridge', GOAL)
    lines.append('(! = below the goal)')
    lines += ['failed runs: %s' % '; '.join(errors)] if errors else []
    lines += ['', 'Per-VM process in the pod, VmRSS after the runs: %s' % ', '.join(
        '%s %s' % (label, '%s (%d KiB)' % ('passt' if label == 'passt' else 'dnsmasq', kib) if kib else 'n/a')
        for label, kib in sorted(memory.items()))]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    exit_on_sigterm()
    print(run())
