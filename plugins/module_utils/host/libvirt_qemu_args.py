# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for the NICs vmnet gives a domain as raw QEMU arguments.

A slirp NIC is no libvirt device: KubeVirt (<= v1.0) gave it a pair of arguments in the
domain's ``<qemu:commandline>`` (kubevirt-network.md §6.1)::

    -netdev user,id=ua-<name>,net=...[,hostname=...][,dnssearch=...][,hostfwd=...]
    -device {"driver":"e1000","netdev":"ua-<name>","id":"ua-<name>","mac":"..."}

A passt NIC is a pair too, its netdev the client of passt's UNIX socket (QEMU >= 7.2)::

    -netdev stream,id=ua-<name>,server=off,addr.type=unix,addr.path=<socket>
    -device {"driver":"virtio-net-pci","netdev":"ua-<name>","id":"ua-<name>","mac":"..."}

The passt NIC's ``-device`` also takes the interface's ``pciAddress`` (QEMU's ``bus`` and
``addr``, the bus named as libvirt names its PCI controllers), ``bootOrder`` (``bootindex``)
and ``acpiIndex`` (``acpi-index``), as KubeVirt gives its passt NIC "model/mac/pci/acpi as
usual"; KubeVirt's slirp ``-device`` never had them, and vmnet's has not either. A
``pciAddress`` is a slot libvirt does not know of: another device given that slot by
libvirt makes QEMU refuse to start, naming the slot.

Both carry the id ``ua-<name>``, by which vmnet finds the pairs it owns; every other
argument is left where and as it is. Since ``<qemu:commandline>`` is no device, the only
way to change it is to redefine the domain: its persistent definition is read (with
secrets, so that redefining keeps them), the owned pairs are edited and the whole is
given back to ``defineXML``. A pair is a plain dict of ``FIELDS`` (see ``parse``), and
pairs are compared as dicts, never as text; a pair that differs is written anew from its
dict (options vmnet does not set are neither compared nor kept). QEMU reads its
arguments when it starts: a running domain keeps the pairs it started with (its live
definition shows them) until it is restarted, which ``restart_required`` reports.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import xml.etree.ElementTree as ET

try:
    import libvirt
except ImportError:
    pass  # libvirt_domain reports the missing bindings

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import (
    METADATA_KEY, METADATA_URI, PCI_ADDRESS, USER_ALIAS_PREFIX)

QEMU_NS = 'http://libvirt.org/schemas/domain/qemu/1.0'
ET.register_namespace('qemu', QEMU_NS)
_COMMANDLINE = '{%s}commandline' % QEMU_NS
_ARG = '{%s}arg' % QEMU_NS

FIELDS = ('alias', 'netdev', 'model', 'mac', 'net', 'hostname', 'dnssearch', 'hostfwd', 'socket',
          'bus', 'addr', 'bootindex', 'acpi_index')
_REPEATED = ('dnssearch', 'hostfwd')
# One option of a QEMU option string: a comma inside a value is doubled.
_OPTION = re.compile(r'(?:[^,]|,,)+')


# --- a pair as arguments and back --------------------------------------------------------

def render(nic):
    """The values of the ``-netdev`` and ``-device`` arguments of ``nic`` (a dict of ``FIELDS``;
    ``netdev`` is ``user`` (slirp) or ``stream`` (a client of the UNIX socket ``socket``)).

    A comma in a value is doubled (QEMU's escape); a control character is refused."""
    kind = nic.get('netdev') or 'user'
    options = [('id', nic['alias'])]
    if kind == 'stream':
        options += [('server', 'off'), ('addr.type', 'unix'), ('addr.path', nic['socket'])]
    else:
        options += [('net', nic['net']), ('hostname', nic['hostname'])]
        options += [(key, value) for key in _REPEATED for value in nic[key]]
    for key, value in options + [('model', nic['model']), ('mac', nic['mac'])]:
        if value is not None:
            names.plain_text(value, key)
    netdev = ','.join([kind] + ['%s=%s' % (key, value.replace(',', ',,'))
                                for key, value in options if value is not None])
    device = [('driver', nic['model']), ('netdev', nic['alias']), ('id', nic['alias']), ('mac', nic['mac']),
              ('bus', nic.get('bus')), ('addr', nic.get('addr')), ('bootindex', nic.get('bootindex')),
              ('acpi-index', nic.get('acpi_index'))]
    return netdev, json.dumps(dict((key, value) for key, value in device if value is not None),
                              separators=(',', ':'))


