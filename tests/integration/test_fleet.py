# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet role on three (then four) simulated hypervisors (scripts/hostsim.sh), each with its
own network and mount namespace, libvirtd and FRR, reached by ansible-playbook through the
community.docker.nsenter connection: BGP full mesh, routed pod blocks (IPv4 and IPv6), EVPN stretched networks
with real guests applied by the vm role, a fourth host joining, a host leaving, idempotence,
check mode and consent.

The tests of this module share the fleet (fleetsim.py's session-scoped fixture, which the live
migration tests use too) and run in file order.
"""

import json
import os
import time

import pytest
import yaml

from conftest import unique_name
from fleetsim import BLUE, FIGURES, GREEN, Fleet, bgp_routes, block_of, established, leases, peers, peers_of, vm_play, wait_until
from hostsim import playbook

pytestmark = pytest.mark.skipif(not os.path.exists('/usr/lib/frr/bgpd'), reason='FRR is not installed (scripts/setup.sh)')


def bgp_nexthops6(host):
    """The global next hops of the IPv6 blocks in the host's BGP table, by block."""
    routes = host.vtysh('show bgp ipv6 unicast json').get('routes', {})
    return dict((block, sorted(n['ip'] for p in paths for n in p.get('nexthops', []) if n.get('scope') == 'global'))
                for block, paths in routes.items())


def fdb(host, dev):
    return host.json('bridge', '-j', 'fdb', 'show', 'dev', dev)


def snapshot(host):
    """What the role manages on a host (its links without their running timers, addresses, BGP
    routes, its files, FRR's running configuration), for check mode. The pods' own state
    (var/lib/vmnet/<pod>: a dual-stack guest's DHCPv6 and RA log) moves on its own."""
    def steady(value):
        if isinstance(value, dict):
            return dict((k, steady(v)) for k, v in value.items() if 'timer' not in k)
        return [steady(v) for v in value] if isinstance(value, list) else value
    files = host.out('sh', '-c', 'cd / && find etc/frr etc/vmnet var/lib/vmnet/fleet etc/sysctl.d -type f 2>/dev/null '
                                 '| sort | xargs -r sha256sum')
    return {'links': steady(host.json('ip', '-j', '-d', 'link', 'show')),
            'addrs': host.out('ip', '-br', 'addr', 'show'),
            'routes': host.out('ip', 'route', 'show', 'proto', 'bgp'), 'files': files,
            'frr': host.out('vtysh', '-c', 'show running-config')}


def changes(before, after):
    """What differs between two snapshots, link by link."""
    out = [k for k in before if k not in ('links', 'files') and before[k] != after[k]]
    out.extend(set(before['files'].splitlines()) ^ set(after['files'].splitlines()))
    links = [dict((link['ifname'], link) for link in snap['links']) for snap in (before, after)]
    for name in sorted(set(links[0]) | set(links[1])):
        one, two = links[0].get(name, {}), links[1].get(name, {})
        out.extend((name, k, one.get(k), two.get(k)) for k in sorted(set(one) | set(two)) if one.get(k) != two.get(k))
    return out


def recap_ok(proc, recap, hosts, changed=None):
    assert proc.returncode == 0, proc.stdout[-6000:]
    for host in hosts:
        _ok, n_changed, unreachable, failed = recap[host.name]
        assert (unreachable, failed) == (0, 0), proc.stdout[-6000:]
        if changed is not None:
            assert n_changed == changed, (host.name, proc.stdout[-6000:])


