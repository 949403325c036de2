# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The operator's policy for NetworkAttachmentDefinitions: what a NAD may make root do.

A NAD is written by whoever may create NADs (a tenant, in a cluster), and its CNI plugins
run as root on the host. The policy says which plugin types (main and IPAM) a NAD may use,
which host interfaces it may name (``master`` of macvlan/ipvlan/vlan, ``device`` of
host-device, an existing ``bridge`` that has a host NIC as port), and where host-local may
keep its leases (``dataDir``). Keys of well-known plugins that reach the host outside the
pod (portmap's host port ``runtimeConfig`` and raw iptables ``conditionsV4``, the firewall
plugin's admin chain, host-device's ``pciBusID``/``kernelpath``, tuning's non-``net.``
sysctls, the DHCP daemon's socket path, sriov-cni's ``deviceID``) are refused outright.

One source of truth: the host role writes the policy file (``POLICY_PATH``, root-owned);
the modules and the libvirt hook read it, the built-in ``DEFAULT`` standing in when there is
none. A module's ``nad_policy`` option only narrows: a NAD must pass both.

The operator's own configuration (the default pod network in ``cni_conf_dir``) is not a
NAD and is not checked.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fnmatch
import json
import os
import re

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import files

POLICY_PATH = '/etc/vmnet/nad-policy.json'
MAX_POLICY_BYTES = 64 * 1024
# Plugins that act inside the pod, on a bridge of their own, or on the pod's host-side veth.
DEFAULT_PLUGINS = ('bridge', 'host-local', 'static', 'tuning', 'portmap', 'firewall', 'bandwidth',
                   'sbr', 'vrf', 'loopback', 'macvlan', 'sriov')
DEFAULT = {'plugins': list(DEFAULT_PLUGINS), 'host_interfaces': [], 'ipam_data_dirs': []}
KEYS = tuple(DEFAULT)
# plugin type -> the key naming a host link it takes over or sits on
MASTER_KEYS = {'macvlan': 'master', 'ipvlan': 'master', 'vlan': 'master', 'host-device': 'device'}
# plugin type -> keys that reach the host beyond the pod, refused whatever the policy says
REFUSED_KEYS = {
    'portmap': ('conditionsV4', 'conditionsV6', 'externalSetMarkChain'),
    'firewall': ('iptablesAdminChainName',),
    'host-device': ('pciBusID', 'kernelpath', 'runtimeConfig'),
    'sriov': ('deviceID', 'pciBusID'),
}
# runtimeConfig is the runtime's (Multus fills portMappings, mac, ...), never a NAD author's
REFUSED_EVERYWHERE = ('runtimeConfig',)
_SYSCTL = re.compile(r'net[./][A-Za-z0-9_./-]+')
SYS_CLASS_NET = '/sys/class/net'


def load(path=None):
    """The policy of the file ``path`` (default ``POLICY_PATH``); ``DEFAULT`` when there is none."""
    path = path or POLICY_PATH
    try:
        text = files.read_text(path, limit=MAX_POLICY_BYTES)
    except (OSError, files.UnsafePath) as exc:
        raise VmnetError('NAD policy %s: %s' % (path, exc), field='nad_policy_file')
    if text is None:
        return normalise(DEFAULT, 'nad_policy_file')
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise VmnetError('NAD policy %s: invalid JSON: %s' % (path, exc), field='nad_policy_file')
    return normalise(doc, 'NAD policy %s' % path)


