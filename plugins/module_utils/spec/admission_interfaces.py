# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""KubeVirt's admission rules of one interface: its state, its binding (admit.go, binding.go,
passt.go, and v1.0's slirp.go for the dialects that have slirp) and its fields (model, MAC,
PCI address, ports, DHCP options), with KubeVirt's messages and field paths."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.spec import dialects
from ansible_collections.vmnet.networks.plugins.module_utils.spec.admission_common import go_quote, networks_by_name, on_pod_network
from ansible_collections.vmnet.networks.plugins.module_utils.spec.dialects import error, item, join
from ansible_collections.vmnet.networks.plugins.module_utils.spec.model import PASST_GATE, counted_bindings, default_network

PASST_BINDING_GATE = 'PasstBinding'
PORT_RANGES_GATE = 'PortRangesSpec'

INTERFACE_STATES = ('', 'absent', 'down', 'up')
INTERFACE_MODELS = ('e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139', 'virtio')
# The MAC of the masquerade binding's in-pod bridge (pkg/network/link).
RESERVED_MAC = b'\x02\x00\x00\x00\x00\x00'
MAX_PORT_RANGES = 10
SLIRP_NOT_ENABLED = 'Slirp interface is not enabled in kubevirt-config'

_PCI_ADDRESS = re.compile(r'[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]')
# IANA_SVC_NAME (k8s.io/apimachinery IsValidPortName): 1-15 of [a-z0-9-], a letter,
# no leading, trailing or double dash.
_PORT_NAME = re.compile(r'(?=.{1,15}\Z)(?=.*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*')


# KubeVirt: admit.go -----------------------------------------------------------------------


def interface_state(document, options):
    primary = default_network(document['networks'])
    errors = []
    for iface in document['interfaces']:
        name, state, field = iface['name'], iface['state'], join(iface['path'], 'state')
        if state not in INTERFACE_STATES:
            errors.append(error(field, 'logical %s interface state value is unsupported: %s' % (name, state)))
        if 'sriov' in iface['bindings'] and state in ('up', 'down'):
            errors.append(
                error(
                    field,
                    '%s interface\'s state %s is not supported for SR-IOV NICs' % (go_quote(name), go_quote(state)),
                )
            )
        if state == 'absent' and 'bridge' not in iface['bindings']:
            errors.append(
                error(field, '%s interface\'s state "absent" is supported only for bridge binding' % go_quote(name))
            )
        if state == 'absent' and primary is not None and primary['name'] == name:
            errors.append(
                error(field, '%s interface\'s state "absent" is not supported on default networks' % go_quote(name))
            )
    return errors


# KubeVirt: binding.go, passt.go (and slirp.go of v1.0 for the dialects that have slirp) ----


def interface_binding(document, options):
    networks = networks_by_name(document)
    counted = counted_bindings(document['dialect'], options)
    errors = []
    for iface in document['interfaces']:
        network = networks.get(iface['name'])
        errors.extend(_binding_count(iface, counted))
        errors.extend(_masquerade_binding(iface, network))
        errors.extend(_bridge_binding(iface, network, options))
        errors.extend(_passt_binding(iface, network, options))
        errors.extend(_legacy_passt_binding(iface, network, document, options))
        if document['dialect'] in dialects.SLIRP_DIALECTS:
            errors.extend(_slirp_binding(iface, network, options))
    return errors


def _binding_count(iface, counted):
    if len([key for key in iface['bindings'] if key in counted]) != 1:
        return [
            error(
                iface['path'],
                'logical %s interface must have exactly one binding method or binding plugin' % iface['name'],
            )
        ]
    return []


def _masquerade_binding(iface, network):
    if 'masquerade' not in iface['bindings']:
        return []
    errors = masquerade_needs_pod_network(iface, network)
    # KubeVirt compares the text; a spelling of the same address breaks the pod just as well.
    if iface['mac'] and dialects.parse_mac(iface['mac']) == RESERVED_MAC:
        errors.append(
            error(
                iface['macPath'],
                'The requested MAC address is reserved for the in-pod bridge. Please choose another one.',
            )
        )
    return errors


def masquerade_needs_pod_network(iface, network):
    if 'masquerade' in iface['bindings'] and not on_pod_network(network):
        return [error(join(iface['path'], 'name'), 'Masquerade interface only implemented with pod network')]
    return []