def test_bgp_mesh_and_pod_blocks(fleet):
    blocks = [block_of(h) for h in fleet.hosts]
    assert blocks == ['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24']   # sorted hosts -> index
    for host, block in zip(fleet.hosts, blocks):
        assert established(host) == peers_of(fleet, host)
        assert bgp_routes(host) == sorted(b for b in blocks if b != block)
        # The kernel routes the other blocks through their hosts' underlay addresses.
        routes = {r['dst']: r['gateway'] for r in host.json('ip', '-j', 'route', 'show', 'proto', 'bgp')}
        for other, other_block in zip(fleet.hosts, blocks):
            if other is not host:
                assert routes[other_block] == other.underlay_ip
        # IPv6 the same way over the same sessions, with the host's underlay IPv6 address as next hop.
        index = fleet.hosts.index(host)
        assert block_of(host, 6) == ['fd10:244::/64', 'fd10:244:0:1::/64', 'fd10:244:0:2::/64'][index]
        conf = json.loads(host.out('cat', '/etc/vmnet/cni/net.d/10-vmnet.conflist'))['plugins'][0]['ipam']
        assert conf['ranges'][1] == [{'subnet': block_of(host, 6), 'gateway': block_of(host, 6).replace('/64', '1')}]
        assert conf['routes'] == [{'dst': '0.0.0.0/0'}, {'dst': '::/0'}]
        blocks6 = [block_of(h, 6) for h in fleet.hosts]
        assert bgp_routes(host, 6) == sorted(b for b in blocks6 if b != block_of(host, 6))
        nexthops = bgp_nexthops6(host)
        routes6 = {r['dst']: r['gateway'] for r in host.json('ip', '-6', '-j', 'route', 'show', 'proto', 'bgp')}
        for other, other_block in zip(fleet.hosts, blocks6):
            if other is not host:
                assert nexthops[other_block] == [other.underlay_ip6]
                assert routes6[other_block] == other.underlay_ip6
        assert host.out('sysctl', '-n', 'net.ipv6.conf.all.forwarding').strip() == '1'
        vnis = host.vtysh('show evpn vni json')
        assert sorted(vnis) == ['100', '200']
        assert vnis['100']['numRemoteVteps'] == 2
        link = host.json('ip', '-j', '-d', 'link', 'show', 'vnvx100')[0]
        data, port = link['linkinfo']['info_data'], link['linkinfo']['info_slave_data']
        assert (data['id'], data['local'], data['learning'], link['mtu']) == (100, host.underlay_ip, False, 1450)
        assert (port['learning'], port['neigh_suppress'], link['master']) == (False, True, 'vnbr100')
        nad = json.loads(yaml.safe_load(host.out('cat', '/etc/vmnet/nads/default/blue.yaml'))['spec']['config'])
        assert (nad['type'], nad['bridge'], nad['mtu']) == ('bridge', 'vnbr100', 1450)
        assert nad['ipam']['ranges'] == [[{'subnet': '10.10.0.0/24', 'gateway': '10.10.0.1',
                                           'rangeStart': '10.10.0.%d' % max(1, 16 * index),
                                           'rangeEnd': '10.10.0.%d' % (16 * index + 15)}]]
        green = json.loads(yaml.safe_load(host.out('cat', '/etc/vmnet/nads/default/green.yaml'))['spec']['config'])
        assert green['ipam'] == {} and green['bridge'] == 'vnbr200'


def test_ipv6_pods_across_hosts(fleet, tmp_path):
    """Pods on the hosts' default pod network (its conflist run with the real bridge plugin and
    host-local) get an address of both blocks; a pod on B reaches a pod on A over IPv6, routed
    by the BGP routes, and A's pod sees B's pod's address (no NAT)."""
    a, b = fleet.hosts[:2]
    addrs_a, addrs_b = a.default_pod('vmnt6a'), b.default_pod('vmnt6b')
    (ip6_a,), (ip6_b,) = ([x.split('/')[0] for x in addrs if ':' in x] for addrs in (addrs_a, addrs_b))
    assert ip6_a.startswith('fd10:244::') and ip6_b.startswith('fd10:244:0:1::')
    assert [x for x in addrs_a if ':' not in x][0].startswith('10.244.0.')
    assert 'fd10:244::1/64' in a.out('ip', '-br', '-6', 'addr', 'show', 'dev', 'vmnet0')   # the pod bridge's gateway
    log = str(tmp_path / 'peers6.log')
    a.tcp_listener('vmnt6a', 8080, log, ip6_a)
    connect = 'import socket; socket.create_connection((%r, 8080), timeout=3).close()' % ip6_a
    started = time.monotonic()
    wait_until(lambda: b.pod_run('vmnt6b', 'python3', '-c', connect).returncode == 0, 30, 'B pod -> A pod over IPv6')
    FIGURES['IPv6 pod to pod across hosts, first connection (s)'] = round(time.monotonic() - started, 2)
    wait_until(lambda: ip6_b in peers(log), 10, "A's pod seeing B's pod's IPv6 address")
    assert set(peers(log)) == {ip6_b}


