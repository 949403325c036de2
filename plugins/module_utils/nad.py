# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkAttachmentDefinitions (``k8s.cni.cncf.io/v1``): validation, the manifest, the
diff, and ``present``/``absent`` over a backend.

A backend is ``host.nad_store.LocalNadStore`` (files on the libvirt host) or
``host.k8s.KubernetesNads`` (a cluster); both have ``location``, ``get``, ``list``,
``create``, ``replace`` and ``delete``. The collection owns two fields of a NAD, its
``spec.config`` and the ``k8s.v1.cni.cncf.io/resourceName`` annotation; everything else
in an existing object (labels, other annotations, the cluster's metadata) is kept.
Configurations are compared as JSON values, not as text.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy
import json
import re

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni

API_VERSION = 'k8s.cni.cncf.io/v1'
KIND = 'NetworkAttachmentDefinition'
RESOURCE_NAME = 'k8s.v1.cni.cncf.io/resourceName'
# Plugins that need the pod interface to keep its own MAC, which the bridge binding gives
# to the VM (seed 003, "Invalid CNIs for secondary networks"), with KubeVirt's issues.
KEEPS_POD_MAC = {'macvlan': 'kubevirt/kubevirt#5483', 'ipvlan': 'kubevirt/kubevirt#7001'}
_DNS_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_NAME = re.compile(r'%s(\.%s)*' % (_DNS_LABEL, _DNS_LABEL))       # DNS-1123 subdomain
_NAMESPACE = re.compile(_DNS_LABEL)                                  # DNS-1123 label
# A CNI configuration is a few hundred bytes; the cap stops YAML alias bombs and the like.
MAX_CONFIG_BYTES = 64 * 1024


def check_name(name):
    """Kubernetes' rules for names; they also keep the store's paths inside ``nad_dir``."""
    if not isinstance(name, str) or len(name) > 253 or not _NAME.fullmatch(name):
        raise VmnetError('name: "%s" is not a valid NetworkAttachmentDefinition name (lower case alphanumerics, '
                         '"-" and ".", at most 253 characters)' % name, field='name')


def check_namespace(namespace):
    if not isinstance(namespace, str) or len(namespace) > 63 or not _NAMESPACE.fullmatch(namespace):
        raise VmnetError('namespace: "%s" is not a valid namespace (lower case alphanumerics and "-", '
                         'at most 63 characters)' % namespace, field='namespace')


# -- the CNI configuration -------------------------------------------------------------

def parse_config(config, field='config'):
    """The CNI configuration (``.conf`` or ``.conflist``) from a JSON string or a dict.

    Raises one VmnetError listing every problem, each with its field path.
    """
    size = len(config if isinstance(config, str) else _dumps(config))
    if size > MAX_CONFIG_BYTES:
        raise VmnetError('%s: %d bytes as JSON, more than the %d a CNI configuration may have'
                         % (field, size, MAX_CONFIG_BYTES), field=field)
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError as exc:
            raise VmnetError('%s: invalid JSON: %s' % (field, exc), field=field)
    errors = config_errors(config, field)
    if errors:
        raise VmnetError('; '.join(errors), field=field)
    return config


def _dumps(value):
    """JSON text of ``value``, stopping early once it passes the size cap (a YAML alias bomb
    expands exponentially)."""
    size, chunks = 0, []
    try:
        for chunk in json.JSONEncoder().iterencode(value):
            size += len(chunk)
            chunks.append(chunk)
            if size > MAX_CONFIG_BYTES:
                break
    except (TypeError, ValueError):
        return ''
    return ''.join(chunks)


def config_errors(config, field='config'):
    if not isinstance(config, dict):
        return ['%s: must be a JSON object (a CNI .conf or .conflist)' % field]
    errors = []
    version = config.get('cniVersion')
    if not version:
        errors.append('%s.cniVersion: required' % field)
    elif version not in cni.SUPPORTED_VERSIONS:
        errors.append('%s.cniVersion: "%s" is not supported (supported: %s)'
                      % (field, version, ', '.join(cni.SUPPORTED_VERSIONS)))
    if not isinstance(config.get('name'), str) or not config['name']:
        errors.append('%s.name: required (the CNI network name)' % field)
    if 'plugins' in config:
        if 'type' in config:
            errors.append('%s: either type (a .conf) or plugins (a .conflist), not both' % field)
        plugins = config['plugins']
        if not isinstance(plugins, list) or not plugins:
            return errors + ['%s.plugins: must be a non-empty list of plugin configurations' % field]
        for index, plugin in enumerate(plugins):
            errors.extend(_plugin_errors(plugin, '%s.plugins[%d]' % (field, index)))
    elif 'type' not in config:
        errors.append('%s.type: required (or plugins, for a .conflist)' % field)
    else:
        errors.extend(_plugin_errors(config, field))
    return errors


def _plugin_errors(plugin, field):
    if not isinstance(plugin, dict):
        return ['%s: must be a JSON object' % field]
    errors = []
    if not cni.valid_plugin_name(plugin.get('type')):
        errors.append('%s.type: required, the file name of a CNI plugin' % field)
    ipam = plugin.get('ipam')
    if ipam is not None and not isinstance(ipam, dict):
        errors.append('%s.ipam: must be a JSON object' % field)
    elif ipam and not cni.valid_plugin_name(ipam.get('type')):
        # "ipam": {} is the usual way to say "no IPAM" (L2 only)
        errors.append('%s.ipam.type: required, the file name of an IPAM plugin' % field)
    return errors


def sriov_network(conflist):
    """Whether a NAD's configuration is sriov-cni's (an SR-IOV network): no CNI runs for it,
    the sriov binding allocates and configures the VF (bindings/sriov.py)."""
    return any(plugin['type'] == 'sriov' for plugin in conflist['plugins'])


def missing_plugin_errors(config, runtime, field='config'):
    """Errors for the plugin binaries of ``config`` that ``runtime``'s bin dirs lack; none
    for an SR-IOV network, whose plugins never run here."""
    conflist = cni.as_conflist(config)
    if sriov_network(conflist):
        return []

    def path(index, key):
        return '%s.plugins[%d].%s' % (field, index, key) if 'plugins' in config else '%s.%s' % (field, key)
    return ['%s: CNI plugin "%s" not found in %s' % (path(index, key), binary, ', '.join(runtime.bin_dirs))
            for index, key, binary in runtime.missing_plugins(conflist)]


# -- the manifest ----------------------------------------------------------------------

def _config_value(text):
    """A stored ``spec.config`` as a JSON value, or as the text when it is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def view(manifest):
    """What the collection manages of a NAD, as diffs and results show it ({} when absent)."""
    if not manifest:
        return {}
    metadata = manifest.get('metadata') or {}
    return {
        'name': metadata.get('name'),
        'namespace': metadata.get('namespace'),
        'resource_name': (metadata.get('annotations') or {}).get(RESOURCE_NAME),
        'config': _config_value((manifest.get('spec') or {}).get('config')),
    }


def desired(existing, namespace, name, config, resource_name):
    """The manifest to store: ``existing`` (or a new one) with our two fields set.

    An existing config equal as JSON keeps its text, so that its formatting is no change.
    """
    manifest = copy.deepcopy(existing) if existing else {}
    manifest['apiVersion'], manifest['kind'] = API_VERSION, KIND
    metadata = manifest.setdefault('metadata', {})
    metadata['name'], metadata['namespace'] = name, namespace
    annotations = dict(metadata.get('annotations') or {})
    annotations.pop(RESOURCE_NAME, None)
    if resource_name:
        annotations[RESOURCE_NAME] = resource_name
    if annotations:
        metadata['annotations'] = annotations
    else:
        metadata.pop('annotations', None)
    spec = manifest.setdefault('spec', {})
    if _config_value(spec.get('config')) != config:
        spec['config'] = json.dumps(config, indent=2) + '\n'
    return manifest


def result(backend, manifest):
    """A NAD as the modules return it."""
    item = view(manifest)
    item.update(location=backend.location(item['namespace'], item['name']), manifest=manifest)
    return item


# -- present / absent ------------------------------------------------------------------

def ensure_present(backend, namespace, name, config, resource_name=None, check_mode=False):
    """Create or update the NAD; returns (changed, diff, the NAD as stored or as it would be)."""
    check_namespace(namespace)
    check_name(name)
    existing = backend.get(namespace, name)
    manifest = desired(existing, namespace, name, config, resource_name)
    diff = {'before': view(existing), 'after': view(manifest)}
    # a hand-written file may lack the kind that vm_network insists on
    changed = diff['before'] != diff['after'] or any(existing.get(k) != manifest[k] for k in ('apiVersion', 'kind'))
    if changed and not check_mode:
        manifest = backend.replace(manifest) if existing else backend.create(manifest)
    return changed, diff, result(backend, manifest)


def ensure_absent(backend, namespace, name, check_mode=False):
    """Delete the NAD if it exists; returns (changed, diff)."""
    check_namespace(namespace)
    check_name(name)
    existing = backend.get(namespace, name)
    if existing and not check_mode:
        backend.delete(namespace, name)
    return existing is not None, {'before': view(existing), 'after': {}}


def find(backend, namespace, name=None):
    """The NADs of a namespace (or the one named ``name``) as the modules return them."""
    check_namespace(namespace)
    if name is None:
        manifests = backend.list(namespace)
    else:
        check_name(name)
        manifests = [m for m in [backend.get(namespace, name)] if m]
    return [result(backend, m) for m in manifests]


# -- the pod side ----------------------------------------------------------------------

def network_config(backend, namespace, name):
    """The CNI configuration list of the NAD a multus network names, and where it is."""
    check_namespace(namespace)
    check_name(name)
    location = backend.location(namespace, name)
    manifest = backend.get(namespace, name)
    if manifest is None:
        raise VmnetError('NetworkAttachmentDefinition %s/%s not found (%s): create it with vmnet.networks.nad'
                         % (namespace, name, location), field='networks')
    if manifest.get('kind') != KIND:
        raise VmnetError('%s: kind is %r, not %s' % (location, manifest.get('kind'), KIND), field='networks')
    text = (manifest.get('spec') or {}).get('config')
    if not isinstance(text, str):
        raise VmnetError('%s: spec.config must be a string, the CNI configuration as JSON text (as in Kubernetes), '
                         'not %s' % (location, type(text).__name__), field='networks')
    config = parse_config(text, field='%s: spec.config' % location)
    return cni.as_conflist(config), location


def check_binding(conflist, binding, network_name):
    """Refuse plugins that cannot work under the interface's binding (seed 003)."""
    if binding != 'bridge':
        return
    for plugin in conflist['plugins']:
        if plugin['type'] in KEEPS_POD_MAC:
            raise VmnetError(
                'network "%s": its CNI plugin %s does not work with the bridge binding: the binding moves the '
                'pod interface\'s MAC address to the VM, leaving the pod interface with another one, and %s needs '
                'the pod interface to keep its original MAC (%s). Use a bridge (or OVS) CNI network, or another '
                'binding.' % (network_name, plugin['type'], plugin['type'], KEEPS_POD_MAC[plugin['type']]),
                field='networks')
