# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network binding plugins: KubeVirt's ``spec.configuration.network.binding`` map, and which
vmnet binding implements each registered plugin.

A registration has KubeVirt's shape (``kubevirt.io/api/core/v1 InterfaceBindingPlugin``)::

    network_binding_plugins:
      passt:                                   # KubeVirt v1.1-v1.8's passt plugin
        sidecarImage: quay.io/kubevirt/network-passt-binding:v1.7.0
        networkAttachmentDefinition: default/netbindingpasst
        migration: {method: link-refresh}
      mytap:
        domainAttachmentType: managedTap       # KubeVirt v1.4+: a tap the cluster manages
        networkAttachmentDefinition: default/mytap-cni

vmnet runs no sidecars: a plugin is implemented by one of vmnet's bindings
(plugins/module_utils/bindings/), chosen by ``domainAttachmentType: managedTap`` (the
``managedtap`` binding) or else by the plugin's name (``passt``). Its
``networkAttachmentDefinition`` is run in the pod as KubeVirt has Multus run it.

A third party adds an implementation with a module ``bindings/<name>.py`` offering the
functions every binding offers (``discover``, ``refresh``, ``desired``, ``observe``,
``apply``, ``teardown``, ``status_ips``, ``ensure_domain``, ``remove_domain``; see
bindings/bridge.py), its branch in ``bindings.get`` and its name in ``BY_NAME`` here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MANAGED_TAP = 'managedTap'
DOMAIN_ATTACHMENT_TYPES = ('tap', MANAGED_TAP)
# Plugins implemented by the vmnet binding of the same name.
BY_NAME = ('passt',)
UNSUPPORTED = ("network binding plugin '%s' has no implementation in vmnet.networks "
               "(implemented: domainAttachmentType managedTap, and the plugins %s)")
REGISTRATION_KEYS = ('sidecarImage', 'networkAttachmentDefinition', 'domainAttachmentType', 'migration',
                     'downwardAPI', 'computeResourceOverhead')


def implementation(name, registration):
    """The name of the vmnet binding that implements plugin ``name``, or None."""
    if registration.get('domainAttachmentType') == MANAGED_TAP:
        return 'managedtap'
    return name if name in BY_NAME else None


def supported():
    return list(BY_NAME)


def registration_errors(plugins):
    """Problems of the ``network_binding_plugins`` option itself (operator input)."""
    errors = []
    if not isinstance(plugins, dict):
        return ['network_binding_plugins must be a mapping of plugin name to registration']
    for name, registration in sorted(plugins.items(), key=lambda item: str(item[0])):
        where = 'network_binding_plugins.%s' % name
        if not isinstance(registration, dict):
            errors.append('%s must be a mapping' % where)
            continue
        unknown = sorted(set(registration) - set(REGISTRATION_KEYS))
        if unknown:
            errors.append('%s: unknown field(s) %s (KubeVirt\'s are %s)'
                          % (where, ', '.join(unknown), ', '.join(REGISTRATION_KEYS)))
        attachment = registration.get('domainAttachmentType')
        if attachment not in (None, '') + DOMAIN_ATTACHMENT_TYPES:
            errors.append('%s.domainAttachmentType: Unsupported value: "%s": supported values: "tap", "managedTap"'
                          % (where, attachment))
        nad = registration.get('networkAttachmentDefinition')
        if nad is not None and (not isinstance(nad, str) or not nad or nad.count('/') > 1):
            errors.append('%s.networkAttachmentDefinition must be "<name>" or "<namespace>/<name>"' % where)
    return errors


def nad_reference(registration, namespace):
    """``(namespace, name)`` of the plugin's NetworkAttachmentDefinition, or None."""
    reference = registration.get('networkAttachmentDefinition')
    if not reference:
        return None
    nad_namespace, _slash, name = reference.rpartition('/')
    return nad_namespace or namespace, name
