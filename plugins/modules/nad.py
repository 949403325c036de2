#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: nad
short_description: Manage NetworkAttachmentDefinitions on a libvirt host or in a Kubernetes cluster
description:
  - Creates, updates or deletes a Multus NetworkAttachmentDefinition (C(k8s.cni.cncf.io/v1)), that is its
    C(spec.config), a CNI configuration (a C(.conf) or a C(.conflist)), and its
    C(k8s.v1.cni.cncf.io/resourceName) annotation.
  - With O(backend=local) (the default) the NAD is the manifest C(<nad_dir>/<namespace>/<name>.yaml) on the
    libvirt host, the same manifest a cluster takes; M(vmnet.networks.vm_network) reads it for C(multus) networks.
    With O(backend=kubernetes) it is the object in a cluster, for KubeVirt itself.
  - "The configuration is validated before anything is written, every problem reported at once with its field:
    JSON syntax, C(cniVersion) (0.3.0, 0.3.1, 0.4.0 or 1.0.0), C(name), C(type) or a non-empty C(plugins) list
    whose entries have a C(type), and an C(ipam) with a C(type) when it is not empty. With O(backend=local) the
    plugin binaries (and IPAM plugins) must also exist in O(cni_bin_dir) on the host, except those of an SR-IOV
    network (a C(sriov) plugin), which never run there: the C(sriov) binding sets the VF up itself."
  - Only C(spec.config) and the resource name annotation are managed; other labels and annotations of an
    existing NAD are kept. Configurations are compared as JSON values, so formatting alone is no change.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.k8s_auth
attributes:
  check_mode:
    support: full
    description: Reports whether the NAD would be created, changed or deleted, and writes nothing.
  diff_mode:
    support: full
    description: Shows the NAD (name, namespace, resource name and the configuration as a value) before and after.
  platform:
    platforms: linux
    support: full
    description: The local store on a Linux libvirt host; a Kubernetes cluster from wherever its API is reachable.
options:
  name:
    description:
      - Name of the NetworkAttachmentDefinition (what a VM's C(multus.networkName) refers to).
    type: str
    required: true
  namespace:
    description:
      - Its namespace.
    type: str
    default: default
  config:
    description:
      - The CNI configuration, as a JSON string (as C(spec.config) holds it) or as a dictionary, which is
        stored as its JSON text - C(spec.config) is always a string, as in Kubernetes.
      - At most 64 KiB as JSON (a YAML alias bomb is refused, not expanded).
      - Required with O(state=present).
    type: raw
  resource_name:
    description:
      - The C(k8s.v1.cni.cncf.io/resourceName) annotation, the device plugin resource the NAD needs (SR-IOV VFs,
        for example C(intel.com/sriov_net)). Unset means no annotation (an existing one is removed).
    type: str
  state:
    description:
      - C(present) creates or updates the NAD, C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  cni_bin_dir:
    description:
      - Directories on the host where the plugins of O(config) must exist (O(backend=local) only).
    type: list
    elements: path
    default: [/opt/cni/bin, /usr/lib/cni]
seealso:
  - module: vmnet.networks.nad_info
  - module: vmnet.networks.vm_network
'''

EXAMPLES = r'''
- name: A bridge network on br10 with host-local IPAM (secondary networks of VMs)
  vmnet.networks.nad:
    name: linux-bridge-net-ipam
    config:
      cniVersion: 0.3.1
      name: mynet
      plugins:
        - type: bridge
          bridge: br10
          ipam:
            type: host-local
            subnet: 10.10.0.0/24

- name: An L2-only bridge network with MAC spoof checking (the guest configures its own address)
  vmnet.networks.nad:
    name: br-spoof-check
    config: |
      {
        "cniVersion": "0.3.1",
        "name": "br-spoof-check",
        "type": "bridge",
        "bridge": "br10",
        "disableContainerInterface": true,
        "macspoofchk": true
      }

- name: The same NAD in a cluster, with the credentials AWX injects (K8S_AUTH_HOST, K8S_AUTH_API_KEY, ...)
  vmnet.networks.nad:
    backend: kubernetes
    name: br-spoof-check
    namespace: vms
    config: "{{ lookup('ansible.builtin.file', 'br-spoof-check.json') }}"
  delegate_to: localhost

- name: An SR-IOV network, with its device plugin resource
  vmnet.networks.nad:
    backend: kubernetes
    kubeconfig: ~/.kube/config
    name: sriov-net
    resource_name: intel.com/sriov_net
    config:
      cniVersion: 0.3.1
      name: sriov-net
      type: sriov
      spoofchk: "on"
  delegate_to: localhost

- name: Remove a NAD
  vmnet.networks.nad:
    name: linux-bridge-net-ipam
    state: absent
'''

RETURN = r'''
nad:
  description: The NetworkAttachmentDefinition as stored (in check mode, as it would be stored).
  returned: when state is present
  type: dict
  contains:
    name:
      description: Its name.
      type: str
      sample: linux-bridge-net-ipam
    namespace:
      description: Its namespace.
      type: str
      sample: default
    resource_name:
      description: The C(k8s.v1.cni.cncf.io/resourceName) annotation, if any.
      type: str
      sample: intel.com/sriov_net
    config:
      description: C(spec.config), parsed.
      type: dict
      sample: {"cniVersion": "0.3.1", "name": "mynet", "plugins": [{"type": "bridge", "bridge": "br10"}]}
    location:
      description: Where it is, a file (local) or an API URL (kubernetes).
      type: str
      sample: /etc/vmnet/nads/default/linux-bridge-net-ipam.yaml
    manifest:
      description: The whole manifest, C(spec.config) as the JSON string it is stored as.
      type: dict
      sample: {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
               "metadata": {"name": "linux-bridge-net-ipam", "namespace": "default"},
               "spec": {"config": "{\"cniVersion\": \"0.3.1\", ...}"}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import nad
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host.cni import CniRuntime, DEFAULT_BIN_DIRS


def main():
    argument_spec = dict(common.NAD_BACKEND_ARGUMENT_SPEC,
                         name=dict(type='str', required=True),
                         namespace=dict(type='str', default='default'),
                         config=dict(type='raw'),
                         resource_name=dict(type='str'),
                         state=dict(type='str', choices=['present', 'absent'], default='present'),
                         cni_bin_dir=dict(type='list', elements='path', default=DEFAULT_BIN_DIRS))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('state', 'present', ['config'])])
    params = module.params

    def work():
        nad.check_namespace(params['namespace'])
        nad.check_name(params['name'])
        if params['state'] == 'absent':
            changed, diff = nad.ensure_absent(common.nad_backend(module), params['namespace'], params['name'],
                                              module.check_mode)
            result = dict(changed=changed)
        else:
            config = nad.parse_config(params['config'])
            if params['backend'] == 'local':  # a cluster's plugins live on its nodes
                missing = nad.missing_plugin_errors(config, CniRuntime(params['cni_bin_dir']))
                if missing:
                    raise VmnetError('; '.join(missing), field='config')
            changed, diff, item = nad.ensure_present(common.nad_backend(module), params['namespace'], params['name'],
                                                     config, params['resource_name'], module.check_mode)
            result = dict(changed=changed, nad=item)
        if module._diff:
            result['diff'] = diff
        return result

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
