# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt hook's part in a live migration (replumb.main): ``migrate begin`` vetoes a VM
without a prepared pod and prints nothing but the XML, ``prepare begin`` leaves a pod the
migration prepared alone, ``release end`` forgets the marker; foreign domains pass."""

import io
import json
import os

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import replumb

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='the hook trusts root-owned files only')

DOMAIN = ("<domain type='qemu'><name>vm1</name><metadata>"
          "<vmnet:pod xmlns:vmnet='https://vmnet.networks/xmlns/pod/1' vm='vm1' state-dir='/elsewhere'/>"
          "</metadata><devices/></domain>")


@pytest.fixture
def config(tmp_path):
    os.chmod(str(tmp_path), 0o700)
    state = tmp_path / 'state'
    state.mkdir(mode=0o700)
    conf = {'state_dir': str(state), 'cni_conf_dir': str(tmp_path), 'cni_bin_dirs': [str(tmp_path)],
            'nad_dir': str(tmp_path), 'nad_policy_file': str(tmp_path / 'policy.json'),
            'sriov_pools_file': str(tmp_path / 'pools.json'), 'node_netns': ''}
    path = tmp_path / 'hook.json'
    path.write_text(json.dumps(conf))
    os.chmod(str(path), 0o600)
    return str(path), state


def run(op, xml, config_path):
    out = io.StringIO()
    code = replumb.main(['vm1', op[0], op[1], '-'], io.StringIO(xml), config_path, stdout=out)
    return code, out.getvalue()


def test_an_unprepared_incoming_migration_is_vetoed_quietly(config, capsys):
    code, out = run(('migrate', 'begin'), DOMAIN, config[0])
    assert (code, out) == (1, '')
    assert 'no pod of VM default/vm1 was prepared on this host' in capsys.readouterr().err
    assert not (config[1] / 'default_vm1').exists()


def test_foreign_domains_and_other_operations_pass(config):
    assert run(('migrate', 'begin'), "<domain><name>x</name></domain>", config[0]) == (0, '')
    assert run(('started', 'begin'), DOMAIN, config[0]) == (0, '')


def test_prepare_leaves_a_migrated_pod_alone_once(config, capsys):
    pod_dir = config[1] / 'default_vm1'
    pod_dir.mkdir(mode=0o700)
    (pod_dir / (replumb.MIGRATING_IN + '.json')).write_text('{}')
    assert run(('prepare', 'begin'), DOMAIN, config[0]) == (0, '')
    assert 'prepared by a live migration' in capsys.readouterr().err
    assert not (pod_dir / (replumb.MIGRATING_IN + '.json')).exists()
    # release after a failed incoming migration forgets the marker too
    (pod_dir / (replumb.MIGRATING_IN + '.json')).write_text('{}')
    assert run(('release', 'end'), DOMAIN, config[0]) == (0, '')
    assert not (pod_dir / (replumb.MIGRATING_IN + '.json')).exists()
