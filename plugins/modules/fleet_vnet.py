#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: fleet_vnet
short_description: The VXLAN bridges of a fleet's stretched networks on one host
description:
  - Makes the links of the stretched L2 networks of a fleet on one host match O(networks); the role
    C(vmnet.networks.fleet) calls it. Per network a Linux bridge C(vnbr<vni>) and a VXLAN device C(vnvx<vni>)
    (the network's VNI, O(local) as the local VTEP, UDP port O(port), no learning) as the bridge's port, with
    bridge learning off and ARP/ND suppression on, so that the remote MACs come only from BGP EVPN (FRR's
    zebra installs them C(extern_learn)).
  - With a C(gateway) the bridge carries that address and a MAC derived from the VNI, the same on every host
    (an anycast gateway).
  - Every link the module makes carries the owner alias C(vmnet:fleet/<network>). Owned links of networks that
    are no longer listed are deleted; O(state=absent) deletes all of them. A link of the same name without
    the alias is never touched; the module fails and names it.
  - Every problem of O(networks) is reported at once, with its field, before anything is changed.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
attributes:
  check_mode:
    support: full
    description: Reports the C(ip) steps it would take in RV(steps) and changes nothing.
  diff_mode:
    support: full
    description: The stretched networks of the host (VNI, bridge, VXLAN device, local VTEP, MTU, gateway) before and after.
  platform:
    platforms: posix
    support: full
    description: Linux with the C(vxlan) and C(bridge) kernel drivers and iproute2.
options:
  networks:
    description:
      - The stretched networks of the host.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The network's name (in the owner alias).
        type: str
        required: true
      vni:
        description: Its VXLAN network identifier, 1-16777215, unique among O(networks).
        type: int
        required: true
      mtu:
        description: MTU of the bridge and the VXLAN device (the underlay's MTU minus the 50 bytes of VXLAN).
        type: int
        required: true
      gateway:
        description: The anycast gateway as address/prefix (for example C(10.10.0.1/24)); empty for none.
        type: str
        default: ''
  local:
    description: The host's underlay IPv4 address, the local VTEP. Required with O(state=present).
    type: str
  port:
    description: The VXLAN UDP port.
    type: int
    default: 4789
  state:
    description: C(present) makes the links match O(networks); C(absent) deletes every link the module made.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: vmnet.networks.nad
'''

EXAMPLES = r'''
- name: Two stretched networks, one with an anycast gateway
  vmnet.networks.fleet_vnet:
    local: 198.51.100.11
    networks:
      - {name: blue, vni: 100, mtu: 1450, gateway: 10.10.0.1/24}
      - {name: green, vni: 200, mtu: 1450}

- name: Remove them all
  vmnet.networks.fleet_vnet:
    local: 198.51.100.11
    state: absent
'''

RETURN = r'''
networks:
  description: The stretched networks of the host after the run (in check mode, as they would be), by name.
  returned: always
  type: dict
  sample: {blue: {vni: 100, bridge: vnbr100, vxlan: vnvx100, local: 198.51.100.11, mtu: 1450, gateway: 10.10.0.1/24}}
steps:
  description: The C(ip) commands taken (in check mode, that would be taken), without the leading C(ip).
  returned: always
  type: list
  elements: list
  sample: [[link, add, vnbr100, type, bridge]]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import vnet


def main():
    module = AnsibleModule(
        argument_spec=dict(
            networks=dict(type='list', elements='dict', default=[], options=dict(
                name=dict(type='str', required=True),
                vni=dict(type='int', required=True),
                mtu=dict(type='int', required=True),
                gateway=dict(type='str', default=''))),
            local=dict(type='str'),
            port=dict(type='int', default=4789),
            state=dict(type='str', choices=['present', 'absent'], default='present')),
        required_if=[('state', 'present', ['local'])],
        supports_check_mode=True)
    params = module.params

    def work():
        wanted = [] if params['state'] == 'absent' else vnet.desired(params['networks'], params['local'],
                                                                     params['port'])
        links = vnet.Links(module.run_command)
        owned = links.read()
        steps, foreign = vnet.plan(wanted, owned, links)
        if foreign:
            raise VmnetError('links %s exist and were not made by vmnet (no alias %s...): rename or remove them'
                             % (', '.join(sorted(foreign)), vnet.ALIAS_PREFIX), field='networks')
        if steps and not module.check_mode:
            links.apply(steps)
        after = vnet.summary_of_wanted(wanted)
        result = dict(changed=bool(steps), steps=steps, networks=after)
        if module._diff:
            result['diff'] = dict(before=vnet.summary(owned), after=after)
        return result

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
