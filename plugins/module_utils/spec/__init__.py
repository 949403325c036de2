# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VM spec model: any manifest dialect in, KubeVirt's admission rules applied, one
normalised model out (documented in the RETURN of ``vmnet.networks.vm_spec``).

    spec, errors = normalize(manifest, options)

Pure Python, no host access: every later step consumes ``spec``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils.spec import admission, dialects, model, plugins
from ansible_collections.vmnet.networks.plugins.module_utils.spec.model import SPEC_VERSION

# KubeVirt's cluster settings (KubeVirt CR spec.configuration) that admission depends on.
DEFAULT_OPTIONS = {
    'permit_bridge_interface_on_pod_network': True,
    'permit_slirp_interface': False,
    'default_network_interface': 'bridge',
    'feature_gates': [],
    'pod_interface_naming': 'hashed',
    # KubeVirt's spec.configuration.network.binding: plugin name -> registration
    'network_binding_plugins': {},
}

__all__ = ['DEFAULT_OPTIONS', 'SPEC_VERSION', 'describe', 'normalize']


def normalize(manifest, options=None):
    """Return ``(spec, errors)`` for a manifest of any dialect, or for a normalised spec.

    ``errors`` is a list of ``{'field', 'message'}`` in KubeVirt's words; when it is not
    empty ``spec`` is None. A normalised spec is validated again, as the manifest it came
    from, and comes back unchanged.
    """
    options = dict(DEFAULT_OPTIONS, **(options or {}))
    is_model = isinstance(manifest, dict) and 'specVersion' in manifest
    if is_model:
        options = model.recorded_options(manifest, options)
    problems = plugins.registration_errors(options['network_binding_plugins'])
    if problems:
        return None, [dialects.error('network_binding_plugins', problem) for problem in problems]
    if is_model:
        manifest, errors = model.manifest_from_spec(manifest)
        if errors:
            return None, errors
    document, errors = dialects.parse(manifest)
    if errors:
        return None, errors
    errors = model.apply_defaults(document, options) or admission.validate(document, options)
    if errors:
        return None, errors
    return model.build(document, options), []


def describe(errors):
    """The errors of ``normalize`` as one message: ``field: message; ...``."""
    return '; '.join(
        '%s: %s' % (problem['field'], problem['message']) if problem['field'] else problem['message']
        for problem in errors
    )
