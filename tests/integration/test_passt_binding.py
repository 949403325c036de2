# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passt binding end to end: passt in the pod, the guest on the pod's own IP.

One real guest (the core ``passtBinding`` shape) proves the binding: its DHCP lease is the
pod's address, prefix and gateway; a client pod reaches its forwarded port on the pod IP
(and not a port that is not forwarded); its outbound connection reaches the client from
the pod IP. A second guest on a dual-stack pod gets the pod's IPv6 too (DHCPv6, and the
default route from passt's router advertisement) and is reached, and reaches, over IPv6.
The two other manifest shapes (the old core ``passt`` and the plugin
``binding: {name: passt}``) are proven to build exactly the same pod and domain, without a
boot. The client pod is a second namespace on the test's own pod network.
"""

import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import libvirt
import pytest

from conftest import PER_DEVICE_BOOT
from modules import run_module
import test_masquerade_binding as masquerade
from podnet import PodNetwork, ip_json, pod_module
from test_masquerade_binding import http_get, lease_fields, wait_http

from ansible_collections.vmnet.networks.plugins.module_utils import names, replumb
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import common
from ansible_collections.vmnet.networks.plugins.module_utils.host import passt as passt_host
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_qemu_args import QEMU_NS
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

pytestmark = pytest.mark.skipif(not any(os.access(os.path.join(d, 'passt'), os.X_OK)
                                        for d in os.environ.get('PATH', '').split(':') + ['/usr/bin']),
                                reason='passt is not installed')

peer_server = masquerade.peer_server   # the fixture
DNS = ['10.96.0.10']
SEARCH = ['default.svc.cluster.local']
# KubeVirt's registration but its NAD (the kubevirt-passt-binding CNI plugin, which only sets the
# two sysctls that vmnet sets itself, does not exist here)
PLUGINS = {'passt': {'sidecarImage': 'quay.io/kubevirt/network-passt-binding:v1.7.0',
                     'migration': {'method': 'link-refresh'}}}
SHAPES = {
    # KubeVirt v1.8+: the core binding, behind its gate
    'passtBinding': ({'passtBinding': {}}, {'feature_gates': ['PasstBinding']}),
    # KubeVirt v0.5x-v1.2: the old core binding, behind its gate
    'passt': ({'passt': {}}, {'feature_gates': ['Passt']}),
    # KubeVirt v1.1-v1.8: the network binding plugin
    'plugin': ({'binding': {'name': 'passt'}}, {'network_binding_plugins': PLUGINS}),
}


# the interface's device fields, on the NIC vmnet gives as QEMU arguments
DEVICE = {'pciAddress': '0000:00:0a.0', 'bootOrder': 3, 'acpiIndex': 5}


def spec_of(name, shape, ports=None, mac=None, **device):
    """The normalised spec (vm_spec's output) of a VM with one passt interface of ``shape``
    (``device``: pciAddress, bootOrder, acpiIndex)."""
    method, options = SHAPES[shape]
    iface = dict(method, name='default', **device)
    if ports is not None:
        iface['ports'] = ports
    if mac:
        iface['macAddress'] = mac
    manifest = {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
                'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [iface]}},
                                               'networks': [{'name': 'default', 'pod': {}}]}}}}
    spec, errors = normalize(manifest, options)
    assert errors == [], errors
    return spec


def network(podnet, spec, vm, state='present', **extra):
    return pod_module(podnet, 'vm_network', spec, vm=vm, name='default', state=state, **extra)


def interface(podnet, spec, vm, state='present', **extra):
    return pod_module(podnet, 'vm_interface', spec, vm=vm, name='default', state=state, dns_servers=DNS,
                      dns_search=SEARCH, **extra)


def apply(podnet, spec, vm):
    net, iface = network(podnet, spec, vm), interface(podnet, spec, vm)
    assert not net.get('failed') and not iface.get('failed'), (net, iface)
    return net, iface


def remove(podnet, spec, vm):
    iface, net = interface(podnet, spec, vm, state='absent'), network(podnet, spec, vm, state='absent')
    assert not net.get('failed') and not iface.get('failed'), (net, iface)
    return net, iface


def passt_pids(netns):
    """PIDs of processes (passt) in the pod's namespace."""
    out = subprocess.run(['ip', 'netns', 'pids', netns], stdout=subprocess.PIPE, universal_newlines=True,
                         check=False).stdout
    return [int(pid) for pid in out.split()]


def process_argv(pid):
    with open('/proc/%d/cmdline' % pid) as handle:
        return handle.read().split('\0')


def can_raise_open_files():
    code = 'import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (%d, %d))' % ((passt_host.OPEN_FILES,) * 2)
    return subprocess.run([sys.executable, '-c', code], stderr=subprocess.DEVNULL, check=False).returncode == 0


def qemu_args(domain):
    root = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return [arg.get('value') for arg in root.iter('{%s}arg' % QEMU_NS)]


def assert_nothing_left(podnet, vm, netns, socket):
    netns_list = subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE, universal_newlines=True,
                                check=False).stdout
    assert netns not in netns_list.split()
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', vm)))
    assert not os.path.exists(socket)
    assert subprocess.run(['pgrep', '-f', socket], stdout=subprocess.PIPE, check=False).stdout == b''


