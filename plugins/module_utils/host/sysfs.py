# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for the PCI side of SR-IOV in sysfs, under a configurable root.

It speaks the files the kernel offers and nothing else: ``sriov_totalvfs``,
``sriov_numvfs``, ``virtfnN``/``physfn`` links, ``driver`` (a link into
``bus/pci/drivers``), ``driver_override``, the drivers' ``bind``/``unbind`` and
``bus/pci/drivers_probe``, ``iommu_group``, ``net/<ifname>``, ``vendor``/``device``.
The root is ``/sys`` on a host; tests point it at a fake tree laid out as sriov-cni's
tests lay theirs (``sys/bus/pci/devices/<addr>/...``, ``sys/class/net/<if>/device``).

Every write goes through ``write()``, so that a fake kernel in tests can react to
writes exactly where the real one does.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import re
import subprocess
import time

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

SYSFS_ROOT = '/sys'
PCI_ADDRESS = re.compile(r'^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$')
_VIRTFN = re.compile(r'^virtfn(\d+)$')


def is_pci_address(value):
    return bool(PCI_ADDRESS.match(value or ''))


class Sysfs(object):
    """sysfs below ``root`` (``/sys`` unless told)."""

    def __init__(self, root=None):
        self.root = root or SYSFS_ROOT

    @property
    def real(self):
        """Whether this is the running kernel's sysfs (only then are kernel modules loaded)."""
        return os.path.realpath(self.root) == SYSFS_ROOT

    # -- plain files -------------------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def device_path(self, address, *parts):
        return self.path('bus', 'pci', 'devices', address, *parts)

    def read(self, path):
        """The stripped content of ``path``; None when it does not exist."""
        try:
            with open(path) as handle:
                return handle.read().strip()
        except (IOError, OSError) as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise

    def write(self, path, value):
        """Write ``value`` to a sysfs attribute; the kernel's refusal becomes a VmnetError."""
        try:
            with open(path, 'w') as handle:
                handle.write(value)
        except (IOError, OSError) as exc:
            raise VmnetError('writing "%s" to %s failed: %s' % (value.strip(), path, os.strerror(exc.errno)))

    def _link_name(self, path):
        try:
            return os.path.basename(os.readlink(path))
        except OSError:
            return None

    # -- PCI devices -------------------------------------------------------------------
    def exists(self, address):
        return os.path.isdir(self.device_path(address))

    def devices(self):
        try:
            return sorted(n for n in os.listdir(self.path('bus', 'pci', 'devices')) if is_pci_address(n))
        except OSError:
            return []

    def address_of_netdev(self, ifname):
        """The PCI address of the device behind netdev ``ifname``; None if it has none."""
        name = self._link_name(self.path('class', 'net', ifname, 'device'))
        return name if is_pci_address(name) else None

    def netdevs(self, address):
        try:
            return sorted(os.listdir(self.device_path(address, 'net')))
        except OSError:
            return []

    def ids(self, address):
        """``(vendor, device)`` as the device plugin writes them: hex without ``0x``."""
        def hex_id(name):
            value = self.read(self.device_path(address, name))
            return value[2:] if value and value.startswith('0x') else value
        return hex_id('vendor'), hex_id('device')

    def driver(self, address):
        return self._link_name(self.device_path(address, 'driver'))

    def driver_override(self, address):
        value = self.read(self.device_path(address, 'driver_override'))
        return None if value in (None, '', '(null)') else value

    def iommu_group(self, address):
        return self._link_name(self.device_path(address, 'iommu_group'))

    def numa_node(self, address):
        value = self.read(self.device_path(address, 'numa_node'))
        return int(value) if value not in (None, '') else None

    def driver_available(self, driver):
        return os.path.isdir(self.path('bus', 'pci', 'drivers', driver))

    # -- SR-IOV ------------------------------------------------------------------------
    def total_vfs(self, address):
        """``sriov_totalvfs``; None for a device that is not an SR-IOV PF."""
        value = self.read(self.device_path(address, 'sriov_totalvfs'))
        return int(value) if value not in (None, '') else None

    def num_vfs(self, address):
        value = self.read(self.device_path(address, 'sriov_numvfs'))
        return int(value) if value not in (None, '') else 0

    def set_num_vfs(self, address, count):
        self.write(self.device_path(address, 'sriov_numvfs'), '%d' % count)

    def vfs(self, address):
        """``{index: vf address}`` from the PF's ``virtfnN`` links."""
        found = {}
        try:
            names = os.listdir(self.device_path(address))
        except OSError:
            return found
        for name in names:
            match = _VIRTFN.match(name)
            if match:
                target = self._link_name(self.device_path(address, name))
                if target:
                    found[int(match.group(1))] = target
        return found

    def physfn(self, address):
        return self._link_name(self.device_path(address, 'physfn'))

    def wait_vfs(self, address, count, timeout=10.0):
        """Wait until the PF shows ``count`` VFs (the kernel adds them while writing
        ``sriov_numvfs``; drivers may still be probing)."""
        deadline = time.monotonic() + timeout
        while len(self.vfs(address)) != count:
            if time.monotonic() > deadline:
                raise VmnetError('PF %s: %d VFs expected, sysfs shows %d after %d s'
                                 % (address, count, len(self.vfs(address)), timeout))
            time.sleep(0.1)

    # -- drivers -----------------------------------------------------------------------
    def set_driver_override(self, address, driver):
        """``driver_override`` := ``driver`` (None clears it)."""
        self.write(self.device_path(address, 'driver_override'), (driver or '') + '\n')

    def unbind(self, address):
        driver = self.driver(address)
        if driver:
            self.write(self.path('bus', 'pci', 'drivers', driver, 'unbind'), address)

    def bind(self, address, driver):
        self.write(self.path('bus', 'pci', 'drivers', driver, 'bind'), address)

    def probe(self, address):
        """Let the kernel pick the device's driver (``driver_override`` first, else by ID)."""
        self.write(self.path('bus', 'pci', 'drivers_probe'), address)

    def load_module(self, name):
        """``modprobe name`` for the running kernel; nothing for a fake root. True if the
        driver is there afterwards."""
        if self.real:
            subprocess.run(['modprobe', name], check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self.driver_available(name)
