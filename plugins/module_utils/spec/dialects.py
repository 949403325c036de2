# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recognise a manifest's dialect and read it into one intermediate document.

The reader does what the API server does before any webhook sees an object: it checks
the JSON type of every field it knows and reports all mismatches at once. Unknown fields
are ignored, and ``null`` means "absent", as for a Kubernetes object.

The intermediate document keeps Go's zero values (``''``, ``0``, ``False``) where
KubeVirt's API types have plain fields and ``None`` where they have pointers, so the
admission rules see exactly what KubeVirt's admitter sees. Every interface and network
carries its own field path (``path``), rooted where the manifest's dialect puts it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

KUBEVIRT_V1_VM = 'kubevirt-v1-vm'
KUBEVIRT_V1_VMI = 'kubevirt-v1-vmi'
KUBEVIRT_LEGACY = 'kubevirt-legacy'
KUBEVIRT_EARLY = 'kubevirt-early'
VIRTINK = 'virtink'
BARE = 'bare'
DIALECTS = (KUBEVIRT_V1_VM, KUBEVIRT_V1_VMI, KUBEVIRT_LEGACY, KUBEVIRT_EARLY, VIRTINK, BARE)
# The dialects whose documentation has the slirp binding (seeds 000, 001, 002).
SLIRP_DIALECTS = frozenset((KUBEVIRT_LEGACY, KUBEVIRT_EARLY, BARE))

KUBEVIRT_GROUP = 'kubevirt.io'
VIRTINK_GROUP = 'virt.virtink.smartx.com'
KUBEVIRT_KINDS = ('VirtualMachine', 'VirtualMachineInstance', 'VM')

# Binding methods, in the order the admitters count them.
KUBEVIRT_BINDINGS = ('bridge', 'masquerade', 'sriov', 'passtBinding', 'binding')
DISCONTINUED_BINDINGS = ('slirp', 'passt', 'macvtap')
VIRTINK_BINDINGS = ('bridge', 'masquerade', 'sriov', 'vhostUser', 'vdpa')

UNKNOWN_MANIFEST = (
    'unrecognised manifest: expected a KubeVirt VirtualMachine or VirtualMachineInstance '
    '(apiVersion kubevirt.io/...), a Virtink VirtualMachine (apiVersion '
    'virt.virtink.smartx.com/v1alpha1), an early KubeVirt "kind: VM" with spec.devices, '
    'an {interfaces, networks} pair, or a spec returned by vmnet.networks.vm_spec'
)

_MAC_COLON_FORM = re.compile(r'[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2})*')
_MAC_DOT_FORM = re.compile(r'[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4})*')
_MAC_LENGTHS = (6, 8, 20)
_CIDR = re.compile(r'([^/%]+)/([0-9]+)')


def error(field, message):
    return {'field': field, 'message': message}


def join(*parts):
    """A Kubernetes field path: ``join('spec', 'networks')`` is ``spec.networks``."""
    return '.'.join(part for part in parts if part)


def item(path, index):
    return '%s[%d]' % (path, index)


def json_type(value):
    """The JSON name of a Python value's type, as the API server reports it."""
    for python_type, name in (
        (bool, 'boolean'),
        (int, 'integer'),
        (float, 'number'),
        (str, 'string'),
        (dict, 'object'),
        (list, 'array'),
    ):
        if isinstance(value, python_type):
            return name
    return 'null' if value is None else type(value).__name__


def parse_mac(text):
    """The bytes of a MAC address as Go's ``net.ParseMAC`` reads it (6, 8 or 20 octets,
    separated by ``:`` or ``-``, or dotted groups of four hex digits); None if malformed."""
    if _MAC_COLON_FORM.fullmatch(text):
        digits = re.sub('[:-]', '', text)
    elif _MAC_DOT_FORM.fullmatch(text):
        digits = text.replace('.', '')
    else:
        return None
    octets = bytes.fromhex(digits)
    return octets if len(octets) in _MAC_LENGTHS else None


def format_mac(octets):
    return ':'.join('%02x' % octet for octet in octets)


