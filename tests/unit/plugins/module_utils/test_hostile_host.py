# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input against the host side (issue 10, the policy half): NADs that reach for the
host (host-device, host NICs as master, host-local's dataDir, host bridges, iptables
arguments), NAD files that blow up (YAML aliases, a mapping spec.config, names with a
newline), a libvirt hook fed metadata and records it must not trust, sriov_vf without
libvirt, and SR-IOV NADs choosing VF settings their pool does not allow.

Each case asserts a clean refusal that names the field, and that nothing outside the
test's sandbox was opened, written, deleted or executed: a Python audit hook records every
file, directory and process event while the case runs (module imports excepted), and
canary files around the sandbox must stay as they are. No case points at a real system
path; the SR-IOV cases run on the fake sysfs of tests/unit.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import json
import os
import stat
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.vmnet.networks.plugins.module_utils import interface, nad, nad_policy, replumb, sriov, sriov_allocation, sriov_pools
from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import pod as pod_module
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni, libvirt_domain, nad_store
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import METADATA_URI
from ansible_collections.vmnet.networks.plugins.module_utils.host.state import VmState
from ansible_collections.vmnet.networks.plugins.modules import nad as nad_module
from ansible_collections.vmnet.networks.plugins.modules import nad_info, sriov_vf, vm_network

from test_sriov_fakes import FakeKernel, PF_IF, fake_sriov_host, vf_address

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))

# -- the sandbox: every file event is recorded while a case runs ----------------------------

_WATCHED = {'open', 'os.remove', 'os.rename', 'os.mkdir', 'os.rmdir', 'shutil.rmtree', 'os.listdir',
            'os.scandir', 'os.chmod', 'os.chown', 'os.symlink', 'os.link', 'os.truncate', 'os.utime',
            'subprocess.Popen', 'os.exec', 'os.posix_spawn', 'os.system'}


class _Recorder(object):
    active = False
    events = []


def _audit(event, args):
    if _Recorder.active and event in _WATCHED:
        _Recorder.events.append((event, args))


sys.addaudithook(_audit)

_CODE = tuple(os.path.realpath(p) for p in sys.path if p and os.path.isdir(p))


def _paths(event, args):
    if event in ('subprocess.Popen', 'os.exec', 'os.posix_spawn', 'os.system'):
        return [('exec', args[0])]
    if event == 'os.rename' or event in ('os.symlink', 'os.link'):
        return [(event, args[0]), (event, args[1])]
    return [(event, args[0])] if args else []


class Sandbox(object):
    """A directory for one case, canaries beside and inside its parent, and what was touched."""

    def __init__(self, tmp_path):
        self.root = str(tmp_path / 'sandbox')
        os.mkdir(self.root)
        self.canaries = {}
        for name in ('canary-outside', os.path.join('sandbox', '..', 'canary-parent')):
            path = os.path.normpath(str(tmp_path / name))
            with open(path, 'w') as handle:
                handle.write('keep ' + name)
            self.canaries[path] = 'keep ' + name

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def __enter__(self):
        _Recorder.events = []
        _Recorder.active = True
        return self

    def __exit__(self, *exc):
        _Recorder.active = False
        self.check()

    def outside(self):
        """What the case touched outside the sandbox (Python code being imported excepted)."""
        found = []
        for event, args in _Recorder.events:
            for kind, path in _paths(event, args):
                if isinstance(path, int):
                    continue   # an open file descriptor
                if isinstance(path, bytes):
                    path = path.decode('utf-8', 'replace')
                real = os.path.realpath(str(path))
                if real == self.root or real.startswith(self.root + os.sep):
                    continue
                reading = event == 'open' and (len(args) < 2 or args[1] in ('r', 'rb', None))
                if reading and real.endswith(('.py', '.pyc', '.so')) and real.startswith(_CODE):
                    continue
                if event in ('os.listdir', 'os.scandir') and real.startswith(_CODE):
                    continue   # the import system looking for modules
                found.append((kind, str(path)))
        return found

    def check(self):
        assert self.outside() == []
        self.check_canaries()

    def check_canaries(self):
        for path, content in self.canaries.items():
            with open(path) as handle:
                assert handle.read() == content, path


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    box = Sandbox(tmp_path)
    monkeypatch.setattr(nad_policy, 'SYS_CLASS_NET', box.path('net'))   # host bridges: the sandbox's
    return box


def run(capsys, module, **args):
    """A module run (arguments in, JSON out); returns its result."""
    with patch_module_args(dict(args, _ansible_check_mode=False, _ansible_diff=False)):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


# -- 1. the operator's NAD policy --------------------------------------------------------

def vm():
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': 'tenant-vm'},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [
                {'name': 'net', 'bridge': {}}]}}, 'networks': [{'name': 'net', 'multus': {'networkName': 'hostile'}}]}}}}


