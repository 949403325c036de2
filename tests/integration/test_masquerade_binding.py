# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The masquerade binding end to end: NAT behind the pod IP, with a real guest.

The client is a second pod on the same (test-made) pod network. The guest serves HTTP on
ports 80 and 8080 and, with ``vmnet.connect``, keeps connecting to the client.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from modules import run_module
from podnet import PodNetwork, ip_json, netns_run, pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import names

DNS = ['10.96.0.10']
SEARCH = ['default.svc.cluster.local']
PEER_SERVER = r'''
import socket, sys
family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(8)
while True:
    conn, peer = server.accept()
    print(peer[0], flush=True)
    conn.close()
'''


def manifest(name, ports=None, cidr=None):
    iface = {'name': 'default', 'masquerade': {}}
    if ports is not None:
        iface['ports'] = ports
    network = {'name': 'default', 'pod': {'vmNetworkCIDR': cidr} if cidr else {}}
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [iface]}},
                                           'networks': [network]}}}}


def apply(podnet, spec, vm, state='present', **extra):
    if state == 'absent':
        iface = pod_module(podnet, 'vm_interface', spec, vm=vm, name='default', state='absent', **extra)
        net = pod_module(podnet, 'vm_network', spec, vm=vm, name='default', state='absent', **extra)
        return net, iface
    net = pod_module(podnet, 'vm_network', spec, vm=vm, name='default', **extra)
    iface = pod_module(podnet, 'vm_interface', spec, vm=vm, name='default', dns_servers=DNS,
                       dns_search=SEARCH, **extra)
    assert not net.get('failed') and not iface.get('failed'), (net, iface)
    return net, iface


def http_get(netns, address, port):
    host = '[%s]' % address if ':' in address else address
    code = ('import urllib.request,sys; '
            'sys.stdout.write(urllib.request.urlopen("http://%s:%d/", timeout=4).read().decode())' % (host, port))
    return netns_run(netns, 'python3', '-c', code, check=False, timeout=20)


