# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passt binding's plan: passt's forwards (KubeVirt forwards every port when none is
listed), the QEMU stream netdev and device it renders and reads back (with the interface's
PCI address, boot order and ACPI index), and where a binding plugin's NAD goes in the pod."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import pod
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import passt
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_qemu_args as qemu_args
from ansible_collections.vmnet.networks.plugins.module_utils.host.passt import port_spec, socket_path
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize


@pytest.mark.parametrize('ports, tcp, udp', [
    ([], 'all', 'all'),
    ([{'port': 80, 'protocol': 'TCP'}], '80', 'none'),
    ([{'port': 8080, 'protocol': 'TCP'}, {'port': 53, 'protocol': 'UDP'}, {'port': 80, 'protocol': 'TCP'},
      {'port': 80, 'protocol': 'TCP'}], '80,8080', '53'),
])
def test_forwards(ports, tcp, udp):
    assert (port_spec(ports, 'TCP'), port_spec(ports, 'UDP')) == (tcp, udp)


def test_socket_path_is_short_and_per_interface():
    path = socket_path('vmnet-' + 'x' * 60, 'default')
    assert len(path) < 108 and path.startswith('/run/vmnet/passt/')
    assert path != socket_path('vmnet-' + 'x' * 60, 'other')


DEVICE_FIELDS = {'pciAddress': None, 'bootOrder': None, 'acpiIndex': None}


def test_stream_netdev_renders_and_reads_back():
    record = {'interface': 'default', 'original': {'mac': '0a:58:0a:f4:00:05'}, 'socket': '/run/vmnet/passt/ab.sock',
              'generated_mac': '52:54:00:12:34:56'}
    passt.refresh(record, dict(DEVICE_FIELDS, name='default', macAddress=None, model='virtio', ports=[]), 'vm',
                  ['10.96.0.10'], ['cluster.local'])
    netdev, device = qemu_args.render(record['qemu_nic'])
    assert netdev == 'stream,id=ua-default,server=off,addr.type=unix,addr.path=/run/vmnet/passt/ab.sock'
    # the generated MAC, not the pod interface's: passt answers with that one (and its IPv6
    # link-local address is derived from it)
    assert device == '{"driver":"virtio-net-pci","netdev":"ua-default","id":"ua-default","mac":"52:54:00:12:34:56"}'
    assert dict(qemu_args.parse(netdev, device), pci_address=None) == dict(record['qemu_nic'], bus=None, addr=None)
    assert record['dhcp'] is None       # passt serves DHCP itself, not the pod's dnsmasq
    passt.refresh(record, dict(DEVICE_FIELDS, name='default', macAddress='02:00:00:00:00:01', model='virtio', ports=[]),
                  'vm', [], [])
    assert record['guest_mac'] == '02:00:00:00:00:01'


ROOTS = {'pc': "<domain><devices><controller type='pci' index='0' model='pci-root'/></devices></domain>",
         'q35': "<domain><devices><controller type='pci' index='0' model='pcie-root'/>"
                "<controller type='pci' index='3' model='pcie-root-port'/></devices></domain>"}


@pytest.mark.parametrize('machine,address,bus,addr', [
    ('pc', '0000:00:0a.0', 'pci.0', '0xa'),
    ('q35', '0000:00:1f.3', 'pcie.0', '0x1f.0x3'),
    ('q35', '0000:03:00.0', 'pci.3', '0x0'),
])
def test_the_device_fields_go_on_the_device_argument_and_read_back(machine, address, bus, addr):
    """pciAddress (as libvirt names the PCI buses), bootOrder and acpiIndex, as KubeVirt gives its passt NIC."""
    record = {'interface': 'default', 'original': {'mac': '0a:58:0a:f4:00:05'}, 'socket': '/run/vmnet/passt/ab.sock',
              'generated_mac': '52:54:00:12:34:56'}
    passt.refresh(record, dict(name='default', macAddress=None, model='virtio', ports=[], pciAddress=address,
                               bootOrder=2, acpiIndex=7), 'vm', [], [])
    nic = dict(record['qemu_nic'], **qemu_args.placement(ET.fromstring(ROOTS[machine]), address))
    netdev, device = qemu_args.render(nic)
    assert json.loads(device) == {'driver': 'virtio-net-pci', 'netdev': 'ua-default', 'id': 'ua-default',
                                  'mac': '52:54:00:12:34:56', 'bus': bus, 'addr': addr, 'bootindex': 2, 'acpi-index': 7}
    assert dict(qemu_args.parse(netdev, device), pci_address=address) == nic


@pytest.mark.parametrize('address,message', [
    ('0001:00:0a.0', 'domain 0000'),
    ('0000:05:01.0', 'no PCI controller of index 5'),
])
def test_a_pci_address_the_domain_cannot_place_is_refused_naming_the_field(address, message):
    class Domain(object):
        def definitions(self):
            return ET.fromstring(ROOTS['pc']), None
    with pytest.raises(VmnetError) as caught:
        passt.check_domain(Domain(), dict(DEVICE_FIELDS, name='default', index=1, pciAddress=address))
    assert caught.value.field == 'interfaces[1].pciAddress' and message in str(caught.value)


def test_plugin_nad_goes_after_the_secondary_networks():
    manifest = {'interfaces': [{'name': 'default', 'masquerade': {}}, {'name': 'red', 'bridge': {}},
                               {'name': 'blue', 'binding': {'name': 'tap'}}],
                'networks': [{'name': 'default', 'pod': {}}, {'name': 'red', 'multus': {'networkName': 'r'}},
                             {'name': 'blue', 'multus': {'networkName': 'b'}}]}
    spec, errors = normalize(manifest, {'network_binding_plugins': {
        'tap': {'domainAttachmentType': 'managedTap', 'networkAttachmentDefinition': 'kube-system/tap-cni'}}})
    assert errors == []
    assert pod.plugin_network(spec, spec['interfaces'][2]) == {
        'name': 'blue.plugin', 'source': 'multus', 'primary': False, 'podInterfaceName': 'net3',
        'multus': {'namespace': 'kube-system', 'networkName': 'tap-cni', 'default': False},
        'logicNetworkName': 'blue'}
    assert pod.plugin_network(spec, spec['interfaces'][1]) is None
