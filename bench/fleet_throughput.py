# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet: throughput across hosts over the routed pod network and over a VXLAN stretched
network, as ratios to the same pair on one host, in one run.

Two simulated hypervisors (scripts/hostsim.sh) are made one fleet by the role
vmnet.networks.fleet (ansible-playbook through community.docker.nsenter), with one stretched
network (VNI 100). Pod stand-ins stand in for the guests (a TCG guest's own throughput would be
the bottleneck and hide the network's): pods plugged by the real CNI bridge plugin into the
host's pod bridge (its block) or into the stretched network's bridge, with the addresses the
fleet gives them. iperf3 runs from a pod to a server pod on host A:

    pod, same host    client(A) ⇄ vmnet0(A) ⇄ server(A)
    pod, across       client(B) ⇄ vmnet0(B) ⇄ routed (BGP) ⇄ eth0(B) ⇄ underlay ⇄ eth0(A) ⇄ vmnet0(A) ⇄ server
    vxlan, same host  client(A) ⇄ vnbr100(A) ⇄ server(A)
    vxlan, across     client(B) ⇄ vnbr100(B) ⇄ VXLAN over the underlay ⇄ vnbr100(A) ⇄ server

Runs interleave, medians of RUNS runs of SECONDS s, delivered Gbit/s as the server saw it.
Everything runs inside the two simulated hosts, which are destroyed at the end (also on failure).
"""

import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, '.build', 'collections'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from glue_throughput import IPERF_PORT, PROTOCOLS, RUNS, SECONDS, ratio_table  # noqa: E402
from _netns import median, tag  # noqa: E402
from hostsim import Host, inventory, playbook  # noqa: E402

GOAL = 0.50
PLAY = """- hosts: all
  gather_facts: false
  vars:
    vmnet_fleet_networks:
      - {name: blue, vni: 100, subnet: 10.10.0.0/24}
  roles:
    - vmnet.networks.fleet
"""
PATHS = ('pod, same host', 'pod, across', 'vxlan, same host', 'vxlan, across')


def measure(host, pod, server, options):
    out = host.pod_run(pod, 'iperf3', '-c', server, '-p', str(IPERF_PORT), '-t', str(SECONDS), '-J',
                       '--get-server-output', *options, check=True, timeout=SECONDS + 30).stdout
    report = json.loads(out)
    if 'server_output_json' not in report:
        raise RuntimeError('iperf3 from %s to %s %s: %s' % (pod, server, ' '.join(options), report.get('error', out[-500:])))
    return report['server_output_json']['end']['sum_received']['bits_per_second'] / 1e9


def run():
    name = 'vmnb' + tag()
    base = random.randrange(10, 240, 10)
    hosts = []
    work = tempfile.mkdtemp(prefix='vmnb-fleet-')
    try:
        for i, letter in enumerate('ab'):
            hosts.append(Host('%s-%s' % (name, letter), '198.51.100.%d' % (base + i + 1)))
        a, b = hosts
        play = os.path.join(work, 'fleet.yml')
        with open(play, 'w') as handle:
            handle.write(PLAY)
        proc, _recap, seconds = playbook(inventory(os.path.join(work, 'inventory.yml'), hosts), play)
        if proc.returncode != 0:
            raise RuntimeError('the fleet role failed:\n' + proc.stdout[-4000:])
        # Pods: A's block is 10.244.0.0/24, B's 10.244.1.0/24 (sorted hosts); blue slices by index.
        a.client_pod('vmnbsrv', 'vmnet0', '10.244.0.200/24', '10.244.0.1')
        a.client_pod('vmnbcla', 'vmnet0', '10.244.0.201/24', '10.244.0.1')
        b.client_pod('vmnbclb', 'vmnet0', '10.244.1.201/24', '10.244.1.1')
        a.client_pod('vmnbbsrv', 'vnbr100', '10.10.0.200/24', mtu=1450)
        a.client_pod('vmnbbcla', 'vnbr100', '10.10.0.201/24', mtu=1450)
        b.client_pod('vmnbbclb', 'vnbr100', '10.10.0.202/24', mtu=1450)
        for pod in ('vmnbsrv', 'vmnbbsrv'):
            a.spawn('ip', 'netns', 'exec', pod, 'iperf3', '-s', '-J', '-p', str(IPERF_PORT))
        paths = {'pod, same host': (a, 'vmnbcla', '10.244.0.200'), 'pod, across': (b, 'vmnbclb', '10.244.0.200'),
                 'vxlan, same host': (a, 'vmnbbcla', '10.10.0.200'), 'vxlan, across': (b, 'vmnbbclb', '10.10.0.200')}
        for host, pod, server in paths.values():     # routes and EVPN MACs in place, servers up
            for _attempt in range(50):
                if host.pod_run(pod, 'ping', '-c', '1', '-W', '1', server).returncode == 0:
                    break
        results = dict(((path, proto), []) for path in PATHS for proto in PROTOCOLS)
        for _run in range(RUNS):
            for path in PATHS:
                for proto, options in PROTOCOLS.items():
                    host, pod, server = paths[path]
                    results[(path, proto)].append(measure(host, pod, server, options))
    finally:
        for host in hosts:
            host.destroy()
    lines = ['fleet: 2 simulated hosts, the fleet role in %.1f s; pod stand-ins; iperf3 %d x %d s interleaved, '
             'median; server-side delivered Gbit/s; ratio to the same pair on one host (goal >= %.2f)'
             % (seconds, RUNS, SECONDS, GOAL), '']
    lines += ratio_table('path', PATHS[:2], results, PATHS[0], GOAL)
    lines += ['']
    lines += ratio_table('path', PATHS[2:], results, PATHS[2], GOAL)
    medians = dict((key, median(values)) for key, values in results.items())
    lines += ['', 'across hosts / same host: routed pod network %.3f, VXLAN %.3f (TCP)'
              % (medians[('pod, across', 'TCP')] / medians[('pod, same host', 'TCP')],
                 medians[('vxlan, across', 'TCP')] / medians[('vxlan, same host', 'TCP')])]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    if os.geteuid() != 0:
        sys.exit('bench: needs root')
    print(run())
