# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sriov binding on real VFs: vm_network and vm_interface in the nested guest of
nested.py, whose emulated ``igb`` NIC is a real SR-IOV PF behind an emulated Intel IOMMU.

The guest runs its own libvirtd (its /etc/libvirt, /var/lib/libvirt, /var/cache/libvirt and
/var/log/libvirt are tmpfs mounts of the guest: nothing of this host's libvirt is seen or
changed; it answers after ~6 s, its QEMU capability probe included). The VM's domain is
defined there and never started (TCG inside TCG). The modules run as Ansible runs them:
sriov_vf makes two VFs on vfio-pci (libvirt answers, so without ``force``), sriov_pool makes
them a pool, nad stores the SR-IOV NAD, vm_network records the network, vm_interface binds
the interface.

One boot proves, in order: check mode allocates nothing; the VF is allocated, its IOMMU
group viable for VFIO, the NAD's VLAN/QoS/spoof checking and the spec's MAC set on it
through its PF (read back by pyroute2 and iproute2), the domain's persistent definition
has KubeVirt's ``<hostdev>`` of the VF with the interface's alias and guest PCI address;
the next run changes nothing; sriov_vf will not remove the VF from under the defined
domain; ``absent`` gives the VF back as it was (original MAC and settings, still on
vfio-pci: it is the pool's) and leaves the host as before. Then a run killed at every point
of the binding (faults.py: ``sriov:record``, ``sriov:allocate``, ``domain:nic``; the sriov
binding has no generic ``<binding>:<step>`` points, it converges in one step) leaves that
point's partial state, the next run converges to the very host an undisturbed run made (so
the run after it is the ``again`` run above), and ``absent`` leaves the host as before.
An ``absent`` killed at ``sriov:release`` (the hostdev gone and the VF's settings put back,
its allocation still recorded) is followed by a ``present`` run that makes the very host an
undisturbed run made, and an ``absent`` killed there again is finished by the next one.
Snapshots taken in the guest (VFs by iproute2, their drivers, the domain's persistent XML,
the state files, the network namespaces) are what the tests compare.
"""

import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import namedtuple

import pytest

import nested
from conftest import unique_name

from ansible_collections.vmnet.networks.plugins.module_utils import names

BASE = '/run/vmnet-test'                   # the guest's tmpfs: the modules' files
POOL = 'intel.com/vmnt_vfs'
MAC = '02:00:00:5a:00:aa'
NAD = {'cniVersion': '0.3.1', 'name': 'sriov-net', 'type': 'sriov', 'vlan': 100, 'vlanQoS': 3, 'spoofchk': 'off'}
GUEST_PCI = '0000:00:0a.0'
POINTS = ('sriov:record', 'sriov:allocate', 'domain:nic')
RELEASE = 'sriov:release'


def manifest(vm):
    """A VM with one SR-IOV interface on the multus network of the NAD sriov-net."""
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', 'metadata': {'name': vm},
            'spec': {'domain': {'devices': {'interfaces': [
                {'name': 'fast', 'sriov': {}, 'macAddress': MAC, 'pciAddress': GUEST_PCI}]}},
                'networks': [{'name': 'fast', 'multus': {'networkName': 'sriov-net'}}]}}


def domain_xml(vm):
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
            "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>" % vm)


# name, module, args, check mode, fault point, snapshot after it
Step = namedtuple('Step', 'name module args check fault snap')


def steps(vm):
    pod = {'spec': manifest(vm), 'vm': vm, 'state_dir': BASE + '/state', 'nad_dir': BASE + '/nads',
           'cni_conf_dir': BASE + '/cni', 'nad_policy_file': BASE + '/nad-policy.json'}
    iface = dict(pod, name='fast', sriov_pools_file=BASE + '/pools.json')
    absent = dict(iface, state='absent')
    made = [
        Step('vfs', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 2, 'all_vfs': {'driver': 'vfio-pci'}}, False, None, False),
        Step('pool', 'sriov_pool', {'name': POOL, 'pf_names': ['eth0'], 'drivers': ['vfio-pci'],
                                    'nad_settings': ['vlan', 'qos', 'spoofchk'], 'path': BASE + '/pools.json'},
             False, None, False),
        Step('nad', 'nad', {'name': 'sriov-net', 'nad_dir': BASE + '/nads', 'resource_name': POOL, 'config': NAD},
             False, None, False),
        Step('network', 'vm_network', dict(pod, name='fast'), False, None, True),
        Step('check', 'vm_interface', iface, True, None, True),
        Step('present', 'vm_interface', iface, False, None, True),
        Step('again', 'vm_interface', iface, False, None, True),
        Step('busy', 'sriov_vf', {'pf': 'eth0', 'num_vfs': 0}, False, None, True),
        Step('absent', 'vm_interface', absent, False, None, True),
    ]
    # After a converged run the host is the same as after an undisturbed one (snapshots):
    # the run after it is the 'again' run above
    for point in POINTS:
        made += [Step('killed-' + point, 'vm_interface', iface, False, point, True),
                 Step('converged-' + point, 'vm_interface', iface, False, None, True),
                 Step('removed-' + point, 'vm_interface', absent, False, None, True)]
    # An absent killed once the VF is given back but still recorded as the interface's: a
    # present run after it makes the interface again, the next absent finishes the removal
    made += [Step('made-release', 'vm_interface', iface, False, None, False),
             Step('killed-release', 'vm_interface', absent, False, RELEASE, True),
             Step('rebuilt-release', 'vm_interface', iface, False, None, True),
             Step('killed-again-release', 'vm_interface', absent, False, RELEASE, False),
             Step('finished-release', 'vm_interface', absent, False, None, True)]
    return made + [Step('detached', 'vm_network', dict(pod, name='fast', state='absent'), False, None, True)]


# A snapshot, taken in the guest after a step: the PF's VFs (iproute2), their drivers, the
# domain's persistent XML, the state files (not the empty lock files, kept by design) and the
# network namespaces, under $S/snap-<label>/
SNAPSHOT = r"""
snap() {
  d=$S/snap-$1; mkdir -p $d
  ip -d -j link show eth0 > $d/link.json
  for v in /sys/class/net/eth0/device/virtfn*; do
    [ -e "$v" ] || continue
    a=$(basename "$(readlink $v)"); echo "${v##*virtfn} $a $(basename "$(readlink /sys/bus/pci/devices/$a/driver)")"
  done > $d/drivers.txt
  virsh -q -c qemu:///system dumpxml --inactive $VM > $d/domain.xml
  ls /run/netns > $d/netns.txt
  cp -r $STATE $d/state 2> /dev/null; rm -rf $d/state/.locks
}
"""

# The VF's settings through pyroute2 and its IOMMU group's VFIO status (VFIO_GROUP_GET_STATUS,
# flags bit 0 = viable), read once the VF is the VM's
PRESENT = r"""
import fcntl, json, os, struct, sys
from pyroute2 import IPRoute
with IPRoute() as ipr:
    link = ipr.link('get', index=ipr.link_lookup(ifname='eth0')[0], ext_mask=1)[0]
    vfs = {}
    for info in link.get_attr('IFLA_VFINFO_LIST').get_attrs('IFLA_VF_INFO'):
        vlan = info.get_attr('IFLA_VF_VLAN')
        vfs[vlan['vf']] = {'mac': info.get_attr('IFLA_VF_MAC')['mac'], 'vlan': vlan['vlan'], 'qos': vlan['qos'],
                           'spoofchk': info.get_attr('IFLA_VF_SPOOFCHK')['spoofchk']}
