# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkAttachmentDefinitions: validation messages, the managed fields, the local store,
the bridge binding's limits, and the Kubernetes client configuration."""

import json
import os

import pytest
import yaml

from ansible_collections.vmnet.networks.plugins.module_utils import nad
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni, k8s
from ansible_collections.vmnet.networks.plugins.module_utils.host.nad_store import LocalNadStore

# seed 003, "Multus": the first NAD of the page
SEED_CONFIG = '''{
      "cniVersion": "0.3.1",
      "name": "mynet",
      "plugins": [
        {
          "type": "bridge",
          "bridge": "br10",
          "disableContainerInterface": true,
          "macspoofchk": true
        }
      ]
    }'''


def errors_of(config):
    with pytest.raises(VmnetError) as error:
        nad.parse_config(config)
    assert error.value.field == 'config'
    return str(error.value).split('; ')


def test_seed_config_parses_from_text_and_dict():
    parsed = nad.parse_config(SEED_CONFIG)
    assert parsed['plugins'][0]['macspoofchk'] is True
    assert nad.parse_config(parsed) == parsed


def test_json_syntax_error_names_the_field():
    message = errors_of('{"cniVersion": "0.3.1",')[0]
    assert message.startswith('config: invalid JSON: ')


@pytest.mark.parametrize('config, expected', [
    ([], ['config: must be a JSON object (a CNI .conf or .conflist)']),
    ({'name': 'n', 'type': 'bridge'}, ['config.cniVersion: required']),
    ({'cniVersion': '1.1.0', 'name': 'n', 'type': 'bridge'},
     ['config.cniVersion: "1.1.0" is not supported (supported: 0.3.0, 0.3.1, 0.4.0, 1.0.0)']),
    ({'cniVersion': '1.0.0', 'type': 'bridge'}, ['config.name: required (the CNI network name)']),
    ({'cniVersion': '1.0.0', 'name': 'n'}, ['config.type: required (or plugins, for a .conflist)']),
    ({'cniVersion': '1.0.0', 'name': 'n', 'plugins': []},
     ['config.plugins: must be a non-empty list of plugin configurations']),
    ({'cniVersion': '1.0.0', 'name': 'n', 'type': 'bridge', 'plugins': [{'type': 'bridge'}]},
     ['config: either type (a .conf) or plugins (a .conflist), not both']),
    ({'cniVersion': '1.0.0', 'name': 'n', 'plugins': [{'type': 'bridge'}, {'ipam': {'subnet': '10.0.0.0/24'}}, 3]},
     ['config.plugins[1].type: required, the file name of a CNI plugin',
      'config.plugins[1].ipam.type: required, the file name of an IPAM plugin',
      'config.plugins[2]: must be a JSON object']),
    ({'cniVersion': '1.0.0', 'name': 'n', 'type': '../../bin/sh'},
     ['config.type: required, the file name of a CNI plugin']),
])
def test_every_problem_is_reported_with_its_field(config, expected):
    assert errors_of(config) == expected


def test_empty_ipam_means_l2_only_and_is_valid():
    nad.parse_config({'cniVersion': '0.3.1', 'name': 'l2', 'type': 'bridge', 'bridge': 'br10', 'ipam': {}})


def test_missing_plugin_binaries_are_named_with_their_field(tmp_path):
    (tmp_path / 'bridge').write_text('')
    (tmp_path / 'bridge').chmod(0o755)
    runtime = cni.CniRuntime([str(tmp_path)])
    conflist = nad.parse_config({'cniVersion': '1.0.0', 'name': 'n', 'plugins': [
        {'type': 'bridge', 'ipam': {'type': 'host-local'}}, {'type': 'tuning'}]})
    assert nad.missing_plugin_errors(conflist, runtime) == [
        'config.plugins[0].ipam.type: CNI plugin "host-local" not found in %s' % tmp_path,
        'config.plugins[1].type: CNI plugin "tuning" not found in %s' % tmp_path]
    conf = nad.parse_config({'cniVersion': '1.0.0', 'name': 'n', 'type': 'macvlan'})
    assert nad.missing_plugin_errors(conf, runtime) == ['config.type: CNI plugin "macvlan" not found in %s' % tmp_path]


def test_an_sriov_network_needs_no_plugin_binary(tmp_path):
    """vmnet runs no sriov-cni (the sriov binding sets the VF up): the nad module stores an
    SR-IOV NAD on a host without that binary, as the sriov example playbook does."""
    runtime = cni.CniRuntime([str(tmp_path)])
    for config in ({'cniVersion': '0.3.1', 'name': 's', 'type': 'sriov', 'spoofchk': 'on'},
                   {'cniVersion': '1.0.0', 'name': 's', 'plugins': [{'type': 'sriov'}, {'type': 'tuning'}]}):
        conflist = nad.parse_config(config)
        assert nad.sriov_network(cni.as_conflist(conflist))
        assert nad.missing_plugin_errors(conflist, runtime) == []


