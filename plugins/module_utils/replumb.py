# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Re-plumb a VM's pod from what the modules recorded, without the playbook.

After a host reboot the pod namespaces, taps, qdiscs, nft tables and dnsmasq processes are
gone while the domains are still defined. The libvirt hook that the ``host`` role
installs runs this before a domain starts (``prepare begin``): the domain's metadata names
its pod (``vm``, ``state_dir``, written by vm_interface); the pod's ``vm.json`` holds the
spec and options of the last run. Networks are attached again (CNI ADD with the same
container ID, so host-local hands back the same address), bindings rebuilt (the guest
keeps its MAC), DHCP restarted. The domain itself is not touched: a libvirt hook must not
call back into libvirtd, and its definition is already right.

    main(['<domain>', 'prepare', 'begin', '-'], <the domain XML>)   (libvirt's hook arguments
    and stdin; the hook script the host role installs calls it)
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import sys
import xml.etree.ElementTree as ET

from ansible_collections.vmnet.networks.plugins.module_utils import interface
from ansible_collections.vmnet.networks.plugins.module_utils.host.libvirt_domain import METADATA_URI, parse_pod_metadata
from ansible_collections.vmnet.networks.plugins.module_utils.pod import Pod, plugin_network


def pod_of(domain_xml):
    """The ``{'vm', 'state_dir'}`` record in a domain's XML, or None for a domain vmnet did not plumb."""
    metadata = ET.fromstring(domain_xml).find('metadata')
    element = metadata.find('{%s}pod' % METADATA_URI) if metadata is not None else None
    return parse_pod_metadata(ET.tostring(element)) if element is not None else None


def replumb(vm, state_dir):
    """Bring the pod of ``vm`` back to what its records say; returns the actions."""
    pod = Pod(vm, state_dir)
    settings = pod.state.read_settings()
    if settings is None:
        return []
    spec, dns = settings['spec'], settings['dns']
    pod = Pod(vm, state_dir, settings['cni_conf_dir'], settings['cni_bin_dirs'], settings['node_netns'],
              settings.get('nad_dir'))
    actions = []
    with pod:
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


def main(argv, stdin):
    if argv[1:3] != ['prepare', 'begin']:
        return 0
    found = pod_of(stdin.read())
    if found is None:
        return 0
    try:
        actions = replumb(found['vm'], found['state_dir'])
    except Exception as exc:  # the domain must not start without its network: say why
        sys.stderr.write('vmnet: %s: re-plumbing pod of VM %s failed: %s\n' % (argv[0], found['vm'], exc))
        return 1
    for action in actions:
        sys.stderr.write('vmnet: %s: %s\n' % (argv[0], action))
    return 0
