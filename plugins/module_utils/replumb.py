# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-plumb a VM's pod from what the modules recorded, without the playbook.

After a host reboot the pod namespaces, taps, qdiscs, nft tables and dnsmasq processes are
gone while the domains are still defined. The libvirt hook that the ``host`` role
installs runs this before a domain starts (``prepare begin``). Networks are attached again
(CNI ADD with the same container ID, so host-local hands back the same address), bindings
rebuilt (the guest keeps its MAC), DHCP restarted. The domain itself is not touched: a
libvirt hook must not call back into libvirtd, and its definition is already right.

The hook runs as root for whoever may start a domain, and domain metadata can be edited
by more people than root. So it trusts only what the operator configured:

* its own configuration file (``HOOK_CONFIG``, written by the host role, root-owned): the
  state dir, the CNI configuration and plugin dirs, the NAD store and policy, the node
  netns. Nothing path-like is taken from the domain or from the pod's records;
* from the domain's ``<vmnet:pod>`` metadata only the VM's identity, validated;
* the pod's records (``vm.json``, the attachment and binding records) only when they and
  their directories are root-owned and not writable by group or others; the recorded spec
  is validated again through the spec model before anything is done.

    main(['<domain>', 'prepare', 'begin', '-'], <the domain XML>, <hook config path>)
    (libvirt's hook arguments and stdin; the hook script the host role installs calls it)
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys
import xml.etree.ElementTree as ET

from ansible_collections.vmnet.networks.plugins.module_utils import interface, names
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import files
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_xml import METADATA_URI, parse_pod_metadata
from ansible_collections.vmnet.networks.plugins.module_utils.pod import Pod, plugin_network
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

HOOK_CONFIG = '/etc/vmnet/hook.json'
MAX_RECORD_BYTES = 4 * 1024 * 1024
# the hook's configuration: key -> (required, kind)
CONFIG_KEYS = {
    'state_dir': 'path', 'cni_conf_dir': 'path', 'cni_bin_dirs': 'paths', 'nad_dir': 'path',
    'nad_policy_file': 'path', 'sriov_pools_file': 'path', 'node_netns': 'name',
}
# what of the domain's metadata is the VM's identity (never a path)
NOT_IDENTITY = ('state_dir',)


def load_config(path=HOOK_CONFIG):
    """The hook's configuration: a root-owned JSON file, every path absolute."""
    try:
        files.require_trusted(path)
        text = files.read_text(path, limit=64 * 1024)
        config = json.loads(text)
    except (OSError, ValueError, files.UnsafePath) as exc:
        raise VmnetError('hook configuration %s: %s' % (path, exc))
    if not isinstance(config, dict):
        raise VmnetError('hook configuration %s: not a JSON object' % path)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise VmnetError('hook configuration %s: unknown keys %s' % (path, ', '.join(unknown)))
    for key, kind in CONFIG_KEYS.items():
        value = config.get(key)
        if kind == 'paths':
            good = isinstance(value, list) and value and all(_abs_path(v) for v in value)
        elif kind == 'path':
            good = _abs_path(value)
        else:
            good = value in (None, '') or (isinstance(value, str) and '/' not in value and '\0' not in value)
        if not good:
            what = 'a network namespace name' if kind == 'name' else 'required, absolute paths'
            raise VmnetError('hook configuration %s: %s: %s' % (path, key, what))
    return config


def _abs_path(value):
    return isinstance(value, str) and os.path.isabs(value) and '\0' not in value


def pod_of(domain_xml):
    """The VM identity in a domain's ``<vmnet:pod>`` metadata (``{'vm': ...}``, whatever
    ``parse_pod_metadata`` names it by, without any path), or None for a domain vmnet did
    not plumb."""
    metadata = ET.fromstring(domain_xml).find('metadata')
    element = metadata.find('{%s}pod' % METADATA_URI) if metadata is not None else None
    found = parse_pod_metadata(ET.tostring(element)) if element is not None else None
    if found is None:
        return None
    return dict((key, value) for key, value in found.items() if key not in NOT_IDENTITY)


def _pod(identity, config, **settings):
    """The pod of ``identity`` under the configured state dir, with the configured settings;
    the identity is checked as Kubernetes checks names."""
    namespace, vm = names.check_vm_identity(identity.get('namespace', 'default'), identity.get('vm'),
                                            'domain metadata: vm', 'domain metadata: namespace')
    return Pod(vm, config['state_dir'], namespace=namespace, **settings)


# What dnsmasq writes as its unprivileged user in the pod's directory: no record. The hook
# reads the PID file only to find a process whose command line names the pod's root-owned
# configuration (host/dhcp.py), never the log.
DNSMASQ_OUTPUTS = ('dnsmasq.log', 'dnsmasq.pid')


def _require_trusted_records(root):
    """Every directory and file of the pod's records is root-owned and not writable by
    group or others (``files.require_trusted``); dnsmasq's own outputs are no records."""
    files.require_trusted(root)
    for directory, subdirs, names in os.walk(root):
        for name in subdirs + names:
            if directory == root and name in DNSMASQ_OUTPUTS:
                continue
            files.require_trusted(os.path.join(directory, name))


def _recorded(pod):
    """The spec and DNS of the pod's ``vm.json``, checked; None when there is none."""
    path = pod.state.path('vm.json')
    if not os.path.lexists(path):
        return None
    _require_trusted_records(pod.state.root)
    try:
        settings = json.loads(files.read_text(path, limit=MAX_RECORD_BYTES))
    except ValueError as exc:
        raise VmnetError('%s: invalid JSON: %s' % (path, exc))
    if not isinstance(settings, dict):
        raise VmnetError('%s: not a JSON object' % path)
    # under the switch the operator's module run recorded (root-owned, checked above)
    spec, errors = normalize(settings.get('spec'),
                             {'permit_slirp_interface': settings.get('permit_slirp_interface') is True})
    if errors:
        raise VmnetError('%s: the recorded spec is not valid: %s' % (path, '; '.join(
            '%s: %s' % (e['field'], e['message']) if e['field'] else e['message'] for e in errors)))
    dns = settings.get('dns')
    if not (isinstance(dns, list) and len(dns) == 2 and all(
            isinstance(part, list) and all(isinstance(v, str) for v in part) for part in dns)):
        raise VmnetError('%s: dns: must be [servers, search domains]' % path)
    return spec, dns


def replumb(identity, config):
    """Bring the pod of the VM ``identity`` back to what its records say; returns the actions.
    ``config``: the hook's configuration (``load_config``)."""
    pod = _pod(identity, config, cni_conf_dir=config['cni_conf_dir'], cni_bin_dirs=config['cni_bin_dirs'],
               node_netns=config.get('node_netns') or None, nad_dir=config['nad_dir'],
               sriov_pools_file=config['sriov_pools_file'], nad_policy_file=config['nad_policy_file'])
    files.confine(config['state_dir'], os.path.relpath(pod.state.root, config['state_dir']))
    actions = []
    with pod:
        recorded = _recorded(pod)
        if recorded is None:
            return []
        spec, dns = recorded
        recreated = not pod.exists()
        for network in spec['networks']:
            if pod.attachment(network['name']):
                bound = next((i for i in spec['interfaces'] if i['network'] == network['name']), None)
                actions += pod.ensure(network, iface=bound)[1]
                extra = plugin_network(spec, bound)
                if extra and pod.attachment(extra['name']):
                    actions += pod.ensure(extra)[1]
        for iface in spec['interfaces']:
            record = pod.state.read('interfaces', iface['name'])
            if record is None:
                continue
            queues = record['glue']['queues'] if 'glue' in record else None
            actions += interface.bind(pod, spec, iface, queues, dns, False, rediscover=recreated)[1]
    return actions


def main(argv, stdin, config_path=None):
    if argv[1:3] != ['prepare', 'begin']:
        return 0
    identity = pod_of(stdin.read())
    if identity is None:
        return 0
    try:
        actions = replumb(identity, load_config(config_path or HOOK_CONFIG))
    except Exception as exc:  # the domain must not start without its network: say why
        sys.stderr.write('vmnet: %s: re-plumbing pod of VM %s failed: %s\n' % (argv[0], identity, exc))
        return 1
    for action in actions:
        sys.stderr.write('vmnet: %s: %s\n' % (argv[0], action))
    return 0
