# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manifests and the admission helpers shared by the spec unit tests: manifest builders per
dialect, and ``errors_of``/``accepted`` (an accepted spec must admit itself again)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

ONE_BINDING = 'logical default interface must have exactly one binding method or binding plugin'
IFACE = 'spec.domain.devices.interfaces[0]'
IFACE1 = 'spec.domain.devices.interfaces[1]'


def vmi(interfaces, networks, **spec):
    """A KubeVirt v1 VMI (field paths rooted at ``spec``)."""
    spec = dict(spec)
    devices = spec.pop('devices', {})
    domain = dict(spec.pop('domain', {}), devices=dict(devices, interfaces=interfaces))
    return {
        'apiVersion': 'kubevirt.io/v1',
        'kind': 'VirtualMachineInstance',
        'metadata': {'name': 'testvmi'},
        'spec': dict(spec, domain=domain, networks=networks),
    }


def vm(interfaces, networks, **spec):
    """A KubeVirt v1 VM (field paths rooted at ``spec.template.spec``)."""
    instance = vmi(interfaces, networks, **spec)
    return dict(instance, kind='VirtualMachine', spec={'template': {'spec': instance['spec']}})


def legacy(interfaces, networks):
    return {'kind': 'VM', 'spec': {'domain': {'devices': {'interfaces': interfaces}}, 'networks': networks}}


def early(interfaces, networks):
    return {'kind': 'VM', 'spec': {'devices': {'interfaces': interfaces}, 'networks': networks}}


def virtink(interfaces, networks, **instance):
    return {
        'apiVersion': 'virt.virtink.smartx.com/v1alpha1',
        'kind': 'VirtualMachine',
        'metadata': {'name': 'ch'},
        'spec': {'instance': dict(instance, interfaces=interfaces), 'networks': networks},
    }


def pod(name='default', **settings):
    return {'name': name, 'pod': settings}


def multus(name, nad='nad', **settings):
    return {'name': name, 'multus': dict(settings, networkName=nad)}


def nic(name='default', binding='masquerade', **fields):
    return dict(fields, name=name, **{binding: {}})


def errors_of(manifest, **options):
    spec, errors = normalize(manifest, options)
    assert (spec is None) == bool(errors)
    return [(problem['field'], problem['message']) for problem in errors]


def accepted(manifest, **options):
    spec, errors = normalize(manifest, options)
    assert errors == []
    again, errors = normalize(spec, options)     # admitted once, admitted again
    assert (again, errors) == (spec, [])
    return spec
