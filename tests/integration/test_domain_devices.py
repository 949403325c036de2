# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The device fields of a KubeVirt v1 manifest's interfaces, from the spec to a booted guest.

One TCG guest with three NICs from one ``VirtualMachine`` applied by the ``vm`` module:

* ``default``: masquerade on the pod network, virtio, with ``macAddress``, ``pciAddress``
  0000:00:0a.0, ``bootOrder`` 2 and ``acpiIndex`` 7;
* ``rtl``: bridge on a NAD with IPAM, ``model: rtl8139``, at 0000:00:0b.0;
* ``intel``: bridge on a second NAD, ``model: e1000``, at 0000:00:0c.0, ``bootOrder`` 1,
  ``acpiIndex`` 3.

Each field is checked on every layer that can show it, and every difference is reported at
once: the module's status, libvirt's live XML, QEMU's command line (/proc/<pid>/cmdline) and
the inside of the guest (tools/guest/init prints each NIC's PCI address, PCI IDs, driver and
ACPI index: ``VMNET-DEVICE``). Every NIC gets its DHCP lease (and the bridge ones answer a
ping from a client pod on their network): the device works, not only exists.

The domain boots per device (an empty CD-ROM with ``<boot order='9'/>``), as KubeVirt's
domains do: libvirt refuses a device's boot order beside ``<os><boot dev=.../>``, which it
gives every domain defined without boot elements; on such a domain the manifest is refused
before anything changes, naming the field.

* ``acpiIndex``: the guest kernel reads it from the _DSM (function 7) that QEMU's ACPI PCI
  hotplug on the ``pc`` machine generates for a device with ``acpi-index``, and shows it as
  ``/sys/bus/pci/devices/<address>/acpi_index``; a NIC without one has no such file.
* ``bootOrder``: the guest is booted by ``-kernel`` (no firmware boot menu ever reads
  ``bootindex``), so it cannot show it from inside: it is asserted in the live XML
  (``<boot order='N'/>``) and as QEMU's ``bootindex`` on the NIC's ``-device``; a NIC with
  no ``bootOrder`` has no ``bootindex`` and its option ROM off (``<rom enabled='no'/>``).
* The ``<vmnet:pod>`` metadata (which the libvirt hook reads to re-plumb the pod before a
  start) is read back through libvirt's metadata API, in the persistent and the live
  definition, and is gone from both after ``state: absent``.
"""

import json
import os
import re
import time
import xml.etree.ElementTree as ET

import libvirt

from conftest import PER_DEVICE_BOOT
from modules import run_module
from podnet import netns_run

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import METADATA_URI

DNS = ['10.96.0.10']
DEFAULT = {'name': 'default', 'masquerade': {}, 'macAddress': '02:00:00:16:00:0a',
           'pciAddress': '0000:00:0a.0', 'bootOrder': 2, 'acpiIndex': 7}
RTL = {'name': 'rtl', 'bridge': {}, 'model': 'rtl8139', 'macAddress': '02:00:00:16:00:0b',
       'pciAddress': '0000:00:0b.0'}
INTEL = {'name': 'intel', 'bridge': {}, 'model': 'e1000', 'macAddress': '02:00:00:16:00:0c',
         'pciAddress': '0000:00:0c.0', 'bootOrder': 1, 'acpiIndex': 3}
# what the guest sees of each model: its driver and PCI vendor:device
DRIVER = {'virtio': ('virtio_net', '0x1af4:0x1041'),     # virtio-net-pci, non-transitional (modern) ID
          'rtl8139': ('8139cp', '0x10ec:0x8139'),        # QEMU's rtl8139 is a C+ (rev 0x20): 8139cp
          'e1000': ('e1000', '0x8086:0x100e')}
SUBNETS = {'rtl': '10.250.16.0/24', 'intel': '10.250.17.0/24'}


def manifest(name):
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {
                'domain': {'devices': {'interfaces': [DEFAULT, RTL, INTEL]}},
                'networks': [{'name': 'default', 'pod': {}},
                             {'name': 'rtl', 'multus': {'networkName': 'vmnt-rtl'}},
                             {'name': 'intel', 'multus': {'networkName': 'vmnt-intel'}}]}}}}


def vm_module(podnet, spec, **args):
    podnet.vms.add(spec['metadata']['name'])
    result = run_module('vm', manifest=spec, dns_servers=DNS, **podnet.pod_options(**args))
    assert not result.get('failed'), result.get('msg', result)
    return result


def pod_record(domain, live):
    """The ``<vmnet:pod>`` element's attributes through libvirt's metadata API (which gives
    the element without its namespace), or None; the same element must be in the domain's
    XML, in vmnet's XML namespace."""
    flags = libvirt.VIR_DOMAIN_AFFECT_LIVE if live else libvirt.VIR_DOMAIN_AFFECT_CONFIG
    in_xml = ET.fromstring(domain.XMLDesc(0 if live else libvirt.VIR_DOMAIN_XML_INACTIVE)).findall(
        './metadata/{%s}pod' % METADATA_URI)
    try:
        text = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_URI, flags)
    except libvirt.libvirtError as err:
        assert err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA, err
        assert in_xml == [], [ET.tostring(e) for e in in_xml]
        return None
    element = ET.fromstring(text)
    assert element.tag == 'pod' and [e.attrib for e in in_xml] == [element.attrib], (text, in_xml)
    return element.attrib