def parse(netdev, device):
    """The dict of ``FIELDS`` that a pair says (either argument may be None: a pair that
    lost one half). Options vmnet does not set are not read."""
    options = _netdev_options(netdev or '')
    properties = _device_properties(device or '') or {}
    nic = dict((key, options.get(key, [])) for key in _REPEATED)
    nic.update(alias=properties.get('id') or options.get('id'), model=properties.get('driver'),
               mac=(properties.get('mac') or '').lower() or None, net=options.get('net'),
               hostname=options.get('hostname'), netdev=options.get('type', 'user') if netdev else None,
               socket=options.get('addr.path'), bus=properties.get('bus'), addr=properties.get('addr'),
               bootindex=properties.get('bootindex'), acpi_index=properties.get('acpi-index'))
    return nic


def placement(root, pci_address):
    """QEMU's ``bus`` and ``addr`` of the guest PCI address ``0000:BB:SS.F`` (None: none) in
    the domain definition ``root``: bus 0 is the machine's root bus (``pcie.0`` on q35, else
    ``pci.0``), bus N the PCI controller of index N (``pci.N``), as libvirt names them."""
    if pci_address is None:
        return {'bus': None, 'addr': None}
    match = PCI_ADDRESS.match(pci_address.lower())
    if not match or int(match.group(1), 16) != 0:
        raise VmnetError('pciAddress %s: a NIC given as QEMU arguments takes a PCI address of domain 0000, like '
                         '0000:00:0a.0' % names.plain_text(pci_address, 'pciAddress'), field='pciAddress')
    bus, slot, function = (int(group, 16) for group in match.groups()[1:])
    controller = root.find("./devices/controller[@type='pci'][@index='%d']" % bus)
    if controller is None:
        raise VmnetError('pciAddress %s: the domain has no PCI controller of index %d' % (pci_address, bus),
                         field='pciAddress')
    name = ('pcie.0' if controller.get('model') == 'pcie-root' else 'pci.0') if bus == 0 else 'pci.%d' % bus
    return {'bus': name, 'addr': '0x%x' % slot if function == 0 else '0x%x.0x%x' % (slot, function)}


def _netdev_options(value):
    parts = [part.replace(',,', ',') for part in _OPTION.findall(value)]
    options = {'type': parts[0]} if parts and '=' not in parts[0] else {}
    for part in parts[len(options):]:
        key, _sep, option = part.partition('=')
        if key in _REPEATED:
            options.setdefault(key, []).append(option)
        else:
            options[key] = option
    return options


def _device_properties(value):
    """The properties of a ``-device`` argument in JSON form, the form vmnet writes; None
    for any other."""
    try:
        properties = json.loads(value)
    except ValueError:
        return None
    return properties if isinstance(properties, dict) else None


def _owned_id(flag, value):
    """The ``ua-`` id of a ``-netdev`` or ``-device`` argument, or None."""
    if flag == '-netdev':
        found = _netdev_options(value).get('id')
    else:
        found = (_device_properties(value) or {}).get('id')
    return found if isinstance(found, str) and found.startswith(USER_ALIAS_PREFIX) else None


# --- pairs in a domain definition --------------------------------------------------------

def _pairs(root):
    """``{alias: {'-netdev': [flag, value], '-device': [flag, value]}}``: the ``<qemu:arg>``
    elements of the owned pairs in a domain definition (None: no definition)."""
    commandline = root.find(_COMMANDLINE) if root is not None else None
    args = commandline.findall(_ARG) if commandline is not None else []
    pairs = {}
    for flag, value in zip(args, args[1:]):
        if flag.get('value') not in ('-netdev', '-device'):
            continue
        alias = _owned_id(flag.get('value'), value.get('value', ''))
        if alias:
            pairs.setdefault(alias, {})[flag.get('value')] = [flag, value]
    return pairs


def _parsed(pair):
    if not pair:
        return None
    netdev, device = (pair[flag][1].get('value') if flag in pair else None for flag in ('-netdev', '-device'))
    return parse(netdev, device)


