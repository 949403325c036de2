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
  - With O(topology) it also returns the VM's plumbing (RV(topology)) and, with O(render), draws it as Graphviz
    DOT, SVG (when Graphviz's C(dot) is installed on the host) or Mermaid text. O(query) picks fields of the result
    with a JMESPath expression.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.attributes.info
attributes:
  platform:
    platforms: linux
    support: full
    description: Runs on a Linux libvirt host.
options:
  vm:
    description:
      - Name of the VM, a DNS-1123 subdomain (its pod is C(vmnet-<namespace>_<vm>), see
        M(vmnet.networks.vm_network)).
    type: str
    required: true
  namespace:
    description:
      - The VM's namespace, a DNS-1123 label (the manifest's C(metadata.namespace)).
    type: str
    default: default
  domain:
    description:
      - The libvirt domain; defaults to O(vm), or C(<namespace>_<vm>) outside the C(default) namespace. When it does not exist, the recorded bindings alone are
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
  topology:
    description:
      - Also return the VM's topology (RV(topology)) with the pod's links, the host glue, the domain's NICs, addresses
        and the pod's nftables tables, and the edges between them.
    type: bool
    default: false
  render:
    description:
      - Pictures of the topology to return in RV(rendered) (implies O(topology)). C(svg) needs Graphviz's C(dot) on
        the host; without it the C(svg) entry of RV(rendered) is null and a warning says so.
    type: list
    elements: str
    choices: [dot, svg, mermaid]
    default: []
  query:
    description:
      - A JMESPath expression applied to the result (RV(interfaces), RV(topology) when asked for, RV(domain_exists));
        its value is returned as RV(query_result). For example C(interfaces[?linkState=='down'].name).
      - Needs the jmespath library on the host.
    type: str
requirements:
  - libvirt-python
  - pyroute2 >= 0.7
  - jmespath (for O(query))
'''

EXAMPLES = r'''
- name: Read the interfaces of a VM
  vmnet.networks.vm_interface_info:
    vm: testvm
  register: vm_status

- name: Show the primary interface's IP
  ansible.builtin.debug:
    msg: "{{ vm_status.interfaces[0].ipAddress }}"

- name: Draw the VM's plumbing (Mermaid text; SVG when Graphviz is installed)
  vmnet.networks.vm_interface_info:
    vm: testvm
    render: [mermaid, svg]
  register: vm_picture

- name: Names of the interfaces whose link is down
  vmnet.networks.vm_interface_info:
    vm: testvm
    query: "interfaces[?linkState=='down'].name"
  register: down_links
'''

RETURN = r'''
topology:
  description: The VM's plumbing (with O(topology) or O(render)).
  returned: when asked for
  type: dict
  contains:
    vm:
      description: The VM.
      type: str
    netns:
      description: Its pod's network namespace.
      type: str
    domain:
      description: The libvirt domain, null when it does not exist.
      type: str
    pod:
      description:
        - The pod's links (C(name), C(kind), C(mac), C(mtu), C(up), C(master), C(alias), C(addresses)) and
          nftables tables (C(nftTables), C(<family> <name>)).
      type: dict
    host:
      description: The host side of the glue, C(links) as in the pod.
      type: dict
    nics:
      description: The domain's NICs (C(alias), C(type), C(target), C(mac), C(model), C(linkState)).
      type: list
      elements: dict
    interfaces:
      description: RV(interfaces) again, so that the topology stands alone.
      type: list
      elements: dict
    nodes:
      description: The picture's nodes (C(id) C(<place>:<name>), C(place) host, pod, nic or node, C(label)).
      type: list
      elements: dict
    edges:
      description: The picture's edges (C(from), C(to), C(kind) port, veth, redirect, tap, cni or user).
      type: list
      elements: dict
rendered:
  description: The pictures O(render) asked for, by format (C(svg) null without Graphviz).
  returned: when O(render) is not empty
  type: dict
  sample: {mermaid: "flowchart LR ..."}
query_result:
  description: The value of O(query) on the result.
  returned: when O(query) is given
  type: raw
  sample: ["secondary"]
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
      sample: 10.244.0.5
    ipAddresses:
      description: The interface's IPs.
      type: list
      elements: str
      sample: ["10.244.0.5"]
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
from ansible_collections.vmnet.networks.plugins.module_utils import names, status, topology
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain
from ansible_collections.vmnet.networks.plugins.module_utils.pod import Pod


def main():
    module = AnsibleModule(argument_spec=dict(vm=dict(type='str', required=True),
                                              namespace=dict(type='str', default='default'),
                                              domain=dict(type='str'),
                                              uri=dict(type='str', default='qemu:///system'),
                                              state_dir=dict(type='path', default='/var/lib/vmnet'),
                                              topology=dict(type='bool', default=False),
                                              render=dict(type='list', elements='str', default=[],
                                                          choices=['dot', 'svg', 'mermaid']),
                                              query=dict(type='str')),
                           supports_check_mode=True)
    if not libvirt_domain.HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib('libvirt-python'))
    params = module.params

    def work():
        pod = Pod(params['vm'], params['state_dir'], namespace=params['namespace'])
        domain = libvirt_domain.find_domain(params['uri'], params['domain'] or names.default_domain(params['namespace'], params['vm']), required=False)
        try:
            result = dict(changed=False, domain_exists=domain is not None, interfaces=status.interfaces(pod, domain))
            if params['topology'] or params['render']:
                result['topology'] = topology.collect(pod, domain, result['interfaces'])
        finally:
            if domain is not None:
                domain.close()
        if params['render']:
            result['rendered'] = render(result['topology'], params['render'])
        if params['query']:
            result['query_result'] = topology.query(result, params['query'])
        return result

    def render(topo, formats):
        dot = topology.to_dot(topo)
        pictures = {'dot': dot, 'mermaid': topology.to_mermaid(topo)}
        if 'svg' in formats:
            pictures['svg'] = topology.to_svg(dot)
            if pictures['svg'] is None:
                module.warn('render svg: Graphviz (dot) is not installed on the host; use the dot or mermaid text')
        return dict((f, pictures[f]) for f in formats)

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
