# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SR-IOV VFs of a PF: count, driver and settings, made to match what is asked.

What the SR-IOV components of Kubernetes do on a node (kubevirt-network.md §5.2), done
in the same way and order:

* the count as the sriov-network-operator sets it: ``0`` first, then ``N``, whenever
  it changes (drivers refuse a change from one non-zero count to another);
* VF settings through the PF over netlink, in sriov-cni's order: VLAN (with QoS and
  protocol), MAC, rates, spoof checking, trust, link state;
* the driver as the operator binds it: the VF's netdev MAC made its admin MAC first
  (a VF handed to vfio-pci keeps its address), then unbind, ``driver_override``, bind,
  and ``driver_override`` cleared; the kernel's own driver through ``drivers_probe``.

Nothing is changed before every refusal has been checked: a PF carrying the host's
default route (unless forced), a VF a libvirt domain uses (running or defined; when that
cannot be checked, refused unless forced), vfio-pci without an IOMMU group. A failure
half-way takes back what the run changed, newest first.

Device pools are in ``sriov_pools``, the sriov binding's VF allocation in ``sriov_allocation``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import fcntl
import os
import re
from collections import namedtuple

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.sriov_netlink import VF_FIELDS, ZERO_MAC
from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import is_pci_address

DEFAULT_DRIVER = 'default'
VFIO_PCI = 'vfio-pci'
# Drivers that give the VF to user space: the VF has no netdev there (sriov-cni's "DPDK mode").
USERSPACE_DRIVERS = ('vfio-pci', 'uio_pci_generic', 'igb_uio', 'pci-stub')
SETTINGS = ('driver',) + VF_FIELDS
LINK_STATES = ('auto', 'enable', 'disable')
VLAN_PROTOS = ('802.1q', '802.1ad')
LOCK_DIR = '/run/vmnet'
_MAC = re.compile(r'^[0-9a-f]{2}(:[0-9a-f]{2}){5}$')

# One change of a plan (``action`` says what it does), and the change that takes it back.
Step = namedtuple('Step', 'action do undo')


# --- what is asked --------------------------------------------------------------------

def normalise_settings(entry, field):
    """The settings of one ``vfs`` entry (or ``all_vfs``) checked, None values dropped,
    MAC lower-cased. ``field`` prefixes the names in errors."""
    out = {}
    for key in SETTINGS:
        value = entry.get(key)
        if value is None:
            continue
        where = '%s.%s' % (field, key)
        if key == 'mac':
            value = value.lower().replace('-', ':')
            if not _MAC.match(value):
                raise VmnetError('%s: %r is not a MAC address' % (where, entry[key]), field=where)
            if int(value.split(':')[0], 16) & 1:
                raise VmnetError('%s: %s is a multicast address' % (where, value), field=where)
        elif key in ('vlan', 'qos', 'min_tx_rate', 'max_tx_rate'):
            limit = {'vlan': 4095, 'qos': 7}.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (limit and value > limit):
                raise VmnetError('%s: must be an integer from 0 to %s, got %r'
                                 % (where, limit or 'the link speed', value), field=where)
        elif key == 'vlan_proto' and value not in VLAN_PROTOS:
            raise VmnetError('%s: must be one of %s' % (where, ', '.join(VLAN_PROTOS)), field=where)
        elif key == 'link_state' and value not in LINK_STATES:
            raise VmnetError('%s: must be one of %s' % (where, ', '.join(LINK_STATES)), field=where)
        elif key == 'driver' and (not isinstance(value, str) or not re.match(r'^[\w.-]+$', value)):
            raise VmnetError('%s: %r is not a driver name' % (where, value), field=where)
        out[key] = value
    if out.get('min_tx_rate') and out.get('max_tx_rate') and out['min_tx_rate'] > out['max_tx_rate']:
        raise VmnetError('%s: min_tx_rate is above max_tx_rate' % field, field=field + '.min_tx_rate')
    return out


def desired_vfs(vfs, all_vfs, count):
    """``{index: settings}`` for the ``count`` VFs: ``all_vfs`` for every VF, each ``vfs``
    entry (``vf`` = its index) over it."""
    common = normalise_settings(all_vfs or {}, 'all_vfs')
    if 'mac' in common:
        raise VmnetError('all_vfs.mac: every VF would get the same MAC; give it per VF in vfs',
                         field='all_vfs.mac')
    want = dict((index, dict(common)) for index in range(count)) if common else {}
    seen = set()
    for position, entry in enumerate(vfs or []):
        field = 'vfs[%d]' % position
        index = entry.get('vf')
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise VmnetError('%s.vf: the VF index (0, 1, ...) is required' % field, field=field + '.vf')
        if index >= count:
            raise VmnetError('%s.vf: VF %d does not exist: the PF has %d VFs (num_vfs)'
                             % (field, index, count), field=field + '.vf')
        if index in seen:
            raise VmnetError('%s.vf: VF %d is listed twice' % (field, index), field=field + '.vf')
        seen.add(index)
        want.setdefault(index, dict(common)).update(normalise_settings(entry, field))
    return want


