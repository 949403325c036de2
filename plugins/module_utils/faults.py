# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults at known points, for the tests only.

``VMNET_FAULT=<point>`` in a module's environment makes the process kill itself (SIGKILL:
no cleanup runs, as when a run is killed or the host loses power) right after the step
named ``<point>`` has changed the host. The tests use it to prove that the partial state
such a run leaves exists, that the next run converges and that ``state: absent`` leaves
nothing. Unset (always, outside the tests), ``point()`` does nothing.

The points, in the order a run passes them:

    pod:netns               the pod's network namespace was created
    pod:cni-add             a CNI ADD returned (its result not yet recorded)
    glue:host-tap           the glue's host tap was created
    glue:veth               the glue's veth pair was created (pod end in the pod)
    <binding>:<step>        a binding step converged one piece: bridge:bridge, bridge:nic,
                            bridge:make_glue, bridge:placeholder, bridge:arp_ignore,
                            masquerade:bridge, masquerade:make_glue, masquerade:sysctl,
                            masquerade:nftables
    sriov:record            the VF was chosen and recorded as the interface's, not yet configured
    sriov:allocate          the VF was allocated and configured
    dhcp:dnsmasq            the pod's dnsmasq was (re)configured
    domain:nic              the domain NIC (or slirp's QEMU arguments, or the VF's hostdev) was made

and on the way down (``state: absent``), where the next ``absent`` run must finish the
removal and a ``present`` run make the interface again:

    remove:domain-nic       the domain NIC (or the VF's hostdev) was removed, the pod side untouched
    remove:glue-veth        the glue's veth (and its pod end) was deleted, its host tap not yet
    sriov:release           the VF's own settings were put back, its record not yet deleted
    remove:binding          the binding was undone (every piece of it gone), its record and DHCP entry kept
    pod:cni-del             a CNI DEL returned, the attachment's record and the pod's namespace kept
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import signal

ENV = 'VMNET_FAULT'


def point(name):
    """Die here (SIGKILL) when the tests asked for a fault at ``name``."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
