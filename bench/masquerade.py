# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The masquerade and passt bindings: their throughput against the bridge binding's, the
memory of each VM's per-pod process, and the size of the masquerade nftables table as the
number of forwarded ports grows.

Throughput. Two pods on a pod network in a node netns (plumb_time.PodNetwork), plumbed by
the library as the modules do (``Pod.ensure`` + ``interface.ensure``, a fake domain), one
with the bridge binding, one with masquerade (``ports`` empty: every port forwarded), one
with passt (the iperf3 port forwarded, TCP and UDP). The bridge and masquerade VMs get a
"guest": the glue's host tap is replaced by a veth of the same name whose other end
is eth0 of a guest netns (a tap has no carrier without QEMU), the two tc mirred redirects
made again with ``host.glue.connect``, and the guest end configured as the guest
would be after DHCP. iperf3 runs from a client pod on the pod network to the pod IP:

    bridge       client ⇄ node bridge ⇄ eth0-nic ⇄ k6t-eth0 ⇄ tap0 ⇐glue⇒ guest (holds the pod IP)
    masquerade   client ⇄ node bridge ⇄ eth0 ⇄ DNAT to 10.0.2.2, routed ⇄ k6t-eth0 ⇄ tap0 ⇐glue⇒ guest
    passt        client ⇄ node bridge ⇄ eth0 ⇄ passt's socket ⇐passt⇒ UNIX socket ⇐relay⇒ tap0 of a
                 guest netns holding the pod IP (passt_guest.py: QEMU's role, without a CPU)

The masquerade path taken apart in the same run (nat_floor.py): masquerade VMs plumbed the
same way whose nat table is then deleted (routed), made conntrack only, or cut to the least
NAT with masquerade's semantics (the NAT floor), and the product with one candidate setting
more each (UDP GRO forwarding on the pod's eth0, conntrack's checksum check off). The report
gives each step's ratio to the one before: routing, conntrack, the NAT rewrite, the product
against the floor.

Memory: VmRSS and VmHWM (peak) after the runs of the one process each VM's pod runs for the
binding: dnsmasq (bridge, masquerade: the DHCP server) and passt.

The pod network's MTU is raised to 1500 here so that a 1400 B UDP datagram is one packet
(as in glue_throughput.py), not two fragments that NAT must reassemble. Nothing routes out
of the node netns, so the NAT never reaches the machine's network.

Rule count. The table ``masquerade.rules`` renders for N forwarded TCP ports (and a few
UDP ones) is loaded into a scratch netns; its rules are counted per chain from
``nft -j list table ip nat``. KubeVirt adds one rule per port in each of the three port
chains; vmnet keeps one per protocol, the ports in an anonymous set.
"""

import json
import os
import re
import subprocess
import time

from ansible_collections.vmnet.networks.plugins.module_utils import interface
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import masquerade
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni, glue as glue_links, netlink, nft
from ansible_collections.vmnet.networks.plugins.module_utils.spec.model import KUBEVIRT_VM_CIDR

from _netns import PREFIX, Ledger, exit_on_sigterm, median, netns_exec, tag, timed, warn
from glue_throughput import IPERF_PORT, PROTOCOLS, RUNS, SECONDS, listening, ratio_table
import nat_floor
import passt_guest
from plumb_time import CNI_BIN, DNS, IFACE, NETWORK, FakeDomain, PodNetwork, library_leftovers, library_unplumb

GOAL = 0.90
MTU = 1500
BINDINGS = {
    'bridge': IFACE,
    'masquerade': dict(IFACE, binding='masquerade', ports=[], vmNetworkCIDR=KUBEVIRT_VM_CIDR,
                       vmIPv6NetworkCIDR=None),
    'passt': dict(IFACE, binding='passt', ports=[{'name': None, 'port': IPERF_PORT, 'protocol': 'TCP'},
                                                 {'name': None, 'port': IPERF_PORT, 'protocol': 'UDP'}]),
}
DAEMON = {'bridge': 'dnsmasq', 'masquerade': 'dnsmasq', 'passt': 'passt'}
PIDFILE = {'bridge': 'dnsmasq.pid', 'masquerade': 'dnsmasq.pid', 'passt': 'passt-default.pid'}
# path label: (binding the library plumbs, nat_floor variant made of it or None: the product)
PATHS = dict([('bridge', ('bridge', None))] +
             [(label, ('masquerade', variant)) for label, variant in nat_floor.VARIANTS.items()] +
             [('masquerade', ('masquerade', None))] +
             [(label, ('masquerade', variant)) for label, variant in nat_floor.CANDIDATES.items()] +
             [('passt', ('passt', None))])
GUEST_NIC = 'eth0'
PORT_COUNTS = (1, 10, 100, 1000)
UDP_PORTS = (53, 123, 161)
LOADS = 3
PORT_CHAINS = ('output', 'KUBEVIRT_PREINBOUND', 'KUBEVIRT_POSTINBOUND')


# -- the pod network, its client, the two VMs ----------------------------------------------------
def pod_network(ledger):
    """plumb_time's pod network with MTU 1500 (its conflist rewritten before any ADD)."""
    net = PodNetwork(ledger)
    net.conflist['plugins'][0]['mtu'] = MTU
    for name in os.listdir(net.conf_dir):
        with open(os.path.join(net.conf_dir, name), 'w') as handle:
            json.dump(net.conflist, handle)
    return net


def client_pod(ledger, net):
    """A pod on the pod network (CNI ADD in the node netns, as podnet.py makes its clients)."""
    netns = ledger.adopt_netns('%s-%s-client' % (PREFIX, net.tag))
    netlink.create_netns(netns)
    ledger.defer('CNI DEL of ' + netns, lambda: net.cni_del(netns))
    cni.CniRuntime(CNI_BIN, net.node).add(net.conflist, netns, netlink.netns_path(netns), 'eth0')
    with netlink.Namespace(netns) as ns:
        ns.set_link('lo', state='up')
    return netns


def plumb(ledger, net, index, label, relay, client):
    """The VM of path ``label``, plumbed by the library, and its guest: returns a dict with
    the pod netns, the guest netns, the address the client connects to and the PID file of
    the pod's process for the VM."""
    binding, variant = PATHS[label]
    vm = '%s-%s-vm%d' % (PREFIX, net.tag, index)
    guest = ledger.netns('%s-%s-g%d' % (PREFIX, net.tag, index))  # removed after the teardown
    ledger.defer('leftovers of ' + vm, lambda: library_leftovers(net, vm))
    ledger.defer('library teardown of ' + vm, lambda: library_unplumb(net, vm))
    iface = variant.iface(BINDINGS[binding]) if variant else BINDINGS[binding]
    with net.pod(vm) as pod:
        pod.ensure(NETWORK, iface=iface)
        domain = passt_guest.QemuArgsDomain(vm) if binding == 'passt' else FakeDomain()
        interface.ensure(pod, {'hostname': vm}, iface, domain, DNS, False)
        record = pod.state.read('interfaces', iface['name'])
        pod_ip = pod.interface_status(pod.attachment(NETWORK['name']))['ips'][0]
        pidfile = pod.state.path(PIDFILE[binding])
    target = pod_ip.split('/')[0]
    if binding == 'passt':
        ledger.pidfile(pidfile, 'passt')   # should the library's teardown fail; after the relay's end
        address = pod_ip
        passt_guest.attach(ledger, relay, guest, record['socket'], record['guest_mac'], pod_ip,
                           passt_guest.default_gateway(net.pod(vm).netns))
    elif binding == 'bridge':
        address, gateway = pod_ip, record['original']['routes'][0]['gateway']
    else:
        address = '%s/%d' % (record['ipv4']['vm'], record['ipv4']['prefix'])
        gateway = record['ipv4']['gateway']
        if variant:
            variant.apply(net.pod(vm).netns, record, client, target)
            target = record['ipv4']['vm'] if variant.routed else target
    if binding != 'passt':
        attach_guest(record, guest, address, gateway)
    return {'pod': net.pod(vm).netns, 'guest': guest, 'target': target, 'binding': binding,
            'guest_ip': address.split('/')[0], 'pidfile': pidfile}


def attach_guest(record, guest, address, gateway):
    """The glue's host tap replaced by a veth into ``guest``, redirects made again, and the
    guest end set up as after DHCP (the record's guest MAC, ``address``, default route)."""
    glue = record['glue']
    with netlink.Namespace() as host:
        host.delete(glue['host_tap'])
        host.drop_ingress(glue['host_veth'])  # its redirect pointed at the deleted tap
        host.add_veth_into(glue['host_tap'], GUEST_NIC, guest, glue['mtu'], glue['owner'])
        with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % glue['host_tap'], 'w') as handle:
            handle.write('1')
        host.set_link(glue['host_tap'], state='up')
        glue_links.connect(host, glue['host_tap'], glue['host_veth'])
    with netlink.Namespace(guest) as ns:
        ns.set_link(GUEST_NIC, address=record['guest_mac'], mtu=glue['mtu'])
        ns.add_address(GUEST_NIC, address)
        ns.set_link(GUEST_NIC, state='up')
        ns.add_route(GUEST_NIC, '0.0.0.0/0', gateway)


