# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A libvirt domain's devices as vmnet owns them, in XML and back, without libvirt itself.

A NIC is a plain dict of the fields in ``NIC_FIELDS`` (see ``normalise_nic``), rendered
the way KubeVirt renders it (kubevirt-network.md §7); an SR-IOV VF is a PCI ``<hostdev>``
(``render_hostdev``). Devices are matched by their user alias ``ua-<name>``, which libvirt
keeps in the persistent definition, as KubeVirt matches them. Only the owned fields are
written: an edit changes the device's own element and keeps whatever else the user put
into it (``<bandwidth>``, ``<filterref>``, ...). The connection to libvirt is
libvirt_domain.py's.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re
import xml.etree.ElementTree as ET

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

USER_ALIAS_PREFIX = 'ua-'
NIC_FIELDS = ('alias', 'type', 'target_dev', 'managed', 'mac', 'model', 'mtu', 'pci_address',
              'link_state', 'queues', 'boot_order', 'acpi_index')
# Left to libvirt when unset: what it chose is then kept (a NIC never gets a new MAC
# or slot because the user did not name one).
ASSIGNED_BY_LIBVIRT = ('mac', 'target_dev', 'pci_address')
_INT_FIELDS = ('mtu', 'queues', 'boot_order', 'acpi_index')
_DEFAULTS = {'type': 'ethernet', 'managed': True, 'link_state': 'up'}

# KubeVirt renders its "virtio" as virtio-non-transitional. A NIC that already is
# libvirt's plain "virtio" is read as "virtio" too, so that it is not replaced for that.
_LIBVIRT_MODEL = {'virtio': 'virtio-non-transitional'}
_MODEL_FROM_LIBVIRT = {'virtio-non-transitional': 'virtio', 'virtio': 'virtio'}


# The domain's record of its pod: <vmnet:pod vm="..." namespace="..." state-dir="..."/> in <metadata>.
METADATA_URI = 'https://vmnet.networks/xmlns/pod/1'
METADATA_KEY = 'vmnet'


def parse_pod_metadata(text):
    """The pod record ``{'vm', 'namespace', 'state_dir'}`` of a ``<pod>`` metadata element
    (text), or None. A record without ``namespace`` is of the ``default`` namespace. The
    values are as the domain says: whoever reads them validates them."""
    try:
        element = ET.fromstring(text)
    except (ET.ParseError, TypeError):
        return None
    if not element.get('vm') or not element.get('state-dir'):
        return None
    return {'vm': element.get('vm'), 'namespace': element.get('namespace') or 'default',
            'state_dir': element.get('state-dir')}


PCI_ADDRESS = re.compile(r'^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$')
_PCI_ATTRS = ('domain', 'bus', 'slot', 'function')


# --- the NIC dict ---------------------------------------------------------------------

def normalise_nic(nic):
    """``nic`` checked and completed: every field of ``NIC_FIELDS`` present, in one
    spelling (lower-case MAC and PCI address, ``queues`` 1 is None: one queue is the
    default, not an element). Raises VmnetError naming the field at fault."""
    unknown = sorted(set(nic) - set(NIC_FIELDS))
    if unknown:
        raise VmnetError('unknown NIC fields: %s' % ', '.join(unknown), field=unknown[0])
    out = dict((field, nic.get(field)) for field in NIC_FIELDS)
    for field in NIC_FIELDS:
        if isinstance(out[field], str):
            names.plain_text(out[field], field)  # an XML value: never a control character
    for field, default in _DEFAULTS.items():
        if out[field] is None:
            out[field] = default
    alias = out['alias']
    if not (alias and alias.startswith(USER_ALIAS_PREFIX) and alias != USER_ALIAS_PREFIX):
        raise VmnetError('alias must be "%s<name>", got %r' % (USER_ALIAS_PREFIX, alias), field='alias')
    if out['link_state'] not in ('up', 'down'):
        raise VmnetError('link_state must be up or down, got %r' % out['link_state'], field='link_state')
    for field in _INT_FIELDS:
        value = out[field]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise VmnetError('%s must be a positive integer, got %r' % (field, value), field=field)
    if out['queues'] == 1:
        out['queues'] = None
    if out['mac'] is not None:
        out['mac'] = out['mac'].lower()
    if out['pci_address'] is not None:
        out['pci_address'] = out['pci_address'].lower()
        if not PCI_ADDRESS.match(out['pci_address']):
            raise VmnetError('pci_address must look like 0000:00:05.0, got %r' % nic['pci_address'],
                             field='pci_address')
    return out


def nic_differences(want, have):
    """The fields in which ``have`` is not what ``want`` asks for."""
    return [field for field in NIC_FIELDS
            if want[field] != have[field]
            and not (field in ASSIGNED_BY_LIBVIRT and want[field] is None)]


