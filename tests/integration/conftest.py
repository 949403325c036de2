# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared harness of the integration tests: libvirt, the test guest, taps.

Everything a test makes is named ``vmnt*`` (so that leftovers are recognisable) and is
removed at teardown, also when the test fails. At the end of the session, domains and
links this session made and did not remove fail the run; other ``vmnt*`` leftovers
(perhaps from a run beside this one) are reported. What vmnet itself left of a test VM (a
pod namespace, a host link with its owner alias, a test hook) fails the run and is left
in place to be looked at; a test that passed and left vmnet state in its pod network
fails at teardown (``podnet``).
"""

import glob
import os
import re
import subprocess
import time
import uuid
from xml.sax.saxutils import escape

import pytest

try:
    import libvirt
except ImportError:
    libvirt = None
try:
    from pyroute2 import IPRoute
except ImportError:
    IPRoute = None

from podnet import PodNetwork

from ansible_collections.vmnet.networks.plugins.module_utils.names import (
    ID_SEPARATOR, NETNS_PREFIX, OWNER_ALIAS_PREFIX)

LIBVIRT_URI = 'qemu:///system'
PREFIX = 'vmnt'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUEST_IMAGE = os.path.join(ROOT, '.cache', 'guest', 'vmnet-guest.gz')

_made_domains = set()
_made_links = set()


def unique_name(prefix, length=6):
    """``prefix`` + a random suffix: tests running side by side do not collide."""
    if not prefix.startswith(PREFIX):
        raise ValueError('test resources are named %s*, got %r' % (PREFIX, prefix))
    return prefix + uuid.uuid4().hex[:length]


# --- libvirt and the guest ------------------------------------------------------------

class Connection(object):
    """qemu:///system, used as the libvirt connection itself; ``reconnect()`` after a
    libvirtd restart (the lifecycle tests restart it)."""

    def __init__(self):
        self._conn = libvirt.open(LIBVIRT_URI)

    def reconnect(self):
        self._conn = libvirt.open(LIBVIRT_URI)

    def __getattr__(self, name):
        return getattr(self._conn, name)


@pytest.fixture(scope='session')
def libvirt_conn():
    """A connection to qemu:///system. Skips when libvirtd is not answering, unless
    VMNET_REQUIRE_LIBVIRT=1 (CI, where `make integration` has started it) makes that a
    failure."""
    if libvirt is None:
        pytest.skip('libvirt-python is not installed')
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors arrive as exceptions
    try:
        conn = Connection()
    except libvirt.libvirtError as err:
        reason = 'libvirtd is not answering on %s (start it: bash scripts/libvirtd.sh start): %s' % (
            LIBVIRT_URI, err.get_error_message())
        if os.environ.get('VMNET_REQUIRE_LIBVIRT') == '1':
            pytest.fail(reason)
        pytest.skip(reason)
    yield conn
    conn.close()


class GuestImage(object):
    def __init__(self, kernel, initrd):
        self.kernel, self.initrd = kernel, initrd


@pytest.fixture(scope='session')
def guest_image():
    """The busybox test guest (tools/guest), built when its inputs changed."""
    script = os.path.join(ROOT, 'tools', 'guest', 'build-initramfs.sh')
    kernel = subprocess.run([script, GUEST_IMAGE], check=True, stdout=subprocess.PIPE,
                            universal_newlines=True).stdout.strip()
    return GuestImage(kernel, GUEST_IMAGE)


class Guest(object):
    """A test domain and its serial console (a file)."""

    def __init__(self, conn, name, serial_log):
        self._conn = conn
        self.name = name
        self.serial_log = serial_log
        self._seen = 0      # wait_for() looks beyond the previous match only

    @property
    def domain(self):
        """The libvirt domain, looked up anew: a domain object dies with its connection."""
        return self._conn.lookupByName(self.name)

    def start(self):
        self._seen = 0      # libvirt truncates the serial log file at each start
        self.domain.create()

    def console(self):
        try:
            with open(self.serial_log, errors='replace') as handle:
                return handle.read().replace('\r\n', '\n')
        except FileNotFoundError:
            return ''

    def wait_for(self, pattern, timeout=60, anywhere=False):
        """The first match of ``pattern`` (multiline) after the previous match. ``anywhere``:
        since the guest started, for the line of a guest process that runs beside the one of
        the previous match (udhcpc, dhcpcd, init's NIC watch, vmnet.connect's loop print in
        either order: their lines may come before it)."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.console()
            text = text[:text.rfind('\n') + 1]   # whole lines only: the guest may be mid-line
            match = regex.search(text, 0 if anywhere else self._seen)
            if match:
                self._seen = max(self._seen, match.end())
                return match
            if time.monotonic() > deadline or not self.domain.isActive():
                state = 'running' if self.domain.isActive() else 'not running'
                raise AssertionError('%s (%s): no %r within %d s; console after the last match:\n%s'
                                     % (self.name, state, pattern, timeout, text[self._seen:][-3000:]))
            time.sleep(0.1)