def test_guest_gets_the_pod_ip_ports_are_forwarded_and_passt_is_supervised(tmp_path, podnet, make_domain, peer_server):
    client, client_ip = podnet.client()
    server = peer_server(client, client_ip, 7777)
    guest = make_domain('vmntpasst', nics_xml=PER_DEVICE_BOOT, cmdline='vmnet.connect=%s:7777' % client_ip)
    spec = spec_of(guest.name, 'passtBinding', ports=[{'name': 'http', 'port': 80}], **DEVICE)
    net, iface = apply(podnet, spec, guest.name)
    pod_cidr = net['pod_interface']['ips'][0]
    pod_ip = pod_cidr.split('/')[0]
    netns = net['netns']
    # the guest's MAC is generated, not the pod interface's (passt's own, see bindings/passt.py)
    mac = common.generated_mac('default', guest.name, 'default')
    assert mac != net['pod_interface']['mac']
    assert iface['interface'] == {'name': 'default', 'mac': mac, 'ipAddress': pod_ip,
                                  'ipAddresses': [pod_ip], 'podInterfaceName': 'eth0', 'linkState': 'up',
                                  'queueCount': 1, 'infoSource': 'domain'}
    # passt runs in the pod, forwarding TCP port 80 only; the pod interface is untouched
    [pid] = passt_pids(netns)
    argv = process_argv(pid)
    assert argv[argv.index('--tcp-ports') + 1] == '80' and argv[argv.index('--udp-ports') + 1] == 'none'
    assert [a['ifname'] for a in ip_json('-n', netns, 'link') if a['ifname'] != 'lo'] == ['eth0']
    socket = argv[argv.index('--socket') + 1]
    assert ('-netdev', 'stream,id=ua-default,server=off,addr.type=unix,addr.path=%s' % socket) == tuple(
        qemu_args(guest.domain)[0:2])
    # the device fields, as KubeVirt gives its passt NIC: the PCI slot on the pc machine's root bus
    assert json.loads(qemu_args(guest.domain)[3]) == {'driver': 'virtio-net-pci', 'netdev': 'ua-default',
                                                      'id': 'ua-default', 'mac': mac, 'bus': 'pci.0', 'addr': '0xa',
                                                      'bootindex': 3, 'acpi-index': 5}

    guest.start()
    # the guest finds its NIC in that slot, with that ACPI index (bootindex: only firmware reads it)
    # (a transitional virtio-net-pci here, QEMU's default for a raw -device on the pc machine)
    guest.wait_for(r'^VMNET-DEVICE if=eth0 pci=0000:00:0a\.0 id=0x1af4:0x1000 driver=virtio_net acpi_index=5$', timeout=90)
    lease = lease_fields(guest.wait_for(r'^VMNET-LEASE .*$', timeout=90))
    # the guest's lease is the pod's own address, prefix and gateway
    assert (lease['ip'], lease['mask'], lease['router']) == (pod_ip, pod_cidr.split('/')[1], podnet.gateway)
    assert (lease['mac'], lease['dns'], lease['search']) == (mac, DNS[0], SEARCH[0])
    # inbound: the forwarded port reaches the guest on the pod IP, another port does not
    wait_http(client, pod_ip, 80, 'hello-from-vmnet-guest')
    assert http_get(client, pod_ip, 8080).returncode != 0
    # outbound: the guest reaches the client pod, from the pod IP
    guest.wait_for(r'^VMNET-CONNECT dst=%s:7777 ok' % re.escape(client_ip), timeout=60)
    assert server.stdout.readline().strip() == pod_ip

    info = run_module('vm_interface_info', vm=guest.name, state_dir=podnet.state_dir)
    assert info['interfaces'] == [iface['interface']]

    # idempotent; passt killed: repaired by a re-run, which tells that QEMU must reconnect
    again = interface(podnet, spec, guest.name)
    assert (again['changed'], again['actions'], again['restart_required']) == (False, [], False), again
    os.kill(pid, 9)
    preview = interface(podnet, spec, guest.name, check_mode=True)
    assert (preview['changed'], preview['actions']) == (True, ['repair passt']), preview
    assert passt_pids(netns) == []
    fixed = interface(podnet, spec, guest.name)
    assert (fixed['actions'], fixed['restart_required']) == (['repair passt'], True), fixed
    [new_pid] = passt_pids(netns)
    assert new_pid != pid and process_argv(new_pid) == argv
    # a host reboot: the domain stops, the pod, passt and /run go; the boot hook re-plumbs
    guest.domain.destroy()
    os.kill(new_pid, 9)
    subprocess.run(['ip', 'netns', 'del', netns], check=True)
    os.unlink(socket)
    hook_config = podnet.hook_config(str(tmp_path / 'hook.json'))
    assert replumb.main([guest.name, 'prepare', 'begin', '-'], io.StringIO(guest.domain.XMLDesc(0)), hook_config) == 0
    [pid] = passt_pids(netns)
    assert process_argv(pid) == argv
    guest.start()      # QEMU connects to the new passt; the pod kept its IP
    wait_http(client, pod_ip, 80, 'hello-from-vmnet-guest', timeout=90)
    again = interface(podnet, spec, guest.name)
    assert (again['changed'], again['actions']) == (False, []), again

    # no ports: passt forwards every port, which takes a socket per port and protocol
    all_ports = spec_of(guest.name, 'passtBinding', **DEVICE)
    changed = interface(podnet, all_ports, guest.name)
    if can_raise_open_files():
        assert changed.get('actions') == ['configure passt'], changed
        [pid] = passt_pids(netns)
        argv = process_argv(pid)
        assert argv[argv.index('--tcp-ports') + 1] == 'all' and argv[argv.index('--udp-ports') + 1] == 'all'
    else:   # a machine without CAP_SYS_RESOURCE (this CI's sandbox): a clear failure
        assert changed['failed'] and 'list the ports to forward in "ports"' in changed['msg'], changed

    guest.domain.destroy()
    net, iface = remove(podnet, all_ports, guest.name)
    assert {'stop passt', 'remove passt files'} & set(iface['actions']) and iface['changed'], iface
    net, iface = remove(podnet, all_ports, guest.name)
    assert not iface['changed'] and not net['changed']
    assert_nothing_left(podnet, guest.name, netns, socket)


