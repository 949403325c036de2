# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for one passt process: started in a pod, supervised like the pod's dnsmasq.

passt (Debian's ``passt`` package) runs in the pod's network namespace, so it takes the pod
interface's addresses, prefix, gateway and routes and gives them to the guest over its own
DHCP, DHCPv6 and NDP; the guest's QEMU connects to its UNIX socket (``-netdev stream``).
Each process has, for the interface ``<name>`` of the VM:

    <state_dir>/<vm>/passt-<name>.pid   its PID (written by passt)
    <state_dir>/<vm>/passt-<name>.log   its log (and .stderr: what it said before it opened it)
    <state_dir>/<vm>/passt-<name>.args  the arguments it was started with
    /run/vmnet/passt/<hash>.sock        its socket: a short path (sun_path holds 108 bytes),
                                        on a tmpfs that a reboot empties, like the process

A running process is ours when the PID file names a live process whose command line is
passt's with our socket path. passt drops every capability and isolates itself in
namespaces of its own; ``--runas 0:0`` keeps the root UID (without capabilities) so that it
can create its socket and PID file in vmnet's root-only directories.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import os
import resource
import subprocess
import time

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import files, process

SOCKET_DIR = '/run/vmnet/passt'
BINARY = 'passt'
START_TIMEOUT = 20.0
# Forwarding every port takes one socket per port and protocol (and family): about 130 000
# descriptors, more than a default limit allows.
OPEN_FILES = 262144


def socket_path(netns, iface_name):
    digest = hashlib.sha256(('%s/%s' % (netns, iface_name)).encode('utf-8')).hexdigest()[:16]
    return os.path.join(SOCKET_DIR, digest + '.sock')


def port_spec(ports, protocol):
    """passt's ``-t``/``-u`` argument: ``all`` when no port is listed (KubeVirt forwards every
    port then), the listed ports of ``protocol`` once each, or ``none``."""
    if not ports:
        return 'all'
    numbers = []
    for port in ports:
        if port['protocol'].upper() == protocol and port['port'] not in numbers:
            numbers.append(port['port'])
    return ','.join(str(n) for n in sorted(numbers)) or 'none'


class Passt(object):
    """The passt process of one interface of a pod."""

    def __init__(self, state, netns, iface_name):
        self.netns = netns
        self.pidfile = state.path('passt-%s.pid' % iface_name)
        self.log = state.path('passt-%s.log' % iface_name)
        self.socket = socket_path(netns, iface_name)

    def argv(self, pod_iface, ports):
        """passt's arguments (after the binary): foreground (vmnet supervises it), quiet, the pod
        interface as template, its forwards."""
        return ['--foreground', '--quiet', '--runas', '0:0', '--interface', pod_iface,
                '--socket', self.socket, '--pid', self.pidfile, '--log-file', self.log,
                '--tcp-ports', port_spec(ports, 'TCP'), '--udp-ports', port_spec(ports, 'UDP')]

    def pid(self):
        """The PID of our passt if it runs (checked against its command line), else None."""
        try:
            with open(self.pidfile) as handle:
                pid = int(handle.read().strip())
            with open('/proc/%d/cmdline' % pid) as handle:
                cmdline = handle.read().split('\0')
        except (OSError, ValueError):
            return None
        if process.is_zombie(pid) or not cmdline or 'passt' not in os.path.basename(cmdline[0]):
            return None
        return pid if self.socket in cmdline else None

    def running_argv(self):
        """The arguments the running process was started with (None: not running)."""
        pid = self.pid()
        if pid is None:
            return None
        text = files.read_text(self.argv_file())
        return text.split('\0') if text is not None else None

    def argv_file(self):
        return self.pidfile[:-len('.pid')] + '.args'

    def errors_file(self):
        return self.pidfile[:-len('.pid')] + '.stderr'

    def start(self, argv):
        """Start passt with ``argv`` in the pod; returns once its socket accepts."""
        self.stop()
        files.makedirs(os.path.dirname(self.socket))
        for stale in (self.socket, self.pidfile):
            if os.path.lexists(stale):
                os.unlink(stale)
        files.write_atomic(self.argv_file(), '\0'.join(argv))
        # its early errors, before it opens its log (a file: passt outlives this process)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        with os.fdopen(os.open(self.errors_file(), flags, 0o600), 'w') as errors:
            try:
                proc = subprocess.Popen(['ip', 'netns', 'exec', self.netns, BINARY] + argv,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                        start_new_session=True, preexec_fn=_open_files_limit)
            except OSError as exc:
                raise VmnetError('passt cannot be started (install the passt package): %s' % exc)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                message = (files.read_text(self.errors_file()) or '').strip()
                if 'Too many open files' in message:
                    message += (' (forwarding every port needs about %d descriptors, and vmnet could not raise '
                                'the limit: list the ports to forward in "ports")' % OPEN_FILES)
                raise VmnetError('passt exited in %s (rc %d): %s; see %s'
                                 % (self.netns, proc.returncode, message, self.log))
            if self.pid() == proc.pid and os.path.exists(self.socket):
                return proc.pid
            time.sleep(0.02)
        proc.kill()
        raise VmnetError('passt did not create %s within %d s; see %s' % (self.socket, START_TIMEOUT, self.log))

    def stop(self):
        """Stop our passt and remove its files (the log stays until the pod goes)."""
        pid = self.pid()
        if pid:
            process.terminate(pid, self.pid)
        for path in self._files():
            if os.path.lexists(path):
                os.unlink(path)

    def leftovers(self):
        """Files of this process that exist (for absent's truthful ``changed``)."""
        return [p for p in self._files() if os.path.lexists(p)]

    def _files(self):
        return (self.socket, self.pidfile, self.argv_file(), self.errors_file())


def _open_files_limit():
    """In the child, before passt runs: enough descriptors for its sockets (root may raise
    the hard limit, up to fs.nr_open)."""
    try:
        with open('/proc/sys/fs/nr_open') as handle:
            ceiling = int(handle.read())
    except (OSError, ValueError):
        ceiling = OPEN_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = max(min(OPEN_FILES, ceiling), soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    except (OSError, ValueError):  # no CAP_SYS_RESOURCE: as far as the hard limit goes
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
