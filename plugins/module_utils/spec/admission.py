# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Admission rules: KubeVirt's and Virtink's, with their exact messages and field paths,
plus the checks KubeVirt leaves to network setup, which vmnet makes before touching a host.

One function per rule group, each ``rule(document, options) -> [error]``, listed in the
order of KubeVirt's network admitter (``pkg/network/admitter/validator.go``) and of
Virtink's ``ValidateVMSpec`` (``pkg/controller/vm_webhook.go``). All rules run, so every
error is reported at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.spec import dialects, plugins
from ansible_collections.vmnet.networks.plugins.module_utils.spec.dialects import error, item, join
from ansible_collections.vmnet.networks.plugins.module_utils.spec.model import PASST_GATE, counted_bindings, default_network

PASST_BINDING_GATE = 'PasstBinding'
PORT_RANGES_GATE = 'PortRangesSpec'
DRA_GATE = 'NetworkDevicesWithDRA'

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
_DISCONTINUED = (
    ('slirp', 'Slirp interface support has been discontinued since v1.3'),
    ('passt', 'Passt network binding has been discontinued since v1.3'),
    ('macvtap', 'Macvtap network binding has been discontinued since v1.3'),
)
_GO_ESCAPES = {
    '\a': '\\a',
    '\b': '\\b',
    '\f': '\\f',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '\v': '\\v',
    '"': '\\"',
    '\\': '\\\\',
}


def validate(document, options):
    """Every admission error of a defaulted document, in the admitters' order."""
    rules = VIRTINK_RULES if document['dialect'] == dialects.VIRTINK else KUBEVIRT_RULES
    errors = []
    for rule in rules:
        errors.extend(rule(document, options))
    return errors


def go_quote(text):
    """``%q`` of a Go string, as the admitters format names and values."""
    quoted = []
    for char in text:
        if char in _GO_ESCAPES:
            quoted.append(_GO_ESCAPES[char])
        elif char.isprintable():
            quoted.append(char)
        elif ord(char) < 0x80:
            quoted.append('\\x%02x' % ord(char))
        elif ord(char) < 0x10000:
            quoted.append('\\u%04x' % ord(char))
        else:
            quoted.append('\\U%08x' % ord(char))
    return '"%s"' % ''.join(quoted)


def _networks_by_name(document):
    # A dict lookup, as in KubeVirt: with duplicate names the last network wins.
    return dict((network['name'], network) for network in document['networks'])


def _on_pod_network(network):
    return network is not None and network['pod'] is not None


# Names: the API server's object metadata, KubeVirt's hostname and subdomain ---------------


def object_names(document, options):
    """``metadata.name`` a DNS-1123 subdomain and ``metadata.namespace`` a DNS-1123 label (the
    API server's rules); ``hostname`` and ``subdomain`` DNS labels (KubeVirt's messages; the
    pod's subdomain is a label, as the kubelet checks it); a Multus ``networkName`` a
    ``[namespace/]name`` of a NetworkAttachmentDefinition. These names become paths, network
    namespaces, dnsmasq lines and QEMU arguments: nothing else gets that far."""
    errors = []
    if document['name'] is not None:
        errors.extend(_k8s_name('metadata.name', document['name'], names.dns1123_subdomain_errors))
    errors.extend(_k8s_name('metadata.namespace', document['namespace'], names.dns1123_label_errors))
    for key in ('hostname', 'subdomain'):
        value = document[key]
        rule, problems = 'DNS_LABEL', names.dns1123_label_errors(value) if value is not None else []
        if key == 'subdomain' and value is not None and names.dns1123_subdomain_errors(value):
            rule, problems = 'DNS_SUBDOMAIN', names.dns1123_subdomain_errors(value)
        if problems:
            field = join(document['root'], key)
            errors.append(error(field, '%s does not conform to the kubernetes %s rules : %s'
                                % (field, rule, ', '.join(problems))))
    for network in document['networks']:
        multus = network['multus']
        if multus is not None and multus['networkName']:
            errors.extend(_nad_reference(join(network['path'], 'multus.networkName'), multus['networkName']))
    return errors


def _k8s_name(field, value, check):
    problems = check(value)
    if problems:
        return [error(field, 'Invalid value: %s: %s' % (go_quote(value), '; '.join(problems)))]
    return []


def _nad_reference(field, value):
    namespace, slash, name = value.rpartition('/')
    problems = names.dns1123_subdomain_errors(name)
    if slash:
        problems = names.dns1123_label_errors(namespace) + problems
    if problems:
        return [error(field, 'Invalid value: %s: must be <name> or <namespace>/<name> of a '
                      'NetworkAttachmentDefinition: %s' % (go_quote(value), '; '.join(problems)))]
    return []


# KubeVirt: creation-only checks -----------------------------------------------------------