def live_nics(domain):
    """The live definition's NICs by user alias: the elements the fields land in."""
    root = ET.fromstring(domain.XMLDesc(0))
    nics = {}
    for element in root.findall('./devices/interface'):
        alias = element.find('alias').get('name')
        address = element.find('address')
        nics[alias] = {
            'mac': element.find('mac').get('address'),
            'model': element.find('model').get('type'),
            'address': dict(address.attrib) if address is not None else None,
            'boot': element.find('boot').get('order') if element.find('boot') is not None else None,
            'rom': element.find('rom').get('enabled') if element.find('rom') is not None else None,
            'acpi': element.find('acpi').get('index') if element.find('acpi') is not None else None,
        }
    return nics


def qemu_devices(name):
    """The ``-device`` options of the domain's QEMU, by id (libvirt names them after the alias)."""
    with open('/run/libvirt/qemu/%s.pid' % name) as handle:
        pid = int(handle.read())
    with open('/proc/%d/cmdline' % pid, 'rb') as handle:
        argv = handle.read().decode().split('\0')
    devices = {}
    for flag, value in zip(argv, argv[1:]):
        if flag != '-device':
            continue
        if value.startswith('{'):
            device = json.loads(value)
        else:    # driver,key=value,... (QEMU's older syntax)
            driver, _sep, rest = value.partition(',')
            device = dict(item.partition('=')[::2] for item in rest.split(',') if item)
            device['driver'] = driver
        devices[device.get('id')] = device
    return devices


def guest_nics(guest, count, timeout=120, lease_timeout=60):
    """By MAC: the guest's NIC name, its VMNET-NIC, VMNET-DEVICE and first VMNET-LEASE fields,
    once ``count`` NICs have a device and a lease; or, ``lease_timeout`` s after the last
    device appeared, what has come (a NIC without a lease has none: the caller says so)."""
    deadline, leases_by = time.monotonic() + timeout, None
    while True:
        text = guest.console()
        by_if = {}
        for kind, rest in re.findall(r'^VMNET-(NIC|DEVICE|LEASE) (.*)$', text, re.MULTILINE):
            fields = dict(f.split('=', 1) for f in rest.split() if '=' in f)
            by_if.setdefault(fields['if'], {}).setdefault(kind, fields)
        found = dict((nic['NIC']['mac'], dict(nic, name=name)) for name, nic in by_if.items()
                     if 'NIC' in nic and 'DEVICE' in nic)
        if len(found) >= count:
            leases_by = leases_by or time.monotonic() + lease_timeout
            if all('LEASE' in nic for nic in found.values()) or time.monotonic() > leases_by:
                return found
        assert time.monotonic() < deadline or leases_by, 'not %d NICs within %d s:\n%s' % (count, timeout, text[-4000:])
        time.sleep(0.5)


def ping(netns, address):
    return netns_run(netns, 'busybox', 'ping', '-c', '2', '-W', '3', address, check=False).returncode == 0