def _plan(podnet, make_domain, shape):
    """What one shape builds: passt's arguments and the domain's QEMU arguments, with the
    VM's own names (socket path, MAC) taken out."""
    guest = make_domain('vmntpasst')
    spec = spec_of(guest.name, shape, ports=[{'port': 80}, {'port': 53, 'protocol': 'UDP'}, {'port': 80}],
                   mac='52:54:00:00:00:99')
    preview = interface(podnet, spec, guest.name, check_mode=True)
    assert preview['changed'] and 'interface' not in preview, preview
    net, iface = apply(podnet, spec, guest.name)
    [pid] = passt_pids(net['netns'])
    socket = passt_host.socket_path(net['netns'], 'default')
    plan = {'passt': [a.replace(socket, '<socket>').replace(guest.name, '<vm>') for a in process_argv(pid)],
            'qemu': [a.replace(socket, '<socket>') for a in qemu_args(guest.domain)],
            'status': dict(iface['interface'], mac=None, ipAddress=None, ipAddresses=None),
            'actions': [a.replace(guest.name, '<vm>') for a in iface['actions']]}
    again = interface(podnet, spec, guest.name)
    assert (again['changed'], again['actions']) == (False, []), again
    remove(podnet, spec, guest.name)
    net, iface = remove(podnet, spec, guest.name)
    assert not iface['changed'] and not net['changed']
    assert_nothing_left(podnet, guest.name, net['netns'], socket)
    return plan


