# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI runtime against a fake plugin: chaining, DEL order, CHECK by version, arguments,
errors, and results of every supported version."""

import json
import os
import stat
import sys

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.host import cni

# A plugin that logs each call (command, its configuration, CNI_ARGS, PATH) to the file its
# configuration names, adds an interface (and an IP when asked) to prevResult, and fails
# with a spec error object when its configuration says so.
FAKE_PLUGIN = r'''#!%s
import json, os, sys
conf = json.load(sys.stdin)
with open(conf['log'], 'a') as log:
    log.write(json.dumps({'command': os.environ['CNI_COMMAND'], 'conf': conf, 'ifname': os.environ['CNI_IFNAME'],
                          'args': os.environ.get('CNI_ARGS'), 'path': os.environ.get('PATH')}) + '\n')
if conf.get('fail') == os.environ['CNI_COMMAND']:
    print(json.dumps({'cniVersion': conf['cniVersion'], 'code': 11, 'msg': 'no luck', 'details': 'really'}))
    sys.exit(1)
if os.environ['CNI_COMMAND'] == 'ADD':
    result = conf.get('prevResult') or {'cniVersion': conf['cniVersion'], 'interfaces': [], 'ips': []}
    result['interfaces'].append({'name': conf['tag'], 'mac': conf.get('runtimeConfig', {}).get('mac', '02:00:00:00:00:01')})
    if conf.get('ip'):
        ip = {'interface': len(result['interfaces']) - 1, 'address': conf['ip'], 'gateway': '10.1.0.1'}
        if conf['cniVersion'] != '1.0.0':
            ip['version'] = '4'
        result['ips'].append(ip)
    print(json.dumps(result))
'''


@pytest.fixture
def plugins(tmp_path):
    """(bin dir, log file, read_log()): the fake plugin installed as ``fake`` and ``fake2``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('fake', 'fake2'):
        path = bin_dir / name
        path.write_text(FAKE_PLUGIN % sys.executable)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / 'calls.log'

    def read_log():
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.write_text('')
        return calls
    return str(bin_dir), str(log), read_log


def conflist(log, version='1.0.0', **extra):
    return {'cniVersion': version, 'name': 'testnet', 'plugins': [
        dict({'type': 'fake', 'tag': 'first', 'log': log, 'ip': '10.1.0.5/24'}, **extra),
        {'type': 'fake2', 'tag': 'second', 'log': log, 'capabilities': {'mac': True}},
    ]}


def test_add_chains_prev_result_and_del_runs_in_reverse(plugins):
    bin_dir, log, read_log = plugins
    runtime = cni.CniRuntime([bin_dir])
    config = conflist(log)
    result = runtime.add(config, 'cid', '/var/run/netns/x', 'eth0')
    calls = read_log()
    assert [c['conf']['type'] for c in calls] == ['fake', 'fake2']
    assert 'prevResult' not in calls[0]['conf']
    assert calls[1]['conf']['prevResult']['interfaces'] == [{'name': 'first', 'mac': '02:00:00:00:00:01'}]
    # every plugin gets the list's version and name
    assert all((c['conf']['cniVersion'], c['conf']['name']) == ('1.0.0', 'testnet') for c in calls)
    assert [i['name'] for i in result['interfaces']] == ['first', 'second']

    runtime.delete(config, 'cid', '/var/run/netns/x', 'eth0', result)
    calls = read_log()
    assert [(c['command'], c['conf']['type']) for c in calls] == [('DEL', 'fake2'), ('DEL', 'fake')]
    assert all(c['conf']['prevResult'] == result for c in calls)


@pytest.mark.parametrize('version, checked, del_prev_result', [
    ('0.3.0', False, False), ('0.3.1', False, False), ('0.4.0', True, True), ('1.0.0', True, True)])
def test_check_and_del_follow_the_configuration_version(plugins, version, checked, del_prev_result):
    bin_dir, log, read_log = plugins
    runtime = cni.CniRuntime([bin_dir])
    config = conflist(log, version)
    result = runtime.add(config, 'cid', '/ns', 'eth0')
    read_log()
    runtime.check(config, 'cid', '/ns', 'eth0', result)
    assert [c['command'] for c in read_log()] == (['CHECK', 'CHECK'] if checked else [])
    runtime.delete(config, 'cid', '/ns', 'eth0', result)
    assert all(('prevResult' in c['conf']) == del_prev_result for c in read_log())


def test_disable_check(plugins):
    bin_dir, log, read_log = plugins
    config = dict(conflist(log), disableCheck=True)
    cni.CniRuntime([bin_dir]).check(config, 'cid', '/ns', 'eth0', {'cniVersion': '1.0.0'})
    assert read_log() == []


