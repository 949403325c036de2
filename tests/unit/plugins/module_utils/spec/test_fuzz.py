# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Invalid input never raises: random manifests, mostly well-shaped with wrong types,
nulls and odd values anywhere, always come back as ``(None, errors)`` or as a model that
is plain JSON and normalises to itself."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import masquerade
from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp, libvirt_qemu_args, libvirt_xml
from ansible_collections.vmnet.networks.plugins.module_utils.host.state import VmState
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
# Any JSON-ish value, including the wrong container where another is expected.
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def manifests_with(noisy):
    """Manifests of every dialect; when ``noisy``, any field may hold anything at all."""

    def maybe(strategy):
        return st.one_of(strategy, strategy, strategy, junk) if noisy else strategy

    names = st.sampled_from(['default', 'red', 'blue', 'bad.name', '', 'a"b'])
    macs = st.sampled_from(
        ['de:ad:00:00:be:af', 'DE-AD-00-00-BE-AF', 'dead.0000.beaf', '02:00:00:00:00:00', 'de:ad', 'x']
    )
    cidrs = st.sampled_from(['10.0.2.0/24', '10.0.2.0/31', 'fd10:0:2::/120', 'fd00::/127', '10.0.2.0', 'nope'])
    ports = st.fixed_dictionaries(
        {},
        optional={
            'name': maybe(st.sampled_from(['http', 'Bad', 'dns'])),
            'port': maybe(st.integers(min_value=-2, max_value=70000)),
            'protocol': maybe(st.sampled_from(['TCP', 'UDP', 'tcp', ''])),
        },
    )
    port_ranges = st.fixed_dictionaries(
        {},
        optional={
            'protocol': maybe(st.sampled_from(['TCP', 'UDP', 'SCTP'])),
            'start': maybe(st.integers(min_value=-1, max_value=70000)),
            'end': maybe(st.integers(min_value=-1, max_value=70000)),
        },
    )
    binding = maybe(st.just({}))
    interfaces = st.fixed_dictionaries(
        {'name': maybe(names)},
        optional={
            'bridge': maybe(st.fixed_dictionaries({}, optional={'delegateIp': maybe(st.booleans())})),
            'masquerade': maybe(st.fixed_dictionaries({}, optional={'cidr': maybe(cidrs), 'ipv6CIDR': maybe(cidrs)})),
            'sriov': binding,
            'slirp': binding,
            'passtBinding': binding,
            'vhostUser': binding,
            'binding': maybe(st.fixed_dictionaries({'name': maybe(st.text(max_size=5))})),
            'model': maybe(st.sampled_from(['virtio', 'e1000', 'bogus'])),
            'macAddress': maybe(macs),
            'mac': maybe(macs),
            'ports': maybe(st.lists(maybe(ports), max_size=3)),
            'portRanges': maybe(st.lists(maybe(port_ranges), max_size=3)),
            'pciAddress': maybe(st.sampled_from(['0000:81:00.1', '0000:81:01.10'])),
            'bootOrder': maybe(st.integers(min_value=-1, max_value=3)),
            'acpiIndex': maybe(st.integers(min_value=0, max_value=3)),
            'state': maybe(st.sampled_from(['up', 'down', 'absent', 'sideways'])),
            'dhcpOptions': maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        'ntpServers': maybe(st.lists(maybe(st.sampled_from(['10.0.0.1', '::1'])), max_size=2)),
                        'privateOptions': maybe(
                            st.lists(
                                maybe(
                                    st.fixed_dictionaries(
                                        {'option': maybe(st.integers(220, 256)), 'value': maybe(st.text(max_size=4))}
                                    )
                                ),
                                max_size=2,
                            )
                        ),
                    },
                )
            ),
        },
    )
    networks = st.fixed_dictionaries(
        {'name': maybe(names)},
        optional={
            'pod': maybe(
                st.fixed_dictionaries({}, optional={'vmNetworkCIDR': maybe(cidrs), 'vmIPv6NetworkCIDR': maybe(cidrs)})
            ),
            'multus': maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        'networkName': maybe(st.sampled_from(['nad', 'ns/nad', ''])),
                        'default': maybe(st.booleans()),
                    },
                )
            ),
            'resourceClaim': maybe(st.fixed_dictionaries({'claimName': maybe(st.text(max_size=3))})),
        },
    )
    interface_lists = maybe(st.lists(maybe(interfaces), max_size=3))
    network_lists = maybe(st.lists(maybe(networks), max_size=3))
    devices = st.fixed_dictionaries(
        {'interfaces': interface_lists},
        optional={
            'autoattachPodInterface': maybe(st.booleans()),
            'networkInterfaceMultiqueue': maybe(st.booleans()),
            'disks': junk,
        },
    )
    counts = st.integers(min_value=0, max_value=4)
    cpus = maybe(
        st.fixed_dictionaries(
            {}, optional={'sockets': maybe(counts), 'cores': maybe(counts), 'coresPerSocket': maybe(counts)}
        )
    )
    probes = st.fixed_dictionaries({}, optional={'httpGet': junk, 'tcpSocket': junk, 'exec': junk})
    vmi_specs = st.fixed_dictionaries(
        {
            'domain': maybe(st.fixed_dictionaries({'devices': maybe(devices)}, optional={'cpu': cpus})),
            'networks': network_lists,
        },
        optional={
            'hostname': maybe(st.text(max_size=5)),
            'readinessProbe': maybe(probes),
            'livenessProbe': maybe(probes),
        },
    )
    metadata = maybe(
        st.fixed_dictionaries({}, optional={'name': maybe(st.text(max_size=70)), 'namespace': maybe(names)})
    )
    api_versions = st.sampled_from(['kubevirt.io/v1', 'kubevirt.io/v1alpha3', None])

    return st.one_of(
        st.builds(
            lambda api, meta, spec: {
                'apiVersion': api,
                'kind': 'VirtualMachine',
                'metadata': meta,
                'spec': {'template': {'spec': spec}},
            },
            api_versions,
            metadata,
            maybe(vmi_specs),
        ),
        st.builds(
            lambda api, meta, spec: {
                'apiVersion': api,
                'kind': 'VirtualMachineInstance',
                'metadata': meta,
                'spec': spec,
            },
            api_versions,
            metadata,
            maybe(vmi_specs),
        ),
        st.builds(
            lambda devs, nets: {'kind': 'VM', 'spec': {'devices': devs, 'networks': nets}},
            maybe(devices),
            network_lists,
        ),
        st.builds(
            lambda ifaces, nets, cpu: {
                'apiVersion': 'virt.virtink.smartx.com/v1alpha1',
                'kind': 'VirtualMachine',
                'spec': {'instance': {'interfaces': ifaces, 'cpu': cpu}, 'networks': nets},
            },
            interface_lists,
            network_lists,
            cpus,
        ),
        st.builds(lambda ifaces, nets: {'interfaces': ifaces, 'networks': nets}, interface_lists, network_lists),
    )