# --- what is there --------------------------------------------------------------------

def resolve_pf(sysfs, pf):
    """``(pci address, netdev name or None)`` of the PF named by netdev or PCI address."""
    value = (pf or '').strip()
    if is_pci_address(value.lower()):
        address = value.lower()
        if not sysfs.exists(address):
            raise VmnetError('pf: no PCI device %s' % address, field='pf')
    else:
        address = sysfs.address_of_netdev(value)
        if address is None:
            raise VmnetError('pf: "%s" is neither a PCI address nor a network interface backed by a PCI device'
                             % value, field='pf')
    if sysfs.total_vfs(address) is None:
        raise VmnetError('pf: %s (%s) is not an SR-IOV physical function: it has no sriov_totalvfs'
                         % (value, address), field='pf')
    if sysfs.physfn(address):
        raise VmnetError('pf: %s is a VF' % value, field='pf')
    netdevs = sysfs.netdevs(address)
    if value in netdevs:
        return address, value
    return address, netdevs[0] if netdevs else None


def sriov_pfs(sysfs):
    """PCI addresses of every SR-IOV PF."""
    return [a for a in sysfs.devices() if sysfs.total_vfs(a) is not None and not sysfs.physfn(a)]


class Host(object):
    """The pieces a run works with: sysfs, netlink (None when the PF has no netdev to
    speak to), and who uses which PCI device (``{address: [domain]}``, None = unknown,
    ``users_error`` saying why)."""

    def __init__(self, sysfs, netlink, users=None, lock_dir=LOCK_DIR, users_error=None):
        self.sysfs = sysfs
        self.netlink = netlink
        self.users = users
        self.lock_dir = lock_dir
        self.users_error = users_error


def observe_vf(host, index, address, settings):
    sysfs = host.sysfs
    netdevs = sysfs.netdevs(address)
    vendor, device = sysfs.ids(address)
    vf = {'vf': index, 'pci_address': address, 'driver': sysfs.driver(address),
          'driver_override': sysfs.driver_override(address), 'iommu_group': sysfs.iommu_group(address),
          'netdev': netdevs[0] if netdevs else None, 'vendor': vendor, 'device': device,
          'in_use_by': None if host.users is None else sorted(host.users.get(address, []))}
    vf.update(dict.fromkeys(VF_FIELDS))
    vf.update(settings or {})
    return vf


def observe(host, address, ifname):
    """The PF and its VFs as plain dicts (the info module's return value)."""
    sysfs = host.sysfs
    vendor, device = sysfs.ids(address)
    settings = host.netlink.vfs(ifname) if (ifname and host.netlink) else {}
    vfs = sysfs.vfs(address)
    return {
        'pci_address': address, 'name': ifname, 'driver': sysfs.driver(address),
        'vendor': vendor, 'device': device, 'iommu_group': sysfs.iommu_group(address),
        'total_vfs': sysfs.total_vfs(address), 'num_vfs': sysfs.num_vfs(address),
        'vfs': [observe_vf(host, i, vfs[i], settings.get(i)) for i in sorted(vfs)],
    }


def default_driver_ok(vf):
    """A VF is on "the kernel's default" when no override is set and a kernel (not a
    user-space) driver holds it."""
    return vf['driver_override'] is None and vf['driver'] is not None and vf['driver'] not in USERSPACE_DRIVERS


def _settings(vf):
    return dict((key, vf.get(key)) for key in SETTINGS)


def _view(pf):
    """The diff's view of a PF: its count and every VF's settings."""
    return {'num_vfs': pf['num_vfs'],
            'vfs': [dict(_settings(vf), vf=vf['vf'], pci_address=vf['pci_address']) for vf in pf['vfs']]}


# --- the plan ---------------------------------------------------------------------------