def parse_cidr(text):
    """The network of an ``address/prefix`` string as Go's ``net.ParseCIDR`` reads it
    (host bits may be set; no netmask form, no zone); None if malformed."""
    match = _CIDR.fullmatch(text)
    if not match:
        return None
    try:
        address = ipaddress.ip_address(match.group(1))
    except ValueError:
        return None
    prefix = int(match.group(2))
    if prefix > address.max_prefixlen:
        return None
    return ipaddress.ip_network('%s/%d' % (address, prefix), strict=False)


class Reader(object):
    """Reads typed fields and collects the type errors, like the API server's schema check."""

    def __init__(self):
        self.errors = []
        self._reported = set()

    def read(self, obj, key, path, kind, default=None):
        value = obj.get(key)
        if value is None:
            return default
        if json_type(value) != kind:
            self._wrong_type(path, value, kind)
            return default
        return value

    def object(self, obj, key, path):
        """An object field, or an empty one when absent."""
        return self.read(obj, key, path, 'object', {})

    def objects(self, obj, key, path):
        """The ``(path, object)`` pairs of an array-of-objects field."""
        return [(item(path, index), value) for index, value in self._items(obj, key, path, 'object')]

    def strings(self, obj, key, path):
        return [value for _index, value in self._items(obj, key, path, 'string')]

    def _items(self, obj, key, path, kind):
        result = []
        for index, value in enumerate(self.read(obj, key, path, 'array', [])):
            if json_type(value) == kind:
                result.append((index, value))
            else:
                self._wrong_type(item(path, index), value, kind)
        return result

    def _wrong_type(self, path, value, kind):
        problem = error(path, 'Invalid value: "%s": must be of type %s' % (json_type(value), kind))
        # Objects on the way to several fields are read more than once: report them once
        # (a set, so that a list of many wrong items costs linear time).
        key = (problem['field'], problem['message'])
        if key not in self._reported:
            self._reported.add(key)
            self.errors.append(problem)


def detect(manifest):
    """Return ``(dialect, root)``, or ``(None, reason)`` when the manifest has no known shape.

    ``root`` is the path of the VMI spec, the prefix of KubeVirt's field paths.
    """
    if not isinstance(manifest, dict):
        return None, 'manifest must be an object, got %s' % json_type(manifest)
    group, version = _api_version(manifest.get('apiVersion'))
    spec = manifest.get('spec')
    spec_keys = set(spec) if isinstance(spec, dict) else set()
    if group == VIRTINK_GROUP or (group is None and 'instance' in spec_keys):
        return VIRTINK, 'spec'
    if 'spec' not in manifest:
        if 'interfaces' in manifest or 'networks' in manifest:
            return BARE, ''
        return None, UNKNOWN_MANIFEST
    if group not in (None, KUBEVIRT_GROUP):
        return None, 'unsupported apiVersion %s: %s' % (manifest.get('apiVersion'), UNKNOWN_MANIFEST)
    kind = manifest.get('kind')
    if kind is not None and kind not in KUBEVIRT_KINDS:
        return None, 'unsupported kind %s: %s' % (kind, UNKNOWN_MANIFEST)
    if kind is None and group is None and not spec_keys & {'template', 'domain', 'devices'}:
        return None, UNKNOWN_MANIFEST
    current = version == 'v1'
    if kind == 'VirtualMachine' or 'template' in spec_keys:
        return (KUBEVIRT_V1_VM if current else KUBEVIRT_LEGACY), 'spec.template.spec'
    if 'devices' in spec_keys and 'domain' not in spec_keys and not current:
        return KUBEVIRT_EARLY, 'spec'
    return (KUBEVIRT_V1_VMI if current else KUBEVIRT_LEGACY), 'spec'


def _api_version(api_version):
    if api_version is None:
        return None, None
    if not isinstance(api_version, str):
        return '', None
    group, _slash, version = api_version.rpartition('/')
    return group, version


def parse(manifest):
    """Return ``(document, errors)``: the intermediate document, or None and every error."""
    dialect, root_or_reason = detect(manifest)
    if dialect is None:
        return None, [error('', root_or_reason)]
    root = root_or_reason
    reader = Reader()
    if dialect == VIRTINK:
        document = _virtink_document(reader, manifest)
    else:
        document = _kubevirt_document(reader, manifest, dialect, root)
    if reader.errors:
        return None, reader.errors
    return document, []


