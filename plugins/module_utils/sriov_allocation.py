# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sriov binding's VFs: a free vfio-pci VF of a pool for a VM interface, recorded under
``<state_dir>/<vm>/sriov/``, with the VF settings its NAD asks for (as sriov-cni applies
them, where the pool allows them), and given back with its original settings."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fcntl
import json
import os

from ansible_collections.vmnet.networks.plugins.module_utils import faults
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.sriov_netlink import VF_FIELDS
from ansible_collections.vmnet.networks.plugins.module_utils.sriov import VFIO_PCI, Run, normalise_settings
from ansible_collections.vmnet.networks.plugins.module_utils.sriov_pools import (
    POOL_NAD_SETTINGS, full_resource_name, pool_devices)

ALLOCATION_KIND = 'sriov'     # records: <state_dir>/<vm>/sriov/<interface>.json
_CNI_ON_OFF = {'on': True, 'off': False}


def cni_vf_settings(cni_config, mac=None):
    """The VF settings an sriov-cni NAD config asks for, as sriov-cni applies them
    (``pkg/sriov/sriov.go ApplyVFConfig``): ``vlan``, ``vlanQoS``, ``vlanProto``, ``mac``
    (the interface's ``macAddress`` over the config's), ``min_tx_rate``/``max_tx_rate``,
    ``spoofchk``/``trust`` (``on``/``off``), ``link_state``. Checked as ``sriov_vf``
    checks its settings."""
    config = cni_config or {}
    raw = {'vlan': config.get('vlan'), 'qos': config.get('vlanQoS'),
           'vlan_proto': (config.get('vlanProto') or '').lower() or None,
           'mac': mac or config.get('mac'),
           'min_tx_rate': config.get('min_tx_rate'), 'max_tx_rate': config.get('max_tx_rate'),
           'link_state': config.get('link_state')}
    for key in ('spoofchk', 'trust'):
        value = config.get(key)
        if value is not None:
            if value not in _CNI_ON_OFF:
                raise VmnetError('NAD config %s: must be "on" or "off", got %r' % (key, value), field=key)
            raw[key] = _CNI_ON_OFF[value]
    settings = normalise_settings(raw, 'NAD config')
    settings.pop('driver', None)
    return settings


_NAD_KEYS = {'qos': 'vlanQoS', 'vlan_proto': 'vlanProto'}


def check_nad_settings(entry, resource_name, settings):
    """Refuse VF settings of a NAD that the pool does not let NADs choose (VLAN, trust,
    spoof check, ...: they reach the host's network beyond the VM)."""
    allowed = (entry or {}).get(POOL_NAD_SETTINGS) or []
    refused = sorted(_NAD_KEYS.get(k, k) for k in (settings or {}) if k != 'mac' and k not in allowed)
    if refused:
        raise VmnetError('NAD config %s: SR-IOV pool "%s" does not let NADs set %s (sriov_pool nad_settings: %s)' % (
            ', '.join(refused), resource_name, 'it' if len(refused) == 1 else 'them',
            ', '.join(allowed) or 'none'), field='networks')


def _allocations(state_dir):
    """``{VF PCI address: (vm, interface)}`` of every record under ``state_dir``."""
    found = {}
    try:
        vms = sorted(os.listdir(state_dir))
    except OSError:
        return found
    for vm in vms:
        directory = os.path.join(state_dir, vm, ALLOCATION_KIND)
        if vm.startswith('.') or not os.path.isdir(directory):
            continue
        for name in sorted(os.listdir(directory)):
            if not name.endswith('.json') or name.startswith('.'):
                continue
            try:
                with open(os.path.join(directory, name)) as handle:
                    found[json.load(handle)['pci_address']] = (vm, name[:-5])
            except (IOError, OSError, ValueError, KeyError):
                continue
    return found


class _StateLock(object):
    """Allocations of all VMs are made one at a time (``<state_dir>/.locks/sriov.lock``)."""

    def __init__(self, state_dir):
        self.path = os.path.join(state_dir, '.locks', 'sriov.lock')
        self.handle = None

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.path, 'w')
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.handle.close()


