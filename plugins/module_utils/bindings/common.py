# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every tap-based binding does the same way: converge step by step, the glue, and
the domain NIC (``<interface type='ethernet'>`` on the glue's host tap)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib

from ansible_collections.vmnet.networks.plugins.module_utils import faults, names
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import glue


def generated_mac(namespace, vm, iface_name):
    """A stable MAC for a NIC without ``macAddress``: QEMU's prefix and a hash of the names."""
    digest = hashlib.sha256(names.owner_alias(namespace, vm, iface_name).encode('utf-8')).hexdigest()
    return '52:54:00:%s:%s:%s' % (digest[0:2], digest[2:4], digest[4:6])


def pod_link(ns, pod, iface):
    """The pod interface of ``iface`` in the open namespace ``ns``; a clear error when the
    network has not been attached."""
    link = ns.link(iface['podInterfaceName'])
    if link is None:
        raise VmnetError('pod interface %s of network "%s" is missing in %s: attach the network first '
                         '(vm_network)' % (iface['podInterfaceName'], iface['network'], pod.netns))
    return link


def converge(pod, record, want, have, steps, check_mode, previous):
    """Run, in order, the step of every piece whose observed state differs from the wanted one.

    ``steps`` is a list of (key of the view, function(pod, record)); ``previous`` is what the
    last run wanted (None for a new binding). A piece the last run made as it is still wanted
    but that differs now has drifted: its action reads ``repair``; otherwise ``create`` or
    ``configure``.
    """
    actions = []
    for key, step in steps:
        if want.get(key) == have.get(key):
            continue
        if previous is not None and previous.get(key) == want.get(key):
            verb = 'repair'
        else:
            verb = 'create' if have.get(key) is None else 'configure'
        actions.append('%s %s' % (verb, key))
        if not check_mode:
            step(pod, record)
            faults.point('%s:%s' % (record['binding'], step.__name__.lstrip('_')))
    return actions


def make_glue(pod, record):
    """(Re)make the glue whole: its pieces only make sense together."""
    glue.remove(record['glue'])
    glue.create(record['glue'], pod.netns)


def remove_glue(pod, record, check_mode):
    if glue.observe(record['glue'], pod.netns) is None:
        return []
    if not check_mode:
        glue.remove(record['glue'])
    return ['delete glue %s' % record['glue']['host_tap']]


def tap_nic(record, iface, queues):
    """The domain NIC of a tap-based binding (reference §7.1)."""
    return {
        'alias': names.user_alias(iface['name']), 'type': 'ethernet',
        'target_dev': record['glue']['host_tap'], 'managed': False, 'mac': record['guest_mac'],
        'model': iface['model'], 'mtu': record['original']['mtu'], 'pci_address': iface['pciAddress'],
        'link_state': 'down' if iface['state'] == 'down' else 'up', 'queues': queues,
        'boot_order': iface['bootOrder'], 'acpi_index': iface['acpiIndex'],
    }


def ensure_tap_nic(domain, record, iface, queues, check_mode):
    return domain.ensure(tap_nic(record, iface, queues), check_mode=check_mode)


def remove_nic(domain, iface, check_mode):
    return domain.remove(names.user_alias(iface['name']), check_mode=check_mode)