def store_nad(box, config, name='hostile', namespace='default'):
    nad.ensure_present(nad_store.LocalNadStore(box.path('nads')), namespace, name, nad.parse_config(config))


def attach(capsys, box, policy=None, narrow=None):
    """vm_network with everything in the sandbox; ``policy``: the operator's policy file."""
    policy_file = box.path('nad-policy.json')
    if policy is not None:
        with open(policy_file, 'w') as handle:
            json.dump(policy, handle)
    args = dict(spec=vm(), name='net', state_dir=box.path('state'), cni_conf_dir=box.path('cni'),
                cni_bin_dir=[box.path('bin')], nad_dir=box.path('nads'), nad_policy_file=policy_file)
    if narrow is not None:
        args['nad_policy'] = narrow
    with box:
        return run(capsys, vm_network, **args)


def refused(result, *fragments):
    assert result.get('failed') and result['field'] == 'networks', result
    assert 'exception' not in result, result
    assert result['msg'].startswith('network "net" (%s' % os.path.join('nads', 'default')) or \
        'refused by the NAD policy' in result['msg'], result['msg']
    for fragment in fragments:
        assert fragment in result['msg'], result['msg']
    return result['msg']


def passed_policy(result):
    """The run got past the policy: it failed on the sandbox's empty plugin directory."""
    assert result.get('failed') and 'not found in' in result['msg'] and 'NAD policy' not in result['msg'], result
    return result


CONF = {'cniVersion': '1.0.0', 'name': 'hostile'}


@pytest.mark.parametrize('plugins, fragments', [
    # host-device with device eth0 moves the host's uplink into the pod
    ([{'type': 'host-device', 'device': 'eth0'}], ['plugins[0].type: CNI plugin "host-device" is not allowed']),
    # macvlan/vlan/ipvlan master: any host NIC
    ([{'type': 'macvlan', 'master': 'eth0'}], ['plugins[0].master: host interface "eth0" is not in the policy']),
    ([{'type': 'macvlan'}], ['plugins[0].master: required by the NAD policy', "default-route interface"]),
    ([{'type': 'vlan', 'master': 'eth0', 'vlanId': 5}], ['plugins[0].type: CNI plugin "vlan" is not allowed']),
    # host-local's dataDir writes anywhere, in any plugin of the chain
    ([{'type': 'bridge', 'bridge': 'vmntb0'},
      {'type': 'tuning', 'ipam': {'type': 'host-local', 'dataDir': '/var/lib', 'subnet': '10.9.0.0/24'}}],
     ['plugins[1].ipam.dataDir: "/var/lib" is not inside the policy\'s ipam_data_dirs (none)']),
    ([{'type': 'bridge', 'bridge': 'vmntb0', 'ipam': {'type': 'dhcp', 'daemonSocketPath': '/run/x.sock'}}],
     ['plugins[0].ipam.type: IPAM plugin "dhcp" is not allowed']),
    # host ports and raw iptables arguments through portmap, the firewall's admin chain
    ([{'type': 'bridge', 'bridge': 'vmntb0'},
      {'type': 'portmap', 'runtimeConfig': {'portMappings': [{'hostPort': 22, 'containerPort': 22}]}}],
     ['plugins[1].runtimeConfig: not allowed in a NAD']),
    ([{'type': 'bridge', 'bridge': 'vmntb0'}, {'type': 'portmap', 'conditionsV4': ['-j', 'ACCEPT']}],
     ['plugins[1].conditionsV4: not allowed in a NAD']),
    ([{'type': 'bridge', 'bridge': 'vmntb0'}, {'type': 'firewall', 'iptablesAdminChainName': 'INPUT'}],
     ['plugins[1].iptablesAdminChainName: not allowed in a NAD']),
    # a host-wide sysctl through tuning
    ([{'type': 'bridge', 'bridge': 'vmntb0'}, {'type': 'tuning', 'sysctl': {'kernel.core_pattern': '|/tmp/x'}}],
     ['plugins[1].sysctl.kernel.core_pattern: only net.* sysctls']),
    ([{'type': 'bridge', 'bridge': 'vmntb0'}, {'type': 'tuning', 'sysctl': {'net/../../kernel/x': '1'}}],
     ['plugins[1].sysctl.net/../../kernel/x: only net.* sysctls']),
    # an unknown plugin type
    ([{'type': 'ptp', 'ipMasq': True}], ['plugins[0].type: CNI plugin "ptp" is not allowed']),
])
def test_default_policy_refuses_nads_that_reach_the_host(capsys, sandbox, plugins, fragments):
    store_nad(sandbox, dict(CONF, plugins=plugins))
    refused(attach(capsys, sandbox), *fragments)
    assert not os.path.exists(sandbox.path('state', 'tenant-vm'))


