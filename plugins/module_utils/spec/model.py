# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The normalised model: defaulting (the mutating webhooks), building the model from a
validated document, and turning a model back into its manifest for re-validation.

The model is the contract of the collection: plain JSON values, every default resolved,
documented in the RETURN of ``vmnet.networks.vm_spec``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.spec import dialects
from ansible_collections.vmnet.networks.plugins.module_utils.spec.dialects import error, item, join

SPEC_VERSION = 'vmnet.networks/v1'

DEFAULT_NETWORK_NAME = 'default'
KUBEVIRT_VM_CIDR = '10.0.2.0/24'
VIRTINK_VM_CIDR = '10.0.2.0/30'
VM_IPV6_CIDR = 'fd10:0:2::/120'

# Binding method key in a manifest -> binding name in the model.
BINDING_NAMES = {
    'bridge': 'bridge',
    'masquerade': 'masquerade',
    'sriov': 'sriov',
    'slirp': 'slirp',
    'passtBinding': 'passt',
    'passt': 'passt',
    'binding': 'plugin',
}
# KubeVirt's feature gate of the old core ``passt: {}`` (v0.5x-v1.2): with it, the emulated
# cluster is one of those versions and ``passt`` is a binding method again.
PASST_GATE = 'Passt'
# The feature gates a model's own fields show were enabled when it was admitted.
_GATES_OF_METHODS = {'passt': PASST_GATE, 'passtBinding': 'PasstBinding'}
# Model fields a KubeVirt interface manifest spells the same way.
_KUBEVIRT_INTERFACE_FIELDS = (
    'name', 'model', 'macAddress', 'ports', 'portRanges', 'pciAddress', 'bootOrder', 'acpiIndex', 'tag', 'dhcpOptions',
)
# The pod interface names of KubeVirt's legacy ordinal scheme.
_ORDINAL_POD_IFACE = re.compile(r'net[0-9]+')


def counted_bindings(dialect, options=None):
    """The binding methods an interface of this dialect must have exactly one of (with the
    ``Passt`` gate, KubeVirt <= v1.2 counted the old ``passt`` too)."""
    if dialect == dialects.VIRTINK:
        return dialects.VIRTINK_BINDINGS
    counted = dialects.KUBEVIRT_BINDINGS
    if dialect in dialects.SLIRP_DIALECTS:
        counted += ('slirp',)
    if options and PASST_GATE in options['feature_gates']:
        counted += ('passt',)
    return counted


def default_network(networks):
    """KubeVirt's default (primary) network: the first pod or Multus default network."""
    for network in networks:
        if network['pod'] is not None or (network['multus'] is not None and network['multus']['default']):
            return network
    return None


# Defaulting -----------------------------------------------------------------------------


def apply_defaults(document, options):
    """Default the document in place as the dialect's mutating webhook does; return errors."""
    if document['dialect'] == dialects.VIRTINK:
        _virtink_defaults(document)
        return []
    return _default_pod_interface(document, options)


def _default_pod_interface(document, options):
    """KubeVirt's ``SetDefaultNetworkInterface`` (pkg/network/vmispec/defaults.go)."""
    if document['autoattach'] is False or document['interfaces'] or document['networks']:
        return []
    binding = options['default_network_interface']
    if binding == 'bridge' and not options['permit_bridge_interface_on_pod_network']:
        return [error(document['interfacesPath'], 'bridge interface is not enabled in kubevirt-config')]
    if binding == 'slirp' and document['dialect'] not in dialects.SLIRP_DIALECTS:
        return [error(document['interfacesPath'], 'slirp interface is deprecated as of v1.3')]
    if binding == 'slirp' and not options['permit_slirp_interface']:
        return [error(document['interfacesPath'], 'Slirp interface is not enabled in kubevirt-config')]
    # As in KubeVirt, a default binding it does not know adds the network alone.
    if binding in ('bridge', 'masquerade', 'slirp'):
        iface = dialects.blank_interface(item(document['interfacesPath'], 0), 0, DEFAULT_NETWORK_NAME)
        iface['bindings'] = [binding]
        document['interfaces'] = [iface]
    network = dialects.blank_network(item(document['networksPath'], 0), 0, DEFAULT_NETWORK_NAME)
    network['pod'] = {'vmNetworkCIDR': '', 'vmIPv6NetworkCIDR': ''}
    document['networks'] = [network]
    return []


