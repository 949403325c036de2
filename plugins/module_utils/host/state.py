# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What must outlive a module run, under ``<state_dir>/<vm>/`` (default /var/lib/vmnet).

``networks/<network>.json`` holds a CNI attachment (the configuration it ran with and its
result, needed for CHECK and DEL); ``interfaces/<interface>.json`` holds a binding (the pod
NIC's original addressing, needed to undo it). Each record is written before the host is
changed, so an interrupted run can be undone or completed by the next one. A lock file
(``<state_dir>/.locks/<vm>.lock``) serialises runs on the same VM.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import json
import os
import shutil

DEFAULT_STATE_DIR = '/var/lib/vmnet'


class VmState(object):

    def __init__(self, state_dir, vm):
        base = state_dir or DEFAULT_STATE_DIR
        self.base = base
        self.root = os.path.join(base, vm)
        # the lock lives beside the VM's directory, which exists only while it holds state
        self.lock_path = os.path.join(base, '.locks', vm + '.lock')
        self._lock = None

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def exists(self):
        return os.path.isdir(self.root)

    def lock(self):
        """Hold an exclusive lock on the VM until ``unlock`` (concurrent playbook runs)."""
        os.makedirs(os.path.dirname(self.lock_path), exist_ok=True)
        self._lock = open(self.lock_path, 'w')
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def unlock(self):
        if self._lock:
            self._lock.close()
            self._lock = None

    def __enter__(self):
        return self.lock()

    def __exit__(self, *exc):
        self.unlock()

    def read(self, kind, name):
        try:
            with open(self.path(kind, name + '.json')) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def write(self, kind, name, record):
        directory = self.path(kind)
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, '.%s.json.tmp' % name)
        with open(tmp, 'w') as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
        os.rename(tmp, os.path.join(directory, name + '.json'))

    def delete(self, kind, name):
        try:
            os.unlink(self.path(kind, name + '.json'))
        except OSError:
            pass

    def read_settings(self):
        """What re-plumbing the pod without the playbook needs (see replumb.py)."""
        try:
            with open(self.path('vm.json')) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def write_settings(self, settings):
        if self.read_settings() != settings:
            self.write('', 'vm', settings)

    def names(self, kind):
        try:
            return sorted(n[:-5] for n in os.listdir(self.path(kind)) if n.endswith('.json')
                          and not n.startswith('.'))
        except OSError:
            return []

    def remove_all(self):
        shutil.rmtree(self.root, ignore_errors=True)
