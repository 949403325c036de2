# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passt binding's plan: passt's forwards (KubeVirt forwards every port when none is
listed), the QEMU stream netdev it renders and reads back, and where a binding plugin's NAD
goes in the pod."""

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import pod
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import passt
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


def test_stream_netdev_renders_and_reads_back():
    record = {'interface': 'default', 'original': {'mac': '0a:58:0a:f4:00:05'}, 'socket': '/run/vmnet/passt/ab.sock',
              'generated_mac': '52:54:00:12:34:56'}
    passt.refresh(record, {'name': 'default', 'macAddress': None, 'model': 'virtio', 'ports': []}, 'vm', ['10.96.0.10'],
                  ['cluster.local'])
    netdev, device = qemu_args.render(record['qemu_nic'])
    assert netdev == 'stream,id=ua-default,server=off,addr.type=unix,addr.path=/run/vmnet/passt/ab.sock'
    # the generated MAC, not the pod interface's: passt answers with that one (and its IPv6
    # link-local address is derived from it)
    assert device == '{"driver":"virtio-net-pci","netdev":"ua-default","id":"ua-default","mac":"52:54:00:12:34:56"}'
    assert qemu_args.parse(netdev, device) == record['qemu_nic']
    assert record['dhcp'] is None       # passt serves DHCP itself, not the pod's dnsmasq
    passt.refresh(record, {'name': 'default', 'macAddress': '02:00:00:00:00:01', 'model': 'virtio', 'ports': []},
                  'vm', [], [])
    assert record['guest_mac'] == '02:00:00:00:00:01'


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