def test_every_problem_is_named_at_once(capsys, sandbox):
    plugin = {'type': 'macvlan', 'master': 'eth0', 'ipam': {'type': 'host-local', 'dataDir': '/etc'}}
    store_nad(sandbox, dict(CONF, plugins=[plugin]))
    message = refused(attach(capsys, sandbox), 'plugins[0].master', 'plugins[0].ipam.dataDir')
    assert 'hostile.yaml' in message


def test_operator_widens_the_policy_file(capsys, sandbox):
    """What the operator allows passes the policy (and then fails on the sandbox's empty
    plugin directory, before anything changes)."""
    store_nad(sandbox, dict(CONF, plugins=[{'type': 'host-device', 'device': 'vmnt-nic1'}]))
    refused(attach(capsys, sandbox, policy={'plugins': ['host-device']}),
            'plugins[0].device: host interface "vmnt-nic1" is not in the policy\'s host_interfaces (none)')
    passed_policy(attach(capsys, sandbox, policy={'plugins': ['host-device'], 'host_interfaces': ['vmnt-nic*']}))
    store_nad(sandbox, dict(CONF, plugins=[{'type': 'host-device', 'device': 'vmnt-nic1', 'pciBusID': '0000:00:03.0'}]))
    refused(attach(capsys, sandbox, policy={'plugins': ['host-device'], 'host_interfaces': ['vmnt-nic*']}),
            'plugins[0].pciBusID: not allowed in a NAD')
    leases = sandbox.path('leases')
    store_nad(sandbox, dict(CONF, plugins=[{'type': 'bridge', 'bridge': 'vmntb0',
                                            'ipam': {'type': 'host-local', 'dataDir': leases + '/../x'}}]))
    refused(attach(capsys, sandbox, policy={'ipam_data_dirs': [leases]}), 'ipam.dataDir')
    store_nad(sandbox, dict(CONF, plugins=[{'type': 'bridge', 'bridge': 'vmntb0',
                                            'ipam': {'type': 'host-local', 'dataDir': leases + '/net'}}]))
    passed_policy(attach(capsys, sandbox, policy={'ipam_data_dirs': [leases]}))


def test_the_module_option_only_narrows(capsys, sandbox):
    store_nad(sandbox, dict(CONF, plugins=[{'type': 'bridge', 'bridge': 'vmntb0'}, {'type': 'tuning', 'mtu': 1400}]))
    passed_policy(attach(capsys, sandbox))
    refused(attach(capsys, sandbox, narrow={'plugins': ['bridge']}), 'plugins[1].type: CNI plugin "tuning"')
    store_nad(sandbox, dict(CONF, plugins=[{'type': 'macvlan', 'master': 'eth0'}]))
    # the option cannot widen what the operator's file allows
    refused(attach(capsys, sandbox, narrow={'host_interfaces': ['eth0']}), 'plugins[0].master: host interface "eth0"')


def test_a_broken_policy_file_fails_closed(capsys, sandbox):
    store_nad(sandbox, dict(CONF, plugins=[{'type': 'bridge', 'bridge': 'vmntb0'}]))
    result = attach(capsys, sandbox, policy={'plugins': 'bridge'})
    assert result['failed'] and 'plugins: must be a list' in result['msg']
    result = attach(capsys, sandbox, policy={'allow_everything': True})
    assert result['failed'] and 'unknown keys allow_everything' in result['msg']
    os.symlink(sandbox.path('elsewhere.json'), sandbox.path('link.json'))
    with sandbox:
        with pytest.raises(VmnetError, match='symlink'):
            nad_policy.load(sandbox.path('link.json'))


def fake_net(box, bridge, ports):
    """A sysfs net class with ``bridge`` and its ``ports`` ({name: 'nic'|'veth'|'vlan-of-nic'})."""
    root = box.path('net')
    os.makedirs(os.path.join(root, bridge, 'brif'))
    for port, kind in ports.items():
        os.makedirs(os.path.join(root, port))
        os.mkdir(os.path.join(root, bridge, 'brif', port))
        if kind == 'nic':
            os.mkdir(os.path.join(root, port, 'device'))
        elif kind == 'vlan-of-nic':
            os.makedirs(os.path.join(root, 'eno1', 'device'))
            os.mkdir(os.path.join(root, port, 'lower_eno1'))
    return root


