#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm_spec
short_description: Validate and normalise the interfaces and networks of a VM manifest
description:
  - Reads the C(interfaces) and C(networks) of a virtual machine manifest in any dialect of the
    "Interfaces and Networks" documentation and returns them as one normalised model, the input
    of every other module of the collection.
  - "Accepted dialects: a KubeVirt C(kubevirt.io/v1) C(VirtualMachine) (C(spec.template.spec))
    or C(VirtualMachineInstance) (C(spec)); older KubeVirt manifests with C(spec.domain.devices)
    and a pre-v1 or no C(apiVersion); the early C(kind: VM) with C(spec.devices); a Virtink
    C(virt.virtink.smartx.com/v1alpha1) C(VirtualMachine) (C(spec.instance.interfaces)); a bare
    C({interfaces, networks}) pair; and a spec this module returned."
  - Applies KubeVirt's defaults (a C(default) pod network and interface when a manifest lists
    neither, model C(virtio), masquerade networks C(10.0.2.0/24) and C(fd10:0:2::/120); Virtink's
    C(10.0.2.0/30)) and KubeVirt's admission rules, with KubeVirt's messages and field paths, as
    a cluster with the given settings would. Every error is reported at once.
  - Also rejects what KubeVirt only finds out while it sets the network up, for example a
    masquerade network too small for gateway and guest, or two interfaces with one MAC address.
  - The C(slirp) binding is accepted, on the pod network only, in the dialects whose
    documentation has it (the early, pre-v1 and bare ones); KubeVirt v1 manifests get KubeVirt's
    "discontinued" error for it.
  - "passt in KubeVirt's three shapes: C(passtBinding: {}) with the C(PasstBinding) gate (pod network
    only); the old C(passt: {}) with the C(Passt) gate of KubeVirt <= v1.2 (pod network only, the VM's
    only interface; without the gate KubeVirt's C(discontinued since v1.3) error); and the plugin
    C(binding: {name: passt}) registered in O(network_binding_plugins)."
  - Never touches the host.
author:
  - vmnet.networks contributors (@vmnet)
options:
  manifest:
    description:
      - The whole VM or VMI manifest, a bare C({interfaces, networks}) pair, or the RV(spec) of an
        earlier run.
      - A mapping, or the manifest as YAML or JSON text (what an AWX survey's textarea gives). YAML text
        needs PyYAML on the host and may not use aliases; the text is at most 1 MiB.
    type: raw
    required: true
  permit_bridge_interface_on_pod_network:
    description:
      - KubeVirt's C(permitBridgeInterfaceOnPodNetwork) cluster setting. When false, the
        C(bridge) binding is refused on the pod network.
    type: bool
    default: true
  permit_slirp_interface:
    description:
      - KubeVirt's C(permitSlirpInterface) cluster setting (KubeVirt v1.0 and before, default false).
        When false, a C(slirp) interface, or C(slirp) as O(default_network_interface), is refused with
        KubeVirt's message C(Slirp interface is not enabled in kubevirt-config).
      - Turn it on only for tenants you trust with the host's loopback. QEMU's user network runs in
        the host's network namespace here (not in a pod as in KubeVirt), so the guest's router address
        (C(10.0.2.2)) is the host's C(127.0.0.1), so the guest reaches every service that listens on
        the host's loopback, and C(ports) are forwarded from the host's C(127.0.0.1).
      - M(vmnet.networks.vm_network) and M(vmnet.networks.vm_interface) take the same option and check
        the spec again.
    type: bool
    default: false
  default_network_interface:
    description:
      - KubeVirt's C(defaultNetworkInterface) cluster setting, the binding of the interface added
        when a manifest lists neither interfaces nor networks.
      - C(slirp) is refused for KubeVirt v1 manifests, as KubeVirt does since v1.3.
    type: str
    choices: [bridge, masquerade, slirp]
    default: bridge
  feature_gates:
    description:
      - KubeVirt feature gates enabled on the emulated cluster, for example C(PasstBinding) for
        C(passtBinding) interfaces and C(PortRangesSpec) for C(portRanges).
    type: list
    elements: str
    default: []
  pod_interface_naming:
    description:
      - How secondary networks' pod interfaces are named. C(hashed) is KubeVirt's scheme since
        v1.0 (C(pod) and 11 hex digits of the SHA-256 of the network name), C(ordinal) the older
        C(net1), C(net2), ... Virtink manifests always use Virtink's C(net<index>).
      - Ignored for a spec returned by this module, which keeps its names.
    type: str
    choices: [hashed, ordinal]
    default: hashed
  network_binding_plugins:
    description:
      - KubeVirt's C(spec.configuration.network.binding) cluster setting, the registered network binding
        plugins, plugin name to registration in KubeVirt's shape (C(domainAttachmentType) C(tap) or
        C(managedTap), C(networkAttachmentDefinition), C(migration), C(sidecarImage), C(downwardAPI),
        C(computeResourceOverhead)).
      - "An interface C(binding: {name: <plugin>}) needs its plugin registered here (KubeVirt's message
        C(unable to find the network binding plugin '<plugin>' in Kubevirt configuration) otherwise) and
        implemented by vmnet: C(domainAttachmentType: managedTap) (a tap on an in-pod bridge to the pod NIC,
        no IPAM) and the plugin C(passt) (the passt binding)."
      - The returned RV(spec) records the registrations its interfaces use.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: There is nothing to compare; the module changes nothing.
  platform:
    platforms: all
    support: full
    description: Runs anywhere Python runs; it does not look at the host.
