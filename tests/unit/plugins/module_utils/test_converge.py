# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The whole-VM orchestration (module_utils/converge.py): admission, the plan of a run from
the manifest and the pod's records, and many VMs with bounded parallelism."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.vmnet.networks.plugins.module_utils import converge
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.modules import vm as vm_module


def manifest(name='web', interfaces=None, networks=None, namespace=None):
    interfaces = interfaces or [{'name': 'default', 'masquerade': {}}, {'name': 'red', 'bridge': {}}]
    networks = networks or [{'name': 'default', 'pod': {}}, {'name': 'red', 'multus': {'networkName': 'br10'}}]
    metadata = dict({'name': name}, **({'namespace': namespace} if namespace else {}))
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': metadata,
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': interfaces}}, 'networks': networks}}}}


SWITCHES = {}


@pytest.fixture
def host(tmp_path):
    return converge.Host(state_dir=str(tmp_path / 'state'))


def test_admit_takes_yaml_text_and_reports_every_error_with_its_field():
    spec = converge.admit('apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: {name: a}\n'
                          'spec: {domain: {devices: {interfaces: [{name: default, bridge: {}}]}}, '
                          'networks: [{name: default, pod: {}}]}\n', SWITCHES)
    assert (spec['name'], [i['binding'] for i in spec['interfaces']]) == ('a', ['bridge'])
    bad = manifest(interfaces=[{'name': 'default', 'masquerade': {}, 'macAddress': 'nope'},
                               {'name': 'red', 'bridge': {}, 'model': 'bogus'}])
    with pytest.raises(converge.AdmissionError) as caught:
        converge.admit(bad, SWITCHES)
    fields = [e['field'] for e in caught.value.errors]
    assert len(fields) == 2 and caught.value.field == fields[0] and fields[0].endswith('interfaces[0].macAddress')
    with pytest.raises(converge.AdmissionError) as caught:
        converge.admit('kind: [', SWITCHES)
    assert caught.value.field == 'manifest'
    # the cluster switch decides, as in vm_spec
    with pytest.raises(converge.AdmissionError, match='Bridge on pod network configuration is not enabled'):
        converge.admit(manifest(interfaces=[{'name': 'default', 'bridge': {}}], networks=[{'name': 'default', 'pod': {}}]),
                       {'permit_bridge_interface_on_pod_network': False})


def test_admit_needs_a_vm_name():
    nameless = manifest()
    del nameless['metadata']
    with pytest.raises(converge.AdmissionError) as caught:
        converge.admit(nameless, SWITCHES)
    assert caught.value.field == 'metadata.name'


def record(pod, name, binding, pod_iface):
    pod.state.write('interfaces', name, {'interface': name, 'binding': binding, 'pod_iface': pod_iface})


def test_plan_orders_apply_unplug_attach_and_detach(host):
    spec = converge.admit(manifest(interfaces=[
        {'name': 'default', 'masquerade': {}}, {'name': 'red', 'bridge': {}, 'state': 'absent'},
        {'name': 'blue', 'bridge': {}}], networks=[
        {'name': 'default', 'pod': {}}, {'name': 'red', 'multus': {'networkName': 'br10'}},
        {'name': 'blue', 'multus': {'networkName': 'br11'}}]), SWITCHES)
    pod = host.pod(spec, False)
    # what vmnet bound before and the manifest no longer lists: unplugged first, its network detached first
    record(pod, 'old', 'managedtap', 'pod1234')
    pod.state.write('networks', 'old', {'network': 'old', 'ifname': 'pod1234'})
    steps = converge.plan(spec, pod, 'present')
    assert [i['name'] for i in steps['keep']] == ['default', 'blue']
    assert [i['name'] for i in steps['drop']] == ['old', 'red']
    assert steps['drop'][0]['binding'] == 'managedtap'
    assert [n['name'] for n in steps['attach']] == ['default', 'blue']
    assert steps['detach'] == ['old', 'red']

    gone = converge.plan(spec, pod, 'absent')
    assert (gone['keep'], gone['attach']) == ([], [])
    assert [i['name'] for i in gone['drop']] == ['old', 'blue', 'red', 'default']
    assert gone['detach'] == ['old', 'blue', 'red', 'default']


def test_converge_refuses_before_any_change(host, monkeypatch):
    """An unsupported binding, a domain that is missing: refused before the pod is touched."""
    spec = converge.admit(manifest(), SWITCHES)
    looked_up = []

    def missing(uri, name, required=True):
        looked_up.append((uri, name, required))
        raise converge.libvirt_domain.DomainNotFound('libvirt domain "%s" not found' % name)

    monkeypatch.setattr(converge.libvirt_domain, 'find_domain', missing)
    with pytest.raises(VmnetError) as caught:
        converge.converge(host, spec, SWITCHES)
    assert caught.value.field == 'domain' and 'web does not exist' in str(caught.value)
    assert looked_up == [('qemu:///system', 'web', True)]
    assert not os.path.exists(host.pod_options['state_dir'])
    other = converge.admit(manifest(namespace='shop'), SWITCHES)
    with pytest.raises(VmnetError, match='shop_web does not exist'):
        converge.converge(host, other, SWITCHES)

    def unsupported(iface, spec):
        raise VmnetError('interface "%s": the x binding is not supported by this version' % iface['name'], field='interfaces')

    monkeypatch.setattr(converge.interface, 'binding_of', unsupported)
    with pytest.raises(VmnetError, match='not supported'):
        converge.converge(host, spec, SWITCHES)
    assert len(looked_up) == 2          # refused before the domain was even looked up