def normalise(doc, field='nad_policy'):
    """A complete policy from a (partial) one: missing keys take their ``DEFAULT``."""
    if not isinstance(doc, dict):
        raise VmnetError('%s: must be a mapping with %s' % (field, ', '.join(KEYS)), field=field)
    unknown = sorted(set(doc) - set(KEYS))
    if unknown:
        raise VmnetError('%s: unknown keys %s (known: %s)' % (field, ', '.join(unknown), ', '.join(KEYS)), field=field)
    policy = {}
    for key in KEYS:
        value = doc.get(key)
        if value is None:
            value = DEFAULT[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise VmnetError('%s.%s: must be a list of non-empty strings' % (field, key), field=field)
        if key == 'ipam_data_dirs' and not all(os.path.isabs(v) for v in value):
            raise VmnetError('%s.ipam_data_dirs: must be absolute paths' % field, field=field)
        policy[key] = list(value)
    return policy


def narrowed(policy, narrowing, field='nad_policy'):
    """The policy ``narrowing`` (a module option): a key it does not give does not narrow."""
    if not isinstance(narrowing, dict):
        raise VmnetError('%s: must be a mapping with %s' % (field, ', '.join(KEYS)), field=field)
    filled = dict(narrowing)
    for key in KEYS:
        if filled.get(key) is None:
            filled[key] = policy[key]
    return normalise(filled, field)


def check(policies, conflist, where, net_root=None):
    """Refuse ``conflist`` (a NAD's CNI configuration list) unless every policy allows it;
    one error naming each offending key as ``<where>.plugins[i].<key>``."""
    errors = []
    for policy in policies:
        errors += [e for e in violations(policy, conflist, net_root) if e not in errors]
    if errors:
        raise VmnetError('%s: refused by the NAD policy: %s' % (where, '; '.join(errors)), field='networks')


def violations(policy, conflist, net_root=None):
    """What ``policy`` refuses in ``conflist``, each as ``plugins[i].<key>: why``; host
    bridges are looked up under ``net_root`` (default ``SYS_CLASS_NET``)."""
    net_root = net_root or SYS_CLASS_NET
    found = []
    for index, plugin in enumerate(conflist.get('plugins') or []):
        if isinstance(plugin, dict):
            found += ['plugins[%d].%s' % (index, e) for e in _plugin_violations(policy, plugin, net_root)]
    return found


def _plugin_violations(policy, plugin, net_root):
    kind = plugin.get('type')
    if kind not in policy['plugins']:
        return ['type: CNI plugin "%s" is not allowed (allowed: %s)' % (kind, ', '.join(policy['plugins']) or 'none')]
    found = ['%s: not allowed in a NAD' % key for key in REFUSED_EVERYWHERE + REFUSED_KEYS.get(kind, ())
             if key in plugin]
    if kind in MASTER_KEYS:
        found += _master_violations(policy, plugin, MASTER_KEYS[kind])
    if kind == 'bridge':
        found += _bridge_violations(policy, plugin.get('bridge'), net_root)
    if kind == 'tuning':
        found += ['sysctl.%s: only net.* sysctls of the pod are allowed' % key
                  for key in sorted(plugin.get('sysctl') or {}) if not _sysctl_ok(key)]
    ipam = plugin.get('ipam')
    if isinstance(ipam, dict) and ipam.get('type'):
        found += ['ipam.%s' % e for e in _ipam_violations(policy, ipam)]
    return found


def _master_violations(policy, plugin, key):
    if plugin.get('linkInContainer') is True and key == 'master':
        return []  # a link of the pod itself
    name = plugin.get(key)
    if not isinstance(name, str) or not name:
        return ['%s: required by the NAD policy (without it %s takes the host\'s default-route interface)'
                % (key, plugin.get('type'))] if key == 'master' else ['%s: required' % key]
    if not allowed_interface(policy, name):
        return ['%s: host interface "%s" is not in the policy\'s host_interfaces (%s)'
                % (key, name, ', '.join(policy['host_interfaces']) or 'none')]
    return []


def _bridge_violations(policy, bridge, net_root):
    """The bridge plugin makes its bridge, or joins an existing one: that one must not
    have a host NIC as port (it would put the pod on the host's LAN) unless allowed."""
    if not isinstance(bridge, str) or not bridge or allowed_interface(policy, bridge):
        return []
    nics = host_nic_ports(bridge, net_root)
    if nics:
        return ['bridge: "%s" is a host bridge with host NIC(s) %s as port(s), not in the policy\'s host_interfaces'
                % (bridge, ', '.join(nics))]
    return []


def _ipam_violations(policy, ipam):
    if ipam['type'] not in policy['plugins']:
        return ['type: IPAM plugin "%s" is not allowed (allowed: %s)' % (ipam['type'], ', '.join(policy['plugins']))]
    found = ['%s: not allowed in a NAD' % key for key in ('daemonSocketPath',) if key in ipam]
    data_dir = ipam.get('dataDir')
    if data_dir is not None and not _inside_any(data_dir, policy['ipam_data_dirs']):
        found.append('dataDir: "%s" is not inside the policy\'s ipam_data_dirs (%s)'
                     % (data_dir, ', '.join(policy['ipam_data_dirs']) or 'none'))
    return found


def allowed_interface(policy, name):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in policy['host_interfaces'])


def _inside_any(path, directories):
    if not isinstance(path, str) or not os.path.isabs(path) or '\0' in path:
        return False
    real = os.path.realpath(path)
    return any(real == os.path.realpath(d) or real.startswith(os.path.realpath(d).rstrip('/') + '/')
               for d in directories)


def _sysctl_ok(key):
    return bool(_SYSCTL.fullmatch(key)) and '..' not in key


def host_nic_ports(bridge, net_root):
    """The ports of host bridge ``bridge`` that are host NICs (a bus device, a bond, or a
    VLAN on one), by sysfs; [] when there is no such bridge."""
    if '/' in bridge or bridge in ('.', '..'):
        return []
    try:
        ports = sorted(os.listdir(os.path.join(net_root, bridge, 'brif')))
    except OSError:
        return []
    return [port for port in ports if any(os.path.exists(os.path.join(net_root, port, mark))
                                          for mark in ('device', 'bonding'))
            or _is_vlan_of_nic(port, net_root)]


def _is_vlan_of_nic(port, net_root):
    lowers = [n[len('lower_'):] for n in _listdir(os.path.join(net_root, port)) if n.startswith('lower_')]
    return any(os.path.exists(os.path.join(net_root, lower, 'device')) for lower in lowers)


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