def blank_interface(path, index, name):
    """An interface with Go's zero values: what KubeVirt decodes from ``{name: <name>}``."""
    return {
        'path': path,
        'index': index,
        'name': name,
        'bindings': [],
        'plugin': '',
        'model': '',
        'mac': '',
        'macPath': join(path, 'macAddress'),
        'ports': [],
        'portRanges': [],
        'pciAddress': '',
        'bootOrder': None,
        'acpiIndex': 0,
        'tag': '',
        'state': '',
        'dhcpOptions': None,
        'masquerade': None,
    }


def blank_network(path, index, name):
    return {'path': path, 'index': index, 'name': name, 'pod': None, 'multus': None, 'resourceClaim': None}


def _document(dialect, root, interfaces_path, networks_path, metadata):
    return {
        'dialect': dialect,
        'root': root,
        'interfacesPath': interfaces_path,
        'networksPath': networks_path,
        'name': metadata['name'] or None,
        'namespace': metadata['namespace'] or 'default',
        'hostname': None,
        'subdomain': None,
        'vcpus': 1,
        'multiqueue': False,
        'autoattach': None,
        'interfaces': [],
        'networks': [],
        'diskBootOrders': [],
        'probeHandlers': [],
    }


def _metadata(reader, manifest):
    metadata = reader.object(manifest, 'metadata', 'metadata')
    return {
        'name': reader.read(metadata, 'name', 'metadata.name', 'string', ''),
        'namespace': reader.read(metadata, 'namespace', 'metadata.namespace', 'string', ''),
    }


def _object_at(reader, manifest, path):
    """The object at a dotted path, reading (and type-checking) every step."""
    obj, walked = manifest, ''
    for key in path.split('.') if path else ():
        walked = join(walked, key)
        obj = reader.object(obj, key, walked)
    return obj


def _kubevirt_document(reader, manifest, dialect, root):
    if dialect == KUBEVIRT_EARLY:
        devices_path = 'spec.devices'
    elif dialect == BARE:
        devices_path = ''
    else:
        devices_path = join(root, 'domain.devices')
    if root == 'spec.template.spec' and _object_at(reader, manifest, 'spec').get('template') is None:
        # The API server's schema requires a VirtualMachine's template.
        reader.errors.append(error('spec.template', 'Required value'))
    metadata = _metadata(reader, manifest) if dialect != BARE else {'name': '', 'namespace': ''}
    document = _document(dialect, root, join(devices_path, 'interfaces'), join(root, 'networks'), metadata)
    vmi_spec = _object_at(reader, manifest, root)
    devices = _object_at(reader, manifest, devices_path)
    document['interfaces'] = [
        _kubevirt_interface(reader, obj, path, index)
        for index, (path, obj) in enumerate(reader.objects(devices, 'interfaces', document['interfacesPath']))
    ]
    document['networks'] = [
        _kubevirt_network(reader, obj, path, index)
        for index, (path, obj) in enumerate(reader.objects(vmi_spec, 'networks', document['networksPath']))
    ]
    document['autoattach'] = reader.read(
        devices, 'autoattachPodInterface', join(devices_path, 'autoattachPodInterface'), 'boolean'
    )
    document['multiqueue'] = reader.read(
        devices, 'networkInterfaceMultiqueue', join(devices_path, 'networkInterfaceMultiqueue'), 'boolean', False
    )
    document['hostname'] = reader.read(vmi_spec, 'hostname', join(root, 'hostname'), 'string') or None
    document['subdomain'] = reader.read(vmi_spec, 'subdomain', join(root, 'subdomain'), 'string') or None
    if dialect not in (KUBEVIRT_EARLY, BARE):
        cpu_path = join(root, 'domain.cpu')
        cpu = _object_at(reader, manifest, cpu_path)
        document['vcpus'] = _product(reader, cpu, cpu_path, ('sockets', 'cores', 'threads'))
    document['diskBootOrders'] = _disk_boot_orders(devices)
    document['probeHandlers'] = _probe_handlers(vmi_spec, root)
    return document


