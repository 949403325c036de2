# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift, piece by piece: every piece a binding owns is deleted or altered by hand under a
running guest; the next run must report the repair (changed), put the piece back (seen on
the host, not in the module's words), carry the guest's traffic again, and the run after it
must change nothing.

One guest per binding, booted once for the module (a TCG boot costs ~20 s): the bridge guest
is pinged from a client pod at the pod IP, the masquerade guest (dual stack) answers HTTP on
the pod IPs through NAT.
"""

import json
import os
import signal
import subprocess
import time

import libvirt
import pytest

from podnet import PodNetwork, ip_json, netns_run, pod_module
from snapshot import tcx as tcx_programs

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.host import bpf, glue_bpf, libvirt_domain, netlink

DNS = ['10.96.0.10']
PRIMARY = names.PRIMARY_POD_IFACE
LIVE_AND_CONFIG = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG


def manifest(name, binding):
    iface = {'name': 'default', binding: {}}
    if binding == 'masquerade':
        iface['ports'] = [{'port': 80}]
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [iface]}},
                                           'networks': [{'name': 'default', 'pod': {}}]}}}}


class Vm(object):
    """A running guest of one binding, its pod network and a client pod."""

    def __init__(self, network, guest, binding):
        self.network, self.guest, self.binding = network, guest, binding
        self.name = guest.name
        self.spec = manifest(guest.name, binding)
        self.pod = names.pod_netns('default', guest.name)
        self.host_tap, self.host_veth = names.host_links(self.pod, PRIMARY)
        self.state = os.path.join(network.state_dir, names.pod_id('default', guest.name))
        self.client = self.client_ip = self.pod_ips = None

    def run(self, module='vm_interface', **extra):
        if module == 'vm_interface':
            extra['dns_servers'] = DNS
        result = pod_module(self.network, module, self.spec, vm=self.name, name='default', **extra)
        assert not result.get('failed'), result
        return result


def _boot(tmp_path_factory, make_module_domain, binding, **network):
    net = PodNetwork(tmp_path_factory.mktemp('drift-' + binding), **network)
    try:
        vm = Vm(net, make_module_domain('vmntdrift'), binding)
        vm.run('vm_network')
        created = vm.run()
        vm.pod_ips = [ip.split('/')[0] for ip in created['interface']['ipAddresses']]
        vm.client, vm.client_ip = net.client()
        vm.guest.start()
        vm.guest.wait_for(r'^VMNET-LEASE if=eth0 ', timeout=120)
        yield vm
        vm.run(state='absent')
        vm.run('vm_network', state='absent')
    finally:
        leaks = net.cleanup()
    assert leaks == [], leaks


@pytest.fixture(scope='module')
def bridge_vm(tmp_path_factory, make_module_domain):
    yield from _boot(tmp_path_factory, make_module_domain, 'bridge')


@pytest.fixture(scope='module')
def masquerade_vm(tmp_path_factory, make_module_domain):
    yield from _boot(tmp_path_factory, make_module_domain, 'masquerade', ipv6_subnet='fd00:250:9::/64')


# --- traffic ----------------------------------------------------------------------------

def _until(what, probe, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        ok, detail = probe()
        if ok:
            return
        if time.monotonic() > deadline:
            raise AssertionError('%s: %s' % (what, detail))
        time.sleep(1)


def assert_ping(vm, timeout=60):
    def probe():
        proc = netns_run(vm.client, 'busybox', 'ping', '-c', '1', '-W', '2', vm.pod_ips[0], check=False)
        return proc.returncode == 0, proc.stdout + proc.stderr
    _until('no ping reply from %s at %s' % (vm.name, vm.pod_ips[0]), probe, timeout)


def assert_http(vm, timeout=60):
    """Every pod IP (both families) answers on port 80: DNAT to the guest's httpd."""
    for address in vm.pod_ips:
        host = '[%s]' % address if ':' in address else address
        code = ('import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('
                '"http://%s:80/", timeout=3).read().decode())' % host)

        def probe():
            proc = netns_run(vm.client, 'python3', '-c', code, check=False, timeout=20)
            return proc.stdout.strip().startswith('hello-from-'), proc.stdout + proc.stderr
        _until('no HTTP answer from %s at %s' % (vm.name, address), probe, timeout)


# --- pieces: (break it, see it back) ------------------------------------------------------

def pod_link(vm, ifname):
    links = [link for link in ip_json('-n', vm.pod, '-d', 'link') if link['ifname'] == ifname]
    return links[0] if links else None


def host_link(vm, ifname):
    links = [link for link in ip_json('-d', 'link') if link['ifname'] == ifname]
    return links[0] if links else None


def sysctl(vm, key):
    return netns_run(vm.pod, 'cat', '/proc/sys/' + key.replace('.', '/')).stdout.strip()


def set_sysctl(vm, key, value):
    netns_run(vm.pod, 'sh', '-c', 'echo %s > /proc/sys/%s' % (value, key.replace('.', '/')))


def redirects(vm):
    return [subprocess.run(['tc', 'filter', 'show', 'dev', dev, 'ingress'], stdout=subprocess.PIPE,
                           universal_newlines=True, check=True).stdout for dev in (vm.host_tap, vm.host_veth)]


def tcx_glue(vm):
    """Whether the glue is its two tcx programs, each naming the other link, and no qdisc filter."""
    tap, veth = host_link(vm, vm.host_tap)['ifindex'], host_link(vm, vm.host_veth)['ifindex']
    found = tcx_programs(None, (vm.host_tap, vm.host_veth))
    return ([[p.split('#')[0] for p in found.get(dev, {}).get('ingress', [])] for dev in (vm.host_tap, vm.host_veth)]
            == [['vmnet_p%x' % veth], ['vmnet_r%x' % tap]] and not any(f.strip() for f in redirects(vm)))


def detach_veth_program(vm):
    with netlink.Namespace() as host:
        glue_bpf.tcx_detach_ours(host, vm.host_veth)


def half_cls_bpf(vm):
    """The tap's program as a cls_bpf filter instead (the shape of kernels without tcx), the veth's gone."""
    with netlink.Namespace() as host:
        glue_bpf.disconnect(host, vm.host_tap, vm.host_veth)
        glue_bpf.cls_attach(host, vm.host_tap, bpf.BPF_FUNC_REDIRECT_PEER, host.link(vm.host_veth)['index'])


def dnsmasq_pid(vm):
    try:
        with open(os.path.join(vm.state, 'dnsmasq.pid')) as handle:
            pid = int(handle.read())
        with open('/proc/%d/cmdline' % pid) as handle:
            return pid if 'dnsmasq' in handle.read() else None
    except (OSError, ValueError):
        return None


def kill_dnsmasq(vm):
    pid = dnsmasq_pid(vm)
    os.kill(pid, signal.SIGKILL)
    _until('dnsmasq %d did not die' % pid, lambda: (dnsmasq_pid(vm) is None, pid), 10)


def domain_nic(vm, flags=0):
    xml = vm.guest.domain.XMLDesc(flags)
    return "<alias name='%s'/>" % names.user_alias('default') in xml


def detach_nic(vm):
    xml = vm.guest.domain.XMLDesc(0)
    start = xml.rfind('<interface ', 0, xml.index("<alias name='ua-default'/>"))
    vm.guest.domain.detachDeviceFlags(xml[start:xml.index('</interface>', start) + len('</interface>')],
                                      LIVE_AND_CONFIG)
    _until('the guest did not give the NIC back', lambda: (not domain_nic(vm), 'still there'), 60)
    vm.guest.wait_for(r'^VMNET-NIC-GONE if=eth0$', timeout=30)


def pod_metadata(vm, flags):
    try:
        return vm.guest.domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, libvirt_domain.METADATA_URI, flags)
    except libvirt.libvirtError:
        return None