def _domain_xml(name, image, serial_log, nics_xml, vcpus, acpi, cmdline):
    return """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features>{acpi}<apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    {nics}
    <serial type='file'><source path='{serial}'/><target port='0'/></serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>""".format(name=escape(name), vcpus=vcpus, kernel=escape(image.kernel),
                    initrd=escape(image.initrd), cmdline=escape(('console=ttyS0 quiet ' + cmdline).strip()),
                    acpi='<acpi/>' if acpi else '', nics=nics_xml, serial=escape(serial_log))


# Per-device boot, as KubeVirt's domains boot: an empty CD-ROM with a boot order (nics_xml of
# make_domain). libvirt gives a domain defined without any boot element <os><boot dev='hd'/>,
# beside which it refuses a device's own boot order.
PER_DEVICE_BOOT = "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/><boot order='9'/></disk>"


def _remove_domain(domain):
    try:
        if domain.isActive():
            domain.destroy()
        domain.undefine()
    except libvirt.libvirtError as err:
        if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise


class _Domains(object):
    """Defines test domains (``vmnt*`` + a random suffix) and removes them in ``close()``."""

    def __init__(self, conn, image, directory):
        self._conn, self._image, self._directory = conn, image, directory
        self._made = []

    def make(self, prefix, nics_xml='', vcpus=1, acpi=True, cmdline=''):
        name = unique_name(prefix + '-')
        serial_log = os.path.join(str(self._directory), name + '-serial.log')
        xml = _domain_xml(name, self._image, serial_log, nics_xml, vcpus, acpi, cmdline)
        self._conn.defineXML(xml)
        self._made.append(name)
        _made_domains.add(name)
        return Guest(self._conn, name, serial_log)

    def close(self):
        for name in reversed(self._made):
            try:
                _remove_domain(self._conn.lookupByName(name))
            except libvirt.libvirtError as err:
                if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
            _made_domains.discard(name)


@pytest.fixture
def make_domain(libvirt_conn, guest_image, tmp_path):
    """``make_domain(prefix, nics_xml='', vcpus=1, acpi=True, cmdline='')`` defines (does not
    start) a TCG test domain named ``prefix`` + a random suffix and returns its ``Guest``.
    ``cmdline`` is appended to the guest kernel's (vmnet.* knobs, tools/guest/init)."""
    domains = _Domains(libvirt_conn, guest_image, tmp_path)
    yield domains.make
    domains.close()


@pytest.fixture(scope='module')
def make_module_domain(libvirt_conn, guest_image, tmp_path_factory):
    """``make_domain`` for module-scoped fixtures: one guest booted once and shared by the
    tests of a module (a boot costs ~20 s of TCG)."""
    domains = _Domains(libvirt_conn, guest_image, tmp_path_factory.mktemp('domains'))
    yield domains.make
    domains.close()


# --- host links -----------------------------------------------------------------------

