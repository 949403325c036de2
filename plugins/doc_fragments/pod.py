# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Options shared by the modules that work on a VM's pod.
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
      - Name of the VM; its pod is the network namespace C(vmnet-<vm>) (long or unusual names
        get C(vmnet-<first 40 characters>-<hash>)).
      - Defaults to the manifest's C(metadata.name).
    type: str
  state_dir:
    description:
      - Where the pod's records (CNI results, bindings, DHCP) are kept, one directory per VM.
    type: path
    default: /var/lib/vmnet
  cni_conf_dir:
    description:
      - CNI configuration directory; its first configuration (by file name) is the default
        pod network, as a kubelet would pick it.
    type: path
    default: /etc/cni/net.d
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
requirements:
  - pyroute2 >= 0.7 (the Debian package or PyPI)
  - PyYAML, to read NetworkAttachmentDefinitions (C(multus) networks)
  - the CNI plugins (Debian C(containernetworking-plugins)) and C(dnsmasq)
notes:
  - Runs as root on the libvirt host.
'''
