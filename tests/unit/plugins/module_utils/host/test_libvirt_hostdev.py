# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An SR-IOV interface's <hostdev> renders as KubeVirt renders it (reference §5.1), is
valid for libvirt's schema, defines on a real libvirtd (stopped: a VF address that does
not exist here is fine until the domain starts), and parses back; running domains'
hostdev sources are found."""

import os
import uuid
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import (
    hostdevs, parse_hostdev, render_hostdev)

DOMAIN_RNG = '/usr/share/libvirt/schemas/domain.rng'
CASES = {
    'minimal': dict(source_address='0000:3b:02.1', name='sriov-net'),
    'guest pci address': dict(source_address='0000:3b:02.1', name='sriov-net', pci_address='0000:00:0a.0'),
    'boot order': dict(source_address='0000:3b:02.1', name='sriov-net', boot_order=2),
    'everything': dict(source_address='0000:af:1f.7', name='n1', pci_address='0000:07:00.0', boot_order=1),
}


def domain_xml(devices, name='vmnt-rng'):
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
            "<devices>%s</devices></domain>" % (name, devices))


def test_kubevirt_rendering():
    element = ET.fromstring(render_hostdev('0000:3B:02.1', 'sriov-net', pci_address='0000:00:0a.0', boot_order=3))
    assert (element.tag, element.get('mode'), element.get('type'), element.get('managed')) == (
        'hostdev', 'subsystem', 'pci', 'no')
    # KubeVirt writes type='pci' here too; libvirt's schema has no type on a source address
    # and libvirt drops it, so it is left out
    assert element.find('source/address').attrib == {'domain': '0x0000', 'bus': '0x3b', 'slot': '0x02',
                                                     'function': '0x1'}
    assert element.find('alias').get('name') == 'ua-sriov-sriov-net'
    assert element.find('address').attrib == {'type': 'pci', 'domain': '0x0000', 'bus': '0x00',
                                              'slot': '0x0a', 'function': '0x0'}
    assert element.find('boot').get('order') == '3'
    assert element.find('driver') is None and element.find('mac') is None


@pytest.mark.parametrize('case', sorted(CASES))
def test_parses_back(case):
    args = CASES[case]
    parsed = parse_hostdev(ET.fromstring(render_hostdev(**args)))
    assert parsed == {'alias': 'ua-sriov-' + args['name'], 'source': args['source_address'],
                      'pci_address': args.get('pci_address'), 'boot_order': args.get('boot_order'), 'managed': False}


@pytest.mark.parametrize('args, field', [
    (dict(source_address='3b:02.1', name='x'), 'pci_address'),
    (dict(source_address='0000:3b:02.1', name='x', pci_address='bad'), 'pci_address'),
    (dict(source_address='0000:3b:02.1', name='x', boot_order=0), 'boot_order'),
])
def test_bad_input(args, field):
    with pytest.raises(VmnetError) as raised:
        render_hostdev(**args)
    assert raised.value.field == field


@pytest.fixture(scope='module')
def domain_schema():
    etree = pytest.importorskip('lxml.etree')
    if not os.path.exists(DOMAIN_RNG):
        pytest.skip('%s is missing (package libvirt0)' % DOMAIN_RNG)
    return etree, etree.RelaxNG(etree.parse(DOMAIN_RNG))


@pytest.mark.parametrize('case', sorted(CASES))
def test_valid_for_libvirts_schema(domain_schema, case):
    etree, schema = domain_schema
    xml = render_hostdev(**CASES[case])
    assert schema.validate(etree.fromstring(domain_xml(xml))), '%s\n%s' % (xml, schema.error_log)


def test_defines_on_libvirtd():
    libvirt = pytest.importorskip('libvirt')
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.open('qemu:///system')
    except libvirt.libvirtError as err:
        pytest.skip('libvirtd is not answering: %s' % err.get_error_message())
    name = 'vmnt-hostdev-' + uuid.uuid4().hex[:6]
    devices = (render_hostdev('0000:3b:02.1', 'sriov-a', pci_address='0000:00:0a.0', boot_order=1) +
               render_hostdev('0000:3b:02.2', 'sriov-b'))
    domain = conn.defineXML(domain_xml(devices, name))
    try:
        defined = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        found = dict((h['alias'], h) for h in hostdevs(defined))
        assert found['ua-sriov-sriov-a'] == {'alias': 'ua-sriov-sriov-a', 'source': '0000:3b:02.1',
                                             'pci_address': '0000:00:0a.0', 'boot_order': 1, 'managed': False}
        assert found['ua-sriov-sriov-b']['source'] == '0000:3b:02.2'
        assert not domain.isActive()
    finally:
        domain.undefine()
        conn.close()


def test_hostdev_interfaces_count_too():
    root = ET.fromstring(domain_xml(
        "<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' bus='0x3b' slot='0x02' "
        "function='0x3'/></source><mac address='52:54:00:00:00:01'/></interface>"
        "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>"
        "<interface type='ethernet'><target dev='t0'/></interface>"))
    assert [(h['source'], h['managed']) for h in hostdevs(root)] == [('0000:3b:02.3', True)]