class Run(object):
    """One run of ``sriov_vf`` on one PF: plan, refusals, apply, undo."""

    def __init__(self, host, pf, num_vfs=None, vfs=None, all_vfs=None, force=False, check_mode=False):
        self.host = host
        self.sysfs = host.sysfs
        self.address, self.ifname = resolve_pf(self.sysfs, pf)
        self.pf_arg = pf
        self.want_count = num_vfs
        self.vfs_arg, self.all_vfs = vfs or [], all_vfs or {}
        self.force = force
        self.check_mode = check_mode
        self.actions = []
        self.warnings = []
        self._done = []

    # -- helpers -----------------------------------------------------------------------
    def _label(self, vf):
        return 'VF %d (%s)' % (vf['vf'], vf['pci_address'])

    def _step(self, action, do, undo):
        return Step(action, do, undo)

    def _require_netdev(self, want):
        if self.ifname is None and any(k != 'driver' for s in want.values() for k in s):
            raise VmnetError('pf: %s has no network interface (driver %s): VF settings other than the driver '
                             'are made through the PF\'s netdev' % (self.address, self.sysfs.driver(self.address)),
                             field='pf')

    # -- count -------------------------------------------------------------------------
    def _count_steps(self, pf):
        want, have = self.want_count, pf['num_vfs']
        if want is None or want == have:
            return []
        total = pf['total_vfs']
        if want > total:
            raise VmnetError('num_vfs: %s supports at most %d VFs (sriov_totalvfs), %d asked'
                             % (self.address, total, want), field='num_vfs')
        before = copy.deepcopy(pf)
        action = 'set sriov_numvfs of %s from %d to %d' % (self.address, have, want)
        if have and want:
            action += ' (0 first)'
        return [self._step(action, lambda: self._set_count(have, want), lambda: self._restore_count(before))]

    def _set_count(self, have, want):
        if have:
            self.sysfs.set_num_vfs(self.address, 0)
            self.sysfs.wait_vfs(self.address, 0)
        if want:
            self.sysfs.set_num_vfs(self.address, want)
            self.sysfs.wait_vfs(self.address, want)

    def _restore_count(self, before):
        self._set_count(self.sysfs.num_vfs(self.address), before['num_vfs'])
        # the re-created VFs get back the settings they had
        want = dict((vf['vf'], dict((k, v) for k, v in _settings(vf).items() if v is not None))
                    for vf in before['vfs'])
        for step in self._vf_steps(self._observe(), want):
            step.do()

    # -- VFs ---------------------------------------------------------------------------
    def _vf_steps(self, pf, want):
        steps = []
        by_index = dict((vf['vf'], vf) for vf in pf['vfs'])
        for index in sorted(want):
            vf = by_index.get(index)
            if vf is None:  # check mode, VFs not created yet: every setting is a change
                vf = dict(dict.fromkeys(SETTINGS), vf=index, pci_address='new', netdev=None, driver_override=None)
            steps += self._netlink_steps(vf, want[index])
            steps += self._driver_steps(vf, want[index])
        return steps

    def _netlink_steps(self, vf, want):
        steps = []
        if any(k in want for k in ('vlan', 'qos', 'vlan_proto')):
            # set together, as the kernel takes them; a new VLAN starts from QoS 0, 802.1Q
            have = {'vlan': vf.get('vlan') or 0, 'qos': vf.get('qos') or 0,
                    'vlan_proto': vf.get('vlan_proto') or '802.1q'}
            fresh = 'vlan' in want
            target = {'vlan': want.get('vlan', have['vlan']),
                      'qos': want.get('qos', 0 if fresh else have['qos']),
                      'vlan_proto': want.get('vlan_proto', '802.1q' if fresh else have['vlan_proto'])}
            if target != have:
                steps.append(self._vlan_step(vf, target, have))
        if 'mac' in want and want['mac'] != vf.get('mac'):
            steps.append(self._set_step(vf, 'mac', want['mac'], vf.get('mac') or ZERO_MAC))
        if 'min_tx_rate' in want or 'max_tx_rate' in want:
            old = (vf.get('min_tx_rate') or 0, vf.get('max_tx_rate') or 0)
            new = (want.get('min_tx_rate', old[0]), want.get('max_tx_rate', old[1]))
            if new != (vf.get('min_tx_rate'), vf.get('max_tx_rate')):
                steps.append(self._set_step(vf, 'rate', new, old, 'min/max_tx_rate'))
        for field in ('spoofchk', 'trust', 'link_state'):
            if field in want and want[field] != vf.get(field):
                old = vf.get(field)
                if old is None:
                    old = 'auto' if field == 'link_state' else False
                steps.append(self._set_step(vf, field, want[field], old))
        return steps

    def _vlan_step(self, vf, target, old):
        index = vf['vf']
        action = '%s of %s: vlan %d qos %d proto %s' % (self.ifname, self._label(vf), target['vlan'], target['qos'],
                                                        target['vlan_proto'])
        return self._step(action, lambda: self.host.netlink.set_vf(self.ifname, index, 'vlan', None, vlan=target),
                          lambda: self.host.netlink.set_vf(self.ifname, index, 'vlan', None, vlan=old))

    def _set_step(self, vf, field, value, old, label=None):
        index = vf['vf']
        shown = '%s/%s' % value if field == 'rate' else value
        if isinstance(shown, bool):
            shown = 'on' if shown else 'off'
        action = '%s of %s: %s %s' % (self.ifname, self._label(vf), label or field, shown)
        return self._step(action, lambda: self.host.netlink.set_vf(self.ifname, index, field, value),
                          lambda: self.host.netlink.set_vf(self.ifname, index, field, old))

    def _driver_steps(self, vf, want):
        driver = want.get('driver')
        if driver is None:
            return []
        if driver == DEFAULT_DRIVER:
            if default_driver_ok(vf):
                return []
        elif vf['driver'] == driver:
            return []
        steps = []
        if (driver in USERSPACE_DRIVERS and 'mac' not in want and vf.get('mac') in (None, ZERO_MAC)
                and vf.get('netdev') and self.ifname):
            # the operator's order: keep the VF's address across the switch
            mac = self.sysfs.read(self.sysfs.device_path(vf['pci_address'], 'net', vf['netdev'], 'address'))
            if mac and mac != ZERO_MAC:
                steps.append(self._set_step(vf, 'mac', mac, ZERO_MAC, 'mac (from %s)' % vf['netdev']))
        address, old_driver, old_override = vf['pci_address'], vf['driver'], vf['driver_override']
        action = 'bind %s to %s (was %s)' % (self._label(vf), driver, old_driver or 'no driver')
        steps.append(self._step(action, lambda: self._bind(address, driver),
                                lambda: self._bind(address, old_driver, old_override)))
        return steps

    def _bind(self, address, driver, override=None):
        """Give the device to ``driver`` (``default``: the kernel's choice; None: none)."""
        sysfs = self.sysfs
        sysfs.unbind(address)
        if driver is None:
            sysfs.set_driver_override(address, override)
            return
        if driver == DEFAULT_DRIVER:
            sysfs.set_driver_override(address, None)
            sysfs.probe(address)
            return
        sysfs.set_driver_override(address, driver)
        try:
            sysfs.bind(address, driver)
        finally:
            sysfs.set_driver_override(address, override)
        if sysfs.driver(address) != driver:
            raise VmnetError('%s did not bind to %s (driver now: %s)' % (address, driver, sysfs.driver(address)))

    # -- refusals ----------------------------------------------------------------------
    def _refusals(self, pf, count_steps, vf_steps, want):
        if not (count_steps or vf_steps):
            return
        if not self.force and self.ifname and self.host.netlink:
            carriers = self.host.netlink.default_route_links()
            if self.ifname in carriers:
                raise VmnetError('pf: %s carries the host\'s default route (through %s); changing its VFs can cut '
                                 'the host off. Nothing was changed; set force: true to go ahead'
                                 % (self.ifname, ', '.join(carriers)), field='pf')
        rebinds = []
        for index, settings in sorted(want.items()):
            vf = next((v for v in pf['vfs'] if v['vf'] == index), None)
            if vf is None or 'driver' not in settings:
                continue
            if not (default_driver_ok(vf) if settings['driver'] == DEFAULT_DRIVER else vf['driver'] == settings['driver']):
                rebinds.append((index, vf, settings['driver']))
        if self.host.users is None and (count_steps or rebinds) and not self.force:
            # fail closed: a VF of a VM must not be taken away unseen
            what = 'changing the VF count' if count_steps else 'rebinding %s' % ', '.join(
                self._label(vf) for _index, vf, _driver in rebinds)
            raise VmnetError('uri: which VFs libvirt domains use cannot be checked (%s), and %s could take one from a '
                             'VM. Nothing was changed; set force: true to go ahead'
                             % (self.host.users_error or 'libvirt unknown', what), field='uri')
        users = self.host.users or {}
        in_use = dict((vf['vf'], sorted(users[vf['pci_address']])) for vf in pf['vfs'] if users.get(vf['pci_address']))
        if count_steps and in_use:
            used = '; '.join('VF %d (%s)' % (i, ', '.join(d)) for i, d in sorted(in_use.items()))
            raise VmnetError('num_vfs: changing the count removes every VF, and libvirt domains (running or defined) '
                             'use %s. Nothing was changed' % used, field='num_vfs')
        for index, vf, driver in rebinds:
            if index in in_use:
                raise VmnetError('%s is used by the libvirt domain(s) %s (running or defined): it cannot be rebound to '
                                 '%s. Nothing was changed' % (self._label(vf), ', '.join(in_use[index]), driver),
                                 field='vfs')
        for index, settings in sorted(want.items()):
            if settings.get('driver') != VFIO_PCI:
                continue
            vf = next((v for v in pf['vfs'] if v['vf'] == index), None)
            if vf is not None and vf['driver'] == VFIO_PCI:
                continue
            group = vf['iommu_group'] if vf is not None else self.sysfs.iommu_group(self.address)
            if group is None:
                raise VmnetError('VF %d of %s: no IOMMU group, so vfio-pci cannot take it. Enable the IOMMU (kernel '
                                 'command line intel_iommu=on or amd_iommu=on, VT-d/AMD-Vi in the firmware). '
                                 'Nothing was changed' % (index, self.address), field='vfs')
        drivers = sorted(set(s['driver'] for s in want.values() if s.get('driver') not in (None, DEFAULT_DRIVER)))
        for driver in drivers:
            if self.sysfs.driver_available(driver):
                continue
            if self.check_mode:
                self.warnings.append('driver %s is not loaded; the run would load it' % driver)
                continue
            if not self.sysfs.load_module(driver):
                raise VmnetError('driver %s is not available (modprobe %s failed). Nothing was changed'
                                 % (driver, driver), field='vfs')
            self.actions.append('load kernel module %s' % driver)

    # -- run ---------------------------------------------------------------------------
    def _observe(self):
        return observe(self.host, self.address, self.ifname)

    def _run(self, steps):
        for step in steps:
            try:
                step.do()
            except Exception:
                # a step may fail half-way (unbound, then the bind refused): take it back too
                self._done.append(step)
                raise
            self._done.append(step)
            self.actions.append(step.action)

    def _undo(self, error):
        message = str(error)
        for step in reversed(self._done):
            try:
                step.undo()
            except Exception as exc:  # keep taking back the rest
                message += '; taking back "%s" failed too: %s' % (step.action, exc)
        if self._done:
            message += ' (taken back: %s)' % '; '.join(s.action for s in reversed(self._done))
        return message

    def apply(self):
        """Make the PF match; returns ``{changed, actions, warnings, pf, diff}``."""
        with _Lock(self.host.lock_dir, self.address):
            before = self._observe()
            count = self.want_count if self.want_count is not None else before['num_vfs']
            want = desired_vfs(self.vfs_arg, self.all_vfs, count)
            self._require_netdev(want)
            count_steps = self._count_steps(before)
            # after a count change the VFs are new: their plan is made once they exist
            planned_vfs = self._vf_steps(before if not count_steps else dict(before, vfs=[]), want)
            self._refusals(before, count_steps, planned_vfs, want)
            if self.check_mode:
                self.actions += [s.action for s in count_steps + planned_vfs]
                return self._result(before, self._predict(before, count, want), bool(count_steps or planned_vfs))
            try:
                self._run(count_steps)
                self._run(self._vf_steps(self._observe(), want) if count_steps else planned_vfs)
            except Exception as exc:
                raise VmnetError('%s: %s' % (self.address, self._undo(exc)))
            after = self._observe()
            return self._result(before, after, bool(self._done))

    def _predict(self, before, count, want):
        after = copy.deepcopy(before)
        after['num_vfs'] = count
        if count != before['num_vfs']:
            after['vfs'] = [dict(dict.fromkeys(SETTINGS), vf=i, pci_address=None) for i in range(count)]
        for vf in after['vfs']:
            vf.update(want.get(vf['vf'], {}))
        return after

    def _result(self, before, after, changed):
        return {'changed': changed, 'actions': self.actions, 'warnings': self.warnings, 'pf': after,
                'diff': {'before': _view(before), 'after': _view(after)}}


class _Lock(object):
    """One run per PF at a time (``<lock_dir>/sriov-<address>.lock``)."""

    def __init__(self, lock_dir, address):
        self.path = os.path.join(lock_dir, 'sriov-%s.lock' % address.replace(':', '_'))
        self.handle = None

    def __enter__(self):
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            self.handle = open(self.path, 'w')
        except OSError:  # a read-only /run: run unlocked rather than not at all
            return self
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.handle:
            self.handle.close()
