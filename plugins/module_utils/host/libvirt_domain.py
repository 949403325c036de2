# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for a libvirt domain's NICs, in its persistent definition and live.

A NIC is a plain dict of the fields in ``NIC_FIELDS`` (see ``normalise_nic``), rendered
the way KubeVirt renders it (kubevirt-network.md §7). NICs are matched by their user
alias ``ua-<name>``, which libvirt keeps in the persistent definition, as KubeVirt
matches them. Only those fields are owned: a change edits the NIC's own element, so
whatever else the user put into it (``<bandwidth>``, ``<filterref>``, ...) and the rest of
the domain are kept as they are. Devices are attached, detached and updated; the domain
is never redefined. Comparisons are made on the dicts, never on XML text, so libvirt's
normalisation of the XML never shows up as a change.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import re
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

USER_ALIAS_PREFIX = 'ua-'
NIC_FIELDS = ('alias', 'type', 'target_dev', 'managed', 'mac', 'model', 'mtu', 'pci_address',
              'link_state', 'queues', 'boot_order', 'acpi_index')
# Left to libvirt when unset: what it chose is then kept (a NIC never gets a new MAC
# or slot because the user did not name one).
ASSIGNED_BY_LIBVIRT = ('mac', 'target_dev', 'pci_address')
_INT_FIELDS = ('mtu', 'queues', 'boot_order', 'acpi_index')
_DEFAULTS = {'type': 'ethernet', 'managed': True, 'link_state': 'up'}

# KubeVirt renders its "virtio" as virtio-non-transitional. A NIC that already is
# libvirt's plain "virtio" is read as "virtio" too, so that it is not replaced for that.
_LIBVIRT_MODEL = {'virtio': 'virtio-non-transitional'}
_MODEL_FROM_LIBVIRT = {'virtio-non-transitional': 'virtio', 'virtio': 'virtio'}


# The domain's record of its pod: <vmnet:pod vm="..." namespace="..." state-dir="..."/> in <metadata>.
METADATA_URI = 'https://vmnet.networks/xmlns/pod/1'
METADATA_KEY = 'vmnet'


def parse_pod_metadata(text):
    """The pod record ``{'vm', 'namespace', 'state_dir'}`` of a ``<pod>`` metadata element
    (text), or None. A record without ``namespace`` is of the ``default`` namespace. The
    values are as the domain says: whoever reads them validates them."""
    try:
        element = ET.fromstring(text)
    except (ET.ParseError, TypeError):
        return None
    if not element.get('vm') or not element.get('state-dir'):
        return None
    return {'vm': element.get('vm'), 'namespace': element.get('namespace') or 'default',
            'state_dir': element.get('state-dir')}


class DomainNotFound(VmnetError):
    pass


_PCI_ADDRESS = re.compile(r'^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$')
_PCI_ATTRS = ('domain', 'bus', 'slot', 'function')
_UNPLUG_POLL_SECONDS = 0.2


# --- the NIC dict ---------------------------------------------------------------------

def normalise_nic(nic):
    """``nic`` checked and completed: every field of ``NIC_FIELDS`` present, in one
    spelling (lower-case MAC and PCI address, ``queues`` 1 is None: one queue is the
    default, not an element). Raises VmnetError naming the field at fault."""
    unknown = sorted(set(nic) - set(NIC_FIELDS))
    if unknown:
        raise VmnetError('unknown NIC fields: %s' % ', '.join(unknown), field=unknown[0])
    out = dict((field, nic.get(field)) for field in NIC_FIELDS)
    for field in NIC_FIELDS:
        if isinstance(out[field], str):
            names.plain_text(out[field], field)  # an XML value: never a control character
    for field, default in _DEFAULTS.items():
        if out[field] is None:
            out[field] = default
    alias = out['alias']
    if not (alias and alias.startswith(USER_ALIAS_PREFIX) and alias != USER_ALIAS_PREFIX):
        raise VmnetError('alias must be "%s<name>", got %r' % (USER_ALIAS_PREFIX, alias), field='alias')
    if out['link_state'] not in ('up', 'down'):
        raise VmnetError('link_state must be up or down, got %r' % out['link_state'], field='link_state')
    for field in _INT_FIELDS:
        value = out[field]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise VmnetError('%s must be a positive integer, got %r' % (field, value), field=field)
    if out['queues'] == 1:
        out['queues'] = None
    if out['mac'] is not None:
        out['mac'] = out['mac'].lower()
    if out['pci_address'] is not None:
        out['pci_address'] = out['pci_address'].lower()
        if not _PCI_ADDRESS.match(out['pci_address']):
            raise VmnetError('pci_address must look like 0000:00:05.0, got %r' % nic['pci_address'],
                             field='pci_address')
    return out


