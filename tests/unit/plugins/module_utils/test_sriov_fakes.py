# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake SR-IOV host for unit tests: a sysfs tree laid out as sriov-cni's tests lay
theirs (``pkg/utils/testing.go``), a kernel that reacts to writes into it where the real
one does, and a PF driver answering netlink at the adapter boundary (``PfNetlink``).

Only the adapters' lowest layer is replaced: ``Sysfs.write`` still writes the file, then
the fake kernel does what Linux does on that write; every decision stays in the code
under test.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.vmnet.networks.plugins.module_utils import sriov
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain, sriov_netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.sriov_netlink import VF_FIELDS
from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import Sysfs
from ansible_collections.vmnet.networks.plugins.modules import sriov_pool, sriov_vf, sriov_vf_info

PF = '0000:02:00.0'
PF_IF = 'enp2s0f0'
VF_DEVICE = '10ca'
KERNEL_VF_DRIVER = 'igbvf'


def vf_address(index):
    return '0000:02:10.%d' % index


def fake_sriov_host(tmp_path, monkeypatch, num_vfs=2):
    """The SR-IOV modules on a FakeKernel: its sysfs, its PF netlink, and libvirt's view of
    the VFs in use as ``kernel.users`` (None: libvirt does not answer). Returns the kernel."""
    kernel = FakeKernel(str(tmp_path), num_vfs=num_vfs)
    kernel.users = {}
    kernel.tmp = tmp_path
    for module in (sriov_vf, sriov_vf_info, sriov_pool):
        monkeypatch.setattr(module, 'Sysfs', lambda root: kernel)
    monkeypatch.setattr(sriov_netlink, 'PfNetlink', lambda: kernel.netlink)
    monkeypatch.setattr(sriov_netlink, 'HAS_PYROUTE2', True)

    def users(uri):
        if kernel.users is None:
            raise VmnetError('cannot connect to libvirt at %s: no socket' % uri)
        return kernel.users
    monkeypatch.setattr(libvirt_domain, 'pci_hostdev_users', users)
    monkeypatch.setattr(sriov, 'LOCK_DIR', str(tmp_path / 'locks'))
    return kernel


def test_fake_layout(tmp_path):
    """The fake tree itself: what sriov-cni's CreateTmpSysFs makes."""
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    devices = os.path.join(kernel.root, 'bus', 'pci', 'devices')
    assert os.readlink(os.path.join(devices, PF, 'virtfn1')).endswith(vf_address(1))
    assert os.readlink(os.path.join(devices, vf_address(1), 'physfn')).endswith(PF)
    assert os.path.isdir(os.path.join(devices, vf_address(0), 'net', 'enp2s0f0v0'))
    assert os.readlink(os.path.join(kernel.root, 'class', 'net', PF_IF, 'device')).endswith(PF)