notes:
  - The model's field paths and messages follow KubeVirt v1.9. KubeVirt reports network errors of
    a VMI twice (from two admission steps); this module reports each once.
seealso:
  - name: KubeVirt Interfaces and Networks
    description: The user guide the dialects come from.
    link: https://kubevirt.io/user-guide/network/interfaces_and_networks/
'''

EXAMPLES = r'''
- name: Validate a KubeVirt VM and keep its network model
  vmnet.networks.vm_spec:
    manifest: "{{ lookup('ansible.builtin.file', 'vm.yaml') | from_yaml }}"
  register: vm

- name: Emulate a cluster that forbids bridge on the pod network and has passt enabled
  vmnet.networks.vm_spec:
    manifest:
      apiVersion: kubevirt.io/v1
      kind: VirtualMachineInstance
      metadata:
        name: web
      spec:
        domain:
          devices:
            interfaces:
              - name: default
                passtBinding: {}
                ports:
                  - port: 80
        networks:
          - name: default
            pod: {}
    permit_bridge_interface_on_pod_network: false
    feature_gates:
      - PasstBinding

- name: The passt network binding plugin of KubeVirt v1.1-v1.8
  vmnet.networks.vm_spec:
    manifest:
      interfaces:
        - name: default
          binding:
            name: passt
      networks:
        - name: default
          pod: {}
    network_binding_plugins:
      passt:
        networkAttachmentDefinition: default/netbindingpasst
        migration:
          method: link-refresh

- name: A bare pair of interfaces and networks
  vmnet.networks.vm_spec:
    manifest:
      interfaces:
        - name: default
          masquerade: {}
        - name: blue
          bridge: {}
          macAddress: 02:00:00:00:00:01
      networks:
        - name: default
          pod:
            vmNetworkCIDR: 10.11.12.0/24
        - name: blue
          multus:
            networkName: vlan10/blue-net