@pytest.mark.parametrize('ports, refused_ports', [
    ({'eth0': 'nic', 'vnet3': 'veth'}, 'eth0'),
    ({'eno1.10': 'vlan-of-nic'}, 'eno1.10'),
    ({'veth1': 'veth', 'vnet0': 'veth'}, None),
])
def test_a_bridge_nad_may_not_join_a_host_bridge_with_a_nic(sandbox, ports, refused_ports):
    net = fake_net(sandbox, 'br0', ports)
    conflist = dict(CONF, plugins=[{'type': 'bridge', 'bridge': 'br0'}])
    policy = nad_policy.normalise({})
    with sandbox:
        if refused_ports:
            with pytest.raises(VmnetError, match=r'plugins\[0\]\.bridge: "br0" is a host bridge with host NIC\(s\) %s'
                               % refused_ports.replace('.', r'\.')):
                nad_policy.check([policy], conflist, 'NAD x', net_root=net)
            nad_policy.check([nad_policy.normalise({'host_interfaces': ['br0']})], conflist, 'NAD x', net_root=net)
        else:
            nad_policy.check([policy], conflist, 'NAD x', net_root=net)


def test_the_default_policy_lets_generated_nads_through():
    """What vmnet generates (bridge + host-local/static/no IPAM) and the usual chains pass."""
    policy = nad_policy.normalise({})
    for plugins in ([{'type': 'bridge', 'bridge': 'br1', 'ipam': {}}],
                    [{'type': 'bridge', 'bridge': 'br1', 'ipam': {'type': 'host-local', 'subnet': '10.1.0.0/24'}}],
                    [{'type': 'bridge', 'bridge': 'br1', 'ipam': {'type': 'static'}},
                     {'type': 'tuning', 'mtu': 1400, 'sysctl': {'net.ipv4.conf.eth0.rp_filter': '0'}},
                     {'type': 'portmap', 'capabilities': {'portMappings': True}}, {'type': 'bandwidth'},
                     {'type': 'firewall'}, {'type': 'sbr'}],
                    [{'type': 'sriov', 'vlan': 5}],
                    [{'type': 'macvlan', 'master': 'eth1', 'linkInContainer': True}]):
        assert nad_policy.violations(policy, {'plugins': plugins}, net_root='/nonexistent') == [], plugins


def test_defaults_are_vmnets_own():
    assert common.POD_ARGUMENT_SPEC['cni_conf_dir']['default'] == cni.DEFAULT_CONF_DIR == '/etc/vmnet/cni/net.d'
    assert common.POD_ARGUMENT_SPEC['nad_policy_file']['default'] == nad_policy.POLICY_PATH
    import yaml
    with open(os.path.join(ROOT, 'roles', 'host', 'defaults', 'main.yml')) as handle:
        defaults = yaml.safe_load(handle)
    assert defaults['vmnet_host_cni_conf_dir'] == '/etc/vmnet/cni/net.d'
    assert defaults['vmnet_host_pod_network_subnet'] == '10.244.0.0/16'
    assert defaults['vmnet_host_nad_policy'] == nad_policy.DEFAULT


# -- 2. NAD files: names, YAML, spec.config ---------------------------------------------------

@pytest.mark.parametrize('name, namespace, field', [
    ('ok\n', 'default', 'name'), ('../../etc/x', 'default', 'name'), ('ok', 'default\n', 'namespace'),
    ('ok', '..', 'namespace'), ('OK', 'default', 'name'),
])
def test_nad_names_are_matched_whole(capsys, sandbox, name, namespace, field):
    with sandbox:
        result = run(capsys, nad_module, name=name, namespace=namespace, nad_dir=sandbox.path('nads'),
                     config=dict(CONF, type='bridge'), cni_bin_dir=[sandbox.path('bin')])
    assert result['failed'] and result['field'] == field, result
    assert not os.path.exists(sandbox.path('nads'))


def write_nad_file(box, text, name='hostile'):
    os.makedirs(box.path('nads', 'default'), exist_ok=True)
    with open(box.path('nads', 'default', name + '.yaml'), 'w') as handle:
        handle.write(text)


ALIAS_BOMB = '\n'.join(['apiVersion: k8s.cni.cncf.io/v1', 'kind: NetworkAttachmentDefinition',
                        'metadata: {name: hostile, namespace: default}', 'a0: &a0 ["lol","lol","lol","lol","lol"]'] +
                       ['a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]' % ((i, i) + (i - 1,) * 9)
                        for i in range(1, 8)] + ['spec: {config: *a7}']) + '\n'


