# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every admission rule, accepted and rejected, with KubeVirt's (Virtink's) exact message and
field path. Cases marked "KubeVirt test" restate the cases of KubeVirt's own admitter tests
(pkg/network/admitter/*_test.go); the others are derived from the rules in the reference."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from spec_manifests import ONE_BINDING, IFACE, IFACE1, accepted, early, errors_of, legacy, multus, nic, pod, virtink, vm, vmi

# --- creation-only: discontinued bindings ---------------------------------------------------


@pytest.mark.parametrize(
    'binding, message',
    [
        ('slirp', 'Slirp interface support has been discontinued since v1.3'),
        ('passt', 'Passt network binding has been discontinued since v1.3'),
        ('macvtap', 'Macvtap network binding has been discontinued since v1.3'),
    ],
)
def test_discontinued_bindings_are_rejected_in_v1(binding, message):
    # Discontinued methods do not count as a binding either (KubeVirt test).
    assert errors_of(vmi([nic(binding=binding)], [pod()])) == [(IFACE + '.' + binding, message), (IFACE, ONE_BINDING)]


@pytest.mark.parametrize(
    'binding, message',
    [
        ('passt', 'Passt network binding has been discontinued since v1.3'),
        ('macvtap', 'Macvtap network binding has been discontinued since v1.3'),
    ],
)
def test_passt_and_macvtap_are_rejected_in_every_kubevirt_dialect(binding, message):
    assert errors_of(legacy([nic(binding=binding)], [pod()])) == [
        (IFACE + '.' + binding, message),
        (IFACE, ONE_BINDING),
    ]


@pytest.mark.parametrize(
    'manifest',
    [
        legacy([nic(binding='slirp')], [pod()]),
        early([nic(binding='slirp')], [pod()]),
        {'interfaces': [nic(binding='slirp')], 'networks': [pod()]},
    ],
)
def test_slirp_is_a_binding_in_the_dialects_that_document_it(manifest):
    assert accepted(manifest, permit_slirp_interface=True)['interfaces'][0]['binding'] == 'slirp'
    # KubeVirt's permitSlirpInterface is false by default (v1.0's message and field)
    assert errors_of(manifest) == [(_slirp_field(manifest), 'Slirp interface is not enabled in kubevirt-config')]


def _slirp_field(manifest):
    if 'spec' not in manifest:
        return 'interfaces[0].name'
    if 'devices' in manifest['spec']:
        return 'spec.devices.interfaces[0].name'
    return IFACE + '.name'


def test_default_slirp_interface_needs_the_switch():
    assert errors_of(early([], []), default_network_interface='slirp') == [
        ('spec.devices.interfaces', 'Slirp interface is not enabled in kubevirt-config')
    ]
    spec = accepted(early([], []), default_network_interface='slirp', permit_slirp_interface=True)
    assert spec['interfaces'][0]['binding'] == 'slirp'


@pytest.mark.parametrize(
    'manifest, field',
    [
        (legacy([nic(binding='slirp')], [multus('default')]), IFACE + '.name'),
        (early([nic(binding='slirp')], [multus('default')]), 'spec.devices.interfaces[0].name'),
    ],
)
def test_slirp_only_on_the_pod_network(manifest, field):
    assert errors_of(manifest) == [(field, 'Slirp interface only implemented with pod network')]


# --- 1. single pod network ------------------------------------------------------------------


@pytest.mark.parametrize(
    'build, root',
    [(vmi, 'spec'), (vm, 'spec.template.spec')],
)
def test_more_than_one_pod_network(build, root):
    manifest = build([nic('a'), nic('b')], [pod('a'), pod('b')])
    assert errors_of(manifest) == [
        (root + '.interfaces', 'more than one interface is connected to a pod network in %s.interfaces' % root)
    ]


def test_more_than_one_multus_default_network():
    manifest = vmi(
        [nic('a', 'bridge'), nic('b', 'bridge')], [multus('a', 'x', default=True), multus('b', 'y', default=True)]
    )
    assert errors_of(manifest) == [('spec.networks', 'Multus CNI should only have one default network')]


def test_pod_network_with_multus_default_network():
    manifest = vmi([nic('a'), nic('b', 'bridge')], [pod('a'), multus('b', default=True)])
    assert errors_of(manifest) == [
        ('spec.networks', 'Pod network cannot be defined when Multus default network is defined')
    ]


def test_multus_default_network_alone_is_the_primary_network():
    spec = accepted(vmi([nic('a', 'bridge')], [multus('a', default=True)]))
    assert (spec['networks'][0]['primary'], spec['networks'][0]['podInterfaceName']) == (True, 'eth0')


# --- 2, 3. network sources ------------------------------------------------------------------


@pytest.mark.parametrize(
    'network, errors',
    [
        ({'name': 'a'}, [('spec.networks[0]', 'should have a network type')]),
        (
            {'name': 'a', 'pod': {}, 'multus': {'networkName': 'default1'}},
            [('spec.networks[0]', 'should have only one network type')],
        ),
        (
            {'name': 'a', 'pod': {}, 'resourceClaim': {'claimName': 'c', 'requestName': 'r'}},
            [
                ('spec.networks[0]', 'should have only one network type'),
                (
                    'spec.networks',
                    'vmi.spec.networks contains DRA networks but NetworkDevicesWithDRA feature gate is not enabled',
                ),
            ],
        ),
    ],
)
def test_network_needs_exactly_one_source(network, errors):
    assert errors_of(vmi([nic('a', 'bridge')], [network])) == errors


def test_multus_network_needs_a_network_name_first_offender_only():
    manifest = vmi([nic('a', 'bridge'), nic('b', 'bridge')], [multus('a', ''), multus('b', '')])
    assert errors_of(manifest) == [('spec.networks[0]', 'CNI delegating plugin must have a networkName')]


# --- 4. interface state ---------------------------------------------------------------------


@pytest.mark.parametrize(
    'interface, network, errors',
    [
        (
            nic(state='foo'),
            pod(),
            [(IFACE + '.state', 'logical default interface state value is unsupported: foo')],
        ),
        (
            nic('sriovnet', 'sriov', state='down'),
            multus('sriovnet'),
            [(IFACE + '.state', '"sriovnet" interface\'s state "down" is not supported for SR-IOV NICs')],
        ),
        (
            nic('sriovnet', 'sriov', state='up'),
            multus('sriovnet'),
            [(IFACE + '.state', '"sriovnet" interface\'s state "up" is not supported for SR-IOV NICs')],
        ),
        (
            nic(state='absent'),
            pod(),
            [
                (IFACE + '.state', '"default" interface\'s state "absent" is supported only for bridge binding'),
                (IFACE + '.state', '"default" interface\'s state "absent" is not supported on default networks'),
            ],
        ),
        (
            nic(binding='bridge', state='absent'),
            pod(),
            [(IFACE + '.state', '"default" interface\'s state "absent" is not supported on default networks')],
        ),
    ],
)
def test_interface_state_rejected(interface, network, errors):
    assert errors_of(vmi([interface], [network])) == errors


@pytest.mark.parametrize(
    'interface, network, state',
    [
        (nic(state='down'), pod(), 'down'),
        (nic(state='up'), pod(), 'up'),
        (nic(), pod(), 'up'),
        (nic('blue', 'bridge', state='absent'), multus('blue'), 'absent'),
        (nic('sriovnet', 'sriov'), multus('sriovnet'), 'up'),
    ],
)
def test_interface_state_accepted(interface, network, state):
    assert accepted(vmi([interface], [network]))['interfaces'][0]['state'] == state


def test_state_message_quotes_names_like_go():
    manifest = vmi([{'name': 'a"b', 'sriov': {}, 'state': 'up'}], [multus('a"b')])
    assert (IFACE + '.state', '"a\\"b" interface\'s state "up" is not supported for SR-IOV NICs') in errors_of(manifest)


# --- 5. bindings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    'interface',
    [
        {'name': 'default'},
        {'name': 'default', 'bridge': {}, 'masquerade': {}},
        {'name': 'default', 'bridge': {}, 'binding': {'name': 'boo'}},
        {'name': 'default', 'masquerade': {}, 'passtBinding': {}},
    ],
)
def test_interface_needs_exactly_one_binding(interface):
    assert errors_of(vmi([interface], [pod()]), feature_gates=['PasstBinding']) == [(IFACE, ONE_BINDING)]


def test_binding_plugin_alone_is_a_binding():
    spec = accepted(vmi([{'name': 'default', 'binding': {'name': 'boo'}}], [pod()]),
                    network_binding_plugins={'boo': {'domainAttachmentType': 'managedTap'}})
    assert (spec['interfaces'][0]['binding'], spec['interfaces'][0]['bindingPlugin']) == ('plugin', 'boo')


def test_masquerade_only_on_pod_network():
    # KubeVirt test: ports are not checked on a non-pod network.
    manifest = vmi([nic(ports=[{'name': 'test'}])], [multus('default', 'test')])
    assert errors_of(manifest) == [(IFACE + '.name', 'Masquerade interface only implemented with pod network')]


@pytest.mark.parametrize('mac', ['02:00:00:00:00:00', '02-00-00-00-00-00', '0200.0000.0000'])
def test_masquerade_reserved_mac(mac):
    manifest = vmi([nic(macAddress=mac)], [pod()])
    assert errors_of(manifest) == [
        (
            IFACE + '.macAddress',
            'The requested MAC address is reserved for the in-pod bridge. Please choose another one.',
        )
    ]


def test_reserved_mac_is_only_reserved_for_masquerade():
    assert accepted(vmi([nic('default', 'bridge', macAddress='02:00:00:00:00:00')], [pod()]))


def test_bridge_on_pod_network_when_not_permitted():
    manifest = vmi([nic(binding='bridge')], [pod()])
    assert errors_of(manifest, permit_bridge_interface_on_pod_network=False) == [
        (IFACE + '.name', 'Bridge on pod network configuration is not enabled under kubevirt-config')
    ]
    assert accepted(manifest, permit_bridge_interface_on_pod_network=True)


def test_bridge_on_secondary_network_when_bridge_on_pod_not_permitted():
    assert accepted(vmi([nic('blue', 'bridge')], [multus('blue')]), permit_bridge_interface_on_pod_network=False)


@pytest.mark.parametrize(
    'network, gates, errors',
    [
        (pod(), [], [(IFACE + '.name', 'PasstBinding feature gate is not enabled')]),
        (
            multus('default', 'test'),
            ['PasstBinding'],
            [(IFACE + '.name', 'PasstBinding interface only implemented with pod network')],
        ),
        (
            multus('default', 'test'),
            [],
            [
                (IFACE + '.name', 'PasstBinding feature gate is not enabled'),
                (IFACE + '.name', 'PasstBinding interface only implemented with pod network'),
            ],
        ),
    ],
)
def test_passt_binding_rejected(network, gates, errors):
    assert errors_of(vmi([nic(binding='passtBinding')], [network]), feature_gates=gates) == errors


def test_passt_binding_accepted_on_pod_network_with_gate():
    spec = accepted(vmi([nic(binding='passtBinding')], [pod()]), feature_gates=['PasstBinding'])
    assert spec['interfaces'][0]['binding'] == 'passt'


# --- 6, 7. network names, DRA ---------------------------------------------------------------


def test_duplicate_network_names():
    # KubeVirt test.
    manifest = vmi([nic(binding='bridge')], [pod(), multus('default', 'test')])
    assert errors_of(manifest) == [
        ('spec.networks[1].name', 'Network with name "default" already exists, every network must have a unique name')
    ]


def test_dra_network_needs_feature_gate():
    manifest = vmi([nic('a', 'sriov')], [{'name': 'a', 'resourceClaim': {'claimName': 'c', 'requestName': 'r'}}])
    assert errors_of(manifest) == [
        (
            'spec.networks',
            'vmi.spec.networks contains DRA networks but NetworkDevicesWithDRA feature gate is not enabled',
        )
    ]
    assert errors_of(manifest, feature_gates=['NetworkDevicesWithDRA']) == [
        ('spec.networks[0].resourceClaim', 'DRA (resourceClaim) networks are not supported by vmnet.networks')
    ]


# --- 8, 9, 10. interfaces and networks pair up ---------------------------------------------


def test_network_without_interface():
    # KubeVirt test.
    assert errors_of(vmi([], [pod('not-the-default')])) == [
        ('spec.networks[0].name', "spec.networks[0].name 'not-the-default' not found.")
    ]


def test_duplicate_interface_names():
    # KubeVirt test.
    manifest = vmi([nic(binding='bridge'), nic(binding='bridge')], [pod(), multus('default', 'test')])
    assert errors_of(manifest) == [
        ('spec.networks[1].name', 'Network with name "default" already exists, every network must have a unique name'),
        (IFACE1 + '.name', 'Only one interface can be connected to one specific network'),
    ]


@pytest.mark.parametrize('build, path', [(vmi, IFACE), (vm, 'spec.template.spec.domain.devices.interfaces[0]')])
def test_interface_without_network(build, path):
    # KubeVirt test.
    assert errors_of(build([nic(binding='bridge')], [])) == [(path + '.name', "%s.name 'default' not found." % path)]


# --- 11. interface fields -------------------------------------------------------------------

NAME_FORMAT = 'Network interface name can only contain alphabetical characters, numbers, dashes (-) or underscores (_)'


@pytest.mark.parametrize('name', ['bad.name', 'bad name', 'bad/name'])
def test_interface_name_format(name):
    assert errors_of(vmi([nic(name)], [pod(name)])) == [(IFACE + '.name', NAME_FORMAT)]


@pytest.mark.parametrize('name', ['default', 'Red_1', 'a-b'])
def test_interface_name_format_accepted(name):
    assert accepted(vmi([nic(name)], [pod(name)]))


def test_interface_model_not_supported():
    # KubeVirt test.
    assert errors_of(vmi([nic(model='invalid_model')], [pod()])) == [
        (IFACE + '.model', 'interface %s.name uses model invalid_model that is not supported.' % IFACE)
    ]


@pytest.mark.parametrize('model', ['e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139', 'virtio'])
def test_interface_model_accepted(model):
    assert accepted(vmi([nic(model=model)], [pod()]))['interfaces'][0]['model'] == model


@pytest.mark.parametrize(
    'mac, message',
    [
        ('de:ad:00:00:be', 'interface %s.name has malformed MAC address (de:ad:00:00:be).' % IFACE),
        ('de-ad-00-00-be', 'interface %s.name has malformed MAC address (de-ad-00-00-be).' % IFACE),
        ('de:ad-00:00:be:af', 'interface %s.name has malformed MAC address (de:ad-00:00:be:af).' % IFACE),
        ('de:ad:00:00:be:zz', 'interface %s.name has malformed MAC address (de:ad:00:00:be:zz).' % IFACE),
        ('de:ad:00:00:be:af\n', 'interface %s.name has malformed MAC address (de:ad:00:00:be:af\n).' % IFACE),
        ('de:ad:00:00:be:af:be:af', 'interface %s.name has too long MAC address (de:ad:00:00:be:af:be:af).' % IFACE),
        ('dead.0000.beaf.0000', 'interface %s.name has too long MAC address (dead.0000.beaf.0000).' % IFACE),
    ],
)
def test_mac_address_rejected(mac, message):
    # KubeVirt test, plus Go net.ParseMAC's other forms.
    assert errors_of(vmi([nic(macAddress=mac)], [pod()])) == [(IFACE + '.macAddress', message)]


@pytest.mark.parametrize(
    'mac', ['de:ad:00:00:be:af', 'DE:AD:00:00:BE:AF', 'de-ad-00-00-be-af', 'DE-AD-00-00-BE-AF', 'dead.0000.beaf']
)
def test_mac_address_accepted(mac):
    assert accepted(vmi([nic(macAddress=mac)], [pod()]))['interfaces'][0]['macAddress'] == 'de:ad:00:00:be:af'


@pytest.mark.parametrize('address', ['0000:80.10.1', '0000:80:80:1.0', '0000:80:11.15', '0000:81:01.10', '81:00.1'])
def test_pci_address_rejected(address):
    # KubeVirt test (the API doc's own example 0000:81:01.10 is malformed).
    assert errors_of(vmi([nic(pciAddress=address)], [pod()])) == [
        (IFACE + '.pciAddress', 'interface %s.name has malformed PCI address (%s).' % (IFACE, address))
    ]


@pytest.mark.parametrize('address', ['0000:81:11.1', '0001:02:00.0', 'ABCD:ef:1F.7'])
def test_pci_address_accepted(address):
    assert accepted(vmi([nic(pciAddress=address)], [pod()]))['interfaces'][0]['pciAddress'] == address


PORT0 = IFACE + '.ports[0]'


@pytest.mark.parametrize(
    'ports, errors',
    [
        ([{'name': 'test'}], [(PORT0 + '.port', 'Port field is mandatory.')]),
        ([{'protocol': 'bad', 'port': 80}], [(PORT0 + '.protocol', 'Unknown protocol, only TCP or UDP allowed')]),
        ([{'protocol': 'tcp', 'port': 80}], [(PORT0 + '.protocol', 'Unknown protocol, only TCP or UDP allowed')]),
        ([{'port': 80000}], [(PORT0 + '.port', 'Port field must be in range 0 < x < 65536.')]),
        ([{'port': 65536}], [(PORT0 + '.port', 'Port field must be in range 0 < x < 65536.')]),
        ([{'port': -1}], [(PORT0 + '.port', 'Port field must be in range 0 < x < 65536.')]),
        (
            [{'name': 'testport', 'port': 80}, {'name': 'testport', 'protocol': 'UDP', 'port': 80}],
            [(IFACE + '.ports[1].name', 'Duplicate name of the port: testport')],
        ),
        ([{'name': 'Test', 'port': 80}], [(PORT0 + '.name', 'Invalid name of the port: Test')]),
        ([{'name': '-web', 'port': 80}], [(PORT0 + '.name', 'Invalid name of the port: -web')]),
        ([{'name': 'web-', 'port': 80}], [(PORT0 + '.name', 'Invalid name of the port: web-')]),
        ([{'name': 'we--b', 'port': 80}], [(PORT0 + '.name', 'Invalid name of the port: we--b')]),
        ([{'name': '8080', 'port': 80}], [(PORT0 + '.name', 'Invalid name of the port: 8080')]),
        ([{'name': 'a' * 16, 'port': 80}], [(PORT0 + '.name', 'Invalid name of the port: ' + 'a' * 16)]),
        (
            [{'name': 'Bad', 'protocol': 'SCTP'}],
            [
                (PORT0 + '.name', 'Invalid name of the port: Bad'),
                (PORT0 + '.port', 'Port field is mandatory.'),
                (PORT0 + '.protocol', 'Unknown protocol, only TCP or UDP allowed'),
            ],
        ),
    ],
)
def test_ports_rejected(ports, errors):
    # KubeVirt test, and the IANA_SVC_NAME rules of port names.
    assert errors_of(vmi([nic(ports=ports)], [pod()])) == errors


@pytest.mark.parametrize(
    'ports',
    [
        [{'port': 80}],
        [{'port': 80}, {'protocol': 'UDP', 'port': 80}],
        [{'port': 80}, {'protocol': 'UDP', 'port': 80}, {'protocol': 'TCP', 'port': 80}],
        [{'name': 'http-alt', 'port': 65535}, {'name': 'a' * 15, 'port': 1}],
    ],
)
def test_ports_accepted(ports):
    # KubeVirt test.
    assert accepted(vmi([nic(ports=ports)], [pod()]))


def test_ports_are_not_checked_off_the_pod_network():
    assert accepted(vmi([nic('blue', 'bridge', ports=[{'port': 0, 'protocol': 'SCTP'}])], [multus('blue')]))


RANGES = IFACE + '.portRanges'
GATES = ['PortRangesSpec']


@pytest.mark.parametrize(
    'interface, gates, errors',
    [
        (
            nic(portRanges=[{'start': 80, 'end': 90}]),
            [],
            [
                (
                    IFACE + '.name',
                    'portRanges is specified on interface but the PortRangesSpec feature gate is not enabled',
                )
            ],
        ),
        (
            nic(binding='bridge', portRanges=[{'protocol': 'TCP', 'start': 80, 'end': 90}]),
            GATES,
            [(IFACE + '.name', 'portRanges are only supported on masquerade interfaces')],
        ),
        (
            nic(ports=[{'port': 22}], portRanges=[{'protocol': 'TCP', 'start': 80, 'end': 90}]),
            GATES,
            [(IFACE + '.name', 'Cannot define both ports and portRanges on interface')],
        ),
        (
            nic(portRanges=[{'protocol': 'SCTP', 'start': 80, 'end': 90}]),
            GATES,
            [(RANGES + '[0].protocol', 'Unknown protocol, only TCP or UDP allowed')],
        ),
        (
            nic(portRanges=[{'protocol': 'TCP', 'start': 0, 'end': 100}]),
            GATES,
            [(RANGES + '[0].start', 'Start must be a valid port number, 0 < x < 65536')],
        ),
        (
            nic(portRanges=[{'protocol': 'TCP', 'start': 80, 'end': 70000}]),
            GATES,
            [(RANGES + '[0].end', 'End must be a valid port number, 0 < x < 65536')],
        ),
        (
            nic(portRanges=[{'protocol': 'UDP', 'start': 80, 'end': 0}]),
            GATES,
            [(RANGES + '[0].end', 'End must be a valid port number, 0 < x < 65536')],
        ),
        (
            nic(portRanges=[{'protocol': 'TCP', 'start': 100, 'end': 80}]),
            GATES,
            [(RANGES + '[0].start', 'Start must be less than or equal to end')],
        ),
        (
            nic(
                portRanges=[{'protocol': 'TCP', 'start': 80, 'end': 200}, {'protocol': 'TCP', 'start': 150, 'end': 300}]
            ),
            GATES,
            [(RANGES, 'TCP portRanges [80-200] and [150-300] overlap')],
        ),
        (
            nic(portRanges=[{'start': 80, 'end': 200}, {'protocol': 'TCP', 'start': 200, 'end': 300}]),
            GATES,
            [(RANGES, 'TCP portRanges [80-200] and [200-300] overlap')],
        ),
        (
            # One error per range: the first that fails.
            nic(portRanges=[{'protocol': 'SCTP', 'start': 0, 'end': 70000}]),
            GATES,
            [(RANGES + '[0].protocol', 'Unknown protocol, only TCP or UDP allowed')],
        ),
        (
            nic(portRanges=[{'start': 1000 + 10 * i, 'end': 1005 + 10 * i} for i in range(11)]),
            GATES,
            [(RANGES, 'No more than 10 portRanges are allowed')],
        ),
    ],
)
def test_port_ranges_rejected(interface, gates, errors):
    # KubeVirt test (VEP 168), plus the 10-range limit and the TCP default of the protocol.
    assert errors_of(vmi([interface], [pod()]), feature_gates=gates) == errors


@pytest.mark.parametrize(
    'port_ranges',
    [
        [{'protocol': 'TCP', 'start': 80, 'end': 90}],
        [{'protocol': 'TCP', 'start': 22, 'end': 22}],
        [{'protocol': 'TCP', 'start': 80, 'end': 100}, {'protocol': 'TCP', 'start': 200, 'end': 300}],
        [{'protocol': 'TCP', 'start': 80, 'end': 200}, {'protocol': 'UDP', 'start': 150, 'end': 300}],
        [{'start': 1000 + 10 * i, 'end': 1005 + 10 * i} for i in range(10)],
    ],
)
def test_port_ranges_accepted(port_ranges):
    # KubeVirt test.
    assert accepted(vmi([nic(portRanges=port_ranges)], [pod()]), feature_gates=GATES)


@pytest.mark.parametrize(
    'build, root',
    [(vmi, 'spec'), (vm, 'spec.template.spec')],
)
@pytest.mark.parametrize(
    'dhcp, errors',
    [
        (
            {'privateOptions': [{'option': 223, 'value': 'extra.options.kubevirt.io'}]},
            [('<root>', 'provided DHCPPrivateOptions are out of range, must be in range 224 to 254')],
        ),
        (
            {'privateOptions': [{'option': 255, 'value': 'a'}, {'option': 10, 'value': 'b'}]},
            [
                ('<root>', 'provided DHCPPrivateOptions are out of range, must be in range 224 to 254'),
                ('<root>', 'provided DHCPPrivateOptions are out of range, must be in range 224 to 254'),
            ],
        ),
        (
            {'privateOptions': [{'option': 240, 'value': 'a'}, {'option': 240, 'value': 'b'}]},
            [('<root>', 'Found Duplicates: you have provided duplicate DHCPPrivateOptions')],
        ),
        (
            {'ntpServers': ['::1', 'hostname']},
            [
                ('<iface>.dhcpOptions.ntpServers[0]', 'NTP servers must be a list of valid IPv4 addresses.'),
                ('<iface>.dhcpOptions.ntpServers[1]', 'NTP servers must be a list of valid IPv4 addresses.'),
            ],
        ),
    ],
)
def test_dhcp_options_rejected(build, root, dhcp, errors):
    # KubeVirt test: private option errors name the spec root itself.
    path = root + '.domain.devices.interfaces[0]'
    expected = [(field.replace('<root>', root).replace('<iface>', path), message) for field, message in errors]
    assert errors_of(build([nic(dhcpOptions=dhcp)], [pod()])) == expected


@pytest.mark.parametrize(
    'dhcp',
    [
        {'privateOptions': [{'option': 240, 'value': 'extra.options.kubevirt.io'}]},
        {'privateOptions': [{'option': 224, 'value': 'a'}, {'option': 254, 'value': 'b'}]},
        {'ntpServers': ['127.0.0.1', '127.0.0.2', '::ffff:10.0.0.1']},
        {'bootFileName': 'pxelinux.0', 'tftpServerName': 'tftp.example'},
    ],
)
def test_dhcp_options_accepted(dhcp):
    # KubeVirt test; an IPv4-mapped IPv6 address is IPv4 to Go's To4().
    assert accepted(vmi([nic(dhcpOptions=dhcp)], [pod()]))


# --- 12. generic spec checks ---------------------------------------------------------------


@pytest.mark.parametrize('build, root', [(vmi, 'spec'), (vm, 'spec.template.spec')])
def test_boot_order_must_be_positive(build, root):
    # KubeVirt names the spec root here, not the interface.
    assert errors_of(build([nic(bootOrder=0)], [pod()])) == [
        (root + '[0].bootOrder', root + '[0] must have a boot order > 0, if supplied')
    ]


def test_boot_order_shared_with_a_disk():
    manifest = vmi([nic(bootOrder=1)], [pod()], devices={'disks': [{'name': 'root', 'bootOrder': 1}]})
    assert errors_of(manifest) == [
        (IFACE + '.bootOrder', 'Boot order for %s.bootOrder already set for a different device.' % IFACE)
    ]


def test_boot_order_shared_between_interfaces():
    manifest = vmi([nic(bootOrder=2), nic('blue', 'bridge', bootOrder=2)], [pod(), multus('blue')])
    assert errors_of(manifest) == [
        (IFACE1 + '.bootOrder', 'Boot order for %s.bootOrder already set for a different device.' % IFACE1)
    ]


def test_boot_orders_accepted():
    manifest = vmi(
        [nic(bootOrder=2), nic('blue', 'bridge', bootOrder=3)],
        [pod(), multus('blue')],
        devices={'disks': [{'name': 'root', 'bootOrder': 1}, {'name': 'odd', 'bootOrder': 'x'}]},
    )
    assert [i['bootOrder'] for i in accepted(manifest)['interfaces']] == [2, 3]


def test_network_probes_need_the_pod_network():
    # KubeVirt test.
    manifest = vmi(
        [],
        [],
        devices={'autoattachPodInterface': False},
        readinessProbe={'tcpSocket': {'port': 80}},
        livenessProbe={'httpGet': {'port': 80}},
    )
    assert errors_of(manifest) == [
        (
            'spec.readinessProbe.tcpSocket',
            'spec.readinessProbe.tcpSocket is only allowed if the Pod Network is attached',
        ),
        ('spec.livenessProbe.httpGet', 'spec.livenessProbe.httpGet is only allowed if the Pod Network is attached'),
    ]


def test_multus_default_network_is_not_the_pod_network_for_probes():
    manifest = vmi([nic('a', 'bridge')], [multus('a', default=True)], readinessProbe={'httpGet': {'port': 80}})
    assert errors_of(manifest) == [
        ('spec.readinessProbe.httpGet', 'spec.readinessProbe.httpGet is only allowed if the Pod Network is attached')
    ]


def test_probes_accepted_with_pod_network():
    assert accepted(vmi([nic()], [pod()], readinessProbe={'tcpSocket': {'port': 80}}, livenessProbe={'exec': {}}))
    assert accepted(
        vmi([], [], devices={'autoattachPodInterface': False}, livenessProbe={'exec': {'command': ['true']}})
    )


# --- defaulting (mutating webhook) ----------------------------------------------------------


def test_default_bridge_interface_not_permitted():
    assert errors_of(vmi([], []), permit_bridge_interface_on_pod_network=False) == [
        ('spec.domain.devices.interfaces', 'bridge interface is not enabled in kubevirt-config')
    ]


def test_default_slirp_interface_is_deprecated_in_v1():
    assert errors_of(vm([], []), default_network_interface='slirp') == [
        ('spec.template.spec.domain.devices.interfaces', 'slirp interface is deprecated as of v1.3')
    ]


def test_default_masquerade_interface_ignores_the_bridge_setting():
    spec = accepted(vmi([], []), default_network_interface='masquerade', permit_bridge_interface_on_pod_network=False)
    assert spec['interfaces'][0]['binding'] == 'masquerade'


# --- vmnet: checks KubeVirt leaves to network setup ----------------------------------------


@pytest.mark.parametrize(
    'settings, field, message',
    [
        ({'vmNetworkCIDR': 'not-a-cidr'}, 'vmNetworkCIDR', 'invalid CIDR address: not-a-cidr'),
        ({'vmNetworkCIDR': '10.0.2.0'}, 'vmNetworkCIDR', 'invalid CIDR address: 10.0.2.0'),
        ({'vmNetworkCIDR': '10.0.2.0/255.255.255.0'}, 'vmNetworkCIDR', 'invalid CIDR address: 10.0.2.0/255.255.255.0'),
        ({'vmNetworkCIDR': '10.0.2.0/33'}, 'vmNetworkCIDR', 'invalid CIDR address: 10.0.2.0/33'),
        (
            {'vmNetworkCIDR': '10.0.2.0/31'},
            'vmNetworkCIDR',
            'VM CIDR subnet is too small, at least 2 host addresses are required',
        ),
        (
            {'vmNetworkCIDR': '10.0.2.1/32'},
            'vmNetworkCIDR',
            'VM CIDR subnet is too small, at least 2 host addresses are required',
        ),
        ({'vmNetworkCIDR': 'fd00::/64'}, 'vmNetworkCIDR', 'must be an IPv4 CIDR'),
        (
            {'vmIPv6NetworkCIDR': 'fd10:0:2::/127'},
            'vmIPv6NetworkCIDR',
            'VM CIDR subnet is too small, at least 2 host addresses are required',
        ),
        ({'vmIPv6NetworkCIDR': '10.0.0.0/24'}, 'vmIPv6NetworkCIDR', 'must be an IPv6 CIDR'),
        ({'vmIPv6NetworkCIDR': 'fe80::1%eth0/64'}, 'vmIPv6NetworkCIDR', 'invalid CIDR address: fe80::1%eth0/64'),
    ],
)
def test_vm_network_cidr_rejected(settings, field, message):
    assert errors_of(vmi([nic()], [pod(**settings)])) == [('spec.networks[0].pod.' + field, message)]


@pytest.mark.parametrize(
    'settings, ipv4, ipv6',
    [
        ({'vmNetworkCIDR': '10.0.2.0/30'}, '10.0.2.0/30', 'fd10:0:2::/120'),
        ({'vmNetworkCIDR': '10.0.2.1/24'}, '10.0.2.1/24', 'fd10:0:2::/120'),
        ({'vmIPv6NetworkCIDR': 'fd10:0:2::/126'}, '10.0.2.0/24', 'fd10:0:2::/126'),
    ],
)
def test_vm_network_cidr_accepted(settings, ipv4, ipv6):
    iface = accepted(vmi([nic()], [pod(**settings)]))['interfaces'][0]
    assert (iface['vmNetworkCIDR'], iface['vmIPv6NetworkCIDR']) == (ipv4, ipv6)


def test_duplicate_mac_addresses():
    manifest = vmi(
        [nic(macAddress='02:00:00:00:00:01'), nic('blue', 'bridge', macAddress='02-00-00-00-00-01')],
        [pod(), multus('blue')],
    )
    assert errors_of(manifest) == [
        (
            IFACE1 + '.macAddress',
            'interface %s.name has MAC address (02-00-00-00-00-01) that is already used by interface %s.name.'
            % (IFACE1, IFACE),
        )
    ]


def test_every_error_at_once():
    manifest = vm(
        [
            {'name': 'default', 'masquerade': {}, 'model': 'virtio-net', 'macAddress': 'de:ad'},
            {'name': 'blue', 'bridge': {}, 'state': 'gone'},
            {'name': 'red', 'slirp': {}},
        ],
        [pod(vmNetworkCIDR='10.0.2.0/31'), multus('blue', '')],
    )
    root = 'spec.template.spec.domain.devices.interfaces'
    assert errors_of(manifest) == [
        (root + '[2].slirp', 'Slirp interface support has been discontinued since v1.3'),
        ('spec.template.spec.networks[1]', 'CNI delegating plugin must have a networkName'),
        (root + '[1].state', 'logical blue interface state value is unsupported: gone'),
        (root + '[2]', 'logical red interface must have exactly one binding method or binding plugin'),
        (root + '[2].name', "%s[2].name 'red' not found." % root),
        (root + '[0].model', 'interface %s[0].name uses model virtio-net that is not supported.' % root),
        (root + '[0].macAddress', 'interface %s[0].name has malformed MAC address (de:ad).' % root),
        (
            'spec.template.spec.networks[0].pod.vmNetworkCIDR',
            'VM CIDR subnet is too small, at least 2 host addresses are required',
        ),
    ]


# --- Virtink --------------------------------------------------------------------------------

VIFACE = 'spec.instance.interfaces[0]'


@pytest.mark.parametrize(
    'interfaces, networks, errors',
    [
        (
            [nic('pod', 'bridge'), nic('pod')],
            [pod('pod')],
            [('spec.instance.interfaces[1].name', 'Duplicate value: "pod"')],
        ),
        (
            [nic('', 'bridge')],
            [pod('')],
            [(VIFACE + '.name', 'Required value'), ('spec.networks[0].name', 'Required value')],
        ),
        (
            [nic('pod', 'bridge', mac='zz:zz')],
            [pod('pod')],
            [(VIFACE + '.mac', 'Invalid value: "zz:zz": address zz:zz: invalid MAC address')],
        ),
        (
            [{'name': 'pod', 'bridge': {}, 'masquerade': {}, 'sriov': {}}],
            [pod('pod')],
            [
                (VIFACE + '.masquerade', 'Forbidden: may not specify more than 1 binding method'),
                (VIFACE + '.sriov', 'Forbidden: may not specify more than 1 binding method'),
            ],
        ),
        (
            [{'name': 'pod', 'masquerade': {'cidr': '10.0.2.0/31'}}],
            [pod('pod')],
            [(VIFACE + '.masquerade.cidr', 'Invalid value: "10.0.2.0/31": must contain at least 4 IPs')],
        ),
        (
            [{'name': 'pod', 'masquerade': {'cidr': 'ten'}}],
            [pod('pod')],
            [
                (VIFACE + '.masquerade.cidr', 'Invalid value: "ten": invalid CIDR address: ten'),
                (VIFACE + '.masquerade.cidr', 'Invalid value: "ten": must specify subnet'),
            ],
        ),
        (
            [{'name': 'pod', 'masquerade': {'ipv4CIDR': '10.0.2.0/24', 'ipv6CIDR': 'fd00::/127'}}],
            [pod('pod')],
            [(VIFACE + '.masquerade.ipv6CIDR', 'Invalid value: "fd00::/127": must contain at least 4 IPs')],
        ),
        (
            [{'name': 'pod', 'masquerade': {'cidr': 'fd00::/64'}}],
            [pod('pod')],
            [(VIFACE + '.masquerade.cidr', 'must be an IPv4 CIDR')],
        ),
        (
            [nic('pod', 'bridge')],
            [pod('pod'), pod('pod')],
            [('spec.networks[1].name', 'Duplicate value: "pod"')],
        ),
        (
            [nic('pod', 'bridge')],
            [{'name': 'pod'}],
            [('spec.networks[0]', 'Required value: at least 1 network source is required')],
        ),
        (
            [nic('pod', 'bridge')],
            [{'name': 'pod', 'pod': {}, 'multus': {'networkName': 'x'}}],
            [('spec.networks[0].multus', 'Forbidden: may not specify more than 1 network source')],
        ),
        (
            [nic('ovs', 'bridge')],
            [multus('ovs', '')],
            [('spec.networks[0].multus.networkName', 'Required value')],
        ),
    ],
)
def test_virtink_webhook_rules(interfaces, networks, errors):
    # Virtink's ValidateVMSpec; messages are the body of its field errors.
    assert errors_of(virtink(interfaces, networks)) == errors


@pytest.mark.parametrize(
    'interfaces, networks, errors',
    [
        ([nic('pod', 'bridge')], [], [(VIFACE + '.name', "%s.name 'pod' not found." % VIFACE)]),
        ([nic('ovs')], [multus('ovs')], [(VIFACE + '.name', 'Masquerade interface only implemented with pod network')]),
        (
            [nic('pod', 'bridge', mac='52:54:00:00:00:01:02:03')],
            [pod('pod')],
            [(VIFACE + '.mac', 'interface %s.name has too long MAC address (52:54:00:00:00:01:02:03).' % VIFACE)],
        ),
        (
            [nic('pod', 'vhostUser')],
            [pod('pod')],
            [(VIFACE + '.vhostUser', 'vhostUser binding is not supported by vmnet.networks')],
        ),
        (
            [nic('pod', 'bridge', mac='52:54:00:00:00:01'), nic('ovs', 'bridge', mac='52:54:00:00:00:01')],
            [pod('pod'), multus('ovs')],
            [
                (
                    'spec.instance.interfaces[1].mac',
                    'interface spec.instance.interfaces[1].name has MAC address (52:54:00:00:00:01) '
                    'that is already used by interface %s.name.' % VIFACE,
                )
            ],
        ),
    ],
)
def test_virtink_rules_the_webhook_leaves_to_the_controller(interfaces, networks, errors):
    assert errors_of(virtink(interfaces, networks)) == errors


def test_virtink_has_no_kubevirt_rules():
    # Ports are not KubeVirt-checked, and a network needs no interface.
    spec = accepted(virtink([nic('Pod_1', 'bridge')], [pod('Pod_1'), multus('spare')]))
    assert [i['name'] for i in spec['interfaces']] == ['Pod_1']
    assert [n['podInterfaceName'] for n in spec['networks']] == ['eth0', 'net1']
