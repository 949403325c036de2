#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: vm_interface
short_description: Bind one VM interface in its pod and give the libvirt domain its NIC
description:
  - Builds the interface's binding inside the VM's pod exactly as KubeVirt builds it in a
    virt-launcher pod, serves the guest's DHCP from the pod, and edits the NIC of the libvirt
    domain in place (live when the domain runs, and in its persistent configuration).
  - "C(bridge) binding: bridge C(k6t-<x>) with the fake address C(169.254.75.1<i>/32), the pod NIC renamed
    C(<x>-nic) carrying the bridge's MAC (learning off), a placeholder with the pod NIC's original name,
    MAC and addresses (a C(dummy); on kernels without one, a persistent tap nobody opens), and
    C(arp_ignore=1). Without IPv4 on the pod NIC the binding is L2 only (no DHCP)."
  - "The guest's frames reach the pod through a persistent host tap C(vmtap<hash>) that QEMU opens and a
    veth whose pod end is C(tap0)/C(tap<hash>) on the bridge, joined by a BPF redirect in each
    direction (from the tap straight into the pod end, C(bpf_redirect_peer)), attached with tcx and named
    C(vmnet_p<ifindex>)/C(vmnet_r<ifindex>); cls_bpf filters on kernels without tcx (before 6.6), u32 + mirred
    where the kernel refuses BPF. Host-side links carry the alias C(vmnet:<namespace>/<vm>/<interface>); vmnet never touches a link
    without it."
  - "One C(dnsmasq) per pod (configuration, leases, log and pid file under O(state_dir)C(/<namespace>_<vm>/)) serves
    KubeVirt's DHCP options: address and prefix, router, DNS and search domains, hostname, MTU,
    classless routes without the local subnet, a 999-day lease, the fake address as server identifier.
    It is restarted when it has died or its configuration changed."
  - "The domain NIC is C(<interface type='ethernet'>) with C(<target dev=... managed='no'/>), matched by its
    alias C(ua-<name>): MAC (O(spec) C(macAddress), else the pod NIC's original MAC), model, MTU, PCI
    address, link state, boot order, ACPI index and, with C(networkInterfaceMultiqueue), one queue per vCPU.
    Added to a running domain it is hot-plugged. Live changes that libvirt cannot apply to a running NIC are
    made in the persistent configuration and reported by RV(restart_required). A C(bootOrder) on a domain that
    boots by C(<os><boot dev=.../>) (libvirt's default) is refused before anything changes: libvirt allows
    per-device boot orders (on the disks too) or those, not both."
  - "C(slirp) binding (KubeVirt up to v1.0): no libvirt C(<interface>) and nothing in the pod, but KubeVirt's
    QEMU arguments in the domain's C(<qemu:commandline>): C(-netdev user,id=ua-<name>,net=<vmNetworkCIDR>)
    with the hostname, the search domains (C(dnssearch)) and one C(hostfwd) per distinct protocol and port of
    C(ports), and C(-device) with model C(e1000) (C(rtl8139) if asked for) and O(spec) C(macAddress) or a
    stable C(52:54:00) MAC derived from the VM and interface names. QEMU serves the guest's DHCP
    (C(10.0.2.15), router C(10.0.2.2), DNS C(10.0.2.3)); only TCP and UDP pass. The domain's persistent
    definition is redefined with vmnet's argument pairs (ids C(ua-<name>)) edited and all else kept; a
    running domain gets them at its next start (RV(restart_required)). Unlike in KubeVirt, whose QEMU ran in
    the pod, QEMU runs in the host's namespace: ports are forwarded from the host's C(127.0.0.1) only (two
    VMs forwarding the same port collide, the second fails to start), the guest's connections leave from the
    host, and C(10.0.2.2) is the host's loopback. The status reports the pod's IPs, as KubeVirt did."
  - "C(sriov) binding (a C(multus) network whose NetworkAttachmentDefinition is of CNI type C(sriov)): nothing
    in the pod. The interface gets a free VF of the SR-IOV pool that the NAD's
    C(k8s.v1.cni.cncf.io/resourceName) annotation names (pools of O(sriov_pools_file), see
    M(vmnet.networks.sriov_pool)): a VF bound to C(vfio-pci) beforehand (M(vmnet.networks.sriov_vf)), allocated
    to no other interface and used by no running domain; it is kept under O(state_dir)C(/<namespace>_<vm>/sriov/). The NAD's
    C(vlan), C(vlanQoS), C(vlanProto), C(mac), C(min_tx_rate), C(max_tx_rate), C(spoofchk), C(trust) and
    C(link_state) are set on the VF through its PF as sriov-cni sets them, O(spec) C(macAddress) as the VF's
    admin MAC (the MAC the guest sees); O(state=absent) puts the VF's original settings back and frees it.
    The domain gets KubeVirt's C(<hostdev mode='subsystem' type='pci' managed='no'>) with the VF's host
    address, alias C(ua-sriov-<name>), C(pciAddress) and C(bootOrder): no MAC, link state or multiqueue. Added
    to a running domain it is hot-plugged. The status reports no C(linkState) or C(queueCount), and as MAC
    C(macAddress) or else the VF's admin MAC."
  - "passt binding (C(passtBinding: {}), the old C(passt: {}), or the plugin C(binding: {name: passt})): passt
    runs in the pod (files C(passt-<name>.{pid,log,args,stderr}) under O(state_dir)C(/<vm>/), its socket under
    C(/run/vmnet/passt/)) with the pod interface as its template, so that the guest gets the pod's address,
    prefix, gateway and routes over passt's DHCP, DHCPv6 and NDP; the pod interface is not touched. C(ports)
    become passt's TCP and UDP forwards from the pod's addresses, every port when C(ports) is empty. The pod
    gets C(net.ipv4.ping_group_range=0 0) and C(net.ipv4.ip_unprivileged_port_start=0), as KubeVirt's passt
    CNI plugin sets them. The domain gets C(-netdev stream,id=ua-<name>,server=off,addr.type=unix,addr.path=<socket>)
    and C(-device) (C(virtio-net-pci) for C(virtio)) in its C(<qemu:commandline>), as for slirp. A dead
    passt, or one with other forwards, is started again; under a running domain that is reported by
    RV(restart_required) (QEMU 7.2 does not reconnect). O(state=absent) stops passt and removes its files."
  - "A binding plugin with C(domainAttachmentType: managedTap): the bridge binding without IPAM (no fake
    address, no DHCP): the tap on the in-pod bridge to the pod NIC, the guest sets its own address."
  - An interface whose spec C(state) is C(absent) is removed, as with O(state=absent).
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.attributes
  - vmnet.networks.pod
  - vmnet.networks.pod.host
  - vmnet.networks.pod.guest
attributes:
  diff_mode:
    support: full
    description: Shows the pod's pieces and the domain NIC before and after, as plain values.
options:
  name:
    description:
      - The interface (an entry of the spec's C(interfaces)) to bind.
    type: str
    required: true
  state:
    description:
      - C(present) binds the interface and plugs its NIC; C(absent) unplugs the NIC and undoes the
        binding, giving the pod interface back its name and addresses.
    type: str
    choices: [present, absent]
    default: present
  domain:
    description:
      - The libvirt domain; defaults to the VM name, or C(<namespace>_<vm>) for a VM outside the
        C(default) namespace (KubeVirt's domain name). It must exist.
    type: str
requirements:
  - libvirt-python
'''

EXAMPLES = r'''
- name: Bind the default interface of a VM (bridge binding on the pod network)
  vmnet.networks.vm_interface:
    spec: "{{ vm_manifest }}"
    name: default

- name: Hot-unplug it
  vmnet.networks.vm_interface:
    spec: "{{ vm_manifest }}"
    name: default
    state: absent
'''

RETURN = r'''
interface:
  description: The interface as a VMI's C(status.interfaces[]) entry reports it.
  returned: when state is present and the pod exists
  type: dict
  contains:
    name:
      description: Interface (and network) name.
      type: str
      sample: default
    mac:
      description: The guest's MAC.
      type: str
      sample: 3a:c2:ae:ee:18:04
    ipAddress:
      description: First IP of the interface (the pod IPv4 for bridge).
      type: str
      sample: 10.244.0.5
    ipAddresses:
      description: All its IPs.
      type: list
      elements: str
      sample: ["10.244.0.5"]
    podInterfaceName:
      description: The pod interface it is bound to.
      type: str
      sample: eth0
    linkState:
      description: Link state of the domain NIC.
      type: str
      sample: up
    queueCount:
      description: Queues of the domain NIC.
      type: int
      sample: 1
    infoSource:
      description: Where the information comes from.
      type: str
      sample: domain
actions:
  description: What the module did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create k6t-eth0", "create eth0-nic", "create glue", "write /var/lib/vmnet/vm1/dnsmasq.conf", "attach ua-default (config)"]
restart_required:
  description: The persistent NIC differs from the running one in a way libvirt cannot change live.
  returned: always
  type: bool
  sample: false
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmnet.networks.plugins.module_utils import interface, names
from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp, libvirt_domain


def main():
    argument_spec = dict(common.POD_ARGUMENT_SPEC, **common.GUEST_ARGUMENT_SPEC)
    argument_spec.update(name=dict(type='str', required=True),
                         state=dict(type='str', choices=['present', 'absent'], default='present'),
                         domain=dict(type='str'))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    common.require_pyroute2(module)
    if not libvirt_domain.HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib('libvirt-python'))
    spec = common.load_spec(module)
    iface = common.find(module, spec['interfaces'], module.params['name'], 'interface')
    pod = common.pod(module, spec)
    params = module.params
    servers, search = dhcp.resolv_conf(params['resolv_conf'])
    dns = (params['dns_servers'] or servers, params['dns_search'] or search)

    absent = params['state'] == 'absent' or iface['state'] == 'absent'

    def work():
        domain = libvirt_domain.find_domain(params['uri'], params['domain'] or names.default_domain(pod.vm_namespace, pod.vm), required=not absent)
        try:
            with pod, interface.sriov_host(pod, [iface], params['uri']):
                if absent:
                    result = interface.remove(pod, iface, domain, module.check_mode, spec=spec)
                else:
                    result = interface.ensure(pod, spec, iface, domain, dns, module.check_mode)
        finally:
            if domain is not None:
                domain.close()
        output = dict(changed=result['changed'], actions=result['actions'],
                      restart_required=result['restart_required'])
        if result['status']:
            output['interface'] = result['status']
        if module._diff:
            output['diff'] = result['diff']
        return output

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