def test_a_yaml_alias_bomb_is_refused(capsys, sandbox):
    write_nad_file(sandbox, ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 1024
    result = attach(capsys, sandbox)
    assert result['failed'] and result['field'] == 'networks'
    assert 'YAML anchors and aliases are not allowed' in result['msg'] and 'hostile.yaml' in result['msg']
    with sandbox:
        result = run(capsys, nad_info, namespace='default', nad_dir=sandbox.path('nads'))
    assert result['failed'] and 'anchors and aliases' in result['msg']


def test_a_nad_file_over_the_size_cap_is_refused(capsys, sandbox):
    write_nad_file(sandbox, 'kind: NetworkAttachmentDefinition\n# %s\n' % ('x' * nad_store.MAX_NAD_BYTES))
    result = attach(capsys, sandbox)
    assert result['failed'] and 'larger than %d bytes' % nad_store.MAX_NAD_BYTES in result['msg']


def test_spec_config_as_a_mapping_is_refused(capsys, sandbox):
    write_nad_file(sandbox, 'apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\n'
                            'metadata: {name: hostile, namespace: default}\n'
                            'spec:\n  config: {cniVersion: 1.0.0, name: x, type: bridge}\n')
    result = attach(capsys, sandbox)
    assert result['failed'] and result['field'] == 'networks'
    assert 'spec.config must be a string, the CNI configuration as JSON text (as in Kubernetes), not a mapping' \
        in result['msg']


def test_an_expanding_config_is_refused_without_expanding_it(sandbox):
    """A mapping built from shared references (what YAML aliases become once loaded) is
    refused at the size cap, without being expanded: 9**13 strings would never finish."""
    level = ['lol'] * 9
    for _i in range(12):
        level = [level] * 9
    started = time.time()
    with sandbox:
        with pytest.raises(VmnetError, match='config: .* more than the %d a CNI' % nad.MAX_CONFIG_BYTES) as refused_:
            nad.parse_config(dict(CONF, type='bridge', bomb=level))
    assert refused_.value.field == 'config' and time.time() - started < 1


def test_store_files_are_private_atomic_and_never_followed(sandbox):
    old = os.umask(0)
    try:
        with sandbox:
            store = nad_store.LocalNadStore(sandbox.path('nads'))
            nad.ensure_present(store, 'default', 'net1', nad.parse_config(dict(CONF, type='bridge')))
    finally:
        os.umask(old)
    for path in (sandbox.path('nads'), sandbox.path('nads', 'default')):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    path = sandbox.path('nads', 'default', 'net1.yaml')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # a symlink put in place of the file: read refused, a write replaces it (the target stays)
    target = sandbox.path('nads', 'default', 'target')
    with open(target, 'w') as handle:
        handle.write('untouched')
    os.unlink(path)
    os.symlink(target, path)
    with sandbox:
        with pytest.raises(VmnetError, match='symlink'):
            store.get('default', 'net1')
        store.replace(nad.desired(None, 'default', 'net1', dict(CONF, type='bridge'), None))
    assert not os.path.islink(path) and open(target).read() == 'untouched'
    # a symlink leading out of the store is not followed
    os.symlink(os.path.dirname(sandbox.root), sandbox.path('nads', 'evil'))
    os.symlink(sandbox.path('target'), sandbox.path('nads', 'default', 'out.yaml'))
    with sandbox:
        with pytest.raises(VmnetError, match='outside'):
            store.get('evil', 'canary-outside')
        with pytest.raises(VmnetError, match='outside'):
            store.get('default', 'out')
        with pytest.raises(VmnetError, match='outside'):
            store.replace(nad.desired(None, 'default', 'out', dict(CONF, type='bridge'), None))


# -- 3. the libvirt hook trusts only its own configuration ------------------------------------

SPEC = {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': 'web'},
        'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [{'name': 'default', 'bridge': {}}]}},
                                       'networks': [{'name': 'default', 'pod': {}}]}}}}


def domain_xml(**attrs):
    root = ET.Element('domain')
    metadata = ET.SubElement(root, 'metadata')
    ET.SubElement(metadata, '{%s}pod' % METADATA_URI, attrs)
    return ET.tostring(root).decode()


def record_pod(state_dir, vm, bin_dirs, dns=None):
    """vm.json as vm_interface writes it, with its attachment record, under ``state_dir``."""
    from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize
    spec, errors = normalize(SPEC)
    assert not errors
    state = VmState(state_dir, 'default', vm)
    state.write('networks', 'default', {'network': 'default', 'ifname': 'eth0', 'config': {}, 'result': None})
    state.write_settings({'spec': spec, 'dns': dns or [[], []], 'cni_conf_dir': '/evil/net.d',
                          'cni_bin_dirs': bin_dirs, 'node_netns': None, 'nad_dir': '/evil/nads'})
    return state


