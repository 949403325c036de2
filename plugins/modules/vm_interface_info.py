#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: vm_interface_info
short_description: A VM's interfaces as a VMI's status.interfaces reports them
description:
  - Reads the VM's libvirt domain NICs (matched by their C(ua-<name>) alias), the bindings recorded
    in its pod and, when the QEMU guest agent answers, the guest's own view, and returns them the way
    KubeVirt's virt-handler builds C(status.interfaces).
  - IP addresses come from the pod (the pod IPv4 for C(bridge), the pod IPs for C(masquerade)); the guest
    agent only fills an address family the pod lacks, and gives C(interfaceName). NICs the agent reports
    that have no domain counterpart are appended without a name (at most 10).
  - The primary network's entry comes first.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module only reads.
  platform:
    platforms: linux
    support: full
    description: Runs on a Linux libvirt host.
options:
  vm:
    description:
      - Name of the VM (its pod is C(vmnet-<vm>)).
    type: str
    required: true
  domain:
    description:
      - The libvirt domain; defaults to O(vm). When it does not exist, the recorded bindings alone are
        reported.
    type: str
  uri:
    description:
      - libvirt connection URI.
    type: str
    default: qemu:///system
  state_dir:
    description:
      - Where the pod's records are kept, one directory per VM.
    type: path
    default: /var/lib/vmnet
requirements:
  - libvirt-python
  - pyroute2 >= 0.7
'''

EXAMPLES = r'''
- name: Read the interfaces of a VM
  vmnet.networks.vm_interface_info:
    vm: testvm
  register: vm_status

- name: Show the primary interface's IP
  ansible.builtin.debug:
    msg: "{{ vm_status.interfaces[0].ipAddress }}"
'''

RETURN = r'''
domain_exists:
  description: Whether the libvirt domain exists (the C(vmnet.networks.vm) role checks it before it changes anything).
  returned: always
  type: bool
  sample: true
interfaces:
  description: The VM's interfaces, primary first, as C(status.interfaces[]) entries.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The network (and interface) name; empty for a NIC only the guest agent knows.
      type: str
      sample: default
    mac:
      description: The guest's MAC.
      type: str
      sample: 52:54:00:aa:00:01
    ipAddress:
      description: The first of RV(interfaces[].ipAddresses).
      type: str
      sample: 10.88.0.5
    ipAddresses:
      description: The interface's IPs.
      type: list
      elements: str
      sample: ["10.88.0.5"]
    interfaceName:
      description: The guest's name of the NIC (guest agent).
      type: str
      sample: eth0
    infoSource:
      description: Where the entry comes from, a comma-separated list of C(domain) and C(guest-agent).
      type: str
      sample: domain, guest-agent
    queueCount:
      description: Queues of the domain NIC.
      type: int
      sample: 1
    linkState:
      description: Link state of the domain NIC.
      type: str
      sample: up
    podInterfaceName:
      description: The pod interface the binding took over.
      type: str
      sample: eth0
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import status
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain
from ansible_collections.vmnet.networks.plugins.module_utils.pod import Pod


def main():
    module = AnsibleModule(argument_spec=dict(vm=dict(type='str', required=True),
                                              domain=dict(type='str'),
                                              uri=dict(type='str', default='qemu:///system'),
                                              state_dir=dict(type='path', default='/var/lib/vmnet')),
                           supports_check_mode=True)
    if not libvirt_domain.HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib('libvirt-python'))
    params = module.params
    pod = Pod(params['vm'], params['state_dir'])

    def work():
        domain = libvirt_domain.find_domain(params['uri'], params['domain'] or params['vm'], required=False)
        try:
            return dict(changed=False, domain_exists=domain is not None, interfaces=status.interfaces(pod, domain))
        finally:
            if domain is not None:
                domain.close()

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