def test_guests_across_hosts(fleet, guest_image, tmp_path, request):
    """Guest 1 on A (bridge binding on the pod network, bridge on blue), guest 2 on B (masquerade
    on the pod network, bridge on blue); client pods on B and C."""
    a, b, c = fleet.hosts[:3]
    block_a, block_b, block_c = (block_of(h) for h in (a, b, c))
    c_pod_ip = block_c.replace('.0/24', '.250')
    guest1_blue = '10.10.0.2'            # the first address of A's slice (10.10.0.1 is the gateway)
    pod_b = b.client_pod('vmntcb', 'vmnet0', block_b.replace('.0/24', '.250/24'), block_b.replace('.0/24', '.1'))
    pod_a = a.client_pod('vmntca', 'vmnet0', block_a.replace('.0/24', '.250/24'), block_a.replace('.0/24', '.1'))
    pod_c = c.client_pod('vmntcc', 'vmnet0', c_pod_ip + '/24', block_c.replace('.0/24', '.1'))
    blue_c = c.client_pod('vmntbc', 'vnbr100', '10.10.0.250/24', mtu=1450)
    peers_log, blue_peers_log = str(tmp_path / 'peers.log'), str(tmp_path / 'blue-peers.log')
    c.tcp_listener(pod_c, 8080, peers_log)
    c.tcp_listener(blue_c, 8080, blue_peers_log)

    name1, name2 = unique_name('vmntf1-'), unique_name('vmntf2-')
    g1 = a.guest(name1, guest_image, str(tmp_path / 'g1.log'), 'vmnet.connect=%s:8080' % c_pod_ip)
    g2 = b.guest(name2, guest_image, str(tmp_path / 'g2.log'), 'vmnet.connect=10.10.0.250:8080')
    # the fleet lives on (the migration tests use it): its TCG guests must not eat the CPU
    request.addfinalizer(lambda: [g.domain.destroy() for g in (g1, g2) if g.domain.isActive()])
    play = str(tmp_path / 'vms.yml')
    with open(play, 'w') as handle:
        handle.write(vm_play(a, name1, 'bridge', tmp_path) + vm_play(b, name2, 'masquerade', tmp_path))
    proc, recap, _seconds = playbook(str(fleet.tmp / 'inventory.yml'), play)
    recap_ok(proc, recap, [a, b])
    started = time.monotonic()
    g1.start()
    g2.start()

    leases1 = leases(g1)
    leases2 = leases(g2)
    # Pod IPs are unique in the fleet and in their host's block; the blue addresses are distinct
    # and come from each host's slice of the subnet.
    pod_ip1 = leases1['eth0']['ip']
    assert pod_ip1.startswith(block_a.rsplit('.', 1)[0] + '.')
    assert leases1['eth1']['ip'] == guest1_blue
    assert leases2['eth1']['ip'] == '10.10.0.16'          # B's slice: 10.10.0.16/28
    assert leases1['eth1']['mtu'] == leases2['eth1']['mtu'] == '1450'
    status = dict((vm, json.load(open(str(tmp_path / (vm + '.json'))))) for vm in (name1, name2))
    assert status[name1][0]['ipAddress'] == pod_ip1
    pod_ip2 = status[name2][0]['ipAddress']
    assert pod_ip2.startswith(block_b.rsplit('.', 1)[0] + '.') and pod_ip2 != pod_ip1

    # Routed pod network, no NAT: B's client reaches guest 1 on A; guest 1 reaches C's client,
    # which sees guest 1's pod IP as the peer; A's client reaches guest 2 (masquerade) on B.
    assert b.http_get(pod_b, pod_ip1) == 'hello-from-%s' % name1
    wait_until(lambda: pod_ip1 in peers(peers_log), 60, 'guest 1 connecting to the client pod on C from its pod IP')
    assert a.http_get(pod_a, pod_ip2) == 'hello-from-%s' % name2

    # Stretched network: guest 2 on B reaches C's client on blue from its blue address (on-link,
    # no router), and C's client reaches both guests' HTTP.
    wait_until(lambda: '10.10.0.16' in peers(blue_peers_log), 60, 'guest 2 connecting to the blue client on C')
    assert c.http_get(blue_c, guest1_blue) == 'hello-from-%s' % name1
    assert c.http_get(blue_c, '10.10.0.16') == 'hello-from-%s' % name2
    FIGURES['two guests booted and reachable across hosts (s)'] = round(time.monotonic() - started, 1)

    # The guests' MACs reached C over EVPN: installed by zebra (extern_learn), towards their VTEPs.
    entries = fdb(c, 'vnvx100')
    for mac, vtep in ((leases1['eth1']['mac'], a.underlay_ip), (leases2['eth1']['mac'], b.underlay_ip)):
        mine = [e for e in entries if e['mac'] == mac]
        assert mine and all('extern_learn' in e.get('flags', []) for e in mine), entries
        assert vtep in [e.get('dst') for e in mine]
    evpn = c.out('vtysh', '-c', 'show evpn mac vni 100')
    assert leases1['eth1']['mac'] in evpn and leases2['eth1']['mac'] in evpn


