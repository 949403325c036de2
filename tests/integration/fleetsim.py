# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three-host fleet of simulated hypervisors (scripts/hostsim.sh) the fleet and live
migration tests share: a session-scoped fixture (conftest.py imports it), built once with the
fleet role (BGP full mesh, routed pod blocks, EVPN networks blue and green) and destroyed at the
end of the session."""

import json
import random
import time

import pytest

from conftest import unique_name
import hostsim  # a module import: hostsim imports conftest, which imports this module

BLUE = {'name': 'blue', 'vni': 100, 'subnet': '10.10.0.0/24', 'gateway': '10.10.0.1'}
GREEN = {'name': 'green', 'vni': 200, 'subnet': '10.20.0.0/24', 'ipam': 'none'}
POD_CIDR_V6 = 'fd10:244::/56'
FIGURES = {}

FLEET_PLAY = """- hosts: all
  gather_facts: false
  roles:
    - vmnet.networks.fleet
"""


class Fleet(object):
    def __init__(self, tmp):
        self.tmp = tmp
        self.tag = unique_name('vmnt', 4)
        self.base = random.randrange(10, 240, 10)
        self.hosts = []
        self.play = str(tmp / 'fleet.yml')
        with open(self.play, 'w') as handle:
            handle.write(FLEET_PLAY)
        self.group_vars = {'vmnet_fleet_networks': [BLUE, GREEN], 'vmnet_fleet_pod_cidr_v6': POD_CIDR_V6}

    def add_host(self, letter):
        number = self.base + len(self.hosts) + 1
        host = hostsim.Host('%s-%s' % (self.tag, letter), '198.51.100.%d' % number, 'fd00:198:51:100::%d' % number)
        self.hosts.append(host)
        return host

    def apply(self, hosts=None, check=False, **per_host):
        hosts = hosts or self.hosts
        host_vars = dict((h.name, dict(self.group_vars, **per_host.get(h.name, {}))) for h in hosts)
        inv = hostsim.inventory(str(self.tmp / 'inventory.yml'), hosts, **host_vars)
        return hostsim.playbook(inv, self.play, *(['--check', '--diff'] if check else []))

    def destroy(self):
        for host in self.hosts:
            host.destroy()


@pytest.fixture(scope='session')
def fleet(tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp('fleet'))
    try:
        for letter in 'abc':
            fleet.add_host(letter)
        proc, recap, seconds = fleet.apply()
        assert proc.returncode == 0, proc.stdout[-6000:]
        FIGURES['first run of the role on 3 hosts (s)'] = round(seconds, 1)
        started = time.monotonic()
        wait_until(lambda: all(established(h) == peers_of(fleet, h) for h in fleet.hosts), 30, 'BGP sessions')
        FIGURES['BGP sessions established after the play (s)'] = round(time.monotonic() - started, 2)
        wait_until(lambda: all(len(bgp_routes(h)) == 2 for h in fleet.hosts), 30, 'pod blocks routed')
        FIGURES['pod blocks routed after the play (s)'] = round(time.monotonic() - started, 2)
        wait_until(lambda: all(len(bgp_routes(h, 6)) == 2 for h in fleet.hosts), 30, 'IPv6 pod blocks routed')
        FIGURES['IPv6 pod blocks routed after the play (s)'] = round(time.monotonic() - started, 2)
        yield fleet
    finally:
        fleet.destroy()
        print('\nfleet figures: %s' % json.dumps(FIGURES))


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('%s: not within %d s' % (what, timeout))
        time.sleep(0.2)


def peers_of(fleet, host, hosts=None):
    return sorted(h.underlay_ip for h in (hosts or fleet.hosts) if h is not host)


def established(host):
    peers = host.vtysh('show bgp summary json').get('ipv4Unicast', {}).get('peers', {})
    return sorted(ip for ip, peer in peers.items() if peer.get('state') == 'Established')


def bgp_routes(host, family=4):
    return sorted(r['dst'] for r in host.json('ip', '-%d' % family, '-j', 'route', 'show', 'proto', 'bgp'))


def block_of(host, family=4):
    conf = json.loads(host.out('cat', '/etc/vmnet/cni/net.d/10-vmnet.conflist'))
    return conf['plugins'][0]['ipam']['ranges'][family // 6][0]['subnet']


def peers(log):
    try:
        with open(log) as handle:
            return handle.read().split()
    except FileNotFoundError:
        return []


def vm_play(host, name, binding, out_dir):
    """A play that applies the vm role on ``host`` and brings the interfaces' status back."""
    manifest = {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
                'spec': {'template': {'spec': {
                    'domain': {'devices': {'interfaces': [{'name': 'default', binding: {}},
                                                          {'name': 'blue', 'bridge': {}}]}},
                    'networks': [{'name': 'default', 'pod': {}}, {'name': 'blue', 'multus': {'networkName': 'blue'}}]}}}}
    return """- hosts: {host}
  gather_facts: false
  vars:
    vmnet_pod_cni_conf_dir: /etc/vmnet/cni/net.d
    vmnet_vm_manifest: {manifest}
  roles:
    - vmnet.networks.vm
  post_tasks:
    - name: Bring the status back
      ansible.builtin.copy:
        content: "{{{{ vmnet_vm_interfaces | to_json }}}}"
        dest: {out}
        mode: "0600"
      delegate_to: localhost
""".format(host=host.name, manifest=json.dumps(manifest), out=json.dumps(str(out_dir / (name + '.json'))))


def leases(guest):
    found = {}
    while len(found) < 2:
        match = guest.wait_for(r'^VMNET-LEASE .*$', timeout=120)
        fields = dict(f.split('=', 1) for f in match.group(0).split()[1:])
        found[fields['if']] = fields
    return found
