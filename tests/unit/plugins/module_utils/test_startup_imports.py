# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start-up cost of a module run: what importing a module loads. Every module run (one per VM
when the vm role is looped) pays for each import; the code of other bindings, SR-IOV's host
code, PyYAML and pyroute2's other APIs must wait until a run needs them."""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import bindings

MODULE_UTILS = 'ansible_collections.vmnet.networks.plugins.module_utils.'
# loaded on demand only: none of them serves a VM with a bridge interface on the pod network
LAZY = ['pyroute2.ndb', 'pyroute2.ipdb', 'pyroute2.conntrack', 'pyroute2.ipset', 'pyroute2.nftables',
        'yaml', MODULE_UTILS + 'sriov', MODULE_UTILS + 'host.sriov_netlink',
        MODULE_UTILS + 'host.sysfs', MODULE_UTILS + 'host.passt', MODULE_UTILS + 'host.nft',
        MODULE_UTILS + 'host.k8s'] + [MODULE_UTILS + 'bindings.' + name for name in bindings.NAMES]


def loaded_after(statement):
    """The modules a fresh Python has loaded after ``statement``."""
    code = '%s\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))' % statement
    out = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE, universal_newlines=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), check=True).stdout
    return set(json.loads(out))


@pytest.mark.parametrize('module', ['vm', 'vm_interface'])
def test_a_module_loads_no_binding_sriov_yaml_or_pyroute2_extras(module):
    loaded = loaded_after('import ansible_collections.vmnet.networks.plugins.modules.%s' % module)
    early = [name for name in LAZY if name in loaded or any(m.startswith(name + '.') for m in loaded)]
    assert early == [], 'imported at start-up: %s' % early
    assert 'pyroute2.iproute.linux' in loaded  # the netlink library is pyroute2's IPRoute


def test_a_binding_is_imported_when_asked_for():
    for name in bindings.NAMES:
        loaded = loaded_after('from ansible_collections.vmnet.networks.plugins.module_utils import bindings\n'
                              'binding = bindings.get(%r)\nassert binding.__name__.endswith(".%s")' % (name, name))
        assert MODULE_UTILS + 'bindings.' + name in loaded
        assert [other for other in ('passt', 'sriov') if other != name and name != 'managedtap'
                and MODULE_UTILS + 'bindings.' + other in loaded] == []
    with pytest.raises(KeyError):
        bindings.get('macvtap')


def test_pyroute2_package_names_still_work_after_the_deferred_init():
    """Code that uses pyroute2's package names (``from pyroute2 import IPRoute``) gets them:
    the package's __init__ runs on the first such name."""
    loaded = loaded_after('from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink\n'
                          'import pyroute2\nfrom pyroute2 import NetlinkError\n'
                          'assert pyroute2.IPRoute is netlink.IPRoute\nassert issubclass(NetlinkError, Exception)')
    assert 'pyroute2.ndb.main' in loaded  # the whole package, once asked for