def _kubevirt_interface(reader, obj, path, index):
    def field(key):
        return join(path, key)

    iface = blank_interface(path, index, reader.read(obj, 'name', field('name'), 'string', ''))
    methods = _binding_methods(reader, obj, path, KUBEVIRT_BINDINGS + DISCONTINUED_BINDINGS)
    iface['bindings'] = list(methods)
    iface['plugin'] = reader.read(methods.get('binding', {}), 'name', field('binding.name'), 'string', '')
    # seeds 000/001: ``bridge: {delegateIp: true}`` is the bridge binding.
    reader.read(methods.get('bridge', {}), 'delegateIp', field('bridge.delegateIp'), 'boolean')
    for key in ('model', 'pciAddress', 'tag', 'state'):
        iface[key] = reader.read(obj, key, field(key), 'string', '')
    iface['mac'] = reader.read(obj, 'macAddress', field('macAddress'), 'string', '')
    iface['bootOrder'] = reader.read(obj, 'bootOrder', field('bootOrder'), 'integer')
    iface['acpiIndex'] = reader.read(obj, 'acpiIndex', field('acpiIndex'), 'integer', 0)
    iface['ports'] = [
        _port(reader, port, port_path) for port_path, port in reader.objects(obj, 'ports', field('ports'))
    ]
    iface['portRanges'] = [
        _port_range(reader, port_range, range_path)
        for range_path, port_range in reader.objects(obj, 'portRanges', field('portRanges'))
    ]
    if obj.get('dhcpOptions') is not None:
        iface['dhcpOptions'] = _dhcp_options(
            reader, reader.object(obj, 'dhcpOptions', field('dhcpOptions')), field('dhcpOptions')
        )
    return iface


def _binding_methods(reader, obj, path, keys):
    """The binding methods an interface sets, as an ordered ``{key: object}``."""
    methods = {}
    for key in keys:
        method = reader.read(obj, key, join(path, key), 'object')
        if method is not None:
            methods[key] = method
    return methods


def _port(reader, obj, path):
    return {
        'path': path,
        'name': reader.read(obj, 'name', join(path, 'name'), 'string', ''),
        'port': reader.read(obj, 'port', join(path, 'port'), 'integer', 0),
        'protocol': reader.read(obj, 'protocol', join(path, 'protocol'), 'string', ''),
    }


def _port_range(reader, obj, path):
    return {
        'path': path,
        'protocol': reader.read(obj, 'protocol', join(path, 'protocol'), 'string', ''),
        'start': reader.read(obj, 'start', join(path, 'start'), 'integer', 0),
        'end': reader.read(obj, 'end', join(path, 'end'), 'integer', 0),
    }


def _dhcp_options(reader, obj, path):
    return {
        'bootFileName': reader.read(obj, 'bootFileName', join(path, 'bootFileName'), 'string', ''),
        'tftpServerName': reader.read(obj, 'tftpServerName', join(path, 'tftpServerName'), 'string', ''),
        'ntpServers': reader.strings(obj, 'ntpServers', join(path, 'ntpServers')),
        'privateOptions': [
            {
                'option': reader.read(option, 'option', join(option_path, 'option'), 'integer', 0),
                'value': reader.read(option, 'value', join(option_path, 'value'), 'string', ''),
            }
            for option_path, option in reader.objects(obj, 'privateOptions', join(path, 'privateOptions'))
        ],
    }


def _kubevirt_network(reader, obj, path, index):
    network = blank_network(path, index, reader.read(obj, 'name', join(path, 'name'), 'string', ''))
    pod = reader.read(obj, 'pod', join(path, 'pod'), 'object')
    if pod is not None:
        network['pod'] = {
            key: reader.read(pod, key, join(path, 'pod', key), 'string', '')
            for key in ('vmNetworkCIDR', 'vmIPv6NetworkCIDR')
        }
    multus = reader.read(obj, 'multus', join(path, 'multus'), 'object')
    if multus is not None:
        network['multus'] = {
            'networkName': reader.read(multus, 'networkName', join(path, 'multus.networkName'), 'string', ''),
            'default': reader.read(multus, 'default', join(path, 'multus.default'), 'boolean', False),
        }
    claim = reader.read(obj, 'resourceClaim', join(path, 'resourceClaim'), 'object')
    if claim is not None:
        network['resourceClaim'] = {
            key: reader.read(claim, key, join(path, 'resourceClaim', key), 'string', '')
            for key in ('claimName', 'requestName')
        }
    return network