@pytest.fixture
def hook(sandbox, monkeypatch):
    """A sandboxed hook configuration; Pod.ensure and interface.bind record the pod they get
    (what the hook would run is checked there) and change nothing."""
    config = {'state_dir': sandbox.path('state'), 'cni_conf_dir': sandbox.path('net.d'),
              'cni_bin_dirs': [sandbox.path('bin')], 'nad_dir': sandbox.path('nads'),
              'nad_policy_file': sandbox.path('nad-policy.json'), 'sriov_pools_file': sandbox.path('pools.json'),
              'node_netns': None}
    path = sandbox.path('hook.json')
    with open(path, 'w') as handle:
        json.dump(config, handle)
    os.chmod(path, 0o644)
    seen = []

    def ensure(pod, network, check_mode=False, iface=None):
        seen.append({'bin_dirs': pod.cni.bin_dirs, 'conf_dir': pod.cni_conf_dir, 'nad_dir': pod.nads.nad_dir,
                     'state': pod.state.root, 'policy': pod.nad_policy_file})
        return False, [], None
    monkeypatch.setattr(pod_module.Pod, 'ensure', ensure)
    monkeypatch.setattr(pod_module.Pod, 'exists', lambda pod: True)
    monkeypatch.setattr(interface, 'bind', lambda *a, **k: pytest.fail('nothing is bound in these cases'))
    return sandbox, config, path, seen


def run_hook(box, xml, config_path):
    err = io.StringIO()
    stderr, sys.stderr = sys.stderr, err
    try:
        with box:
            code = replumb.main(['web', 'prepare', 'begin', '-'], io.StringIO(xml), config_path)
    finally:
        sys.stderr = stderr
    return code, err.getvalue()


def evil_plugin(box):
    """A 'bridge' plugin in a directory of the attacker's choice; running it leaves a mark."""
    bin_dir = box.path('evil-bin')
    os.makedirs(bin_dir)
    with open(os.path.join(bin_dir, 'bridge'), 'w') as handle:
        handle.write('#!/bin/sh\ntouch %s\n' % box.path('pwned'))
    os.chmod(os.path.join(bin_dir, 'bridge'), 0o755)
    return bin_dir


def test_hook_ignores_the_state_dir_of_the_metadata(hook):
    box, config, path, seen = hook
    evil = box.path('evil-state')
    record_pod(evil, 'web', [evil_plugin(box)])
    code, err = run_hook(box, domain_xml(vm='web', **{'state-dir': evil}), path)
    assert (code, err, seen) == (0, '', [])   # no records in the configured state dir: nothing to do
    assert not any(p.startswith(evil) for e, a in _Recorder.events for k, p in _paths(e, a) if isinstance(p, str))
    assert not os.path.exists(box.path('pwned'))


def test_hook_runs_plugins_from_its_own_bin_dirs_only(hook):
    box, config, path, seen = hook
    record_pod(config['state_dir'], 'web', [evil_plugin(box)])
    code, err = run_hook(box, domain_xml(vm='web', **{'state-dir': '/var/lib/vmnet'}), path)
    assert (code, err) == (0, '')
    assert seen == [{'bin_dirs': config['cni_bin_dirs'], 'conf_dir': config['cni_conf_dir'], 'nad_dir': config['nad_dir'],
                     'state': os.path.join(config['state_dir'], 'default_web'), 'policy': config['nad_policy_file']}]
    assert not os.path.exists(box.path('pwned'))


@pytest.mark.parametrize('target, how', [
    ('vm.json', 'group-writable'), ('vm.json', 'world-writable'), ('networks/default.json', 'group-writable'),
    ('vm.json', 'not root'), ('networks', 'world-writable'), ('', 'group-writable'),
])
def test_hook_refuses_records_others_could_write(hook, target, how):
    box, config, path, seen = hook
    state = record_pod(config['state_dir'], 'web', [config['cni_bin_dirs'][0]])
    victim = os.path.join(state.root, target) if target else state.root
    if how == 'not root':
        os.chown(victim, 65534, 65534)
    else:
        os.chmod(victim, os.stat(victim).st_mode | (stat.S_IWGRP if how == 'group-writable' else stat.S_IWOTH))
    code, err = run_hook(box, domain_xml(vm='web', **{'state-dir': config['state_dir']}), path)
    assert code == 1 and seen == []
    assert 'refusing %s: not owned by root, or writable by group or others' % victim.rstrip('/') in err


def test_hook_refuses_its_configuration_when_others_could_write_it(hook):
    box, config, path, seen = hook
    record_pod(config['state_dir'], 'web', [config['cni_bin_dirs'][0]])
    os.chmod(path, 0o664)
    code, err = run_hook(box, domain_xml(vm='web', **{'state-dir': config['state_dir']}), path)
    assert code == 1 and seen == [] and 'hook configuration %s' % path in err


@pytest.mark.parametrize('vm_name', ['..', '../x', '/etc', 'web\nx', 'Web', 'a' * 254])
def test_hook_validates_the_vm_identity(hook, vm_name):
    box, config, path, seen = hook
    code, err = run_hook(box, domain_xml(vm=vm_name, **{'state-dir': config['state_dir']}), path)
    assert code == 1 and seen == [] and 'domain metadata: vm' in err