def _virtink_defaults(document):
    """Virtink's ``MutateVM``: no binding means bridge; masquerade gets its default CIDRs."""
    for iface in document['interfaces']:
        if not iface['bindings']:
            iface['bindings'] = ['bridge']
        masquerade = iface['masquerade']
        if masquerade is not None:
            masquerade['vmNetworkCIDR'] = masquerade['vmNetworkCIDR'] or VIRTINK_VM_CIDR
            masquerade['vmIPv6NetworkCIDR'] = masquerade['vmIPv6NetworkCIDR'] or VM_IPV6_CIDR


# Building the model ---------------------------------------------------------------------


def default_hostname(name):
    """KubeVirt's hostname of a VMI without one: its name up to the first dot, cut to 63
    characters as the kubelet cuts a pod's hostname (no trailing ``-`` or ``.``)."""
    if not name:
        return None
    return name.split('.')[0][:63].rstrip('-.') or None


def build(document, options):
    """The normalised model of a defaulted, validated document."""
    networks = _networks(document, options['pod_interface_naming'])
    networks_by_name = dict((network['name'], network) for network in networks)
    name = document['name']
    return {
        'specVersion': SPEC_VERSION,
        'dialect': document['dialect'],
        'root': document['root'],
        'name': name,
        'namespace': document['namespace'],
        'hostname': document['hostname'] or default_hostname(name),
        'subdomain': document['subdomain'],
        'vcpus': document['vcpus'],
        'networkInterfaceMultiqueue': document['multiqueue'],
        'autoattachPodInterface': document['autoattach'] is not False,
        'interfaces': [
            _interface(document, iface, networks_by_name[iface['name']], options) for iface in document['interfaces']
        ],
        'networks': networks,
        'networkBindingPlugins': dict(
            (iface['plugin'], options['network_binding_plugins'][iface['plugin']])
            for iface in document['interfaces'] if 'binding' in iface['bindings']
        ),
    }


def _networks(document, naming):
    primary = default_network(document['networks'])
    networks = []
    secondary_multus = 0
    for network in document['networks']:
        is_primary = network is primary
        if not is_primary and network['multus'] is not None:
            secondary_multus += 1
        networks.append(
            {
                'name': network['name'],
                'index': network['index'],
                'source': 'pod' if network['pod'] is not None else 'multus',
                'pod': _pod_source(network['pod']),
                'multus': _multus_source(network['multus'], document['namespace']),
                'primary': is_primary,
                'podInterfaceName': _pod_interface_name(
                    document['dialect'], network, is_primary, secondary_multus, naming
                ),
            }
        )
    return networks


def _pod_source(pod):
    if pod is None:
        return None
    return dict((key, value or None) for key, value in pod.items())


def _multus_source(multus, namespace):
    if multus is None:
        return None
    nad_namespace, _slash, nad_name = multus['networkName'].rpartition('/')
    return {'networkName': nad_name, 'namespace': nad_namespace or namespace, 'default': multus['default']}


def _pod_interface_name(dialect, network, is_primary, secondary_multus, naming):
    if dialect == dialects.VIRTINK and not is_primary:
        # Virtink names a Multus network's pod interface by its index in spec.networks.
        return names.secondary_pod_iface(network['name'], ordinal=network['index'])
    ordinal = secondary_multus if naming == 'ordinal' else None
    return names.pod_iface(network['name'], is_primary, ordinal)


def _interface(document, iface, network, options):
    key = next(key for key in iface['bindings'] if key in counted_bindings(document['dialect'], options))
    mac = dialects.parse_mac(iface['mac']) if iface['mac'] else None
    ipv4_cidr, ipv6_cidr = _vm_cidrs(document['dialect'], key, iface, network)
    return {
        'name': iface['name'],
        'index': iface['index'],
        'binding': BINDING_NAMES[key],
        'bindingMethod': key,
        'bindingPlugin': (iface['plugin'] or None) if key == 'binding' else None,
        'model': iface['model'] or 'virtio',
        'macAddress': dialects.format_mac(mac) if mac else None,
        'ports': [
            {'name': port['name'] or None, 'port': port['port'], 'protocol': port['protocol'] or 'TCP'}
            for port in iface['ports']
        ],
        'portRanges': [
            {'protocol': port_range['protocol'] or 'TCP', 'start': port_range['start'], 'end': port_range['end']}
            for port_range in iface['portRanges']
        ],
        'pciAddress': iface['pciAddress'] or None,
        'bootOrder': iface['bootOrder'],
        'acpiIndex': iface['acpiIndex'] or None,
        'tag': iface['tag'] or None,
        'state': iface['state'] or 'up',
        'dhcpOptions': _dhcp_options(iface['dhcpOptions']),
        'vmNetworkCIDR': ipv4_cidr,
        'vmIPv6NetworkCIDR': ipv6_cidr,
        'network': network['name'],
        'podInterfaceName': network['podInterfaceName'],
        'primary': network['primary'],
    }