address = os.path.basename(os.readlink('/sys/class/net/eth0/device/virtfn0'))
group = os.path.basename(os.readlink('/sys/bus/pci/devices/%s/iommu_group' % address))
fd = os.open('/dev/vfio/' + group, os.O_RDWR)
flags = struct.unpack('II', fcntl.ioctl(fd, (ord(';') << 8) | (100 + 3), struct.pack('II', 8, 0)))[1]
print(json.dumps({'pyroute2': vfs, 'vfio': {'group': group, 'flags': flags}}))
"""

# The guest's own libvirtd, on tmpfs mounts of the guest; QEMU runs as root, never started here
LIBVIRTD = r"""
for d in /etc/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt; do mount -t tmpfs tmpfs $d || exit 1; done
printf '%s\n' 'user = "root"' 'group = "root"' 'dynamic_ownership = 0' 'remember_owner = 0' \
  'security_driver = "none"' 'stdio_handler = "file"' > /etc/libvirt/qemu.conf
t0=$(date +%s.%N)
/usr/sbin/libvirtd > $S/libvirtd.log 2>&1 &
LIBVIRTD=$!
for i in $(seq 1 600); do virsh -q -c qemu:///system version > /dev/null 2>&1 && break; sleep 0.2; done
echo "libvirtd-answers $t0 $(date +%s.%N)" >> $S/timings.txt
virsh -q -c qemu:///system define $S/domain.xml > $S/define.txt 2>&1 || { kill $LIBVIRTD; exit 1; }
"""


def _run_script(vm, made):
    lines = nested.prologue() + ['VM=%s STATE=%s/state' % (vm, BASE), SNAPSHOT, LIBVIRTD]
    for number, step in enumerate(made):
        stem = '%02d-%s' % (number, step.name)
        lines.append(nested.module_line(step.module, stem, env='VMNET_FAULT=%s' % step.fault if step.fault else ''))
        if step.snap:
            lines.append('snap %s' % step.name)
        if step.name == 'present':
            lines.append('ip -d link show eth0 > $S/iplink.txt; %s $S/present.py > $S/present.json 2>&1'
                         % nested.PYTHON)
    lines.append('kill $LIBVIRTD; wait $LIBVIRTD')
    return '\n'.join(lines) + '\n'


def _snapshot(directory):
    """A snapshot (``SNAPSHOT``) as one comparable value: ``{vfs: {index: {pci, driver, mac,
    vlan, qos, spoofchk, trust}}, xml, state: {path: text}, netns}``."""
    vfs = {}
    for line in nested.read(directory / 'drivers.txt').splitlines():
        fields = line.split() + [None]      # a VF without a driver has no third field
        vfs[int(fields[0])] = {'pci': fields[1], 'driver': fields[2]}
    for info in json.loads(nested.read(directory / 'link.json'))[0].get('vfinfo_list', []):
        vlan = (info.get('vlan_list') or [{}])[0]
        vfs.setdefault(info['vf'], {}).update(mac=info['address'], vlan=vlan.get('vlan', 0), qos=vlan.get('qos', 0),
                                              spoofchk=info['spoofchk'], trust=info['trust'])
    state = {}
    for path in sorted((directory / 'state').rglob('*')) if (directory / 'state').exists() else []:
        if path.is_file():
            state[str(path.relative_to(directory / 'state'))] = nested.read(path)
    return {'vfs': vfs, 'state': state, 'netns': nested.read(directory / 'netns.txt').split(),
            'xml': nested.read(directory / 'domain.xml')}


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """Boot the nested guest once, run every step; ``{'results', 'rc', 'snaps', ...}``."""
    vm = unique_name('vmntnest')
    made = steps(vm)
    scratch = tmp_path_factory.mktemp('sriov-nested-binding')
    for number, step in enumerate(made):
        nested.write_args(scratch, '%02d-%s' % (number, step.name), step.args, step.check)
    (scratch / 'present.py').write_text(PRESENT)
    (scratch / 'domain.xml').write_text(domain_xml(vm))
    elapsed = nested.boot(scratch, _run_script(vm, made))
    report = {'vm': vm, 'wall': elapsed, 'results': {}, 'rc': {}, 'snaps': {},
              'iplink': nested.read(scratch / 'iplink.txt'), 'present': nested.read(scratch / 'present.json')}
    for number, step in enumerate(made):
        stem = '%02d-%s' % (number, step.name)
        report['rc'][step.name] = int(nested.read(scratch / (stem + '.rc')).strip() or -1)
        if not step.fault:
            report['results'][step.name] = nested.result(scratch, stem)
        if step.snap:
            report['snaps'][step.name] = _snapshot(scratch / ('snap-' + step.name))
    timings = nested.timings(scratch)
    report['timings'] = timings
    print('\nnested SR-IOV binding guest: %.1f s wall; %s' % (
        elapsed, ', '.join('%s %.1f s' % item for item in sorted(timings.items()))))
    yield report
    shutil.rmtree(str(scratch), ignore_errors=True)


def same_host(snap):
    """What must be as it was: all but the empty ``<metadata/>`` libvirt keeps once the last
    metadata element is removed, and the pod's settings (vm.json, for the re-plumbing hook),
    kept while the pod exists and removed with it (``detached``)."""
    return dict(snap, xml=[line for line in snap['xml'].splitlines() if line.strip() != '<metadata/>'],
                state=dict((k, v) for k, v in snap['state'].items() if not k.endswith('/vm.json')))


def hostdevs(snap):
    """``[{alias, source, managed, address}]`` of the persistent definition's PCI hostdevs."""
    found = []
    for hostdev in ET.fromstring(snap['xml']).findall('./devices/hostdev'):
        source = hostdev.find('source/address').attrib
        address = hostdev.find('address')
        found.append({'alias': hostdev.find('alias').get('name'), 'managed': hostdev.get('managed'),
                      'source': '%04x:%02x:%02x.%x' % tuple(int(source[k], 16) for k in ('domain', 'bus', 'slot', 'function')),
                      'address': None if address is None else '%04x:%02x:%02x.%x' % tuple(
                          int(address.get(k), 16) for k in ('domain', 'bus', 'slot', 'function'))})
    return found


