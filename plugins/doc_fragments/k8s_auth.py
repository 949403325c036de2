# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Where NetworkAttachmentDefinitions live, and how to reach a cluster: the options of
    # kubernetes.core, with the same K8S_AUTH_* environment variables (AWX injects them).
    DOCUMENTATION = r'''
options:
  backend:
    description:
      - Where the NetworkAttachmentDefinitions live.
      - C(local) is the store on the libvirt host that M(vmnet.networks.vm_network) reads,
        one manifest per NAD in O(nad_dir)C(/<namespace>/<name>.yaml).
      - "C(kubernetes) is a cluster's API (for example to prepare NADs for KubeVirt itself), reached with
        the options below, or their C(K8S_AUTH_*) environment variables as in kubernetes.core. Run it where
        the cluster is reachable, usually with C(delegate_to: localhost)."
    type: str
    choices: [local, kubernetes]
    default: local
  nad_dir:
    description:
      - The local store (O(backend=local)).
    type: path
    default: /etc/vmnet/nads
  kubeconfig:
    description:
      - Path to a kubeconfig (O(backend=kubernetes)). Without it, and without O(host) and O(api_key), the
        in-cluster service account is tried, then the default kubeconfig (C(~/.kube/config)).
      - Or the environment variable E(K8S_AUTH_KUBECONFIG).
    type: path
  context:
    description:
      - The kubeconfig context to use. Or E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server; with O(api_key) nothing else is loaded. Or E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Or E(K8S_AUTH_API_KEY).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Unset keeps the kubeconfig's choice.
      - Or E(K8S_AUTH_VALIDATE_CERTS) / E(K8S_AUTH_VERIFY_SSL) (AWX's Kubernetes credential sets the latter).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA certificate that signed the API server's certificate. Or E(K8S_AUTH_CA_CERT) / E(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate for the API server. Or E(K8S_AUTH_CLIENT_CERT) / E(K8S_AUTH_CERT_FILE).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Key of O(client_cert). Or E(K8S_AUTH_CLIENT_KEY) / E(K8S_AUTH_KEY_FILE).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy for the API server. Or E(K8S_AUTH_PROXY).
    type: str
requirements:
  - PyYAML (O(backend=local))
  - kubernetes (the Python client, O(backend=kubernetes))
notes:
  - The C(kubernetes) backend is tested against a fake API server at the HTTP boundary (get, list, create,
    replace and delete of the C(network-attachment-definitions) resource of C(k8s.cni.cncf.io/v1)), not
    against a real cluster.
'''
