# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the admission rules of admission.py, admission_interfaces.py and admission_virtink.py
share: Go's quoting of values in messages, and the network lookups KubeVirt's admitter makes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils.spec.dialects import error, join

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


def networks_by_name(document):
    # A dict lookup, as in KubeVirt: with duplicate names the last network wins.
    return dict((network['name'], network) for network in document['networks'])


def on_pod_network(network):
    return network is not None and network['pod'] is not None


def cidr_family(field, network, version):
    if network.version != version:
        return [error(field, 'must be an IPv%d CIDR' % version)]
    return []


def not_found(field, name):
    return error(field, "%s '%s' not found." % (field, name))


def interfaces_assigned_to_networks(document, options):
    networks = networks_by_name(document)
    return [
        not_found(join(iface['path'], 'name'), iface['name'])
        for iface in document['interfaces']
        if iface['name'] not in networks
    ]