def _bridge_binding(iface, network, options):
    if (
        'bridge' in iface['bindings']
        and on_pod_network(network)
        and not options['permit_bridge_interface_on_pod_network']
    ):
        return [
            error(
                join(iface['path'], 'name'), 'Bridge on pod network configuration is not enabled under kubevirt-config'
            )
        ]
    return []


def _passt_binding(iface, network, options):
    errors = []
    if 'passtBinding' in iface['bindings']:
        if PASST_BINDING_GATE not in options['feature_gates']:
            errors.append(error(join(iface['path'], 'name'), 'PasstBinding feature gate is not enabled'))
        if not on_pod_network(network):
            errors.append(
                error(join(iface['path'], 'name'), 'PasstBinding interface only implemented with pod network')
            )
    return errors


def _legacy_passt_binding(iface, network, document, options):
    """The old core ``passt: {}`` under the ``Passt`` gate: KubeVirt v1.0's rules (passt.go)."""
    if 'passt' not in iface['bindings'] or PASST_GATE not in options['feature_gates']:
        return []
    errors = []
    if not on_pod_network(network):
        errors.append(error(join(iface['path'], 'name'), 'Passt interface only implemented with pod network'))
    if len(document['interfaces']) > 1:
        errors.append(error(join(iface['path'], 'name'), 'Passt interface is only supported as the single interface of the VMI'))
    return errors


def _slirp_binding(iface, network, options):
    """KubeVirt v1.0's slirp rules: pod network only, and only where the cluster permits it
    (``permitSlirpInterface``, default false: the guest reaches the host's loopback)."""
    if 'slirp' not in iface['bindings']:
        return []
    if network is not None and network['pod'] is None:
        return [error(join(iface['path'], 'name'), 'Slirp interface only implemented with pod network')]
    if not options['permit_slirp_interface']:
        return [error(join(iface['path'], 'name'), SLIRP_NOT_ENABLED)]
    return []


def interfaces_fields(document, options):
    networks = networks_by_name(document)
    errors = []
    for iface in document['interfaces']:
        network = networks.get(iface['name'])
        errors.extend(interface_name_format(iface))
        errors.extend(_interface_model(iface))
        errors.extend(_mac_address(iface))
        errors.extend(_pci_address(iface))
        errors.extend(_port_configuration(iface, network, options))
        errors.extend(_dhcp_options(iface, document['root']))
    return errors


def interface_name_format(obj):
    """KubeVirt's interface name pattern (a network takes its interface's name)."""
    if not names.INTERFACE_NAME.fullmatch(obj['name']):
        return [error(join(obj['path'], 'name'), names.INTERFACE_NAME_MESSAGE)]
    return []


def _interface_model(iface):
    if iface['model'] and iface['model'] not in INTERFACE_MODELS:
        return [
            error(
                join(iface['path'], 'model'),
                'interface %s uses model %s that is not supported.' % (join(iface['path'], 'name'), iface['model']),
            )
        ]
    return []


def _mac_address(iface):
    if iface['mac'] and dialects.parse_mac(iface['mac']) is None:
        return [
            error(
                iface['macPath'],
                'interface %s has malformed MAC address (%s).' % (join(iface['path'], 'name'), iface['mac']),
            )
        ]
    return too_long_mac(iface)


def too_long_mac(iface):
    """An EUI-64 or InfiniBand address parses, but a guest NIC takes 6 octets."""
    mac = dialects.parse_mac(iface['mac']) if iface['mac'] else None
    if mac is not None and len(mac) > 6:
        return [
            error(
                iface['macPath'],
                'interface %s has too long MAC address (%s).' % (join(iface['path'], 'name'), iface['mac']),
            )
        ]
    return []


def _pci_address(iface):
    if iface['pciAddress'] and not _PCI_ADDRESS.fullmatch(iface['pciAddress']):
        return [
            error(
                join(iface['path'], 'pciAddress'),
                'interface %s has malformed PCI address (%s).' % (join(iface['path'], 'name'), iface['pciAddress']),
            )
        ]
    return []


