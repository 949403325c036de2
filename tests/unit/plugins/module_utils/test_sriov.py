# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sriov.Run on a fake sysfs tree (test_sriov_fakes.FakeKernel) with the PF driver's
netlink answered at the adapter boundary: count (0 then N), VF settings in sriov-cni's
order, driver binding as the operator binds, idempotence, check mode, refusals, undo."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import sriov, sriov_pools
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

from test_sriov_fakes import FakeKernel, PF, PF_IF, vf_address


def run(kernel, users=None, check_mode=False, **args):
    host = sriov.Host(kernel, kernel.netlink, users if users is not None else {}, lock_dir=kernel.root + '-locks')
    return sriov.Run(host, args.pop('pf', PF_IF), check_mode=check_mode, **args).apply()


@pytest.fixture
def kernel(tmp_path):
    return FakeKernel(str(tmp_path))


def settings(kernel):
    return kernel.netlink.vfs(PF_IF)


# --- the PF -------------------------------------------------------------------------------

def test_pf_by_name_or_address(kernel):
    assert sriov.resolve_pf(kernel, PF_IF) == (PF, PF_IF)
    assert sriov.resolve_pf(kernel, PF.upper()) == (PF, PF_IF)


@pytest.mark.parametrize('pf, message', [
    ('nope0', 'neither a PCI address nor a network interface'),
    ('0000:09:00.0', 'no PCI device 0000:09:00.0'),
])
def test_unknown_pf(kernel, pf, message):
    with pytest.raises(VmnetError, match=message):
        sriov.resolve_pf(kernel, pf)


def test_a_vf_is_not_a_pf(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=1)
    with open(kernel.device_path(vf_address(0), 'sriov_totalvfs'), 'w') as handle:
        handle.write('0\n')
    with pytest.raises(VmnetError, match='is a VF'):
        sriov.resolve_pf(kernel, vf_address(0))


# --- count ----------------------------------------------------------------------------------

def test_create_vfs_then_idempotent(kernel):
    result = run(kernel, num_vfs=3)
    assert result['changed'] and result['actions'] == ['set sriov_numvfs of %s from 0 to 3' % PF]
    assert [vf['pci_address'] for vf in result['pf']['vfs']] == [vf_address(i) for i in range(3)]
    assert [vf['driver'] for vf in result['pf']['vfs']] == ['igbvf'] * 3
    assert [vf['netdev'] for vf in result['pf']['vfs']] == ['enp2s0f0v0', 'enp2s0f0v1', 'enp2s0f0v2']
    again = run(kernel, num_vfs=3)
    assert not again['changed'] and again['actions'] == []


