# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_interface_info's topology, pictures and JMESPath query, on a VM the vm role plumbed for
real: masquerade on the pod network, bridge on a Multus network, a second Multus interface
whose link is down."""

import os
import shutil
import subprocess
import uuid

import pytest

from modules import run_module
from playbooks import run_playbook

IPAM_DIR = '/var/lib/cni/networks'
PICTURE_DIR = os.environ.get('VMNET_TOPOLOGY_PICTURE_DIR')   # set to keep the pictures (README)


@pytest.fixture
def nad_names():
    tag = uuid.uuid4().hex[:4]
    names = ['vmntred' + tag, 'vmntblu' + tag]
    try:
        yield names
    finally:
        for name in names:
            shutil.rmtree(os.path.join(IPAM_DIR, name), ignore_errors=True)


def manifest(vm, red, blue):
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': vm},
            'spec': {'template': {'spec': {
                'domain': {'devices': {'interfaces': [
                    {'name': 'default', 'masquerade': {}},
                    {'name': 'red', 'bridge': {}},
                    {'name': 'blue', 'bridge': {}, 'state': 'down'}]}},
                'networks': [{'name': 'default', 'pod': {}},
                             {'name': 'red', 'multus': {'networkName': red}},
                             {'name': 'blue', 'multus': {'networkName': blue}}]}}}}


def test_topology_pictures_and_query(podnet, make_domain, nad_names, tmp_path):
    red, blue = nad_names
    for index, name in enumerate(nad_names):
        ipam = {'type': 'host-local', 'subnet': '10.251.%d.0/24' % index}
        podnet.write_nad(name, {'cniVersion': '0.3.1', 'name': name,
                                'plugins': [{'type': 'bridge', 'bridge': 'br-' + name, 'ipam': ipam}]})
    guest = make_domain('vmnttopo')
    options = dict(('vmnet_pod_' + k, v) for k, v in podnet.pod_options().items())
    playbook = tmp_path / 'vm.yml'
    playbook.write_text('- hosts: localhost\n  gather_facts: false\n  roles: [vmnet.networks.vm]\n')
    run = run_playbook(str(playbook), dict(options, vmnet_vm_manifest=manifest(guest.name, red, blue)),
                       tmp_path=tmp_path)
    assert run.rc == 0, run.output

    result = run_module('vm_interface_info', vm=guest.name, state_dir=podnet.state_dir,
                        render=['dot', 'mermaid', 'svg'], query="interfaces[?linkState=='down'].name")
    assert not result.get('failed'), result
    assert result['query_result'] == ['blue']
    topo = result['topology']
    pod_links = dict((l['name'], l) for l in topo['pod']['links'])
    assert pod_links['k6t-eth0']['addresses'] == ['10.0.2.1/24', 'fd10:0:2::1/120'] or \
        '10.0.2.1/24' in pod_links['k6t-eth0']['addresses']
    assert 'ip nat' in topo['pod']['nftTables'] or any(t.endswith(' nat') for t in topo['pod']['nftTables'])
    assert sorted(n['alias'] for n in topo['nics']) == ['ua-blue', 'ua-default', 'ua-red']
    edges = set((e['from'].split(':')[0], e['to'].split(':')[0], e['kind']) for e in topo['edges'])
    assert {('nic', 'host', 'tap'), ('host', 'host', 'redirect'), ('host', 'pod', 'veth'), ('pod', 'pod', 'port'),
            ('node', 'pod', 'cni')} <= edges
    assert len([e for e in topo['edges'] if e['kind'] == 'tap']) == 3
    # every glue's host tap is the target of its NIC and carries the VM's alias
    for link in topo['host']['links']:
        assert link['alias'].startswith('vmnet:')

    pictures = result['rendered']
    assert pictures['mermaid'].startswith('flowchart LR')
    assert pictures['svg'].lstrip().startswith('<?xml') and '</svg>' in pictures['svg']
    check = subprocess.run(['dot', '-Tplain'], input=pictures['dot'], universal_newlines=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert check.returncode == 0, check.stderr
    if PICTURE_DIR:
        for kind, text in pictures.items():
            with open(os.path.join(PICTURE_DIR, 'topology.' + {'mermaid': 'mmd'}.get(kind, kind)), 'w') as handle:
                handle.write(text.replace(guest.name, 'my-vm'))

    bad = run_module('vm_interface_info', vm=guest.name, state_dir=podnet.state_dir, query='interfaces[?')
    assert bad['failed'] and bad['msg'].startswith('query: not a valid JMESPath expression')

    gone = run_playbook(str(playbook), dict(options, vmnet_vm_manifest=manifest(guest.name, red, blue),
                                            vmnet_vm_state='absent'), tmp_path=tmp_path)
    assert gone.rc == 0, gone.output