def _port_configuration(iface, network, options):
    """Ports and port ranges; KubeVirt checks them only on the pod network."""
    errors = []
    name_field = join(iface['path'], 'name')
    if iface['portRanges'] and PORT_RANGES_GATE not in options['feature_gates']:
        errors.append(
            error(name_field, 'portRanges is specified on interface but the PortRangesSpec feature gate is not enabled')
        )
    if not on_pod_network(network):
        return errors
    errors.extend(_ports(iface['ports']))
    if iface['portRanges'] and PORT_RANGES_GATE in options['feature_gates']:
        if iface['ports']:
            errors.append(error(name_field, 'Cannot define both ports and portRanges on interface'))
        if 'masquerade' not in iface['bindings']:
            errors.append(error(name_field, 'portRanges are only supported on masquerade interfaces'))
        errors.extend(_port_ranges(iface))
    return errors


def _ports(ports):
    errors = []
    names = set()
    for port in ports:
        if port['name']:
            if port['name'] in names:
                errors.append(error(join(port['path'], 'name'), 'Duplicate name of the port: %s' % port['name']))
            if not _PORT_NAME.fullmatch(port['name']):
                errors.append(error(join(port['path'], 'name'), 'Invalid name of the port: %s' % port['name']))
            names.add(port['name'])
        if port['port'] == 0:
            errors.append(error(join(port['path'], 'port'), 'Port field is mandatory.'))
        if port['port'] < 0 or port['port'] >= 65536:
            errors.append(error(join(port['path'], 'port'), 'Port field must be in range 0 < x < 65536.'))
        if port['protocol'] not in ('', 'TCP', 'UDP'):
            errors.append(error(join(port['path'], 'protocol'), 'Unknown protocol, only TCP or UDP allowed'))
    return errors


def _port_ranges(iface):
    field = join(iface['path'], 'portRanges')
    errors = []
    if len(iface['portRanges']) > MAX_PORT_RANGES:
        errors.append(error(field, 'No more than %d portRanges are allowed' % MAX_PORT_RANGES))
    valid = []
    for port_range in iface['portRanges']:
        problem = _port_range_problem(port_range)
        if problem:
            errors.append(problem)
        else:
            valid.append(port_range)
    for protocol in ('TCP', 'UDP'):
        ranges = [(r['start'], r['end']) for r in valid if (r['protocol'] or 'TCP') == protocol]
        for index, (start, end) in enumerate(ranges):
            for other_start, other_end in ranges[index + 1 :]:
                if start <= other_end and other_start <= end:
                    errors.append(
                        error(
                            field,
                            '%s portRanges [%d-%d] and [%d-%d] overlap'
                            % (protocol, start, end, other_start, other_end),
                        )
                    )
    return errors


def _port_range_problem(port_range):
    """The first problem of one range, as KubeVirt reports one per range."""
    path = port_range['path']
    if port_range['protocol'] not in ('', 'TCP', 'UDP'):
        return error(join(path, 'protocol'), 'Unknown protocol, only TCP or UDP allowed')
    if not 0 < port_range['start'] < 65536:
        return error(join(path, 'start'), 'Start must be a valid port number, 0 < x < 65536')
    if not 0 < port_range['end'] < 65536:
        return error(join(path, 'end'), 'End must be a valid port number, 0 < x < 65536')
    if port_range['start'] > port_range['end']:
        return error(join(path, 'start'), 'Start must be less than or equal to end')
    return None


def _dhcp_options(iface, root):
    options = iface['dhcpOptions']
    if options is None:
        return []
    errors = []
    codes = [option['option'] for option in options['privateOptions']]
    if len(set(codes)) < len(codes):
        errors.append(error(root, 'Found Duplicates: you have provided duplicate DHCPPrivateOptions'))
    for code in codes:
        if not 224 <= code <= 254:
            errors.append(error(root, 'provided DHCPPrivateOptions are out of range, must be in range 224 to 254'))
    servers_field = join(iface['path'], 'dhcpOptions', 'ntpServers')
    for index, server in enumerate(options['ntpServers']):
        if not _is_ipv4(server):
            errors.append(error(item(servers_field, index), 'NTP servers must be a list of valid IPv4 addresses.'))
    return errors


def _is_ipv4(text):
    """Go's ``net.ParseIP(text).To4() != nil``: IPv4, or IPv4 mapped into IPv6."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return address.version == 4 or address.ipv4_mapped is not None