def keep_assigned(want, existing):
    """``want`` with the values libvirt assigned to ``existing`` where ``want`` has none."""
    out = dict(want)
    for field in ASSIGNED_BY_LIBVIRT:
        if out[field] is None and existing:
            out[field] = existing[field]
    return out


# --- XML ------------------------------------------------------------------------------

def _set_child_attr(parent, tag, attr, value):
    """Set (or, with None, remove) ``attr`` of the child ``tag``; a child left without
    attributes and content is removed."""
    child = parent.find(tag)
    if value is None:
        if child is not None:
            child.attrib.pop(attr, None)
            if not child.attrib and len(child) == 0:
                parent.remove(child)
        return
    if child is None:
        child = ET.SubElement(parent, tag)
    child.set(attr, str(value))


def _write_target(element, nic):
    target = element.find('target')
    if nic['target_dev'] is None and nic['managed']:
        if target is not None:
            element.remove(target)
        return
    if target is None:
        target = ET.SubElement(element, 'target')
    if nic['target_dev'] is not None:
        target.set('dev', nic['target_dev'])
    if nic['managed']:
        target.attrib.pop('managed', None)
    else:
        target.set('managed', 'no')


def _write_queues(element, queues):
    _set_child_attr(element, 'driver', 'queues', queues)
    driver = element.find('driver')
    # KubeVirt's <driver name='vhost' queues='N'/>. Without /dev/vhost-net libvirt 9.0
    # falls back to QEMU's own virtio-net for a type='ethernet' NIC (verified).
    if queues is not None and driver.get('name') is None:
        driver.set('name', 'vhost')


def _write_link(element, link_state):
    # KubeVirt renders no <link> for up; libvirt reads its absence as up.
    _set_child_attr(element, 'link', 'state', 'down' if link_state == 'down' else None)


def _write_boot(element, boot_order):
    # KubeVirt: a NIC that is not a boot device gets no option ROM.
    _set_child_attr(element, 'boot', 'order', boot_order)
    _set_child_attr(element, 'rom', 'enabled', 'no' if boot_order is None else None)


def write_pci_address(element, pci_address):
    address = element.find('address')
    if pci_address is None:
        if address is not None and address.get('type') == 'pci':
            element.remove(address)
        return
    if address is None:
        address = ET.SubElement(element, 'address')
    address.set('type', 'pci')
    for attr, value in zip(_PCI_ATTRS, PCI_ADDRESS.match(pci_address).groups()):
        address.set(attr, '0x' + value)


def _write_nic(element, nic):
    """Make the owned parts of the ``<interface>`` element say what ``nic`` says."""
    element.set('type', nic['type'])
    _set_child_attr(element, 'mac', 'address', nic['mac'])
    _write_target(element, nic)
    model = nic['model']
    _set_child_attr(element, 'model', 'type', _LIBVIRT_MODEL.get(model, model))
    _write_queues(element, nic['queues'])
    _set_child_attr(element, 'mtu', 'size', nic['mtu'])
    _write_link(element, nic['link_state'])
    _write_boot(element, nic['boot_order'])
    _set_child_attr(element, 'alias', 'name', nic['alias'])
    write_pci_address(element, nic['pci_address'])
    _set_child_attr(element, 'acpi', 'index', nic['acpi_index'])
    return element


def edited(element, nic):
    """A copy of ``element`` (a fresh ``<interface>`` for None) saying what ``nic`` says.

    A NIC whose type changes starts afresh: its old ``<source>`` and such would not fit."""
    if element is None or element.get('type') != nic['type']:
        return _write_nic(ET.Element('interface'), nic)
    return _write_nic(_copy(element), nic)


def _copy(element):
    duplicate = copy.deepcopy(element)
    duplicate.tail = None
    return duplicate


def with_link_state(element, link_state):
    """A copy of ``element`` that differs in its link state only."""
    duplicate = _copy(element)
    _write_link(duplicate, link_state)
    return duplicate


def to_xml(element):
    return ET.tostring(element, encoding='unicode')


def child_attr(element, tag, attr):
    child = element.find(tag)
    return child.get(attr) if child is not None else None


def _int_attr(element, tag, attr):
    value = child_attr(element, tag, attr)
    return int(value) if value is not None else None


def _parse_pci_address(element):
    address = element.find('address')
    if address is None or address.get('type') != 'pci':
        return None
    values = [int(address.get(attr, '0'), 0) for attr in _PCI_ATTRS]
    return '%04x:%02x:%02x.%x' % tuple(values)


def render_interface(nic):
    """The ``<interface>`` device XML of ``nic`` (a dict of ``NIC_FIELDS``)."""
    return to_xml(_write_nic(ET.Element('interface'), normalise_nic(nic)))


