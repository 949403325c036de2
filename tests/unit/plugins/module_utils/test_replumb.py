# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""replumb: what the libvirt hook trusts in a pod's records before it acts as root."""

import os

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import replumb
from ansible_collections.vmnet.networks.plugins.module_utils.host.files import UnsafePath

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='ownership checks need root')


@pytest.fixture
def records(tmp_path):
    root = tmp_path / 'default_vm1'
    (root / 'interfaces').mkdir(parents=True)
    os.chmod(str(tmp_path), 0o700)
    os.chmod(str(root), 0o700)
    os.chmod(str(root / 'interfaces'), 0o700)
    for name in ('vm.json', 'interfaces/default.json', 'dnsmasq.conf'):
        (root / name).write_text('{}')
        os.chmod(str(root / name), 0o600)
    return root


def test_root_owned_private_records_are_trusted(records):
    replumb._require_trusted_records(str(records))


def test_dnsmasq_outputs_written_as_its_user_are_no_records(records):
    for name in replumb.DNSMASQ_OUTPUTS:
        (records / name).write_text('x')
        os.chown(str(records / name), NOBODY, 0)
        os.chmod(str(records / name), 0o660)
    replumb._require_trusted_records(str(records))


@pytest.mark.parametrize('name', ['vm.json', 'interfaces/default.json', 'dnsmasq.conf'])
def test_a_record_another_user_owns_is_refused(records, name):
    os.chown(str(records / name), NOBODY, 0)
    with pytest.raises(UnsafePath, match='not owned by root'):
        replumb._require_trusted_records(str(records))


def test_a_group_writable_record_or_a_dnsmasq_output_elsewhere_is_refused(records):
    (records / 'interfaces' / 'dnsmasq.log').write_text('x')
    os.chown(str(records / 'interfaces' / 'dnsmasq.log'), NOBODY, 0)
    with pytest.raises(UnsafePath):
        replumb._require_trusted_records(str(records))
    os.unlink(str(records / 'interfaces' / 'dnsmasq.log'))
    os.chmod(str(records / 'vm.json'), 0o620)
    with pytest.raises(UnsafePath, match='writable by group'):
        replumb._require_trusted_records(str(records))


def test_a_symlinked_record_is_refused(records):
    os.unlink(str(records / 'vm.json'))
    os.symlink('/etc/passwd', str(records / 'vm.json'))
    with pytest.raises(UnsafePath, match='symlink'):
        replumb._require_trusted_records(str(records))
