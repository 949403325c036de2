#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: vm_network
short_description: Attach a network of a VM to its pod, as the kubelet and Multus do
description:
  - Makes sure the VM's pod (a network namespace, C(vmnet-<namespace>_<vm>)) exists and that one network of the
    VM's spec is attached to it by running its CNI configuration with the real CNI plugins
    (spec 1.0 C(ADD); C(CHECK) on later runs; C(DEL) on O(state=absent)).
  - A C(pod) network is the host's default CNI network (the first configuration of O(cni_conf_dir))
    and gives the pod its C(eth0), exactly as a virt-launcher pod gets it from the cluster network.
  - "A C(multus) network runs the configuration of the NetworkAttachmentDefinition its C(networkName) names
    (C(name) or C(namespace/name); the namespace defaults to the manifest's, else C(default)), read from the
    local store O(nad_dir) (M(vmnet.networks.nad) writes it). A secondary network's pod interface is
    C(pod<sha256(network name)[:11]>) as in KubeVirt 1.0 and later (C(net1), C(net2), ... with
    M(vmnet.networks.vm_spec)'s O(vmnet.networks.vm_spec#module:pod_interface_naming=ordinal)); with
    C(multus.default=true) the NAD gives the pod its C(eth0) instead of the default network, and must
    return at least one IP address."
  - "The interface's C(macAddress) is requested from the plugins of a secondary network as Multus requests
    it: C(MAC=) in C(CNI_ARGS) and C(runtimeConfig.mac) for plugins that declare the C(mac) capability, so
    MAC-aware plugins (bridge, tuning, ...) give the pod interface that MAC, and MAC spoof checks such as the
    bridge plugin's C(macspoofchk) let the guest's frames through."
  - "A NAD whose plugins need the pod interface to keep its MAC (C(macvlan), C(ipvlan)) is refused for an
    interface with the C(bridge) binding, which moves that MAC to the VM (KubeVirt's documented limitation)."
  - "A NAD of CNI type C(sriov) (sriov-cni) runs no CNI: KubeVirt's VF is bound to C(vfio-pci), where sriov-cni
    (its \"DPDK mode\") moves nothing into the pod, and libvirt hosts have no sriov-cni. The attachment is only
    recorded (no RV(pod_interface)); the interface's C(sriov) binding (M(vmnet.networks.vm_interface)) allocates
    the VF of the NAD's C(k8s.v1.cni.cncf.io/resourceName) pool and sets the NAD's VF settings. Only an
    interface with the C(sriov) binding can use such a network."
  - "When the network's interface uses a binding plugin whose registration (the spec's C(networkBindingPlugins))
    names a C(networkAttachmentDefinition), that NAD runs in the pod too, as KubeVirt has Multus run it: after
    the secondary networks, named C(net<position>) by Multus's rule, with C(args.cni.logicNetworkName) set to
    the network's name; it is recorded as the network C(<network>.plugin) and goes with the network."
  - Everything is checked (the NAD, its plugins' binaries, the binding) before the host is touched; a CNI
    C(ADD) that fails is undone with C(DEL), and the plugin's error is reported.
  - CNI results are kept under O(state_dir)C(/<namespace>_<vm>/networks/) so that C(CHECK), C(DEL) and drift repair
    work. An attachment whose pod interface has gone, or whose C(CHECK) fails, is made again (plugins that
    cannot C(CHECK) the result they have just added, such as the bridge plugin 1.1.1 without IPAM, are only
    watched for their pod interface).
    Once a binding (M(vmnet.networks.vm_interface)) has taken the pod interface over, the binding
    owns it and C(CHECK) is not run.
  - Removing the last network of a VM removes its pod and its state directory.
  - A change of a network's configuration (or of the requested MAC) re-attaches it; while an interface is
    bound to the network the module refuses and asks for the interface to be removed first.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.attributes
  - vmnet.networks.pod
  - vmnet.networks.pod.host
options:
  name:
    description:
      - The network (an entry of the spec's C(networks)) to attach.
    type: str
    required: true
  state:
    description:
      - C(present) attaches the network, C(absent) runs CNI C(DEL) and forgets it.
      - Interfaces bound to the network must be removed first (M(vmnet.networks.vm_interface)).
    type: str
    choices: [present, absent]
    default: present
'''

EXAMPLES = r'''
- name: Attach the default pod network of a KubeVirt VM
  vmnet.networks.vm_network:
    spec: "{{ lookup('ansible.builtin.file', 'vm.yaml') | from_yaml }}"
    name: default

- name: Attach a secondary network from a NetworkAttachmentDefinition of the local store
  vmnet.networks.vm_network:
    spec:
      apiVersion: kubevirt.io/v1
      kind: VirtualMachine
      metadata:
        name: vm1
      spec:
        template:
          spec:
            domain:
              devices:
                interfaces:
                  - name: default
                    masquerade: {}
                  - name: br10-net
                    bridge: {}
                    macAddress: "02:00:00:0a:00:01"
            networks:
              - name: default
                pod: {}
              - name: br10-net
                multus:
                  networkName: default/linux-bridge-net
    name: br10-net

- name: Detach it (and remove the pod when it was the last network)
  vmnet.networks.vm_network:
    spec: "{{ vm_manifest }}"
    name: default
    state: absent
'''

RETURN = r'''
netns:
  description: The pod's network namespace.
  returned: always
  type: str
  sample: vmnet-default_testvm
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create network namespace vmnet-default_testvm", "CNI ADD vmnet (/etc/vmnet/cni/net.d/10-vmnet.conflist) as eth0",
           "CNI ADD mynet (/etc/vmnet/nads/default/linux-bridge-net.yaml) as podf3a01bd7116"]
pod_interface:
  description: The pod interface of the network, as the CNI plugins made it.
  returned: when state is present and the network is attached (not in check mode on a new pod)
  type: dict
  contains:
    name:
      description: Interface name in the pod (C(eth0), C(pod<hash>), C(net<n>)).
      type: str
      sample: eth0
    mac:
      description: MAC address the CNI plugin gave it.
      type: str
      sample: 3a:c2:ae:ee:18:04
    ips:
      description: Addresses with prefix; empty for a network without IPAM (L2 only).
      type: list
      elements: str
      sample: ["10.244.0.5/16"]
    gateway:
      description: First gateway of the CNI result.
      type: str
      sample: 10.244.0.1
    routes:
      description: Routes of the CNI result.
      type: list
      elements: dict
      sample: [{"dst": "0.0.0.0/0"}]
    mtu:
      description: MTU of the pod interface.
      type: int
      sample: 1500
    bound_by:
      description: Interfaces whose binding took this pod interface over.
      type: list
      elements: str
      sample: ["default"]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import pod as pods


def main():
    argument_spec = dict(common.POD_ARGUMENT_SPEC,
                         name=dict(type='str', required=True),
                         state=dict(type='str', choices=['present', 'absent'], default='present'))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    common.require_pyroute2(module)
    spec = common.load_spec(module)
    network = common.find(module, spec['networks'], module.params['name'], 'network')
    pod = common.pod(module, spec)

    def work():
        with pod:
            if module.params['state'] == 'absent':
                actions, before = pods.detach(pod, spec, network['name'], module.check_mode)
                record = None
            else:
                actions, record, before = pods.attach(pod, spec, network, module.check_mode)
            result = dict(changed=bool(actions), actions=actions, netns=pod.netns)
            if record and record.get('result'):
                result['pod_interface'] = pod.interface_status(record)
            if module._diff:
                result['diff'] = {'before': pods.attachment_summary(before), 'after': pods.attachment_summary(record)}
            return result

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
