# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemons vmnet runs in a pod (dnsmasq, passt): whether a PID is still one of them, and
stopping one by its PID only."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import signal
import time


def is_zombie(pid):
    """True when ``pid`` has exited (a zombie not yet reaped, or gone)."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().split(') ')[-1].startswith('Z')
    except OSError:
        return True


def terminate(pid, current_pid, wait=2.0):
    """SIGTERM ``pid``, then SIGKILL when ``current_pid()`` (the caller's check that the PID is
    still its daemon) still answers ``pid`` after ``wait`` seconds."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if current_pid() != pid or is_zombie(pid):
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