def test_hook_validates_the_recorded_spec_again(hook):
    box, config, path, seen = hook
    state = record_pod(config['state_dir'], 'web', [config['cni_bin_dirs'][0]])
    settings = state.read_settings()
    settings['spec']['networks'][0]['name'] = '../../x'
    settings['spec']['interfaces'][0]['network'] = '../../x'
    with open(state.path('vm.json'), 'w') as handle:
        json.dump(settings, handle)
    code, err = run_hook(box, domain_xml(vm='web', **{'state-dir': config['state_dir']}), path)
    assert code == 1 and seen == [] and 'the recorded spec is not valid' in err


def test_hook_configuration_must_be_complete_and_absolute(hook):
    box, config, path, seen = hook
    for key, value in (('cni_bin_dirs', ['relative/bin']), ('state_dir', None), ('node_netns', '../x')):
        with open(path, 'w') as handle:
            json.dump(dict(config, **{key: value}), handle)
        with box:
            with pytest.raises(VmnetError, match='hook configuration .*: %s' % key):
                replumb.load_config(path)


# -- 4. sriov_vf fails closed ---------------------------------------------------------------

@pytest.fixture
def sriov_host(tmp_path, monkeypatch):
    return fake_sriov_host(tmp_path, monkeypatch)


@pytest.mark.parametrize('args', [{'num_vfs': 3}, {'num_vfs': 0}, {'vfs': [{'vf': 1, 'driver': 'vfio-pci'}]}])
def test_sriov_vf_refuses_without_libvirt(capsys, sriov_host, args):
    sriov_host.users = None
    result = run(capsys, sriov_vf, pf=PF_IF, **args)
    assert result['failed'] and result['field'] == 'uri' and 'exception' not in result
    assert 'cannot be checked (cannot connect to libvirt at qemu:///system: no socket)' in result['msg']
    assert 'set force: true' in result['msg'] and sriov_host.writes == []
    forced = run(capsys, sriov_vf, pf=PF_IF, force=True, **args)
    assert forced['changed'] and sriov_host.writes != []


def test_sriov_vf_settings_still_apply_without_libvirt(capsys, sriov_host):
    sriov_host.users = None
    result = run(capsys, sriov_vf, pf=PF_IF, vfs=[{'vf': 0, 'trust': True}])
    assert result['changed'] and 'cannot connect to libvirt' in json.dumps(result['warnings'])


class _Original(object):
    """libvirt_domain's own pci_hostdev_users (the sriov_host fixture replaces it)."""
    pci_hostdev_users = staticmethod(libvirt_domain.pci_hostdev_users)


class _Domain(object):
    def __init__(self, name, active, live_xml, config_xml):
        self._name, self._active, self.xml = name, active, {0: live_xml, 'inactive': config_xml}

    def name(self):
        return self._name

    def isActive(self):
        return self._active

    def isPersistent(self):
        return self.xml['inactive'] is not None

    def XMLDesc(self, flags):
        return self.xml['inactive' if flags else 0]


def hostdev_domain(address):
    domain, bus, slot_function = address.split(':', 2)
    slot, function = slot_function.split('.')
    return ("<domain><devices><hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x%s' "
            "bus='0x%s' slot='0x%s' function='0x%s'/></source></hostdev></devices></domain>"
            % (domain, bus, slot, function))


def test_defined_but_stopped_domains_count(capsys, sriov_host, monkeypatch):
    """libvirt's side with a stand-in connection: the stopped domain's persistent
    definition names VF 1; a running one has VF 0 in its live definition only."""
    import libvirt

    class Conn(object):
        def listAllDomains(self, flags):
            assert flags == 0   # every domain, not only the running ones
            return [_Domain('stopped-vm', False, None, hostdev_domain(vf_address(1))),
                    _Domain('running-vm', True, hostdev_domain(vf_address(0)), '<domain/>')]

        def close(self):
            pass
    monkeypatch.setattr(libvirt, 'openReadOnly', lambda uri: Conn())
    monkeypatch.setattr(libvirt_domain, 'pci_hostdev_users', _Original.pci_hostdev_users)
    sriov_host.users = None
    users = libvirt_domain.pci_hostdev_users('test:///sandbox')
    assert users == {vf_address(1): ['stopped-vm'], vf_address(0): ['running-vm']}
    result = run(capsys, sriov_vf, pf=PF_IF, vfs=[{'vf': 1, 'driver': 'vfio-pci'}])
    assert result['failed'] and result['field'] == 'vfs' and 'stopped-vm' in result['msg']
    result = run(capsys, sriov_vf, pf=PF_IF, num_vfs=4)
    assert result['failed'] and result['field'] == 'num_vfs' and 'stopped-vm' in result['msg']
    assert sriov_host.writes == []


# -- 5. SR-IOV NADs choose only what their pool allows -----------------------------------------

