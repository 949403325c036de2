# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One module per binding; each builds its piece of the pod from a record (see bridge.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils.bindings import bridge, managedtap, masquerade, passt, slirp, sriov

BINDINGS = {'bridge': bridge, 'managedtap': managedtap, 'masquerade': masquerade, 'passt': passt, 'slirp': slirp, 'sriov': sriov}