def parse_interface(element):
    """The NIC dict of an ``<interface>`` element (or None for None), whether it comes
    from the persistent or the live definition: what libvirt adds is ignored."""
    if element is None:
        return None
    model = child_attr(element, 'model', 'type')
    queues = _int_attr(element, 'driver', 'queues')
    mac = child_attr(element, 'mac', 'address')
    return {
        'alias': child_attr(element, 'alias', 'name'),
        'type': element.get('type'),
        'target_dev': child_attr(element, 'target', 'dev'),
        'managed': child_attr(element, 'target', 'managed') != 'no',
        'mac': mac.lower() if mac else None,
        'model': _MODEL_FROM_LIBVIRT.get(model, model),
        'mtu': _int_attr(element, 'mtu', 'size'),
        'pci_address': _parse_pci_address(element),
        'link_state': 'down' if child_attr(element, 'link', 'state') == 'down' else 'up',
        'queues': queues if queues and queues > 1 else None,
        'boot_order': _int_attr(element, 'boot', 'order'),
        'acpi_index': _int_attr(element, 'acpi', 'index'),
    }


def find_device(domain_root, alias, tag='interface'):
    """The device element ``tag`` (``interface``, ``hostdev``) with ``alias``, or None."""
    if domain_root is None:
        return None
    for element in domain_root.findall('./devices/' + tag):
        if child_attr(element, 'alias', 'name') == alias:
            return element
    return None


def user_aliases(domain_root):
    if domain_root is None:
        return []
    aliases = (child_attr(element, 'alias', 'name') for element in domain_root.findall('./devices/interface'))
    return [alias for alias in aliases if alias and alias.startswith(USER_ALIAS_PREFIX)]


# --- SR-IOV: PCI host devices ------------------------------------------------------------

SRIOV_ALIAS_PREFIX = USER_ALIAS_PREFIX + 'sriov-'


def _pci_address_element(parent, pci_address, typed=True):
    """``<address [type='pci'] domain=.. bus=.. slot=.. function=..>``: a host device's
    source address carries no type (libvirt's schema has none there)."""
    match = PCI_ADDRESS.match((pci_address or '').lower())
    if not match:
        raise VmnetError('%r is not a PCI address like 0000:00:05.0' % pci_address, field='pci_address')
    address = ET.SubElement(parent, 'address')
    if typed:
        address.set('type', 'pci')
    for attr, value in zip(_PCI_ATTRS, match.groups()):
        address.set(attr, '0x' + value)
    return address


def render_hostdev(source_address, name, pci_address=None, boot_order=None):
    """The ``<hostdev>`` KubeVirt gives an SR-IOV interface ``name`` (reference §5.1):
    the VF at host address ``source_address``, ``managed='no'`` (the VF is bound to
    vfio-pci beforehand; libvirt does not rebind it), alias ``ua-sriov-<name>``, the
    guest PCI address (``pciAddress``) and boot order when given. No ``<driver>``: libvirt
    picks vfio."""
    if boot_order is not None and (isinstance(boot_order, bool) or not isinstance(boot_order, int) or boot_order < 1):
        raise VmnetError('boot_order must be a positive integer, got %r' % boot_order, field='boot_order')
    names.plain_text(name, 'name')
    element = ET.Element('hostdev', {'mode': 'subsystem', 'type': 'pci', 'managed': 'no'})
    _pci_address_element(ET.SubElement(element, 'source'), source_address, typed=False)
    if boot_order is not None:
        ET.SubElement(element, 'boot', {'order': str(boot_order)})
    ET.SubElement(element, 'alias', {'name': SRIOV_ALIAS_PREFIX + name})
    if pci_address is not None:
        _pci_address_element(element, pci_address)
    return to_xml(element)


def parse_hostdev(element):
    """``{alias, source, pci_address, boot_order, managed}`` of a PCI ``<hostdev>`` (or
    of an ``<interface type='hostdev'>``); None for anything else."""
    if element is None:
        return None
    if element.tag == 'hostdev' and element.get('type') != 'pci':
        return None
    if element.tag == 'interface' and element.get('type') != 'hostdev':
        return None
    source = element.find('source/address')
    if source is not None and source.get('type', 'pci') == 'pci' and source.get('bus') is not None:
        source = '%04x:%02x:%02x.%x' % tuple(int(source.get(attr, '0'), 0) for attr in _PCI_ATTRS)
    else:
        source = None
    return {
        'alias': child_attr(element, 'alias', 'name'),
        'source': source,
        'pci_address': _parse_pci_address(element),
        'boot_order': _int_attr(element, 'boot', 'order'),
        'managed': element.get('managed') == 'yes',
    }


def hostdev_differences(want, have):
    return [field for field in ('source', 'pci_address', 'boot_order', 'managed') if want[field] != have[field]]


def hostdevs(domain_root):
    """The PCI host devices of a domain definition (``<hostdev type='pci'>`` and
    ``<interface type='hostdev'>``), parsed."""
    found = []
    for element in domain_root.findall('./devices/hostdev') + domain_root.findall('./devices/interface'):
        parsed = parse_hostdev(element)
        if parsed and parsed['source']:
            found.append(parsed)
    return found