def drop_metadata(vm):
    vm.guest.domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, libvirt_domain.METADATA_URI,
                                LIVE_AND_CONFIG)


def nft_tables(vm):
    listing = json.loads(netns_run(vm.pod, 'nft', '-j', 'list', 'tables').stdout)['nftables']
    return sorted('%s %s' % (t['table']['family'], t['table']['name']) for t in listing if 'table' in t)


def delete_first_rule(vm, family, chain):
    listing = json.loads(netns_run(vm.pod, 'nft', '-j', '-a', 'list', 'chain', family, 'nat', chain).stdout)
    rule = [i['rule'] for i in listing['nftables'] if 'rule' in i][0]
    netns_run(vm.pod, 'nft', 'delete', 'rule', family, 'nat', chain, 'handle', str(rule['handle']))


def chain_rules(vm, family, chain):
    listing = json.loads(netns_run(vm.pod, 'nft', '-j', 'list', 'chain', family, 'nat', chain).stdout)
    return len([i for i in listing['nftables'] if 'rule' in i])


BRIDGE = names.bridge_name(PRIMARY)
NIC = names.renamed_nic(PRIMARY)
POD_TAP = names.pod_tap(PRIMARY)
ARP_IGNORE = 'net.ipv4.conf.all.arp_ignore'

