#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: sriov_vf_info
short_description: SR-IOV physical functions and their VFs - addresses, drivers, IOMMU groups, settings
description:
  - Reports SR-IOV physical functions (PFs) and each of their VFs - PCI address, driver, C(driver_override),
    IOMMU group, netdev, vendor and device IDs, the settings the PF's driver reports for it (admin MAC,
    VLAN, QoS, VLAN protocol, spoof checking, trust, link state, TX rates) and the libvirt
    domains, running or defined, that use it.
  - PFs whose driver reports no VF settings (no netdev, or no support) are reported with those settings null.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.attributes.info
attributes:
  platform:
    platforms: linux
    support: full
    description: Runs on a Linux host.
options:
  pf:
    description:
      - Report this PF only, by network interface name or PCI address. By default every SR-IOV PF of the
        host is reported.
    type: str
  uri:
    description:
      - libvirt connection used to find the VFs that domains use, running or defined (RV(pfs[].vfs[].in_use_by) is null when
        libvirt cannot be reached).
    type: str
    default: qemu:///system
  sysfs_root:
    description:
      - Where sysfs is mounted (tests point it at a fake tree).
    type: path
    default: /sys
requirements:
  - pyroute2
seealso:
  - module: vmnet.networks.sriov_vf
'''

EXAMPLES = r'''
- name: All SR-IOV PFs of the host
  vmnet.networks.sriov_vf_info:
  register: sriov

- name: The PCI addresses of the VFs of ens1f0 that are bound to vfio-pci
  ansible.builtin.debug:
    msg: "{{ (sriov.pfs | selectattr('name', 'equalto', 'ens1f0') | first).vfs
             | selectattr('driver', 'equalto', 'vfio-pci') | map(attribute='pci_address') }}"
'''

RETURN = r'''
pfs:
  description: The PFs, by PCI address.
  returned: always
  type: list
  elements: dict
  contains:
    pci_address:
      description: The PF's PCI address.
      type: str
      sample: "0000:3b:00.0"
    name:
      description: Its network interface, null when it has none.
      type: str
      sample: ens1f0
    driver:
      description: The PF's driver.
      type: str
      sample: ice
    vendor:
      description: PCI vendor ID (hex, no C(0x)).
      type: str
      sample: "8086"
    device:
      description: PCI device ID.
      type: str
      sample: "1593"
    iommu_group:
      description: The PF's IOMMU group (null without an IOMMU).
      type: str
      sample: "42"
    total_vfs:
      description: VFs the PF supports (C(sriov_totalvfs)).
      type: int
      sample: 64
    num_vfs:
      description: VFs now (C(sriov_numvfs)).
      type: int
      sample: 8
    vfs:
      description: The VFs.
      type: list
      elements: dict
      contains:
        vf:
          description: Index (C(virtfn<vf>)).
          type: int
        pci_address:
          description: The VF's PCI address (the C(<hostdev>) source).
          type: str
        driver:
          description: Its driver (C(vfio-pci), C(iavf), ...), null when none.
          type: str
        driver_override:
          description: Its C(driver_override), null when unset.
          type: str
        iommu_group:
          description: Its IOMMU group; null means vfio-pci cannot take it.
          type: str
        netdev:
          description: Its network interface (none while bound to vfio-pci).
          type: str
        vendor:
          description: PCI vendor ID.
          type: str
        device:
          description: PCI device ID.
          type: str
        mac:
          description: Admin MAC set through the PF (C(00:00:00:00:00:00) when none).
          type: str
        vlan:
          description: VLAN ID.
          type: int
        qos:
          description: VLAN priority.
          type: int
        vlan_proto:
          description: C(802.1q) or C(802.1ad).
          type: str
        spoofchk:
          description: MAC spoof checking.
          type: bool
        trust:
          description: Trusted.
          type: bool
        link_state:
          description: C(auto), C(enable) or C(disable).
          type: str
        min_tx_rate:
          description: Guaranteed TX rate, Mbit/s.
          type: int
        max_tx_rate:
          description: TX rate limit, Mbit/s.
          type: int
        in_use_by:
          description: libvirt domains (running or defined) that use the VF; null when libvirt could not be asked.
          type: list
          elements: str
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import sriov
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain, sriov_netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.sysfs import Sysfs


def main():
    module = AnsibleModule(argument_spec=dict(
        pf=dict(type='str'),
        uri=dict(type='str', default='qemu:///system'),
        sysfs_root=dict(type='path', default='/sys'),
    ), supports_check_mode=True)
    if not sriov_netlink.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'))
    params = module.params
    try:
        users = libvirt_domain.pci_hostdev_users(params['uri'])
    except VmnetError:
        users = None
    sysfs = Sysfs(params['sysfs_root'])

    def work():
        with sriov_netlink.PfNetlink() as netlink:
            host = sriov.Host(sysfs, netlink, users)
            if params['pf']:
                pfs = [sriov.resolve_pf(sysfs, params['pf'])]
            else:
                pfs = [(a, (sysfs.netdevs(a) or [None])[0]) for a in sriov.sriov_pfs(sysfs)]
            return [sriov.observe(host, address, ifname) for address, ifname in pfs]

    module.exit_json(changed=False, pfs=common.run(module, work))


if __name__ == '__main__':
    main()