class FakeKernel(Sysfs):
    """``<tmp>/sys`` with one igb-like PF (``PF``, netdev ``PF_IF``, 7 VFs at most)."""

    def __init__(self, tmp, num_vfs=0, iommu=True, total_vfs=7, vfio_loaded=True):
        super(FakeKernel, self).__init__(os.path.join(tmp, 'sys'))
        self.iommu = iommu
        self.refuse = {}            # sysfs file name -> errno text: the kernel says no
        self.writes = []
        self.modprobed = []
        self.vfio_loaded = vfio_loaded
        self._mk_driver('igb')
        self._mk_driver(KERNEL_VF_DRIVER)
        if vfio_loaded:
            self._mk_driver('vfio-pci')
        self._file(self.path('bus', 'pci', 'drivers_probe'), '')
        pf = self.device_path(PF)
        os.makedirs(pf)
        self._file(os.path.join(pf, 'vendor'), '0x8086')
        self._file(os.path.join(pf, 'device'), '0x10c9')
        self._file(os.path.join(pf, 'sriov_totalvfs'), str(total_vfs))
        self._file(os.path.join(pf, 'sriov_numvfs'), '0')
        self._file(os.path.join(pf, 'driver_override'), '(null)')
        if iommu:
            self._link(os.path.join(pf, 'iommu_group'), self.path('kernel', 'iommu_groups', '1'))
        self._bind_files(PF, 'igb', PF_IF, '52:54:00:12:34:56')
        os.makedirs(self.path('class', 'net'), exist_ok=True)
        self._link(self.path('class', 'net', PF_IF, 'device'), pf)
        self.netlink = FakePfNetlink(self)
        if num_vfs:
            self._create_vfs(num_vfs)

    # -- tree helpers --
    def _file(self, path, content):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as handle:
            handle.write(content + '\n' if content else '')

    def _link(self, path, target):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.makedirs(target, exist_ok=True)
        os.symlink(os.path.relpath(target, os.path.dirname(path)), path)

    def _mk_driver(self, name):
        for f in ('bind', 'unbind', 'new_id'):
            self._file(self.path('bus', 'pci', 'drivers', name, f), '')

    def _bind_files(self, address, driver, netdev=None, mac=None):
        self._link(self.device_path(address, 'driver'), self.path('bus', 'pci', 'drivers', driver))
        if netdev:
            self._file(self.device_path(address, 'net', netdev, 'address'), mac)

    def _create_vfs(self, count):
        for index in range(count):
            address = vf_address(index)
            path = self.device_path(address)
            os.makedirs(path)
            self._file(os.path.join(path, 'vendor'), '0x8086')
            self._file(os.path.join(path, 'device'), '0x' + VF_DEVICE)
            self._file(os.path.join(path, 'driver_override'), '(null)')
            self._link(os.path.join(path, 'physfn'), self.device_path(PF))
            self._link(self.device_path(PF, 'virtfn%d' % index), path)
            if self.iommu:
                self._link(os.path.join(path, 'iommu_group'), self.path('kernel', 'iommu_groups', str(10 + index)))
            self._kernel_bind(address, KERNEL_VF_DRIVER)
        self._file(self.device_path(PF, 'sriov_numvfs'), str(count))
        self.netlink.reset(count)

    def _remove_vfs(self):
        import shutil
        for name in os.listdir(self.device_path(PF)):
            if name.startswith('virtfn'):
                target = os.path.join(self.device_path(PF), os.readlink(self.device_path(PF, name)))
                os.unlink(self.device_path(PF, name))
                shutil.rmtree(os.path.normpath(target))
        self._file(self.device_path(PF, 'sriov_numvfs'), '0')
        self.netlink.reset(0)

    def _kernel_bind(self, address, driver):
        index = int(address.rsplit('.', 1)[1])
        netdev = '%sv%d' % (PF_IF, index) if driver == KERNEL_VF_DRIVER else None
        self._bind_files(address, driver, netdev, '9a:00:00:00:00:%02x' % index)

    def _kernel_unbind(self, address):
        import shutil
        os.unlink(self.device_path(address, 'driver'))
        shutil.rmtree(self.device_path(address, 'net'), ignore_errors=True)

    # -- what the kernel does on a write --
    def write(self, path, value):
        name = os.path.basename(path)
        refused = self.refuse.get(os.path.relpath(path, self.root), self.refuse.get(name))
        if refused:
            raise VmnetError('writing "%s" to %s failed: %s' % (value.strip(), path, refused))
        self.writes.append((os.path.relpath(path, self.root), value.strip()))
        value = value.strip()
        parent = os.path.basename(os.path.dirname(path))
        if name == 'sriov_numvfs':
            count, have = int(value), self.num_vfs(PF)
            if count and have:
                raise VmnetError('writing "%s" to %s failed: Device or resource busy' % (value, path))
            if count > self.total_vfs(PF):
                raise VmnetError('writing "%s" to %s failed: Numerical result out of range' % (value, path))
            if count:
                self._create_vfs(count)
            else:
                self._remove_vfs()
        elif name == 'driver_override':
            self._file(path, value or '(null)')
        elif name == 'unbind':
            if self.driver(value) != parent:
                raise VmnetError('writing "%s" to %s failed: No such device' % (value, path))
            self._kernel_unbind(value)
        elif name == 'bind':
            override = self.driver_override(value)
            matches = parent == KERNEL_VF_DRIVER or override == parent
            if self.driver(value) or not matches:
                raise VmnetError('writing "%s" to %s failed: No such device' % (value, path))
            if parent == 'vfio-pci' and not self.iommu_group(value):
                raise VmnetError('writing "%s" to %s failed: Invalid argument' % (value, path))
            self._kernel_bind(value, parent)
        elif name == 'drivers_probe':
            if not self.driver(value):
                self._kernel_bind(value, self.driver_override(value) or KERNEL_VF_DRIVER)
        else:
            super(FakeKernel, self).write(path, value)

    @property
    def real(self):
        return False

    def load_module(self, name):
        self.modprobed.append(name)
        if name == 'vfio-pci':
            self._mk_driver('vfio-pci')
        return self.driver_available(name)


class FakePfNetlink(object):
    """The PF driver's side of ``PfNetlink``: VF settings kept per VF, igb's defaults
    (spoof checking on), refusals on demand (``unsupported``: fields the driver lacks)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.state = {}
        self.calls = []
        self.unsupported = set()
        self.default_route = []     # links the default route leaves through
        self.fail_after = None      # fail the n-th set_vf from now

    def reset(self, count):
        self.state = dict((i, {'mac': '00:00:00:00:00:00', 'vlan': 0, 'qos': 0, 'vlan_proto': '802.1q',
                               'spoofchk': True, 'trust': False, 'link_state': 'auto',
                               'min_tx_rate': 0, 'max_tx_rate': 0}) for i in range(count))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def close(self):
        pass

    def vfs(self, ifname):
        assert ifname == PF_IF
        return dict((i, dict((k, s[k]) for k in VF_FIELDS)) for i, s in self.state.items())

    def set_vf(self, ifname, vf, field, value, vlan=None):
        assert ifname == PF_IF
        self.calls.append((vf, field, vlan if field == 'vlan' else value))
        if self.fail_after is not None:
            self.fail_after -= 1
            if self.fail_after < 0:
                self.fail_after = None
                raise VmnetError('%s: setting %s of VF %d failed: Operation not supported (errno 95)' % (ifname, field, vf))
        if field in self.unsupported or (field == 'vlan' and vlan['vlan_proto'] in self.unsupported):
            raise VmnetError('%s: setting %s of VF %d failed: Operation not supported (errno 95)' % (ifname, field, vf))
        if vf not in self.state:
            raise VmnetError('%s: setting %s of VF %d failed: Invalid argument (errno 22)' % (ifname, field, vf))
        if field == 'vlan':
            self.state[vf].update(vlan)
        elif field == 'rate':
            self.state[vf].update(min_tx_rate=value[0], max_tx_rate=value[1])
        else:
            self.state[vf][field] = value

    def default_route_links(self):
        return list(self.default_route)