def wait_http(netns, address, port, expected, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        reply = http_get(netns, address, port)
        if reply.stdout.strip() == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError('no %r from %s:%d: %s %s' % (expected, address, port, reply.stdout, reply.stderr))
        time.sleep(1)


@pytest.fixture
def peer_server():
    """``peer_server(netns, address, port)``: a TCP server that prints each peer's address."""
    started = []

    def start(netns, address, port):
        proc = subprocess.Popen(['ip', 'netns', 'exec', netns, 'python3', '-u', '-c', PEER_SERVER, address, str(port)],
                                stdout=subprocess.PIPE, universal_newlines=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def lease_fields(match):
    return dict(field.split('=', 1) for field in match.group(0).split()[1:])


def test_ipv4_port_forwarding_snat_and_localhost(podnet, make_domain, peer_server):
    client, client_ip = podnet.client()
    server = peer_server(client, client_ip, 7777)
    guest = make_domain('vmntmasq', cmdline='vmnet.connect=%s:7777' % client_ip)
    spec = manifest(guest.name, ports=[{'name': 'http', 'port': 80}])
    net, iface = apply(podnet, spec, guest.name)
    pod_ip = net['pod_interface']['ips'][0].split('/')[0]
    assert iface['interface']['ipAddresses'] == [pod_ip]      # status reports the pod IP
    assert iface['interface']['mac'] == net['pod_interface']['mac']

    guest.start()
    lease = lease_fields(guest.wait_for(r'^VMNET-LEASE .*$', timeout=90))
    assert (lease['ip'], lease['mask'], lease['router']) == ('10.0.2.2', '24', '10.0.2.1')
    assert (lease['mtu'], lease['dns'], lease['hostname']) == (str(podnet.mtu), DNS[0], guest.name)
    assert lease['serverid'] == '10.0.2.1'

    # inbound on the listed port reaches the guest; an unlisted one is not forwarded
    wait_http(client, pod_ip, 80, 'hello-from-%s' % guest.name)
    assert http_get(client, pod_ip, 8080).returncode != 0
    # localhost inside the pod reaches the guest (output chain + route_localnet)
    wait_http(names.pod_netns('default', guest.name), '127.0.0.1', 80, 'hello-from-%s' % guest.name)
    # the guest's outbound connection arrives with the pod IP as source
    guest.wait_for(r'^VMNET-CONNECT dst=%s:7777 ok' % client_ip.replace('.', r'\.'), timeout=60)
    assert server.stdout.readline().strip() == pod_ip

    info = run_module('vm_interface_info', vm=guest.name, state_dir=podnet.state_dir)
    assert info['interfaces'] == [{
        'name': 'default', 'mac': net['pod_interface']['mac'], 'ipAddress': pod_ip, 'ipAddresses': [pod_ip],
        'podInterfaceName': 'eth0', 'linkState': 'up', 'queueCount': 1, 'infoSource': 'domain'}]

    # no ports: every port is forwarded; the table is replaced in place
    all_ports = manifest(guest.name)
    _net, iface = apply(podnet, all_ports, guest.name)
    assert iface['actions'] == ['configure nftables'], iface
    wait_http(client, pod_ip, 8080, 'hello-from-%s' % guest.name)

    apply(podnet, all_ports, guest.name, state='absent')
    assert_nothing_left(podnet, guest.name)


def test_nft_idempotence_check_mode_diff(podnet, make_domain):
    guest = make_domain('vmntnft')
    spec = manifest(guest.name, ports=[{'port': 80}, {'port': 443}, {'port': 53, 'protocol': 'UDP'}])
    apply(podnet, spec, guest.name)
    pod = names.pod_netns('default', guest.name)
    tables = json.loads(netns_run(pod, 'nft', '-j', 'list', 'tables').stdout)['nftables']
    assert [(t['table']['family'], t['table']['name']) for t in tables if 'table' in t] == [('ip', 'nat')]
    listing = netns_run(pod, 'nft', 'list', 'chain', 'ip', 'nat', 'KUBEVIRT_PREINBOUND').stdout
    assert 'tcp dport { 80, 443 } counter' in listing and 'udp dport 53 counter' in listing

    # the pod's conntrack and nat see a guest packet once (routed), not again as a bridged frame
    bridge_nf = '/proc/sys/net/bridge/bridge-nf-call-iptables'
    assert netns_run(pod, 'cat', bridge_nf).stdout.strip() == '0'

    again = pod_module(podnet, 'vm_interface', spec, vm=guest.name, name='default', dns_servers=DNS, dns_search=SEARCH)
    assert (again['changed'], again['actions']) == (False, []), again
    netns_run(pod, 'sh', '-c', 'echo 1 > %s' % bridge_nf)
    fixed = pod_module(podnet, 'vm_interface', spec, vm=guest.name, name='default', dns_servers=DNS, dns_search=SEARCH)
    assert fixed['actions'] == ['repair sysctl'] and netns_run(pod, 'cat', bridge_nf).stdout.strip() == '0', fixed

    # a rule deleted by hand is drift: repaired
    handle = json.loads(netns_run(pod, 'nft', '-j', '-a', 'list', 'chain', 'ip', 'nat', 'postrouting').stdout)
    rule = [i['rule'] for i in handle['nftables'] if 'rule' in i][0]
    netns_run(pod, 'nft', 'delete', 'rule', 'ip', 'nat', 'postrouting', 'handle', str(rule['handle']))
    fixed = pod_module(podnet, 'vm_interface', spec, vm=guest.name, name='default', dns_servers=DNS, dns_search=SEARCH)
    assert fixed['actions'] == ['repair nftables'], fixed

    # check mode + diff for a port change: the rule text in the diff, nothing applied (the
    # table compared without its counters, -s: a packet of the pod may pass meanwhile)
    before = netns_run(pod, 'nft', '-s', 'list', 'table', 'ip', 'nat').stdout
    changed = manifest(guest.name, ports=[{'port': 8443}])
    preview = pod_module(podnet, 'vm_interface', changed, vm=guest.name, name='default', check_mode=True, diff=True,
                         dns_servers=DNS, dns_search=SEARCH)
    assert preview['changed'] and preview['actions'] == ['configure nftables']
    assert 'tcp dport { 8443 } counter dnat to 10.0.2.2' in preview['diff']['after']['pod']['nftables']['ip nat']
    assert 'tcp dport { 80, 443 }' in preview['diff']['before']['pod']['nftables']['ip nat']
    assert netns_run(pod, 'nft', '-s', 'list', 'table', 'ip', 'nat').stdout == before

    apply(podnet, spec, guest.name, state='absent')
    apply(podnet, spec, guest.name, state='absent')
    assert_nothing_left(podnet, guest.name)


def test_cidr_too_small_fails_before_the_host_is_touched(podnet):
    spec = manifest('vmntsmall', cidr='10.0.2.0/31')
    result = pod_module(podnet, 'vm_network', spec, vm='vmntsmall', name='default')
    assert result['failed'] and 'VM CIDR subnet is too small' in result['msg']
    assert 'vmnet-default_vmntsmall' not in subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE,
                                                           universal_newlines=True, check=False).stdout


def assert_nothing_left(podnet, vm):
    assert names.pod_netns('default', vm) not in subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE,
                                                                universal_newlines=True, check=False).stdout
    state = os.path.join(podnet.state_dir, names.pod_id('default', vm))
    assert not os.path.exists(state)
    leftovers = subprocess.run(['pgrep', '-f', state], stdout=subprocess.PIPE,
                               universal_newlines=True, check=False).stdout.split()
    assert leftovers == [] or all(_zombie(pid) for pid in leftovers)


