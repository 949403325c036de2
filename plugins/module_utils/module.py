# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small layer between AnsibleModule and the library, shared by the pod modules and
the NetworkAttachmentDefinition modules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.vmnet.networks.plugins.module_utils import nad_policy, names, safe_yaml, sriov_pools
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni, nad_store, netlink
from ansible_collections.vmnet.networks.plugins.module_utils.pod import Pod
from ansible_collections.vmnet.networks.plugins.module_utils.spec import describe, normalize

DEFAULT_NAMESPACE = 'default'
# Where pods live on the host (doc fragment vmnet.networks.pod.host).
HOST_ARGUMENT_SPEC = dict(
    state_dir=dict(type='path', default='/var/lib/vmnet'),
    cni_conf_dir=dict(type='path', default=cni.DEFAULT_CONF_DIR),
    cni_bin_dir=dict(type='list', elements='path', default=['/opt/cni/bin', '/usr/lib/cni']),
    node_netns=dict(type='str'),
    nad_dir=dict(type='path', default=nad_store.DEFAULT_NAD_DIR),
    nad_policy_file=dict(type='path', default=nad_policy.POLICY_PATH),
    nad_policy=dict(type='dict', options=dict(
        plugins=dict(type='list', elements='str'),
        host_interfaces=dict(type='list', elements='str'),
        ipam_data_dirs=dict(type='list', elements='path'),
    )),
)
# One VM's pod (doc fragments vmnet.networks.pod and vmnet.networks.pod.host).
POD_ARGUMENT_SPEC = dict(
    HOST_ARGUMENT_SPEC,
    spec=dict(type='dict', required=True),
    vm=dict(type='str'),
    permit_slirp_interface=dict(type='bool', default=False),
)
# The guest's side of its interfaces (doc fragment vmnet.networks.pod.guest).
GUEST_ARGUMENT_SPEC = dict(
    uri=dict(type='str', default='qemu:///system'),
    dns_servers=dict(type='list', elements='str'),
    dns_search=dict(type='list', elements='str'),
    resolv_conf=dict(type='path', default='/etc/resolv.conf'),
    sriov_pools_file=dict(type='path', default=sriov_pools.POOLS_PATH),
)

# KubeVirt's cluster switches that admission depends on (spec.DEFAULT_OPTIONS), as vm_spec and vm take them.
SWITCH_ARGUMENT_SPEC = dict(
    permit_bridge_interface_on_pod_network=dict(type='bool', default=True),
    permit_slirp_interface=dict(type='bool', default=False),
    default_network_interface=dict(type='str', default='bridge', choices=['bridge', 'masquerade', 'slirp']),
    feature_gates=dict(type='list', elements='str', default=[]),
    pod_interface_naming=dict(type='str', default='hashed', choices=['hashed', 'ordinal']),
    network_binding_plugins=dict(type='dict', default={}),
)


def _env(*names):
    return (env_fallback, ['K8S_AUTH_' + name for name in names])


# Where NADs live; the authentication options are kubernetes.core's, with its environment
# variables (AWX injects K8S_AUTH_HOST, _API_KEY, _VERIFY_SSL, _SSL_CA_CERT).
NAD_BACKEND_ARGUMENT_SPEC = dict(
    backend=dict(type='str', choices=['local', 'kubernetes'], default='local'),
    nad_dir=dict(type='path', default=nad_store.DEFAULT_NAD_DIR),
    kubeconfig=dict(type='path', fallback=_env('KUBECONFIG')),
    context=dict(type='str', fallback=_env('CONTEXT')),
    host=dict(type='str', fallback=_env('HOST')),
    api_key=dict(type='str', no_log=True, fallback=_env('API_KEY')),
    validate_certs=dict(type='bool', aliases=['verify_ssl'], fallback=_env('VALIDATE_CERTS', 'VERIFY_SSL')),
    ca_cert=dict(type='path', aliases=['ssl_ca_cert'], fallback=_env('CA_CERT', 'SSL_CA_CERT')),
    client_cert=dict(type='path', aliases=['cert_file'], fallback=_env('CLIENT_CERT', 'CERT_FILE')),
    client_key=dict(type='path', aliases=['key_file'], fallback=_env('CLIENT_KEY', 'KEY_FILE')),
    proxy=dict(type='str', fallback=_env('PROXY')),
)


def nad_backend(module):
    """The NAD backend the parameters choose; fails when its library is missing."""
    params = module.params
    if params['backend'] == 'kubernetes':
        # imported here: the kubernetes client takes a tenth of a second to import, which
        # every module of the pod (vm, vm_interface, ...) would pay for nothing
        from ansible_collections.vmnet.networks.plugins.module_utils.host import k8s
        if not k8s.HAS_KUBERNETES:
            module.fail_json(msg=missing_required_lib('kubernetes'))
        return k8s.KubernetesNads(dict((key, params[key]) for key in k8s.AUTH_OPTIONS))
    if not safe_yaml.HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'))
    return nad_store.LocalNadStore(params['nad_dir'])


def require_pyroute2(module):
    if not netlink.HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib('pyroute2'))


def load_spec(module):
    """The normalised spec of ``spec`` (manifest or vm_spec output); fails on any error.

    The cluster switch that makes a binding fail closed (``permit_slirp_interface``) is
    checked again here: a spec that claims to be vm_spec's output is data like any other."""
    spec, errors = normalize(module.params['spec'],
                             {'permit_slirp_interface': module.params['permit_slirp_interface']})
    if errors:
        module.fail_json(msg='invalid VM network spec: ' + describe(errors), errors=errors)
    return spec


def vm_name(module, spec):
    """The VM's name: the ``vm`` option, else the manifest's ``metadata.name`` (which the
    spec model checked); refused unless it is a DNS-1123 subdomain, as Kubernetes names it."""
    name = module.params['vm'] or spec.get('name')
    if not name:
        module.fail_json(msg='vm: no VM name given and the manifest has no metadata.name', field='vm')
    field = 'vm' if module.params['vm'] else 'metadata.name'
    try:
        names.check_vm_identity(spec.get('namespace') or DEFAULT_NAMESPACE, name, field)
    except VmnetError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    return name


def find(module, items, name, kind):
    for item in items:
        if item['name'] == name:
            return item
    module.fail_json(msg='name: the spec has no %s named "%s" (it has: %s)' % (
        kind, name, ', '.join(i['name'] for i in items) or 'none'))


def pod(module, spec):
    params = module.params
    try:
        return Pod(vm_name(module, spec), params['state_dir'], params['cni_conf_dir'],
                   params['cni_bin_dir'], params['node_netns'], params['nad_dir'],
                   sriov_pools_file=params.get('sriov_pools_file'), nad_policy_file=params['nad_policy_file'],
                   nad_policy_narrow=params['nad_policy'], namespace=spec.get('namespace') or DEFAULT_NAMESPACE,
                   permit_slirp_interface=params.get('permit_slirp_interface', False))
    except VmnetError as exc:  # a state dir that is not safe to use (a planted symlink, say)
        module.fail_json(msg=str(exc), field=exc.field)


def run(module, work):
    """Run ``work()`` and turn library errors into a clean failure (no traceback)."""
    try:
        return work()
    except VmnetError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    except Exception as exc:  # an unexpected failure still reports, with its trace
        module.fail_json(msg='%s: %s' % (type(exc).__name__, exc), exception=traceback.format_exc())
