# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One module per binding; each builds its piece of the pod from a record (see bridge.py).

A binding's module is imported when a run first needs it (``get``): a module process loads
only the bindings of its VMs' interfaces, not passt's QEMU arguments or SR-IOV's netlink
and sysfs code for a VM that has none (each import costs start-up time in every run).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

NAMES = ('bridge', 'managedtap', 'masquerade', 'passt', 'slirp', 'sriov')


def get(name):
    """The module of binding ``name``; KeyError for a binding vmnet does not have."""
    # one static import per binding: Ansible packs a module's imports by reading them
    if name == 'bridge':
        from ansible_collections.vmnet.networks.plugins.module_utils.bindings import bridge as binding
    elif name == 'managedtap':
        from ansible_collections.vmnet.networks.plugins.module_utils.bindings import managedtap as binding
    elif name == 'masquerade':
        from ansible_collections.vmnet.networks.plugins.module_utils.bindings import masquerade as binding
    elif name == 'passt':
        from ansible_collections.vmnet.networks.plugins.module_utils.bindings import passt as binding
    elif name == 'slirp':
        from ansible_collections.vmnet.networks.plugins.module_utils.bindings import slirp as binding
    elif name == 'sriov':
        from ansible_collections.vmnet.networks.plugins.module_utils.bindings import sriov as binding
    else:
        raise KeyError(name)
    return binding
