# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's playbooks (docs/awx, playbooks/examples) as a user would, on localhost."""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')


class PlaybookRun(object):
    def __init__(self, proc):
        self.rc, self.output = proc.returncode, proc.stdout
        recap = re.search(r'localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)', self.output)
        self.ok, self.changed, self.failed = (int(n) for n in recap.groups()) if recap else (0, 0, 0)


def run_playbook(playbook, extra_vars, check=False, tmp_path=None):
    """``ansible-playbook`` on localhost (local connection, this Python for the modules)
    with ``extra_vars`` (a dict, passed as a JSON file); returns a PlaybookRun."""
    args_file = os.path.join(str(tmp_path), 'extra-vars.json')
    with open(args_file, 'w') as handle:
        json.dump(dict(extra_vars, ansible_python_interpreter=sys.executable), handle)
    argv = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
            '-e', '@' + args_file, playbook]
    if check:
        argv.insert(1, '--check')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_FORCE_COLOR='0', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCAL_TEMP=os.path.join(str(tmp_path), 'ansible-tmp'))
    return PlaybookRun(subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                      env=env, cwd=ROOT, timeout=900, check=False))


def netns_list():
    out = subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return set(line.split()[0] for line in out.splitlines() if line.strip())