def test_second_run_changes_nothing_and_check_mode_writes_nothing(fleet):
    proc, recap, seconds = fleet.apply()
    recap_ok(proc, recap, fleet.hosts, changed=0)
    FIGURES['second run, 3 hosts (s)'] = round(seconds, 1)

    before = [snapshot(h) for h in fleet.hosts]
    red = {'name': 'red', 'vni': 300, 'subnet': '10.30.0.0/24'}
    fleet.group_vars['vmnet_fleet_networks'] = [BLUE, GREEN, red]
    try:
        proc, recap, _seconds = fleet.apply(check=True)
    finally:
        fleet.group_vars['vmnet_fleet_networks'] = [BLUE, GREEN]
    recap_ok(proc, recap, fleet.hosts)
    assert all(recap[h.name][1] > 0 for h in fleet.hosts), proc.stdout[-4000:]   # it would change them
    assert 'vnvx300' in proc.stdout                                              # the diff shows it
    after = [snapshot(h) for h in fleet.hosts]
    assert [changes(x, y) for x, y in zip(before, after)] == [[]] * len(before)


def test_foreign_frr_configuration_is_refused(fleet):
    host = fleet.add_host('x')
    foreign = 'router bgp 64512\n bgp router-id 192.168.0.1\n neighbor 192.168.0.2 remote-as 64513\n'
    host.run('sh', '-c', 'cat > /etc/frr/frr.conf', stdin=foreign)
    digest = host.out('sha256sum', '/etc/frr/frr.conf')
    fleet.hosts.remove(host)
    try:
        proc, recap, _seconds = fleet.apply(hosts=[host])
        assert proc.returncode != 0 and recap[host.name][3] == 1
        assert 'holds configuration vmnet did not write' in proc.stdout
        assert 'vmnet_fleet_frr_take_over' in proc.stdout
        assert host.out('sha256sum', '/etc/frr/frr.conf') == digest
        assert host.out('grep', '^bgpd=', '/etc/frr/daemons').strip() == 'bgpd=no'
        assert host.out('ip', '-br', 'link', 'show', 'type', 'vxlan') == ''
        assert not host.out('sh', '-c', 'ls /run/frr/*.pid 2>/dev/null')
    finally:
        host.destroy()


