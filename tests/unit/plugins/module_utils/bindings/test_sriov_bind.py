# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sriov binding on the fake SR-IOV host (test_sriov_fakes): the SR-IOV network is
recorded without CNI, the interface takes a free vfio-pci VF of the NAD's pool with the
NAD's settings and its macAddress, gives it back on removal, and check mode takes nothing."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import interface, nad, sriov, sriov_pools, status
from ansible_collections.vmnet.networks.plugins.module_utils import pod as pod_module
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.nad_store import LocalNadStore
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from test_sriov_fakes import FakeKernel, PF_IF, vf_address  # noqa: E402 pylint: disable=wrong-import-position

POOL = 'intel.com/vm_pool'
MAC = '02:00:00:00:00:aa'
DNS = (['10.96.0.10'], ['cluster.local'])


def manifest(vm, mac=MAC, nad_name='sriov-a'):
    """A KubeVirt VM with one SR-IOV interface on a multus network."""
    iface = {'name': 'fast', 'sriov': {}, 'pciAddress': '0000:00:0a.0', 'bootOrder': 2}
    if mac:
        iface['macAddress'] = mac
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', 'metadata': {'name': vm},
            'spec': {'domain': {'devices': {'interfaces': [iface]}},
                     'networks': [{'name': 'fast', 'multus': {'networkName': nad_name}}]}}


class SriovSetup(object):
    """A fake SR-IOV host whose VFs 1 and 2 (vfio-pci) make the pool ``POOL``, its pools
    file, a NAD store with the sriov-cni NAD ``sriov-a`` (``resource`` its resourceName),
    and a state directory."""

    def __init__(self, tmp_path, resource=POOL, cni=None, nad_dir=None, state_dir=None):
        self.kernel = FakeKernel(str(tmp_path), num_vfs=4)
        self.host = sriov.Host(self.kernel, self.kernel.netlink, {}, lock_dir=str(tmp_path / 'locks'))
        sriov.Run(self.host, PF_IF, vfs=[{'vf': i, 'driver': 'vfio-pci'} for i in (1, 2, 3)]).apply()
        self.pools_file = str(tmp_path / 'pools.json')
        entry = sriov_pools.pool_entry(POOL, {'drivers': ['vfio-pci'], 'pf_names': [PF_IF + '#1-2']}, list(sriov_pools.NAD_SETTINGS))
        pools = {'resourceList': [entry]}
        sriov_pools.write_file(self.pools_file, sriov_pools.dump_pools(pools))
        self.nad_dir, self.state_dir = nad_dir or str(tmp_path / 'nads'), state_dir or str(tmp_path / 'state')
        config = dict({'cniVersion': '0.3.1', 'name': 'sriov-a', 'type': 'sriov'}, **(cni or {}))
        nad.ensure_present(LocalNadStore(self.nad_dir), 'default', 'sriov-a', config, resource)

    def pod(self, vm, **options):
        pod = pod_module.Pod(vm, self.state_dir, nad_dir=self.nad_dir, sriov_pools_file=self.pools_file, **options)
        pod.sriov_host = self.host
        return pod

    def vf(self, index):
        return self.kernel.netlink.vfs(PF_IF)[index]


def spec_of(document):
    spec, errors = normalize(document)
    assert not errors, errors
    return spec


@pytest.fixture
def setup(tmp_path, monkeypatch):
    # the pod's network namespace is not needed here: say it exists, make none
    monkeypatch.setattr(pod_module.netlink, 'netns_exists', lambda name: True)
    monkeypatch.setattr(pod_module.netlink, 'create_netns', lambda name: None)
    monkeypatch.setattr(pod_module.netlink, 'netns_pids', lambda name: [])
    monkeypatch.setattr(pod_module.netlink, 'remove_netns', lambda name: None)
    return SriovSetup(tmp_path, cni={'vlan': 100, 'spoofchk': 'off', 'trust': 'on'})


def attach(pod, spec, check_mode=False):
    return pod.ensure(spec['networks'][0], check_mode, spec['interfaces'][0])


def test_sriov_network_is_recorded_without_cni(setup):
    spec = spec_of(manifest('vm1'))
    pod = setup.pod('vm1', cni_bin_dirs=[str(setup.kernel.root)])   # no sriov plugin anywhere
    changed, actions, record = attach(pod, spec)
    assert changed and actions == ['record SR-IOV network fast (%s): no CNI, its interface\'s binding allocates '
                                   'the VF' % LocalNadStore(setup.nad_dir).location('default', 'sriov-a')]
    assert record['sriov_nad'] == {'namespace': 'default', 'name': 'sriov-a'} and record['result'] is None
    assert attach(pod, spec) == (False, [], record)
    # only the sriov binding can use it
    bridged = spec_of(manifest('vm1'))
    bridged['interfaces'][0]['binding'] = 'bridge'
    with pytest.raises(VmnetError, match='only an interface with the sriov binding'):
        attach(pod, bridged)
    changed, actions = pod.remove('fast')
    assert changed and actions[0] == 'forget SR-IOV network fast' and pod.attachment('fast') is None