@pytest.fixture
def make_tap():
    """``make_tap(multi_queue=False)`` makes a persistent tap ``vmnt<hex>`` in the host
    namespace (up, no addresses) for a ``managed='no'`` NIC, and returns its name."""
    if IPRoute is None:
        pytest.skip('pyroute2 is not installed')
    made = []

    def make(multi_queue=False):
        name = unique_name(PREFIX)
        with IPRoute() as ipr:
            ipr.link('add', ifname=name, kind='tuntap', mode='tap', ifr={'multi_queue': multi_queue})
            made.append(name)
            _made_links.add(name)
            ipr.link('set', index=ipr.link_lookup(ifname=name)[0], state='up')
        return name

    yield make
    with IPRoute() as ipr:
        for name in made:
            for index in ipr.link_lookup(ifname=name):
                ipr.link('del', index=index)
            _made_links.discard(name)


# --- the pod network ------------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, 'vmnet_' + report.when, report)


@pytest.fixture
def podnet(tmp_path, request):
    """The default pod network of one test (see podnet.PodNetwork), removed at teardown.
    What vmnet itself left behind (a pod, a host link it owns, a dnsmasq, state) is removed
    too, and is an error of a test that passed: every test ends with ``state: absent``."""
    network = PodNetwork(tmp_path)
    try:
        yield network
    finally:
        leaks = network.cleanup()
    call = getattr(request.node, 'vmnet_call', None)
    if leaks and call is not None and call.passed:
        pytest.fail('vmnet left this behind after the test passed: %s' % ', '.join(leaks))


# --- leftovers ------------------------------------------------------------------------

def _leftover_domains():
    if libvirt is None:
        return []
    try:
        conn = libvirt.open(LIBVIRT_URI)
    except libvirt.libvirtError:
        return []
    try:
        return sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(PREFIX))
    finally:
        conn.close()


def _leftover_links():
    if IPRoute is None:
        return []
    with IPRoute() as ipr:
        names = (link.get_attr('IFLA_IFNAME') for link in ipr.get_links())
        return sorted(name for name in names if name.startswith(PREFIX))


def _product_leftovers():
    """What vmnet made for a test VM (``vmnt*``) and nobody removed: pod namespaces, host
    links carrying its owner alias, and inert test hooks (test_lifecycle.py's)."""
    found = []
    proc = subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE, universal_newlines=True, check=False)
    for line in proc.stdout.splitlines():
        name = line.split()[0] if line.strip() else ''
        if name.startswith(NETNS_PREFIX) and name.partition(ID_SEPARATOR)[2].startswith(PREFIX):
            found.append('netns %s' % name)
    if IPRoute is not None:
        with IPRoute() as ipr:
            for link in ipr.get_links():
                alias = link.get_attr('IFLA_IFALIAS') or ''
                if alias.startswith(OWNER_ALIAS_PREFIX) and alias.split('/')[1:2] and \
                        alias.split('/')[1].startswith(PREFIX):
                    found.append('link %s (%s)' % (link.get_attr('IFLA_IFNAME'), alias))
    found += ['hook %s' % path for path in sorted(glob.glob('/etc/libvirt/hooks/qemu.d/50-' + PREFIX + '*'))]
    return found


def pytest_sessionfinish(session):
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    ours, others = [], []
    for kind, names, made in (('domain', _leftover_domains(), _made_domains),
                              ('link', _leftover_links(), _made_links)):
        for name in names:
            (ours if name in made else others).append('%s %s' % (kind, name))
    product = _product_leftovers()
    if product:
        # never removed here: a leak of the product is a failure to look at, not to hide
        if reporter:
            reporter.write_line('vmnet LEFTOVERS of test VMs (vmnt*), not removed: %s' % ', '.join(product),
                                red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if others and reporter:
        reporter.write_line('vmnt* leftovers not made by this session (another run?): %s'
                            % ', '.join(others), yellow=True)
    if ours:
        if reporter:
            reporter.write_line('LEFTOVERS of this session (a teardown is broken): %s'
                                % ', '.join(ours), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# The three-host fleet of simulated hypervisors, shared by the fleet and migration tests
# (imported last: fleetsim imports this module).
from fleetsim import fleet  # noqa: E402,F401 pylint: disable=wrong-import-position,unused-import
