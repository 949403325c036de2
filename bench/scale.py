# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet scale: N VMs (a bridge interface on the pod network, domains defined but not
started) converged as users run it, three ways: the ``vm`` role looped over the VMs in one
playbook (``include_role``), the role's ``list`` entry point (``vmnet_vm_list``, one task),
and the ``vmnet.networks.vm`` module's many-VM form (``vms:``) in one task. Seconds per VM of
the apply, the no-op re-run and the removal (``state: absent``), the pod's dnsmasq RSS, and the
library's own no-op (``converge.converge`` in-process), against the goals of issue 11.

Every figure is the playbook's whole run divided by N, on Ansible's defaults (no pipelining),
so the per-VM figures include ``ansible-playbook``'s own start, which is measured too (a
one-task playbook). Extra line: the role's no-op with ``ANSIBLE_PIPELINING=True`` (the module
is fed to Python on stdin instead of being written to a temporary file; AWX users can enable
it).

N is ``VMNET_BENCH_SCALE`` (comma-separated, default ``10,50``). Everything is named
``vmnb*``: the node netns, the domains (undefined at the end), state in a temp dir.
"""

import json
import os
import subprocess
import sys
import time

from ansible_collections.vmnet.networks.plugins.module_utils import converge, names
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink

from _netns import PREFIX, Ledger, kill_pidfile, median, tag, timed, warn
from plumb_time import CNI_BIN, PodNetwork

try:
    import libvirt
except ImportError:  # reported by run()
    libvirt = None

URI = 'qemu:///system'
SIZES = tuple(int(n) for n in os.environ.get('VMNET_BENCH_SCALE', '10,50').split(','))
LIBRARY_RUNS = 5
GOALS = {'role no-op': 0.3, 'role apply': 1.0, 'list no-op': 0.1, 'many no-op': 0.1, 'flat': 1.2,
         'library no-op': 0.050}
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.build', 'collections')

ROLE_PLAYBOOK = '''- hosts: localhost
  gather_facts: false
  tasks:
    - name: Each VM through the vm role
      ansible.builtin.include_role:
        name: vmnet.networks.vm
      vars:
        vmnet_vm_manifest: "{{ item }}"
        vmnet_vm_state: "{{ bench_state }}"
      loop: "{{ bench_manifests }}"
'''
LIST_PLAYBOOK = '''- hosts: localhost
  gather_facts: false
  tasks:
    - name: Every VM through the vm role's list entry point
      ansible.builtin.include_role:
        name: vmnet.networks.vm
        tasks_from: list
      vars:
        vmnet_vm_list: "{{ bench_vms }}"
'''
# The floor of the looped shape: a role whose only task is a module that does nothing. Any
# role looped once per VM pays at least this (a worker fork, the connection's temp files, a
# Python with AnsiballZ and ansible.module_utils.basic) before the vm module does any work.
FLOOR_ROLE = '''- name: Do nothing, in a module
  ansible.builtin.ping:
'''
FLOOR_PLAYBOOK = ROLE_PLAYBOOK.replace('the vm role', 'a one-ping role').replace('vmnet.networks.vm', 'floor')
START_PLAYBOOK = '''- hosts: localhost
  gather_facts: false
  tasks:
    - name: One task, for ansible-playbook's own start
      ansible.builtin.debug:
        msg: start
'''
MANY_PLAYBOOK = '''- hosts: localhost
  gather_facts: false
  tasks:
    - name: Every VM in one task
      vmnet.networks.vm:
        vms: "{{ bench_vms }}"
        state_dir: "{{ vmnet_pod_state_dir }}"
        cni_conf_dir: "{{ vmnet_pod_cni_conf_dir }}"
        cni_bin_dir: "{{ vmnet_pod_cni_bin_dir }}"
        node_netns: "{{ vmnet_pod_node_netns }}"
        dns_servers: "{{ vmnet_pod_dns_servers }}"
'''
DOMAIN = ("<domain type='qemu'><name>%s</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
          "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices/></domain>")


def manifest(name):
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [{'name': 'default', 'bridge': {}}]}},
                                           'networks': [{'name': 'default', 'pod': {}}]}}}}


class Fleet(object):
    """N defined domains, their manifests and the playbooks' files."""

    def __init__(self, ledger, net, size):
        self.net, self.size = net, size
        self.root = ledger.tempdir()
        self.vms = ['%s-%s-%02d' % (PREFIX, tag(), i) for i in range(size)]
        conn = libvirt.open(URI)
        ledger.defer('libvirt connection', conn.close)
        for vm in self.vms:
            ledger.defer('domain ' + vm, lambda vm=vm: undefine(conn, vm))
            ledger.defer('leftovers of ' + vm, lambda vm=vm: leftovers(net, vm))
            conn.defineXML(DOMAIN % vm)
        self.options = {'vmnet_pod_state_dir': net.state_dir, 'vmnet_pod_cni_conf_dir': net.conf_dir,
                        'vmnet_pod_cni_bin_dir': CNI_BIN, 'vmnet_pod_node_netns': net.node,
                        'vmnet_pod_dns_servers': ['10.96.0.10']}
        with open(os.path.join(self.root, 'hosts'), 'w') as handle:
            handle.write('localhost ansible_connection=local ansible_python_interpreter=%s\n' % sys.executable)
        os.makedirs(os.path.join(self.root, 'roles', 'floor', 'tasks'))
        for name, text in (('role.yml', ROLE_PLAYBOOK), ('list.yml', LIST_PLAYBOOK), ('many.yml', MANY_PLAYBOOK),
                           ('start.yml', START_PLAYBOOK), ('floor.yml', FLOOR_PLAYBOOK),
                           ('roles/floor/tasks/main.yml', FLOOR_ROLE)):
            with open(os.path.join(self.root, name), 'w') as handle:
                handle.write(text)

    def playbook(self, name, state, pipelining=False):
        variables = dict(self.options, bench_state=state, bench_manifests=[manifest(vm) for vm in self.vms],
                         bench_vms=[{'manifest': manifest(vm), 'state': state} for vm in self.vms])
        path = os.path.join(self.root, 'vars-%s.json' % state)
        with open(path, 'w') as handle:
            json.dump(variables, handle)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_ROLES_PATH=os.path.join(self.root, 'roles'), ANSIBLE_HOST_KEY_CHECKING='False',
                   ANSIBLE_RETRY_FILES_ENABLED='False', PATH=BIN + os.pathsep + os.environ.get('PATH', ''),
                   ANSIBLE_PIPELINING=str(pipelining))
        proc = subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', os.path.join(self.root, 'hosts'),
                               '-e', '@' + path, os.path.join(self.root, name)], env=env, cwd=self.root,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=1800,
                              check=False)
        if proc.returncode != 0:
            raise RuntimeError('%s (%s) failed:\n%s' % (name, state, proc.stdout[-3000:]))
        recap = [line for line in proc.stdout.splitlines() if 'changed=' in line][-1]
        return int(recap.split('changed=')[1].split()[0])

    def timed_playbook(self, name, state, want_changed, pipelining=False):
        seconds, changed = timed(self.playbook, name, state, pipelining)
        if bool(changed) != want_changed:
            warn('%s %s with N=%d: changed=%d' % (name, state, self.size, changed))
        return seconds / self.size

    def dnsmasq_rss(self):
        """Median VmRSS (MiB) of the pods' dnsmasq."""
        sizes = []
        for vm in self.vms:
            pidfile = os.path.join(self.net.state_dir, names.pod_id('default', vm), 'dnsmasq.pid')
            try:
                with open(pidfile) as handle:
                    pid = int(handle.read())
                with open('/proc/%d/status' % pid) as handle:
                    sizes += [int(l.split()[1]) / 1024.0 for l in handle if l.startswith('VmRSS:')]
            except (OSError, ValueError):
                pass
        return median(sizes) if sizes else float('nan')

    def library_noop(self):
        """Seconds of one VM's no-op converge in-process (admission included), median."""
        host = converge.Host(state_dir=self.net.state_dir, cni_conf_dir=self.net.conf_dir, cni_bin_dirs=CNI_BIN,
                             node_netns=self.net.node, uri=URI, dns=(['10.96.0.10'], ['cluster.local']))
        times = []
        for _run in range(LIBRARY_RUNS):
            seconds, result = timed(lambda: converge.converge(host, converge.admit(manifest(self.vms[0]), {}), {}))
            if result['changed']:
                warn('library no-op changed: %s' % result['actions'])
            times.append(seconds)
        return median(times)


