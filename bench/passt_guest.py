# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in guest for the passt binding: a guest netns whose tap is joined to passt's
UNIX socket by a small relay speaking QEMU's ``-netdev stream`` protocol (each Ethernet
frame preceded by its length, 4 bytes big-endian), so that the data path under test is
passt's own (its TCP/UDP translation between the pod's sockets and the guest's frames).
The guest end is configured as passt's DHCP leaves a guest: the pod's address, prefix
and default gateway, MTU 65520.

Why not QEMU as the relay (``-netdev stream`` and ``-netdev tap`` on one hub, no guest):
QEMU pads frames shorter than 60 B that come from a tap (a virtio-net guest's are not
padded), and this passt (Debian 12's, 2023-03) then resets the connection: iperf3's
1-byte control messages never get through. The relay forwards frames as they are, as
virtio-net does. It is C (passt_relay.c, built here with ``cc``): a Python relay would be
the bottleneck.
"""

import json
import os
import subprocess
import xml.etree.ElementTree as ET

from _netns import netns_exec, run
from plumb_time import FakeDomain

GUEST_NIC = 'tap0'
GUEST_MTU = 65520   # what passt's DHCP (option 26) gives
RELAY_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'passt_relay.c')


def build_relay(ledger):
    """The relay binary, compiled into a temp dir of the ledger."""
    binary = os.path.join(ledger.tempdir(), 'passt_relay')
    run(['cc', '-O2', '-Wall', '-pthread', '-o', binary, RELAY_SOURCE])
    return binary


def attach(ledger, relay, guest, socket, mac, address, gateway):
    """The relay in ``guest`` (netns) on passt's ``socket``, its tap set up as after DHCP."""
    proc = ledger.process(subprocess.Popen(['ip', 'netns', 'exec', guest, relay, GUEST_NIC, socket],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           universal_newlines=True))
    if proc.stdout.readline().strip() != 'ready':
        raise RuntimeError('passt relay in %s: %s' % (guest, proc.stderr.read().strip()))
    ip = ['ip', '-n', guest]
    run(ip + ['link', 'set', GUEST_NIC, 'address', mac, 'mtu', str(GUEST_MTU), 'up'])
    run(ip + ['addr', 'add', address, 'dev', GUEST_NIC])
    run(ip + ['route', 'add', 'default', 'via', gateway])


def default_gateway(netns):
    routes = json.loads(netns_exec(netns, 'ip', '-j', 'route', 'show', 'default').stdout)
    return routes[0]['gateway']


def memory_kib(pidfile):
    """VmRSS, VmHWM (peak), RssAnon, RssFile (shared library and binary pages, mostly the
    kernel's fault-around) and Pss (the process's proportional share) in KiB of the process
    named by ``pidfile``."""
    with open(pidfile) as handle:
        pid = int(handle.read().strip())
    fields = {}
    for path, keys in (('/proc/%d/status' % pid, ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile')),
                       ('/proc/%d/smaps_rollup' % pid, ('Pss',))):
        with open(path) as handle:
            for line in handle:
                key, _sep, value = line.partition(':')
                if key in keys:
                    fields[key] = int(value.split()[0])
    return fields


class _DefinedDomain(object):
    """The libvirt calls host/libvirt_qemu_args makes on a stopped, persistent domain; the
    definition is kept here (the stand-in guest is no domain)."""

    def __init__(self, name):
        self._name, self._xml = name, "<domain type='qemu'><name>%s</name></domain>" % name

    def name(self):
        return self._name

    def isPersistent(self):  # noqa: N802  (libvirt's names)
        return True

    def isActive(self):  # noqa: N802
        return False

    def XMLDesc(self, _flags=0):  # noqa: N802
        return self._xml

    def connect(self):
        return self

    def defineXML(self, xml):  # noqa: N802
        self._xml = xml


class QemuArgsDomain(FakeDomain):
    """plumb_time.FakeDomain that also takes passt's QEMU arguments (``-netdev stream``)."""

    def __init__(self, name):
        self.domain, self.running = _DefinedDomain(name), False

    def definitions(self):
        return ET.fromstring(self.domain.XMLDesc()), None