def test_fourth_host_joins_then_leaves(fleet):
    d = fleet.add_host('d')
    started = time.monotonic()
    proc, recap, seconds = fleet.apply()
    recap_ok(proc, recap, fleet.hosts)
    block_d = block_of(d)
    assert block_d == '10.244.3.0/24'
    wait_until(lambda: all(established(h) == peers_of(fleet, h) for h in fleet.hosts), 30, 'BGP sessions with d')
    wait_until(lambda: all(block_d in bgp_routes(h) for h in fleet.hosts[:3]), 30, "d's block on a, b, c")
    block6_d = block_of(d, 6)
    assert block6_d == 'fd10:244:0:3::/64'
    wait_until(lambda: all(block6_d in bgp_routes(h, 6) for h in fleet.hosts[:3]), 30, "d's IPv6 block on a, b, c")
    wait_until(lambda: all(h.vtysh('show evpn vni json').get('100', {}).get('numRemoteVteps') == 3
                           for h in fleet.hosts), 30, 'EVPN type-3 routes of d')
    FIGURES['4th host: play + convergence (s)'] = round(time.monotonic() - started, 1)
    FIGURES['4th host play (s)'] = round(seconds, 1)

    # d leaves: one run with vmnet_fleet_state absent on it.
    proc, recap, _seconds = fleet.apply(**{d.name: {'vmnet_fleet_state': 'absent'}})
    recap_ok(proc, recap, fleet.hosts)
    started = time.monotonic()
    others = fleet.hosts[:3]
    wait_until(lambda: all(block_d not in bgp_routes(h) for h in others), 30, "d's block withdrawn")
    wait_until(lambda: all(block6_d not in bgp_routes(h, 6) for h in others), 30, "d's IPv6 block withdrawn")
    wait_until(lambda: all(h.vtysh('show evpn vni json').get('100', {}).get('numRemoteVteps') == 2
                           for h in others), 30, "d's VTEP withdrawn")
    FIGURES['withdrawal after the absent run (s)'] = round(time.monotonic() - started, 2)
    for host in others:
        assert established(host) == peers_of(fleet, host, others)
        assert d.underlay_ip not in host.out('vtysh', '-c', 'show running-config')
    # Nothing of the fleet is left on d.
    assert d.out('sh', '-c', 'ls /run/frr/*.pid 2>/dev/null') == ''
    assert d.out('ip', '-br', 'link', 'show', 'type', 'vxlan') == ''
    assert d.out('ip', '-br', 'link', 'show', 'type', 'bridge') == ''
    assert d.out('ip', 'route', 'show', 'proto', 'bgp') == '' and d.out('ip', '-6', 'route', 'show', 'proto', 'bgp') == ''
    for path in ('/etc/vmnet/cni/net.d/10-vmnet.conflist', '/etc/vmnet/nads/default/blue.yaml',
                 '/etc/vmnet/nads/default/green.yaml', '/etc/sysctl.d/60-vmnet-fleet.conf', '/etc/frr/frr.conf',
                 '/var/lib/vmnet/fleet'):
        assert d.run('test', '-e', path, check=False).returncode == 1, path
    assert d.out('grep', '^bgpd=', '/etc/frr/daemons').strip() == 'bgpd=no'
    # Leaving again changes nothing.
    proc, recap, _seconds = fleet.apply(hosts=[d], **{d.name: {'vmnet_fleet_state': 'absent'}})
    recap_ok(proc, recap, [d], changed=0)


def test_route_reflector(tmp_path):
    """With a route reflector named, the other hosts peer with it only and still learn each
    other's blocks and VTEPs (reflected, next hop unchanged)."""
    rr_fleet = Fleet(tmp_path)
    try:
        for letter in 'rst':
            rr_fleet.add_host(letter)
        r, s, t = rr_fleet.hosts
        rr_fleet.group_vars['vmnet_fleet_route_reflectors'] = [r.name]
        proc, recap, _seconds = rr_fleet.apply()
        recap_ok(proc, recap, rr_fleet.hosts)
        wait_until(lambda: established(r) == peers_of(rr_fleet, r), 30, 'sessions of the reflector')
        assert established(s) == [r.underlay_ip] and established(t) == [r.underlay_ip]
        wait_until(lambda: all(len(bgp_routes(h)) == 2 for h in rr_fleet.hosts), 30, 'reflected blocks')
        routes = {x['dst']: x['gateway'] for x in s.json('ip', '-j', 'route', 'show', 'proto', 'bgp')}
        assert routes[block_of(t)] == t.underlay_ip
        wait_until(lambda: all(len(bgp_routes(h, 6)) == 2 for h in rr_fleet.hosts), 30, 'reflected IPv6 blocks')
        assert bgp_nexthops6(s)[block_of(t, 6)] == [t.underlay_ip6]
        routes6 = {x['dst']: x['gateway'] for x in s.json('ip', '-6', '-j', 'route', 'show', 'proto', 'bgp')}
        assert routes6[block_of(t, 6)] == t.underlay_ip6        # straight to t, not through the reflector
        wait_until(lambda: s.vtysh('show evpn vni json').get('100', {}).get('numRemoteVteps') == 2, 30,
                   'reflected type-3 routes')
    finally:
        rr_fleet.destroy()
