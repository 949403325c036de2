# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # The VM and its spec, for the modules that work on one VM's pod.
    DOCUMENTATION = r'''
options:
  spec:
    description:
      - The VM's interfaces and networks, either a manifest in any dialect that
        M(vmnet.networks.vm_spec) accepts or the C(spec) that M(vmnet.networks.vm_spec) returned.
      - Pass the output of M(vmnet.networks.vm_spec) to validate with non-default cluster settings.
    type: dict
    required: true
  vm:
    description:
      - Name of the VM, a DNS-1123 subdomain as Kubernetes requires (lower-case letters, digits,
        C(-) and C(.), at most 253 characters); anything else is refused.
      - Defaults to the manifest's C(metadata.name).
      - The VM's pod is identified by its namespace (the manifest's C(metadata.namespace), default
        C(default)) and its name, C(<namespace>_<vm>), as KubeVirt names a VMI's domain; its
        network namespace is C(vmnet-<namespace>_<vm>) and its records are kept in
        O(state_dir)C(/<namespace>_<vm>/). Where that is longer than 63 characters, it becomes
        C(<namespace[:20]>_<vm[:20]>_<hash of both>).
    type: str
  permit_slirp_interface:
    description:
      - KubeVirt's C(permitSlirpInterface) cluster switch, as in M(vmnet.networks.vm_spec); a spec
        with a C(slirp) interface is refused unless it is true, with KubeVirt's message
        C(Slirp interface is not enabled in kubevirt-config). A slirp guest reaches every service
        that listens on the host's C(127.0.0.1) (see M(vmnet.networks.vm_spec)).
      - Checked again here because a spec is data, and one that claims to be M(vmnet.networks.vm_spec)'s
        output passes the same checks.
    type: bool
    default: false
requirements:
  - pyroute2 >= 0.7 (the Debian package or PyPI)
  - PyYAML, to read NetworkAttachmentDefinitions (C(multus) networks)
  - the CNI plugins (Debian C(containernetworking-plugins)) and C(dnsmasq)
notes:
  - Runs as root on the libvirt host.
'''

    # Where pods live on the host: every module that builds, moves or reads pods.
    HOST = r'''
options:
  state_dir:
    description:
      - Where the pod's records (CNI results, bindings, DHCP) are kept, one directory per VM
        (C(<namespace>_<vm>)), created 0700 with files 0600.
    type: path
    default: /var/lib/vmnet
  cni_conf_dir:
    description:
      - CNI configuration directory; its first configuration (by file name) is the default
        pod network, as a kubelet would pick it.
      - vmnet's own directory, which the C(vmnet.networks.host) role fills; not C(/etc/cni/net.d), so that
        VMs never join podman's or a Kubernetes node's network unless the operator points them there.
    type: path
    default: /etc/vmnet/cni/net.d
  cni_bin_dir:
    description:
      - Directories searched for CNI plugins, in order.
    type: list
    elements: path
    default: [/opt/cni/bin, /usr/lib/cni]
  node_netns:
    description:
      - Network namespace in which the CNI plugins run, standing for the node. By default they
        run in the host's namespace, as on a Kubernetes node. Tests and sandboxes use this to keep
        the pod network's bridge off the host.
    type: str
  nad_dir:
    description:
      - The local store of NetworkAttachmentDefinitions that C(multus) networks name,
        C(<nad_dir>/<namespace>/<name>.yaml) (see M(vmnet.networks.nad)).
    type: path
    default: /etc/vmnet/nads
  nad_policy_file:
    description:
      - The operator's policy for NetworkAttachmentDefinitions, a JSON file with the keys of O(nad_policy),
        which the C(vmnet.networks.host) role writes (C(vmnet_host_nad_policy)). The libvirt hook reads the
        same file. Without the file the built-in default applies.
      - "The default allows the CNI plugin types C(bridge), C(host-local), C(static), C(tuning), C(portmap),
        C(firewall), C(bandwidth), C(sbr), C(vrf), C(loopback), C(macvlan) and C(sriov), no host interface
        and no IPAM C(dataDir): C(host-device), a C(master) or C(device) naming a host interface, a bridge
        with a host NIC as port, and host-local's C(dataDir) are refused."
      - A NAD that the policy refuses fails the run before anything on the host changes, naming the network,
        the NAD and the plugin key.
    type: path
    default: /etc/vmnet/nad-policy.json
  nad_policy:
    description:
      - Narrows the policy of O(nad_policy_file) for this run; it never widens it (a NAD must pass both, so
        that the libvirt hook, which reads only the file, accepts what the modules accepted). A key not given
        does not narrow.
      - To widen the policy, change the file (the C(vmnet.networks.host) role's C(vmnet_host_nad_policy)).
    type: dict
    suboptions:
      plugins:
        description: CNI plugin types (main and IPAM) a NAD may use.
        type: list
        elements: str
      host_interfaces:
        description:
          - Host interfaces (shell patterns) a NAD may name as C(master) (macvlan, ipvlan, vlan), C(device)
            (host-device), or as an existing C(bridge) that has a host NIC as port.
        type: list
        elements: str
      ipam_data_dirs:
        description: Directories inside which host-local's C(dataDir) may point.
        type: list
        elements: path
'''

    # The guest's side of an interface: libvirt, the DHCP answers and the VFs.
    GUEST = r'''
options:
  uri:
    description:
      - libvirt connection URI.
    type: str
    default: qemu:///system
  dns_servers:
    description:
      - DNS servers offered to the guest. By default the IPv4 nameservers of O(resolv_conf)
        (C(8.8.8.8) when it lists none), as KubeVirt offers the pod's.
    type: list
    elements: str
  dns_search:
    description:
      - Search domains offered to the guest (the longest one is also its domain name). By default
        those of O(resolv_conf) (C(cluster.local) when it has none).
    type: list
    elements: str
  resolv_conf:
    description:
      - The resolver configuration whose servers and search domains the guest gets.
    type: path
    default: /etc/resolv.conf
  sriov_pools_file:
    description:
      - The SR-IOV device pools (the SR-IOV network device plugin's C(config.json) format, written by
        M(vmnet.networks.sriov_pool)) that C(sriov) interfaces take their VFs from.
    type: path
    default: /etc/vmnet/sriov/pools.json
'''
