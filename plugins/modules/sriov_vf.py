#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: sriov_vf
short_description: SR-IOV virtual functions of a PF - count, driver (vfio-pci) and VF settings
description:
  - Makes the VFs of an SR-IOV physical function (PF) match what is asked, the way the SR-IOV
    components of Kubernetes do it on a node, so that the same host serves libvirt VMs and
    KubeVirt alike.
  - "The count is written to C(sriov_numvfs) as the sriov-network-operator writes it: C(0) first, then
    the new count, whenever it changes (drivers refuse to go from one non-zero count to another).
    Changing the count removes every VF and creates new ones with the driver's defaults."
  - "VF settings (admin MAC, VLAN with QoS and protocol, spoof checking, trust, link state, TX rates) are
    set through the PF over netlink in sriov-cni's order, and read back from the PF's C(IFLA_VF_INFO) to
    decide what to change."
  - "The driver is changed as the operator changes it: for a user-space driver such as C(vfio-pci), the
    VF's netdev MAC first becomes its admin MAC (when no O(vfs[].mac) is given and it has none), so that
    the VM sees the same address; then the VF is unbound, its C(driver_override) set, bound, and
    C(driver_override) cleared. C(default) gives the VF back to the kernel's own driver
    (C(drivers_probe)). Kernel modules of the drivers asked for are loaded (C(modprobe)) when missing."
  - "Refusals, checked before anything changes: a PF that carries the host's default route (directly, or
    under a bridge, bond or VLAN that does) unless O(force=true); rebinding a VF, or changing the count,
    while a libvirt domain, running or defined, uses a VF (its C(<hostdev>) or C(<interface type='hostdev'>)
    source), or when libvirt cannot be reached to check that, unless O(force=true);
    C(vfio-pci) for a VF without an IOMMU group."
  - A failure half-way takes back what the run had changed, newest first, and reports both.
  - The count does not survive a reboot by itself; the role C(vmnet.networks.sriov) makes it persistent.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
attributes:
  check_mode:
    support: full
    description: Reports the changes it would make, the refusals included, and changes nothing.
  diff_mode:
    support: full
    description: Shows the count and every VF's driver and settings before and after.
  platform:
    platforms: linux
    support: full
    description: Runs as root on a Linux host with an SR-IOV capable NIC.
options:
  pf:
    description:
      - The PF, by network interface name (C(ens1f0)) or PCI address (C(0000:3b:00.0)).
    type: str
    required: true
  num_vfs:
    description:
      - The number of VFs. Left as it is when not given.
      - Must not exceed the PF's C(sriov_totalvfs).
    type: int
  all_vfs:
    description:
      - Settings for every VF (any of the O(vfs) settings except C(vf) and C(mac)); an O(vfs) entry
        overrides them for its VF.
    type: dict
  vfs:
    description:
      - Settings of single VFs. A setting not given is left as it is.
    type: list
    elements: dict
    default: []
    suboptions:
      vf:
        description: The VF's index (0 for C(virtfn0)).
        type: int
        required: true
      driver:
        description:
          - C(vfio-pci) to pass the VF to VMs, C(default) for the kernel's own VF driver (C(iavf),
            C(mlx5_core), C(igbvf), ...), or the name of another PCI driver.
        type: str
      mac:
        description: The VF's admin MAC, set through the PF.
        type: str
      vlan:
        description:
          - VLAN ID (0 = none) the PF tags the VF's traffic with.
          - A new VLAN resets O(vfs[].qos) to 0 and O(vfs[].vlan_proto) to C(802.1q) unless they are given.
        type: int
      qos:
        description: VLAN priority (0-7).
        type: int
      vlan_proto:
        description: VLAN protocol.
        type: str
        choices: ['802.1q', '802.1ad']
      spoofchk:
        description: MAC spoof checking.
        type: bool
      trust:
        description: Trusted VF (may change its MAC, enter promiscuous or all-multicast mode).
        type: bool
      link_state:
        description: C(auto) follows the PF's link; C(enable) and C(disable) force it.
        type: str
        choices: [auto, enable, disable]
      min_tx_rate:
        description: Guaranteed TX rate in Mbit/s (0 = none).
        type: int
      max_tx_rate:
        description: TX rate limit in Mbit/s (0 = none).
        type: int
  force:
    description:
      - Change the VFs of a PF that carries the host's default route. Changing the count resets the PF on
        many drivers, which can cut the host off.
      - Also change the count, or rebind VFs, when libvirt cannot be reached to check which VFs its domains
        use (by default the module then refuses, it fails closed).
    type: bool
    default: false
  uri:
    description:
      - libvirt connection used to find the VFs that domains use, running or defined (a stopped domain's
        definition counts, it would fail to start without its VF). When libvirt cannot be reached (not
        installed, not running), changing the count or rebinding a VF is refused unless O(force=true);
        VF settings (MAC, VLAN, ...) are still applied, with a warning.
    type: str
    default: qemu:///system
  sysfs_root:
    description:
      - Where sysfs is mounted (tests point it at a fake tree).
    type: path
    default: /sys
