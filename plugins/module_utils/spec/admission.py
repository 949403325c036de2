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

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.spec import dialects, plugins
from ansible_collections.vmnet.networks.plugins.module_utils.spec.admission_common import cidr_family, go_quote, interfaces_assigned_to_networks, not_found
from ansible_collections.vmnet.networks.plugins.module_utils.spec.admission_interfaces import interface_binding, interface_state, interfaces_fields
from ansible_collections.vmnet.networks.plugins.module_utils.spec.admission_virtink import (
    virtink_interface_networks, virtink_interfaces, virtink_names, virtink_networks, virtink_unsupported_bindings)
from ansible_collections.vmnet.networks.plugins.module_utils.spec.dialects import error, item, join
from ansible_collections.vmnet.networks.plugins.module_utils.spec.model import PASST_GATE, counted_bindings

DRA_GATE = 'NetworkDevicesWithDRA'

_DISCONTINUED = (
    ('slirp', 'Slirp interface support has been discontinued since v1.3'),
    ('passt', 'Passt network binding has been discontinued since v1.3'),
    ('macvtap', 'Macvtap network binding has been discontinued since v1.3'),
)


def validate(document, options):
    """Every admission error of a defaulted document, in the admitters' order."""
    rules = VIRTINK_RULES if document['dialect'] == dialects.VIRTINK else KUBEVIRT_RULES
    errors = []
    for rule in rules:
        errors.extend(rule(document, options))
    return errors


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
        not_found(join(network['path'], 'name'), network['name'])
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
    errors = cidr_family(field, network, version)
    if network.prefixlen > network.max_prefixlen - 2:
        errors.append(error(field, 'VM CIDR subnet is too small, at least 2 host addresses are required'))
    return errors


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