def _apply_settings(host, record, settings, check_mode):
    """Set the VF's settings through its PF (``Run``: read back, only what differs, undone
    on failure). VF settings do not reset the PF, so a PF with the default route is fine."""
    if not settings:
        return {'changed': False, 'actions': []}
    run = Run(host, record['pf_pci_address'], vfs=[dict(settings, vf=record['vf'])], force=True,
              check_mode=check_mode)
    return run.apply()


def allocate(host, state, pools_doc, resource_name, interface, settings=None, check_mode=False):
    """A VF of the pool ``resource_name`` for ``interface`` of the VM whose ``VmState`` is
    ``state``: the one recorded for it, else the first free VF of the pool (bound to
    vfio-pci, recorded for no VM, used by no running domain). Its original settings are
    recorded before ``settings`` (``cni_vf_settings``) are applied, so ``release`` can
    put them back. Returns ``{changed, actions, record}``."""
    state_dir = os.path.dirname(state.root)
    with _StateLock(state_dir):
        record = state.read(ALLOCATION_KIND, interface)
        fresh = record is None
        entry = next((e for e in pools_doc.get('resourceList', []) if full_resource_name(e) == resource_name), None)
        if fresh and entry is None:
            raise VmnetError('no SR-IOV pool "%s" (sriov_pool); pools: %s' % (resource_name, ', '.join(
                full_resource_name(e) for e in pools_doc.get('resourceList', [])) or 'none'), field='resourceName')
        check_nad_settings(entry, resource_name, settings)
        if fresh:
            taken = _allocations(state_dir)
            users = host.users or {}
            devices = pool_devices(host, entry)
            free = [vf for vf in devices
                    if vf['driver'] == VFIO_PCI and vf['pci_address'] not in taken and not users.get(vf['pci_address'])]
            if not free:
                raise VmnetError('SR-IOV pool "%s" has no free VF bound to vfio-pci (%d VFs in the pool, %d allocated)'
                                 % (resource_name, len(devices), len([d for d in devices if d['pci_address'] in taken])),
                                 field='resourceName')
            vf = sorted(free, key=lambda d: d['pci_address'])[0]
            record = {'resource': resource_name, 'pci_address': vf['pci_address'], 'pf': vf['pf'],
                      'pf_pci_address': vf['pf_pci_address'], 'vf': vf['vf'],
                      'original': dict((k, vf[k]) for k in VF_FIELDS if vf.get(k) is not None)}
        record['settings'] = dict(settings or {})
        actions = ['allocate VF %s of pool %s' % (record['pci_address'], resource_name)] if fresh else []
        if not check_mode:
            state.write(ALLOCATION_KIND, interface, record)   # before the VF changes: a crash leaves it known
            faults.point('sriov:record')
        try:
            applied = _apply_settings(host, record, record['settings'], check_mode) if not (check_mode and fresh) else {
                'changed': bool(settings), 'actions': ['set %s of VF %s' % (', '.join(sorted(settings)), record['pci_address'])]
                if settings else []}
        except Exception:
            if fresh and not check_mode:
                state.delete(ALLOCATION_KIND, interface)
            raise
        actions += applied['actions']
        return {'changed': fresh or applied['changed'], 'actions': actions, 'record': record}


def release(host, state, interface, check_mode=False):
    """Give the interface's VF back: its original settings restored, its record removed.
    An interface without a VF is fine."""
    state_dir = os.path.dirname(state.root)
    with _StateLock(state_dir):
        record = state.read(ALLOCATION_KIND, interface)
        if record is None:
            return {'changed': False, 'actions': [], 'record': None}
        original = dict((k, v) for k, v in record.get('original', {}).items() if k in record.get('settings', {}))
        actions = []
        if host.sysfs.vfs(record['pf_pci_address']).get(record['vf']) == record['pci_address']:
            actions += _apply_settings(host, record, original, check_mode)['actions']
        actions.append('release VF %s of pool %s' % (record['pci_address'], record['resource']))
        if not check_mode:
            faults.point('sriov:release')
            state.delete(ALLOCATION_KIND, interface)
        return {'changed': True, 'actions': actions, 'record': record}