def ok(result):
    assert not result.get('failed'), result
    return result


def test_libvirtd_runs_in_the_nested_guest(run):
    assert run['timings']['libvirtd-answers'] < 60
    assert ET.fromstring(run['snaps']['network']['xml']).find('name').text == run['vm']
    # sriov_vf asked libvirt which VFs domains use: no force needed to make VFs on vfio-pci
    vfs = ok(run['results']['vfs'])
    assert vfs['changed'] and [vf['driver'] for vf in vfs['pf']['vfs']] == ['vfio-pci'] * 2, vfs
    assert all(vf['in_use_by'] == [] for vf in vfs['pf']['vfs']), vfs
    # the nad module stores an SR-IOV NAD on a host without an sriov CNI binary
    assert ok(run['results']['nad'])['changed']


def test_check_mode_allocates_nothing(run):
    check = ok(run['results']['check'])
    assert check['changed'] and check['actions'][0].startswith('allocate VF ')
    assert run['snaps']['check'] == run['snaps']['network']


def test_vf_allocated_with_the_nad_settings_and_passed_to_the_domain(run):
    present = ok(run['results']['present'])
    snap, before = run['snaps']['present'], run['snaps']['network']
    vf0 = snap['vfs'][0]
    assert present['changed'] and present['actions'][0] == 'allocate VF %s of pool %s' % (vf0['pci'], POOL), present
    # MAC from the spec, VLAN/QoS/spoof checking from the NAD, set through the PF: iproute2
    # (JSON and text) and pyroute2 read them back
    assert (vf0['mac'], vf0['vlan'], vf0['qos'], vf0['spoofchk'], vf0['driver']) == (MAC, 100, 3, False, 'vfio-pci'), vf0
    assert re.search(r'vf 0\s+link/ether %s .*vlan 100, qos 3, spoof checking off' % MAC, run['iplink']), run['iplink']
    read = json.loads(run['present'])
    assert read['pyroute2']['0'] == {'mac': MAC, 'vlan': 100, 'qos': 3, 'spoofchk': 0}, read
    # bound to vfio-pci, its IOMMU group viable for VFIO (VFIO_GROUP_GET_STATUS)
    assert read['vfio']['flags'] & 1, read
    # the pool's other VF is untouched
    assert snap['vfs'][1] == before['vfs'][1]
    # the allocation is recorded
    record = json.loads(snap['state']['%s/sriov/fast.json' % names.pod_id('default', run['vm'])])
    assert (record['pci_address'], record['resource'], record['vf']) == (vf0['pci'], POOL, 0), record
    # KubeVirt's <hostdev> of the VF, with the interface's alias and guest PCI address
    assert hostdevs(snap) == [{'alias': 'ua-sriov-fast', 'managed': 'no', 'source': vf0['pci'],
                               'address': GUEST_PCI}], snap['xml']
    assert present['interface'] == {'name': 'fast', 'mac': MAC, 'infoSource': 'domain',
                                    'podInterfaceName': present['interface']['podInterfaceName']}


