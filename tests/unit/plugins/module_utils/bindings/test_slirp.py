# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The slirp binding renders KubeVirt's (<= v1.0) QEMU arguments (reference §6.1;
kubevirt:v1.2.0:cmd/sidecars/network-slirp-binding/domain/domain.go), and the adapter edits
only its own argument pairs of a domain definition, comparing them as data."""

import os
import types
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import status
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import slirp
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_qemu_args as qemu_args

pytest.importorskip('libvirt')

DOMAIN_RNG = '/usr/share/libvirt/schemas/domain.rng'
MAC = '52:54:00:aa:bb:cc'


def iface(**fields):
    values = {'name': 'default', 'model': 'virtio', 'macAddress': None, 'ports': [],
              'vmNetworkCIDR': '10.0.2.0/24', 'podInterfaceName': 'eth0'}
    values.update(fields)
    return values


def args_of(spec_iface, hostname='vm1', search=()):
    record = {'generated_mac': MAC}
    slirp.refresh(record, spec_iface, hostname, ['10.96.0.10'], list(search))
    return qemu_args.render(record['qemu_nic'])


# --- KubeVirt's arguments ------------------------------------------------------------------

def test_kubevirt_arguments_with_vmnets_differences():
    """KubeVirt: ``user,id=default,net=10.0.2.0/24,dnssearch=a,hostfwd=tcp::80-:80`` and
    ``{"driver":"e1000","netdev":"default","id":"default"}``. vmnet: the ids are the user
    alias, forwards bind to the host's loopback, the hostname is offered, the MAC is set."""
    netdev, device = args_of(iface(ports=[{'name': 'http', 'port': 80, 'protocol': 'TCP'}]),
                             search=['default.svc.cluster.local', 'svc.cluster.local'])
    assert netdev == ('user,id=ua-default,net=10.0.2.0/24,hostname=vm1,'
                      'dnssearch=default.svc.cluster.local,dnssearch=svc.cluster.local,'
                      'hostfwd=tcp:127.0.0.1:80-:80')
    assert device == '{"driver":"e1000","netdev":"ua-default","id":"ua-default","mac":"52:54:00:aa:bb:cc"}'


def test_no_ports_no_search_no_hostname():
    netdev, _device = args_of(iface(vmNetworkCIDR='192.168.100.0/24'), hostname=None)
    assert netdev == 'user,id=ua-default,net=192.168.100.0/24'


def test_duplicate_forwards_are_collapsed_in_order():
    ports = [{'port': 80, 'protocol': 'TCP'}, {'port': 53, 'protocol': 'UDP'},
             {'port': 80, 'protocol': 'TCP'}, {'port': 80, 'protocol': 'UDP'}]
    assert slirp.host_forwards(ports) == ['tcp:127.0.0.1:80-:80', 'udp:127.0.0.1:53-:53', 'udp:127.0.0.1:80-:80']


@pytest.mark.parametrize('spec_model, device_model', [
    ('virtio', 'e1000'), ('e1000', 'e1000'), ('e1000e', 'e1000'), ('igb', 'e1000'),
    ('ne2k_pci', 'e1000'), ('pcnet', 'e1000'), ('rtl8139', 'rtl8139'),
])
def test_model_is_e1000_unless_rtl8139(spec_model, device_model):
    assert slirp.model(iface(model=spec_model)) == device_model


def test_mac_address_wins_and_the_generated_one_is_stable():
    assert '"mac":"02:00:00:00:00:01"' in args_of(iface(macAddress='02:00:00:00:00:01'))[1]
    generated = slirp.generated_mac('default', 'vm1', 'default')
    assert generated == slirp.generated_mac('default', 'vm1', 'default')
    assert generated.startswith('52:54:00:') and len(generated) == 17
    assert len({generated, slirp.generated_mac('default', 'vm2', 'default'), slirp.generated_mac('default', 'vm1', 'red'),
                slirp.generated_mac('other', 'vm1', 'default')}) == 4


# --- parsing -----------------------------------------------------------------------------

def nic(**fields):
    values = {'alias': 'ua-default', 'netdev': 'user', 'model': 'e1000', 'mac': MAC, 'net': '10.0.2.0/24',
              'hostname': 'vm1', 'dnssearch': ['a.example'], 'hostfwd': ['tcp:127.0.0.1:8080-:8080'], 'socket': None,
              'bus': None, 'addr': None, 'bootindex': None, 'acpi_index': None}   # KubeVirt's slirp: no PCI/boot/ACPI
    values.update(fields)
    return values


@pytest.mark.parametrize('fields', [{}, {'hostname': None, 'dnssearch': [], 'hostfwd': []},
                                    {'dnssearch': ['odd,domain']}, {'model': 'rtl8139'}])
def test_arguments_read_back_as_rendered(fields):
    assert qemu_args.parse(*qemu_args.render(nic(**fields))) == nic(**fields)


def test_a_comma_in_a_value_is_doubled():
    assert 'dnssearch=odd,,domain,hostfwd' in qemu_args.render(nic(dnssearch=['odd,domain']))[0]


def test_parsing_is_by_meaning_not_text():
    spaced = '{ "id": "ua-default", "mac": "52:54:00:AA:BB:CC", "netdev": "ua-default", "driver": "e1000" }'
    netdev = 'type=user,hostfwd=tcp:127.0.0.1:8080-:8080,net=10.0.2.0/24,id=ua-default,dnssearch=a.example,hostname=vm1'
    assert qemu_args.parse(netdev, spaced) == nic()


def test_half_a_pair():
    netdev, _device = qemu_args.render(nic())
    assert qemu_args.parse(netdev, None) == nic(model=None, mac=None)


# --- the domain definition ---------------------------------------------------------------

