# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vm_spec module end to end: arguments in, JSON result out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.vmnet.networks.plugins.modules import vm_spec

VM = {
    'apiVersion': 'kubevirt.io/v1',
    'kind': 'VirtualMachine',
    'metadata': {'name': 'web', 'namespace': 'shop'},
    'spec': {
        'template': {
            'spec': {
                'domain': {'devices': {'interfaces': [{'name': 'default', 'bridge': {}}]}},
                'networks': [{'name': 'default', 'pod': {}}],
            }
        }
    },
}


def run(capsys, **args):
    """Run the module's main() and return its exit code and JSON result."""
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exited:
            vm_spec.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_valid_manifest_returns_the_model(capsys):
    code, result = run(capsys, manifest=VM)
    assert code == 0
    assert (result['changed'], result['errors']) == (False, [])
    spec = result['spec']
    assert (spec['dialect'], spec['name'], spec['namespace'], spec['hostname']) == (
        'kubevirt-v1-vm',
        'web',
        'shop',
        'web',
    )
    assert [(i['name'], i['binding'], i['podInterfaceName']) for i in spec['interfaces']] == [
        ('default', 'bridge', 'eth0')
    ]


def test_check_mode_is_the_same_run(capsys):
    code, result = run(capsys, manifest=VM, _ansible_check_mode=True)
    assert code == 0
    assert result['changed'] is False and result['spec']['interfaces'][0]['name'] == 'default'


def test_invalid_manifest_fails_with_every_message(capsys):
    manifest = {'interfaces': [{'name': 'default', 'macAddress': 'de:ad'}], 'networks': [{'name': 'other', 'pod': {}}]}
    code, result = run(capsys, manifest=manifest)
    assert code == 1
    assert result['failed'] is True
    assert result['errors'] == [
        {
            'field': 'interfaces[0]',
            'message': 'logical default interface must have exactly one binding method or binding plugin',
        },
        {'field': 'networks[0].name', 'message': "networks[0].name 'other' not found."},
        {'field': 'interfaces[0].name', 'message': "interfaces[0].name 'default' not found."},
        {
            'field': 'interfaces[0].macAddress',
            'message': 'interface interfaces[0].name has malformed MAC address (de:ad).',
        },
    ]
    assert result['msg'] == (
        'interfaces[0]: logical default interface must have exactly one binding method or binding plugin; '
        "networks[0].name: networks[0].name 'other' not found.; "
        "interfaces[0].name: interfaces[0].name 'default' not found.; "
        'interfaces[0].macAddress: interface interfaces[0].name has malformed MAC address (de:ad).'
    )
    assert 'spec' not in result


def test_unknown_dialect_message_has_no_field_prefix(capsys):
    code, result = run(capsys, manifest={'kind': 'Pod', 'spec': {}})
    assert code == 1
    assert result['errors'][0]['field'] == ''
    assert result['msg'].startswith('unsupported kind Pod: unrecognised manifest')


def test_cluster_switches_are_options(capsys):
    code, result = run(capsys, manifest=VM, permit_bridge_interface_on_pod_network=False)
    assert code == 1
    assert result['errors'] == [
        {
            'field': 'spec.template.spec.domain.devices.interfaces[0].name',
            'message': 'Bridge on pod network configuration is not enabled under kubevirt-config',
        }
    ]


def test_default_interface_feature_gates_and_naming(capsys):
    manifest = {
        'interfaces': [
            {'name': 'default', 'masquerade': {}, 'portRanges': [{'start': 8000, 'end': 8080}]},
            {'name': 'blue', 'bridge': {}},
        ],
        'networks': [{'name': 'default', 'pod': {}}, {'name': 'blue', 'multus': {'networkName': 'blue'}}],
    }
    code, result = run(capsys, manifest=manifest, feature_gates=['PortRangesSpec'], pod_interface_naming='ordinal')
    assert code == 0
    assert [i['podInterfaceName'] for i in result['spec']['interfaces']] == ['eth0', 'net1']
    code, result = run(capsys, manifest={'interfaces': []}, default_network_interface='masquerade')
    assert code == 0
    assert result['spec']['interfaces'][0]['binding'] == 'masquerade'


def test_returned_spec_is_accepted_back(capsys):
    _code, first = run(capsys, manifest=VM)
    code, second = run(capsys, manifest=first['spec'])
    assert code == 0 and second['spec'] == first['spec']


@pytest.mark.parametrize(
    'args, message',
    [
        ({}, 'missing required arguments: manifest'),
        (
            {'manifest': VM, 'default_network_interface': 'passt'},
            'value of default_network_interface must be one of: bridge, masquerade, slirp',
        ),
        (
            {'manifest': VM, 'pod_interface_naming': 'random'},
            'value of pod_interface_naming must be one of: hashed, ordinal',
        ),
    ],
)
def test_argument_errors(capsys, args, message):
    code, result = run(capsys, **args)
    assert code == 1 and message in result['msg']


# --- the manifest as text (an AWX survey's textarea) -------------------------------------

def test_yaml_text_gives_the_same_spec_as_the_mapping(capsys):
    import yaml
    from_dict = run(capsys, manifest=VM)[1]
    code, from_text = run(capsys, manifest=yaml.safe_dump(VM))
    assert code == 0 and from_text['spec'] == from_dict['spec']


def test_json_text_gives_the_same_spec_as_the_mapping(capsys):
    from_dict = run(capsys, manifest=VM)[1]
    code, from_text = run(capsys, manifest=json.dumps(VM))
    assert code == 0 and from_text['spec'] == from_dict['spec']


@pytest.mark.parametrize('text, message', [
    ('a: &x [1]\nb: *x\n', 'aliases are not allowed'),
    ('- just\n- a list\n', 'must hold a mapping'),
    ('{"apiVersion": ', 'not valid JSON'),
    ('a: [unclosed\n', 'not valid YAML'),
    ('!!python/object:os.system {}\n', 'not valid YAML'),
])
def test_bad_text_is_refused_naming_the_manifest(capsys, text, message):
    code, result = run(capsys, manifest=text)
    assert code == 1
    assert result['errors'][0]['field'] == 'manifest' and message in result['errors'][0]['message']
    assert result['msg'].startswith('manifest: ')


def test_oversized_text_is_refused(capsys):
    code, result = run(capsys, manifest='a: "%s"\n' % ('x' * (1024 * 1024)))
    assert code == 1 and 'longer than' in result['msg']