@pytest.mark.parametrize('config, refused_keys', [
    ({'vlan': 100}, 'vlan'), ({'trust': 'on'}, 'trust'), ({'spoofchk': 'off'}, 'spoofchk'),
    ({'vlan': 5, 'vlanQoS': 2, 'trust': 'on'}, 'trust, vlan, vlanQoS'),
])
def test_sriov_nad_settings_need_the_pools_permission(tmp_path, config, refused_keys):
    kernel = FakeKernel(str(tmp_path), num_vfs=3)
    host = sriov.Host(kernel, kernel.netlink, {}, lock_dir=str(tmp_path / 'locks'))
    sriov.Run(host, PF_IF, vfs=[{'vf': i, 'driver': 'vfio-pci'} for i in (1, 2)]).apply()
    writes = len(kernel.writes)
    pool = 'intel.com/pool'
    pools = {'resourceList': [sriov_pools.pool_entry(pool, {'drivers': ['vfio-pci']})]}
    state = VmState(str(tmp_path / 'state'), 'default', 'tenant-vm')
    settings = sriov_allocation.cni_vf_settings(dict(config, type='sriov'), mac='02:00:00:00:00:01')
    with pytest.raises(VmnetError, match='NAD config %s: SR-IOV pool "%s" does not let NADs set' % (refused_keys, pool)):
        sriov_allocation.allocate(host, state, pools, pool, 'net1', settings)
    assert state.read('sriov', 'net1') is None and len(kernel.writes) == writes
    # the pool allows them: allocated, the settings applied
    pools = {'resourceList': [sriov_pools.pool_entry(pool, {'drivers': ['vfio-pci']}, list(sriov_pools.NAD_SETTINGS))]}
    assert sriov_allocation.allocate(host, state, pools, pool, 'net1', settings)['changed']
    # the interface's own MAC needs no permission
    sriov_allocation.check_nad_settings(sriov_pools.pool_entry(pool, {'drivers': ['vfio-pci']}), pool, {'mac': '02:00:00:00:00:01'})


def test_sriov_pool_nad_settings_are_checked():
    with pytest.raises(VmnetError, match='nad_settings: unknown driver'):
        sriov_pools.pool_entry('intel.com/p', {'drivers': ['vfio-pci']}, ['driver'])


def render_hook(box, config_path):
    """The hook script as the host role renders it (its template, Ansible's quote filter)."""
    import shlex
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROOT, 'roles', 'host', 'templates')))
    env.filters['quote'] = shlex.quote
    lib = nad_policy.__file__.rsplit(os.sep + 'ansible_collections' + os.sep, 1)[0]
    text = env.get_template('vmnet-hook.sh.j2').render(
        ansible_managed='test', vmnet_host_hook_config=config_path, vmnet_host_lib_dir=lib,
        vmnet_host_hook_python=sys.executable)
    path = box.path('50-vmnet')
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, 0o755)
    return path


def test_the_installed_hook_script_reads_only_its_configuration(hook):
    """The rendered script, run as libvirt runs it: the configuration path is the role's."""
    import subprocess
    box, config, path, seen = hook
    script = render_hook(box, path)

    def start(xml, operation='prepare'):
        proc = subprocess.run([script, 'web', operation, 'begin', '-'], input=xml, universal_newlines=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        return proc.returncode, proc.stderr
    assert start('<domain><name>other</name></domain>') == (0, '')
    assert start(domain_xml(vm='../x', **{'state-dir': '/'}), operation='release') == (0, '')
    code, err = start(domain_xml(vm='../x', **{'state-dir': '/'}))
    assert code == 1 and 'domain metadata: vm' in err
    os.chmod(path, 0o666)
    code, err = start(domain_xml(vm='web', **{'state-dir': box.path('evil')}))
    assert code == 1 and 'hook configuration %s: refusing' % path in err
    box.check_canaries()   # (a process of its own: the audit hook does not see inside it)


@pytest.mark.parametrize('permitted', [True, False])
def test_hook_validates_a_slirp_spec_under_the_recorded_switch(hook, permitted):
    """A slirp interface re-plumbs only when the operator's run that recorded it had
    permit_slirp_interface (a root-owned record), never on the manifest's say."""
    from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize
    box, config, path, seen = hook
    slirp = {'interfaces': [{'name': 'default', 'slirp': {}}], 'networks': [{'name': 'default', 'pod': {}}]}
    spec, errors = normalize(slirp, {'permit_slirp_interface': True})
    assert not errors
    state = record_pod(config['state_dir'], 'web', [config['cni_bin_dirs'][0]])
    settings = dict(state.read_settings(), spec=spec, permit_slirp_interface=permitted)
    state.write_settings(settings)
    code, err = run_hook(box, domain_xml(vm='web', **{'state-dir': config['state_dir']}), path)
    if permitted:
        assert (code, err) == (0, '') and len(seen) == 1
    else:
        assert code == 1 and seen == [] and 'Slirp interface is not enabled' in err