def _vm_cidrs(dialect, key, iface, network):
    """The guest-side networks of the NAT bindings: masquerade (IPv4, IPv6), slirp (IPv4)."""
    if key == 'masquerade' and dialect == dialects.VIRTINK:
        return iface['masquerade']['vmNetworkCIDR'], iface['masquerade']['vmIPv6NetworkCIDR']
    pod = network['pod'] or {}
    if key == 'masquerade':
        return pod.get('vmNetworkCIDR') or KUBEVIRT_VM_CIDR, pod.get('vmIPv6NetworkCIDR') or VM_IPV6_CIDR
    if key == 'slirp':
        return pod.get('vmNetworkCIDR') or KUBEVIRT_VM_CIDR, None
    return None, None


def _dhcp_options(options):
    if options is None:
        return None
    return {
        'bootFileName': options['bootFileName'] or None,
        'tftpServerName': options['tftpServerName'] or None,
        'ntpServers': list(options['ntpServers']),
        'privateOptions': [dict(option) for option in options['privateOptions']],
    }


# From a model back to its manifest --------------------------------------------------------


def manifest_from_spec(spec):
    """The manifest, in the spec's own dialect, that normalises to ``spec``; or errors.

    Re-validating a model goes through its manifest, so that a model is checked by the
    same rules, with the same field paths, as the manifest it came from.
    """
    reader = dialects.Reader()
    if spec.get('specVersion') != SPEC_VERSION:
        return None, [
            error(
                'specVersion',
                'Unsupported value: %s: supported values: "%s"' % (_quoted(spec.get('specVersion')), SPEC_VERSION),
            )
        ]
    dialect = reader.read(spec, 'dialect', 'dialect', 'string', '')
    if dialect not in dialects.DIALECTS:
        reader.errors.append(
            error(
                'dialect',
                'Unsupported value: %s: supported values: %s'
                % (_quoted(dialect), ', '.join('"%s"' % known for known in dialects.DIALECTS)),
            )
        )
    interfaces = [
        _manifest_interface(reader, dialect, obj, path)
        for path, obj in reader.objects(spec, 'interfaces', 'interfaces')
    ]
    networks = [_manifest_network(reader, obj, path) for path, obj in reader.objects(spec, 'networks', 'networks')]
    if reader.errors:
        return None, reader.errors
    if dialect == dialects.VIRTINK:
        return _virtink_manifest(spec, interfaces, networks), []
    return _kubevirt_manifest(spec, dialect, interfaces, networks), []


def recorded_options(spec, options):
    """``options`` with what a model shows its cluster had: the feature gates its binding
    methods need and the binding plugins it uses (a model is re-validated as admitted)."""
    interfaces = spec.get('interfaces')
    interfaces = [i for i in interfaces if isinstance(i, dict)] if isinstance(interfaces, list) else []
    methods = [i.get('bindingMethod') for i in interfaces]
    gates = [_GATES_OF_METHODS[m] for m in methods if isinstance(m, str) and m in _GATES_OF_METHODS]
    if any(i.get('portRanges') for i in interfaces):
        gates.append('PortRangesSpec')
    plugins = spec.get('networkBindingPlugins')
    recorded = dict(options['network_binding_plugins'])
    recorded.update(plugins if isinstance(plugins, dict) else {})   # checked like the option
    return dict(options, feature_gates=list(options['feature_gates']) + gates,
                network_binding_plugins=recorded,
                pod_interface_naming=recorded_pod_interface_naming(spec))