def _differences(want, have):
    """The fields in which ``have`` is not what ``want`` asks for."""
    return [field for field in NIC_FIELDS
            if want[field] != have[field]
            and not (field in ASSIGNED_BY_LIBVIRT and want[field] is None)]


def _keep_assigned(want, existing):
    """``want`` with the values libvirt assigned to ``existing`` where ``want`` has none."""
    out = dict(want)
    for field in ASSIGNED_BY_LIBVIRT:
        if out[field] is None and existing:
            out[field] = existing[field]
    return out


# --- XML ------------------------------------------------------------------------------

def _set_child_attr(parent, tag, attr, value):
    """Set (or, with None, remove) ``attr`` of the child ``tag``; a child left without
    attributes and content is removed."""
    child = parent.find(tag)
    if value is None:
        if child is not None:
            child.attrib.pop(attr, None)
            if not child.attrib and len(child) == 0:
                parent.remove(child)
        return
    if child is None:
        child = ET.SubElement(parent, tag)
    child.set(attr, str(value))


def _write_target(element, nic):
    target = element.find('target')
    if nic['target_dev'] is None and nic['managed']:
        if target is not None:
            element.remove(target)
        return
    if target is None:
        target = ET.SubElement(element, 'target')
    if nic['target_dev'] is not None:
        target.set('dev', nic['target_dev'])
    if nic['managed']:
        target.attrib.pop('managed', None)
    else:
        target.set('managed', 'no')


def _write_queues(element, queues):
    _set_child_attr(element, 'driver', 'queues', queues)
    driver = element.find('driver')
    # KubeVirt's <driver name='vhost' queues='N'/>. Without /dev/vhost-net libvirt 9.0
    # falls back to QEMU's own virtio-net for a type='ethernet' NIC (verified).
    if queues is not None and driver.get('name') is None:
        driver.set('name', 'vhost')


def _write_link(element, link_state):
    # KubeVirt renders no <link> for up; libvirt reads its absence as up.
    _set_child_attr(element, 'link', 'state', 'down' if link_state == 'down' else None)


def _write_boot(element, boot_order):
    # KubeVirt: a NIC that is not a boot device gets no option ROM.
    _set_child_attr(element, 'boot', 'order', boot_order)
    _set_child_attr(element, 'rom', 'enabled', 'no' if boot_order is None else None)


def _write_pci_address(element, pci_address):
    address = element.find('address')
    if pci_address is None:
        if address is not None and address.get('type') == 'pci':
            element.remove(address)
        return
    if address is None:
        address = ET.SubElement(element, 'address')
    address.set('type', 'pci')
    for attr, value in zip(_PCI_ATTRS, _PCI_ADDRESS.match(pci_address).groups()):
        address.set(attr, '0x' + value)


def _write_nic(element, nic):
    """Make the owned parts of the ``<interface>`` element say what ``nic`` says."""
    element.set('type', nic['type'])
    _set_child_attr(element, 'mac', 'address', nic['mac'])
    _write_target(element, nic)
    model = nic['model']
    _set_child_attr(element, 'model', 'type', _LIBVIRT_MODEL.get(model, model))
    _write_queues(element, nic['queues'])
    _set_child_attr(element, 'mtu', 'size', nic['mtu'])
    _write_link(element, nic['link_state'])
    _write_boot(element, nic['boot_order'])
    _set_child_attr(element, 'alias', 'name', nic['alias'])
    _write_pci_address(element, nic['pci_address'])
    _set_child_attr(element, 'acpi', 'index', nic['acpi_index'])
    return element


def _edited(element, nic):
    """A copy of ``element`` (a fresh ``<interface>`` for None) saying what ``nic`` says.

    A NIC whose type changes starts afresh: its old ``<source>`` and such would not fit."""
    if element is None or element.get('type') != nic['type']:
        return _write_nic(ET.Element('interface'), nic)
    return _write_nic(_copy(element), nic)


