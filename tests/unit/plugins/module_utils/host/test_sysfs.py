# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sysfs adapter reads sriov-cni's fake tree layout as the kernel's, under any root."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import Sysfs, is_pci_address

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_sriov_fakes import FakeKernel, PF, PF_IF, vf_address  # noqa: E402 pylint: disable=wrong-import-position


@pytest.fixture
def tree(tmp_path):
    FakeKernel(str(tmp_path), num_vfs=3)
    return Sysfs(str(tmp_path / 'sys'))     # the plain adapter on the fake tree


def test_root_is_configurable(tree, tmp_path):
    assert tree.root == str(tmp_path / 'sys') and not tree.real
    assert Sysfs().root == '/sys' and Sysfs().real


def test_pf(tree):
    assert tree.address_of_netdev(PF_IF) == PF
    assert tree.address_of_netdev('nope') is None
    assert tree.devices() == [PF] + [vf_address(i) for i in range(3)]
    assert (tree.total_vfs(PF), tree.num_vfs(PF)) == (7, 3)
    assert tree.ids(PF) == ('8086', '10c9')
    assert tree.driver(PF) == 'igb' and tree.netdevs(PF) == [PF_IF]
    assert tree.iommu_group(PF) == '1' and tree.physfn(PF) is None


def test_vfs(tree):
    assert tree.vfs(PF) == dict((i, vf_address(i)) for i in range(3))
    vf = vf_address(2)
    assert tree.physfn(vf) == PF and tree.total_vfs(vf) is None
    assert (tree.driver(vf), tree.driver_override(vf), tree.iommu_group(vf)) == ('igbvf', None, '12')
    assert tree.netdevs(vf) == ['enp2s0f0v2'] and tree.ids(vf) == ('8086', '10ca')
    tree.wait_vfs(PF, 3)
    with pytest.raises(VmnetError, match='4 VFs expected, sysfs shows 3'):
        tree.wait_vfs(PF, 4, timeout=0.2)


def test_writes_land_in_the_files(tree):
    vf = vf_address(0)
    tree.set_driver_override(vf, 'vfio-pci')
    with open(tree.device_path(vf, 'driver_override')) as handle:
        assert handle.read() == 'vfio-pci\n'
    tree.probe(vf)
    with open(tree.path('bus', 'pci', 'drivers_probe')) as handle:
        assert handle.read() == vf
    tree.unbind(vf)
    with open(tree.path('bus', 'pci', 'drivers', 'igbvf', 'unbind')) as handle:
        assert handle.read() == vf


def test_refused_write_is_a_vmnet_error(tree):
    with pytest.raises(VmnetError, match='writing "1" to .*nowhere/sriov_numvfs failed: No such file'):
        tree.write(tree.path('nowhere', 'sriov_numvfs'), '1')


def test_missing_things_read_as_none(tree):
    assert tree.read(tree.path('nope')) is None
    assert tree.driver('0000:99:00.0') is None and tree.netdevs('0000:99:00.0') == []
    assert tree.vfs('0000:99:00.0') == {} and not tree.exists('0000:99:00.0')
    assert tree.driver_available('vfio-pci') and not tree.driver_available('mlx5_core')
    assert not tree.load_module('mlx5_core')   # a fake root never runs modprobe


@pytest.mark.parametrize('value, ok', [('0000:00:03.0', True), ('0000:3b:02.7', True), ('00:03.0', False),
                                       ('0000:00:03.8', False), ('eth0', False), (None, False)])
def test_pci_address(value, ok):
    assert is_pci_address(value) == ok
