#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: sriov_pool
short_description: SR-IOV device pools (resource names and their VF selectors), as the SR-IOV device plugin takes them
description:
  - Keeps a pool of SR-IOV VFs on the host - a resource name such as C(intel.com/mellanox_SRIOV_25G)
    and the selectors that pick its VFs - in the pools file O(path).
  - >-
    The pools file is the SR-IOV network device plugin's own C(config.json) format
    (C({"resourceList": [{"resourceName", "resourcePrefix", "selectors": {"vendors", "devices", "drivers",
    "pfNames", "rootDevices"}}]})), so that the same file serves a Kubernetes node. C(resourcePrefix) is
    written only when it is not the plugin's default C(intel.com). O(device_plugin_config) writes a copy
    where the device plugin reads it.
  - A VF belongs to a pool when every selector given matches it (each selector is a list of
    alternatives), as in the device plugin. Resources of the file that this module did not write are kept
    as they are.
  - "The C(sriov) binding allocates VFs of a pool to VM interfaces: a NAD's
    C(k8s.v1.cni.cncf.io/resourceName) names the pool."
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
attributes:
  check_mode:
    support: full
    description: Reports whether the files would change, with the diff, and writes nothing.
  diff_mode:
    support: full
    description: Shows the pools file before and after.
  platform:
    platforms: linux
    support: full
    description: Runs on a Linux host.
options:
  name:
    description:
      - The resource name, C(<prefix>/<name>); a name without a prefix gets the device plugin's default
        prefix C(intel.com).
    type: str
    required: true
  state:
    description:
      - C(present) adds or updates the pool, C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  vendors:
    description: PCI vendor IDs (hex, C(8086)).
    type: list
    elements: str
  devices:
    description: PCI device IDs of the VFs (hex, C(154c)).
    type: list
    elements: str
  drivers:
    description: VF drivers (C(vfio-pci) for VMs).
    type: list
    elements: str
  pf_names:
    description: PF network interfaces; C(ens1f0#0-3,7) selects VFs 0 to 3 and 7 of C(ens1f0) only.
    type: list
    elements: str
  root_devices:
    description: PF PCI addresses.
    type: list
    elements: str
  nad_settings:
    description:
      - The VF settings that a NetworkAttachmentDefinition of this pool may choose (sriov-cni's C(vlan),
        C(vlanQoS), C(vlanProto), C(spoofchk), C(trust), C(link_state), C(min_tx_rate), C(max_tx_rate)), as
        the C(sriov) binding applies them.
      - By default a NAD may set none of them, and its VF keeps the settings the operator gave it
        (M(vmnet.networks.sriov_vf)); only the interface's MAC address is set.
      - Kept in the pool's entry as C(vmnetNadSettings), which the device plugin ignores.
    type: list
    elements: str
    choices: [vlan, qos, vlan_proto, spoofchk, trust, link_state, min_tx_rate, max_tx_rate]
    default: []
  path:
    description: The pools file.
    type: path
    default: /etc/vmnet/sriov/pools.json
  device_plugin_config:
    description:
      - Also write the pools file here, for the SR-IOV network device plugin (its default is
        C(/etc/pcidp/config.json)).
    type: path
  sysfs_root:
    description: Where sysfs is mounted (to report the VFs that the pool selects now).
    type: path
    default: /sys
requirements:
  - pyroute2 (optional, for the VF settings in RV(devices))
seealso:
  - module: vmnet.networks.sriov_vf
'''

EXAMPLES = r'''
- name: The seed's pool - VFs of an Intel PF bound to vfio-pci
  vmnet.networks.sriov_pool:
    name: intel.com/mellanox_SRIOV_25G
    vendors: ["8086"]
    devices: ["154c"]
    drivers: [vfio-pci]
    device_plugin_config: /etc/pcidp/config.json

- name: Four VFs of ens1f0 for another pool
  vmnet.networks.sriov_pool:
    name: example.com/fast_net
    pf_names: ["ens1f0#0-3"]
    drivers: [vfio-pci]
'''

RETURN = r'''
pool:
  description: The pool's entry as the device plugin takes it (null when absent).
  returned: always
  type: dict
  sample: {"resourceName": "mellanox_SRIOV_25G", "selectors": {"vendors": ["8086"], "devices": ["154c"], "drivers": ["vfio-pci"]}}
config:
  description: The whole pools file after the run.
  returned: always
  type: dict
devices:
  description: The VFs the pool selects now (C(pci_address), C(pf), C(vf), C(driver), ...).
  returned: when state is present
  type: list
  elements: dict
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import sriov, sriov_pools
from ansible_collections.vmnet.networks.plugins.module_utils.host import sriov_netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import Sysfs


def ensure(module):
    params = module.params
    prefix, short = sriov_pools.split_resource_name(params['name'])
    full = '%s/%s' % (prefix, short)
    doc = sriov_pools.load_pools(params['path'])
    before_text = sriov_pools.dump_pools(doc) if os.path.exists(params['path']) else ''
    others = [e for e in doc['resourceList'] if sriov_pools.full_resource_name(e) != full]
    position = next((i for i, e in enumerate(doc['resourceList']) if sriov_pools.full_resource_name(e) == full), len(others))
    entry = None
    if params['state'] == 'present':
        selectors = dict((k, params[k]) for k, _key in sriov_pools.SELECTORS)
        entry = sriov_pools.pool_entry(full, selectors, params['nad_settings'])
        others.insert(position, entry)
    after = dict(doc, resourceList=others)
    after_text = sriov_pools.dump_pools(after)
    targets = [params['path']] + ([params['device_plugin_config']] if params['device_plugin_config'] else [])
    stale = [p for p in targets if _content(p) != after_text]
    if params['state'] == 'absent' and not os.path.exists(params['path']) and not params['device_plugin_config']:
        stale = []
    if stale and not module.check_mode:
        for target in stale:
            sriov_pools.write_file(target, after_text)
    result = dict(changed=bool(stale), pool=entry, config=after)
    if module._diff:
        result['diff'] = {'before': before_text, 'after': after_text, 'before_header': params['path'],
                          'after_header': params['path']}
    if entry is not None:
        result['devices'] = _devices(params['sysfs_root'], entry)
    return result


def _content(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _devices(sysfs_root, entry):
    netlink = sriov_netlink.PfNetlink() if sriov_netlink.HAS_PYROUTE2 else None
    try:
        return sriov_pools.pool_devices(sriov.Host(Sysfs(sysfs_root), netlink, None), entry)
    finally:
        if netlink:
            netlink.close()


def main():
    module = AnsibleModule(argument_spec=dict(
        name=dict(type='str', required=True),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        vendors=dict(type='list', elements='str'),
        devices=dict(type='list', elements='str'),
        drivers=dict(type='list', elements='str'),
        pf_names=dict(type='list', elements='str'),
        root_devices=dict(type='list', elements='str'),
        nad_settings=dict(type='list', elements='str', default=[], choices=list(sriov_pools.NAD_SETTINGS)),
        path=dict(type='path', default=sriov_pools.POOLS_PATH),
        device_plugin_config=dict(type='path'),
        sysfs_root=dict(type='path', default='/sys'),
    ), supports_check_mode=True)
    module.exit_json(**common.run(module, lambda: ensure(module)))


if __name__ == '__main__':
    main()