def _zombie(pid):
    try:
        with open('/proc/%s/stat' % pid) as handle:
            return handle.read().split(') ')[-1].startswith('Z')
    except OSError:
        return True


@pytest.mark.parametrize('stack', ['dual', 'ipv6-only'])
def test_ipv6_dhcpv6_router_advertisements_and_nat(tmp_path, make_domain, peer_server, stack):
    network = PodNetwork(tmp_path, subnet='10.250.8.0/24' if stack == 'dual' else None,
                         ipv6_subnet='fd00:250:8::/64')
    try:
        client, client_ip = network.client()
        client_v6 = [a['local'] for a in ip_json('-n', client, 'addr', 'show', 'eth0')[0]['addr_info']
                     if a['family'] == 'inet6' and a['scope'] == 'global'][0]
        server = peer_server(client, '::', 7777)   # the client's address may still be in DAD
        guest = make_domain('vmntmasq6', cmdline='vmnet.connect=%s:7777' % client_v6)
        spec = manifest(guest.name, ports=[{'port': 80}])
        net, iface = apply(network, spec, guest.name)
        pod_v6 = [ip.split('/')[0] for ip in net['pod_interface']['ips'] if ':' in ip][0]
        assert pod_v6 in iface['interface']['ipAddresses']
        families = [t['table']['family'] for t in json.loads(
            netns_run(names.pod_netns('default', guest.name), 'nft', '-j', 'list', 'tables').stdout)['nftables'] if 'table' in t]
        assert families == (['ip', 'ip6'] if stack == 'dual' else ['ip6'])

        guest.start()
        if stack == 'dual':
            lease = lease_fields(guest.wait_for(r'^VMNET-LEASE .*$', timeout=90))
            assert (lease['ip'], lease['router']) == ('10.0.2.2', '10.0.2.1')
        # udhcpc, dhcpcd, init's NIC watch and the connect loop run side by side: their lines
        # come in any order (anywhere=True)
        lease6 = lease_fields(guest.wait_for(r'^VMNET-LEASE6 .*$', timeout=90, anywhere=True))
        assert lease6['ip'] == 'fd10:0:2::2'
        # the default route from the router advertisements (KubeVirt sends none)
        guest.wait_for(r'^VMNET-IP6 if=eth0 addrs=fd10:0:2::2/128 defroute=fe80::', timeout=60, anywhere=True)
        # inbound over IPv6 to the pod IP reaches the guest; its outbound arrives from the pod IP
        # (the guest learns its hostname from DHCPv4 only)
        wait_http(client, pod_v6, 80, 'hello-from-%s' % (guest.name if stack == 'dual' else 'vmnet-guest'))
        guest.wait_for(r'^VMNET-CONNECT dst=%s:7777 ok' % re.escape(client_v6), timeout=60, anywhere=True)
        assert server.stdout.readline().strip() == pod_v6

        apply(network, spec, guest.name, state='absent')
        assert_nothing_left(network, guest.name)
    finally:
        network.cleanup()
