# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NetworkAttachmentDefinitions in a Kubernetes cluster, through the ``kubernetes`` client.

Authentication follows kubernetes.core (same option names; their ``K8S_AUTH_*``
environment variables, which AWX's Kubernetes credentials inject, are read by the
modules' argument spec): a host and an API key are enough; else the kubeconfig (and
context) given; else the in-cluster service account, then the default kubeconfig.
Explicit options then override what was loaded.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

try:
    import kubernetes
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError
    HAS_KUBERNETES = True
except ImportError:
    HAS_KUBERNETES = False

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

GROUP = 'k8s.cni.cncf.io'
VERSION = 'v1'
PLURAL = 'network-attachment-definitions'
AUTH_OPTIONS = ('kubeconfig', 'context', 'host', 'api_key', 'validate_certs', 'ca_cert', 'client_cert',
                'client_key', 'proxy')
# option name -> attribute of kubernetes.client.Configuration, applied after loading
OVERRIDES = {'host': 'host', 'validate_certs': 'verify_ssl', 'ca_cert': 'ssl_ca_cert',
             'client_cert': 'cert_file', 'client_key': 'key_file', 'proxy': 'proxy'}


def configuration(auth):
    """A client Configuration from the options (unset ones are None)."""
    config = kubernetes.client.Configuration()
    try:
        if auth.get('host') and auth.get('api_key'):
            pass  # enough to talk to the cluster: load nothing
        elif auth.get('kubeconfig') or auth.get('context'):
            kubernetes.config.load_kube_config(config_file=auth.get('kubeconfig'), context=auth.get('context'),
                                               client_configuration=config, persist_config=False)
        else:
            try:
                kubernetes.config.load_incluster_config(client_configuration=config)
            except kubernetes.config.ConfigException:
                kubernetes.config.load_kube_config(client_configuration=config, persist_config=False)
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise VmnetError('cannot configure the Kubernetes client (give host and api_key, or a kubeconfig): %s' % exc,
                         field='kubeconfig')
    for option, attribute in OVERRIDES.items():
        if auth.get(option) is not None:
            setattr(config, attribute, auth[option].rstrip('/') if option == 'host' else auth[option])
    if auth.get('api_key'):
        # replaces a kubeconfig's token, and the hook that would refresh it from there
        config.api_key = {'BearerToken': 'Bearer %s' % auth['api_key']}
        config.refresh_api_key_hook = None
    return config


class KubernetesNads(object):
    """NADs of a cluster; the same methods as host.nad_store.LocalNadStore."""

    def __init__(self, auth):
        self.config = configuration(auth)
        self.api = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(self.config))

    def location(self, namespace, name):
        return '%s/apis/%s/%s/namespaces/%s/%s/%s' % (self.config.host, GROUP, VERSION, namespace, PLURAL, name)

    def get(self, namespace, name):
        """The object, or None when the cluster has none."""
        return self._call('get', namespace, name, self.api.get_namespaced_custom_object,
                          GROUP, VERSION, namespace, PLURAL, name, missing_ok=True)

    def list(self, namespace):
        found = self._call('list', namespace, '', self.api.list_namespaced_custom_object,
                           GROUP, VERSION, namespace, PLURAL)
        return sorted(found.get('items') or [], key=lambda item: item['metadata']['name'])

    def create(self, manifest):
        namespace, name = manifest['metadata']['namespace'], manifest['metadata']['name']
        return self._call('create', namespace, name, self.api.create_namespaced_custom_object,
                          GROUP, VERSION, namespace, PLURAL, manifest)

    def replace(self, manifest):
        """Replace (PUT) the object; ``manifest`` carries the resourceVersion it was read at."""
        namespace, name = manifest['metadata']['namespace'], manifest['metadata']['name']
        return self._call('replace', namespace, name, self.api.replace_namespaced_custom_object,
                          GROUP, VERSION, namespace, PLURAL, name, manifest)

    def delete(self, namespace, name):
        self._call('delete', namespace, name, self.api.delete_namespaced_custom_object,
                   GROUP, VERSION, namespace, PLURAL, name, missing_ok=True)

    def _call(self, verb, namespace, name, method, *args, missing_ok=False):
        """``method(*args)``; API errors become VmnetError, a 404 None with ``missing_ok``."""
        try:
            return method(*args)
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise _error(verb, namespace, name, exc)
        except HTTPError as exc:
            raise VmnetError('cannot reach the Kubernetes API at %s to %s NetworkAttachmentDefinitions: %s'
                             % (self.config.host, verb, exc), field='host')


def _error(verb, namespace, name, exc):
    """The API's own message (its Status object) for a failed call."""
    try:
        message = json.loads(exc.body).get('message')
    except (TypeError, ValueError, AttributeError):
        message = None
    return VmnetError('Kubernetes API: cannot %s NetworkAttachmentDefinition %s/%s: %s %s%s'
                      % (verb, namespace, name, exc.status, exc.reason, ': ' + message if message else ''))
