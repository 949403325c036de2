# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nested SR-IOV guest of test_sriov_nested and test_sriov_nested_binding: one boot
of a TCG guest (QEMU 10 from bookworm-backports, extracted by scripts/qemu10.sh in setup)
whose emulated Intel 82576 ``igb`` NIC is a real SR-IOV PF behind an emulated Intel IOMMU.
The guest (tools/nested) chroots into this host's root, shared read-only over virtio-9p,
and runs ``run.sh`` from a writable 9p scratch directory; the modules run there exactly as
Ansible runs them (``python -m <module> args.json``, with this project's venv) and leave
their JSON results in the scratch directory. The NIC sits on a QEMU hub with no host
network behind it."""

import json
import os
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NESTED_IMAGE = os.path.join(ROOT, '.cache', 'nested', 'vmnet-nested.gz')
PYTHON = os.path.join(ROOT, '.venv', 'bin', 'python')
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
BOOT_TIMEOUT = 600
MODULES = 'ansible_collections.vmnet.networks.plugins.modules.'


# VFIO_GROUP_GET_STATUS on /dev/vfio/<group> of the VF at argv[1]: flags bit 0 = viable (linux/vfio.h)
VFIO_STATUS = r'''
import fcntl, os, struct, sys
group = os.path.basename(os.readlink('/sys/bus/pci/devices/%s/iommu_group' % sys.argv[1]))
fd = os.open('/dev/vfio/' + group, os.O_RDWR)
out = fcntl.ioctl(fd, (ord(';') << 8) | (100 + 3), struct.pack('II', 8, 0))
print('group=%s flags=%d' % (group, struct.unpack('II', out)[1]))
'''


def qemu10():
    """The QEMU 10 binary scripts/setup.sh extracted (a test fetches nothing from a
    registry); skips when setup could not obtain it."""
    if not os.path.exists(PYTHON):
        pytest.skip('the project venv (.venv) is missing: run scripts/setup.sh')
    script = os.path.join(ROOT, 'scripts', 'qemu10.sh')
    proc = subprocess.run(['bash', script, '--path'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False, timeout=60)
    if proc.returncode != 0:
        pytest.skip('QEMU 10 (bookworm-backports) is not extracted: run scripts/setup.sh (%s)'
                    % proc.stderr.strip()[-500:])
    return proc.stdout.strip().splitlines()[-1]


def module_line(module, stem, env=''):
    """The shell line that runs ``module`` on ``$S/<stem>.args`` (results in ``$S/<stem>.json``,
    its stderr in ``.err``, its exit status in ``.rc``) and records its wall time."""
    return ('t0=$(date +%%s.%%N)\n%s%s -m %s%s $S/%s.args > $S/%s.json 2> $S/%s.err; echo $? > $S/%s.rc\n'
            'echo "%s $t0 $(date +%%s.%%N)" >> $S/timings.txt'
            % (env + ' ' if env else '', PYTHON, MODULES, module, stem, stem, stem, stem, stem))


def write_args(scratch, stem, args, check=False):
    with open(os.path.join(str(scratch), stem + '.args'), 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check, _ansible_diff=True)}, handle)


def prologue():
    """The first lines of every run.sh: the venv's collections, the PF's drivers loaded as
    udev would (vfio-pci is left to the modules), ``$S`` the scratch directory."""
    return ['cd /', 'export PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=%s' % COLLECTIONS,
            'modprobe igb; modprobe igbvf', 'S=/run/scratch']


def boot(scratch, script, memory=1024):
    """Boot the nested guest once with ``script`` as its run.sh in ``scratch``; returns the
    wall time. Fails with the console and run.log when run.sh did not end with status 0."""
    qemu = qemu10()
    # the collection's bytecode, made here: the guest's root is read-only, and compiling
    # every module_utils file again in each module run costs seconds under TCG
    subprocess.run([PYTHON, '-m', 'compileall', '-q', os.path.join(ROOT, 'plugins')], check=True,
                   stdout=subprocess.DEVNULL)
    kernel = subprocess.run([os.path.join(ROOT, 'tools', 'nested', 'build-initramfs.sh'), NESTED_IMAGE],
                            check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    scratch = str(scratch)
    with open(os.path.join(scratch, 'run.sh'), 'w') as handle:
        handle.write(script)
    console = os.path.join(scratch, 'console.log')
    qemu_root = os.path.dirname(os.path.dirname(os.path.dirname(qemu)))
    argv = [qemu, '-L', os.path.join(qemu_root, 'usr', 'share', 'qemu'), '-L', '/usr/share/seabios',
            '-accel', 'tcg', '-machine', 'q35', '-m', str(memory), '-smp', '1',
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
    text = read(console)
    assert 'VMNET-NESTED-EXIT rc=0' in text, 'nested guest: %s\nconsole:\n%s\nrun.log:\n%s' % (
        output, text[-3000:], read(os.path.join(scratch, 'run.log'))[-6000:])
    return elapsed


def read(path):
    try:
        with open(str(path), errors='replace') as handle:
            return handle.read()
    except (IOError, OSError):
        return ''


def result(scratch, stem):
    """The JSON a module run printed (``module_line``)."""
    raw = read(os.path.join(str(scratch), stem + '.json'))
    try:
        return json.loads(raw)
    except ValueError:
        raise AssertionError('%s printed no JSON (rc %s): %s %s' % (
            stem, read(os.path.join(str(scratch), stem + '.rc')).strip(), raw,
            read(os.path.join(str(scratch), stem + '.err'))[-3000:]))


def timings(scratch):
    """``{stem: seconds}`` of every module run (``module_line``)."""
    found = {}
    for line in read(os.path.join(str(scratch), 'timings.txt')).splitlines():
        stem, start, end = line.split()
        found[stem] = float(end) - float(start)
    return found