manifests = st.one_of(manifests_with(noisy=False), manifests_with(noisy=True), junk)
options = st.fixed_dictionaries(
    {
        'permit_bridge_interface_on_pod_network': st.booleans(),
        'default_network_interface': st.sampled_from(['bridge', 'masquerade', 'slirp']),
        'feature_gates': st.lists(
            st.sampled_from(['PasstBinding', 'PortRangesSpec', 'NetworkDevicesWithDRA']), max_size=3
        ),
        'pod_interface_naming': st.sampled_from(['hashed', 'ordinal']),
        'permit_slirp_interface': st.booleans(),
    }
)


def assert_result_shape(result):
    spec, errors = result
    assert isinstance(errors, list)
    for problem in errors:
        assert set(problem) == {'field', 'message'}
        assert isinstance(problem['field'], str) and isinstance(problem['message'], str) and problem['message']
    assert (spec is None) == bool(errors)


@FUZZ
@given(manifests, options)
def test_any_manifest_gives_errors_or_a_stable_model(manifest, opts):
    result = normalize(copy.deepcopy(manifest), opts)
    assert_result_shape(result)
    spec = result[0]
    if spec is not None:
        assert json.loads(json.dumps(spec)) == spec
        assert normalize(copy.deepcopy(spec), opts) == (spec, [])


@FUZZ
@given(manifests, options, st.data())
def test_tampered_model_gives_errors_or_a_model(manifest, opts, data):
    spec = normalize(copy.deepcopy(manifest), opts)[0]
    if spec is None:
        return
    # Replace one field of the model, anywhere, by anything.
    target = spec
    path = data.draw(st.lists(st.integers(min_value=0, max_value=20), max_size=3))
    for step in path:
        children = (
            list(target.items())
            if isinstance(target, dict)
            else list(enumerate(target)) if isinstance(target, list) else []
        )
        containers = [(key, value) for key, value in children if isinstance(value, (dict, list))]
        if not containers:
            break
        target = containers[step % len(containers)][1]
    if isinstance(target, dict) and target:
        target[data.draw(st.sampled_from(sorted(target)))] = data.draw(junk)
    elif isinstance(target, list) and target:
        target[data.draw(st.integers(min_value=0, max_value=len(target) - 1))] = data.draw(junk)
    assert_result_shape(normalize(spec, opts))


