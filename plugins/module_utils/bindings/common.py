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
    """(Re)make the glue whole, keeping the pieces that are as wanted (see glue.create)."""
    glue.create(record['glue'], pod.netns)


def remove_glue(pod, record, check_mode):
    if not glue.leftovers(record['glue']):
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
    """The NIC as ``tap_nic`` says. A live NIC on a host tap nobody holds (deleted by hand
    and made anew by a repair: the QEMU fd points at the old one) carries nothing: it is
    unplugged and plugged again (and the glue's redirects, which libvirt drops at the unplug,
    made again)."""
    nic = tap_nic(record, iface, queues)
    replug = []
    if domain.running and domain.get(nic['alias'])['live'] and glue.abandoned(record['glue']):
        replug = domain.remove(nic['alias'], check_mode=check_mode)['actions']
    result = domain.ensure(nic, check_mode=check_mode)
    if replug and not check_mode:
        glue.redirect(record['glue'])
    return dict(result, actions=replug + result['actions'])


def remove_nic(domain, iface, check_mode):
    return domain.remove(names.user_alias(iface['name']), check_mode=check_mode)
