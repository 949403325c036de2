# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live migration's rules (KubeVirt's: which bindings migrate), the annotations they read,
and the domain XML made for the target (taps, files, serial logs, pod metadata)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import migration
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

ALLOW = {migration.ALLOW_POD_BRIDGE: 'true'}


def vm(pod_binding='masquerade', secondary=None, plugins=None, annotations=None, plugin='mytap'):
    interfaces = [{'name': 'default', pod_binding: {}} if pod_binding != 'binding'
                  else {'name': 'default', 'binding': {'name': plugin}}]
    networks = [{'name': 'default', 'pod': {}}]
    if secondary:
        interfaces.append(dict({'name': 'blue'}, **{secondary: {}}))
        networks.append({'name': 'blue', 'multus': {'networkName': 'blue'}})
    manifest = {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': 'vm1'},
                'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': interfaces}}, 'networks': networks}}}}
    if annotations is not None:
        manifest['spec']['template']['metadata'] = {'annotations': annotations}
    options = {'permit_slirp_interface': True}
    if plugins:
        options['network_binding_plugins'] = plugins
    spec, errors = normalize(manifest, options)
    assert errors == []
    return manifest, spec


@pytest.mark.parametrize('pod_binding,secondary', [('masquerade', 'bridge'), ('masquerade', None), ('bridge', 'bridge')])
def test_migratable(pod_binding, secondary):
    manifest, spec = vm(pod_binding, secondary, annotations=ALLOW if pod_binding == 'bridge' else None)
    migration.check(spec, migration.annotations(manifest))


def test_bridge_on_the_pod_network_needs_the_annotation():
    manifest, spec = vm('bridge')
    with pytest.raises(VmnetError) as err:
        migration.check(spec, migration.annotations(manifest))
    assert 'interface "default"' in str(err.value) and migration.ALLOW_POD_BRIDGE in str(err.value)
    assert err.value.field == 'interfaces'
    for value in ('false', '', 'yes'):
        with pytest.raises(VmnetError):
            migration.check(spec, {migration.ALLOW_POD_BRIDGE: value})
    migration.check(spec, {migration.ALLOW_POD_BRIDGE: 'True'})


def test_refused_bindings():
    manifest, spec = vm('masquerade', 'sriov')
    with pytest.raises(VmnetError, match='hot-unplugs the VF') as err:
        migration.check(spec, migration.annotations(manifest))
    assert 'interface "blue"' in str(err.value)
    # slirp: the spec model refuses it unless the cluster switch allows it; migration never does
    spec['interfaces'][0]['binding'] = 'slirp'
    spec['interfaces'].pop()
    with pytest.raises(VmnetError, match='slirp binding is not migratable'):
        migration.check(spec, {})


def test_passt_plugin_refused_managed_tap_migrates():
    _manifest, spec = vm('binding', plugins={'mytap': {'domainAttachmentType': 'managedTap'}})
    migration.check(spec, {})
    _manifest, spec = vm('binding', plugins={'passt': {'sidecarImage': 'x'}}, plugin='passt')
    with pytest.raises(VmnetError, match='passt'):
        migration.check(spec, {})


def test_unplugged_interfaces_do_not_count():
    _manifest, spec = vm('masquerade', 'sriov')
    spec['interfaces'][1]['state'] = 'absent'
    migration.check(spec, {})


def test_annotations_of_text_and_both_levels():
    text = ('apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: v\n  annotations: {a: "1", b: "1"}\n'
            'spec:\n  template:\n    metadata:\n      annotations: {b: "2"}\n')
    assert migration.annotations(text) == {'a': '1', 'b': '2'}
    assert migration.annotations(None) == {} and migration.annotations({'spec': 'x'}) == {}
    with pytest.raises(VmnetError, match='manifest'):
        migration.annotations('a: &x 1\nb: *x\n')   # no anchors


def test_keeps_address_only_for_bridge_on_a_secondary_network():
    _manifest, spec = vm('masquerade', 'bridge')
    default, blue = spec['interfaces']
    assert not migration.keeps_address(default, spec) and migration.keeps_address(blue, spec)


DOMAIN = """<domain type='qemu'><name>vm1</name>
  <metadata><vmnet:pod xmlns:vmnet="https://vmnet.networks/xmlns/pod/1" vm="vm1" state-dir="/var/lib/vmnet"/></metadata>
  <os><kernel>/img/k</kernel><initrd>/img/i</initrd></os>
  <devices>
    <disk type='file'><source file='/img/disk.qcow2'/></disk>
    <interface type='ethernet'><target dev='vmtapa' managed='no'/><mac address='52:54:00:00:00:01'/></interface>
    <interface type='ethernet'><target dev='other' managed='no'/></interface>
    <serial type='file'><source path='/logs/serial.log'/></serial>
    <console type='pty'><log file='/logs/console.log'/></console>
  </devices></domain>"""


def test_rewrite_for_the_target():
    out = migration.rewrite(DOMAIN, {'vmtapa': 'vmtapb'}, {'/img/disk.qcow2': '/nfs/disk.qcow2', '/img/k': '/boot/k'},
                            state_dir='/srv/vmnet')
    root = ET.fromstring(out)
    assert [t.get('dev') for t in root.iter('target')] == ['vmtapb', 'other']
    assert root.find('./devices/interface/mac').get('address') == '52:54:00:00:00:01'
    assert root.find('./devices/disk/source').get('file') == '/nfs/disk.qcow2'
    assert (root.find('./os/kernel').text, root.find('./os/initrd').text) == ('/boot/k', '/img/i')
    assert root.find('./devices/serial/source').get('append') == 'on'
    assert root.find('./devices/console/log').get('append') == 'on'
    pod = root.find('./metadata/{%s}pod' % migration.METADATA_URI)
    assert (pod.get('state-dir'), pod.get('vm')) == ('/srv/vmnet', 'vm1')
    assert 'xmlns:vmnet=' in out


def test_rewrite_refuses_what_is_no_domain():
    for text in ('<domain', '<network/>'):
        with pytest.raises(VmnetError):
            migration.rewrite(text, {})


def test_tap_map_pairs_interfaces_by_name():
    source = {'default': {'glue': {'host_tap': 'vmtap1'}}, 'blue': {'glue': {'host_tap': 'vmtap2'}}, 'x': {}}
    target = {'default': {'glue': {'host_tap': 'vmtap9'}}, 'blue': {'glue': {'host_tap': 'vmtap2'}}}
    assert migration.tap_map(source, target) == {'vmtap1': 'vmtap9', 'vmtap2': 'vmtap2'}