def _copy(element):
    duplicate = copy.deepcopy(element)
    duplicate.tail = None
    return duplicate


def _with_link_state(element, link_state):
    """A copy of ``element`` that differs in its link state only."""
    duplicate = _copy(element)
    _write_link(duplicate, link_state)
    return duplicate


def _to_xml(element):
    return ET.tostring(element, encoding='unicode')


def _attr(element, tag, attr):
    child = element.find(tag)
    return child.get(attr) if child is not None else None


def _int_attr(element, tag, attr):
    value = _attr(element, tag, attr)
    return int(value) if value is not None else None


def _parse_pci_address(element):
    address = element.find('address')
    if address is None or address.get('type') != 'pci':
        return None
    values = [int(address.get(attr, '0'), 0) for attr in _PCI_ATTRS]
    return '%04x:%02x:%02x.%x' % tuple(values)


def render_interface(nic):
    """The ``<interface>`` device XML of ``nic`` (a dict of ``NIC_FIELDS``)."""
    return _to_xml(_write_nic(ET.Element('interface'), normalise_nic(nic)))


def parse_interface(element):
    """The NIC dict of an ``<interface>`` element (or None for None), whether it comes
    from the persistent or the live definition: what libvirt adds is ignored."""
    if element is None:
        return None
    model = _attr(element, 'model', 'type')
    queues = _int_attr(element, 'driver', 'queues')
    mac = _attr(element, 'mac', 'address')
    return {
        'alias': _attr(element, 'alias', 'name'),
        'type': element.get('type'),
        'target_dev': _attr(element, 'target', 'dev'),
        'managed': _attr(element, 'target', 'managed') != 'no',
        'mac': mac.lower() if mac else None,
        'model': _MODEL_FROM_LIBVIRT.get(model, model),
        'mtu': _int_attr(element, 'mtu', 'size'),
        'pci_address': _parse_pci_address(element),
        'link_state': 'down' if _attr(element, 'link', 'state') == 'down' else 'up',
        'queues': queues if queues and queues > 1 else None,
        'boot_order': _int_attr(element, 'boot', 'order'),
        'acpi_index': _int_attr(element, 'acpi', 'index'),
    }


def _find_nic(domain_root, alias, tag='interface'):
    """The device element ``tag`` (``interface``, ``hostdev``) with ``alias``, or None."""
    if domain_root is None:
        return None
    for element in domain_root.findall('./devices/' + tag):
        if _attr(element, 'alias', 'name') == alias:
            return element
    return None