# piece -> (break, is it back?, an action the repair run must report)
COMMON = {
    'bridge': (lambda vm: netns_run(vm.pod, 'ip', 'link', 'del', BRIDGE),
               lambda vm: pod_link(vm, BRIDGE) is not None and pod_link(vm, POD_TAP).get('master') == BRIDGE,
               'repair %s' % BRIDGE),
    'bridge-down': (lambda vm: netns_run(vm.pod, 'ip', 'link', 'set', BRIDGE, 'down'),
                    lambda vm: 'UP' in pod_link(vm, BRIDGE)['flags'], 'repair %s' % BRIDGE),
    'host-tap': (lambda vm: subprocess.run(['ip', 'link', 'del', vm.host_tap], check=True),
                 lambda vm: host_link(vm, vm.host_tap) is not None, 'repair glue'),
    'host-veth': (lambda vm: subprocess.run(['ip', 'link', 'del', vm.host_veth], check=True),
                  lambda vm: host_link(vm, vm.host_veth) is not None and pod_link(vm, POD_TAP) is not None,
                  'repair glue'),
    'pod-tap': (lambda vm: netns_run(vm.pod, 'ip', 'link', 'set', POD_TAP, 'nomaster'),
                lambda vm: pod_link(vm, POD_TAP).get('master') == BRIDGE, 'repair glue'),
    'tc-redirect': (detach_veth_program, tcx_glue, 'repair glue'),
    'tc-redirect-cls-bpf': (half_cls_bpf, tcx_glue, 'repair glue'),
    'dnsmasq': (kill_dnsmasq, lambda vm: dnsmasq_pid(vm) is not None, 'start dnsmasq (not running)'),
    'domain-nic': (detach_nic, lambda vm: domain_nic(vm, 0) and domain_nic(vm, libvirt.VIR_DOMAIN_XML_INACTIVE),
                   None),
    'metadata': (drop_metadata, lambda vm: all(pod_metadata(vm, f) for f in (libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG)),
                 'record the pod of "default/%s" in the domain metadata'),
}

BRIDGE_PIECES = dict(COMMON, **{
    'pod-nic': (lambda vm: netns_run(vm.pod, 'ip', 'link', 'set', NIC, 'nomaster'),
                lambda vm: pod_link(vm, NIC).get('master') == BRIDGE, 'repair %s' % NIC),
    'placeholder': (lambda vm: netns_run(vm.pod, 'ip', 'link', 'del', PRIMARY),
                    lambda vm: pod_link(vm, PRIMARY) is not None, 'repair %s' % PRIMARY),
    'arp_ignore': (lambda vm: set_sysctl(vm, ARP_IGNORE, 0), lambda vm: sysctl(vm, ARP_IGNORE) == '1',
                   'repair sysctl'),
})

