# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""passt in KubeVirt's three shapes and network binding plugins: every admission rule with
KubeVirt's message and field path (reference §6.2-6.4, §9), the registration option, and
the model's round trip (a model is re-validated as it was admitted)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

from spec_manifests import IFACE, ONE_BINDING, errors_of, legacy, pod, vmi
from spec_manifests import accepted as admitted

PASST_PLUGIN = {'passt': {'sidecarImage': 'quay.io/kubevirt/network-passt-binding:v1.7.0',
                          'networkAttachmentDefinition': 'default/netbindingpasst',
                          'migration': {'method': 'link-refresh'}}}
MANAGED_TAP = {'mytap': {'domainAttachmentType': 'managedTap'}}


def accepted(manifest, **options):
    spec = admitted(manifest, **options)
    assert normalize(spec) == (spec, [])     # the model carries what admitted it (registrations too)
    return spec


def multus(name):
    return {'name': name, 'multus': {'networkName': 'nad-' + name}}


# --- the old core passt (KubeVirt v0.5x-v1.2) ----------------------------------------------

@pytest.mark.parametrize('shape', [vmi, legacy])
def test_old_passt_is_discontinued_without_its_gate(shape):
    # KubeVirt >= v1.3: rejected at creation, and not counted as a binding
    assert errors_of(shape([{'name': 'default', 'passt': {}}], [pod()])) == [
        (IFACE + '.passt', 'Passt network binding has been discontinued since v1.3'), (IFACE, ONE_BINDING)]


@pytest.mark.parametrize('shape', [vmi, legacy])
def test_old_passt_with_the_passt_gate(shape):
    spec = accepted(shape([{'name': 'default', 'passt': {}, 'ports': [{'port': 80}]}], [pod()]),
                    feature_gates=['Passt'])
    iface = spec['interfaces'][0]
    assert (iface['binding'], iface['bindingMethod'], iface['bindingPlugin']) == ('passt', 'passt', None)
    assert iface['ports'] == [{'name': None, 'port': 80, 'protocol': 'TCP'}]


def test_old_passt_only_on_the_pod_network():
    assert errors_of(vmi([{'name': 'default', 'passt': {}}], [multus('default')]), feature_gates=['Passt']) == [
        (IFACE + '.name', 'Passt interface only implemented with pod network')]


def test_old_passt_only_as_the_single_interface():
    manifest = vmi([{'name': 'default', 'passt': {}}, {'name': 'blue', 'bridge': {}}], [pod(), multus('blue')])
    assert errors_of(manifest, feature_gates=['Passt']) == [
        (IFACE + '.name', 'Passt interface is only supported as the single interface of the VMI')]


def test_old_passt_counts_as_a_binding_under_its_gate():
    manifest = vmi([{'name': 'default', 'passt': {}, 'masquerade': {}}], [pod()])
    assert errors_of(manifest, feature_gates=['Passt']) == [(IFACE, ONE_BINDING)]


# --- the core passtBinding (KubeVirt v1.8+) ------------------------------------------------

@pytest.mark.parametrize('network, gates, errors', [
    (pod(), [], [(IFACE + '.name', 'PasstBinding feature gate is not enabled')]),
    (multus('default'), ['PasstBinding'], [(IFACE + '.name', 'PasstBinding interface only implemented with pod network')]),
])
def test_passt_binding_rules(network, gates, errors):
    assert errors_of(vmi([{'name': 'default', 'passtBinding': {}}], [network]), feature_gates=gates) == errors


def test_passt_binding_accepted_and_recorded():
    spec = accepted(vmi([{'name': 'default', 'passtBinding': {}}], [pod()]), feature_gates=['PasstBinding'])
    iface = spec['interfaces'][0]
    assert (iface['binding'], iface['bindingMethod'], iface['bindingPlugin']) == ('passt', 'passtBinding', None)
    assert spec['networkBindingPlugins'] == {}


# --- binding plugins ---------------------------------------------------------------------

def test_unknown_plugin_gets_kubevirts_message():
    manifest = vmi([{'name': 'default', 'binding': {'name': 'passt'}}], [pod()])
    assert errors_of(manifest) == [
        (IFACE + '.binding.name', "unable to find the network binding plugin 'passt' in Kubevirt configuration")]
    assert errors_of(manifest, network_binding_plugins=MANAGED_TAP) == [
        (IFACE + '.binding.name', "unable to find the network binding plugin 'passt' in Kubevirt configuration")]


def test_registered_plugin_without_an_implementation():
    manifest = vmi([{'name': 'default', 'binding': {'name': 'slirp'}}], [pod()])
    assert errors_of(manifest, network_binding_plugins={'slirp': {'sidecarImage': 'quay.io/kubevirt/slirp'}}) == [
        (IFACE + '.binding.name', "network binding plugin 'slirp' has no implementation in vmnet.networks "
         "(implemented: domainAttachmentType managedTap, and the plugins passt)")]


def test_passt_plugin_accepted_and_its_registration_recorded():
    spec = accepted(vmi([{'name': 'default', 'binding': {'name': 'passt'}}], [pod()]),
                    network_binding_plugins=dict(PASST_PLUGIN, **MANAGED_TAP))
    iface = spec['interfaces'][0]
    assert (iface['binding'], iface['bindingMethod'], iface['bindingPlugin']) == ('plugin', 'binding', 'passt')
    assert spec['networkBindingPlugins'] == PASST_PLUGIN      # only the plugins the VM uses


def test_managed_tap_plugin_on_a_secondary_network():
    manifest = vmi([{'name': 'default', 'masquerade': {}}, {'name': 'blue', 'binding': {'name': 'mytap'}}],
                   [pod(), multus('blue')])
    spec = accepted(manifest, network_binding_plugins=MANAGED_TAP)
    assert spec['interfaces'][1]['bindingPlugin'] == 'mytap'


def test_plugin_and_another_binding_is_one_error_only():
    manifest = vmi([{'name': 'default', 'bridge': {}, 'binding': {'name': 'nope'}}], [pod()])
    assert errors_of(manifest) == [(IFACE, ONE_BINDING)]


@pytest.mark.parametrize('plugins, message', [
    ({'x': {'domainAttachmentType': 'macvtap'}},
     'network_binding_plugins.x.domainAttachmentType: Unsupported value: "macvtap": supported values: "tap", "managedTap"'),
    ({'x': {'sidecar': 'typo'}}, "network_binding_plugins.x: unknown field(s) sidecar (KubeVirt's are sidecarImage, "
     'networkAttachmentDefinition, domainAttachmentType, migration, downwardAPI, computeResourceOverhead)'),
    ({'x': 'managedTap'}, 'network_binding_plugins.x must be a mapping'),
    ({'x': {'networkAttachmentDefinition': 'a/b/c'}},
     'network_binding_plugins.x.networkAttachmentDefinition must be "<name>" or "<namespace>/<name>"'),
])
def test_bad_registrations_are_refused(plugins, message):
    manifest = vmi([{'name': 'default', 'masquerade': {}}], [pod()])
    assert errors_of(manifest, network_binding_plugins=plugins) == [('network_binding_plugins', message)]
