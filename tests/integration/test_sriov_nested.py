# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sriov_vf and sriov_vf_info on real SR-IOV hardware emulation.

The host kernel has no SR-IOV or VFIO (toolchain §0), so the modules run inside the nested
TCG guest of nested.py, whose emulated ``igb`` NIC is a real SR-IOV PF behind an emulated
Intel IOMMU (test_sriov_nested_binding runs the sriov binding there).

One boot proves, in order: check mode changes nothing; VFs are created with an admin MAC,
VLAN/QoS, spoof checking and trust, read back by pyroute2 and by iproute2 alike; a VF is
bound to vfio-pci through driver_override and its IOMMU group is viable for VFIO;
the second run changes nothing; a driver's refusal half-way (igb has no VF link state)
takes back the change made before it; a PF carrying the default route is refused; the VF
goes back to its kernel driver; ``num_vfs: 0`` removes the VFs, idempotently.
"""

import re
import shutil

import pytest

import nested

VF0 = {'vf': 0, 'mac': '02:00:00:5a:00:10', 'vlan': 100, 'qos': 2, 'spoofchk': False, 'trust': True}
VF1_VFIO = {'vf': 1, 'driver': 'vfio-pci'}

# (name, module, args, check mode, shell run before it). Results: <nn>-<name>.json
# This guest runs no libvirtd: changing the count or rebinding VFs needs force: true there
# (sriov_vf fails closed when it cannot check which VFs domains use).
STEPS = [
    ('create-check', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 2, 'vfs': [VF0, VF1_VFIO], 'force': True}, True, ''),
    ('create', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 2, 'vfs': [VF0, VF1_VFIO], 'force': True}, False, ''),
    ('create-again', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 2, 'vfs': [VF0, VF1_VFIO], 'force': True}, False,
     'ip -d link show eth0 > /run/scratch/iplink.txt; python3 /run/scratch/vfio_status.py 0000:00:13.2'
     ' > /run/scratch/vfio.txt 2>&1'),
    ('rollback', 'sriov_vf', {'pf': 'eth0', 'vfs': [{'vf': 0, 'vlan': 200}, {'vf': 1, 'link_state': 'disable'}]},
     False, ''),
    ('no-libvirt', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 3}, False, ''),
    ('info', 'sriov_vf_info', {'pf': '0000:00:03.0'}, False, ''),
    ('default-route', 'sriov_vf', {'pf': 'eth0', 'vfs': [{'vf': 0, 'trust': False}]}, False,
     'ip link set eth0 up && ip addr add 192.0.2.2/24 dev eth0 && ip route add default via 192.0.2.1'),
    ('restore', 'sriov_vf', {'pf': 'eth0', 'vfs': [{'vf': 1, 'driver': 'default'}], 'force': True}, False,
     'ip route del default; ip addr flush dev eth0'),
    ('zero', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 0, 'force': True}, False, ''),
    ('zero-again', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 0, 'force': True}, False, ''),
]


def _run_script():
    lines = nested.prologue()
    for number, (name, module, _args, _check, shell) in enumerate(STEPS):
        if shell:
            lines.append(shell)
        lines.append(nested.module_line(module, '%02d-%s' % (number, name)))
    return '\n'.join(lines) + '\n'


@pytest.fixture(scope='module')
def nested_run(tmp_path_factory):
    """Boot the nested guest once, run every step, return ``{step: result}`` and timings."""
    scratch = tmp_path_factory.mktemp('sriov-nested')
    for number, (name, _module, args, check, _shell) in enumerate(STEPS):
        nested.write_args(scratch, '%02d-%s' % (number, name), args, check)
    (scratch / 'vfio_status.py').write_text(nested.VFIO_STATUS)
    elapsed = nested.boot(scratch, _run_script())
    results = dict((name, nested.result(scratch, '%02d-%s' % (number, name)))
                   for number, (name, _module, _args, _check, _shell) in enumerate(STEPS))
    timings = dict((stem[3:], seconds) for stem, seconds in nested.timings(scratch).items())
    report = {'results': results, 'timings': timings, 'wall': elapsed,
              'iplink': nested.read(scratch / 'iplink.txt'), 'vfio': nested.read(scratch / 'vfio.txt')}
    print('\nnested SR-IOV guest: %.1f s wall; module runs: %s' % (
        elapsed, ', '.join('%s %.1f s' % item for item in sorted(timings.items(), key=lambda i: i[0]))))
    yield report
    shutil.rmtree(str(scratch), ignore_errors=True)


def _vf(result, index):
    return next(vf for vf in result['pf']['vfs'] if vf['vf'] == index)


def test_check_mode_changes_nothing(nested_run):
    check = nested_run['results']['create-check']
    assert check['changed'] and not check.get('failed'), check
    assert check['diff']['before']['num_vfs'] == 0 and check['diff']['after']['num_vfs'] == 2
    # the real run that followed found no VFs: check mode made none
    assert nested_run['results']['create']['diff']['before'] == {'num_vfs': 0, 'vfs': []}


def test_create_vfs_with_settings(nested_run):
    create = nested_run['results']['create']
    assert create['changed'] and not create.get('failed'), create
    assert 'set sriov_numvfs of 0000:00:03.0 from 0 to 2' in create['actions']
    pf = create['pf']
    assert (pf['name'], pf['driver'], pf['total_vfs'], pf['num_vfs']) == ('eth0', 'igb', 7, 2)
    vf0 = _vf(create, 0)
    assert (vf0['driver'], vf0['mac'], vf0['vlan'], vf0['qos'], vf0['spoofchk'], vf0['trust']) == (
        'igbvf', '02:00:00:5a:00:10', 100, 2, False, True)
    # iproute2 reads the same back from the kernel
    assert re.search(r'vf 0\s+link/ether 02:00:00:5a:00:10 .*vlan 100, qos 2, spoof checking off.*trust on',
                     nested_run['iplink']), nested_run['iplink']


def test_vf_bound_to_vfio_pci_with_a_viable_iommu_group(nested_run):
    vf1 = _vf(nested_run['results']['create'], 1)
    assert (vf1['driver'], vf1['driver_override'], vf1['netdev']) == ('vfio-pci', None, None)
    assert vf1['iommu_group'] is not None
    # the operator's order: the VF's netdev MAC became its admin MAC before the switch
    assert vf1['mac'] != '00:00:00:00:00:00'
    assert 'load kernel module vfio-pci' in nested_run['results']['create']['actions']
    assert nested_run['vfio'].strip() == 'group=%s flags=1' % vf1['iommu_group'], nested_run['vfio']


def test_second_run_changes_nothing(nested_run):
    again = nested_run['results']['create-again']
    assert not again['changed'] and again['actions'] == [], again


def test_driver_refusal_half_way_is_taken_back(nested_run):
    rollback = nested_run['results']['rollback']
    assert rollback.get('failed'), rollback
    assert 'setting link_state of VF 1 failed' in rollback['msg'] and 'taken back' in rollback['msg'], rollback['msg']
    info = nested_run['results']['info']['pfs'][0]
    assert info['vfs'][0]['vlan'] == 100 and info['vfs'][0]['qos'] == 2   # VLAN 200 was taken back
    assert info['vfs'][1]['driver'] == 'vfio-pci'


def test_without_libvirt_the_count_is_not_changed(nested_run):
    refused = nested_run['results']['no-libvirt']
    assert refused.get('failed') and refused['field'] == 'uri' and 'set force: true' in refused['msg'], refused
    assert nested_run['results']['info']['pfs'][0]['num_vfs'] == 2


def test_pf_with_the_default_route_is_refused(nested_run):
    refused = nested_run['results']['default-route']
    assert refused.get('failed') and "carries the host's default route" in refused['msg'], refused


def test_vf_back_to_its_kernel_driver(nested_run):
    restore = nested_run['results']['restore']
    assert restore['changed'] and not restore.get('failed'), restore
    vf1 = _vf(restore, 1)
    assert vf1['driver'] == 'igbvf' and vf1['netdev'], vf1


def test_num_vfs_zero_idempotent(nested_run):
    zero, again = nested_run['results']['zero'], nested_run['results']['zero-again']
    assert zero['changed'] and zero['pf']['num_vfs'] == 0 and zero['pf']['vfs'] == [], zero
    assert not again['changed'], again