@pytest.mark.parametrize('namespace, name, field', [
    ('default', 'Bad_Name', 'name'), ('default', '../etc', 'name'), ('default', 'a/b', 'name'),
    ('../..', 'ok', 'namespace'), ('a.b', 'ok', 'namespace'), ('x' * 64, 'ok', 'namespace')])
def test_names_follow_kubernetes_rules_and_stay_in_the_store(tmp_path, namespace, name, field):
    with pytest.raises(VmnetError) as error:
        nad.ensure_present(LocalNadStore(str(tmp_path)), namespace, name, nad.parse_config(SEED_CONFIG))
    assert error.value.field == field
    assert os.listdir(str(tmp_path)) == []


# -- present / absent on the local store -------------------------------------------------

def test_local_store_lifecycle_is_idempotent_with_check_mode_and_diff(tmp_path):
    store = LocalNadStore(str(tmp_path))
    config = nad.parse_config(SEED_CONFIG)
    changed, diff, _item = nad.ensure_present(store, 'default', 'br10', config, check_mode=True)
    assert changed and diff['before'] == {} and not os.path.exists(str(tmp_path / 'default'))

    changed, diff, item = nad.ensure_present(store, 'default', 'br10', config, 'example.com/res')
    assert changed
    assert diff['after'] == {'name': 'br10', 'namespace': 'default', 'resource_name': 'example.com/res',
                             'config': config}
    path = str(tmp_path / 'default' / 'br10.yaml')
    assert item['location'] == path
    with open(path) as handle:
        text = handle.read()
    assert '  config: |\n    {\n      "cniVersion": "0.3.1",' in text      # readable, as people write it
    manifest = yaml.safe_load(text)
    assert (manifest['apiVersion'], manifest['kind']) == ('k8s.cni.cncf.io/v1', 'NetworkAttachmentDefinition')
    assert manifest['metadata'] == {'name': 'br10', 'namespace': 'default',
                                    'annotations': {'k8s.v1.cni.cncf.io/resourceName': 'example.com/res'}}
    assert json.loads(manifest['spec']['config']) == config

    # the same configuration in other words is no change
    again = nad.ensure_present(store, 'default', 'br10', json.loads(json.dumps(config)), 'example.com/res')
    assert again[0] is False and again[1]['before'] == again[1]['after']

    # a change shows in the diff; check mode writes nothing
    changed_config = dict(config, name='othernet')
    changed, diff, _item = nad.ensure_present(store, 'default', 'br10', changed_config, check_mode=True)
    assert changed and diff['before']['config']['name'] == 'mynet' and diff['after']['config']['name'] == 'othernet'
    assert diff['after']['resource_name'] is None
    with open(path) as handle:
        assert handle.read() == text

    assert nad.ensure_absent(store, 'default', 'br10', check_mode=True)[0] is True and os.path.exists(path)
    changed, diff = nad.ensure_absent(store, 'default', 'br10')
    assert changed and diff == {'before': {'name': 'br10', 'namespace': 'default', 'resource_name': 'example.com/res',
                                           'config': config}, 'after': {}}
    assert os.listdir(str(tmp_path)) == []                  # the emptied namespace directory went too
    assert nad.ensure_absent(store, 'default', 'br10')[0] is False


def test_fields_not_managed_are_kept(tmp_path):
    store = LocalNadStore(str(tmp_path))
    os.makedirs(str(tmp_path / 'vms'))
    with open(str(tmp_path / 'vms' / 'red.yaml'), 'w') as handle:
        yaml.safe_dump({'apiVersion': 'k8s.cni.cncf.io/v1', 'kind': 'NetworkAttachmentDefinition',
                        'metadata': {'name': 'red', 'namespace': 'vms', 'labels': {'team': 'a'},
                                     'annotations': {'note': 'kept', 'k8s.v1.cni.cncf.io/resourceName': 'old'}},
                        'spec': {'config': '{"cniVersion":"0.3.1","name":"red","type":"bridge"}'}}, handle)
    config = {'cniVersion': '0.3.1', 'name': 'red', 'type': 'bridge'}
    changed, diff, item = nad.ensure_present(store, 'vms', 'red', config)
    assert changed and (diff['before']['resource_name'], diff['after']['resource_name']) == ('old', None)
    metadata = store.get('vms', 'red')['metadata']
    assert metadata['labels'] == {'team': 'a'} and metadata['annotations'] == {'note': 'kept'}
    # the compact text was equal as JSON: kept as it was
    assert item['manifest']['spec']['config'] == '{"cniVersion":"0.3.1","name":"red","type":"bridge"}'
    assert [n['name'] for n in nad.find(store, 'vms')] == ['red']
    assert nad.find(store, 'vms', 'blue') == [] and nad.find(store, 'other') == []