MASQUERADE_PIECES = dict(COMMON, **{
    'ip_forward': (lambda vm: set_sysctl(vm, 'net.ipv4.ip_forward', 0),
                   lambda vm: sysctl(vm, 'net.ipv4.ip_forward') == '1', 'repair sysctl'),
    'ipv6-forwarding': (lambda vm: set_sysctl(vm, 'net.ipv6.conf.all.forwarding', 0),
                        lambda vm: sysctl(vm, 'net.ipv6.conf.all.forwarding') == '1', 'repair sysctl'),
    'route_localnet': (lambda vm: set_sysctl(vm, 'net.ipv4.conf.%s.route_localnet' % BRIDGE, 0),
                       lambda vm: sysctl(vm, 'net.ipv4.conf.%s.route_localnet' % BRIDGE) == '1', 'repair sysctl'),
    'nft-ip-table': (lambda vm: netns_run(vm.pod, 'nft', 'delete', 'table', 'ip', 'nat'),
                     lambda vm: 'ip nat' in nft_tables(vm), 'repair nftables'),
    'nft-ip6-table': (lambda vm: netns_run(vm.pod, 'nft', 'delete', 'table', 'ip6', 'nat'),
                      lambda vm: 'ip6 nat' in nft_tables(vm), 'repair nftables'),
    'nft-ip-rule': (lambda vm: delete_first_rule(vm, 'ip', 'KUBEVIRT_PREINBOUND'),
                    lambda vm: chain_rules(vm, 'ip', 'KUBEVIRT_PREINBOUND') == 1, 'repair nftables'),
    'nft-ip6-rule': (lambda vm: delete_first_rule(vm, 'ip6', 'prerouting'),
                     lambda vm: chain_rules(vm, 'ip6', 'prerouting') == 1, 'repair nftables'),
})


def check_drift(vm, piece, pieces, traffic):
    break_it, is_back, action = pieces[piece]
    traffic(vm)                     # it flowed before
    break_it(vm)
    assert not is_back(vm), '%s: breaking it changed nothing' % piece
    repaired = vm.run(diff=True)
    assert repaired['changed'] is True, (piece, repaired)
    if action:
        assert action.replace('%s', vm.name) in repaired['actions'], (piece, repaired['actions'])
    assert is_back(vm), (piece, repaired)
    try:
        traffic(vm)                 # and flows again
    except AssertionError as err:
        debug = subprocess.run('ip -s -d link show %s; ip -s -d link show %s; tc -s filter show dev %s ingress; '
                               'tc -s filter show dev %s ingress; ip -n %s -s -d link; ip -n %s addr' % (
                                   vm.host_tap, vm.host_veth, vm.host_tap, vm.host_veth, vm.pod, vm.pod),
                               shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False).stdout
        debug += 'tcx: %s\n' % tcx_programs(None, (vm.host_tap, vm.host_veth))
        raise AssertionError('%s: %s\nthe repair run: %s\nconsole:\n%s\n%s\n%s'
                             % (piece, err, repaired['actions'], vm.guest.console()[-1500:], debug,
                                vm.guest.domain.XMLDesc(0)))
    again = vm.run()
    assert (again['changed'], again['actions']) == (False, []), (piece, again)


def ordered(pieces):
    """host-tap last: its repair replugs the NIC, and a failure there must not hide the others."""
    return sorted(pieces, key=lambda piece: (piece == 'host-tap', piece))


@pytest.mark.parametrize('piece', ordered(BRIDGE_PIECES))
def test_bridge_piece_drift_is_repaired_and_traffic_flows(bridge_vm, piece):
    check_drift(bridge_vm, piece, BRIDGE_PIECES, assert_ping)


@pytest.mark.parametrize('piece', ordered(MASQUERADE_PIECES))
def test_masquerade_piece_drift_is_repaired_and_traffic_flows(masquerade_vm, piece):
    check_drift(masquerade_vm, piece, MASQUERADE_PIECES, assert_http)