def test_second_run_changes_nothing(run):
    again = ok(run['results']['again'])
    assert (again['changed'], again['actions']) == (False, []), again
    assert run['snaps']['again'] == run['snaps']['present']


def test_sriov_vf_keeps_the_vf_of_a_defined_domain(run):
    busy = run['results']['busy']
    assert busy.get('failed') and busy['field'] == 'num_vfs', busy
    assert 'VF 0 (%s)' % run['vm'] in busy['msg'], busy['msg']
    assert run['snaps']['busy'] == run['snaps']['present']


def test_absent_gives_the_vf_back_and_leaves_nothing(run):
    absent = ok(run['results']['absent'])
    vf0 = run['snaps']['present']['vfs'][0]
    assert absent['actions'][0] == 'detach "ua-sriov-fast" from the persistent definition', absent
    assert 'release VF %s of pool %s' % (vf0['pci'], POOL) in absent['actions'], absent
    # the VF's original MAC and settings are back; it stays on vfio-pci, in its pool, free
    assert same_host(run['snaps']['absent']) == same_host(run['snaps']['network'])
    assert run['snaps']['absent']['vfs'][0]['driver'] == 'vfio-pci'


# the partial state a run killed at each point leaves (snap), against the snapshots of
# the host before the interface (clean) and after an undisturbed run (present)
def _recorded_not_configured(snap, clean, present):
    assert snap['vfs'] == clean['vfs']                       # the VF is not configured yet
    assert [p for p in snap['state'] if p.endswith('/sriov/fast.json')]    # but it is known as taken
    assert hostdevs(snap) == []