def test_a_hand_written_manifest_without_kind_is_completed(tmp_path):
    store = LocalNadStore(str(tmp_path))
    os.makedirs(str(tmp_path / 'default'))
    with open(str(tmp_path / 'default' / 'red.yaml'), 'w') as handle:
        yaml.safe_dump({'metadata': {'name': 'red', 'namespace': 'default'},
                        'spec': {'config': '{"cniVersion":"0.3.1","name":"red","type":"bridge"}'}}, handle)
    config = {'cniVersion': '0.3.1', 'name': 'red', 'type': 'bridge'}
    assert nad.ensure_present(store, 'default', 'red', config)[0] is True
    assert store.get('default', 'red')['kind'] == 'NetworkAttachmentDefinition'
    assert nad.ensure_present(store, 'default', 'red', config)[0] is False


# -- the pod side ------------------------------------------------------------------------

def test_network_config_of_a_stored_nad(tmp_path):
    store = LocalNadStore(str(tmp_path))
    nad.ensure_present(store, 'default', 'br10', nad.parse_config(SEED_CONFIG))
    conflist, location = nad.network_config(store, 'default', 'br10')
    assert conflist['name'] == 'mynet' and conflist['plugins'][0]['bridge'] == 'br10'
    assert location == str(tmp_path / 'default' / 'br10.yaml')
    with pytest.raises(VmnetError, match=r'NetworkAttachmentDefinition default/nope not found \(.*nope.yaml\): '
                                         r'create it with vmnet.networks.nad'):
        nad.network_config(store, 'default', 'nope')


def test_network_config_reports_a_broken_nad_with_its_file(tmp_path):
    store = LocalNadStore(str(tmp_path))
    os.makedirs(str(tmp_path / 'default'))
    path = str(tmp_path / 'default' / 'bad.yaml')
    with open(path, 'w') as handle:
        yaml.safe_dump({'kind': 'NetworkAttachmentDefinition', 'metadata': {'name': 'bad'},
                        'spec': {'config': '{"cniVersion": "0.3.1", "type": "bridge"}'}}, handle)
    with pytest.raises(VmnetError, match=r'^%s: spec.config.name: required' % path):
        nad.network_config(store, 'default', 'bad')


@pytest.mark.parametrize('plugin, issue', [('macvlan', '#5483'), ('ipvlan', '#7001')])
def test_macvlan_and_ipvlan_are_refused_for_the_bridge_binding(plugin, issue):
    conflist = cni.as_conflist({'cniVersion': '0.3.1', 'name': 'n', 'type': plugin, 'master': 'eth0'})
    with pytest.raises(VmnetError) as error:
        nad.check_binding(conflist, 'bridge', 'red')
    message = str(error.value)
    assert message.startswith('network "red": its CNI plugin %s does not work with the bridge binding' % plugin)
    assert 'moves the pod interface\'s MAC address to the VM' in message and issue in message
    nad.check_binding(conflist, 'sriov', 'red')          # other bindings keep the pod's MAC
    nad.check_binding(cni.as_conflist({'cniVersion': '0.3.1', 'name': 'n', 'type': 'bridge'}), 'bridge', 'red')


# -- the Kubernetes client configuration -------------------------------------------------

def auth(**given):
    return dict(dict((key, None) for key in k8s.AUTH_OPTIONS), **given)


def test_host_and_token_need_nothing_else():
    config = k8s.configuration(auth(host='https://api.example:6443/', api_key='t0ken', validate_certs=False,
                                    ca_cert='/ca.pem', client_cert='/c.pem', client_key='/k.pem', proxy='http://p:3128'))
    assert config.host == 'https://api.example:6443'
    assert config.auth_settings()['BearerToken']['value'] == 'Bearer t0ken'
    assert (config.verify_ssl, config.ssl_ca_cert, config.cert_file, config.key_file, config.proxy) == (
        False, '/ca.pem', '/c.pem', '/k.pem', 'http://p:3128')


def test_kubeconfig_and_context_then_overrides(tmp_path):
    kubeconfig = tmp_path / 'config'
    kubeconfig.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'one',
        'clusters': [{'name': 'c1', 'cluster': {'server': 'http://one:8080'}},
                     {'name': 'c2', 'cluster': {'server': 'http://two:8080'}}],
        'users': [{'name': 'u1', 'user': {'token': 'tok1'}}, {'name': 'u2', 'user': {'token': 'tok2'}}],
        'contexts': [{'name': 'one', 'context': {'cluster': 'c1', 'user': 'u1'}},
                     {'name': 'two', 'context': {'cluster': 'c2', 'user': 'u2'}}]}))
    config = k8s.configuration(auth(kubeconfig=str(kubeconfig), context='two'))
    assert config.host == 'http://two:8080'
    assert config.auth_settings()['BearerToken']['value'] == 'Bearer tok2'
    config = k8s.configuration(auth(kubeconfig=str(kubeconfig), api_key='override'))
    assert config.host == 'http://one:8080'
    assert config.auth_settings()['BearerToken']['value'] == 'Bearer override'


def test_unusable_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(VmnetError) as error:
        k8s.configuration(auth(kubeconfig=str(tmp_path / 'missing')))
    assert error.value.field == 'kubeconfig'
    assert str(error.value).startswith('cannot configure the Kubernetes client')