FOREIGN = "<qemu:arg value='-foo'/><qemu:arg value='user,id=ua-not-a-flag-value'/>"


def domain_xml(args='', env=''):
    commandline = ''
    if args or env:
        commandline = "<qemu:commandline>%s%s</qemu:commandline>" % (args, env)
    return ("<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
            "<name>vmnt-unit</name><uuid>3c1c2f8e-7e4c-4a8e-9a55-0c1d2e3f4a5b</uuid>"
            "<memory unit='KiB'>262144</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>"
            "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>%s</domain>" % commandline)


class FakeDomain(object):
    """The few virDomain calls the adapter makes (libvirt's names); defineXML keeps the XML."""

    def __init__(self, xml, running=False):
        self.xml, self.live = xml, xml if running else None
        self.defined = []

    def XMLDesc(self, flags):
        return self.xml if flags else self.live

    def isActive(self):
        return self.live is not None

    def isPersistent(self):
        return True

    def name(self):
        return 'vmnt-unit'

    def connect(self):
        return self

    def defineXML(self, xml):
        self.defined.append(xml)
        self.xml = xml


def nics_of(domain):
    """A DomainNics as libvirt_qemu_args uses it: its domain, and the definitions it reads."""
    return types.SimpleNamespace(domain=domain, definitions=lambda: qemu_args._definitions(domain))


def arg_values(xml):
    root = ET.fromstring(xml)
    return [arg.get('value') for arg in root.iter('{%s}arg' % qemu_args.QEMU_NS)]


def test_added_after_foreign_arguments_which_stay_as_they_are():
    domain = FakeDomain(domain_xml(FOREIGN, "<qemu:env name='X' value='1'/>"))
    result = qemu_args.ensure(nics_of(domain), nic())
    assert result['actions'] == ['add "ua-default" to the QEMU command line of the persistent definition']
    assert (result['before'], result['after'], result['restart_required']) == (
        {'config': None, 'live': None}, {'config': nic(), 'live': None}, False)
    assert arg_values(domain.xml) == ['-foo', 'user,id=ua-not-a-flag-value', '-netdev', qemu_args.render(nic())[0],
                                      '-device', qemu_args.render(nic())[1]]
    assert ET.fromstring(domain.xml).find('{%s}commandline/{%s}env' % (qemu_args.QEMU_NS, qemu_args.QEMU_NS)) is not None
    again = qemu_args.ensure(nics_of(domain), nic())
    assert (again['changed'], again['actions'], len(domain.defined)) == (False, [], 1)


def test_a_change_replaces_the_pair_where_it_was():
    domain = FakeDomain(domain_xml())
    qemu_args.ensure(nics_of(domain), nic())
    qemu_args.ensure(nics_of(domain), nic(alias='ua-red', mac='52:54:00:00:00:01'))
    result = qemu_args.ensure(nics_of(domain), nic(hostfwd=[], model='rtl8139'))
    assert result['actions'] == ['replace "ua-default" on the QEMU command line of the persistent definition '
                                 '(model, hostfwd)']
    values = arg_values(domain.xml)
    assert values[1] == qemu_args.render(nic(hostfwd=[], model='rtl8139'))[0] and values[5].startswith('user,id=ua-red,')


def test_check_mode_changes_nothing():
    domain = FakeDomain(domain_xml())
    result = qemu_args.ensure(nics_of(domain), nic(), check_mode=True)
    assert result['changed'] and domain.defined == []


def test_a_running_domain_needs_a_restart_until_it_started_with_the_pair():
    domain = FakeDomain(domain_xml(), running=True)
    assert qemu_args.ensure(nics_of(domain), nic())['restart_required']
    domain.live = domain.xml  # restarted
    assert not qemu_args.ensure(nics_of(domain), nic())['restart_required']
    assert qemu_args.list_nics(nics_of(domain)) == [{'alias': 'ua-default', 'mac': MAC, 'model': 'e1000'}]
    removed = qemu_args.remove(nics_of(domain), 'ua-default')
    assert removed['changed'] and removed['restart_required']


def test_remove_takes_out_only_the_pair_and_an_empty_commandline():
    domain = FakeDomain(domain_xml(FOREIGN))
    qemu_args.ensure(nics_of(domain), nic())
    qemu_args.remove(nics_of(domain), 'ua-default')
    assert arg_values(domain.xml) == ['-foo', 'user,id=ua-not-a-flag-value']
    bare = FakeDomain(domain_xml())
    qemu_args.ensure(nics_of(bare), nic())
    qemu_args.remove(nics_of(bare), 'ua-default')
    assert 'commandline' not in bare.xml
    assert not qemu_args.remove(nics_of(bare), 'ua-default')['changed']


def test_the_edited_definition_is_valid_for_libvirt():
    etree = pytest.importorskip('lxml.etree')
    if not os.path.exists(DOMAIN_RNG):
        pytest.skip('%s is missing (package libvirt0)' % DOMAIN_RNG)
    domain = FakeDomain(domain_xml(FOREIGN))
    qemu_args.ensure(nics_of(domain), nic())
    schema = etree.RelaxNG(etree.parse(DOMAIN_RNG))
    assert schema.validate(etree.fromstring(domain.xml)), schema.error_log


def test_status_entry_of_a_slirp_nic():
    record = {'pod_iface': 'eth0', 'binding': 'slirp', 'original': {'addresses': ['10.88.0.5/16']}}
    entry = status.entry('default', {'alias': 'ua-default', 'mac': MAC, 'model': 'e1000'}, record)
    assert entry == {'name': 'default', 'infoSource': 'domain', 'podInterfaceName': 'eth0', 'mac': MAC,
                     'linkState': 'up', 'queueCount': 1, 'ipAddress': '10.88.0.5', 'ipAddresses': ['10.88.0.5']}