def discontinued_bindings(document, options):
    """Bindings removed in KubeVirt v1.3; slirp stays in the dialects that document it, the
    old passt where the ``Passt`` gate (KubeVirt <= v1.2) is enabled."""
    errors = []
    for iface in document['interfaces']:
        for key, message in _DISCONTINUED:
            slirp_supported = key == 'slirp' and document['dialect'] in dialects.SLIRP_DIALECTS
            passt_supported = key == 'passt' and PASST_GATE in options['feature_gates']
            if key in iface['bindings'] and not (slirp_supported or passt_supported):
                errors.append(error(join(iface['path'], key), message))
    return errors


# KubeVirt: netsource.go -------------------------------------------------------------------


def single_pod_network(document, options):
    networks = document['networks']
    pod_networks = [network for network in networks if network['pod'] is not None]
    multus_defaults = [
        network for network in networks if network['multus'] is not None and network['multus']['default']
    ]
    errors = []
    if len(pod_networks) > 1:
        interfaces = join(document['root'], 'interfaces')
        errors.append(error(interfaces, 'more than one interface is connected to a pod network in %s' % interfaces))
    if len(multus_defaults) > 1:
        errors.append(error(document['networksPath'], 'Multus CNI should only have one default network'))
    if pod_networks and multus_defaults:
        errors.append(
            error(document['networksPath'], 'Pod network cannot be defined when Multus default network is defined')
        )
    return errors


def single_network_source(document, options):
    errors = []
    for network in document['networks']:
        sources = [source for source in ('pod', 'multus', 'resourceClaim') if network[source] is not None]
        if not sources:
            errors.append(error(network['path'], 'should have a network type'))
        elif len(sources) > 1:
            errors.append(error(network['path'], 'should have only one network type'))
    return errors


def multus_network_source(document, options):
    # KubeVirt reports the first offender only.
    for network in document['networks']:
        if network['multus'] is not None and not network['multus']['networkName']:
            return [error(network['path'], 'CNI delegating plugin must have a networkName')]
    return []


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
    networks = _networks_by_name(document)
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
    errors = _masquerade_needs_pod_network(iface, network)
    # KubeVirt compares the text; a spelling of the same address breaks the pod just as well.
    if iface['mac'] and dialects.parse_mac(iface['mac']) == RESERVED_MAC:
        errors.append(
            error(
                iface['macPath'],
                'The requested MAC address is reserved for the in-pod bridge. Please choose another one.',
            )
        )
    return errors


def _masquerade_needs_pod_network(iface, network):
    if 'masquerade' in iface['bindings'] and not _on_pod_network(network):
        return [error(join(iface['path'], 'name'), 'Masquerade interface only implemented with pod network')]
    return []