def _replace(root, alias, nic):
    """Put the pair of ``nic`` (None: no pair) in place of the pair ``alias`` in ``root``:
    where the old one was, else at the end."""
    commandline = root.find(_COMMANDLINE)
    if commandline is None:
        commandline = ET.SubElement(root, _COMMANDLINE)
    old = [element for elements in _pairs(root).get(alias, {}).values() for element in elements]
    position = min([list(commandline).index(element) for element in old] or [len(commandline)])
    for element in old:
        commandline.remove(element)
    if nic is not None:
        netdev, device = render(nic)
        for offset, value in enumerate(('-netdev', netdev, '-device', device)):
            commandline.insert(position + offset, ET.Element(_ARG, {'value': value}))
    if len(commandline) == 0:
        root.remove(commandline)


# --- the domain -------------------------------------------------------------------------

def _definitions(domain):
    """The persistent definition (with secrets: it is given back to ``defineXML``) and,
    when the domain runs, the live one."""
    config = ET.fromstring(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    live = ET.fromstring(domain.XMLDesc(0)) if domain.isActive() else None
    return config, live


def _require_persistent(domain):
    if not domain.isPersistent():
        raise VmnetError('libvirt domain "%s" is transient: vmnet manages the NICs of persistent domains'
                         % domain.name())


def list_nics(nics):
    """Every owned pair of the domain of ``nics`` (a ``DomainNics``) as ``{alias, mac, model}``,
    live when the domain runs, else as defined."""
    config, live = nics.definitions()
    pairs = _pairs(live if live is not None else config)
    return [dict((key, nic[key]) for key in ('alias', 'mac', 'model'))
            for nic in (_parsed(pair) for pair in pairs.values())]


def ensure(nics, nic, check_mode=False):
    """Make the pair ``nic`` (a dict of ``FIELDS``) be in the persistent definition of the
    domain of ``nics`` (a ``DomainNics``)."""
    return _edit(nics.domain, nic['alias'], nic, check_mode)


def remove(nics, alias, check_mode=False):
    """Take the pair ``alias`` out of the persistent definition; a pair that is not there is fine."""
    return _edit(nics.domain, alias, None, check_mode)


def _edit(domain, alias, nic, check_mode):
    """Make the pair ``alias`` be ``nic`` (None: no pair), placed on the definition's PCI buses."""
    _require_persistent(domain)
    config, live = _definitions(domain)
    want = None if nic is None else parse(*render(dict(nic, **placement(config, nic.get('pci_address')))))
    before = {'config': _parsed(_pairs(config).get(alias)), 'live': _parsed(_pairs(live).get(alias))}
    action = _action(alias, before['config'], want)
    if action and not check_mode:
        _replace(config, alias, want)
        pod_record = _take_pod_record(config)
        try:
            domain.connect().defineXML(ET.tostring(config, encoding='unicode'))
            if pod_record is not None:
                domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, pod_record, METADATA_KEY, METADATA_URI,
                                   libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        except libvirt.libvirtError as err:
            raise VmnetError('libvirt domain "%s": %s failed: %s' % (domain.name(), action, err.get_error_message()))
    return {'changed': bool(action), 'actions': [action] if action else [],
            'before': before, 'after': {'config': want, 'live': before['live']},
            'restart_required': live is not None and before['live'] != want}


def _take_pod_record(config):
    """Take vmnet's ``<pod>`` record out of ``<metadata>`` (dropping a ``<metadata>`` left
    empty) and return it as text, to be given back through libvirt's metadata API:
    ElementTree would declare its namespace on ``<domain>``, and libvirt would then keep that
    declaration on ``<metadata>`` once the record is removed."""
    metadata = config.find('metadata')
    record = metadata.find('{%s}pod' % METADATA_URI) if metadata is not None else None
    if record is None:
        return None
    metadata.remove(record)
    if len(metadata) == 0 and not (metadata.text or '').strip():
        config.remove(metadata)
    return ET.tostring(ET.Element('pod', dict(record.attrib)), encoding='unicode')


def _action(alias, have, want):
    """What turns the pair ``have`` into ``want`` (None: no pair); None when they are equal."""
    where = 'the QEMU command line of the persistent definition'
    if have == want:
        return None
    if want is None:
        return 'remove "%s" from %s' % (alias, where)
    if have is None:
        return 'add "%s" to %s' % (alias, where)
    return 'replace "%s" on %s (%s)' % (alias, where, ', '.join(f for f in FIELDS if want[f] != have[f]))