def test_interface_device_fields_reach_the_booted_guest(podnet, make_domain):
    conflists = {}
    for nad, subnet in SUBNETS.items():
        conflists[nad] = podnet.write_nad('vmnt-' + nad, {
            'cniVersion': '0.3.1', 'name': 'vmnt-' + nad, 'type': 'bridge', 'bridge': 'vmnt%s%s' % (nad[:2], podnet.node[-6:]),
            'ipam': {'type': 'host-local', 'subnet': subnet, 'dataDir': podnet.ipam_dir}})
    guest = make_domain('vmntdev', nics_xml=PER_DEVICE_BOOT)
    vm = guest.name
    spec = manifest(vm)

    # a domain that boots by <os><boot dev='hd'/> (libvirt's default) cannot take a NIC's boot
    # order: refused naming the field, before anything changed
    other = make_domain('vmntdevos')
    refused = run_module('vm', manifest=manifest(other.name), dns_servers=DNS, **podnet.pod_options())
    assert refused.get('failed') and refused['field'] == 'interfaces[0].bootOrder', refused
    assert "boots by <os><boot dev=.../> (hd)" in refused['msg'], refused['msg']
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', other.name)))
    assert not netlink.netns_exists(names.pod_netns('default', other.name))

    applied = vm_module(podnet, spec)
    assert applied['changed'], applied
    status = dict((i['name'], i) for i in applied['interfaces'])

    # the pod record: the VM the module reports, in the state dir it was given
    record = {'vm': applied['vm'], 'namespace': applied['namespace'], 'state-dir': podnet.state_dir}
    assert (applied['vm'], applied['namespace']) == (vm, 'default')
    assert pod_record(guest.domain, live=False) == record

    guest.start()
    assert pod_record(guest.domain, live=True) == record
    nics = live_nics(guest.domain)
    assert sorted(nics) == ['ua-default', 'ua-intel', 'ua-rtl'], nics
    devices = qemu_devices(vm)
    seen = guest_nics(guest, 3)     # by MAC; a NIC is found by the MAC libvirt gave it

    # every field, on every layer: all differences are collected, so that a broken field shows
    # on each layer that sees it
    wrong = []

    def expect(where, got, want):
        if got != want:
            wrong.append('%s: %r, expected %r' % (where, got, want))

    for iface in (DEFAULT, RTL, INTEL):
        name, alias, model = iface['name'], 'ua-' + iface['name'], iface.get('model', 'virtio')
        expect('%s: status mac' % name, status[name]['mac'], iface['macAddress'])
        # libvirt's live XML
        nic = nics[alias]
        pci = dict(zip(('domain', 'bus', 'slot', 'function'), re.split('[:.]', iface['pciAddress'])))
        expect('%s: live XML <address>' % name, nic['address'], dict({k: '0x' + v for k, v in pci.items()}, type='pci'))
        expect('%s: live XML <mac>' % name, nic['mac'], iface['macAddress'])
        expect('%s: live XML <model>' % name, nic['model'], {'virtio': 'virtio-non-transitional'}.get(model, model))
        expect('%s: live XML <boot order>' % name, nic['boot'], str(iface['bootOrder']) if 'bootOrder' in iface else None)
        expect('%s: live XML <rom enabled>' % name, nic['rom'], None if 'bootOrder' in iface else 'no')
        expect('%s: live XML <acpi index>' % name, nic['acpi'], str(iface['acpiIndex']) if 'acpiIndex' in iface else None)
        # QEMU's command line
        device = devices.get(alias, {})
        expect('%s: qemu driver' % name, device.get('driver'), {'virtio': 'virtio-net-pci-non-transitional'}.get(model, model))
        expect('%s: qemu bus,addr' % name, (device.get('bus'), device.get('addr')), ('pci.0', '0x' + pci['slot'].lstrip('0')))
        expect('%s: qemu mac' % name, device.get('mac'), iface['macAddress'])
        expect('%s: qemu bootindex' % name, device.get('bootindex'), iface.get('bootOrder'))
        expect('%s: qemu acpi-index' % name, device.get('acpi-index'), iface.get('acpiIndex'))
        # the guest: its NIC at the PCI address, with the model's IDs and driver, the MAC, the
        # ACPI index and a DHCP lease
        guest_nic = seen.get(nic['mac'], {})
        found = guest_nic.get('DEVICE', {})
        expect('%s: guest MAC' % name, guest_nic.get('NIC', {}).get('mac'), iface['macAddress'])
        expect('%s: guest PCI address' % name, found.get('pci'), iface['pciAddress'])
        expect('%s: guest driver, PCI IDs' % name, (found.get('driver'), found.get('id')), DRIVER[model])
        expect('%s: guest acpi_index' % name, found.get('acpi_index'), str(iface.get('acpiIndex', 'none')))
        expect('%s: guest lease' % name, guest_nic.get('LEASE', {}).get('ip'),
               '10.0.2.2' if name == 'default' else status[name]['ipAddress'])   # masquerade's guest address
    assert not wrong, 'the manifest\'s fields did not all arrive:\n' + '\n'.join(wrong)
    # the bridge NICs carry traffic both ways
    for iface in (RTL, INTEL):
        address = status[iface['name']]['ipAddress']
        client, _address = podnet.client('c' + iface['name'][:3], conflist=conflists[iface['name']])
        assert ping(client, address), '%s: no answer from %s' % (iface['name'], address)

    again = vm_module(podnet, spec)
    assert (again['changed'], again['actions']) == (False, []), again

    gone = vm_module(podnet, spec, state='absent')
    assert gone['changed'], gone
    assert pod_record(guest.domain, live=False) is None
    assert pod_record(guest.domain, live=True) is None
    assert vm_module(podnet, spec, state='absent')['changed'] is False