def undefine(conn, vm):
    try:
        conn.lookupByName(vm).undefine()
    except libvirt.libvirtError:
        pass


def leftovers(net, vm):
    """What a failed run left of a VM: its dnsmasq, its host links, its pod."""
    kill_pidfile(os.path.join(net.state_dir, names.pod_id('default', vm), 'dnsmasq.pid'), 'dnsmasq')
    owned = '%sdefault/%s/' % (names.OWNER_ALIAS_PREFIX, vm)
    with netlink.Namespace() as host:
        for ifname in host.link_names():
            link = host.link(ifname)
            if link and (link['alias'] or '').startswith(owned):
                host.delete(ifname)
    if netlink.netns_exists(names.pod_netns('default', vm)):
        netlink.remove_netns(names.pod_netns('default', vm))


def measure(net, size):
    row = {}
    with Ledger() as ledger:
        fleet = Fleet(ledger, net, size)
        row['role apply'] = fleet.timed_playbook('role.yml', 'present', True)
        row['rss'] = fleet.dnsmasq_rss()
        row['role no-op'] = fleet.timed_playbook('role.yml', 'present', False)
        row['floor'] = fleet.timed_playbook('floor.yml', 'present', False)
        row['role no-op piped'] = fleet.timed_playbook('role.yml', 'present', False, pipelining=True)
        row['role absent'] = fleet.timed_playbook('role.yml', 'absent', True)
        row['list apply'] = fleet.timed_playbook('list.yml', 'present', True)
        row['list no-op'] = fleet.timed_playbook('list.yml', 'present', False)
        row['list absent'] = fleet.timed_playbook('list.yml', 'absent', True)
        row['many apply'] = fleet.timed_playbook('many.yml', 'present', True)
        row['many no-op'] = fleet.timed_playbook('many.yml', 'present', False)
        row['library no-op'] = fleet.library_noop()
        row['many absent'] = fleet.timed_playbook('many.yml', 'absent', True)
        row['start'] = timed(fleet.playbook, 'start.yml', 'present')[0]
    return row