def _virtink_document(reader, manifest):
    document = _document(VIRTINK, 'spec', 'spec.instance.interfaces', 'spec.networks', _metadata(reader, manifest))
    spec = _object_at(reader, manifest, 'spec')
    instance = _object_at(reader, manifest, 'spec.instance')
    document['interfaces'] = [
        _virtink_interface(reader, obj, path, index)
        for index, (path, obj) in enumerate(reader.objects(instance, 'interfaces', document['interfacesPath']))
    ]
    document['networks'] = [
        _virtink_network(reader, obj, path, index)
        for index, (path, obj) in enumerate(reader.objects(spec, 'networks', document['networksPath']))
    ]
    # Virtink never attaches a network the manifest does not list.
    document['autoattach'] = False
    cpu = _object_at(reader, manifest, 'spec.instance.cpu')
    document['vcpus'] = _product(reader, cpu, 'spec.instance.cpu', ('sockets', 'coresPerSocket'))
    return document


def _virtink_interface(reader, obj, path, index):
    iface = blank_interface(path, index, reader.read(obj, 'name', join(path, 'name'), 'string', ''))
    iface['mac'] = reader.read(obj, 'mac', join(path, 'mac'), 'string', '')
    iface['macPath'] = join(path, 'mac')
    methods = _binding_methods(reader, obj, path, VIRTINK_BINDINGS)
    iface['bindings'] = list(methods)
    masquerade = methods.get('masquerade')
    if masquerade is not None:
        # seed 004 documents ``cidr``; current Virtink calls it ``ipv4CIDR``.
        ipv4_key = 'ipv4CIDR' if masquerade.get('cidr') is None and masquerade.get('ipv4CIDR') is not None else 'cidr'
        iface['masquerade'] = {
            'vmNetworkCIDR': reader.read(masquerade, ipv4_key, join(path, 'masquerade', ipv4_key), 'string', ''),
            'vmNetworkCIDRPath': join(path, 'masquerade', ipv4_key),
            'vmIPv6NetworkCIDR': reader.read(masquerade, 'ipv6CIDR', join(path, 'masquerade.ipv6CIDR'), 'string', ''),
            'vmIPv6NetworkCIDRPath': join(path, 'masquerade.ipv6CIDR'),
        }
    return iface


def _virtink_network(reader, obj, path, index):
    network = blank_network(path, index, reader.read(obj, 'name', join(path, 'name'), 'string', ''))
    if reader.read(obj, 'pod', join(path, 'pod'), 'object') is not None:
        network['pod'] = {'vmNetworkCIDR': '', 'vmIPv6NetworkCIDR': ''}
    multus = reader.read(obj, 'multus', join(path, 'multus'), 'object')
    if multus is not None:
        network['multus'] = {
            'networkName': reader.read(multus, 'networkName', join(path, 'multus.networkName'), 'string', ''),
            'default': False,
        }
    return network


def _product(reader, cpu, path, keys):
    """vCPUs of a CPU topology: the product of its counts, a missing or zero count being 1."""
    vcpus = 1
    for key in keys:
        vcpus *= max(1, reader.read(cpu, key, join(path, key), 'integer', 1))
    return vcpus


def _disk_boot_orders(devices):
    """Boot orders the disks claim; KubeVirt checks disks first, so an interface repeating
    one of them is the one rejected. Disks are not ours to validate: oddities are skipped."""
    disks = devices.get('disks')
    orders = []
    for disk in disks if isinstance(disks, list) else ():
        order = disk.get('bootOrder') if isinstance(disk, dict) else None
        if json_type(order) == 'integer' and order >= 1:
            orders.append(order)
    return orders


def _probe_handlers(vmi_spec, root):
    """Paths of the network probe handlers (httpGet, tcpSocket) in KubeVirt's check order."""
    handlers = []
    for probe_key in ('readinessProbe', 'livenessProbe'):
        probe = vmi_spec.get(probe_key)
        for handler in ('httpGet', 'tcpSocket'):
            if isinstance(probe, dict) and probe.get(handler) is not None:
                handlers.append(join(root, probe_key, handler))
    return handlers
