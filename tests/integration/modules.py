# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's modules for real, as Ansible runs them on a target (args file, JSON out)."""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')


def run_module(module, check_mode=False, diff=False, **args):
    """Run ``vmnet.networks.<module>`` with ``args``; returns its JSON result (``failed`` on failure)."""
    payload = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': payload}, handle)
    try:
        env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        proc = subprocess.run([sys.executable, '-m', 'ansible_collections.vmnet.networks.plugins.modules.' + module,
                               handle.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, cwd='/', timeout=120, check=False)
    finally:
        os.unlink(handle.name)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError('module %s printed no JSON (rc %d): %s %s' % (module, proc.returncode, proc.stdout, proc.stderr))
    assert 'Traceback' not in proc.stderr, proc.stderr
    return result
