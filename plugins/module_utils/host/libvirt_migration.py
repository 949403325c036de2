# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for a libvirt live migration, driven from the target host.

The client (this module, on the target) opens both daemons and runs a managed direct
migration (``virDomainMigrate3``: live, persistent on the target with the given persistent
XML, the source's definition undefined). While libvirt copies the memory, a second
connection to the target watches the incoming domain: the moment it runs (the switch) the
caller's ``on_switch`` is called in this process, so the target's pod links go up within
milliseconds, long before libvirt's call returns (it waits for the source QEMU to exit).
Then the guest announces itself again (QEMU ``announce-self``: gratuitous RARPs from every
NIC, so that bridges and EVPN learn the new location).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import threading
import time

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False
try:
    import libvirt_qemu
    HAS_LIBVIRT_QEMU = True
except ImportError:
    HAS_LIBVIRT_QEMU = False

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

POLL_SECONDS = 0.002
# QEMU's own defaults for the announcement after an incoming migration
ANNOUNCE = {'initial': 50, 'max': 550, 'rounds': 5, 'step': 100}
JOB_FIELDS = ('time_elapsed', 'downtime', 'memory_total', 'memory_processed', 'setup_time')


def _open(uri):
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        raise VmnetError('cannot connect to libvirt at %s: %s' % (uri, err.get_error_message()))


def _lookup(conn, name):
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as err:
        if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise VmnetError('cannot look up libvirt domain "%s": %s' % (name, err.get_error_message()))


def _runs(conn, name):
    """Whether the domain runs on ``conn``; an incoming domain may vanish between two calls."""
    try:
        return conn.lookupByName(name).state()[0] == libvirt.VIR_DOMAIN_RUNNING
    except libvirt.libvirtError:
        return False


def domain_state(uri, name):
    """The domain on the daemon at ``uri``: 'running', 'defined' (there, not running) or None."""
    if not HAS_LIBVIRT:
        raise VmnetError('the libvirt Python bindings (libvirt-python) are required')
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = _open(uri)
    try:
        if _lookup(conn, name) is None:
            return None
        return 'running' if _runs(conn, name) else 'defined'
    finally:
        conn.close()


def _announce(domain):
    if not HAS_LIBVIRT_QEMU:
        raise VmnetError('the libvirt_qemu Python bindings are required to announce the guest')
    command = json.dumps({'execute': 'announce-self', 'arguments': ANNOUNCE})
    try:
        libvirt_qemu.qemuMonitorCommand(domain, command, 0)
    except libvirt.libvirtError as err:
        raise VmnetError('announce-self failed: %s' % err.get_error_message())


def announce(uri, name):
    """QEMU's announce-self for the domain running on the daemon at ``uri``."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = _open(uri)
    try:
        domain = _lookup(conn, name)
        if domain is None or not _runs(conn, name):
            raise VmnetError('libvirt domain "%s" does not run at %s: nothing to announce' % (name, uri))
        _announce(domain)
    finally:
        conn.close()


class Migration(object):
    """One domain between two libvirt daemons. Use as a context manager."""

    def __init__(self, source_uri, target_uri, name):
        if not HAS_LIBVIRT:
            raise VmnetError('the libvirt Python bindings (libvirt-python) are required')
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        self.name, self.source_uri, self.target_uri = name, source_uri, target_uri
        self._source = _open(source_uri)
        self._target = None
        try:
            self._target = _open(target_uri)
        except VmnetError:
            self._source.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for conn in (self._source, self._target):
            if conn is not None:
                conn.close()

    def source_domain(self):
        return _lookup(self._source, self.name)

    def target_domain(self):
        return _lookup(self._target, self.name)

    def definitions(self):
        """(live XML, persistent XML or None) of the domain on the source, as migrations carry them."""
        domain = self.source_domain()
        if domain is None or not domain.isActive():
            raise VmnetError('libvirt domain "%s" does not run on the source (%s)' % (self.name, self.source_uri))
        live = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE)
        persistent = domain.XMLDesc(libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_INACTIVE) \
            if domain.isPersistent() else None
        return live, persistent

    def migrate(self, live_xml, persistent_xml, on_switch, migrate_uri=None, listen_address=None, timeout=300):
        """Migrate live; ``on_switch()`` runs once the guest runs on the target. Returns
        (switched, error or None, seconds until the switch or None, seconds in all)."""
        domain = self.source_domain()
        params = {libvirt.VIR_MIGRATE_PARAM_DEST_XML: live_xml}
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
        if persistent_xml:
            params[libvirt.VIR_MIGRATE_PARAM_PERSIST_XML] = persistent_xml
            flags |= libvirt.VIR_MIGRATE_PERSIST_DEST
        if migrate_uri:
            params[libvirt.VIR_MIGRATE_PARAM_URI] = migrate_uri
        if listen_address:
            params[libvirt.VIR_MIGRATE_PARAM_LISTEN_ADDRESS] = listen_address
        outcome = {}

        def run():
            try:
                domain.migrate3(self._target, params, flags)
            except libvirt.libvirtError as err:
                outcome['error'] = err.get_error_message()

        watcher = _open(self.target_uri)
        started = time.monotonic()
        worker = threading.Thread(target=run)
        worker.daemon = True
        worker.start()
        switched_at, aborted = None, False
        try:
            while True:
                if switched_at is None:
                    if _runs(watcher, self.name):
                        switched_at = time.monotonic() - started
                        on_switch()
                if not worker.is_alive():
                    break
                if not aborted and switched_at is None and time.monotonic() - started > timeout:
                    aborted = True
                    try:
                        domain.abortJob()
                    except libvirt.libvirtError:
                        pass
                time.sleep(POLL_SECONDS)
            worker.join()
            if switched_at is None and 'error' not in outcome and _runs(self._target, self.name):
                switched_at = time.monotonic() - started
                on_switch()
        finally:
            watcher.close()
        error = outcome.get('error')
        if aborted and error:
            error = 'not done within %d s (aborted): %s' % (timeout, error)
        return switched_at is not None, error, switched_at, time.monotonic() - started

    def job_stats(self):
        """The completed migration job's figures (libvirt's domjobinfo --completed), on the target."""
        domain = self.target_domain()
        try:
            stats = domain.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED) if domain is not None else {}
        except libvirt.libvirtError:
            stats = {}
        return dict((key, stats[key]) for key in JOB_FIELDS if key in stats)

    def announce(self):
        """QEMU's announce-self on the target (QEMU >= 4.0)."""
        _announce(self.target_domain())
