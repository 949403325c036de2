# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live migration of a VM between hypervisors: KubeVirt's rules, and the domain XML made
for the target. No host is touched here (see migration_pod.py and host/libvirt_migration.py).

KubeVirt's rules (kubevirt-network.md §2, §5, §6):

* bridge binding on the pod network: not migratable unless the VMI carries the annotation
  ``kubevirt.io/allow-pod-bridge-network-live-migration`` (the guest keeps the source pod's
  IP until it asks DHCP again, then gets the target pod's);
* masquerade: migratable; the guest keeps 10.0.2.2 behind the target pod's IP;
* bridge (and managedTap) on a secondary network: migratable; on a stretched fleet network
  the target pod keeps the guest's MAC and IP;
* SR-IOV: KubeVirt hot-unplugs the VF before and plugs one on the target after (the guest
  sees its NIC go); vmnet refuses: unplug the interface first;
* slirp: removed from KubeVirt (v1.3) and never migratable: refused;
* passt: KubeVirt migrates it with passt-repair; vmnet does not yet: refused.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import xml.etree.ElementTree as ET

from ansible_collections.vmnet.networks.plugins.module_utils import safe_yaml
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import METADATA_URI
from ansible_collections.vmnet.networks.plugins.module_utils.spec import plugins

ALLOW_POD_BRIDGE = 'kubevirt.io/allow-pod-bridge-network-live-migration'
REFUSED = {
    'sriov': 'SR-IOV interfaces are not live-migrated: KubeVirt hot-unplugs the VF before a migration and plugs '
             'a new one on the target; unplug the interface first (state: absent), migrate, then plug it again',
    'slirp': 'the slirp binding is not migratable (KubeVirt removed it in v1.3 and never migrated it)',
    'passt': 'the passt binding is not live-migrated by vmnet yet (KubeVirt needs passt-repair for it)',
}
# host-local parts of a domain that name files
_FILE_ATTRS = (('./devices/disk/source', 'file'), ('./devices/serial/source', 'path'),
               ('./devices/console/source', 'path'), ('./devices/serial/log', 'file'),
               ('./devices/console/log', 'file'), ('./os/kernel', None), ('./os/initrd', None))


def annotations(manifest):
    """The VMI's annotations of a manifest (mapping, or YAML/JSON text): a VirtualMachine's
    ``spec.template.metadata.annotations`` over its own ``metadata.annotations``."""
    if isinstance(manifest, str):
        try:
            manifest = safe_yaml.load(manifest)
        except Exception as exc:  # any YAML error: the manifest was checked by vm_spec already
            raise VmnetError('manifest: not valid YAML: %s' % exc, field='manifest')
    if not isinstance(manifest, dict):
        return {}
    found = {}
    template = (manifest.get('spec') or {}).get('template') if isinstance(manifest.get('spec'), dict) else None
    for metadata in (manifest.get('metadata'), (template or {}).get('metadata') if isinstance(template, dict) else None):
        values = (metadata or {}).get('annotations') if isinstance(metadata, dict) else None
        if isinstance(values, dict):
            found.update((str(k), str(v)) for k, v in values.items())
    return found


def binding_name(iface, spec):
    """The vmnet binding of an interface (a plugin's: the one that implements it)."""
    if iface['binding'] != 'plugin':
        return iface['binding']
    registration = (spec.get('networkBindingPlugins') or {}).get(iface['bindingPlugin'])
    return (plugins.implementation(iface['bindingPlugin'], registration) if registration is not None else None) \
        or iface['bindingPlugin']


def migrating_interfaces(spec):
    return [iface for iface in spec['interfaces'] if iface.get('state') != 'absent']


def check(spec, vm_annotations):
    """Refuse a VM KubeVirt would not migrate (VmnetError naming the interface)."""
    networks = dict((n['name'], n) for n in spec['networks'])
    for iface in migrating_interfaces(spec):
        binding = binding_name(iface, spec)
        if binding in REFUSED:
            raise VmnetError('interface "%s": %s' % (iface['name'], REFUSED[binding]), field='interfaces')
        on_pod = networks.get(iface['network'], {}).get('source') == 'pod'
        if binding == 'bridge' and on_pod and (vm_annotations or {}).get(ALLOW_POD_BRIDGE, '').lower() != 'true':
            raise VmnetError('interface "%s": the bridge binding on the pod network is not live-migratable unless '
                             'the VM carries the annotation %s: "true" (the guest keeps the source pod\'s IP until '
                             'it asks DHCP again)' % (iface['name'], ALLOW_POD_BRIDGE), field='interfaces')


def keeps_address(iface, spec):
    """Whether the target pod keeps the guest's addresses (not only its MAC): a bridge
    binding on a secondary network, which is one L2 network across hosts (stretched)."""
    networks = dict((n['name'], n) for n in spec['networks'])
    return binding_name(iface, spec) == 'bridge' and networks.get(iface['network'], {}).get('source') == 'multus'


def tap_map(source_records, target_records):
    """Host tap of the source -> host tap of the target, by interface."""
    taps = {}
    for name, record in source_records.items():
        target = target_records.get(name)
        if record and target and 'glue' in record and 'glue' in target:
            taps[record['glue']['host_tap']] = target['glue']['host_tap']
    return taps


def rewrite(domain_xml, taps, paths=None, state_dir=None):
    """The domain XML for the target: host taps renamed (``taps``: old -> new), the files
    in ``paths`` (old -> new) replaced, serial and console log files appended to (a log
    truncated on the way back would lose the guest's history), the ``<vmnet:pod>``
    metadata's state dir set to the target's. Raises VmnetError on XML that is no domain."""
    try:
        root = ET.fromstring(domain_xml)
    except ET.ParseError as exc:
        raise VmnetError('the domain XML does not parse: %s' % exc)
    if root.tag != 'domain':
        raise VmnetError('the domain XML has no <domain> root')
    paths = paths or {}
    for target in root.findall('./devices/interface/target'):
        dev = target.get('dev')
        if dev in taps:
            target.set('dev', taps[dev])
    for where, attr in _FILE_ATTRS:
        for element in root.findall(where):
            if attr is None:
                if element.text in paths:
                    element.text = paths[element.text]
            elif element.get(attr) in paths:
                element.set(attr, paths[element.get(attr)])
    for kind in ('serial', 'console'):
        for device in root.findall('./devices/%s' % kind):
            log = device.find('log')
            if log is not None and log.get('file'):
                log.set('append', 'on')
            source = device.find('source')
            if device.get('type') == 'file' and source is not None and source.get('path'):
                source.set('append', 'on')
    if state_dir:
        metadata = root.find('metadata')
        pod = metadata.find('{%s}pod' % METADATA_URI) if metadata is not None else None
        if pod is not None:
            pod.set('state-dir', state_dir)
    ET.register_namespace('vmnet', METADATA_URI)
    return ET.tostring(root, encoding='unicode')
