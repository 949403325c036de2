# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The slirp binding end to end with a real guest: QEMU's own DHCP, a port forwarded from
the host's loopback, and the guest's outbound TCP.

All traffic stays on the host's loopback: QEMU's slirp answers the guest at 10.0.2.2 (its
router, which it maps to the host's 127.0.0.1), the guest connects to nothing else, and the
forward listens on 127.0.0.1 only.
"""

import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

import libvirt
import pytest

from modules import run_module
from podnet import pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import slirp
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_qemu_args import QEMU_NS

SEARCH = ['default.svc.cluster.local']
# A TCP server on the host's loopback: prints its port, then each peer's address.
LOOPBACK_SERVER = r'''
import socket
server = socket.socket()
server.bind(('127.0.0.1', 0))
server.listen(8)
print(server.getsockname()[1], flush=True)
while True:
    conn, peer = server.accept()
    print(peer[0], flush=True)
    conn.close()
'''


def manifest(name, ports):
    """Seed 000's dialect: a kubevirt.io/v1alpha2 VirtualMachineInstance."""
    return {'apiVersion': 'kubevirt.io/v1alpha2', 'kind': 'VirtualMachineInstance', 'metadata': {'name': name},
            'spec': {'domain': {'devices': {'interfaces': [{'name': 'default', 'slirp': {}, 'ports': ports}]}},
                     'networks': [{'name': 'default', 'pod': {}}]}}


def interface(podnet, spec, vm, **args):
    return pod_module(podnet, 'vm_interface', spec, vm=vm, name='default', dns_search=SEARCH,
                      permit_slirp_interface=True, **args)


def qemu_args(domain):
    """The QEMU arguments of the persistent definition."""
    root = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return [arg.get('value') for arg in root.iter('{%s}arg' % QEMU_NS)]


def lease_fields(match):
    return dict(field.split('=', 1) for field in match.group(0).split()[1:])


def wait_console(guest, line, timeout=60):
    """Wait for ``line`` anywhere on the guest's console: the guest's NIC events come in any order."""
    deadline = time.monotonic() + timeout
    while line not in guest.console():
        if time.monotonic() > deadline:
            raise AssertionError('%s: no %r within %d s:\n%s' % (guest.name, line, timeout, guest.console()[-3000:]))
        time.sleep(0.5)


def wait_http(url, expected, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = urllib.request.urlopen(url, timeout=4).read().decode().strip()
        except OSError as err:
            reply = str(err)
        if reply == expected:
            return
        if time.monotonic() > deadline:
            raise AssertionError('no %r from %s: %s' % (expected, url, reply))
        time.sleep(1)


@pytest.fixture
def guest_port():
    """A port free on the host's loopback, chosen per run: slirp forwards 127.0.0.1:<port> to
    the same port of the guest, whose httpd serves it too (vmnet.httpd)."""
    probe = socket.socket()
    try:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]
    finally:
        probe.close()


@pytest.fixture
def loopback_server():
    proc = subprocess.Popen([sys.executable, '-u', '-c', LOOPBACK_SERVER], stdout=subprocess.PIPE,
                            universal_newlines=True)
    try:
        yield proc, int(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_slirp_lease_forward_outbound_status_and_absent(podnet, make_domain, guest_port, loopback_server):
    server, server_port = loopback_server
    guest = make_domain('vmntslirp', cmdline='vmnet.connect=10.0.2.2:%d vmnet.httpd=%d' % (server_port, guest_port))
    spec = manifest(guest.name, [{'name': 'http', 'port': guest_port, 'protocol': 'TCP'}])
    net = pod_module(podnet, 'vm_network', spec, vm=guest.name, name='default', permit_slirp_interface=True)
    pod_ip = net['pod_interface']['ips'][0].split('/')[0]

    # check mode: the change is reported, the definition is not touched
    xml = guest.domain.XMLDesc(0)
    preview = interface(podnet, spec, guest.name, check_mode=True, diff=True)
    assert preview['changed'] and preview['diff']['after']['domain_nic']['config']['hostfwd'] == [
        'tcp:127.0.0.1:%d-:%d' % (guest_port, guest_port)]
    assert guest.domain.XMLDesc(0) == xml

    made = interface(podnet, spec, guest.name)
    assert 'add "ua-default" to the QEMU command line of the persistent definition' in made['actions'], made
    mac = slirp.generated_mac('default', guest.name, 'default')
    assert made['interface'] == {'name': 'default', 'mac': mac, 'ipAddress': pod_ip, 'ipAddresses': [pod_ip],
                                 'podInterfaceName': 'eth0', 'linkState': 'up', 'queueCount': 1,
                                 'infoSource': 'domain'}
    assert qemu_args(guest.domain) == [
        '-netdev', 'user,id=ua-default,net=10.0.2.0/24,hostname=%s,dnssearch=%s,hostfwd=tcp:127.0.0.1:%d-:%d'
        % (guest.name, SEARCH[0], guest_port, guest_port),
        '-device', '{"driver":"e1000","netdev":"ua-default","id":"ua-default","mac":"%s"}' % mac]
    again = interface(podnet, spec, guest.name)
    assert (again['changed'], again['actions'], again['restart_required']) == (False, [], False), again
    net_again = pod_module(podnet, 'vm_network', spec, vm=guest.name, name='default', permit_slirp_interface=True)
    assert (net_again.get('failed'), net_again['changed']) == (None, False), net_again

    # QEMU's DHCP, its router answering pings, the forward from the host's loopback, the
    # guest's outbound connection arriving from the host's loopback
    guest.start()
    lease = lease_fields(guest.wait_for(r'^VMNET-LEASE .*$', timeout=90))
    assert (lease['mac'], lease['ip'], lease['mask'], lease['router'], lease['dns']) == (
        mac, '10.0.2.15', '24', '10.0.2.2', '10.0.2.3')
    assert (lease['hostname'], lease['search']) == (guest.name, SEARCH[0])
    wait_console(guest, 'VMNET-PING if=eth0 dst=10.0.2.2 ok')
    wait_http('http://127.0.0.1:%d/' % guest_port, 'hello-from-%s' % guest.name)
    wait_console(guest, 'VMNET-CONNECT dst=10.0.2.2:%d ok' % server_port)
    assert server.stdout.readline().strip() == '127.0.0.1'

    info = run_module('vm_interface_info', vm=guest.name, state_dir=podnet.state_dir)
    assert info['interfaces'] == [made['interface']]

    # a change to a running domain: in the definition, applied at the next start
    no_ports = manifest(guest.name, [])
    changed = interface(podnet, no_ports, guest.name)
    assert changed['actions'] == ['replace "ua-default" on the QEMU command line of the persistent '
                                  'definition (hostfwd)'] and changed['restart_required'], changed
    assert 'hostfwd' not in qemu_args(guest.domain)[1]
    assert urllib.request.urlopen('http://127.0.0.1:%d/' % guest_port, timeout=4).read()  # still forwarded
    guest.domain.destroy()
    guest.start()
    again = interface(podnet, no_ports, guest.name)
    assert (again['changed'], again['restart_required']) == (False, False), again
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', guest_port), timeout=4)

    # absent: check mode first, then for real, twice
    xml = guest.domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    preview = interface(podnet, no_ports, guest.name, state='absent', check_mode=True)
    assert 'remove "ua-default" from the QEMU command line of the persistent definition' in preview['actions']
    assert guest.domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) == xml
    removed = interface(podnet, no_ports, guest.name, state='absent')
    assert 'remove "ua-default" from the QEMU command line of the persistent definition' in removed['actions']
    assert not interface(podnet, no_ports, guest.name, state='absent')['changed']
    pod_module(podnet, 'vm_network', no_ports, vm=guest.name, name='default', state='absent',
               permit_slirp_interface=True)
    assert 'commandline' not in guest.domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert names.pod_netns('default', guest.name) not in subprocess.run(['ip', 'netns', 'list'],
                                                                        stdout=subprocess.PIPE,
                                                                        universal_newlines=True, check=False).stdout
