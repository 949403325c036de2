# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for a libvirt domain's NICs and PCI host devices, in its persistent
definition and live.

The devices' XML is libvirt_xml.py's. Devices are attached, detached and updated; the
domain is never redefined. Comparisons are made on the parsed dicts, never on XML text, so
libvirt's normalisation of the XML never shows up as a change.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time
import xml.etree.ElementTree as ET
from collections import namedtuple

try:
    import libvirt
    HAS_LIBVIRT = True
except ImportError:
    HAS_LIBVIRT = False

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import (
    METADATA_KEY, METADATA_URI, SRIOV_ALIAS_PREFIX, child_attr, edited, find_device, hostdev_differences, hostdevs,
    keep_assigned, nic_differences, normalise_nic, parse_hostdev, parse_interface, parse_pod_metadata, to_xml,
    user_aliases, with_link_state, write_pci_address)

_UNPLUG_POLL_SECONDS = 0.2


class DomainNotFound(VmnetError):
    pass


def find_domain(uri, domain_name, required=True):
    """``DomainNics`` of the domain; None when it does not exist and is not ``required``
    (removing an interface of a domain that is gone is fine)."""
    try:
        return DomainNics(uri, domain_name)
    except DomainNotFound:
        if required:
            raise
        return None


# --- the domain -----------------------------------------------------------------------

# One libvirt call of a plan (``action`` says what it does), and the call that takes it back.
_Step = namedtuple('_Step', 'action do undo')


