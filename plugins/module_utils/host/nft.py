# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for nftables inside a pod namespace, through ``nft`` (argument lists only), born
in the namespace (``netlink.run_in``).

A table is always replaced whole in one transaction (``table; delete table; table {…}``),
so a failure leaves the previous rules in place. Only tables the caller names are read or
changed; the ruleset is never flushed.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import subprocess

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink

COUNTER_VALUES = re.compile(r'counter packets \d+ bytes \d+')


def _nft(netns, args, stdin=None):
    return netlink.run_in(netns, ['nft'] + args, input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)


def replace_table(netns, family, table, body):
    """Load ``table <family> <table> { body }`` atomically in place of any existing one."""
    script = 'table %s %s\ndelete table %s %s\ntable %s %s {\n%s}\n' % (
        family, table, family, table, family, table, body)
    proc = _nft(netns, ['-f', '-'], stdin=script)
    if proc.returncode != 0:
        raise VmnetError('nft refused the %s %s table in %s: %s' % (family, table, netns, proc.stderr.strip()))


def delete_table(netns, family, table):
    if read_table(netns, family, table) is not None:
        proc = _nft(netns, ['delete', 'table', family, table])
        if proc.returncode != 0:
            raise VmnetError('nft could not delete %s %s in %s: %s' % (family, table, netns, proc.stderr.strip()))


def read_table(netns, family, table):
    """The table as canonical JSON (no handles, no counter values), None when absent."""
    proc = _nft(netns, ['-j', 'list', 'table', family, table])
    if proc.returncode != 0:
        return None
    items = json.loads(proc.stdout).get('nftables', [])
    return [_canonical(item) for item in items if 'metainfo' not in item]


def list_text(netns, family, table):
    """The table as ``nft list`` prints it, without counter values: readable diffs."""
    proc = _nft(netns, ['list', 'table', family, table])
    if proc.returncode != 0:
        return None
    return COUNTER_VALUES.sub('counter', proc.stdout.replace('\t', '  '))


def _canonical(node):
    if isinstance(node, dict):
        return dict((k, None if k == 'counter' else _canonical(v)) for k, v in node.items()
                    if k != 'handle')
    if isinstance(node, list):
        return [_canonical(v) for v in node]
    return node


def list_tables(netns):
    """``[family, table]`` of every table in ``netns`` (empty when nft cannot read it)."""
    proc = _nft(netns, ['-j', 'list', 'tables'])
    if proc.returncode != 0:
        return []
    items = json.loads(proc.stdout).get('nftables', [])
    return [[item['table']['family'], item['table']['name']] for item in items if 'table' in item]
