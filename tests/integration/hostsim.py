# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Simulated hypervisors (scripts/hostsim.sh) for the fleet tests: their inventory, playbook
runs through the community.docker.nsenter connection, commands inside a host, client pods made
with the real CNI bridge plugin, and guests defined on a host's own libvirtd."""

import json
import os
import re
import subprocess
import sys
import time

try:
    import libvirt
except ImportError:
    libvirt = None

from conftest import Guest, ROOT, _domain_xml

HOSTSIM = os.path.join(ROOT, 'scripts', 'hostsim.sh')
VENV_BIN = os.path.dirname(sys.executable)
RECAP = re.compile(r'^(\S+)\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', re.MULTILINE)


def hostsim(*args):
    return subprocess.run([HOSTSIM] + list(args), check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60).stdout.strip()


class Host(object):
    """One simulated hypervisor."""

    def __init__(self, name, underlay_ip, underlay_ip6=None):
        self.name, self.underlay_ip, self.underlay_ip6 = name, underlay_ip, underlay_ip6
        hostsim('create', name, underlay_ip + '/24', *([underlay_ip6 + '/64'] if underlay_ip6 else []))
        self.pid = int(hostsim('pid', name))
        self.namespaces = set(os.readlink('/proc/%d/ns/%s' % (self.pid, ns)) for ns in ('net', 'mnt'))
        self.uri = 'qemu+unix:///system?socket=/run/vmnet-hostsim/%s/root/run/libvirt/libvirt-sock' % name
        self._conn = None
        self.servers = []

    def destroy(self):
        for proc in self.servers:
            proc.kill()
            proc.wait()
        if self._conn is not None:
            try:
                self._conn.close()
            except libvirt.libvirtError:
                pass
        # The pods' namespaces too: their processes (dnsmasq) have mount namespaces of their own.
        pods = self.out('sh', '-c', 'for f in /run/netns/*; do [ -e "$f" ] && stat -L -c %i "$f"; done; true')
        self.namespaces.update('net:[%s]' % inode for inode in pods.split())
        hostsim('destroy', self.name)
        self.assert_gone()

    def assert_gone(self):
        """Nothing of the host is left: no process in its namespaces, no directory, not listed."""
        left = []
        for pid in filter(str.isdigit, os.listdir('/proc')):
            try:
                if any(os.readlink('/proc/%s/ns/%s' % (pid, ns)) in self.namespaces for ns in ('net', 'mnt')):
                    left.append(pid)
            except OSError:
                pass
        assert left == [], 'processes of %s left: %s' % (self.name, left)
        assert not os.path.exists('/run/vmnet-hostsim/%s' % self.name)
        assert self.name not in hostsim('list').split()

    def run(self, *argv, check=True, timeout=30, stdin=None):
        return subprocess.run(['nsenter', '-t', str(self.pid), '-m', '-n'] + list(argv), check=check,
                              timeout=timeout, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)

    def out(self, *argv):
        return self.run(*argv, check=False).stdout

    def json(self, *argv):
        return json.loads(self.out(*argv) or '[]')

    def vtysh(self, command):
        return json.loads(self.out('vtysh', '-c', command) or '{}')

    def spawn(self, *argv):
        proc = subprocess.Popen(['nsenter', '-t', str(self.pid), '-m', '-n'] + list(argv),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.servers.append(proc)
        return proc

    # --- pods and guests --------------------------------------------------------------

    def client_pod(self, name, bridge, address, gateway=None, mtu=1500):
        """A pod netns ``name`` on ``bridge`` with a static ``address`` (real CNI bridge plugin)."""
        self._pod_netns(name)
        ipam = {'type': 'static', 'addresses': [dict({'address': address}, **({'gateway': gateway} if gateway else {}))]}
        if gateway:
            ipam['routes'] = [{'dst': '0.0.0.0/0'}]
        conf = {'cniVersion': '1.0.0', 'name': 'vmnt-client', 'type': 'bridge', 'bridge': bridge, 'mtu': mtu,
                'isGateway': bool(gateway), 'ipMasq': False, 'ipam': ipam}
        self._cni_add(name, conf)
        return name

    def default_pod(self, name, conflist='/etc/vmnet/cni/net.d/10-vmnet.conflist'):
        """A pod netns ``name`` on the host's default pod network (its conflist's plugin, its
        host-local IPAM); returns the pod's addresses (CIDRs)."""
        self._pod_netns(name)
        conf = json.loads(self.out('cat', conflist))
        plugin = dict(conf['plugins'][0], cniVersion=conf['cniVersion'], name=conf['name'])
        return [ip['address'] for ip in json.loads(self._cni_add(name, plugin))['ips']]

    def _pod_netns(self, name):
        self.run('ip', 'netns', 'add', name)
        self.run('ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up')

    def _cni_add(self, name, conf):
        return self.run('env', 'CNI_COMMAND=ADD', 'CNI_CONTAINERID=' + name, 'CNI_NETNS=/run/netns/' + name,
                        'CNI_IFNAME=eth0', 'CNI_PATH=/usr/lib/cni', '/usr/lib/cni/bridge', stdin=json.dumps(conf)).stdout

    def pod_run(self, pod, *argv, check=False, timeout=30):
        return self.run('ip', 'netns', 'exec', pod, *argv, check=check, timeout=timeout)

    def http_get(self, pod, address, port=80):
        code = ('import urllib.request,sys; sys.stdout.write(urllib.request.urlopen("http://%s:%d/", timeout=5)'
                '.read().decode())' % (address, port))
        return self.pod_run(pod, 'python3', '-c', code, timeout=20).stdout.strip()

    def tcp_listener(self, pod, port, log, address='0.0.0.0'):
        """A TCP server in ``pod`` on ``address`` that writes the address of every peer to ``log``."""
        code = ('import socket\ns = socket.socket(%s); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n'
                's.bind((%r, %d)); s.listen(8)\nwhile True:\n    c, a = s.accept()\n'
                '    open(%r, "a").write(a[0] + "\\n"); c.close()\n'
                % ('socket.AF_INET6' if ':' in address else '', address, port, log))
        return self.spawn('ip', 'netns', 'exec', pod, 'python3', '-c', code)

    @property
    def conn(self):
        if self._conn is None:
            self._conn = libvirt.open(self.uri)
        return self._conn

    def guest(self, name, image, serial_log, cmdline=''):
        """A TCG test domain (no NIC: the vm role adds them) defined on this host's libvirtd."""
        self.conn.defineXML(_domain_xml(name, image, serial_log, '', 1, True, cmdline))
        return Guest(self.conn, name, serial_log)


def inventory(path, hosts, **host_vars):
    """An inventory of ``hosts`` reached with community.docker.nsenter; ``host_vars`` by host name."""
    lines = ['all:', '  vars:', '    ansible_connection: community.docker.nsenter',
             '    ansible_python_interpreter: /usr/bin/python3', '  hosts:']
    for host in hosts:
        extra = dict(host_vars.get(host.name, {}), ansible_nsenter_pid=host.pid)
        lines.append('    %s: %s' % (host.name, json.dumps(extra)))
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    return path


def playbook(inventory_path, play_path, *extra_args, timeout=300):
    """ansible-playbook; returns (proc, {host: (ok, changed, unreachable, failed)}, seconds)."""
    env = dict(os.environ, PATH='%s:%s:/usr/sbin:/sbin' % (VENV_BIN, os.environ.get('PATH', '')),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.build', 'collections'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0')
    env.pop('PYTHONPATH', None)
    started = time.monotonic()
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory_path, play_path]
                          + list(extra_args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, env=env, timeout=timeout, cwd=ROOT, check=False)
    recap = dict((m.group(1), tuple(int(m.group(i)) for i in range(2, 6))) for m in RECAP.finditer(proc.stdout))
    return proc, recap, time.monotonic() - started
