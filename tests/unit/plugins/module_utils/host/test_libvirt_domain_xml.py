# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A domain NIC renders as KubeVirt renders it (reference §7), is valid for libvirt's own
schema, and reads back to the same dict; live XML with libvirt's additions reads back
to the fields it has."""

import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import (
    normalise_nic, parse_interface, render_interface)

DOMAIN_RNG = '/usr/share/libvirt/schemas/domain.rng'
MODELS = ['virtio', 'e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139']


def nic(**fields):
    values = {'alias': 'ua-default', 'type': 'ethernet', 'target_dev': 'tap0', 'managed': False,
              'mac': '02:00:00:12:34:56', 'model': 'virtio'}
    values.update(fields)
    return values


CASES = {
    'minimal': nic(),
    'mtu': nic(mtu=1450),
    'pci address': nic(pci_address='0000:00:05.0'),
    'link down': nic(link_state='down'),
    'multiqueue': nic(queues=4),
    'boot order': nic(boot_order=2),
    'acpi index': nic(acpi_index=3),
    'no mac (libvirt assigns one)': nic(mac=None),
    'managed tap named by libvirt': nic(target_dev=None, managed=True),
    'everything': nic(mtu=9000, pci_address='0000:00:1f.7', link_state='down', queues=2,
                      boot_order=1, acpi_index=7),
}
CASES.update(('model %s' % model, nic(model=model)) for model in MODELS)


def element(xml):
    return ET.fromstring(xml)


@pytest.fixture(scope='module')
def domain_schema():
    etree = pytest.importorskip('lxml.etree')
    if not os.path.exists(DOMAIN_RNG):
        pytest.skip('%s is missing (package libvirt0)' % DOMAIN_RNG)
    schema = etree.RelaxNG(etree.parse(DOMAIN_RNG))

    def validate(interface_xml):
        domain = etree.fromstring(
            "<domain type='qemu'><name>vmnt-rng</name><memory unit='MiB'>256</memory>"
            "<os><type arch='x86_64' machine='pc'>hvm</type></os>"
            "<devices>%s</devices></domain>" % interface_xml)
        if not schema.validate(domain):
            raise AssertionError('%s\n%s' % (interface_xml, schema.error_log))

    return validate


@pytest.mark.parametrize('name', sorted(CASES))
def test_render_is_valid_for_libvirt(name, domain_schema):
    domain_schema(render_interface(CASES[name]))


@pytest.mark.parametrize('name', sorted(CASES))
def test_parse_reads_back_what_render_wrote(name):
    assert parse_interface(element(render_interface(CASES[name]))) == normalise_nic(CASES[name])


def test_render_is_kubevirts_interface():
    rendered = element(render_interface(nic(mtu=1450)))
    assert rendered.get('type') == 'ethernet'
    assert rendered.find('mac').attrib == {'address': '02:00:00:12:34:56'}
    assert rendered.find('target').attrib == {'dev': 'tap0', 'managed': 'no'}
    assert rendered.find('model').attrib == {'type': 'virtio-non-transitional'}
    assert rendered.find('mtu').attrib == {'size': '1450'}
    assert rendered.find('alias').attrib == {'name': 'ua-default'}
    # no boot order: no option ROM; link up: no <link>; one queue: no <driver>
    assert rendered.find('rom').attrib == {'enabled': 'no'}
    assert rendered.find('boot') is None and rendered.find('link') is None
    assert rendered.find('driver') is None and rendered.find('address') is None


@pytest.mark.parametrize('model', [m for m in MODELS if m != 'virtio'])
def test_models_other_than_virtio_are_libvirts_own(model):
    assert element(render_interface(nic(model=model))).find('model').get('type') == model


def test_multiqueue_asks_for_vhost_with_queues():
    assert element(render_interface(nic(queues=4))).find('driver').attrib == {'name': 'vhost', 'queues': '4'}


def test_one_queue_is_the_default_and_renders_nothing():
    assert element(render_interface(nic(queues=1))).find('driver') is None
    assert normalise_nic(nic(queues=1))['queues'] is None


def test_boot_order_replaces_the_disabled_rom():
    rendered = element(render_interface(nic(boot_order=2)))
    assert rendered.find('boot').attrib == {'order': '2'}
    assert rendered.find('rom') is None


def test_link_down_pci_address_and_acpi_index():
    rendered = element(render_interface(nic(link_state='down', pci_address='0000:01:1F.3', acpi_index=5)))
    assert rendered.find('link').attrib == {'state': 'down'}
    assert rendered.find('address').attrib == {
        'type': 'pci', 'domain': '0x0000', 'bus': '0x01', 'slot': '0x1f', 'function': '0x3'}
    assert rendered.find('acpi').attrib == {'index': '5'}


def test_unset_mac_and_libvirt_named_tap_are_left_to_libvirt():
    rendered = element(render_interface(nic(mac=None, target_dev=None, managed=True)))
    assert rendered.find('mac') is None and rendered.find('target') is None


# What libvirt 9.0 returns for a running domain (virsh dumpxml), trimmed to one NIC.
LIVE_XML = """
<interface type='ethernet'>
  <mac address='52:54:00:D4:BF:89'/>
  <target dev='vmntmq1' managed='no'/>
  <model type='virtio-non-transitional'/>
  <driver name='vhost' queues='2'/>
  <link state='down'/>
  <alias name='ua-hp'/>
  <rom enabled='no'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
</interface>
"""


def test_parse_live_xml_with_libvirts_additions():
    assert parse_interface(element(LIVE_XML)) == {
        'alias': 'ua-hp', 'type': 'ethernet', 'target_dev': 'vmntmq1', 'managed': False,
        'mac': '52:54:00:d4:bf:89', 'model': 'virtio', 'mtu': None, 'pci_address': '0000:00:03.0',
        'link_state': 'down', 'queues': 2, 'boot_order': None, 'acpi_index': None}


def test_parse_reads_libvirts_plain_virtio_and_explicit_link_up_as_kubevirts():
    parsed = parse_interface(element(
        "<interface type='bridge'><source bridge='br0'/><model type='virtio'/>"
        "<link state='up'/><bandwidth><inbound average='1000'/></bandwidth></interface>"))
    assert parsed['model'] == 'virtio' and parsed['link_state'] == 'up'
    assert parsed['type'] == 'bridge' and parsed['managed'] is True and parsed['alias'] is None


def test_normalise_fills_defaults_and_one_spelling():
    assert normalise_nic({'alias': 'ua-x', 'mac': '02:AB:00:00:00:01', 'pci_address': '0000:00:0A.0'}) == {
        'alias': 'ua-x', 'type': 'ethernet', 'target_dev': None, 'managed': True,
        'mac': '02:ab:00:00:00:01', 'model': None, 'mtu': None, 'pci_address': '0000:00:0a.0',
        'link_state': 'up', 'queues': None, 'boot_order': None, 'acpi_index': None}


@pytest.mark.parametrize('fields, field', [
    ({'alias': 'default'}, 'alias'),
    ({'alias': 'ua-'}, 'alias'),
    ({'link_state': 'absent'}, 'link_state'),
    ({'pci_address': '00:05.0'}, 'pci_address'),
    ({'mtu': 0}, 'mtu'),
    ({'queues': '2'}, 'queues'),
    ({'boot_order': True}, 'boot_order'),
    ({'colour': 'blue'}, 'colour'),
])
def test_bad_nic_names_the_field(fields, field):
    with pytest.raises(VmnetError) as caught:
        render_interface(nic(**fields))
    assert caught.value.field == field
