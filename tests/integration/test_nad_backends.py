# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nad and nad_info modules, run for real, on both backends: the local store (files in
a directory made here, plugins checked against the host's CNI bin dir) and a Kubernetes
API (the fake server of fake_k8s.py, reached the way AWX's credentials reach a cluster)."""

import json

import pytest
import yaml

from fake_k8s import FakeKubernetes
from modules import run_module

CNI_BIN = ['/usr/lib/cni']
BRIDGE = {'cniVersion': '0.3.1', 'name': 'mynet', 'plugins': [
    {'type': 'bridge', 'bridge': 'br10', 'disableContainerInterface': True, 'macspoofchk': True}]}


def local(nad_dir, module='nad', **args):
    return run_module(module, nad_dir=str(nad_dir), **dict({'cni_bin_dir': CNI_BIN} if module == 'nad' else {}, **args))


def test_local_backend_lifecycle(tmp_path):
    store = tmp_path / 'nads'
    path = store / 'vms' / 'br10.yaml'
    preview = local(store, name='br10', namespace='vms', config=json.dumps(BRIDGE), check_mode=True, diff=True)
    assert preview['changed'] and preview['diff'] == {'before': {}, 'after': {
        'name': 'br10', 'namespace': 'vms', 'resource_name': None, 'config': BRIDGE}}
    assert not store.exists()

    created = local(store, name='br10', namespace='vms', config=json.dumps(BRIDGE))
    assert created['changed'] and created['nad']['location'] == str(path)
    manifest = yaml.safe_load(path.read_text())
    assert manifest['kind'] == 'NetworkAttachmentDefinition' and json.loads(manifest['spec']['config']) == BRIDGE

    # the same configuration as a dict is no change
    again = local(store, name='br10', namespace='vms', config=BRIDGE, diff=True)
    assert again['changed'] is False and again['diff']['before'] == again['diff']['after']

    # a change in check mode: reported with a diff, nothing written
    text = path.read_text()
    tuned = dict(BRIDGE, plugins=BRIDGE['plugins'] + [{'type': 'tuning', 'mtu': 1400}])
    preview = local(store, name='br10', namespace='vms', config=tuned, resource_name='example.com/br10',
                    check_mode=True, diff=True)
    assert preview['changed'] and preview['diff']['after']['config'] == tuned
    assert preview['diff']['after']['resource_name'] == 'example.com/br10'
    assert path.read_text() == text
    assert local(store, name='br10', namespace='vms', config=tuned, resource_name='example.com/br10')['changed']

    listed = local(store, 'nad_info', namespace='vms')
    assert [(n['name'], n['resource_name'], n['config']) for n in listed['nads']] == [
        ('br10', 'example.com/br10', tuned)]
    assert local(store, 'nad_info', namespace='vms', name='nope')['nads'] == []

    assert local(store, name='br10', namespace='vms', state='absent', check_mode=True)['changed'] and path.exists()
    gone = local(store, name='br10', namespace='vms', state='absent', diff=True)
    assert gone['changed'] and gone['diff']['after'] == {} and not path.exists()
    assert local(store, name='br10', namespace='vms', state='absent')['changed'] is False


@pytest.mark.parametrize('config, message', [
    ('{"cniVersion": "0.3.1", "name": "x", "type": "bridge"', 'config: invalid JSON: '),
    ({'cniVersion': '0.3.1', 'name': 'x', 'plugins': [{'type': 'bridge', 'ipam': {'type': 'whereabouts'}}]},
     'config.plugins[0].ipam.type: CNI plugin "whereabouts" not found in /usr/lib/cni'),
])
def test_local_backend_refuses_bad_configurations(tmp_path, config, message):
    result = local(tmp_path / 'nads', name='bad', config=config)
    assert result.get('failed') and message in result['msg'], result
    assert result['field'] == 'config'
    assert not (tmp_path / 'nads').exists()


def test_state_present_needs_a_config_and_names_are_checked(tmp_path):
    assert 'state is present but all of the following are missing: config' in local(tmp_path, name='x')['msg']
    result = local(tmp_path, name='../x', config=BRIDGE)
    assert result['failed'] and result['msg'].startswith('name: "../x" is not a valid')


@pytest.fixture
def api(monkeypatch):
    """A fake API server, and AWX's Kubernetes credential variables pointing at it."""
    with FakeKubernetes(token='vmnt-token') as server:
        monkeypatch.setenv('K8S_AUTH_HOST', server.url)
        monkeypatch.setenv('K8S_AUTH_API_KEY', 'vmnt-token')
        monkeypatch.setenv('K8S_AUTH_VERIFY_SSL', 'false')
        yield server


def k8s(module='nad', **args):
    return run_module(module, backend='kubernetes', **args)


def test_kubernetes_backend_with_awx_credentials(api):
    sriov = {'cniVersion': '0.3.1', 'name': 'sriov-net', 'type': 'sriov', 'spoofchk': 'on'}
    preview = k8s(name='sriov-net', namespace='vms', config=sriov, resource_name='intel.com/sriov', check_mode=True)
    assert preview['changed'] and api.writes() == []

    # a plugin this host lacks is fine: a cluster's plugins live on its nodes
    created = k8s(name='sriov-net', namespace='vms', config=sriov, resource_name='intel.com/sriov')
    assert created['changed'], created
    stored = api.objects[('vms', 'sriov-net')]
    assert stored['metadata']['annotations'] == {'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov'}
    assert json.loads(stored['spec']['config']) == sriov
    assert created['nad']['location'] == api.url + '/apis/k8s.cni.cncf.io/v1/namespaces/vms/network-attachment-definitions/sriov-net'
    assert created['nad']['manifest']['metadata']['uid'] == stored['metadata']['uid']

    api.requests[:] = []
    again = k8s(name='sriov-net', namespace='vms', config=json.dumps(sriov), resource_name='intel.com/sriov')
    assert again['changed'] is False and api.writes() == []

    # an update is a PUT of the object as read (resourceVersion), other metadata kept
    stored['metadata']['labels'] = {'team': 'net'}
    version = stored['metadata']['resourceVersion']
    changed = k8s(name='sriov-net', namespace='vms', config=dict(sriov, spoofchk='off'), diff=True)
    assert changed['changed'] and changed['diff']['before']['resource_name'] == 'intel.com/sriov'
    assert changed['diff']['after']['resource_name'] is None
    stored = api.objects[('vms', 'sriov-net')]
    assert stored['metadata']['labels'] == {'team': 'net'} and 'annotations' not in stored['metadata']
    assert int(stored['metadata']['resourceVersion']) > int(version)
    assert [m for m, _p in api.writes()] == ['PUT']

    listed = k8s('nad_info', namespace='vms')
    assert [(n['name'], n['config']['spoofchk']) for n in listed['nads']] == [('sriov-net', 'off')]
    assert k8s('nad_info', namespace='other')['nads'] == []

    assert k8s(name='sriov-net', namespace='vms', state='absent')['changed']
    assert api.objects == {}
    assert k8s(name='sriov-net', namespace='vms', state='absent')['changed'] is False


def test_kubernetes_backend_with_a_kubeconfig_and_context(api, monkeypatch, tmp_path):
    for name in ('K8S_AUTH_HOST', 'K8S_AUTH_API_KEY', 'K8S_AUTH_VERIFY_SSL'):
        monkeypatch.delenv(name)
    kubeconfig = tmp_path / 'kubeconfig'
    kubeconfig.write_text(yaml.safe_dump({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'elsewhere',
        'clusters': [{'name': 'fake', 'cluster': {'server': api.url}},
                     {'name': 'nowhere', 'cluster': {'server': 'http://127.0.0.1:9'}}],
        'users': [{'name': 'admin', 'user': {'token': 'vmnt-token'}}],
        'contexts': [{'name': 'elsewhere', 'context': {'cluster': 'nowhere', 'user': 'admin'}},
                     {'name': 'fake', 'context': {'cluster': 'fake', 'user': 'admin'}}]}))
    result = k8s(name='br10', config=BRIDGE, kubeconfig=str(kubeconfig), context='fake')
    assert result['changed'], result
    assert ('default', 'br10') in api.objects
    # the environment works too (K8S_AUTH_KUBECONFIG, K8S_AUTH_CONTEXT)
    monkeypatch.setenv('K8S_AUTH_KUBECONFIG', str(kubeconfig))
    monkeypatch.setenv('K8S_AUTH_CONTEXT', 'fake')
    assert k8s('nad_info', name='br10')['nads'][0]['config'] == BRIDGE


def test_kubernetes_errors_are_clear(api, monkeypatch):
    monkeypatch.setenv('K8S_AUTH_API_KEY', 'wrong')
    denied = k8s(name='br10', config=BRIDGE)
    assert denied['failed'] and denied['msg'] == (
        'Kubernetes API: cannot get NetworkAttachmentDefinition default/br10: 401 Unauthorized: Unauthorized')
    monkeypatch.setenv('K8S_AUTH_HOST', 'http://127.0.0.1:9')
    unreachable = k8s('nad_info')
    assert unreachable['failed'] and unreachable['msg'].startswith(
        'cannot reach the Kubernetes API at http://127.0.0.1:9 to list NetworkAttachmentDefinitions')