def test_count_change_writes_zero_first(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    result = run(kernel, num_vfs=4)
    numvfs = [v for p, v in kernel.writes if p.endswith('sriov_numvfs')]
    assert numvfs == ['0', '4']
    assert result['actions'] == ['set sriov_numvfs of %s from 2 to 4 (0 first)' % PF]
    assert kernel.num_vfs(PF) == 4


def test_too_many_vfs_refused(kernel):
    with pytest.raises(VmnetError, match='at most 7 VFs'):
        run(kernel, num_vfs=8)
    assert kernel.writes == []


def test_remove_all_vfs(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    assert run(kernel, num_vfs=0)['pf']['vfs'] == []
    assert not run(kernel, num_vfs=0)['changed']


# --- VF settings ------------------------------------------------------------------------------

VF0 = {'vf': 0, 'mac': '02:AA:00:00:00:01', 'vlan': 100, 'qos': 3, 'spoofchk': False, 'trust': True,
       'link_state': 'enable', 'min_tx_rate': 10, 'max_tx_rate': 100}


def test_settings_in_sriov_cni_order_and_read_back(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    result = run(kernel, vfs=[VF0])
    assert [call[:2] for call in kernel.netlink.calls] == [
        (0, 'vlan'), (0, 'mac'), (0, 'rate'), (0, 'spoofchk'), (0, 'trust'), (0, 'link_state')]
    vf0 = result['pf']['vfs'][0]
    assert (vf0['mac'], vf0['vlan'], vf0['qos'], vf0['vlan_proto']) == ('02:aa:00:00:00:01', 100, 3, '802.1q')
    assert (vf0['spoofchk'], vf0['trust'], vf0['link_state'], vf0['min_tx_rate'], vf0['max_tx_rate']) == (
        False, True, 'enable', 10, 100)
    assert result['pf']['vfs'][1]['mac'] == '00:00:00:00:00:00'
    kernel.netlink.calls = []
    assert not run(kernel, vfs=[VF0])['changed']
    assert kernel.netlink.calls == []


def test_all_vfs_with_override(tmp_path):
    kernel = FakeKernel(str(tmp_path))
    result = run(kernel, num_vfs=3, all_vfs={'trust': True, 'vlan': 5}, vfs=[{'vf': 2, 'vlan': 7}])
    assert [(vf['trust'], vf['vlan']) for vf in result['pf']['vfs']] == [(True, 5), (True, 5), (True, 7)]
    assert not run(kernel, num_vfs=3, all_vfs={'trust': True, 'vlan': 5}, vfs=[{'vf': 2, 'vlan': 7}])['changed']


def test_new_vlan_resets_qos_and_proto(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=1)
    run(kernel, vfs=[{'vf': 0, 'vlan': 10, 'qos': 5, 'vlan_proto': '802.1ad'}])
    assert settings(kernel)[0]['vlan_proto'] == '802.1ad'
    run(kernel, vfs=[{'vf': 0, 'vlan': 20}])
    assert (settings(kernel)[0]['vlan'], settings(kernel)[0]['qos'], settings(kernel)[0]['vlan_proto']) == (20, 0, '802.1q')
    run(kernel, vfs=[{'vf': 0, 'qos': 2}])    # QoS alone keeps the VLAN
    assert (settings(kernel)[0]['vlan'], settings(kernel)[0]['qos']) == (20, 2)


@pytest.mark.parametrize('entry, field', [
    ({'vf': 0, 'mac': 'zz'}, 'vfs[0].mac'),
    ({'vf': 0, 'mac': '01:00:5e:00:00:01'}, 'vfs[0].mac'),
    ({'vf': 0, 'vlan': 4096}, 'vfs[0].vlan'),
    ({'vf': 0, 'qos': 8}, 'vfs[0].qos'),
    ({'vf': 0, 'link_state': 'up'}, 'vfs[0].link_state'),
    ({'vf': 0, 'min_tx_rate': 50, 'max_tx_rate': 10}, 'vfs[0].min_tx_rate'),
    ({'vf': 5}, 'vfs[0].vf'),
    ({'mac': '02:00:00:00:00:01'}, 'vfs[0].vf'),
])
def test_bad_settings_named_and_nothing_changed(tmp_path, entry, field):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    with pytest.raises(VmnetError) as raised:
        run(kernel, vfs=[entry])
    assert raised.value.field == field
    assert kernel.netlink.calls == [] and kernel.writes == []


def test_same_mac_for_all_vfs_refused(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    with pytest.raises(VmnetError, match='same MAC') as raised:
        run(kernel, all_vfs={'mac': '02:00:00:00:00:01'})
    assert raised.value.field == 'all_vfs.mac'


# --- drivers ----------------------------------------------------------------------------------

def test_vfio_pci_as_the_operator_binds(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    result = run(kernel, vfs=[{'vf': 1, 'driver': 'vfio-pci'}])
    vf1 = result['pf']['vfs'][1]
    assert (vf1['driver'], vf1['driver_override'], vf1['netdev'], vf1['iommu_group']) == ('vfio-pci', None, None, '11')
    # the netdev's MAC became the admin MAC first, then unbind, override, bind, override cleared
    assert vf1['mac'] == '9a:00:00:00:00:01'
    assert kernel.writes == [
        ('bus/pci/drivers/igbvf/unbind', vf_address(1)),
        ('bus/pci/devices/%s/driver_override' % vf_address(1), 'vfio-pci'),
        ('bus/pci/drivers/vfio-pci/bind', vf_address(1)),
        ('bus/pci/devices/%s/driver_override' % vf_address(1), '')]
    assert kernel.netlink.calls == [(1, 'mac', '9a:00:00:00:00:01')]
    assert not run(kernel, vfs=[{'vf': 1, 'driver': 'vfio-pci'}])['changed']
    back = run(kernel, vfs=[{'vf': 1, 'driver': 'default'}])
    assert back['changed'] and back['pf']['vfs'][1]['driver'] == 'igbvf'
    assert ('drivers_probe', vf_address(1)) == (kernel.writes[-1][0].split('/')[-1], kernel.writes[-1][1])
    assert not run(kernel, vfs=[{'vf': 1, 'driver': 'default'}])['changed']


def test_given_mac_is_kept_when_binding_vfio(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=1)
    result = run(kernel, vfs=[{'vf': 0, 'driver': 'vfio-pci', 'mac': '02:00:00:00:00:09'}])
    assert result['pf']['vfs'][0]['mac'] == '02:00:00:00:00:09'
    assert [c[1] for c in kernel.netlink.calls] == ['mac']


def test_vfio_pci_module_loaded_when_missing(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=1, vfio_loaded=False)
    result = run(kernel, vfs=[{'vf': 0, 'driver': 'vfio-pci'}])
    assert kernel.modprobed == ['vfio-pci'] and result['actions'][0] == 'load kernel module vfio-pci'


def test_new_vfs_bound_in_one_run(kernel):
    result = run(kernel, num_vfs=2, all_vfs={'driver': 'vfio-pci'})
    assert [vf['driver'] for vf in result['pf']['vfs']] == ['vfio-pci', 'vfio-pci']
    assert not run(kernel, num_vfs=2, all_vfs={'driver': 'vfio-pci'})['changed']


# --- check mode and diff --------------------------------------------------------------------

def test_check_mode_changes_nothing_and_predicts(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    result = run(kernel, check_mode=True, vfs=[dict(VF0), {'vf': 1, 'driver': 'vfio-pci'}])
    assert result['changed'] and kernel.writes == [] and kernel.netlink.calls == []
    assert len(result['actions']) == 8
    after = result['diff']['after']['vfs']
    assert (after[0]['vlan'], after[0]['trust'], after[1]['driver']) == (100, True, 'vfio-pci')
    assert result['diff']['before']['vfs'][1]['driver'] == 'igbvf'
    real = run(kernel, vfs=[dict(VF0), {'vf': 1, 'driver': 'vfio-pci'}])
    assert real['actions'] == result['actions']


def test_check_mode_of_a_count_change(kernel):
    result = run(kernel, check_mode=True, num_vfs=2, all_vfs={'driver': 'vfio-pci'})
    assert result['changed'] and kernel.writes == []
    assert result['diff']['after']['num_vfs'] == 2
    assert [vf['driver'] for vf in result['diff']['after']['vfs']] == ['vfio-pci', 'vfio-pci']


def test_diff_shows_every_vf(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=1)
    diff = run(kernel, vfs=[{'vf': 0, 'trust': True}])['diff']
    assert diff['before']['vfs'][0]['trust'] is False and diff['after']['vfs'][0]['trust'] is True
    assert diff['before']['num_vfs'] == diff['after']['num_vfs'] == 1


# --- refusals -------------------------------------------------------------------------------

def test_default_route_pf_refused_unless_forced(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=1)
    kernel.netlink.default_route = ['br0', PF_IF]
    with pytest.raises(VmnetError, match="carries the host's default route") as raised:
        run(kernel, num_vfs=2)
    assert raised.value.field == 'pf' and kernel.writes == []
    with pytest.raises(VmnetError, match='default route'):
        run(kernel, vfs=[{'vf': 0, 'trust': True}], check_mode=True)
    assert kernel.netlink.calls == []
    assert not run(kernel, num_vfs=1)['changed']    # nothing to change: no refusal
    assert run(kernel, num_vfs=2, force=True)['pf']['num_vfs'] == 2


def test_vf_used_by_a_running_domain_not_rebound(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    users = {vf_address(1): ['vm-a']}
    with pytest.raises(VmnetError, match='used by the libvirt domain.*vm-a'):
        run(kernel, users=users, vfs=[{'vf': 0, 'trust': True}, {'vf': 1, 'driver': 'vfio-pci'}])
    assert kernel.writes == [] and kernel.netlink.calls == []
    with pytest.raises(VmnetError, match='removes every VF.*VF 1 \\(vm-a\\)'):
        run(kernel, users=users, num_vfs=0)
    # its settings may change (sriov-cni does so at runtime); another VF may be rebound
    assert run(kernel, users=users, vfs=[{'vf': 1, 'vlan': 9}, {'vf': 0, 'driver': 'vfio-pci'}])['changed']


def test_unknown_users_do_not_stop_a_run(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=1)
    host = sriov.Host(kernel, kernel.netlink, None, lock_dir=kernel.root + '-locks')
    result = sriov.Run(host, PF_IF, vfs=[{'vf': 0, 'trust': True}]).apply()
    assert result['changed'] and result['pf']['vfs'][0]['in_use_by'] is None


def test_vfio_without_iommu_group_refused(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2, iommu=False)
    with pytest.raises(VmnetError, match='no IOMMU group') as raised:
        run(kernel, vfs=[{'vf': 0, 'trust': True}, {'vf': 1, 'driver': 'vfio-pci'}])
    assert raised.value.field == 'vfs'
    assert kernel.writes == [] and kernel.netlink.calls == []


def test_vfio_for_new_vfs_without_iommu_refused_before_the_count(tmp_path):
    kernel = FakeKernel(str(tmp_path), iommu=False)
    with pytest.raises(VmnetError, match='no IOMMU group'):
        run(kernel, num_vfs=2, all_vfs={'driver': 'vfio-pci'})
    assert kernel.writes == []


# --- failures half-way ------------------------------------------------------------------------

def test_failed_setting_takes_back_the_run(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    kernel.netlink.unsupported.add('link_state')
    before = settings(kernel)
    with pytest.raises(VmnetError, match='setting link_state of VF 1 failed.*taken back') as raised:
        run(kernel, vfs=[{'vf': 0, 'mac': '02:00:00:00:00:01', 'trust': True},
                         {'vf': 1, 'driver': 'vfio-pci', 'vlan': 3, 'link_state': 'disable'}])
    assert 'Operation not supported' in str(raised.value)
    assert settings(kernel) == before
    assert kernel.driver(vf_address(1)) == 'igbvf'


def test_failed_bind_restores_driver_and_settings(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    kernel.refuse['bus/pci/drivers/vfio-pci/bind'] = 'Invalid argument'
    with pytest.raises(VmnetError, match='Invalid argument'):
        run(kernel, vfs=[{'vf': 0, 'trust': True}, {'vf': 1, 'driver': 'vfio-pci'}])
    assert settings(kernel)[0]['trust'] is False and settings(kernel)[1]['mac'] == '00:00:00:00:00:00'
    assert kernel.driver_override(vf_address(1)) is None
    # unbind succeeded, bind failed: the undo gave the VF back to igbvf
    assert kernel.driver(vf_address(1)) == 'igbvf'


def test_failure_after_a_count_change_restores_count_and_settings(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=2)
    run(kernel, vfs=[{'vf': 0, 'mac': '02:00:00:00:00:05', 'vlan': 4}])
    kernel.netlink.fail_after = 1
    with pytest.raises(VmnetError, match='taken back'):
        run(kernel, num_vfs=3, all_vfs={'trust': True})
    assert kernel.num_vfs(PF) == 2
    assert (settings(kernel)[0]['mac'], settings(kernel)[0]['vlan'], settings(kernel)[0]['trust']) == (
        '02:00:00:00:00:05', 4, False)


# --- pools ------------------------------------------------------------------------------------

def test_pool_entry_renders_the_device_plugin_format():
    selectors = {'vendors': ['0x8086'], 'devices': ['10CA'], 'drivers': ['vfio-pci'], 'pf_names': ['ens1f0#0-3']}
    entry = sriov_pools.pool_entry('intel.com/mellanox_SRIOV_25G', selectors)
    assert entry == {'resourceName': 'mellanox_SRIOV_25G',
                     'selectors': {'vendors': ['8086'], 'devices': ['10ca'], 'drivers': ['vfio-pci'],
                                   'pfNames': ['ens1f0#0-3']}}
    other = sriov_pools.pool_entry('example.org/fast', {'root_devices': ['0000:3b:00.0']})
    assert other['resourcePrefix'] == 'example.org' and sriov_pools.full_resource_name(other) == 'example.org/fast'


@pytest.mark.parametrize('name, selectors, field', [
    ('bad name!', {'vendors': ['8086']}, 'name'),
    ('x/y', {}, 'vendors'),
    ('x/y', {'devices': ['10c']}, 'devices'),
])
def test_bad_pools(name, selectors, field):
    with pytest.raises(VmnetError) as raised:
        sriov_pools.pool_entry(name, selectors)
    assert raised.value.field == field


def test_pool_selects_vfs(tmp_path):
    kernel = FakeKernel(str(tmp_path), num_vfs=4)
    run(kernel, vfs=[{'vf': 1, 'driver': 'vfio-pci'}, {'vf': 2, 'driver': 'vfio-pci'}])
    host = sriov.Host(kernel, kernel.netlink, {})
    vfio = sriov_pools.pool_entry('intel.com/vm', {'vendors': ['8086'], 'drivers': ['vfio-pci']})
    assert [vf['vf'] for vf in sriov_pools.pool_devices(host, vfio)] == [1, 2]
    ranged = sriov_pools.pool_entry('intel.com/low', {'pf_names': [PF_IF + '#0-1,3']})
    assert [vf['vf'] for vf in sriov_pools.pool_devices(host, ranged)] == [0, 1, 3]
    assert sriov_pools.pool_devices(host, sriov_pools.pool_entry('a/b', {'devices': ['1520']})) == []