# Names and hostnames: random unicode, separators and control characters --------------------

# Characters that break a path, a dnsmasq line, an nft rule, a QEMU option or XML.
_NASTY = ['/', '..', '\n', '\r', '\x00', ',', '=', '#', ' ', '{', '}', '"', "'", '_', '.', '-', '\u2028', '\x7f']
hostile_names = st.one_of(
    st.text(max_size=20),
    st.lists(st.one_of(st.sampled_from(_NASTY), st.sampled_from(['web', 'a', 'Z9', 'x' * 70])),
             max_size=6).map(''.join),
    st.sampled_from(['web', 'a.b', 'a-b', 'default', 'x' * 63, 'x' * 253, 'x' * 254]),
)
# Valid for every name field (a DNS label is a subdomain, an interface name, a NAD name).
valid_names = st.from_regex(r'[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?', fullmatch=True)
# Mostly valid, so that accepted manifests are common enough to check what they render.
names_or_hostile = st.one_of(valid_names, valid_names, valid_names, valid_names, hostile_names)


def _named_manifest(dialect, name, namespace, hostname, subdomain, iface, network, nad):
    metadata = {'name': name, 'namespace': namespace}
    if dialect == 'virtink':
        return {'apiVersion': 'virt.virtink.smartx.com/v1alpha1', 'kind': 'VirtualMachine', 'metadata': metadata,
                'spec': {'instance': {'interfaces': [{'name': iface, 'bridge': {}}, {'name': network, 'bridge': {}}]},
                         'networks': [{'name': iface, 'pod': {}}, {'name': network, 'multus': {'networkName': nad}}]}}
    vmi_spec = {'hostname': hostname, 'subdomain': subdomain,
                'domain': {'devices': {'interfaces': [{'name': iface, 'masquerade': {}},
                                                      {'name': network, 'bridge': {}}]}},
                'networks': [{'name': iface, 'pod': {}}, {'name': network, 'multus': {'networkName': nad}}]}
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', 'metadata': metadata, 'spec': vmi_spec}


def _assert_renders_unchanged(spec):
    """Every accepted name passes each renderer as it is: nothing to escape, nothing refused."""
    name = spec['name'] or 'vm'  # a manifest without a name takes the modules' vm option
    netns = names.pod_netns(spec['namespace'], name)
    assert re.fullmatch(r'[A-Za-z0-9_.-]{1,63}', netns)
    root = VmState('/nonexistent-vmnet-fuzz', spec['namespace'], name).root
    assert root == '/nonexistent-vmnet-fuzz/' + names.pod_id(spec['namespace'], name)
    hostname = spec['hostname'] or 'vm'
    text = dhcp.render([dhcp.masquerade_entry('eth0', 'k6t-eth0', {'vm': '10.0.2.2', 'gateway': '10.0.2.1',
                                                                   'prefix': 24}, None, 1500, hostname, [], [])],
                       '/l', '/g')
    assert 'dhcp-option-force=tag:eth0,12,%s' % hostname in text.splitlines()
    for iface in spec['interfaces']:
        alias = names.user_alias(iface['name'])
        netdev, _device = libvirt_qemu_args.render({'alias': alias, 'model': 'e1000', 'mac': '52:54:00:00:00:01',
                                                    'net': '10.0.2.0/24', 'hostname': hostname, 'dnssearch': [],
                                                    'hostfwd': []})
        assert netdev == 'user,id=%s,net=10.0.2.0/24,hostname=%s' % (alias, hostname)
        xml = libvirt_xml.render_interface(libvirt_xml.normalise_nic({'alias': alias}))
        assert '<alias name="%s" />' % alias in xml
        assert len(names.owner_alias(spec['namespace'], name, iface['name'])) <= names.MAX_ALIAS
        rules = masquerade.rules('ip', {'vm': '10.0.2.2', 'gateway': '10.0.2.1'}, [], iface['podInterfaceName'],
                                 names.bridge_name(iface['podInterfaceName']))
        assert 'iifname "%s"' % iface['podInterfaceName'] in rules


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(['kubevirt', 'virtink']), names_or_hostile, names_or_hostile,
       st.one_of(st.none(), names_or_hostile), st.one_of(st.none(), names_or_hostile), names_or_hostile,
       names_or_hostile, names_or_hostile)
def test_hostile_names_are_refused_or_render_unchanged(dialect, name, namespace, hostname, subdomain, iface, network,
                                                       nad):
    spec, errors = normalize(_named_manifest(dialect, name, namespace, hostname, subdomain, iface, network, nad),
                             {'permit_slirp_interface': True})
    assert_result_shape((spec, errors))
    if spec is not None:
        _assert_renders_unchanged(spec)
