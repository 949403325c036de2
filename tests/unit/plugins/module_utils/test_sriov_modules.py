# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sriov_vf, sriov_vf_info and sriov_pool end to end (arguments in, JSON out) on the fake
SR-IOV host: the adapters' boundary (sysfs writes, the PF's netlink, libvirt's domain
list) is the fake's, everything above it is the modules' own."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.vmnet.networks.plugins.modules import sriov_pool, sriov_vf, sriov_vf_info

from test_sriov_fakes import PF, PF_IF, fake_sriov_host, vf_address


@pytest.fixture
def host(tmp_path, monkeypatch):
    return fake_sriov_host(tmp_path, monkeypatch)


def run(capsys, module, check_mode=False, diff=False, **args):
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            module.main()
    result = json.loads(capsys.readouterr().out)
    assert (exited.value.code != 0) == bool(result.get('failed')), result
    return result


ARGS = {'pf': PF_IF, 'num_vfs': 3, 'all_vfs': {'spoofchk': True, 'driver': 'vfio-pci'},
        'vfs': [{'vf': 0, 'mac': '02:00:00:00:00:01', 'vlan': 10, 'trust': True, 'driver': 'default'}]}


def test_sriov_vf_check_diff_apply_idempotent(capsys, host):
    check = run(capsys, sriov_vf, check_mode=True, diff=True, **ARGS)
    assert check['changed'] and host.num_vfs(PF) == 2 and host.writes == []
    assert check['diff']['after']['num_vfs'] == 3
    applied = run(capsys, sriov_vf, diff=True, **ARGS)
    assert applied['changed'] and applied['actions'][0].endswith('from 2 to 3 (0 first)')
    assert [vf['driver'] for vf in applied['pf']['vfs']] == ['igbvf', 'vfio-pci', 'vfio-pci']
    assert applied['pf']['vfs'][0]['mac'] == '02:00:00:00:00:01'
    again = run(capsys, sriov_vf, diff=True, **ARGS)
    assert not again['changed'] and again['actions'] == []
    assert again['diff']['before'] == again['diff']['after']


def test_sriov_vf_warns_when_libvirt_is_unreachable(capsys, host):
    host.users = None
    result = run(capsys, sriov_vf, pf=PF_IF, vfs=[{'vf': 0, 'trust': True}])
    assert result['changed'] and 'cannot connect to libvirt' in json.dumps(result['warnings'])


def test_sriov_vf_refusals_fail_cleanly(capsys, host):
    host.users = {vf_address(0): ['vm1']}
    result = run(capsys, sriov_vf, pf=PF, vfs=[{'vf': 0, 'driver': 'vfio-pci'}])
    assert result['failed'] and 'vm1' in result['msg'] and result['field'] == 'vfs'
    assert 'exception' not in result and host.writes == []
    host.netlink.default_route = [PF_IF]
    result = run(capsys, sriov_vf, pf=PF, num_vfs=1)
    assert result['failed'] and result['field'] == 'pf'


@pytest.mark.parametrize('args, field', [
    ({'num_vfs': -1}, 'num_vfs'),
    ({'all_vfs': {'colour': 'red'}}, 'all_vfs'),
    ({'vfs': [{'vf': 0, 'vlan': 5000}]}, 'vfs[0].vlan'),
])
def test_sriov_vf_bad_input(capsys, host, args, field):
    result = run(capsys, sriov_vf, pf=PF_IF, **args)
    assert result['failed'] and result['field'] == field
    assert host.writes == [] and host.netlink.calls == []


def test_sriov_vf_info(capsys, host):
    host.users = {vf_address(1): ['vm-b']}
    result = run(capsys, sriov_vf_info)
    assert not result['changed'] and len(result['pfs']) == 1
    pf = result['pfs'][0]
    assert (pf['pci_address'], pf['name'], pf['num_vfs'], pf['total_vfs'], pf['vendor']) == (PF, PF_IF, 2, 7, '8086')
    assert [(vf['pci_address'], vf['driver'], vf['iommu_group'], vf['netdev'], vf['in_use_by']) for vf in pf['vfs']] == [
        (vf_address(0), 'igbvf', '10', 'enp2s0f0v0', []), (vf_address(1), 'igbvf', '11', 'enp2s0f0v1', ['vm-b'])]
    assert pf['vfs'][0]['spoofchk'] is True and pf['vfs'][0]['mac'] == '00:00:00:00:00:00'
    one = run(capsys, sriov_vf_info, pf=PF)
    assert one['pfs'] == result['pfs']


# --- sriov_pool --------------------------------------------------------------------------------

def pool_args(host, **args):
    base = {'name': 'intel.com/mellanox_SRIOV_25G', 'vendors': ['8086'], 'devices': ['10ca'], 'drivers': ['vfio-pci'],
            'path': str(host.tmp / 'etc' / 'pools.json'), 'device_plugin_config': str(host.tmp / 'pcidp' / 'config.json')}
    base.update(args)
    return base


def test_sriov_pool_lifecycle(capsys, host):
    args = pool_args(host)
    check = run(capsys, sriov_pool, check_mode=True, diff=True, **args)
    assert check['changed'] and not os.path.exists(args['path'])
    created = run(capsys, sriov_pool, diff=True, **args)
    assert created['changed'] and created['diff']['before'] == ''
    with open(args['device_plugin_config']) as handle:
        # the seed's format exactly (reference seed 004)
        assert json.load(handle) == {'resourceList': [{'resourceName': 'mellanox_SRIOV_25G', 'selectors': {
            'vendors': ['8086'], 'devices': ['10ca'], 'drivers': ['vfio-pci']}}]}
    assert created['devices'] == []    # no VF is on vfio-pci yet
    run(capsys, sriov_vf, pf=PF_IF, vfs=[{'vf': 1, 'driver': 'vfio-pci'}])
    again = run(capsys, sriov_pool, **args)
    assert not again['changed'] and [d['pci_address'] for d in again['devices']] == [vf_address(1)]
    other = run(capsys, sriov_pool, **pool_args(host, name='example.org/other', pf_names=[PF_IF + '#0'],
                                                vendors=None, devices=None, drivers=None))
    assert [e['resourceName'] for e in other['config']['resourceList']] == ['mellanox_SRIOV_25G', 'other']
    assert other['pool']['resourcePrefix'] == 'example.org'
    assert [d['vf'] for d in other['devices']] == [0]
    updated = run(capsys, sriov_pool, diff=True, **pool_args(host, drivers=['vfio-pci', 'igbvf']))
    assert updated['changed'] and [e['resourceName'] for e in updated['config']['resourceList']] == [
        'mellanox_SRIOV_25G', 'other']
    removed = run(capsys, sriov_pool, state='absent', **args)
    assert removed['changed'] and [e['resourceName'] for e in removed['config']['resourceList']] == ['other']
    assert not run(capsys, sriov_pool, state='absent', **args)['changed']


def test_sriov_pool_bad_input(capsys, host):
    result = run(capsys, sriov_pool, **pool_args(host, vendors=['intel']))
    assert result['failed'] and result['field'] == 'vendors'
    with open(str(host.tmp / 'broken.json'), 'w') as handle:
        handle.write('{')
    result = run(capsys, sriov_pool, **pool_args(host, path=str(host.tmp / 'broken.json')))
    assert result['failed'] and result['field'] == 'path'
