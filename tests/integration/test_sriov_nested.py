# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sriov_vf and sriov_vf_info on real SR-IOV hardware emulation.

The host kernel has no SR-IOV or VFIO (toolchain §0), so the modules run inside a nested
TCG guest (QEMU 10 from bookworm-backports, extracted by scripts/qemu10.sh in setup; the Debian 6.1
kernel) whose emulated Intel 82576 ``igb`` NIC is a real SR-IOV PF behind an emulated
Intel IOMMU. The guest chroots into this host's root, shared read-only over virtio-9p, and
runs the modules exactly as Ansible runs them (``python -m <module> args.json``, with this
project's venv); their JSON results land in a writable 9p scratch directory that the test
reads. The guest's NIC sits on a QEMU hub with no host network behind it.

One boot proves, in order: check mode changes nothing; VFs are created with an admin MAC,
VLAN/QoS, spoof checking and trust, read back by pyroute2 and by iproute2 alike; a VF is
bound to vfio-pci through driver_override and its IOMMU group is viable for VFIO;
the second run changes nothing; a driver's refusal half-way (igb has no VF link state)
takes back the change made before it; a PF carrying the default route is refused; the VF
goes back to its kernel driver; ``num_vfs: 0`` removes the VFs, idempotently.
"""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NESTED_IMAGE = os.path.join(ROOT, '.cache', 'nested', 'vmnet-nested.gz')
PYTHON = os.path.join(ROOT, '.venv', 'bin', 'python')
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
BOOT_TIMEOUT = 600

VF0 = {'vf': 0, 'mac': '02:00:00:5a:00:10', 'vlan': 100, 'qos': 2, 'spoofchk': False, 'trust': True}
VF1_VFIO = {'vf': 1, 'driver': 'vfio-pci'}

# (name, module, args, check mode, shell run before it). Results: <nn>-<name>.json
# The nested host runs no libvirtd: changing the count or rebinding VFs needs force: true there
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

# VFIO_GROUP_GET_STATUS on /dev/vfio/<group>: flags bit 0 = viable (linux/vfio.h)
VFIO_STATUS = r'''
import fcntl, os, struct, sys
group = os.path.basename(os.readlink('/sys/bus/pci/devices/%s/iommu_group' % sys.argv[1]))
fd = os.open('/dev/vfio/' + group, os.O_RDWR)
out = fcntl.ioctl(fd, (ord(';') << 8) | (100 + 3), struct.pack('II', 8, 0))
print('group=%s flags=%d' % (group, struct.unpack('II', out)[1]))
'''


def _qemu10():
    """The QEMU 10 binary scripts/setup.sh extracted (a test fetches nothing from a
    registry); skips when setup could not obtain it."""
    script = os.path.join(ROOT, 'scripts', 'qemu10.sh')
    proc = subprocess.run(['bash', script, '--path'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, timeout=60)
    if proc.returncode != 0:
        pytest.skip('QEMU 10 (bookworm-backports) is not extracted: run scripts/setup.sh (%s)'
                    % proc.stderr.strip()[-500:])
    return proc.stdout.strip().splitlines()[-1]


def _run_script():
    lines = ['cd /', 'export PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=%s' % COLLECTIONS,
             # the PF driver, as udev would load it; vfio-pci is left to the module
             'modprobe igb; modprobe igbvf', 'S=/run/scratch']
    for number, (name, module, _args, _check, shell) in enumerate(STEPS):
        stem = '%02d-%s' % (number, name)
        if shell:
            lines.append(shell)
        lines.append('t0=$(date +%s.%N)')
        lines.append('%s -m ansible_collections.vmnet.networks.plugins.modules.%s $S/%s.args > $S/%s.json 2> $S/%s.err'
                     % (PYTHON, module, stem, stem, stem))
        lines.append('echo "%s $t0 $(date +%%s.%%N)" >> $S/timings.txt' % stem)
    return '\n'.join(lines) + '\n'


@pytest.fixture(scope='module')
def nested(tmp_path_factory):
    """Boot the nested guest once, run every step, return ``{step: result}`` and timings."""
    if not os.path.exists(PYTHON):
        pytest.skip('the project venv (.venv) is missing: run scripts/setup.sh')
    qemu = _qemu10()
    kernel = subprocess.run([os.path.join(ROOT, 'tools', 'nested', 'build-initramfs.sh'), NESTED_IMAGE],
                            check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    scratch = tmp_path_factory.mktemp('sriov-nested')
    for number, (name, _module, args, check, _shell) in enumerate(STEPS):
        with open(str(scratch / ('%02d-%s.args' % (number, name))), 'w') as handle:
            json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check, _ansible_diff=True)}, handle)
    (scratch / 'run.sh').write_text(_run_script())
    (scratch / 'vfio_status.py').write_text(VFIO_STATUS)
    console = str(scratch / 'console.log')
    qemu_root = os.path.dirname(os.path.dirname(os.path.dirname(qemu)))
    argv = [qemu, '-L', os.path.join(qemu_root, 'usr', 'share', 'qemu'), '-L', '/usr/share/seabios',
            '-accel', 'tcg', '-machine', 'q35', '-m', '1024', '-smp', '1',
            '-nodefaults', '-display', 'none', '-audio', 'none', '-monitor', 'none', '-no-reboot',
            '-serial', 'file:' + console,
            '-device', 'intel-iommu,intremap=off',
            '-kernel', kernel, '-initrd', NESTED_IMAGE, '-append', 'console=ttyS0 quiet intel_iommu=on',
            '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap,id=fs0',
            '-virtfs', 'local,path=%s,mount_tag=scratch,security_model=none,id=fs1' % scratch,
            # the NIC on a hub with nothing else on it: no host network at all
            '-netdev', 'hubport,id=n0,hubid=0', '-device', 'igb,netdev=n0,mac=52:54:00:12:34:56,romfile=']
    # QEMU 10 must not load the system QEMU 7.2's modules
    env = dict(os.environ, QEMU_MODULE_DIR=os.path.join(qemu_root, 'usr', 'lib', 'x86_64-linux-gnu', 'qemu'))
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        output = proc.communicate(timeout=BOOT_TIMEOUT)[0]
    finally:
        if proc.poll() is None:
            proc.kill()     # our own QEMU, by its PID
            proc.wait()
    elapsed = time.monotonic() - start
    text = open(console, errors='replace').read()
    assert 'VMNET-NESTED-EXIT rc=0' in text, 'nested guest: %s\nconsole:\n%s\nrun.log:\n%s' % (
        output, text[-3000:], _read(scratch / 'run.log'))
    results = {}
    for number, (name, _module, _args, _check, _shell) in enumerate(STEPS):
        stem = '%02d-%s' % (number, name)
        raw = _read(scratch / (stem + '.json'))
        try:
            results[name] = json.loads(raw)
        except ValueError:
            raise AssertionError('%s printed no JSON: %s %s' % (stem, raw, _read(scratch / (stem + '.err'))))
    timings = dict((line.split()[0][3:], float(line.split()[2]) - float(line.split()[1]))
                   for line in _read(scratch / 'timings.txt').splitlines())
    report = {'results': results, 'timings': timings, 'wall': elapsed,
              'iplink': _read(scratch / 'iplink.txt'), 'vfio': _read(scratch / 'vfio.txt')}
    print('\nnested SR-IOV guest: %.1f s wall; module runs: %s' % (
        elapsed, ', '.join('%s %.1f s' % item for item in sorted(timings.items(), key=lambda i: i[0]))))
    yield report
    shutil.rmtree(str(scratch), ignore_errors=True)


def _read(path):
    try:
        with open(str(path), errors='replace') as handle:
            return handle.read()
    except (IOError, OSError):
        return ''


def _vf(result, index):
    return next(vf for vf in result['pf']['vfs'] if vf['vf'] == index)


def test_check_mode_changes_nothing(nested):
    check = nested['results']['create-check']
    assert check['changed'] and not check.get('failed'), check
    assert check['diff']['before']['num_vfs'] == 0 and check['diff']['after']['num_vfs'] == 2
    # the real run that followed found no VFs: check mode made none
    assert nested['results']['create']['diff']['before'] == {'num_vfs': 0, 'vfs': []}


def test_create_vfs_with_settings(nested):
    create = nested['results']['create']
    assert create['changed'] and not create.get('failed'), create
    assert 'set sriov_numvfs of 0000:00:03.0 from 0 to 2' in create['actions']
    pf = create['pf']
    assert (pf['name'], pf['driver'], pf['total_vfs'], pf['num_vfs']) == ('eth0', 'igb', 7, 2)
    vf0 = _vf(create, 0)
    assert (vf0['driver'], vf0['mac'], vf0['vlan'], vf0['qos'], vf0['spoofchk'], vf0['trust']) == (
        'igbvf', '02:00:00:5a:00:10', 100, 2, False, True)
    # iproute2 reads the same back from the kernel
    assert re.search(r'vf 0\s+link/ether 02:00:00:5a:00:10 .*vlan 100, qos 2, spoof checking off.*trust on',
                     nested['iplink']), nested['iplink']


def test_vf_bound_to_vfio_pci_with_a_viable_iommu_group(nested):
    vf1 = _vf(nested['results']['create'], 1)
    assert (vf1['driver'], vf1['driver_override'], vf1['netdev']) == ('vfio-pci', None, None)
    assert vf1['iommu_group'] is not None
    # the operator's order: the VF's netdev MAC became its admin MAC before the switch
    assert vf1['mac'] != '00:00:00:00:00:00'
    assert 'load kernel module vfio-pci' in nested['results']['create']['actions']
    assert nested['vfio'].strip() == 'group=%s flags=1' % vf1['iommu_group'], nested['vfio']


def test_second_run_changes_nothing(nested):
    again = nested['results']['create-again']
    assert not again['changed'] and again['actions'] == [], again


def test_driver_refusal_half_way_is_taken_back(nested):
    rollback = nested['results']['rollback']
    assert rollback.get('failed'), rollback
    assert 'setting link_state of VF 1 failed' in rollback['msg'] and 'taken back' in rollback['msg'], rollback['msg']
    info = nested['results']['info']['pfs'][0]
    assert info['vfs'][0]['vlan'] == 100 and info['vfs'][0]['qos'] == 2   # VLAN 200 was taken back
    assert info['vfs'][1]['driver'] == 'vfio-pci'


def test_without_libvirt_the_count_is_not_changed(nested):
    refused = nested['results']['no-libvirt']
    assert refused.get('failed') and refused['field'] == 'uri' and 'set force: true' in refused['msg'], refused
    assert nested['results']['info']['pfs'][0]['num_vfs'] == 2


def test_pf_with_the_default_route_is_refused(nested):
    refused = nested['results']['default-route']
    assert refused.get('failed') and "carries the host's default route" in refused['msg'], refused


def test_vf_back_to_its_kernel_driver(nested):
    restore = nested['results']['restore']
    assert restore['changed'] and not restore.get('failed'), restore
    vf1 = _vf(restore, 1)
    assert vf1['driver'] == 'igbvf' and vf1['netdev'], vf1


def test_num_vfs_zero_idempotent(nested):
    zero, again = nested['results']['zero'], nested['results']['zero-again']
    assert zero['changed'] and zero['pf']['num_vfs'] == 0 and zero['pf']['vfs'] == [], zero
    assert not again['changed'], again
