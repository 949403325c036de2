# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sriov binding's library side on the fake SR-IOV host: a free vfio-pci VF of a pool
per VM interface (recorded, locked, never given twice, never one a running domain uses),
the NAD's settings applied as sriov-cni applies them and put back on release."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import sriov, sriov_allocation, sriov_pools
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.state import VmState

from test_sriov_fakes import FakeKernel, PF_IF, vf_address

POOL = 'intel.com/vm_pool'


@pytest.fixture
def setup(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=4)
    host = sriov.Host(kernel, kernel.netlink, {}, lock_dir=str(tmp_path / 'locks'))
    sriov.Run(host, PF_IF, vfs=[{'vf': i, 'driver': 'vfio-pci'} for i in (1, 2, 3)]).apply()
    entry = sriov_pools.pool_entry(POOL, {'drivers': ['vfio-pci'], 'pf_names': [PF_IF + '#1-2']}, ['vlan', 'spoofchk', 'link_state'])
    pools = {'resourceList': [entry]}
    state_dir = str(tmp_path / 'state')
    return kernel, host, pools, state_dir


def test_cni_settings_as_sriov_cni_reads_them():
    config = {'type': 'sriov', 'vlan': 100, 'vlanQoS': 3, 'vlanProto': '802.1AD', 'mac': 'AA:00:00:00:00:01',
              'spoofchk': 'off', 'trust': 'on', 'link_state': 'enable', 'min_tx_rate': 10, 'max_tx_rate': 50}
    assert sriov_allocation.cni_vf_settings(config) == {
        'vlan': 100, 'qos': 3, 'vlan_proto': '802.1ad', 'mac': 'aa:00:00:00:00:01', 'spoofchk': False, 'trust': True,
        'link_state': 'enable', 'min_tx_rate': 10, 'max_tx_rate': 50}
    # the interface's macAddress wins over the config's
    assert sriov_allocation.cni_vf_settings({'mac': '02:00:00:00:00:01'}, mac='02:00:00:00:00:09') == {'mac': '02:00:00:00:00:09'}
    assert sriov_allocation.cni_vf_settings({'type': 'sriov'}) == {}
    with pytest.raises(VmnetError, match='"on" or "off"'):
        sriov_allocation.cni_vf_settings({'trust': True})


def test_allocate_record_apply_release(setup):
    kernel, host, pools, state_dir = setup
    state = VmState(state_dir, 'default', 'vm1')
    settings = sriov_allocation.cni_vf_settings({'vlan': 7, 'spoofchk': 'off'}, mac='02:00:00:00:00:aa')
    result = sriov_allocation.allocate(host, state, pools, POOL, 'net1', settings)
    record = result['record']
    assert result['changed'] and (record['pci_address'], record['vf'], record['pf']) == (vf_address(1), 1, PF_IF)
    assert state.read('sriov', 'net1') == record
    vf1 = kernel.netlink.vfs(PF_IF)[1]
    assert (vf1['vlan'], vf1['spoofchk'], vf1['mac']) == (7, False, '02:00:00:00:00:aa')
    again = sriov_allocation.allocate(host, state, pools, POOL, 'net1', settings)
    assert not again['changed'] and again['record']['pci_address'] == vf_address(1)
    # another VM gets the next free VF of the pool (VF 3 is outside pfNames #1-2)
    other = sriov_allocation.allocate(host, VmState(state_dir, 'default', 'vm2'), pools, POOL, 'net1')
    assert other['record']['pci_address'] == vf_address(2)
    with pytest.raises(VmnetError, match='no free VF bound to vfio-pci \\(2 VFs in the pool, 2 allocated\\)'):
        sriov_allocation.allocate(host, VmState(state_dir, 'default', 'vm3'), pools, POOL, 'net1')
    released = sriov_allocation.release(host, state, 'net1')
    assert released['changed'] and state.read('sriov', 'net1') is None
    vf1 = kernel.netlink.vfs(PF_IF)[1]
    assert (vf1['vlan'], vf1['spoofchk'], vf1['mac']) == (0, True, '9a:00:00:00:00:01')
    assert not sriov_allocation.release(host, state, 'net1')['changed']
    assert sriov_allocation.allocate(host, VmState(state_dir, 'default', 'vm3'), pools, POOL, 'net1')['record']['pci_address'] == vf_address(1)


def test_a_vf_a_running_domain_uses_is_not_free(setup):
    _kernel, host, pools, state_dir = setup
    host.users = {vf_address(1): ['manual-vm']}
    assert sriov_allocation.allocate(host, VmState(state_dir, 'default', 'vm1'), pools, POOL, 'n')['record']['pci_address'] == vf_address(2)


def test_check_mode_records_nothing(setup):
    kernel, host, pools, state_dir = setup
    state = VmState(state_dir, 'default', 'vm1')
    result = sriov_allocation.allocate(host, state, pools, POOL, 'net1', {'vlan': 5}, check_mode=True)
    assert result['changed'] and state.read('sriov', 'net1') is None and kernel.netlink.vfs(PF_IF)[1]['vlan'] == 0


def test_failed_settings_leave_no_record(setup):
    kernel, host, pools, state_dir = setup
    kernel.netlink.unsupported.add('link_state')
    state = VmState(state_dir, 'default', 'vm1')
    with pytest.raises(VmnetError, match='link_state'):
        sriov_allocation.allocate(host, state, pools, POOL, 'net1', {'vlan': 5, 'link_state': 'enable'})
    assert state.read('sriov', 'net1') is None and kernel.netlink.vfs(PF_IF)[1]['vlan'] == 0


def test_unknown_pool(setup):
    _kernel, host, pools, state_dir = setup
    with pytest.raises(VmnetError, match='no SR-IOV pool "intel.com/nope"'):
        sriov_allocation.allocate(host, VmState(state_dir, 'default', 'vm1'), pools, 'intel.com/nope', 'net1')