# -- iperf3 --------------------------------------------------------------------------------------
def start_server(ledger, guest, address):
    proc = ledger.process(subprocess.Popen(
        ['ip', 'netns', 'exec', guest, 'iperf3', '-s', '-J', '-B', address, '-p', str(IPERF_PORT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for _attempt in range(100):
        if listening(proc.pid, IPERF_PORT):
            return
        time.sleep(0.05)
    raise RuntimeError('iperf3 server in %s did not start' % guest)


def measure(client, target, options):
    """Delivered Gbit/s as the server saw it, and the address the server was reached on."""
    out = json.loads(netns_exec(client, 'iperf3', '-c', target, '-p', str(IPERF_PORT), '-t', str(SECONDS),
                                '-J', '--get-server-output', *options, timeout=SECONDS + 30).stdout)
    server = out['server_output_json']
    return server['end']['sum_received']['bits_per_second'] / 1e9, server['start']['connected'][0]['local_host']


# -- NAT evidence ----------------------------------------------------------------------------------
def nat_counters(netns):
    """Packets counted by each rule of the pod's ``ip nat`` table: {(chain, rule): packets}."""
    listed = netns_exec(netns, 'nft', 'list', 'table', 'ip', masquerade.TABLE).stdout
    counts, chain = {}, None
    for line in listed.splitlines():
        start = re.match(r'\s*chain (\S+) \{', line)
        chain = start.group(1) if start else chain
        counter = re.search(r'counter packets (\d+)', line)
        if counter:
            counts[(chain, nft.COUNTER_VALUES.sub('counter', line.strip()))] = int(counter.group(1))
    return counts


def conntrack_count(netns):
    return int(netlink.sysctl_get(netns, 'net.netfilter.nf_conntrack_count'))


# -- throughput ------------------------------------------------------------------------------------
def throughput(ledger):
    net = pod_network(ledger)
    client = client_pod(ledger, net)
    relay = passt_guest.build_relay(ledger)
    vms = dict((label, plumb(ledger, net, index, label, relay, client)) for index, label in enumerate(PATHS))
    for vm in vms.values():
        start_server(ledger, vm['guest'], vm['guest_ip'])
    before = nat_counters(vms['masquerade']['pod'])
    results = dict(((label, proto), []) for label in vms for proto in PROTOCOLS)
    reached = dict((label, set()) for label in vms)
    labels = list(vms)
    for turn in range(RUNS):
        order = labels[turn % len(labels):] + labels[:turn % len(labels)]  # no path always first
        for proto, options in PROTOCOLS.items():
            for label in order:
                gbps, local = measure(client, vms[label]['target'], options)
                results[(label, proto)].append(gbps)
                reached[label].add(local)
    after = nat_counters(vms['masquerade']['pod'])
    evidence = {
        'counters': dict((key, after[key] - before.get(key, 0)) for key in after),
        'conntrack': dict((label, conntrack_count(vm['pod'])) for label, vm in vms.items()),
        'candidates': dict((label, variant.evidence(*variant.seen)) for label, variant in nat_floor.CANDIDATES.items()),
        'memory': dict((label, passt_guest.memory_kib(vm['pidfile'])) for label, vm in vms.items()
                       if label in BINDINGS),
        'reached': dict((label, '%s -> %s' % (vm['target'], ', '.join(sorted(reached[label]))))
                        for label, vm in vms.items()),
    }
    return results, evidence


# -- rule count ------------------------------------------------------------------------------------
def forwarded_ports(count):
    """``count`` TCP ports, spread out (no adjacent numbers to merge), and the UDP ones."""
    return ([{'name': None, 'port': 10000 + 7 * i, 'protocol': 'TCP'} for i in range(count)] +
            [{'name': None, 'port': port, 'protocol': 'UDP'} for port in UDP_PORTS])


def set_size(right):
    """Ports a rule's right-hand side matches: a number, a set, a range."""
    if isinstance(right, dict) and 'set' in right:
        return sum(set_size(element) for element in right['set'])
    if isinstance(right, dict) and 'range' in right:
        return right['range'][1] - right['range'][0] + 1
    return 1


def dport_matches(rule):
    return sum(set_size(e['match']['right']) for e in rule['expr']
               if 'match' in e and e['match']['left'].get('payload', {}).get('field') == 'dport')


def rule_counts(ledger):
    scratch = ledger.netns('%s-%s-nft' % (PREFIX, tag()))
    addresses = masquerade.vm_addresses(KUBEVIRT_VM_CIDR)
    rows = []
    for count in PORT_COUNTS:
        ports = forwarded_ports(count)
        body = masquerade.rules('ip', addresses, ports)
        loads = [timed(nft.replace_table, scratch, 'ip', masquerade.TABLE, body)[0] for _load in range(LOADS)]
        listed = json.loads(netns_exec(scratch, 'nft', '-j', 'list', 'table', 'ip', masquerade.TABLE).stdout)
        chains = dict((item['chain']['name'], []) for item in listed['nftables'] if 'chain' in item)
        for item in listed['nftables']:
            if 'rule' in item:
                chains[item['rule']['chain']].append(item['rule'])
        for chain in PORT_CHAINS:
            matched = sum(dport_matches(rule) for rule in chains[chain])
            if matched != len(ports):
                warn('%d ports: chain %s matches %d ports, not %d' % (count, chain, matched, len(ports)))
        rows.append({'tcp': count, 'udp': len(UDP_PORTS), 'chains': dict((c, len(r)) for c, r in chains.items()),
                     'kubevirt': 3 * len(ports) + sum(len(r) for c, r in chains.items() if c not in PORT_CHAINS),
                     'load': median(loads), 'bytes': len(body)})
    return rows


# -- the benchmark ---------------------------------------------------------------------------------
def run():
    with Ledger() as ledger:
        results, evidence = throughput(ledger)
        counts = rule_counts(ledger)
    return report(results, evidence, counts)


def steps(results):
    """Where the masquerade path's distance to the bridge goes: each path's median over the
    one before it, bridge -> routed -> conntrack -> NAT floor -> the product; each candidate
    over the product."""
    chain = ['bridge'] + list(nat_floor.VARIANTS) + ['masquerade']
    lines = ['Step by step, ratio of medians to the path before (%s); candidates to masquerade:' % ' -> '.join(chain)]
    for proto in PROTOCOLS:
        med = dict((label, median(results[(label, proto)])) for label in PATHS)
        lines.append('  %-11s %s; %s; masquerade = %.3f of the NAT floor, the floor = %.3f of bridge' % (
            proto + ':', ', '.join('%s %.3f' % (label, med[label] / med[before]) for before, label in zip(chain, chain[1:])),
            ', '.join('%s %.3f' % (label, med[label] / med['masquerade']) for label in nat_floor.CANDIDATES),
            med['masquerade'] / med['NAT floor'], med['NAT floor'] / med['bridge']))
    return lines


def report(results, evidence, counts):
    baseline = 'bridge'
    lines = ['Masquerade and passt throughput: iperf3 from a client pod to the pod IP, %d x %d s per binding '
             'and protocol, interleaved, median; server-side delivered Gbit/s; pod MTU %d; ratio to the bridge binding '
             '(goal >= %.2f)' % (RUNS, SECONDS, MTU, GOAL), '']
    lines += ratio_table('path', PATHS, results, baseline, GOAL)
    lines.append('(! = below the goal)')
    lines += [''] + steps(results)
    lines += ['', 'NAT on the path (client target -> address the iperf3 server was reached on): %s' % '; '.join(
        '%s %s' % item for item in evidence['reached'].items())]
    lines += ['masquerade pod, nat rules that counted packets during the runs: %s' % '; '.join(
        '%s: %s +%d' % (chain, rule, packets) for (chain, rule), packets in sorted(evidence['counters'].items())
        if packets)]
    lines.append('conntrack entries after the runs: %s' % ', '.join(
        '%s pod %d' % item for item in evidence['conntrack'].items()))
    lines.append('candidates after the runs: %s' % '; '.join('%s: %s' % item for item in evidence['candidates'].items()))
    lines += ['', 'Memory per VM of its pod process after the runs (KubeVirt documents +250 MiB per VM '
              'for passt): %s' % '; '.join(
                  '%s (%s) RSS %.2f MiB (private %.2f, shared files %.2f), PSS %.2f MiB, peak %.2f MiB' % (
                      label, DAEMON[label], mem['VmRSS'] / 1024.0, mem['RssAnon'] / 1024.0, mem['RssFile'] / 1024.0,
                      mem['Pss'] / 1024.0, mem['VmHWM'] / 1024.0)
                  for label, mem in evidence['memory'].items())]
    chains = list(counts[0]['chains'])
    lines += ['', 'Masquerade nft table for N forwarded TCP ports + %d UDP: rules per chain (nft -j list table '
              'ip nat), against KubeVirt (one rule per port in each of %s); load = nft -f of the whole '
              'table, median of %d' % (len(UDP_PORTS), ', '.join(PORT_CHAINS), LOADS), '']
    header = '%-6s| ' % 'N' + ' '.join('%-*s' % (max(len(c), 4), c) for c in chains) + \
        ' | %-6s| %-9s| %-9s| load ms' % ('total', 'KubeVirt', 'text B')
    lines += [header, '-' * len(header)]
    for row in counts:
        lines.append('%-6d| ' % row['tcp'] + ' '.join('%-*d' % (max(len(c), 4), row['chains'][c]) for c in chains) +
                     ' | %-6d| %-9d| %-9d| %.1f' % (sum(row['chains'].values()), row['kubevirt'], row['bytes'],
                                                    row['load'] * 1e3))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    exit_on_sigterm()
    print(run())
