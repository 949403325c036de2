# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live migration (the vmnet.networks.migrate playbook) of a real guest between simulated
hypervisors of the shared fleet (fleetsim.py): masquerade on the pod network and bridge on the
stretched network blue, A -> B -> A while a client pod on C pings the guest's blue address 10
times a second and fetches its HTTP page; a migration the target refuses; a VM the rules refuse.

The simulated hosts' libvirtds are reached from the target (where the role runs the migration)
at their unix sockets (qemu+unix:///system?socket=/run/vmnet-hostsim/<host>/root/run/libvirt/
libvirt-sock, visible in every host's mount namespace); the memory goes over the underlay
(tcp://<target underlay address>, the incoming QEMU listening on that address only).

The tests of this module share one guest and run in file order.
"""

import json
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import unique_name
from fleetsim import FIGURES, block_of, leases, vm_play, wait_until
from hostsim import inventory, playbook

pytestmark = pytest.mark.skipif(not os.path.exists('/usr/lib/frr/bgpd'), reason='FRR is not installed (scripts/setup.sh)')

BLUE_CLIENT = '10.10.0.249'
MIGRATE_PLAY = """- hosts: {target}
  gather_facts: false
  vars:
    vmnet_migrate_vm: {manifest}
    vmnet_migrate_source: {source}
    vmnet_migrate_target: {target}
    vmnet_migrate_source_uri: {source_uri}
    vmnet_migrate_migrate_uri: tcp://{address}
    vmnet_migrate_listen_address: {address}
    vmnet_migrate_timeout: 60
  roles:
    - vmnet.networks.migrate
  post_tasks:
    - name: Bring the status and figures back
      ansible.builtin.copy:
        content: "{{{{ {{'interfaces': vmnet_migrate_interfaces, 'figures': vmnet_migrate_figures}} | to_json }}}}"
        dest: {out}
        mode: "0600"
      delegate_to: localhost
"""


def manifest(name, pod_binding='masquerade', annotations=None):
    vm = {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
          'spec': {'template': {'spec': {
              'domain': {'devices': {'interfaces': [{'name': 'default', pod_binding: {}},
                                                    {'name': 'blue', 'bridge': {}}]}},
              'networks': [{'name': 'default', 'pod': {}}, {'name': 'blue', 'multus': {'networkName': 'blue'}}]}}}}
    if annotations:
        vm['spec']['template']['metadata'] = {'annotations': annotations}
    return vm


# ICMP echo 10 times a second from a raw socket (the machine has no ping binary): one line per
# probe sent ("sent <seq> <time>") and per reply ("reply <seq> <time>").
PINGER = """
import os, select, socket, struct, sys, time
dst = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
def checksum(data):
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff)
    return ~(total + (total >> 16)) & 0xffff
seq, next_at = 0, time.time()
while True:
    now = time.time()
    if now >= next_at:
        seq += 1
        header = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
        payload = b'vmnet' * 8
        s.sendto(struct.pack('!BBHHH', 8, 0, checksum(header + payload), ident, seq) + payload, (dst, 0))
        print('sent %d %.3f' % (seq, now), flush=True)
        next_at += 0.1
    ready = select.select([s], [], [], max(0, next_at - time.time()))[0]
    if ready:
        packet, _addr = s.recvfrom(2048)
        kind, _code, _sum, rid, rseq = struct.unpack('!BBHHH', packet[20:28])
        if kind == 0 and rid == ident:
            print('reply %d %.3f' % (rseq, time.time()), flush=True)
"""


class Probe(object):
    """From a pod on C: ICMP echo 10/s and an HTTP fetch every 0.1 s, both logged with times."""

    def __init__(self, host, pod, address, tmp):
        self.ping_log, self.http_log = str(tmp / 'ping.log'), str(tmp / 'http.log')
        code = ('import time, urllib.request\nwhile True:\n    t = time.time()\n    try:\n'
                '        ok = b"hello" in urllib.request.urlopen("http://%s/", timeout=0.5).read()\n'
                '    except Exception:\n        ok = False\n'
                '    print("%%.3f %%s" %% (t, "ok" if ok else "fail"), flush=True)\n    time.sleep(0.1)\n' % address)
        enter = ['nsenter', '-t', str(host.pid), '-m', '-n', 'ip', 'netns', 'exec', pod, 'python3', '-u', '-c']
        self.procs = [subprocess.Popen(enter + [PINGER, address], stdout=open(self.ping_log, 'w'), stderr=subprocess.STDOUT),
                      subprocess.Popen(enter + [code], stdout=open(self.http_log, 'w'), stderr=subprocess.DEVNULL)]

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def pings(self):
        """(sent, lost): the probes sent but the last second's, and those of them without a reply."""
        with open(self.ping_log) as handle:
            lines = [line.split() for line in handle if line.startswith(('sent ', 'reply '))]
        sent = [int(f[1]) for f in lines if f[0] == 'sent'][:-10]
        replies = set(int(f[1]) for f in lines if f[0] == 'reply')
        return len(sent), len(set(sent) - replies)

    def http(self):
        with open(self.http_log) as handle:
            return [(float(t), r == 'ok') for t, r in (line.split() for line in handle if line.count(' ') == 1)]


class FdbWatch(threading.Thread):
    """When C's FDB first points the guest's MAC at ``vtep`` (EVPN convergence)."""

    def __init__(self, host, mac, vtep):
        super(FdbWatch, self).__init__(daemon=True)
        self.host, self.mac, self.vtep, self.at, self.done = host, mac, vtep, None, False
        self.start()

    def run(self):
        deadline = time.time() + 120
        while not self.done and time.time() < deadline:
            entries = self.host.json('bridge', '-j', 'fdb', 'show', 'dev', 'vnvx100')
            if any(e['mac'] == self.mac and e.get('dst') == self.vtep for e in entries):
                self.at = time.time()
                return
            time.sleep(0.01)


def uptimes(guest):
    return [float(v) for v in re.findall(r'^VMNET-UPTIME ([\d.]+)', guest.console(), re.MULTILINE)]


@pytest.fixture(scope='module')
def vm(fleet, guest_image, tmp_path_factory):
    """A guest on A (masquerade on the pod network, bridge on blue), client pods on C."""
    a, b, c = fleet.hosts[:3]
    tmp = tmp_path_factory.mktemp('migrate')
    tag = unique_name('vmntm', 4)
    ctx = {'a': a, 'b': b, 'c': c, 'tmp': tmp, 'name': unique_name('vmntmig-')}
    ctx['inventory'] = inventory(str(tmp / 'inventory.yml'), [a, b, c])
    ctx['blue_c'] = c.client_pod(tag + 'b', 'vnbr100', BLUE_CLIENT + '/24', mtu=1450)
    block_c = block_of(c)
    ctx['pod_c'] = c.client_pod(tag + 'p', 'vmnet0', block_c.replace('.0/24', '.249/24'), block_c.replace('.0/24', '.1'))
    guest = a.guest(ctx['name'], guest_image, str(tmp / 'serial.log'), 'vmnet.heartbeat=1')
    ctx['guest'] = guest
    play = str(tmp / 'vm.yml')
    with open(play, 'w') as handle:
        handle.write(vm_play(a, ctx['name'], 'masquerade', tmp))
    proc, recap, _seconds = playbook(ctx['inventory'], play)
    assert proc.returncode == 0, proc.stdout[-6000:]
    guest.start()
    found = leases(guest)
    ctx['mac'], ctx['blue_ip'] = found['eth1']['mac'], found['eth1']['ip']
    wait_until(lambda: c.http_get(ctx['blue_c'], ctx['blue_ip']) == 'hello-from-%s' % ctx['name'], 60, 'HTTP from C')
    try:
        yield ctx
    finally:
        for host in (a, b):
            try:
                host.conn.lookupByName(ctx['name']).destroy()
            except Exception:   # not there, or not running
                pass


def migrate(ctx, source, target, vm_manifest=None):
    out = ctx['tmp'] / ('result-%s.json' % target.name)
    play = str(ctx['tmp'] / 'migrate.yml')
    with open(play, 'w') as handle:
        handle.write(MIGRATE_PLAY.format(target=target.name, source=source.name, source_uri=json.dumps(source.uri),
                                         address=target.underlay_ip, out=json.dumps(str(out)),
                                         manifest=json.dumps(vm_manifest or manifest(ctx['name']))))
    if out.exists():
        out.unlink()
    proc, recap, seconds = playbook(ctx['inventory'], play)
    result = json.loads(out.read_text()) if out.exists() else None
    return proc, recap, seconds, result


def hop(ctx, source, target, label):
    """One migration under load, checked as the issue asks; returns its figures."""
    c, guest, name = ctx['c'], ctx['guest'], ctx['name']
    before = uptimes(guest)
    probe = Probe(c, ctx['blue_c'], ctx['blue_ip'], ctx['tmp'])
    fdb = FdbWatch(c, ctx['mac'], target.underlay_ip)
    try:
        time.sleep(1.5)     # the probes run before the migration starts
        proc, recap, seconds, result = migrate(ctx, source, target)
        assert proc.returncode == 0, proc.stdout[-8000:]
        figures = result['figures']
        switched_at = float(figures['switched_at'])
        try:
            wait_until(lambda: any(t > switched_at + 3 and ok for t, ok in probe.http()), 30, 'HTTP after the switch')
        except AssertionError:
            print(diagnose(ctx, source, target, proc.stdout))
            raise
        time.sleep(1)
    finally:
        probe.stop()
        fdb.done = True
    sent, lost = probe.pings()
    http = probe.http()
    first_ok = min(t for t, ok in http if ok and t > switched_at)
    # the guest ran on: one boot, its uptime going on over the switch on the same console
    wait_until(lambda: len(uptimes(guest)) > len(before) + 3, 20, 'heartbeats after the migration')
    after = uptimes(guest)
    assert guest.console().count('VMNET-GUEST-UP') == 1
    assert after[:len(before)] == before and all(y > x for x, y in zip(after, after[1:])), after[-20:]
    assert max(y - x for x, y in zip(after, after[1:])) < 3.5, after
    # the guest runs on the target, defined there, gone from the source
    assert target.conn.lookupByName(name).isActive() and target.conn.lookupByName(name).isPersistent()
    assert name not in source.conn.listDefinedDomains() + [d.name() for d in source.conn.listAllDomains()]
    assert sent > 20 and lost <= 5, (sent, lost)
    assert first_ok - switched_at <= 2.0, (first_ok, switched_at)
    # same MAC and blue address; the pod network's address from the target's block, reachable from C
    status = dict((i['name'], i) for i in result['interfaces'])
    assert (status['blue']['mac'], status['blue']['ipAddress']) == (ctx['mac'], ctx['blue_ip'])
    pod_ip = status['default']['ipAddress']
    assert pod_ip.startswith(block_of(target).rsplit('.', 1)[0] + '.'), (pod_ip, block_of(target))
    assert c.http_get(ctx['pod_c'], pod_ip) == 'hello-from-%s' % name
    neigh = c.pod_run(ctx['blue_c'], 'ip', 'neigh', 'show', ctx['blue_ip']).stdout
    assert ctx['mac'] in neigh, neigh
    assert_nothing_left(ctx, source, figures['taps'])
    job = figures['job']
    FIGURES['migration %s: play (s)' % label] = round(seconds, 1)
    FIGURES['migration %s: switch after start (s)' % label] = figures['seconds']['switch']
    FIGURES['migration %s: libvirt call (s)' % label] = figures['seconds']['total']
    FIGURES['migration %s: libvirt time_elapsed (ms)' % label] = job.get('time_elapsed')
    FIGURES['migration %s: downtime, domjobinfo (ms)' % label] = job.get('downtime')
    FIGURES['migration %s: pings lost of %d' % (label, sent)] = lost
    FIGURES['migration %s: HTTP again after the switch (s)' % label] = round(first_ok - switched_at, 2)
    if fdb.at:
        FIGURES['migration %s: EVPN (C FDB -> new VTEP) after the switch (s)' % label] = round(fdb.at - switched_at, 3)
    print('\nmigration figures: %s' % json.dumps(FIGURES))
    return figures


def diagnose(ctx, source, target, play_output):
    """What the hosts say about the guest's MAC, when it cannot be reached."""
    netns = 'vmnet-default_%s' % ctx['name']
    out = [play_output[-3000:]]
    for host in (source, target, ctx['c']):
        out.append('== %s' % host.name)
        out.append(host.out('sh', '-c', 'bridge fdb show | grep -i %s; vtysh -c "show evpn mac vni 100 mac %s"; '
                                        'ip -n %s -d -br link; ip -n %s addr' % (ctx['mac'], ctx['mac'], netns, netns)))
    with open(str(ctx['tmp'] / 'ping.log')) as handle:
        out.append(handle.read()[-1500:])
    return '\n'.join(out)


def assert_nothing_left(ctx, host, taps):
    pod_dir = '/var/lib/vmnet/default_%s' % ctx['name']
    netns = json.dumps(host.json('ip', '-j', 'netns', 'list'))
    assert ctx['name'] not in netns, netns
    assert host.run('test', '-e', pod_dir, check=False).returncode == 1
    for tap in list(taps) + list(taps.values()):
        assert host.run('ip', 'link', 'show', tap, check=False).returncode != 0, tap
    assert host.out('grep', '-rl', ctx['name'], '/var/lib/cni/networks') == ''
    # one dnsmasq of the pod on the machine: the target's
    dnsmasqs = [p for p in os.listdir('/proc') if p.isdigit() and pod_dir in _cmdline(p)
                and _cmdline(p).split(' ')[0].endswith('dnsmasq')]
    assert len(dnsmasqs) == 1, dnsmasqs


def _cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        return ''


def test_migration_there_and_back_under_load(vm):
    a, b = vm['a'], vm['b']
    hop(vm, a, b, 'A->B')
    # the target converges: the vm role there changes nothing
    play = str(vm['tmp'] / 'vm-b.yml')
    with open(play, 'w') as handle:
        handle.write(vm_play(b, vm['name'], 'masquerade', vm['tmp']))
    proc, recap, _seconds = playbook(vm['inventory'], play)
    # the one change: the play's own copy of the status to the controller
    assert proc.returncode == 0 and recap[b.name][1] == 1, proc.stdout[-6000:]
    assert proc.stdout.count('changed: [') == 1 and 'changed: [%s -> localhost]' % b.name in proc.stdout, proc.stdout[-6000:]
    hop(vm, b, a, 'B->A')


def test_failed_migration_leaves_the_guest_on_the_source(vm):
    """C lacks the network blue: the target refuses, the guest runs on untouched, C has nothing."""
    a, c, name = vm['a'], vm['c'], vm['name']
    nad = '/etc/vmnet/nads/default/blue.yaml'
    c.run('mv', nad, nad + '.away')
    try:
        before = a.out('sh', '-c', 'ip -br link; ls -R /var/lib/vmnet/default_%s; cat /var/lib/cni/networks/*/* 2>/dev/null' % name)
        heartbeats = len(uptimes(vm['guest']))
        proc, recap, _seconds, _result = migrate(vm, a, c)
        assert proc.returncode != 0 and recap[c.name][3] == 1, proc.stdout[-6000:]
        assert 'before the switch' in proc.stdout and 'blue' in proc.stdout, proc.stdout[-6000:]
    finally:
        c.run('mv', nad + '.away', nad)
    assert a.conn.lookupByName(name).isActive()
    assert name not in [d.name() for d in c.conn.listAllDomains()]
    assert a.out('sh', '-c', 'ip -br link; ls -R /var/lib/vmnet/default_%s; cat /var/lib/cni/networks/*/* 2>/dev/null' % name) == before
    assert_nothing_left_on(c, name)
    wait_until(lambda: len(uptimes(vm['guest'])) > heartbeats + 2, 20, 'heartbeats')
    assert vm['c'].http_get(vm['blue_c'], vm['blue_ip']) == 'hello-from-%s' % name


def assert_nothing_left_on(host, name):
    assert name not in json.dumps(host.json('ip', '-j', 'netns', 'list'))
    assert host.run('test', '-e', '/var/lib/vmnet/default_%s' % name, check=False).returncode == 1
    assert host.out('grep', '-rl', name, '/var/lib/cni/networks') == ''


def test_rules_refuse_bridge_on_the_pod_network(vm):
    """Without KubeVirt's annotation, the bridge binding on the pod network is refused before
    anything changes (the manifest names another VM: the rules come first)."""
    a, b = vm['a'], vm['b']
    proc, recap, _seconds, _result = migrate(vm, a, b, manifest(vm['name'], 'bridge'))
    assert proc.returncode != 0
    assert 'kubevirt.io/allow-pod-bridge-network-live-migration' in proc.stdout, proc.stdout[-4000:]
    assert a.conn.lookupByName(vm['name']).isActive()
    assert_nothing_left_on(b, vm['name'])
