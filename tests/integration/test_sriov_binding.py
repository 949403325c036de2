# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sriov binding with the real libvirtd and the real modules, the host's SR-IOV side
faked (this host has no SR-IOV NIC: test_sriov_fakes' sysfs tree and PF netlink).

vm_network records the SR-IOV network without CNI; the library path (``interface.ensure``,
as vm_interface runs it) takes a VF of the NAD's pool and gives a stopped domain KubeVirt's
``<hostdev>`` in its persistent definition (the domain is never started: the VF's address
does not exist here); vm_interface_info reports it; ``absent`` detaches it and frees the VF.
"""

import os
import sys
import xml.etree.ElementTree as ET

import libvirt
import pytest

from modules import run_module
from podnet import pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import interface, names, status
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_domain import DomainNics

sys.path[:0] = [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'unit', 'plugins',
                             'module_utils', sub) for sub in ('', 'bindings')]
from test_sriov_bind import MAC, POOL, SriovSetup, manifest, spec_of  # noqa: E402 pylint: disable=wrong-import-position
from test_sriov_fakes import PF_IF, vf_address  # noqa: E402 pylint: disable=wrong-import-position

URI = 'qemu:///system'
DNS = (['10.96.0.10'], ['cluster.local'])
DOMAIN_RNG = '/usr/share/libvirt/schemas/domain.rng'


def persistent_hostdevs(guest):
    root = ET.fromstring(guest.domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    return root, root.findall('./devices/hostdev')


# A NIC that boots first: libvirt takes per-device boot orders (the hostdev's bootOrder 2)
# only in a domain that has no <os><boot dev=...>, which it adds to a domain without them.
BOOT_NIC = "<interface type='ethernet'><model type='virtio'/><boot order='1'/></interface>"


def test_sriov_interface_on_a_stopped_domain(make_domain, podnet, tmp_path):
    guest = make_domain('vmntsriov', nics_xml=BOOT_NIC)
    vm = guest.name
    setup = SriovSetup(tmp_path, cni={'vlan': 100, 'spoofchk': 'off'}, nad_dir=podnet.nad_dir,
                       state_dir=podnet.state_dir)
    document = manifest(vm)
    spec = spec_of(document)
    iface = spec['interfaces'][0]

    # vm_network: the pod exists, the SR-IOV network is recorded, no CNI ran (there is no
    # sriov plugin in the CNI directories)
    attached = pod_module(podnet, 'vm_network', document, vm=vm, name='fast')
    assert not attached.get('failed'), attached
    assert attached['actions'][0] == 'create network namespace %s' % attached['netns']
    assert attached['actions'][1].startswith('record SR-IOV network fast (') and 'pod_interface' not in attached
    again = pod_module(podnet, 'vm_network', document, vm=vm, name='fast')
    assert not again['changed'], again

    pod = setup.pod(vm)
    with pod, DomainNics(URI, vm) as domain:
        predicted = interface.ensure(pod, spec, iface, domain, DNS, check_mode=True)
        assert predicted['changed'] and 'attach "ua-sriov-fast" to the persistent definition' in predicted['actions']
        assert persistent_hostdevs(guest)[1] == [] and pod.state.read('sriov', 'fast') is None
        assert setup.vf(1)['vlan'] == 0

        result = interface.ensure(pod, spec, iface, domain, DNS, check_mode=False)
        assert result['changed'] and not result['restart_required']
        assert result['actions'][0] == 'allocate VF %s of pool %s' % (vf_address(1), POOL)
        assert 'attach "ua-sriov-fast" to the persistent definition' in result['actions']
        assert result['status'] == {'name': 'fast', 'mac': MAC, 'infoSource': 'domain',
                                    'podInterfaceName': iface['podInterfaceName']}
        vf = setup.vf(1)
        assert (vf['vlan'], vf['spoofchk'], vf['mac']) == (100, False, MAC)

        # idempotent
        second = interface.ensure(pod, spec, iface, domain, DNS, check_mode=False)
        assert not second['changed'] and second['actions'] == [], second['actions']

    # the persistent definition holds KubeVirt's hostdev, valid for libvirt's schema
    root, devices = persistent_hostdevs(guest)
    assert len(devices) == 1
    hostdev = devices[0]
    assert (hostdev.get('type'), hostdev.get('managed'), hostdev.find('alias').get('name')) == ('pci', 'no', 'ua-sriov-fast')
    assert hostdev.find('source/address').attrib == {'domain': '0x0000', 'bus': '0x02', 'slot': '0x10', 'function': '0x1'}
    assert hostdev.find('address').attrib == {'type': 'pci', 'domain': '0x0000', 'bus': '0x00', 'slot': '0x0a',
                                              'function': '0x0'}
    assert hostdev.find('boot').get('order') == '2' and hostdev.find('mac') is None
    etree = pytest.importorskip('lxml.etree')
    schema = etree.RelaxNG(etree.parse(DOMAIN_RNG))
    assert schema.validate(etree.fromstring(ET.tostring(root))), schema.error_log

    # the status lists it as KubeVirt reports SR-IOV: no link state, no queue count
    info = run_module('vm_interface_info', vm=vm, state_dir=podnet.state_dir)
    assert info['interfaces'] == [{'name': 'fast', 'mac': MAC, 'infoSource': 'domain',
                                   'podInterfaceName': iface['podInterfaceName']}], info

    # absent: check mode changes nothing, then the hostdev goes and the VF is free again
    with pod, DomainNics(URI, vm) as domain:
        predicted = interface.remove(pod, iface, domain, check_mode=True)
        assert predicted['actions'][:1] == ['detach "ua-sriov-fast" from the persistent definition']
        assert len(persistent_hostdevs(guest)[1]) == 1 and pod.state.read('sriov', 'fast')
        removed = interface.remove(pod, iface, domain, check_mode=False)
        assert removed['actions'] == predicted['actions']
        assert 'release VF %s of pool %s' % (vf_address(1), POOL) in removed['actions']
        assert persistent_hostdevs(guest)[1] == [] and pod.state.read('sriov', 'fast') is None
        assert status.interfaces(pod, domain) == []
    vf = setup.vf(1)
    assert (vf['vlan'], vf['spoofchk'], vf['mac']) == (0, True, '9a:00:00:00:00:01')
    assert setup.kernel.netlink.vfs(PF_IF)[2]['mac'] == '9a:00:00:00:00:02'   # untouched

    # the network goes with its pod
    detached = pod_module(podnet, 'vm_network', document, vm=vm, name='fast', state='absent')
    assert detached['changed'] and detached['actions'][0] == 'forget SR-IOV network fast', detached
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', vm)))
