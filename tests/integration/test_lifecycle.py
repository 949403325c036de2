# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's network across the host's life: reboots, libvirtd restarts, two runs at once, hot-plug.
(A module killed half-way: test_faults.py.)"""

import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import unique_name
from modules import COLLECTIONS, ROOT
from podnet import CNI_BIN, ip_json, netns_run, pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import names

DNS = ['10.96.0.10']


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


LIBVIRTD_PIDFILE = '/run/vmnet-test/libvirtd.pid'   # scripts/libvirtd.sh's
HOOKS_DIR = '/etc/libvirt/hooks/qemu.d'


def _alive(pid):
    try:
        with open('/proc/%d/status' % pid) as handle:
            return 'State:\tZ' not in handle.read()
    except OSError:
        return False


def script_libvirtd_pid():
    """The PID of the libvirtd that scripts/libvirtd.sh started, or None (then it is not
    ours to restart: a distribution's libvirtd, say)."""
    try:
        with open(LIBVIRTD_PIDFILE) as handle:
            pid = int(handle.read().strip())
        with open('/proc/%d/comm' % pid) as handle:
            return pid if handle.read().strip() == 'libvirtd' and _alive(pid) else None
    except (OSError, ValueError):
        return None


def restart_libvirtd(conn):
    """Restart the libvirtd scripts/libvirtd.sh started (that one only, by its PID; virtlogd
    and the guests stay), and prove it restarted: it answers under a new PID."""
    before = script_libvirtd_pid()
    if before is None:
        pytest.skip('libvirtd was not started by scripts/libvirtd.sh (%s): not ours to restart' % LIBVIRTD_PIDFILE)
    os.kill(before, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(before):
        assert time.monotonic() < deadline, 'libvirtd (pid %d) did not stop' % before
        time.sleep(0.1)
    subprocess.run(['bash', os.path.join(ROOT, 'scripts', 'libvirtd.sh'), 'start'], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    after = script_libvirtd_pid()
    assert after is not None and after != before, (before, after)
    conn.reconnect()
    return after


@pytest.fixture
def libvirt_hook(tmp_path, podnet, libvirt_conn):
    """``libvirt_hook(domain)``: the host role installs vmnet's re-plumbing hook (run by the
    distribution's Python and pyroute2) into the test's own hooks directory, with the test's
    own state, CNI and NAD dirs; libvirt reaches it through a one-line hook of this run in
    /etc/libvirt/hooks/qemu.d that acts for ``domain`` only and does nothing once the test's
    directory is gone (a run killed before its teardown leaves an inert hook, which the
    leftover check reports). vmnet's own hook, if the host has it, is left alone. libvirtd
    restarts to read the hooks directory; everything is undone at teardown."""
    hooks = tmp_path / 'hooks'
    playbook = tmp_path / 'hook.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'gather_facts': False,
        'roles': [{'role': 'vmnet.networks.host', 'vars': {
            'vmnet_host_install_packages': False, 'vmnet_host_state_dir': podnet.state_dir,
            'vmnet_host_cni_conf_dir': podnet.conf_dir, 'vmnet_host_lib_dir': str(tmp_path / 'lib'),
            'vmnet_host_hook_python': '/usr/bin/python3', 'vmnet_host_libvirt_hooks_dir': str(hooks),
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
    assert proc.returncode == 0, proc.stdout
    target = hooks / 'qemu.d' / '50-vmnet'
    assert os.access(str(target), os.X_OK)
    made_dirs = [d for d in (os.path.dirname(HOOKS_DIR), HOOKS_DIR) if not os.path.isdir(d)]
    installed = []

    def install(domain):
        for directory in made_dirs:
            os.mkdir(directory, 0o755)
        wrapper = os.path.join(HOOKS_DIR, '50-' + unique_name('vmnt'))
        with open(wrapper, 'w') as handle:
            handle.write('#!/bin/sh\n# vmnet test hook (tests/integration/test_lifecycle.py), inert once its test is gone\n'
                         '[ "$1" = %s ] && [ -x %s ] || exit 0\nexec %s "$@"\n'
                         % (shlex.quote(domain), shlex.quote(str(target)), shlex.quote(str(target))))
        os.chmod(wrapper, 0o755)
        installed.append(wrapper)
        restart_libvirtd(libvirt_conn)

    try:
        yield install
    finally:
        for wrapper in installed:
            os.unlink(wrapper)
        for directory in reversed(made_dirs):
            if os.path.isdir(directory):
                os.rmdir(directory)
        if installed:
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
    libvirt_hook(guest.name)
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


def test_a_run_waits_for_the_vm_lock(podnet, make_domain):
    """The lock, deterministically: while the test holds the VM's lock, vm_interface waits
    (it has changed nothing after seconds); released, it finishes; a second run then finds
    nothing to do."""
    guest = make_domain('vmntlock')
    vm = guest.name
    pod_module(podnet, 'vm_network', manifest(vm), vm=vm, name='default')
    lock_path = os.path.join(podnet.state_dir, '.locks', names.pod_id('default', vm) + '.lock')
    interfaces = os.path.join(podnet.state_dir, names.pod_id('default', vm), 'interfaces')
    results = []
    with open(lock_path, 'r+') as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        runner = threading.Thread(target=lambda: results.append(
            pod_module(podnet, 'vm_interface', manifest(vm), vm=vm, name='default', dns_servers=DNS)))
        runner.start()
        runner.join(timeout=4)   # the module needs ~1 s when it is not kept waiting
        assert runner.is_alive() and results == [], results
        assert not os.path.exists(interfaces) and _owned_links(vm) == []
    runner.join(timeout=60)
    assert not runner.is_alive()
    assert not results[0].get('failed') and results[0]['changed'], results
    with open(os.path.join(interfaces, 'default.json')) as handle:
        assert json.load(handle)['interface'] == 'default'
    again = pod_module(podnet, 'vm_interface', manifest(vm), vm=vm, name='default', dns_servers=DNS)
    assert (again['changed'], again['actions']) == (False, []), again
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

    def red_links():
        return [l['ifname'] for l in ip_json('link') if l.get('ifalias') == names.owner_alias('default', vm, 'red')]

    assert len(red_links()) == 2    # the glue of "red": a tap and a veth
    unplugged = json.loads(json.dumps(plugged))
    unplugged['spec']['template']['spec']['domain']['devices']['interfaces'][1]['state'] = 'absent'
    gone = pod_module(podnet, 'vm_interface', unplugged, vm=vm, name='red')
    assert 'hot-unplug "ua-red"' in gone['actions'], gone
    guest.wait_for(r'^VMNET-NIC-GONE if=eth1', timeout=30)
    assert not pod_module(podnet, 'vm_network', unplugged, vm=vm, name='red', state='absent').get('failed')
    pod_links = [l['ifname'] for l in ip_json('-n', names.pod_netns('default', vm), 'link')]
    assert not [n for n in pod_links if pod_iface[3:] in n], pod_links
    # the owner alias names the interface: no host link of "red" is left, the primary's are
    assert red_links() == [] and len(_owned_links(vm)) == 2, _owned_links(vm)
    assert 'ua-red' not in guest.domain.XMLDesc(0)
    # the primary carries on
    again = pod_module(podnet, 'vm_interface', primary, vm=vm, name='default', dns_servers=DNS)
    assert (again['changed'], again['actions']) == (False, []), again
    apply(podnet, vm, state='absent')


def test_a_foreign_link_with_a_colliding_name_survives(podnet, make_domain):
    """A host link named as the glue's tap but without vmnet's owner alias is not vmnet's:
    vm_interface refuses, naming it, and neither it nor ``state: absent`` touches it."""
    guest = make_domain('vmntforeign')
    vm = guest.name
    net = pod_module(podnet, 'vm_network', manifest(vm), vm=vm, name='default')
    tap = names.host_links(net['netns'], names.PRIMARY_POD_IFACE)[0]
    subprocess.run(['ip', 'tuntap', 'add', tap, 'mode', 'tap'], check=True)
    try:
        before = ip_json('-d', 'link', 'show', tap)[0]
        refused = pod_module(podnet, 'vm_interface', manifest(vm), vm=vm, name='default', dns_servers=DNS)
        assert refused.get('failed') and tap in refused['msg'] and 'not owned by vmnet' in refused['msg'], refused
        gone = pod_module(podnet, 'vm_interface', manifest(vm), vm=vm, name='default', state='absent')
        assert not gone.get('failed'), gone
        after = ip_json('-d', 'link', 'show', tap)[0]
        assert (after['ifindex'], after.get('ifalias'), after['flags']) == (
            before['ifindex'], before.get('ifalias'), before['flags'])
    finally:
        subprocess.run(['ip', 'link', 'del', tap], check=False)
    pod_module(podnet, 'vm_network', manifest(vm), vm=vm, name='default', state='absent')
