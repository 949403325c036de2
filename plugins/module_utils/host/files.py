# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files vmnet keeps on a host: confined to their own directory, private, written atomically.

Every path vmnet reads, writes, locks or deletes under one of its directories goes through
``confine``: a name that slipped past validation (``..``, an absolute path, a symlink
planted by someone else) must still not lead outside that directory. Directories are
created 0700 and files 0600 whoever creates them; a write goes to a fresh temporary file in
the same directory and is renamed over the old one, so readers never see half a file and a
symlink in place of the file is replaced, never followed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import os
import shutil
import stat

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

DIR_MODE = 0o700
FILE_MODE = 0o600


class UnsafePath(VmnetError):
    """A path that would leave its directory, or a file vmnet must not trust."""


def confine(base, *parts):
    """``base/parts...``, refused unless it resolves inside ``base`` (symlinks followed)."""
    for part in parts:
        if not part or os.path.isabs(part) or '\0' in part:
            raise UnsafePath('refusing path component %r under %s' % (part, base))
    path = os.path.join(base, *parts)
    root = os.path.realpath(base)
    real = os.path.realpath(path)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise UnsafePath('refusing %s: it resolves to %s, outside %s' % (path, real, root))
    return path


def makedirs(path, mode=DIR_MODE):
    """Create ``path`` and its missing parents with ``mode``; an existing symlink is refused."""
    missing = []
    head = path
    while head and not os.path.lexists(head):
        missing.append(head)
        head = os.path.dirname(head)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        os.chmod(directory, mode)  # whatever the umask was
    if os.path.islink(path) or not os.path.isdir(path):
        raise UnsafePath('refusing %s: not a directory' % path)
    return path


def write_atomic(path, data, mode=FILE_MODE):
    """Replace ``path`` with ``data`` (str or bytes) through a temporary file and a rename."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, '.%s.%d.tmp' % (name, os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data.encode('utf-8') if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def read_text(path, limit=None):
    """The text of a regular file (never through a symlink), or None when it does not exist.

    ``limit``: refuse files larger than this many bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise UnsafePath('refusing %s: it is a symlink' % path)
        raise
    with os.fdopen(fd, 'rb') as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath('refusing %s: not a regular file' % path)
        data = handle.read(limit + 1 if limit else -1)
    if limit and len(data) > limit:
        raise UnsafePath('refusing %s: larger than %d bytes' % (path, limit))
    return data.decode('utf-8')


def require_trusted(path):
    """Refuse ``path`` unless it is owned by root and not writable by group or others
    (for what runs as root without the operator: the libvirt hook's inputs)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath('refusing %s: it is a symlink' % path)
    if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafePath('refusing %s: not owned by root, or writable by group or others' % path)
    return path


def remove_tree(base, *parts):
    """Delete ``base/parts...`` recursively, only when it is confined to ``base``."""
    path = confine(base, *parts)
    if os.path.realpath(path) == os.path.realpath(base):
        raise UnsafePath('refusing to delete %s itself' % base)
    if os.path.islink(path):
        os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)
