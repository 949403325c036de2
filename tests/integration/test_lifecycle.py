# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's network across the host's life: reboots, libvirtd restarts, two runs at once, hot-plug.
(A module killed half-way: test_faults.py.)"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from modules import COLLECTIONS, ROOT, run_module
from podnet import CNI_BIN, ip_json, netns_run, pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import names

DNS = ['10.96.0.10']
HOOK = '/etc/libvirt/hooks/qemu.d/50-vmnet'


def manifest(name):
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [{'name': 'default', 'bridge': {}}]}},
                                           'networks': [{'name': 'default', 'pod': {}}]}}}}


def apply(podnet, vm, state='present'):
    steps = [('vm_network', {}), ('vm_interface', {'dns_servers': DNS})]
    if state == 'absent':
        steps.reverse()
    results = [pod_module(podnet, module, manifest(vm), vm=vm, name='default', state=state, **extra)
               for module, extra in steps]
    for result in results:
        assert not result.get('failed'), result
    return results


def restart_libvirtd(conn):
    for command in ('stop', 'start'):
        subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'libvirtd.sh'), command], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    conn.reconnect()


@pytest.fixture
def libvirt_hook(tmp_path, podnet, libvirt_conn):
    """The host role installs the re-plumbing hook (run by the distribution's Python and
    pyroute2), then libvirtd restarts to read it; both are undone at teardown."""
    if os.path.exists(HOOK):
        pytest.fail('%s exists already: not ours to replace' % HOOK)
    made_dirs = [d for d in (os.path.dirname(os.path.dirname(HOOK)), os.path.dirname(HOOK)) if not os.path.isdir(d)]
    playbook = tmp_path / 'hook.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'gather_facts': False,
        'roles': [{'role': 'vmnet.networks.host', 'vars': {
            'vmnet_host_install_packages': False, 'vmnet_host_state_dir': podnet.state_dir,
            'vmnet_host_cni_conf_dir': podnet.conf_dir, 'vmnet_host_lib_dir': str(tmp_path / 'lib'),
            'vmnet_host_hook_python': '/usr/bin/python3',
            # the hook's own configuration: everything it uses is the test's
            'vmnet_host_hook_config': str(tmp_path / 'hook.json'), 'vmnet_host_cni_bin_dirs': CNI_BIN,
            'vmnet_host_node_netns': podnet.node, 'vmnet_host_nad_dir': podnet.nad_dir,
            'vmnet_host_nad_policy_file': podnet.nad_policy_file,
            'vmnet_host_nad_policy': {'ipam_data_dirs': [podnet.ipam_dir]},
            'vmnet_host_sriov_pools_file': str(tmp_path / 'pools.json')}}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                           '-c', 'local', '-e', 'ansible_python_interpreter=/usr/bin/python3', str(playbook)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                          check=False)
    try:
        assert proc.returncode == 0, proc.stdout
        restart_libvirtd(libvirt_conn)
        yield
    finally:
        if os.path.exists(HOOK):
            os.unlink(HOOK)
        for directory in reversed(made_dirs):
            os.rmdir(directory)
        restart_libvirtd(libvirt_conn)


def forget_host(vm, state_dir):
    """What a host reboot takes away: the pod namespace, the host links, dnsmasq."""
    with open(os.path.join(state_dir, names.pod_id('default', vm), 'dnsmasq.pid')) as handle:
        os.kill(int(handle.read()), signal.SIGTERM)
    for link in ip_json('link'):
        if (link.get('ifalias') or '').startswith(names.owner_alias('default', vm, '')):
            subprocess.run(['ip', 'link', 'del', link['ifname']], check=True)
    subprocess.run(['ip', 'netns', 'del', names.pod_netns('default', vm)], check=True)


def test_reboot_and_libvirtd_restart(podnet, make_domain, libvirt_conn, libvirt_hook):
    guest = make_domain('vmntboot')
    net, _iface = apply(podnet, guest.name)
    pod_ip = net['pod_interface']['ips'][0].split('/')[0]
    guest.start()
    guest.wait_for(r'^VMNET-LEASE .* ip=%s ' % pod_ip.replace('.', r'\.'), timeout=90)
    client, _client_ip = podnet.client()
    assert netns_run(client, 'busybox', 'ping', '-c', '2', '-W', '3', pod_ip, check=False).returncode == 0

    # libvirtd restarts under a running VM: its network goes on
    restart_libvirtd(libvirt_conn)
    assert netns_run(client, 'busybox', 'ping', '-c', '2', '-W', '3', pod_ip, check=False).returncode == 0

    # a host reboot: the domain stops, the pod and its host links and dnsmasq are gone
    guest.domain.destroy()
    forget_host(guest.name, podnet.state_dir)
    assert names.pod_netns('default', guest.name) not in subprocess.run(['ip', 'netns', 'list'],
                                                                        stdout=subprocess.PIPE,
                                                                        universal_newlines=True, check=False).stdout
    # starting the domain (virsh start) brings its network back through the hook
    guest.start()
    guest.wait_for(r'^VMNET-LEASE .* ip=%s ' % pod_ip.replace('.', r'\.'), timeout=90)
    guest.wait_for(r'^VMNET-PING if=eth0 dst=%s ok' % podnet.gateway.replace('.', r'\.'), timeout=30)
    assert netns_run(client, 'busybox', 'ping', '-c', '2', '-W', '3', pod_ip, check=False).returncode == 0
    # and the records still describe the host: the playbook finds nothing to do
    _net, iface = apply(podnet, guest.name)
    assert (iface['changed'], iface['actions']) == (False, [])
    apply(podnet, guest.name, state='absent')


