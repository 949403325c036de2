# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SR-IOV device pools: resource names and the selectors that pick their VFs, in the SR-IOV
network device plugin's own ``config.json`` format (``sriov_pool``), and the VFs a pool
selects on this host."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

POOLS_PATH = '/etc/vmnet/sriov/pools.json'
# VF settings a NAD may ask for where its pool allows them (sriov_pool nad_settings); the MAC
# is the interface's (macAddress), always allowed, as in KubeVirt
NAD_SETTINGS = ('vlan', 'qos', 'vlan_proto', 'spoofchk', 'trust', 'link_state', 'min_tx_rate', 'max_tx_rate')
POOL_NAD_SETTINGS = 'vmnetNadSettings'    # the pools file key (the device plugin ignores it)
DEFAULT_RESOURCE_PREFIX = 'intel.com'
SELECTORS = (('vendors', 'vendors'), ('devices', 'devices'), ('drivers', 'drivers'),
             ('pf_names', 'pfNames'), ('root_devices', 'rootDevices'))
_RESOURCE = re.compile(r'^(?:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)/)?([A-Za-z0-9][-A-Za-z0-9_.]*)$')


def split_resource_name(name):
    """``(prefix, name)`` of ``prefix/name`` (the device plugin's default prefix if none)."""
    match = _RESOURCE.match(name or '')
    if not match:
        raise VmnetError('name: %r is not a resource name like intel.com/sriov_net' % name, field='name')
    return match.group(1) or DEFAULT_RESOURCE_PREFIX, match.group(3)


def full_resource_name(entry):
    return '%s/%s' % (entry.get('resourcePrefix') or DEFAULT_RESOURCE_PREFIX, entry['resourceName'])


def pool_entry(name, selectors, nad_settings=None):
    """A ``resourceList`` entry of the SR-IOV network device plugin's ``config.json``, with
    the VF settings NADs may choose (``nad_settings``, vmnet's own key)."""
    prefix, short = split_resource_name(name)
    entry = {'resourceName': short}
    bad = sorted(set(nad_settings or []) - set(NAD_SETTINGS))
    if bad:
        raise VmnetError('nad_settings: unknown %s (known: %s)' % (', '.join(bad), ', '.join(NAD_SETTINGS)),
                         field='nad_settings')
    if nad_settings:
        entry[POOL_NAD_SETTINGS] = sorted(set(nad_settings))
    if prefix != DEFAULT_RESOURCE_PREFIX:
        entry['resourcePrefix'] = prefix
    rendered = {}
    for option, key in SELECTORS:
        values = selectors.get(option)
        if not values:
            continue
        values = [str(v).strip() for v in values]
        if option in ('vendors', 'devices'):
            values = [v[2:] if v.lower().startswith('0x') else v for v in values]
            bad = [v for v in values if not re.match(r'^[0-9a-fA-F]{4}$', v)]
            if bad:
                raise VmnetError('%s: %s must be 4-digit hex IDs (8086, 10ca)' % (option, ', '.join(bad)), field=option)
            values = [v.lower() for v in values]
        rendered[key] = values
    if not rendered:
        raise VmnetError('a pool needs at least one selector (vendors, devices, drivers, pf_names, root_devices)',
                         field='vendors')
    entry['selectors'] = rendered
    return entry


def load_pools(path):
    """The pools document (``{"resourceList": [...]}``); an empty one if there is none."""
    try:
        with open(path) as handle:
            doc = json.load(handle)
    except (IOError, OSError):
        return {'resourceList': []}
    except ValueError as exc:
        raise VmnetError('%s is not valid JSON: %s' % (path, exc), field='path')
    if not isinstance(doc, dict) or not isinstance(doc.get('resourceList', []), list):
        raise VmnetError('%s is not an SR-IOV device plugin configuration (no resourceList)' % path, field='path')
    doc.setdefault('resourceList', [])
    return doc


def dump_pools(doc):
    return json.dumps(doc, indent=2, sort_keys=True) + '\n'


def write_file(path, text, mode=0o644):
    directory = os.path.dirname(path) or '.'
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, '.%s.tmp' % os.path.basename(path))
    with open(tmp, 'w') as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def _pf_name_match(selector, pf_name, index):
    """The device plugin's ``pfNames`` entry: ``eth1`` or ``eth1#0-3,7``."""
    name, _sep, ranges = selector.partition('#')
    if name != pf_name:
        return False
    if not ranges:
        return True
    for part in ranges.split(','):
        low, _sep, high = part.partition('-')
        try:
            if int(low) <= index <= int(high or low):
                return True
        except ValueError:
            return False
    return False


def pool_matches(entry, pf, vf):
    """Whether VF ``vf`` (of PF ``pf``, dicts as ``observe`` makes them) is in the pool:
    every selector given must match (each is a list of alternatives)."""
    selectors = entry.get('selectors') or {}
    if isinstance(selectors, list):  # the device plugin accepts a list of selector sets
        return any(pool_matches(dict(entry, selectors=s), pf, vf) for s in selectors)
    checks = {
        'vendors': lambda values: (vf['vendor'] or '').lower() in [v.lower() for v in values],
        'devices': lambda values: (vf['device'] or '').lower() in [v.lower() for v in values],
        'drivers': lambda values: vf['driver'] in values,
        'pfNames': lambda values: any(_pf_name_match(v, pf['name'], vf['vf']) for v in values),
        'rootDevices': lambda values: pf['pci_address'] in values,
    }
    for key, values in selectors.items():
        if key in checks and values and not checks[key](values):
            return False
    return True


def pool_devices(host, entry):
    """The VFs of every SR-IOV PF that the pool selects, as ``observe`` reports them."""
    # imported here: every pod reads POOLS_PATH, only SR-IOV runs need the SR-IOV host code
    from ansible_collections.vmnet.networks.plugins.module_utils.sriov import observe, sriov_pfs
    found = []
    for address in sriov_pfs(host.sysfs):
        netdevs = host.sysfs.netdevs(address)
        pf = observe(host, address, netdevs[0] if netdevs else None)
        found += [dict(vf, pf=pf['name'], pf_pci_address=address) for vf in pf['vfs'] if pool_matches(entry, pf, vf)]
    return found