def _user_aliases(domain_root):
    if domain_root is None:
        return []
    aliases = (_attr(element, 'alias', 'name') for element in domain_root.findall('./devices/interface'))
    return [alias for alias in aliases if alias and alias.startswith(USER_ALIAS_PREFIX)]


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
        """The ``libvirt.virDomain``, for adapters of what is not a device (libvirt_qemu_args)."""
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

    def get(self, alias):
        """``{'config': nic or None, 'live': nic or None}`` of the NIC with ``alias``."""
        config, live = self._definitions()
        return {'config': parse_interface(_find_nic(config, alias)),
                'live': parse_interface(_find_nic(live, alias))}

    def list_nics(self):
        """Every NIC with a user alias: ``[{'alias', 'config', 'live'}]``, in the order
        of the persistent definition, then those that are only live."""
        config, live = self._definitions()
        aliases = _user_aliases(config)
        aliases += [alias for alias in _user_aliases(live) if alias not in aliases]
        return [{'alias': alias,
                 'config': parse_interface(_find_nic(config, alias)),
                 'live': parse_interface(_find_nic(live, alias))} for alias in aliases]

    def ensure(self, nic, check_mode=False):
        """Make the NIC exist as ``nic`` says: always in the persistent definition and,
        when the domain runs, live (hot-plug; link state changes). A live NIC that
        differs otherwise is left alone and ``restart_required`` is set."""
        want = normalise_nic(nic)
        alias = want['alias']
        self._require_persistent()
        config, live = self._definitions()
        config_nic, live_nic = _find_nic(config, alias), _find_nic(live, alias)
        before = {'config': parse_interface(config_nic), 'live': parse_interface(live_nic)}
        want = _keep_assigned(want, before['config'] or before['live'])
        # The element to attach: the NIC's own (the user's extras kept), edited.
        desired = _edited(config_nic if config_nic is not None else live_nic, want)
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
        config_nic, live_nic = _find_nic(config, alias, tag), _find_nic(live, alias, tag)
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
                alias = _attr(element, 'alias', 'name')
                if alias and alias.startswith(SRIOV_ALIAS_PREFIX) and alias not in aliases:
                    aliases.append(alias)
        return [{'alias': alias,
                 'config': parse_hostdev(_find_nic(config, alias, 'hostdev')),
                 'live': parse_hostdev(_find_nic(live, alias, 'hostdev'))} for alias in aliases]

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
        config_dev, live_dev = _find_nic(config, alias, 'hostdev'), _find_nic(live, alias, 'hostdev')
        before = {'config': parse_hostdev(config_dev), 'live': parse_hostdev(live_dev)}
        if want['pci_address'] is None and (before['config'] or before['live']):
            # the guest address libvirt chose is kept, as for a NIC
            kept = (before['config'] or before['live'])['pci_address']
            if kept:
                _write_pci_address(desired, kept)
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
                                           % (alias, ', '.join(_hostdev_differences(want, before['config'])))))
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
        return self._result(before, {'config': parse_hostdev(_find_nic(config, alias, 'hostdev')),
                                     'live': parse_hostdev(_find_nic(live, alias, 'hostdev'))},
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
            self._set_metadata(_to_xml(element))
        return ['record the pod of "%s/%s" in the domain metadata' % (namespace, vm)]

    def remove_pod_metadata(self, check_mode=False):
        if self.pod_metadata() is None:
            return []
        if not check_mode:
            self._set_metadata(None)
        return ['remove the pod record from the domain metadata']

    def _set_metadata(self, xml):
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | (libvirt.VIR_DOMAIN_AFFECT_LIVE if self.running else 0)
        self._domain.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, METADATA_KEY, METADATA_URI, flags)

    # --- planning ---

    def _config_steps(self, config_nic, desired, want):
        alias = want['alias']
        if config_nic is None:
            return [self._attach(desired, 'attach "%s" to the persistent definition' % alias)]
        changed = _differences(want, parse_interface(config_nic))
        if not changed:
            return []
        if changed == ['link_state']:
            return [self._update(config_nic, _with_link_state(config_nic, want['link_state']),
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
        changed = _differences(want, have)
        steps = []
        if 'link_state' in changed:
            steps.append(self._update(live_nic, _with_link_state(live_nic, want['link_state']),
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

    def _definitions(self):
        """The persistent and (when running) the live definition, as element trees."""
        config = ET.fromstring(self._domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        live = ET.fromstring(self._domain.XMLDesc(0)) if self.running else None
        return config, live

    @staticmethod
    def _flags(live, config):
        return ((libvirt.VIR_DOMAIN_AFFECT_LIVE if live else 0) |
                (libvirt.VIR_DOMAIN_AFFECT_CONFIG if config else 0))

    def _attach(self, element, action, live=False, config=True):
        xml, flags = _to_xml(element), self._flags(live, config)
        return _Step(action,
                     lambda: self._domain.attachDeviceFlags(xml, flags),
                     lambda: self._domain.detachDeviceFlags(xml, flags))

    def _detach(self, element, action):
        xml, flags = _to_xml(element), libvirt.VIR_DOMAIN_AFFECT_CONFIG
        return _Step(action,
                     lambda: self._domain.detachDeviceFlags(xml, flags),
                     lambda: self._domain.attachDeviceFlags(xml, flags))

    def _replace(self, old, new, action):
        """Detach ``old`` and attach ``new`` in the persistent definition: libvirt updates
        little but the link state in place."""
        old_xml, new_xml, flags = _to_xml(old), _to_xml(new), libvirt.VIR_DOMAIN_AFFECT_CONFIG

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
                     lambda: self._domain.updateDeviceFlags(_to_xml(new), flags),
                     lambda: self._domain.updateDeviceFlags(_to_xml(old), flags))

    def _unplug(self, live_nic, alias):
        xml = _to_xml(live_nic)

        def unplug():
            self._domain.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            self._wait_unplugged(alias, live_nic.tag)

        return _Step('hot-unplug "%s"' % alias, unplug,
                     lambda: self._domain.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE))

    def _wait_unplugged(self, alias, tag='interface'):
        # libvirt waits 5 s for the guest to release the device, then returns anyway.
        deadline = time.monotonic() + self._unplug_timeout
        while _find_nic(ET.fromstring(self._domain.XMLDesc(0)), alias, tag) is not None:
            if time.monotonic() > deadline:
                raise VmnetError('the guest did not release the %s within %d s'
                                 % ('NIC' if tag == 'interface' else 'device', self._unplug_timeout))
            time.sleep(_UNPLUG_POLL_SECONDS)

    def _run(self, steps):
        """Run the steps; on a failure take back the ones done, newest first."""
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


# --- SR-IOV: PCI host devices ------------------------------------------------------------

SRIOV_ALIAS_PREFIX = USER_ALIAS_PREFIX + 'sriov-'


def _pci_address_element(parent, pci_address, typed=True):
    """``<address [type='pci'] domain=.. bus=.. slot=.. function=..>``: a host device's
    source address carries no type (libvirt's schema has none there)."""
    match = _PCI_ADDRESS.match((pci_address or '').lower())
    if not match:
        raise VmnetError('%r is not a PCI address like 0000:00:05.0' % pci_address, field='pci_address')
    address = ET.SubElement(parent, 'address')
    if typed:
        address.set('type', 'pci')
    for attr, value in zip(_PCI_ATTRS, match.groups()):
        address.set(attr, '0x' + value)
    return address


def render_hostdev(source_address, name, pci_address=None, boot_order=None):
    """The ``<hostdev>`` KubeVirt gives an SR-IOV interface ``name`` (reference §5.1):
    the VF at host address ``source_address``, ``managed='no'`` (the VF is bound to
    vfio-pci beforehand; libvirt does not rebind it), alias ``ua-sriov-<name>``, the
    guest PCI address (``pciAddress``) and boot order when given. No ``<driver>``: libvirt
    picks vfio."""
    if boot_order is not None and (isinstance(boot_order, bool) or not isinstance(boot_order, int) or boot_order < 1):
        raise VmnetError('boot_order must be a positive integer, got %r' % boot_order, field='boot_order')
    names.plain_text(name, 'name')
    element = ET.Element('hostdev', {'mode': 'subsystem', 'type': 'pci', 'managed': 'no'})
    _pci_address_element(ET.SubElement(element, 'source'), source_address, typed=False)
    if boot_order is not None:
        ET.SubElement(element, 'boot', {'order': str(boot_order)})
    ET.SubElement(element, 'alias', {'name': SRIOV_ALIAS_PREFIX + name})
    if pci_address is not None:
        _pci_address_element(element, pci_address)
    return _to_xml(element)


def parse_hostdev(element):
    """``{alias, source, pci_address, boot_order, managed}`` of a PCI ``<hostdev>`` (or
    of an ``<interface type='hostdev'>``); None for anything else."""
    if element is None:
        return None
    if element.tag == 'hostdev' and element.get('type') != 'pci':
        return None
    if element.tag == 'interface' and element.get('type') != 'hostdev':
        return None
    source = element.find('source/address')
    if source is not None and source.get('type', 'pci') == 'pci' and source.get('bus') is not None:
        source = '%04x:%02x:%02x.%x' % tuple(int(source.get(attr, '0'), 0) for attr in _PCI_ATTRS)
    else:
        source = None
    return {
        'alias': _attr(element, 'alias', 'name'),
        'source': source,
        'pci_address': _parse_pci_address(element),
        'boot_order': _int_attr(element, 'boot', 'order'),
        'managed': element.get('managed') == 'yes',
    }


def _hostdev_differences(want, have):
    return [field for field in ('source', 'pci_address', 'boot_order', 'managed') if want[field] != have[field]]


def hostdevs(domain_root):
    """The PCI host devices of a domain definition (``<hostdev type='pci'>`` and
    ``<interface type='hostdev'>``), parsed."""
    found = []
    for element in domain_root.findall('./devices/hostdev') + domain_root.findall('./devices/interface'):
        parsed = parse_hostdev(element)
        if parsed and parsed['source']:
            found.append(parsed)
    return found


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