def _bridge_binding(iface, network, options):
    if (
        'bridge' in iface['bindings']
        and _on_pod_network(network)
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
        if not _on_pod_network(network):
            errors.append(
                error(join(iface['path'], 'name'), 'PasstBinding interface only implemented with pod network')
            )
    return errors


def _legacy_passt_binding(iface, network, document, options):
    """The old core ``passt: {}`` under the ``Passt`` gate: KubeVirt v1.0's rules (passt.go)."""
    if 'passt' not in iface['bindings'] or PASST_GATE not in options['feature_gates']:
        return []
    errors = []
    if not _on_pod_network(network):
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


# KubeVirt: netiface.go, dra.go ------------------------------------------------------------


def network_name_unique(document, options):
    seen = set()
    errors = []
    for network in document['networks']:
        if network['name'] in seen:
            errors.append(
                error(
                    join(network['path'], 'name'),
                    'Network with name %s already exists, every network must have a unique name'
                    % go_quote(network['name']),
                )
            )
        seen.add(network['name'])
    return errors


def dra_networks(document, options):
    """DRA networks: KubeVirt's feature gate check; past it, no libvirt host has the devices."""
    claims = [network for network in document['networks'] if network['resourceClaim'] is not None]
    if not claims:
        return []
    if DRA_GATE not in options['feature_gates']:
        return [
            error(
                document['networksPath'],
                'vmi.spec.networks contains DRA networks but NetworkDevicesWithDRA feature gate is not enabled',
            )
        ]
    return [
        error(
            join(network['path'], 'resourceClaim'), 'DRA (resourceClaim) networks are not supported by vmnet.networks'
        )
        for network in claims
    ]


def networks_assigned_to_interfaces(document, options):
    iface_names = set(iface['name'] for iface in document['interfaces'])
    return [
        _not_found(join(network['path'], 'name'), network['name'])
        for network in document['networks']
        if network['name'] not in iface_names
    ]


def interface_name_unique(document, options):
    seen = set()
    errors = []
    for iface in document['interfaces']:
        if iface['name'] in seen:
            errors.append(
                error(join(iface['path'], 'name'), 'Only one interface can be connected to one specific network')
            )
        seen.add(iface['name'])
    return errors


def interfaces_assigned_to_networks(document, options):
    networks = _networks_by_name(document)
    return [
        _not_found(join(iface['path'], 'name'), iface['name'])
        for iface in document['interfaces']
        if iface['name'] not in networks
    ]


def _not_found(field, name):
    return error(field, "%s '%s' not found." % (field, name))


def interfaces_fields(document, options):
    networks = _networks_by_name(document)
    errors = []
    for iface in document['interfaces']:
        network = networks.get(iface['name'])
        errors.extend(_interface_name_format(iface))
        errors.extend(_interface_model(iface))
        errors.extend(_mac_address(iface))
        errors.extend(_pci_address(iface))
        errors.extend(_port_configuration(iface, network, options))
        errors.extend(_dhcp_options(iface, document['root']))
    return errors


def _interface_name_format(obj):
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
    return _too_long_mac(iface)


def _too_long_mac(iface):
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
    if not _on_pod_network(network):
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


# KubeVirt: generic VMI spec checks that touch interfaces (vmi-create-admitter.go) -------


def interface_boot_order(document, options):
    root = document['root']
    used = set(document['diskBootOrders'])
    errors = []
    for iface in document['interfaces']:
        order = iface['bootOrder']
        if order is None:
            continue
        if order < 1:
            # sic: KubeVirt names the spec root, not the interface list
            errors.append(
                error(
                    '%s.bootOrder' % item(root, iface['index']),
                    '%s must have a boot order > 0, if supplied' % item(root, iface['index']),
                )
            )
        elif order in used:
            field = join(iface['path'], 'bootOrder')
            errors.append(error(field, 'Boot order for %s already set for a different device.' % field))
        else:
            used.add(order)
    return errors


def probes_need_pod_network(document, options):
    if any(network['pod'] is not None for network in document['networks']):
        return []
    return [
        error(handler, '%s is only allowed if the Pod Network is attached' % handler)
        for handler in document['probeHandlers']
    ]


# vmnet: what KubeVirt only finds out while setting the network up ------------------------


def vm_network_cidrs(document, options):
    """The guest-side networks of masquerade and slirp (``pod.vmNetworkCIDR``,
    ``pod.vmIPv6NetworkCIDR``): valid, of their family, with room for gateway and guest."""
    errors = []
    for network in document['networks']:
        for key, version in (('vmNetworkCIDR', 4), ('vmIPv6NetworkCIDR', 6)):
            value = (network['pod'] or {}).get(key)
            if value:
                errors.extend(_vm_cidr_problem(join(network['path'], 'pod', key), value, version))
    return errors


def _vm_cidr_problem(field, value, version):
    network = dialects.parse_cidr(value)
    if network is None:
        return [error(field, 'invalid CIDR address: %s' % value)]
    errors = _cidr_family(field, network, version)
    if network.prefixlen > network.max_prefixlen - 2:
        errors.append(error(field, 'VM CIDR subnet is too small, at least 2 host addresses are required'))
    return errors


def _cidr_family(field, network, version):
    if network.version != version:
        return [error(field, 'must be an IPv%d CIDR' % version)]
    return []


def binding_plugins(document, options):
    """A ``binding: {name}`` plugin must be registered (KubeVirt finds out when the pod is
    made: "unable to find the network binding plugin ..."), and vmnet must have an
    implementation of it (see bindings/plugins.py)."""
    counted = counted_bindings(document['dialect'], options)
    errors = []
    for iface in document['interfaces']:
        # an interface KubeVirt's admission refused (not exactly one binding) never gets this far
        if 'binding' not in iface['bindings'] or len([k for k in iface['bindings'] if k in counted]) != 1:
            continue
        field = join(iface['path'], 'binding.name')
        registration = options['network_binding_plugins'].get(iface['plugin'])
        if registration is None:
            errors.append(error(field, "unable to find the network binding plugin '%s' in Kubevirt configuration"
                                % iface['plugin']))
        elif plugins.implementation(iface['plugin'], registration) is None:
            errors.append(error(field, plugins.UNSUPPORTED % (iface['plugin'], ', '.join(plugins.supported()))))
    return errors


def duplicate_macs(document, options):
    """Two NICs of one guest with one MAC address: the guest's L2 breaks."""
    owners = {}
    errors = []
    for iface in document['interfaces']:
        mac = dialects.parse_mac(iface['mac']) if iface['mac'] else None
        if mac is None:
            continue
        if mac in owners:
            errors.append(
                error(
                    iface['macPath'],
                    'interface %s has MAC address (%s) that is already used by interface %s.'
                    % (join(iface['path'], 'name'), iface['mac'], join(owners[mac]['path'], 'name')),
                )
            )
        else:
            owners[mac] = iface
    return errors


# Virtink: vm_webhook.go -------------------------------------------------------------------


def virtink_interfaces(document, options):
    seen = set()
    errors = []
    for iface in document['interfaces']:
        name_field = join(iface['path'], 'name')
        if iface['name'] in seen:
            errors.append(error(name_field, 'Duplicate value: %s' % go_quote(iface['name'])))
        seen.add(iface['name'])
        if not iface['name']:
            errors.append(error(name_field, 'Required value'))
        if iface['mac'] and dialects.parse_mac(iface['mac']) is None:
            errors.append(
                error(
                    iface['macPath'],
                    'Invalid value: %s: address %s: invalid MAC address' % (go_quote(iface['mac']), iface['mac']),
                )
            )
        errors.extend(_virtink_binding_methods(iface))
    return errors


def _virtink_binding_methods(iface):
    errors = []
    for count, key in enumerate(iface['bindings'], start=1):
        if count > 1:
            errors.append(error(join(iface['path'], key), 'Forbidden: may not specify more than 1 binding method'))
        elif key == 'masquerade':
            masquerade = iface['masquerade']
            errors.extend(_virtink_cidr(masquerade['vmNetworkCIDRPath'], masquerade['vmNetworkCIDR'], 4))
            errors.extend(_virtink_cidr(masquerade['vmIPv6NetworkCIDRPath'], masquerade['vmIPv6NetworkCIDR'], 6))
    return errors


def _virtink_cidr(field, value, version):
    """Virtink's ``ValidateCIDR(cidr, 4)``, and the family vmnet needs the CIDR in."""
    network = dialects.parse_cidr(value)
    if network is None:
        return [
            error(field, 'Invalid value: %s: invalid CIDR address: %s' % (go_quote(value), value)),
            error(field, 'Invalid value: %s: must specify subnet' % go_quote(value)),
        ]
    errors = []
    if network.num_addresses < 4:
        errors.append(error(field, 'Invalid value: %s: must contain at least 4 IPs' % go_quote(value)))
    return errors + _cidr_family(field, network, version)


def virtink_networks(document, options):
    seen = set()
    errors = []
    for network in document['networks']:
        name_field = join(network['path'], 'name')
        if network['name'] in seen:
            errors.append(error(name_field, 'Duplicate value: %s' % go_quote(network['name'])))
        seen.add(network['name'])
        if not network['name']:
            errors.append(error(name_field, 'Required value'))
        errors.extend(_virtink_network_source(network))
    return errors


def _virtink_network_source(network):
    if network['pod'] is None and network['multus'] is None:
        return [error(network['path'], 'Required value: at least 1 network source is required')]
    if network['multus'] is None:
        return []
    if network['pod'] is not None:
        return [error(join(network['path'], 'multus'), 'Forbidden: may not specify more than 1 network source')]
    if not network['multus']['networkName']:
        return [error(join(network['path'], 'multus.networkName'), 'Required value')]
    return []


def virtink_names(document, options):
    """Virtink checks no name; its interfaces and networks become paths and links here, so
    they follow KubeVirt's pattern as in every other dialect."""
    errors = []
    for obj in document['interfaces'] + document['networks']:
        if obj['name']:
            errors.extend(_interface_name_format(obj))
    return errors


def virtink_interface_networks(document, options):
    """What Virtink's controller assumes and its webhook leaves unchecked (seed 004:
    "Each interface must have a corresponding network with the same name", masquerade
    "is only allowed to connect to the pod network"), as KubeVirt words it."""
    networks = _networks_by_name(document)
    errors = interfaces_assigned_to_networks(document, options)
    for iface in document['interfaces']:
        if iface['name'] in networks:
            errors.extend(_masquerade_needs_pod_network(iface, networks[iface['name']]))
        errors.extend(_too_long_mac(iface))
    return errors


def virtink_unsupported_bindings(document, options):
    return [
        error(join(iface['path'], key), '%s binding is not supported by vmnet.networks' % key)
        for iface in document['interfaces']
        for key in iface['bindings']
        if key in ('vhostUser', 'vdpa')
    ]


KUBEVIRT_RULES = (
    object_names,
    discontinued_bindings,
    single_pod_network,
    single_network_source,
    multus_network_source,
    interface_state,
    interface_binding,
    network_name_unique,
    dra_networks,
    networks_assigned_to_interfaces,
    interface_name_unique,
    interfaces_assigned_to_networks,
    interfaces_fields,
    interface_boot_order,
    probes_need_pod_network,
    vm_network_cidrs,
    binding_plugins,
    duplicate_macs,
)

VIRTINK_RULES = (
    object_names,
    virtink_names,
    virtink_interfaces,
    virtink_networks,
    virtink_interface_networks,
    virtink_unsupported_bindings,
    duplicate_macs,
)