def test_allocation_settings_status_and_release(setup):
    spec = spec_of(manifest('vm1'))
    iface = spec['interfaces'][0]
    pod = setup.pod('vm1')
    attach(pod, spec)
    record, actions, before, after = interface.bind(pod, spec, iface, None, DNS, False)
    assert record['pci_address'] == vf_address(1) and record['resource'] == POOL
    assert actions == ['allocate VF %s of pool %s' % (vf_address(1), POOL),
                       '%s of VF 1 (%s): vlan 100 qos 0 proto 802.1q' % (PF_IF, vf_address(1)),
                       '%s of VF 1 (%s): mac %s' % (PF_IF, vf_address(1), MAC),
                       '%s of VF 1 (%s): spoofchk off' % (PF_IF, vf_address(1)),
                       '%s of VF 1 (%s): trust on' % (PF_IF, vf_address(1))]
    assert before == {'vf': None}
    assert after == {'vf': {'pool': POOL, 'pci_address': vf_address(1),
                            'settings': {'vlan': 100, 'mac': MAC, 'spoofchk': False, 'trust': True}}}
    vf = setup.vf(1)
    assert (vf['vlan'], vf['mac'], vf['spoofchk'], vf['trust']) == (100, MAC, False, True)
    assert pod.state.read('sriov', 'fast')['pci_address'] == vf_address(1)
    # again: nothing to do; the status has the MAC asked for, no link state or queues
    assert interface.bind(pod, spec, iface, None, DNS, False)[1] == []
    assert status.entry('fast', None, record) == {'name': 'fast', 'infoSource': 'domain', 'mac': MAC,
                                                  'podInterfaceName': iface['podInterfaceName']}
    # a second VM takes the other VF of the pool
    other = setup.pod('vm2')
    attach(other, spec)
    assert interface.bind(other, spec, iface, None, DNS, False)[0]['pci_address'] == vf_address(2)
    # absent (no domain here): the VF's settings are put back and it is free again
    result = interface.remove(pod, iface, None, check_mode=False)
    assert result['actions'][-1] == 'release VF %s of pool %s' % (vf_address(1), POOL)
    vf = setup.vf(1)
    assert (vf['vlan'], vf['mac'], vf['spoofchk'], vf['trust']) == (0, '9a:00:00:00:00:01', True, False)
    assert pod.state.read('sriov', 'fast') is None and pod.state.read('interfaces', 'fast') is None
    assert not interface.remove(pod, iface, None, check_mode=False)['changed']


def test_without_mac_the_guest_has_the_vfs_admin_mac(setup):
    spec = spec_of(manifest('vm1', mac=None))
    pod = setup.pod('vm1')
    attach(pod, spec)
    record = interface.bind(pod, spec, spec['interfaces'][0], None, DNS, False)[0]
    assert 'mac' not in record['settings'] and setup.vf(1)['mac'] == '9a:00:00:00:00:01'
    assert status.entry('fast', None, record)['mac'] == '9a:00:00:00:00:01'


def test_check_mode_allocates_nothing(setup):
    spec = spec_of(manifest('vm1'))
    pod = setup.pod('vm1')
    attach(pod, spec)
    calls = list(setup.kernel.netlink.calls)
    record, actions, _before, _after = interface.bind(pod, spec, spec['interfaces'][0], None, DNS, True)
    assert record['pci_address'] == vf_address(1)
    assert actions == ['allocate VF %s of pool %s' % (vf_address(1), POOL), 'set mac, spoofchk, trust, vlan of VF %s'
                       % vf_address(1)]
    assert setup.kernel.netlink.calls == calls
    assert pod.state.read('sriov', 'fast') is None and pod.state.read('interfaces', 'fast') is None


def test_empty_pool(setup):
    spec = spec_of(manifest('vm1'))
    for vm in ('vm1', 'vm2'):
        pod = setup.pod(vm)
        attach(pod, spec)
        interface.bind(pod, spec, spec['interfaces'][0], None, DNS, False)
    pod = setup.pod('vm3')
    attach(pod, spec)
    with pytest.raises(VmnetError, match='interface "fast": SR-IOV pool "%s" has no free VF bound to vfio-pci' % POOL):
        interface.bind(pod, spec, spec['interfaces'][0], None, DNS, False)
    assert pod.state.read('interfaces', 'fast') is None and pod.state.read('sriov', 'fast') is None


def test_nad_without_resource_name(tmp_path, monkeypatch):
    monkeypatch.setattr(pod_module.netlink, 'netns_exists', lambda name: True)
    setup = SriovSetup(tmp_path, resource=None)
    spec = spec_of(manifest('vm1'))
    pod = setup.pod('vm1')
    attach(pod, spec)
    with pytest.raises(VmnetError, match='sriov-a.yaml has no k8s.v1.cni.cncf.io/resourceName annotation'):
        interface.bind(pod, spec, spec['interfaces'][0], None, DNS, False)


def test_network_not_attached(setup):
    spec = spec_of(manifest('vm1'))
    with pytest.raises(VmnetError, match='network "fast" is not attached as an SR-IOV network'):
        interface.bind(setup.pod('vm1'), spec, spec['interfaces'][0], None, DNS, False)


def test_pools_file_is_the_one_given(setup):
    with open(setup.pools_file) as handle:
        assert json.load(handle)['resourceList'][0]['resourceName'] == 'vm_pool'
    spec = spec_of(manifest('vm1'))
    pod = setup.pod('vm1')
    pod.sriov_pools_file = setup.pools_file + '.missing'
    attach(pod, spec)
    with pytest.raises(VmnetError, match='no SR-IOV pool "%s"' % POOL):
        interface.bind(pod, spec, spec['interfaces'][0], None, DNS, False)
