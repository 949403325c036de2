#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: vm
short_description: Converge a VM's whole network (or many VMs') from its KubeVirt manifest in one run
description:
  - Does in one process, with one libvirt connection per VM, what M(vmnet.networks.vm_spec),
    M(vmnet.networks.vm_network) and M(vmnet.networks.vm_interface) do piece by piece, with the same
    results and the same library; those modules stay for playbooks that compose the pieces.
  - "First, before anything on the host changes: the manifest's admission (M(vmnet.networks.vm_spec), every
    error at once, with KubeVirt's field paths), the VM's name, that every interface's binding is supported,
    that the libvirt domain exists (O(state=present)) and can take every C(bootOrder) (libvirt refuses one on a domain
    that boots by C(<os><boot dev=.../>)), and that every network to attach passes its checks
    (its NetworkAttachmentDefinition, the NAD policy, the binding, its CNI plugins' binaries)."
  - "Then, holding the VM's lock: unplugs the interfaces that go: those vmnet bound that the manifest no longer
    lists, then those whose spec C(state) is C(absent), in reverse spec order (hot-unplug from a running domain);
    detaches the networks no remaining interface uses (reverse order; the pod goes with its last network);
    attaches the others to the pod C(vmnet-<namespace>_<vm>) (spec order); applies every remaining interface in
    spec order (binding in the pod, DHCP, domain NIC); and returns the interfaces as a VMI's
    C(status.interfaces) (RV(interfaces))."
  - "O(state=absent) removes every interface and network of the VM, its pod and its records; a VM that has none is
    fine (C(changed=false)). The libvirt domain may be gone."
  - "O(vms) converges many VMs in one task, at most O(parallel) at a time, each in a process of its own: pods are
    independent, and the host-wide pieces (IPAM, SR-IOV VF allocation) take their own locks. One VM failing does
    not stop the others; the task then fails naming each VM that failed, and RV(vms) has every VM's result."
  - Only what vmnet made is touched (links with its alias, its tables, its NICs with C(ua-) aliases), as with the
    per-piece modules.
version_added: 0.2.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.attributes
  - vmnet.networks.pod.host
  - vmnet.networks.pod.guest
attributes:
  diff_mode:
    support: full
    description: The networks' attachments and the interfaces' pod pieces and domain NICs before and after.
options:
  manifest:
    description:
      - The VM manifest in any dialect M(vmnet.networks.vm_spec) accepts (a KubeVirt C(kubevirt.io/v1)
        C(VirtualMachine), say), as a mapping or as YAML or JSON text (an AWX survey's textarea).
      - Its C(metadata.name) (and C(metadata.namespace), default C(default)) name the VM and its pod.
      - Exactly one of O(manifest) and O(vms) is required.
    type: raw
  domain:
    description:
      - The libvirt domain of O(manifest)'s VM; by default the VM's name, or C(<namespace>_<name>) outside the
        C(default) namespace (KubeVirt's domain name). With O(state=present) it must exist.
    type: str
  state:
    description:
      - C(present) makes the VM's network match the manifest; C(absent) removes all of it.
    type: str
    choices: [present, absent]
    default: present
  vms:
    description:
      - Many VMs in one task, each with the keys of the single form.
    type: list
    elements: dict
    suboptions:
      manifest:
        description: As O(manifest).
        type: raw
        required: true
      domain:
        description: As O(domain).
        type: str
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
        default: present
  parallel:
    description:
      - How many VMs of O(vms) converge at once; by default 4, or the number of CPUs when that is smaller.
    type: int
  permit_bridge_interface_on_pod_network:
    description: KubeVirt's C(permitBridgeInterfaceOnPodNetwork), as in M(vmnet.networks.vm_spec).
    type: bool
    default: true
  permit_slirp_interface:
    description:
      - KubeVirt's C(permitSlirpInterface), as in M(vmnet.networks.vm_spec); a C(slirp) interface is refused unless
        it is true. A slirp guest reaches every service on the host's C(127.0.0.1).
    type: bool
    default: false
  default_network_interface:
    description: KubeVirt's C(defaultNetworkInterface), as in M(vmnet.networks.vm_spec).
    type: str
    choices: [bridge, masquerade, slirp]
    default: bridge
  feature_gates:
    description: KubeVirt feature gates enabled on the emulated cluster, as in M(vmnet.networks.vm_spec).
    type: list
    elements: str
    default: []
  pod_interface_naming:
    description: How secondary networks' pod interfaces are named, as in M(vmnet.networks.vm_spec).
    type: str
    choices: [hashed, ordinal]
    default: hashed
  network_binding_plugins:
    description: KubeVirt's C(network.binding) plugin registrations, as in M(vmnet.networks.vm_spec).
    type: dict
    default: {}
requirements:
  - libvirt-python
  - pyroute2 >= 0.7
  - PyYAML, for manifests given as YAML text and for NetworkAttachmentDefinitions
  - the CNI plugins (Debian C(containernetworking-plugins)) and C(dnsmasq)
notes:
  - Runs as root on the libvirt host.
seealso:
  - module: vmnet.networks.vm_spec
  - module: vmnet.networks.vm_network
  - module: vmnet.networks.vm_interface
  - module: vmnet.networks.vm_interface_info
'''

EXAMPLES = r'''
- name: Give a VM the network of its KubeVirt manifest
  vmnet.networks.vm:
    manifest: "{{ lookup('ansible.builtin.file', 'vm1.yaml') }}"
  register: vm1

- name: Remove it
  vmnet.networks.vm:
    manifest: "{{ lookup('ansible.builtin.file', 'vm1.yaml') }}"
    state: absent

- name: Every VM of the host in one task, three at a time
  vmnet.networks.vm:
    vms: "{{ host_vms | map('community.general.dict_kv', 'manifest') | list }}"
    parallel: 3
    permit_bridge_interface_on_pod_network: false
'''

RETURN = r'''
vm:
  description: The VM's name.
  returned: with O(manifest)
  type: str
  sample: vm1
namespace:
  description: The VM's namespace.
  returned: with O(manifest)
  type: str
  sample: default
domain:
  description: The libvirt domain.
  returned: with O(manifest)
  type: str
  sample: vm1
actions:
  description: What the module did (or would do in check mode), in order, each prefixed with its network or interface.
  returned: with O(manifest)
  type: list
  elements: str
  sample: ["network default: create network namespace vmnet-default_vm1", "interface default: create k6t-eth0"]
restart_required:
  description: A persistent NIC differs from the running one in a way libvirt cannot change live.
  returned: with O(manifest)
  type: bool
  sample: false
interfaces:
  description:
    - The VM's interfaces as C(status.interfaces[]) entries (see M(vmnet.networks.vm_interface_info)), primary first;
      empty with O(state=absent).
  returned: with O(manifest)
  type: list
  elements: dict
  sample: [{"name": "default", "mac": "52:54:00:aa:00:01", "ipAddress": "10.244.0.5", "ipAddresses": ["10.244.0.5"],
            "podInterfaceName": "eth0", "linkState": "up", "queueCount": 1, "infoSource": "domain"}]
vms:
  description:
    - With O(vms), one result per VM in order, with the keys of the single form (RV(vm), RV(namespace), RV(domain),
      RV(actions), RV(restart_required), RV(interfaces)) and C(state), C(changed), C(diff) in diff mode; a VM that
      failed has C(failed), C(msg), C(field) when known and, for a manifest that failed admission, C(errors).
  returned: with O(vms)
  type: list
  elements: dict
errors:
  description: Every admission error of O(manifest), with KubeVirt's field path and message (as M(vmnet.networks.vm_spec)).
  returned: when O(manifest) fails admission
  type: list
  elements: dict
'''

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmnet.networks.plugins.module_utils import converge
from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp, libvirt_domain

VM_OPTIONS = dict(manifest=dict(type='raw', required=True), domain=dict(type='str'),
                  state=dict(type='str', choices=['present', 'absent'], default='present'))


def main():
    argument_spec = dict(common.SWITCH_ARGUMENT_SPEC, **common.HOST_ARGUMENT_SPEC)
    argument_spec.update(common.GUEST_ARGUMENT_SPEC)
    argument_spec.update(manifest=dict(type='raw'), domain=dict(type='str'),
                         state=dict(type='str', choices=['present', 'absent'], default='present'),
                         vms=dict(type='list', elements='dict', options=VM_OPTIONS),
                         parallel=dict(type='int'))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('manifest', 'vms'), ('domain', 'vms')],
                           required_one_of=[('manifest', 'vms')])
    common.require_pyroute2(module)
    if not libvirt_domain.HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib('libvirt-python'))
    params = module.params
    if params['parallel'] is not None and params['parallel'] < 1:
        module.fail_json(msg='parallel: must be at least 1 (got %d)' % params['parallel'], field='parallel')
    switches = dict((name, params[name]) for name in common.SWITCH_ARGUMENT_SPEC)
    servers, search = dhcp.resolv_conf(params['resolv_conf'])
    host = converge.Host(params['state_dir'], params['cni_conf_dir'], params['cni_bin_dir'], params['node_netns'],
                         params['nad_dir'], params['nad_policy_file'], params['nad_policy'], params['sriov_pools_file'],
                         params['uri'], (params['dns_servers'] or servers, params['dns_search'] or search))
    if params['vms'] is None:
        module.exit_json(**common.run(module, lambda: one(module, host, switches)))
    parallel = params['parallel'] or min(4, os.cpu_count() or 1)
    results = converge.converge_many(host, params['vms'], switches, module.check_mode, parallel)
    output = dict(changed=any(r['changed'] for r in results), vms=[_shown(module, r) for r in results])
    if module._diff:
        output['diff'] = [dict(r['diff'], before_header=r['domain'], after_header=r['domain'])
                          for r in results if 'diff' in r]
    failed = ['vms[%d] (%s): %s' % (i, '%s/%s' % (r['namespace'], r['vm']) if r.get('vm') else 'no VM name', r['msg'])
              for i, r in enumerate(results) if r.get('failed')]
    if failed:
        module.fail_json(msg='%d of %d VMs failed: %s' % (len(failed), len(results), '; '.join(failed)), **output)
    module.exit_json(**output)


def one(module, host, switches):
    params = module.params
    try:
        spec = converge.admit(params['manifest'], switches)
    except converge.AdmissionError as exc:
        module.fail_json(msg=str(exc), field=exc.field, errors=exc.errors)
    except VmnetError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    return _shown(module, converge.converge(host, spec, switches, params['state'], params['domain'], module.check_mode))


def _shown(module, result):
    """A VM's result as returned: its diff only in diff mode."""
    if not module._diff:
        result = dict((k, v) for k, v in result.items() if k != 'diff')
    return result


if __name__ == '__main__':
    main()