requirements:
  - pyroute2
  - libvirt-python (optional, for the in-use check)
notes:
  - VF settings go through the PF's netdev; a PF without one (bound to vfio-pci itself) allows O(num_vfs)
    and O(vfs[].driver) only.
  - Drivers refuse what they do not support (for example C(igb) has no C(link_state) and no 802.1ad); the
    error names the setting and the run is taken back.
seealso:
  - module: vmnet.networks.sriov_vf_info
  - module: vmnet.networks.sriov_pool
'''

EXAMPLES = r'''
- name: Eight VFs on ens1f0, all for VMs (vfio-pci), VF 0 on VLAN 100 with a fixed MAC
  vmnet.networks.sriov_vf:
    pf: ens1f0
    num_vfs: 8
    all_vfs:
      driver: vfio-pci
      spoofchk: true
    vfs:
      - vf: 0
        mac: "02:00:00:00:01:00"
        vlan: 100
        trust: true

- name: Give VF 3 back to the kernel's driver
  vmnet.networks.sriov_vf:
    pf: "0000:3b:00.0"
    vfs:
      - vf: 3
        driver: default

- name: Remove all VFs
  vmnet.networks.sriov_vf:
    pf: ens1f0
    num_vfs: 0
'''

RETURN = r'''
pf:
  description: The PF and its VFs after the run (predicted in check mode), as M(vmnet.networks.sriov_vf_info) reports them.
  returned: always
  type: dict
  contains:
    pci_address:
      description: The PF's PCI address.
      type: str
      sample: "0000:3b:00.0"
    name:
      description: Its network interface (null when it has none).
      type: str
      sample: ens1f0
    num_vfs:
      description: VFs now.
      type: int
      sample: 8
    total_vfs:
      description: VFs the PF supports.
      type: int
      sample: 64
    vfs:
      description: One entry per VF (C(vf), C(pci_address), C(driver), C(iommu_group), C(netdev), C(mac), C(vlan), ...).
      type: list
      elements: dict
actions:
  description: What the run did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["set sriov_numvfs of 0000:3b:00.0 from 0 to 8", "ens1f0 of VF 0 (0000:3b:02.0): mac 02:00:00:00:01:00"]
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import sriov
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain, sriov_netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import Sysfs

VF_OPTIONS = dict(
    driver=dict(type='str'),
    mac=dict(type='str'),
    vlan=dict(type='int'),
    qos=dict(type='int'),
    vlan_proto=dict(type='str', choices=['802.1q', '802.1ad']),
    spoofchk=dict(type='bool'),
    trust=dict(type='bool'),
    link_state=dict(type='str', choices=['auto', 'enable', 'disable']),
    min_tx_rate=dict(type='int'),
    max_tx_rate=dict(type='int'),
)


def domain_users(uri, warnings):
    """``({pci address: [domain]}, None)`` over running and defined domains; ``(None, why)``
    (and a warning) when libvirt is unreachable."""
    try:
        return libvirt_domain.pci_hostdev_users(uri), None
    except VmnetError as exc:
        warnings.append('VFs used by libvirt domains are not known: %s' % exc)
        return None, str(exc)


def main():
    argument_spec = dict(
        pf=dict(type='str', required=True),
        num_vfs=dict(type='int'),
        all_vfs=dict(type='dict'),
        vfs=dict(type='list', elements='dict', default=[],
                 options=dict(VF_OPTIONS, vf=dict(type='int', required=True))),
        force=dict(type='bool', default=False),
        uri=dict(type='str', default='qemu:///system'),
        sysfs_root=dict(type='path', default='/sys'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not sriov_netlink.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'))
    params = module.params
    if params['num_vfs'] is not None and params['num_vfs'] < 0:
        module.fail_json(msg='num_vfs: must be 0 or more', field='num_vfs')
    unknown = sorted(set(params['all_vfs'] or {}) - set(VF_OPTIONS))
    if unknown:
        module.fail_json(msg='all_vfs: unknown settings %s (allowed: %s)' % (', '.join(unknown), ', '.join(sorted(VF_OPTIONS))),
                         field='all_vfs')

    def work():
        warnings = []
        with sriov_netlink.PfNetlink() as netlink:
            users, users_error = domain_users(params['uri'], warnings)
            host = sriov.Host(Sysfs(params['sysfs_root']), netlink, users, users_error=users_error)
            run = sriov.Run(host, params['pf'], num_vfs=params['num_vfs'], vfs=params['vfs'],
                            all_vfs=params['all_vfs'], force=params['force'], check_mode=module.check_mode)
            result = run.apply()
        for warning in warnings + result['warnings']:
            module.warn(warning)
        output = dict(changed=result['changed'], actions=result['actions'], pf=result['pf'])
        if module._diff:
            output['diff'] = result['diff']
        return output

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