class DomainNics(object):
    """The NICs of one libvirt domain. Use as a context manager, or call ``close()``."""

    def __init__(self, uri, domain_name, unplug_timeout=30):
        if not HAS_LIBVIRT:
            raise VmnetError('the libvirt Python bindings (libvirt-python) are required')
        self.name = domain_name
        self._unplug_timeout = unplug_timeout
        # errors reach us as exceptions; libvirt would also print each one on stderr
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        try:
            self._conn = libvirt.open(uri)
        except libvirt.libvirtError as err:
            raise VmnetError('cannot connect to libvirt at %s: %s' % (uri, err.get_error_message()))
        try:
            self._domain = self._conn.lookupByName(domain_name)
        except libvirt.libvirtError as err:
            self._conn.close()
            if err.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise DomainNotFound('libvirt domain "%s" not found' % domain_name)
            raise VmnetError('cannot look up libvirt domain "%s": %s' % (domain_name, err.get_error_message()))
        # the XML of the persistent and the live definition, read once until a change (``_definitions``)
        self._xml = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self._conn.close()

    @property
    def running(self):
        return bool(self._domain.isActive())

    @property
    def domain(self):
        """The ``libvirt.virDomain``, for adapters of what is not a device (libvirt_qemu_args),
        which may change it: what was read is read again."""
        self._xml = None
        return self._domain

    def vcpus(self):
        """``{'current': n, 'maximum': m}`` of the persistent definition."""
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        return {'current': self._domain.vcpusFlags(flags),
                'maximum': self._domain.vcpusFlags(flags | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)}

    def guest_interfaces(self):
        """The guest's NICs as the QEMU guest agent reports them: ``[{'name', 'mac', 'ips'}]``;
        empty when the domain is off or has no agent answering."""
        if not self.running:
            return []
        try:
            reported = self._domain.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)
        except libvirt.libvirtError:
            return []
        return [{'name': name, 'mac': (info.get('hwaddr') or '').lower(),
                 'ips': [a['addr'] for a in info.get('addrs') or []
                         if not a['addr'].startswith(('127.', '::1', 'fe80:'))]}
                for name, info in sorted(reported.items()) if name != 'lo']

    def os_boot_devices(self):
        """The ``<os><boot dev=.../>`` entries of the persistent definition. libvirt gives a
        domain defined without any boot element ``<boot dev='hd'/>``, and refuses a device's
        own ``<boot order>`` beside them."""
        config, _live = self._definitions()
        return [boot.get('dev') for boot in config.findall('./os/boot')]

    def get(self, alias):
        """``{'config': nic or None, 'live': nic or None}`` of the NIC with ``alias``."""
        config, live = self._definitions()
        return {'config': parse_interface(find_device(config, alias)),
                'live': parse_interface(find_device(live, alias))}

    def list_nics(self):
        """Every NIC with a user alias: ``[{'alias', 'config', 'live'}]``, in the order
        of the persistent definition, then those that are only live."""
        config, live = self._definitions()
        aliases = user_aliases(config)
        aliases += [alias for alias in user_aliases(live) if alias not in aliases]
        return [{'alias': alias,
                 'config': parse_interface(find_device(config, alias)),
                 'live': parse_interface(find_device(live, alias))} for alias in aliases]

    def ensure(self, nic, check_mode=False):
        """Make the NIC exist as ``nic`` says: always in the persistent definition and,
        when the domain runs, live (hot-plug; link state changes). A live NIC that
        differs otherwise is left alone and ``restart_required`` is set."""
        want = normalise_nic(nic)
        alias = want['alias']
        self._require_persistent()
        config, live = self._definitions()
        config_nic, live_nic = find_device(config, alias), find_device(live, alias)
        before = {'config': parse_interface(config_nic), 'live': parse_interface(live_nic)}
        want = keep_assigned(want, before['config'] or before['live'])
        # The element to attach: the NIC's own (the user's extras kept), edited.
        desired = edited(config_nic if config_nic is not None else live_nic, want)
        steps = []
        after = {'config': parse_interface(desired), 'live': before['live']}
        restart_required = False

        if live is not None and config_nic is None and live_nic is None:
            # One call, as KubeVirt makes it: libvirt gives both the same generated MAC.
            self._require_hotplug(live)
            steps.append(self._attach(desired, 'attach and hot-plug "%s"' % alias, live=True, config=True))
            after['live'] = after['config']
        else:
            steps += self._config_steps(config_nic, desired, want)
            if live is not None:
                live_steps, after['live'], restart_required = self._live_steps(live, live_nic, desired, want)
                steps += live_steps
        if check_mode or not steps:
            return self._result(before, after, steps, restart_required)
        self._run(steps)
        return self._result(before, self.get(alias), steps, restart_required)

    def remove(self, alias, check_mode=False):
        """Hot-unplug the NIC (when live) and remove it from the persistent definition.
        A NIC that is not there is fine."""
        return self._remove(alias, 'interface', parse_interface, check_mode)

    def _remove(self, alias, tag, parse, check_mode):
        self._require_persistent()
        config, live = self._definitions()
        config_nic, live_nic = find_device(config, alias, tag), find_device(live, alias, tag)
        before = {'config': parse(config_nic), 'live': parse(live_nic)}
        steps = []
        if live_nic is not None:
            self._require_hotplug(live)
            steps.append(self._unplug(live_nic, alias))
        if config_nic is not None:
            steps.append(self._detach(config_nic, 'detach "%s" from the persistent definition' % alias))
        if not check_mode:
            self._run(steps)
        return self._result(before, {'config': None, 'live': None}, steps, False)

    # --- SR-IOV: PCI host devices (ua-sriov-<name>) ---

    def list_hostdevs(self):
        """Every PCI host device with an SR-IOV user alias: ``[{'alias', 'config', 'live'}]``
        (``parse_hostdev`` dicts), in the order of the persistent definition, then those
        that are only live."""
        config, live = self._definitions()
        aliases = []
        for root in (config, live):
            for element in root.findall('./devices/hostdev') if root is not None else []:
                alias = child_attr(element, 'alias', 'name')
                if alias and alias.startswith(SRIOV_ALIAS_PREFIX) and alias not in aliases:
                    aliases.append(alias)
        return [{'alias': alias,
                 'config': parse_hostdev(find_device(config, alias, 'hostdev')),
                 'live': parse_hostdev(find_device(live, alias, 'hostdev'))} for alias in aliases]

    def ensure_hostdev(self, hostdev_xml, check_mode=False):
        """Make the PCI host device ``hostdev_xml`` (``render_hostdev``) exist, matched by
        its alias, as ``ensure`` makes a NIC: in the persistent definition (replaced when
        it differs) and, when the domain runs, live (hot-plug). A live device that
        differs is left alone and ``restart_required`` is set."""
        desired = ET.fromstring(hostdev_xml)
        want = parse_hostdev(desired)
        alias = want['alias'] if want else None
        if not (alias and alias.startswith(SRIOV_ALIAS_PREFIX)):
            raise VmnetError('a PCI <hostdev> with alias "%s<name>" is required' % SRIOV_ALIAS_PREFIX, field='alias')
        self._require_persistent()
        config, live = self._definitions()
        config_dev, live_dev = find_device(config, alias, 'hostdev'), find_device(live, alias, 'hostdev')
        before = {'config': parse_hostdev(config_dev), 'live': parse_hostdev(live_dev)}
        if want['pci_address'] is None and (before['config'] or before['live']):
            # the guest address libvirt chose is kept, as for a NIC
            kept = (before['config'] or before['live'])['pci_address']
            if kept:
                write_pci_address(desired, kept)
                want = parse_hostdev(desired)
        after = {'config': want, 'live': before['live']}
        steps = []
        restart_required = False
        if live is not None and config_dev is None and live_dev is None:
            self._require_hotplug(live)
            steps.append(self._attach(desired, 'attach and hot-plug "%s"' % alias, live=True, config=True))
            after['live'] = want
        else:
            if config_dev is None:
                steps.append(self._attach(desired, 'attach "%s" to the persistent definition' % alias))
            elif before['config'] != want:
                steps.append(self._replace(config_dev, desired, 'replace "%s" in the persistent definition (%s)'
                                           % (alias, ', '.join(hostdev_differences(want, before['config'])))))
            if live is not None and live_dev is None:
                self._require_hotplug(live)
                steps.append(self._attach(desired, 'hot-plug "%s"' % alias, live=True, config=False))
                after['live'] = want
            elif live is not None:
                restart_required = before['live'] != want
        if check_mode or not steps:
            return self._result(before, after, steps, restart_required)
        self._run(steps)
        config, live = self._definitions()
        return self._result(before, {'config': parse_hostdev(find_device(config, alias, 'hostdev')),
                                     'live': parse_hostdev(find_device(live, alias, 'hostdev'))},
                            steps, restart_required)

    def remove_hostdev(self, alias, check_mode=False):
        """Hot-unplug the PCI host device with ``alias`` (when live) and remove it from the
        persistent definition. One that is not there is fine."""
        return self._remove(alias, 'hostdev', parse_hostdev, check_mode)

    # --- the pod's record in the domain ---

    def pod_metadata(self):
        """``{'vm', 'namespace', 'state_dir'}`` from the domain's vmnet metadata, or None."""
        try:
            text = self._domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_URI,
                                         libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        except libvirt.libvirtError:
            return None
        return parse_pod_metadata(text)

    def ensure_pod_metadata(self, namespace, vm, state_dir, check_mode=False):
        """Record in the domain which pod it belongs to, for the libvirt hook that re-plumbs
        the pod before the domain starts (replumb.py). Returns the actions."""
        if self.pod_metadata() == {'vm': vm, 'namespace': namespace, 'state_dir': state_dir}:
            return []
        if not check_mode:
            for field, value in (('namespace', namespace), ('vm', vm), ('state_dir', state_dir)):
                names.plain_text(value, field)
            element = ET.Element('pod', {'vm': vm, 'namespace': namespace, 'state-dir': state_dir})
            self._set_metadata(to_xml(element))
        return ['record the pod of "%s/%s" in the domain metadata' % (namespace, vm)]

    def remove_pod_metadata(self, check_mode=False):
        if self.pod_metadata() is None:
            return []
        if not check_mode:
            self._set_metadata(None)
        return ['remove the pod record from the domain metadata']

    def _set_metadata(self, xml):
        self._xml = None
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if self.running else 0)
        self._domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, METADATA_KEY, METADATA_URI, flags)

    # --- planning ---

    def _config_steps(self, config_nic, desired, want):
        alias = want['alias']
        if config_nic is None:
            return [self._attach(desired, 'attach "%s" to the persistent definition' % alias)]
        changed = nic_differences(want, parse_interface(config_nic))
        if not changed:
            return []
        if changed == ['link_state']:
            return [self._update(config_nic, with_link_state(config_nic, want['link_state']),
                                 'set the link of "%s" %s in the persistent definition'
                                 % (alias, want['link_state']))]
        return [self._replace(config_nic, desired, 'replace "%s" in the persistent definition (%s)'
                              % (alias, ', '.join(changed)))]

    def _live_steps(self, live, live_nic, desired, want):
        """(steps, the live NIC after them, whether only a restart applies the rest)."""
        alias = want['alias']
        if live_nic is None:
            self._require_hotplug(live)
            return [self._attach(desired, 'hot-plug "%s"' % alias, live=True, config=False)], \
                parse_interface(desired), False
        have = parse_interface(live_nic)
        changed = nic_differences(want, have)
        steps = []
        if 'link_state' in changed:
            steps.append(self._update(live_nic, with_link_state(live_nic, want['link_state']),
                                      'set the link of "%s" %s live' % (alias, want['link_state']),
                                      live=True))
            have = dict(have, link_state=want['link_state'])
        return steps, have, any(field != 'link_state' for field in changed)

    def _require_persistent(self):
        if not self._domain.isPersistent():
            raise VmnetError('libvirt domain "%s" is transient: vmnet manages the NICs of '
                             'persistent domains' % self.name)

    def _require_hotplug(self, live):
        """Machine "pc" (i440fx) hot-plugs PCI devices through ACPI only; without it
        QEMU refuses, and an unplug would wait for a guest that cannot answer."""
        machine = live.find('./os/type').get('machine', '')
        if machine.startswith('pc') and 'q35' not in machine and live.find('./features/acpi') is None:
            raise VmnetError('libvirt domain "%s" cannot hot-plug or hot-unplug NICs: machine %s '
                             'has PCI hot-plug only with ACPI (<features><acpi/></features>); '
                             'stop the domain, or add ACPI and restart it' % (self.name, machine))

    # --- libvirt calls ---

    def definitions(self):
        """``_definitions``, for adapters of what is not a device that only read (libvirt_qemu_args)."""
        return self._definitions()

    def _definitions(self):
        """The persistent and (when running) the live definition, as new element trees; the XML
        is read once per run of the module until vmnet changes the domain."""
        if self._xml is None:
            self._xml = (self._domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE),
                         self._domain.XMLDesc(0) if self.running else None)
        config, live = self._xml
        return ET.fromstring(config), (ET.fromstring(live) if live is not None else None)

    @staticmethod
    def _flags(live, config):
        return ((libvirt.VIR_DOMAIN_AFFECT_LIVE if live else 0) |
                (libvirt.VIR_DOMAIN_AFFECT_CONFIG if config else 0))

    def _attach(self, element, action, live=False, config=True):
        xml, flags = to_xml(element), self._flags(live, config)
        return _Step(action,
                     lambda: self._domain.attachDeviceFlags(xml, flags),
                     lambda: self._domain.detachDeviceFlags(xml, flags))

    def _detach(self, element, action):
        xml, flags = to_xml(element), libvirt.VIR_DOMAIN_AFFECT_CONFIG
        return _Step(action,
                     lambda: self._domain.detachDeviceFlags(xml, flags),
                     lambda: self._domain.attachDeviceFlags(xml, flags))

    def _replace(self, old, new, action):
        """Detach ``old`` and attach ``new`` in the persistent definition: libvirt updates
        little but the link state in place."""
        old_xml, new_xml, flags = to_xml(old), to_xml(new), libvirt.VIR_DOMAIN_AFFECT_CONFIG

        def replace():
            self._domain.detachDeviceFlags(old_xml, flags)
            try:
                self._domain.attachDeviceFlags(new_xml, flags)
            except libvirt.libvirtError:
                self._domain.attachDeviceFlags(old_xml, flags)
                raise

        def restore():
            self._domain.detachDeviceFlags(new_xml, flags)
            self._domain.attachDeviceFlags(old_xml, flags)

        return _Step(action, replace, restore)

    def _update(self, old, new, action, live=False):
        flags = self._flags(live, not live)
        return _Step(action,
                     lambda: self._domain.updateDeviceFlags(to_xml(new), flags),
                     lambda: self._domain.updateDeviceFlags(to_xml(old), flags))

    def _unplug(self, live_nic, alias):
        xml = to_xml(live_nic)

        def unplug():
            self._domain.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            self._wait_unplugged(alias, live_nic.tag)

        return _Step('hot-unplug "%s"' % alias, unplug,
                     lambda: self._domain.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE))

    def _wait_unplugged(self, alias, tag='interface'):
        # libvirt waits 5 s for the guest to release the device, then returns anyway.
        deadline = time.monotonic() + self._unplug_timeout
        while find_device(ET.fromstring(self._domain.XMLDesc(0)), alias, tag) is not None:
            if time.monotonic() > deadline:
                raise VmnetError('the guest did not release the %s within %d s'
                                 % ('NIC' if tag == 'interface' else 'device', self._unplug_timeout))
            time.sleep(_UNPLUG_POLL_SECONDS)

    def _run(self, steps):
        """Run the steps; on a failure take back the ones done, newest first."""
        if steps:
            self._xml = None
        done = []
        for step in steps:
            try:
                step.do()
            except (libvirt.libvirtError, VmnetError) as err:
                message = 'libvirt domain "%s": %s failed: %s' % (self.name, step.action, _message(err))
                for finished in reversed(done):
                    try:
                        finished.undo()
                    except libvirt.libvirtError as undo_err:
                        message += '; taking back "%s" failed too: %s' % (finished.action, _message(undo_err))
                raise VmnetError(message)
            done.append(step)

    @staticmethod
    def _result(before, after, steps, restart_required):
        return {'changed': bool(steps), 'before': before, 'after': after,
                'actions': [step.action for step in steps], 'restart_required': restart_required}


def _message(err):
    return err.get_error_message() if isinstance(err, libvirt.libvirtError) else str(err)


def pci_hostdev_users(uri):
    """``{host PCI address: [domain]}`` over every domain of ``uri``: the live definition of
    a running one and the persistent definition of a defined one (running or stopped: a
    stopped domain needs its VF to start)."""
    if not HAS_LIBVIRT:
        raise VmnetError('the libvirt Python bindings (libvirt-python) are required')
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as err:
        raise VmnetError('cannot connect to libvirt at %s: %s' % (uri, err.get_error_message()))
    users = {}
    try:
        for domain in conn.listAllDomains(0):
            sources = set()
            for flags, wanted in ((0, domain.isActive), (libvirt.VIR_DOMAIN_XML_INACTIVE, domain.isPersistent)):
                try:
                    if wanted():
                        sources.update(h['source'] for h in hostdevs(ET.fromstring(domain.XMLDesc(flags))))
                except libvirt.libvirtError:  # stopped or undefined meanwhile
                    continue
            for source in sorted(sources):
                users.setdefault(source, []).append(domain.name())
    finally:
        conn.close()
    return users