- name: A KubeVirt v1.0 manifest with slirp, for a trusted guest (it reaches the host's 127.0.0.1)
  vmnet.networks.vm_spec:
    manifest:
      apiVersion: kubevirt.io/v1alpha3
      kind: VirtualMachineInstance
      metadata:
        name: legacy
      spec:
        domain:
          devices:
            interfaces:
              - name: default
                slirp: {}
                ports:
                  - port: 22
        networks:
          - name: default
            pod: {}
    permit_slirp_interface: true

- name: Show every error of a manifest without failing the play
  vmnet.networks.vm_spec:
    manifest: "{{ candidate }}"
  register: check
  failed_when: false

- name: Report them
  ansible.builtin.debug:
    msg: "{{ item.field }}: {{ item.message }}"
  loop: "{{ check.errors }}"
'''

RETURN = r'''
spec:
  description:
    - The normalised model. Every later module of the collection takes it, or the manifest it
      came from. Passing it back to this module validates it again and returns it unchanged.
  returned: success
  type: dict
  contains:
    specVersion:
      description: Version of the model.
      type: str
      returned: always
      sample: vmnet.networks/v1
    dialect:
      description: The dialect of the manifest.
      type: str
      returned: always
      choices: [kubevirt-v1-vm, kubevirt-v1-vmi, kubevirt-legacy, kubevirt-early, virtink, bare]
    root:
      description:
        - Path of the VMI spec in the manifest, the prefix of the field paths in errors. Empty for a
          bare pair.
      type: str
      returned: always
      sample: spec.template.spec
    name:
      description: C(metadata.name), or null.
      type: str
      returned: always
      sample: my-vm
    namespace:
      description: C(metadata.namespace), C(default) when unset.
      type: str
      returned: always
      sample: default
    hostname:
      description:
        - The guest's host name, as KubeVirt's DHCP server hands it out; C(spec.hostname), or the
          name up to its first dot, at most 63 characters; null without either.
      type: str
      returned: always
      sample: my-vm
    subdomain:
      description: C(spec.subdomain), or null.
      type: str
      returned: always
    vcpus:
      description: Sockets times cores times threads of the guest CPU, the multiqueue queue count.
      type: int
      returned: always
      sample: 1
    networkInterfaceMultiqueue:
      description: Whether virtio interfaces get one queue per vCPU.
      type: bool
      returned: always
    autoattachPodInterface:
      description: Whether the default pod interface is added to a manifest without interfaces.
      type: bool
      returned: always
    interfaces:
      description: The guest's interfaces, in manifest order.
      type: list
      elements: dict
      returned: always
      contains:
        name:
          description: Name of the interface, and of its network.
          type: str
          returned: always
        index:
          description: Position in the manifest's interface list.
          type: int
          returned: always
        binding:
          description: How the interface is connected to its network.
          type: str
          returned: always
          choices: [bridge, masquerade, sriov, slirp, passt, plugin]
        bindingMethod:
          description:
            - The manifest's key of the binding (C(passtBinding), the old C(passt), C(binding) for a plugin, ...).
          type: str
          returned: always
          sample: bridge
        bindingPlugin:
          description: Name of the network binding plugin (C(binding.name)) for C(binding=plugin), else null.
          type: str
          returned: always
        model:
          description: NIC model, C(virtio) when unset.
          type: str
          returned: always
          sample: virtio
        macAddress:
          description: MAC address, lower case and colon separated, or null to use the pod interface's.
          type: str
          returned: always
          sample: de:ad:00:00:be:af
        ports:
          description: Ports forwarded to the guest (masquerade, slirp, passt); empty for all ports.
          type: list
          elements: dict
          returned: always
          contains:
            name:
              description: Port name, or null.
              type: str
              returned: always
            port:
              description: Port number.
              type: int
              returned: always
            protocol:
              description: C(TCP) or C(UDP).
              type: str
              returned: always
        portRanges:
          description: Port ranges forwarded to a masquerade guest (feature gate C(PortRangesSpec)).
          type: list
          elements: dict
          returned: always
          contains:
            protocol:
              description: C(TCP) or C(UDP).
              type: str
              returned: always
            start:
              description: First port.
              type: int
              returned: always
            end:
              description: Last port.
              type: int
              returned: always
        pciAddress:
          description: Guest PCI address (C(0000:81:00.1)), or null.
          type: str
          returned: always
        bootOrder:
          description: Boot order, or null.
          type: int
          returned: always
        acpiIndex:
          description: ACPI index, or null.
          type: int
          returned: always
        tag:
          description: Device metadata tag, or null.
          type: str
          returned: always
        state:
          description: Desired link state.
          type: str
          returned: always
          choices: [up, down, absent]
        dhcpOptions:
          description: Extra DHCP options, or null.
          type: dict
          returned: always
          contains:
            bootFileName:
              description: DHCP option 67, or null.
              type: str
              returned: always
            tftpServerName:
              description: DHCP option 66, or null.
              type: str
              returned: always
            ntpServers:
              description: DHCP option 42 (IPv4 addresses).
              type: list
              elements: str
              returned: always
            privateOptions:
              description: DHCP options 224 to 254.
              type: list
              elements: dict
              returned: always
              contains:
                option:
                  description: Option code.
                  type: int
                  returned: always
                value:
                  description: Option value.
                  type: str
                  returned: always
        vmNetworkCIDR:
          description:
            - IPv4 network between the pod and the guest of a masquerade or slirp interface
              (gateway C(.1), guest C(.2)); null for other bindings.
          type: str
          returned: always
          sample: 10.0.2.0/24
        vmIPv6NetworkCIDR:
          description: IPv6 network between the pod and the guest of a masquerade interface, else null.
          type: str
          returned: always
          sample: fd10:0:2::/120
        network:
          description: Name of the network the interface is connected to.
          type: str
          returned: always
        podInterfaceName:
          description: The network's interface in the pod (C(eth0) for the primary network).
          type: str
          returned: always
          sample: eth0
        primary:
          description: Whether the interface is on the primary (pod or Multus default) network.
          type: bool
          returned: always
    networkBindingPlugins:
      description:
        - The registrations (O(network_binding_plugins)) of the binding plugins the interfaces use, by name.
      type: dict
      returned: always
    networks:
      description: The networks, in manifest order.
      type: list
      elements: dict
      returned: always
      contains:
        name:
          description: Name of the network.
          type: str
          returned: always
        index:
          description: Position in the manifest's network list.
          type: int
          returned: always
        source:
          description: Where the network comes from.
          type: str
          returned: always
          choices: [pod, multus]
        pod:
          description: The pod network's settings for C(source=pod), else null.
          type: dict
          returned: always
          contains:
            vmNetworkCIDR:
              description: C(pod.vmNetworkCIDR), or null for the default.
              type: str
              returned: always
            vmIPv6NetworkCIDR:
              description: C(pod.vmIPv6NetworkCIDR), or null for the default.
              type: str
              returned: always
        multus:
          description: The NetworkAttachmentDefinition for C(source=multus), else null.
          type: dict
          returned: always
          contains:
            networkName:
              description: Name of the NetworkAttachmentDefinition.
              type: str
              returned: always
            namespace:
              description: Its namespace, from C(networkName=<namespace>/<name>) or the VM's.
              type: str
              returned: always
            default:
              description: Whether it replaces the pod network as the primary network.
              type: bool
              returned: always
        primary:
          description: Whether this is the primary network (the first pod or Multus default network).
          type: bool
          returned: always
        podInterfaceName:
          description:
            - The network's interface in the pod, C(eth0) for the primary network, else by
              O(pod_interface_naming) (Virtink, C(net<index>)).
          type: str
          returned: always
          sample: pod16477688c0e
errors:
  description: Every validation error, with KubeVirt's field path and message; empty on success.
  returned: always
  type: list
  elements: dict
  contains:
    field:
      description: Path of the field at fault in the manifest, empty when no single field is.
      type: str
      returned: always
      sample: spec.template.spec.domain.devices.interfaces[0].macAddress
    message:
      description: What is wrong, in KubeVirt's (or Virtink's) words where they have any.
      type: str
      returned: always
      sample: interface spec.template.spec.domain.devices.interfaces[0].name has malformed MAC address (de:ad:00:00:be).
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils.spec import describe, normalize
from ansible_collections.vmnet.networks.plugins.module_utils.spec import text


def main():
    module = AnsibleModule(
        argument_spec=dict(common.SWITCH_ARGUMENT_SPEC, manifest=dict(type='raw', required=True)),
        supports_check_mode=True,
    )
    options = dict((name, module.params[name]) for name in common.SWITCH_ARGUMENT_SPEC)
    manifest, errors = text.load(module.params['manifest'])
    if not errors:
        spec, errors = normalize(manifest, options)
    if errors:
        module.fail_json(msg=describe(errors), errors=errors)
    module.exit_json(changed=False, spec=spec, errors=[])


if __name__ == '__main__':
    main()