def _owned_links(vm):
    return sorted(l['ifname'] for l in ip_json('link') if (l.get('ifalias') or '').startswith(names.owner_alias('default', vm, '')))


def test_two_runs_at_once_do_not_corrupt_state(podnet, make_domain):
    guest = make_domain('vmntconc')
    vm = guest.name
    pod_module(podnet, 'vm_network', manifest(vm), vm=vm, name='default')
    results = []

    def run():
        results.append(pod_module(podnet, 'vm_interface', manifest(vm), vm=vm, name='default', dns_servers=DNS))

    threads = [threading.Thread(target=run) for _index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.get('failed', False) for r in results] == [False, False], results
    assert sorted(r['changed'] for r in results) == [False, True]   # the second waited, then found it done
    with open(os.path.join(podnet.state_dir, names.pod_id('default', vm), 'interfaces', 'default.json')) as handle:
        assert json.load(handle)['interface'] == 'default'
    apply(podnet, vm, state='absent')


def test_hot_plug_and_unplug_a_secondary_interface(podnet, make_domain):
    """A bridge interface on a NAD added to a running VM's manifest is plugged live (pod side
    first, then the domain) and gets its lease; ``state: absent`` unplugs it from guest and
    host, the primary untouched."""
    podnet.write_nad('br40', {'cniVersion': '1.0.0', 'name': 'vmnt-br40', 'type': 'bridge', 'bridge': 'br40',
                              'ipam': {'type': 'host-local', 'subnet': '10.250.40.0/24', 'dataDir': podnet.ipam_dir}})
    guest = make_domain('vmnthot')
    vm = guest.name
    primary = manifest(vm)
    apply(podnet, vm)
    guest.start()
    guest.wait_for(r'^VMNET-LEASE if=eth0 ', timeout=90)

    plugged = json.loads(json.dumps(primary))
    template = plugged['spec']['template']['spec']
    template['domain']['devices']['interfaces'].append({'name': 'red', 'bridge': {}})
    template['networks'].append({'name': 'red', 'multus': {'networkName': 'br40'}})
    net = pod_module(podnet, 'vm_network', plugged, vm=vm, name='red')
    iface = pod_module(podnet, 'vm_interface', plugged, vm=vm, name='red', dns_servers=DNS)
    assert not net.get('failed') and not iface.get('failed'), (net, iface)
    assert 'attach and hot-plug "ua-red"' in iface['actions'], iface
    red_ip = net['pod_interface']['ips'][0]
    lease = guest.wait_for(r'^VMNET-LEASE if=eth1 .*$', timeout=60).group(0)
    assert ' ip=%s mask=%s ' % tuple(red_ip.split('/')) in lease
    pod_iface = names.pod_iface('red', primary=False)
    assert iface['interface']['podInterfaceName'] == pod_iface

    unplugged = json.loads(json.dumps(plugged))
    unplugged['spec']['template']['spec']['domain']['devices']['interfaces'][1]['state'] = 'absent'
    gone = pod_module(podnet, 'vm_interface', unplugged, vm=vm, name='red')
    assert 'hot-unplug "ua-red"' in gone['actions'], gone
    guest.wait_for(r'^VMNET-NIC-GONE if=eth1', timeout=30)
    assert not pod_module(podnet, 'vm_network', unplugged, vm=vm, name='red', state='absent').get('failed')
    pod_links = [l['ifname'] for l in ip_json('-n', names.pod_netns('default', vm), 'link')]
    assert not [n for n in pod_links if pod_iface[3:] in n], pod_links
    assert [l for l in _owned_links(vm) if 'red' in l] == []
    assert 'ua-red' not in guest.domain.XMLDesc(0)
    # the primary carries on
    again = pod_module(podnet, 'vm_interface', primary, vm=vm, name='default', dns_servers=DNS)
    assert (again['changed'], again['actions']) == (False, []), again
    apply(podnet, vm, state='absent')