def recorded_pod_interface_naming(spec):
    """The naming scheme a model was built with: ordinal if a secondary pod interface has
    an ordinal name, as KubeVirt tells the schemes apart."""
    networks = spec.get('networks') if isinstance(spec.get('networks'), list) else []
    for network in networks:
        pod_iface = network.get('podInterfaceName') if isinstance(network, dict) else None
        if isinstance(pod_iface, str) and not network.get('primary') and _ORDINAL_POD_IFACE.fullmatch(pod_iface):
            return 'ordinal'
    return 'hashed'


def _quoted(value):
    return '"%s"' % value


def _manifest_interface(reader, dialect, obj, path):
    binding = reader.read(obj, 'binding', join(path, 'binding'), 'string', '')
    method = reader.read(obj, 'bindingMethod', join(path, 'bindingMethod'), 'string', '')
    keys = dict((name, key) for key, name in BINDING_NAMES.items()
                if key in counted_bindings(dialect) and key != 'passt')
    key = keys.get(binding)
    if key == 'passtBinding' and method == 'passt':
        key = 'passt'  # the old core binding, admitted under the Passt gate
    if key is None:
        supported = ', '.join('"%s"' % name for name in sorted(keys))
        reader.errors.append(
            error(join(path, 'binding'), 'Unsupported value: %s: supported values: %s' % (_quoted(binding), supported))
        )
        return {}
    if dialect == dialects.VIRTINK:
        method = {'cidr': obj.get('vmNetworkCIDR'), 'ipv6CIDR': obj.get('vmIPv6NetworkCIDR')}
        return {'name': obj.get('name'), 'mac': obj.get('macAddress'), key: method if key == 'masquerade' else {}}
    manifest_iface = dict((field, obj.get(field)) for field in _KUBEVIRT_INTERFACE_FIELDS)
    # The model spells out the default state; KubeVirt refuses an explicit "up" on SR-IOV.
    manifest_iface['state'] = None if obj.get('state') == 'up' else obj.get('state')
    manifest_iface[key] = {'name': obj.get('bindingPlugin')} if key == 'binding' else {}
    return manifest_iface


def _manifest_network(reader, obj, path):
    network = {'name': obj.get('name'), 'pod': obj.get('pod')}
    multus = reader.read(obj, 'multus', join(path, 'multus'), 'object')
    if multus is not None:
        network_name = reader.read(multus, 'networkName', join(path, 'multus.networkName'), 'string', '')
        namespace = reader.read(multus, 'namespace', join(path, 'multus.namespace'), 'string', '')
        network['multus'] = {
            'networkName': '%s/%s' % (namespace, network_name) if namespace else network_name,
            'default': multus.get('default'),
        }
    return network


def _metadata(spec):
    return {'name': spec.get('name'), 'namespace': spec.get('namespace')}


def _kubevirt_manifest(spec, dialect, interfaces, networks):
    devices = {
        'interfaces': interfaces,
        'autoattachPodInterface': spec.get('autoattachPodInterface'),
        'networkInterfaceMultiqueue': spec.get('networkInterfaceMultiqueue'),
    }
    if dialect == dialects.BARE:
        return dict(devices, networks=networks)
    vmi_spec = {'hostname': spec.get('hostname'), 'subdomain': spec.get('subdomain'), 'networks': networks}
    if dialect == dialects.KUBEVIRT_EARLY:
        return {'kind': 'VM', 'metadata': _metadata(spec), 'spec': dict(vmi_spec, devices=devices)}
    vmi_spec['domain'] = {'cpu': {'sockets': spec.get('vcpus')}, 'devices': devices}
    api_version = (
        'kubevirt.io/v1' if dialect in (dialects.KUBEVIRT_V1_VM, dialects.KUBEVIRT_V1_VMI) else 'kubevirt.io/v1alpha3'
    )
    if spec.get('root') == 'spec.template.spec':
        return {
            'apiVersion': api_version,
            'kind': 'VirtualMachine',
            'metadata': _metadata(spec),
            'spec': {'template': {'spec': vmi_spec}},
        }
    return {'apiVersion': api_version, 'kind': 'VirtualMachineInstance', 'metadata': _metadata(spec), 'spec': vmi_spec}


def _virtink_manifest(spec, interfaces, networks):
    return {
        'apiVersion': dialects.VIRTINK_GROUP + '/v1alpha1',
        'kind': 'VirtualMachine',
        'metadata': _metadata(spec),
        'spec': {
            'instance': {'cpu': {'sockets': spec.get('vcpus'), 'coresPerSocket': 1}, 'interfaces': interfaces},
            'networks': networks,
        },
    }