def test_the_three_manifest_shapes_build_the_same_pod_and_domain(podnet, make_domain):
    plans = dict((shape, _plan(podnet, make_domain, shape)) for shape in SHAPES)
    assert plans['passt'] == plans['passtBinding'] == plans['plugin']
    plan = plans['passtBinding']
    assert plan['actions'][:2] == ['configure sysctl', 'create passt'], plan['actions']
    passt_args = plan['passt']
    assert passt_args[passt_args.index('--tcp-ports') + 1] == '80'
    assert passt_args[passt_args.index('--udp-ports') + 1] == '53'
    assert plan['qemu'] == ['-netdev', 'stream,id=ua-default,server=off,addr.type=unix,addr.path=<socket>',
                            '-device', '{"driver":"virtio-net-pci","netdev":"ua-default","id":"ua-default",'
                            '"mac":"52:54:00:00:00:99"}']


def test_dual_stack_pod(tmp_path, make_domain, peer_server):
    """On a dual-stack pod the guest gets both of the pod's addresses: IPv4 by DHCP, IPv6 by
    DHCPv6 (passt's router advertisement sets the M flag and gives the default route, from its
    link-local address, and the pod's /64 for SLAAC); over IPv6 a client pod reaches the
    guest's forwarded port on the pod IP, and the guest reaches the client from the pod IP."""
    podnet = PodNetwork(tmp_path, subnet='10.250.9.0/24', ipv6_subnet='fd00:250:9::/64')
    try:
        client, _client_ip = podnet.client()
        client_v6 = [a['local'] for a in ip_json('-n', client, 'addr', 'show', 'eth0')[0]['addr_info']
                     if a['family'] == 'inet6' and a['scope'] == 'global'][0]
        server = peer_server(client, '::', 7777)   # the client's address may still be in DAD
        guest = make_domain('vmntpasst6', cmdline='vmnet.connect=%s:7777' % client_v6)
        spec = spec_of(guest.name, 'passtBinding', ports=[{'port': 80}])
        net, iface = apply(podnet, spec, guest.name)
        ips = [ip.split('/')[0] for ip in net['pod_interface']['ips']]
        assert sorted(iface['interface']['ipAddresses']) == sorted(ips) and len(ips) == 2
        pod_v4 = [ip for ip in ips if ':' not in ip][0]
        pod_v6 = [ip for ip in ips if ':' in ip][0]
        guest.start()
        lease = lease_fields(guest.wait_for(r'^VMNET-LEASE .*$', timeout=90))
        assert lease['ip'] == pod_v4
        # udhcpc, dhcpcd, init's NIC watch and the connect loop run side by side: their lines
        # come in any order (anywhere=True)
        lease6 = lease_fields(guest.wait_for(r'^VMNET-LEASE6 .*$', timeout=90, anywhere=True))
        assert lease6['ip'] == pod_v6
        # the address (dhcpcd adds a /128) and the default route via passt's link-local address
        guest.wait_for(r'^VMNET-IP6 if=eth0 addrs=(\S*,)?%s/128\S* defroute=fe80::' % re.escape(pod_v6),
                       timeout=60, anywhere=True)
        wait_http(client, pod_v6, 80, 'hello-from-vmnet-guest', timeout=60)
        guest.wait_for(r'^VMNET-CONNECT dst=%s:7777 ok' % re.escape(client_v6), timeout=60, anywhere=True)
        assert server.stdout.readline().strip() == pod_v6
        guest.domain.destroy()
        remove(podnet, spec, guest.name)
    finally:
        podnet.cleanup()
