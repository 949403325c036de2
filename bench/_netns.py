# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the benchmarks: running commands, and a ledger that removes every
namespace, host link, process and temp dir a benchmark made, in reverse order, also on
failure or Ctrl-C. Everything the benchmarks name themselves starts with ``vmnb``."""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink

PREFIX = 'vmnb'
OWNER = 'vmnb:bench'  # IFLA_IFALIAS of the host links the benchmarks make


def tag():
    """A short random tag that keeps names of concurrent runs apart (and within IFNAMSIZ)."""
    return uuid.uuid4().hex[:4]


def run(argv, timeout=60, **kwargs):
    """Run a command; on failure raise with its stderr."""
    proc = subprocess.run(argv, check=False, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError('%s failed (exit %d): %s' % (' '.join(argv), proc.returncode, proc.stderr.strip()))
    return proc


def netns_exec(ns, *argv, timeout=60):
    return run(['ip', 'netns', 'exec', ns] + list(argv), timeout=timeout)


def median(values):
    return statistics.median(values)


def timed(func, *args, **kwargs):
    """Wall-clock seconds of ``func(*args, **kwargs)`` and its result."""
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def warn(text):
    sys.stderr.write('bench: %s\n' % text)


class Ledger(object):
    """Undo actions, run last-in first-out when the ``with`` block ends, however it ends."""

    def __init__(self):
        self._undo = []
        self._pid = os.getpid()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if os.getpid() != self._pid:
            # a forked pyroute2 helper (it forks to enter namespaces) hit by Ctrl-C unwinds
            # through our ``with`` too: the cleanup is the parent's job
            return
        while self._undo:
            what, action = self._undo.pop()
            try:
                action()
            except Exception as exc:  # keep cleaning up; say what is left behind
                warn('cleanup of %s failed: %s' % (what, exc))

    def defer(self, what, action):
        self._undo.append((what, action))

    def netns(self, name):
        """A new network namespace with its loopback up."""
        netlink.create_netns(self.adopt_netns(name))
        with netlink.Namespace(name) as ns:
            ns.set_link('lo', state='up')
        return name

    def adopt_netns(self, name):
        """Remove network namespace ``name`` at the end; something else creates it."""
        self.defer('netns ' + name, lambda: netlink.remove_netns(name))
        return name

    def host_link(self, name):
        """Delete host link ``name`` at the end (if it still exists and is ours)."""
        self.defer('host link ' + name, lambda: delete_owned_host_link(name))
        return name

    def tempdir(self):
        path = tempfile.mkdtemp(prefix=PREFIX + '-')
        self.defer('temp dir ' + path, lambda: shutil.rmtree(path, ignore_errors=True))
        return path

    def process(self, proc):
        """Stop a ``subprocess.Popen`` we started, by its PID."""
        self.defer('process %d' % proc.pid, lambda: stop(proc))
        return proc

    def pidfile(self, path, name):
        """Stop the daemon whose PID ``path`` holds, if it still runs as ``name``."""
        self.defer('%s of %s' % (name, path), lambda: kill_pidfile(path, name))


def delete_owned_host_link(name):
    with netlink.Namespace() as host:
        link = host.link(name)
        if link and link['alias'] == OWNER:
            host.delete(name)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def kill_pidfile(path, name):
    try:
        with open(path) as handle:
            pid = int(handle.read().strip())
        with open('/proc/%d/cmdline' % pid) as handle:
            if name not in handle.read():
                return
    except (OSError, ValueError):
        return
    os.kill(pid, signal.SIGTERM)


def exit_on_sigterm():
    """Turn SIGTERM into SystemExit so that every ``finally`` and ledger still runs."""
    main = os.getpid()

    def handler(signum, _frame):
        if os.getpid() != main:  # a forked pyroute2 helper being stopped: just die
            os._exit(128 + signum)
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, handler)
