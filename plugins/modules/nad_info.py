#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: nad_info
short_description: Read NetworkAttachmentDefinitions from a libvirt host or a Kubernetes cluster
description:
  - Returns the NetworkAttachmentDefinitions of a namespace, or the one named O(name), from the local store
    of the libvirt host (O(backend=local)) or from a cluster (O(backend=kubernetes)), with their CNI
    configuration parsed.
version_added: 0.1.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.attributes.info
  - vmnet.networks.k8s_auth
attributes:
  platform:
    platforms: linux
    support: full
    description: The local store on a Linux libvirt host; a Kubernetes cluster from wherever its API is reachable.
options:
  name:
    description:
      - The NAD to return; all of the namespace's when unset. A NAD that does not exist gives an empty list.
    type: str
  namespace:
    description:
      - The namespace.
    type: str
    default: default
seealso:
  - module: vmnet.networks.nad
'''

EXAMPLES = r'''
- name: The NADs a VM's multus networks can use on this host
  vmnet.networks.nad_info:
    namespace: default
  register: nads

- name: One NAD of a cluster (credentials from K8S_AUTH_* variables)
  vmnet.networks.nad_info:
    backend: kubernetes
    namespace: vms
    name: br-spoof-check
  delegate_to: localhost
'''

RETURN = r'''
nads:
  description: The NetworkAttachmentDefinitions, by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Its name.
      type: str
      sample: br-spoof-check
    namespace:
      description: Its namespace.
      type: str
      sample: default
    resource_name:
      description: The C(k8s.v1.cni.cncf.io/resourceName) annotation, if any.
      type: str
      sample: intel.com/sriov_net
    config:
      description: C(spec.config), parsed (its text when it is not valid JSON).
      type: raw
      sample: {"cniVersion": "0.3.1", "name": "br-spoof-check", "type": "bridge", "bridge": "br10", "macspoofchk": true}
    location:
      description: Where it is, a file (local) or an API URL (kubernetes).
      type: str
      sample: /etc/vmnet/nads/default/br-spoof-check.yaml
    manifest:
      description: The whole manifest as stored.
      type: dict
      sample: {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
               "metadata": {"name": "br-spoof-check", "namespace": "default"}, "spec": {"config": "{...}"}}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils import nad


def main():
    argument_spec = dict(common.NAD_BACKEND_ARGUMENT_SPEC,
                         name=dict(type='str'),
                         namespace=dict(type='str', default='default'))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    def work():
        return dict(changed=False, nads=nad.find(common.nad_backend(module), params['namespace'], params['name']))

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
