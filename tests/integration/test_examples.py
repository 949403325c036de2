# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user guide's examples (playbooks/examples), run as the guide says, against real guests.

Each example is run twice (the second run must change nothing), every guest is started and must
get the address its binding gives, then the removal example must leave no pod behind. The copy
run here differs from the shipped one only by names: the VMs are the test's domains, the NADs and
their bridges get unique names. The sriov example needs an SR-IOV NIC: it is syntax-checked and its
manifest validated only.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from playbooks import ROOT, netns_list, run_playbook
from modules import run_module

EXAMPLES = os.path.join(ROOT, 'playbooks', 'examples')
IPAM_DIR = '/var/lib/cni/networks'

# example -> (guest console line that proves the binding works)
RUNNABLE = {
    'bridge': [r'^VMNET-LEASE if=eth0 .*ip=10\.250\.7\.\d+ '],
    'masquerade': [r'^VMNET-LEASE if=eth0 .*ip=10\.0\.2\.2 '],
    'slirp': [r'^VMNET-LEASE if=eth0 .*ip=10\.0\.2\.15 '],
    'multus_secondary': [r'^VMNET-LEASE if=eth0 .*ip=10\.0\.2\.2 ', r'^VMNET-LEASE if=eth1 .*ip=10\.245\.0\.\d+ '],
    'multus_default': [r'^VMNET-LEASE if=eth0 .*ip=10\.246\.0\.\d+ '],
}


def wait_for_all(guest, patterns, deadline):
    """Every pattern somewhere on the guest's console (the NICs' leases come in any order)."""
    while True:
        console = guest.console()
        missing = [p for p in patterns if not re.search(p, console, re.MULTILINE)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError('%s: no %r on the console:\n%s' % (guest.name, missing, console[-3000:]))
        time.sleep(1)


def records(state_dir):
    return [] if not os.path.isdir(state_dir) else [e for e in os.listdir(state_dir) if e != '.locks']


@pytest.fixture
def examples(tmp_path):
    """A copy of playbooks/examples with unique NAD and bridge names; returns (dir, renames)."""
    tag = uuid.uuid4().hex[:4]
    renames = {'tenant-a': 'vmntta' + tag, 'storage': 'vmntst' + tag}
    dest = tmp_path / 'examples'
    shutil.copytree(EXAMPLES, str(dest))
    for path in list(dest.glob('*.yml')) + list(dest.glob('manifests/*.yaml')):
        text = path.read_text()
        for old, new in renames.items():
            text = text.replace(old, new)
        path.write_text(text)
    try:
        yield dest, renames
    finally:
        for name in renames.values():
            shutil.rmtree(os.path.join(IPAM_DIR, name), ignore_errors=True)


def name_vm(example_dir, example, domain):
    path = example_dir / 'manifests' / (example + '.yaml')
    path.write_text(re.sub(r'(?m)^  name: .*$', '  name: ' + domain, path.read_text(), count=1))


def test_guide_examples_against_real_guests(examples, podnet, make_domain, tmp_path):
    example_dir, _renames = examples
    common = dict(('vmnet_pod_' + k, v) for k, v in podnet.pod_options().items())
    common.update(vmnet_hosts='localhost', ansible_become=False)
    before = netns_list()
    guests = {}
    for example in RUNNABLE:
        guests[example] = guest = make_domain('vmntex')
        name_vm(example_dir, example, guest.name)
        playbook = str(example_dir / (example + '.yml'))
        first = run_playbook(playbook, common, tmp_path=tmp_path)
        assert first.rc == 0 and first.changed > 0, first.output
        again = run_playbook(playbook, common, tmp_path=tmp_path)
        assert again.rc == 0 and again.changed == 0, again.output

    for guest in guests.values():
        guest.start()
    deadline = time.monotonic() + 180
    for example, patterns in RUNNABLE.items():
        wait_for_all(guests[example], patterns, deadline)

    for example in RUNNABLE:
        switches = {'vmnet_vm_permit_slirp_interface': True} if example == 'slirp' else {}
        gone = run_playbook(str(example_dir / 'remove.yml'), dict(common, example=example, **switches),
                            tmp_path=tmp_path)
        assert gone.rc == 0 and gone.changed > 0, gone.output
    assert records(podnet.state_dir) == []
    assert netns_list() == before


def test_sriov_example_is_valid(examples, tmp_path):
    example_dir, _renames = examples
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '--syntax-check',
                           '-i', 'localhost,', str(example_dir / 'sriov.yml')], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout
    with open(str(example_dir / 'manifests' / 'sriov.yaml')) as handle:
        result = run_module('vm_spec', manifest=handle.read())
    assert not result.get('failed'), result
    assert [i['binding'] for i in result['spec']['interfaces']] == ['masquerade', 'sriov']