def run():
    if libvirt is None:
        return 'Scale: skipped (no libvirt-python)\n'
    rows = {}
    with Ledger() as ledger:
        net = PodNetwork(ledger)
        for size in SIZES:
            rows[size] = measure(net, size)
    return report(rows)


def report(rows):
    sizes = sorted(rows)
    forms = ('role', 'list', 'many')
    lines = ['Scale: N VMs (bridge on the pod network, domains defined, not started), seconds per VM (the whole '
             'playbook / N, Ansible defaults); role = the vm role looped (include_role), list = the role\'s list '
             'entry point (one task), many = vmnet.networks.vm vms: (one task)', '']
    columns = ['%s %s' % (form, what) for form in forms for what in ('apply', 'no-op', 'absent')]
    header = '%-5s| ' % 'N' + '| '.join('%-12s' % column for column in columns)
    header += '| %-13s| %s' % ('lib no-op ms', 'dnsmasq RSS MiB')
    lines += [header, '-' * len(header)]
    for size in sizes:
        r = rows[size]
        cells = '| '.join('%-12.3f' % r[column] for column in columns)
        lines.append('%-5d| %s| %-13.1f| %.2f' % (size, cells, r['library no-op'] * 1e3, r['rss']))
    big, small = rows[sizes[-1]], rows[sizes[0]]
    lines += ['', 'Goals (ratio = measured / goal, <= 1 meets it; N=%d unless said):' % sizes[-1]]
    for key in ('role no-op', 'role apply', 'list no-op', 'many no-op', 'library no-op'):
        lines.append('  %-14s %.3f s per VM, goal %.3f: ratio %.2f%s' % (
            key, big[key], GOALS[key], big[key] / GOALS[key], '' if key != 'list no-op' else ' (the many-VM goal)'))
    for key in ('role apply', 'role no-op', 'list no-op', 'many no-op'):
        flat = big[key] / small[key]
        lines.append('  %-14s per-VM cost N=%d / N=%d: %.2f (goal <= %.1f)' % (key, sizes[-1], sizes[0], flat, GOALS['flat']))
    lines.append('  role no-op / list no-op: %.1fx; role no-op / many no-op: %.1fx' % (
        big['role no-op'] / big['list no-op'], big['role no-op'] / big['many no-op']))
    lines.append('  floor of the looped shape (a role whose one task is ansible.builtin.ping, same loop): %.3f s per VM '
                 '= %.2f of the role no-op goal; the vm role\'s no-op above that floor: %.3f s per VM' % (
                     big['floor'], big['floor'] / GOALS['role no-op'], big['role no-op'] - big['floor']))
    lines += ['', 'Not on defaults (extra lines):']
    for size in sizes:
        r = rows[size]
        lines.append('  N=%-3d role no-op with ANSIBLE_PIPELINING=True: %.3f s per VM (%.2f of the defaults\' %.3f); '
                     'ansible-playbook start (one task): %.2f s, role no-op without it: %.3f s per VM' % (
                         size, r['role no-op piped'], r['role no-op piped'] / r['role no-op'], r['role no-op'],
                         r['start'], r['role no-op'] - r['start'] / size))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    start = time.time()
    print(run())
    print('(%.0f s)' % (time.time() - start))
