# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What must outlive a module run, under ``<state_dir>/<pod id>/`` (default /var/lib/vmnet).

The pod id is ``<namespace>_<name>`` (names.pod_id): two VMs of one name in two namespaces
have two state dirs. ``networks/<network>.json`` holds a CNI attachment (the configuration
it ran with and its result, needed for CHECK and DEL); ``interfaces/<interface>.json``
holds a binding (the pod NIC's original addressing, needed to undo it). Each record is
written before the host is changed, so an interrupted run can be undone or completed by the
next one. A lock file (``<state_dir>/.locks/<pod id>.lock``) serialises runs on the same VM.

Every path read, written, locked or deleted here is confined to the state dir
(files.confine): even a name that slipped past validation cannot lead outside it. The
state dir and ``.locks`` are 0700, files 0600, written atomically, never through a symlink.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import json
import os

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.host import files

DEFAULT_STATE_DIR = '/var/lib/vmnet'
LOCKS = '.locks'


class VmState(object):

    def __init__(self, state_dir, namespace, vm):
        base = state_dir or DEFAULT_STATE_DIR
        self.base = base
        self.pod_id = names.pod_id(namespace, vm)
        self.root = files.confine(base, self.pod_id)
        # the lock lives beside the VM's directory, which exists only while it holds state
        self.lock_path = files.confine(base, LOCKS, self.pod_id + '.lock')
        self._lock = None

    def path(self, *parts):
        return files.confine(self.base, self.pod_id, *[part for part in parts if part])

    def exists(self):
        return os.path.isdir(self.root) and not os.path.islink(self.root)

    def lock(self):
        """Hold an exclusive lock on the VM until ``unlock`` (concurrent playbook runs)."""
        files.makedirs(self.base)
        files.makedirs(files.confine(self.base, LOCKS))
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, files.FILE_MODE)
        self._lock = os.fdopen(fd, 'r+')
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

    def _record(self, kind, name):
        return self.path(kind, name + '.json')

    def read(self, kind, name):
        try:
            text = files.read_text(self._record(kind, name))
            return json.loads(text) if text is not None else None
        except (OSError, ValueError):
            return None

    def write(self, kind, name, record):
        path = self._record(kind, name)
        files.makedirs(os.path.dirname(path))
        files.write_atomic(path, json.dumps(record, indent=2, sort_keys=True))

    def delete(self, kind, name):
        try:
            os.unlink(self._record(kind, name))
        except OSError:
            pass

    def read_settings(self):
        """What re-plumbing the pod without the playbook needs (see replumb.py)."""
        return self.read('', 'vm')

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
        files.remove_tree(self.base, self.pod_id)