def _allocated_no_hostdev(snap, clean, present):
    assert snap['vfs'] == present['vfs']
    assert hostdevs(snap) == []


def _hostdev_defined(snap, clean, present):
    assert snap['vfs'] == present['vfs']
    assert hostdevs(snap) == hostdevs(present)


LEFT = {'sriov:record': _recorded_not_configured, 'sriov:allocate': _allocated_no_hostdev,
        'domain:nic': _hostdev_defined}


@pytest.mark.parametrize('point', POINTS)
def test_killed_at_a_point_the_next_run_converges_and_absent_leaves_nothing(run, point):
    assert run['rc']['killed-' + point] == 128 + 9, 'not killed by SIGKILL at %s' % point
    clean, present = run['snaps']['network'], run['snaps']['present']
    LEFT[point](run['snaps']['killed-' + point], clean, present)
    converged = ok(run['results']['converged-' + point])
    assert converged['changed'], converged
    assert run['snaps']['converged-' + point] == present
    ok(run['results']['removed-' + point])
    assert same_host(run['snaps']['removed-' + point]) == same_host(clean)


def test_absent_killed_at_release_is_finished_by_the_next_absent_and_present_rebuilds(run):
    assert (run['rc']['killed-release'], run['rc']['killed-again-release']) == (128 + 9, 128 + 9), run['rc']
    clean, present = run['snaps']['network'], run['snaps']['present']
    killed = run['snaps']['killed-release']
    # the hostdev is gone and the VF's own settings are back, but it is still recorded as the interface's
    assert hostdevs(killed) == [] and killed['vfs'] == clean['vfs']
    assert same_host(killed)['state'] == same_host(present)['state']
    # present after it: the same VF, configured again, and the same hostdev as an undisturbed run
    rebuilt = ok(run['results']['rebuilt-release'])
    assert rebuilt['changed'] and run['snaps']['rebuilt-release'] == present, rebuilt
    # the next absent releases what the killed one left: the host as before the interface
    finished = ok(run['results']['finished-release'])
    assert 'release VF %s of pool %s' % (present['vfs'][0]['pci'], POOL) in finished['actions'], finished
    assert same_host(run['snaps']['finished-release']) == same_host(clean)


def test_detach_leaves_the_host_as_before_the_vm(run):
    detached = ok(run['results']['detached'])
    assert detached['changed'] and detached['actions'][0] == 'forget SR-IOV network fast', detached
    snap = run['snaps']['detached']
    assert snap['netns'] == [] and snap['state'] == {} and hostdevs(snap) == []
    assert snap['vfs'] == run['snaps']['network']['vfs']
