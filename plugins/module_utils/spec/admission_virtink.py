# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Virtink's admission rules (``ValidateVMSpec``, pkg/controller/vm_webhook.go), with its
messages and field paths."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils.spec import dialects
from ansible_collections.vmnet.networks.plugins.module_utils.spec.admission_common import (
    cidr_family, go_quote, interfaces_assigned_to_networks, networks_by_name)
from ansible_collections.vmnet.networks.plugins.module_utils.spec.admission_interfaces import (
    interface_name_format, masquerade_needs_pod_network, too_long_mac)
from ansible_collections.vmnet.networks.plugins.module_utils.spec.dialects import error, join

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
    return errors + cidr_family(field, network, version)


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
            errors.extend(interface_name_format(obj))
    return errors


def virtink_interface_networks(document, options):
    """What Virtink's controller assumes and its webhook leaves unchecked (seed 004:
    "Each interface must have a corresponding network with the same name", masquerade
    "is only allowed to connect to the pod network"), as KubeVirt words it."""
    networks = networks_by_name(document)
    errors = interfaces_assigned_to_networks(document, options)
    for iface in document['interfaces']:
        if iface['name'] in networks:
            errors.extend(masquerade_needs_pod_network(iface, networks[iface['name']]))
        errors.extend(too_long_mac(iface))
    return errors


def virtink_unsupported_bindings(document, options):
    return [
        error(join(iface['path'], key), '%s binding is not supported by vmnet.networks' % key)
        for iface in document['interfaces']
        for key in iface['bindings']
        if key in ('vhostUser', 'vdpa')
    ]