class BootsByOs(object):
    """A domain that boots by ``<os><boot dev=.../>`` (``devices``)."""
    name = 'web'

    def __init__(self, devices):
        self.devices, self.closed = devices, False

    def os_boot_devices(self):
        return self.devices

    def close(self):
        self.closed = True


def test_a_boot_order_on_a_domain_that_boots_by_os_boot_is_refused_before_any_change(host, monkeypatch):
    """libvirt refuses a device's <boot order> beside <os><boot dev>, which it gives every domain
    defined without boot elements: named by the field, before the pod is touched."""
    spec = converge.admit(manifest(interfaces=[{'name': 'default', 'masquerade': {}},
                                               {'name': 'red', 'bridge': {}, 'bootOrder': 2}]), SWITCHES)
    domain = BootsByOs(['hd', 'network'])
    monkeypatch.setattr(converge.libvirt_domain, 'find_domain', lambda uri, name, required=True: domain)
    with pytest.raises(VmnetError) as caught:
        converge.converge(host, spec, SWITCHES)
    assert caught.value.field == 'interfaces[1].bootOrder', caught.value.field
    assert 'bootOrder 2' in str(caught.value) and 'boots by <os><boot dev=.../> (hd, network)' in str(caught.value)
    assert not os.path.exists(host.pod_options['state_dir']) and domain.closed
    # per-device boot orders (no <os><boot>), or no bootOrder: nothing to refuse
    for iface, os_boot in ((spec['interfaces'][1], BootsByOs([])), (spec['interfaces'][0], domain)):
        converge.interface.check_domain(iface, os_boot, converge.interface.binding_of(iface, spec))


def fake_converge(host, spec, switches, state='present', domain_name=None, check_mode=False):
    if spec['name'].startswith('boom'):
        raise RuntimeError('exploded')
    return {'vm': spec['name'], 'namespace': spec['namespace'], 'domain': domain_name or spec['name'],
            'state': state, 'changed': not check_mode, 'pid': os.getpid()}


@pytest.mark.parametrize('parallel', [1, 3])
def test_many_vms_one_failure_does_not_stop_the_others(host, monkeypatch, parallel):
    monkeypatch.setattr(converge, 'converge', fake_converge)
    requests = [{'manifest': manifest('a')}, {'manifest': manifest('boom')},
                {'manifest': {'kind': 'VirtualMachine'}}, {'manifest': manifest('a')},
                {'manifest': manifest('c'), 'state': 'absent', 'domain': 'c-domain'}]
    results = converge.converge_many(host, requests, SWITCHES, parallel=parallel)
    assert [r.get('vm') for r in results] == ['a', 'boom', None, None, 'c']
    assert [bool(r.get('failed')) for r in results] == [False, True, True, True, False]
    assert results[1]['msg'] == 'RuntimeError: exploded'
    assert results[2]['errors'] and results[2]['changed'] is False
    assert 'vms[3]: VM default/a is also vms[0]' in results[3]['msg'] and results[3]['field'] == 'vms'
    assert (results[4]['state'], results[4]['domain']) == ('absent', 'c-domain')
    pids = set(r['pid'] for r in results if 'pid' in r)
    # bounded parallelism: each VM in a process of its own when parallel > 1, else inline
    assert (os.getpid() in pids) == (parallel == 1)


def run_vm(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            vm_module.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('args, field', [
    ({'manifest': manifest(), 'vms': [{'manifest': manifest()}]}, 'mutually exclusive'),
    ({}, 'one of the following is required'),
    ({'manifest': manifest(), 'parallel': 0}, 'parallel'),
    ({'vms': [{'domain': 'x'}]}, 'manifest'),
    ({'manifest': manifest(), 'state': 'gone'}, 'state'),
])
def test_module_options_are_validated(capsys, tmp_path, args, field):
    code, result = run_vm(capsys, state_dir=str(tmp_path / 'state'), **args)
    assert code == 1 and result['failed'] and field in result['msg'], result
    assert not os.path.exists(str(tmp_path / 'state'))


def test_module_admission_failure_names_the_field(capsys, tmp_path):
    bad = manifest(interfaces=[{'name': 'default', 'masquerade': {}, 'macAddress': 'nope'}],
                   networks=[{'name': 'default', 'pod': {}}])
    code, result = run_vm(capsys, manifest=bad, state_dir=str(tmp_path / 'state'))
    assert code == 1 and result['field'].endswith('interfaces[0].macAddress') and result['errors'], result
    assert not os.path.exists(str(tmp_path / 'state'))


def test_module_many_form_fails_naming_each_failed_vm(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(converge, 'converge', fake_converge)
    code, result = run_vm(capsys, vms=[{'manifest': manifest('a')}, {'manifest': manifest('boom')},
                                       {'manifest': manifest('c')}], parallel=2, state_dir=str(tmp_path / 'state'))
    assert code == 1 and result['msg'] == '1 of 3 VMs failed: vms[1] (default/boom): RuntimeError: exploded'
    assert [r['changed'] for r in result['vms']] == [True, False, True] and result['changed']