def test_requested_mac_reaches_cni_args_and_the_mac_capability_only(plugins):
    bin_dir, log, read_log = plugins
    cni_args, runtime_config = cni.attachment_args('02:aa:bb:cc:dd:ee')
    assert cni.attachment_args(None) == ({}, {})
    result = cni.CniRuntime([bin_dir]).add(conflist(log), 'cid', '/ns', 'net1', cni_args, runtime_config)
    first, second = read_log()
    assert first['args'] == second['args'] == 'IgnoreUnknown=true;MAC=02:aa:bb:cc:dd:ee'
    assert 'runtimeConfig' not in first['conf']                      # no mac capability
    assert second['conf']['runtimeConfig'] == {'mac': '02:aa:bb:cc:dd:ee'}
    assert result['interfaces'][1]['mac'] == '02:aa:bb:cc:dd:ee'
    # the spoof check of the bridge plugin needs nft: plugins get a PATH with sbin
    assert '/usr/sbin' in first['path'].split(':')
    assert first['ifname'] == 'net1'


def test_plugin_error_object_becomes_a_clear_error(plugins):
    bin_dir, log, _read_log = plugins
    with pytest.raises(cni.CniError) as error:
        cni.CniRuntime([bin_dir]).add(conflist(log, fail='ADD'), 'cid', '/ns', 'eth0')
    assert str(error.value) == 'CNI network "testnet": plugin "fake" ADD failed (code 11): no luck: really'


def test_unsupported_version_and_bad_plugin_names_are_refused(plugins):
    bin_dir, log, read_log = plugins
    runtime = cni.CniRuntime([bin_dir])
    with pytest.raises(cni.CniError, match=r'cniVersion 0\.2\.0 is not supported'):
        runtime.add(conflist(log, '0.2.0'), 'cid', '/ns', 'eth0')
    assert read_log() == []
    for name in ('../fake', '', '..', None):
        with pytest.raises(cni.CniError, match='invalid CNI plugin type'):
            runtime.find_plugin(name)


def test_missing_plugins_names_plugin_and_ipam_binaries(plugins):
    bin_dir, _log, _read_log = plugins
    config = {'cniVersion': '1.0.0', 'name': 'n', 'plugins': [
        {'type': 'fake', 'ipam': {'type': 'nope-ipam'}}, {'type': 'fake2', 'ipam': {}}, {'type': 'nope'}]}
    assert cni.plugin_binaries(config) == [(0, 'type', 'fake'), (0, 'ipam.type', 'nope-ipam'),
                                           (1, 'type', 'fake2'), (2, 'type', 'nope')]
    assert cni.CniRuntime([bin_dir]).missing_plugins(config) == [(0, 'ipam.type', 'nope-ipam'), (2, 'type', 'nope')]


def test_as_conflist_wraps_a_conf():
    conf = {'cniVersion': '0.3.1', 'name': 'n', 'type': 'bridge', 'bridge': 'br10'}
    assert cni.as_conflist(conf) == {'cniVersion': '0.3.1', 'name': 'n', 'plugins': [conf]}
    listed = {'cniVersion': '0.3.1', 'name': 'n', 'plugins': [conf]}
    assert cni.as_conflist(listed) is listed


# Results of the real bridge plugin (toolchain.md §5), per version.
RESULT_1_0_0 = {'cniVersion': '1.0.0', 'interfaces': [
    {'name': 'br10', 'mac': '66:9a:80:3b:fd:56'}, {'name': 'veth61756660', 'mac': '3e:58:a4:31:69:5e'},
    {'name': 'eth0', 'mac': '2a:d4:5e:a6:65:f0', 'sandbox': '/var/run/netns/pod'}],
    'ips': [{'interface': 2, 'address': '10.88.0.3/24', 'gateway': '10.88.0.1'}],
    'routes': [{'dst': '0.0.0.0/0'}], 'dns': {}}


@pytest.mark.parametrize('version', ['0.3.0', '0.3.1', '0.4.0', '1.0.0'])
def test_pod_interface_reads_every_result_version(version):
    result = json.loads(json.dumps(RESULT_1_0_0))
    result['cniVersion'] = version
    if version != '1.0.0':
        for ip in result['ips']:
            ip['version'] = '4'
    assert cni.pod_interface(result, 'eth0') == {
        'name': 'eth0', 'mac': '2a:d4:5e:a6:65:f0', 'ips': ['10.88.0.3/24'], 'gateways': ['10.88.0.1'],
        'routes': [{'dst': '0.0.0.0/0'}], 'dns': {}}


def test_pod_interface_of_an_l2_result():
    result = {'cniVersion': '0.3.1', 'interfaces': [{'name': 'br10', 'mac': '66:9a:80:3b:fd:56'},
                                                    {'name': 'net1', 'mac': '02:00:00:0a:00:01', 'sandbox': '/ns'}]}
    iface = cni.pod_interface(result, 'net1')
    assert (iface['mac'], iface['ips'], iface['gateways']) == ('02:00:00:0a:00:01', [], [])


def test_default_network_is_the_first_file(tmp_path):
    for name, net in (('20-b.conflist', 'b'), ('10-a.conf', 'a'), ('00-ignored.txt', 'x')):
        (tmp_path / name).write_text(json.dumps({'cniVersion': '1.0.0', 'name': net, 'type': 'bridge'}))
    config, path = cni.default_network(str(tmp_path))
    assert (config['name'], os.path.basename(path)) == ('a', '10-a.conf')
    assert config['plugins'][0]['type'] == 'bridge'
