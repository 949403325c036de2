# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every dialect, every YAML example of the five documentation editions (seeds 000-004),
parsed into the exact model; re-normalising a model gives it back unchanged."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json

import pytest
import yaml

from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize
from ansible_collections.vmnet.networks.plugins.module_utils.spec.dialects import UNKNOWN_MANIFEST, detect


def hashed(network_name):
    """KubeVirt's hashed pod interface name, computed here independently of names.py."""
    return 'pod' + hashlib.sha256(network_name.encode()).hexdigest()[:11]


def iface(name, binding, index=0, pod_iface='eth0', primary=True, **fields):
    model = {
        'name': name,
        'index': index,
        'binding': binding,
        'bindingMethod': {'passt': 'passtBinding', 'plugin': 'binding'}.get(binding, binding),
        'bindingPlugin': None,
        'model': 'virtio',
        'macAddress': None,
        'ports': [],
        'portRanges': [],
        'pciAddress': None,
        'bootOrder': None,
        'acpiIndex': None,
        'tag': None,
        'state': 'up',
        'dhcpOptions': None,
        'vmNetworkCIDR': None,
        'vmIPv6NetworkCIDR': None,
        'network': name,
        'podInterfaceName': pod_iface,
        'primary': primary,
    }
    model.update(fields)
    return model


def masquerade(name, index=0, ipv4='10.0.2.0/24', ipv6='fd10:0:2::/120', **fields):
    return iface(name, 'masquerade', index, vmNetworkCIDR=ipv4, vmIPv6NetworkCIDR=ipv6, **fields)


def pod_network(name, index=0, ipv4=None, ipv6=None):
    return {
        'name': name,
        'index': index,
        'source': 'pod',
        'pod': {'vmNetworkCIDR': ipv4, 'vmIPv6NetworkCIDR': ipv6},
        'multus': None,
        'primary': True,
        'podInterfaceName': 'eth0',
    }


def multus_network(name, nad, index, pod_iface, namespace='default', default=False):
    return {
        'name': name,
        'index': index,
        'source': 'multus',
        'pod': None,
        'multus': {'networkName': nad, 'namespace': namespace, 'default': default},
        'primary': default,
        'podInterfaceName': pod_iface,
    }


def model(dialect, root, interfaces, networks, name=None, **fields):
    spec = {
        'specVersion': 'vmnet.networks/v1',
        'dialect': dialect,
        'root': root,
        'name': name,
        'namespace': 'default',
        'hostname': name,
        'subdomain': None,
        'vcpus': 1,
        'networkInterfaceMultiqueue': False,
        'autoattachPodInterface': True,
        'interfaces': interfaces,
        'networks': networks,
        'networkBindingPlugins': {},
    }
    spec.update(fields)
    return spec


def normalized(text, **options):
    # the seeds' slirp examples are admitted with KubeVirt's permitSlirpInterface on
    options.setdefault('permit_slirp_interface', True)
    spec, errors = normalize(yaml.safe_load(text), options)
    assert errors == []
    return spec


V1_VM = ('kubevirt-v1-vm', 'spec.template.spec')
V1_VMI = ('kubevirt-v1-vmi', 'spec')
LEGACY_VMI = ('kubevirt-legacy', 'spec')
EARLY = ('kubevirt-early', 'spec')
VIRTINK = ('virtink', 'spec')

# --- seeds 000 and 001 (early KubeVirt) ---------------------------------------------------

SEED_000_RED = '''
kind: VM
spec:
  devices:
    interfaces:
      - name: red
        bridge: ## Define how the interface is connected to a network
          delegateIp: true # offers the ip in case that the source has an ip
  networks:
  - name: red
    pod: {} # Stock pod network
'''

SEED_000_SLIRP = '''
apiVersion: kubevirt.io/v1alpha2
kind: VirtualMachineInstance
metadata:
  creationTimestamp: null
  labels:
    special: vmi-slirp
  name: vmi-slirp
spec:
  domain:
    devices:
      disks:
      - disk:
          bus: virtio
        name: registrydisk
        volumeName: registryvolume
      - disk:
          bus: virtio
        name: cloudinitdisk
        volumeName: cloudinitvolume
      interfaces:
      - name: testSlirp
        slirp: {}
        ports:
        - name: http
          port: 80
          protocol: TCP
    machine:
      type: ""
    resources:
      requests:
        memory: 1024M
  networks:
  - name: testSlirp
    pod: {}
  terminationGracePeriodSeconds: 0
  volumes:
  - name: registryvolume
    registryDisk:
      image: registry:5000/kubevirt/fedora-cloud-registry-disk-demo:devel
  - cloudInitNoCloud:
      userData: |-
        #!/bin/bash
        echo "fedora" |passwd fedora --stdin
        yum install -y nginx
        systemctl enable nginx
        systemctl start nginx
    name: cloudinitvolume
status: {}
'''

# --- seed 002 (KubeVirt, spec.domain.devices, no apiVersion) ------------------------------

SEED_002_MAC = '''
kind: VM
spec:
  domain:
    devices:
      interfaces:
        - name: red
          macAddress: de:ad:00:00:be:af
          model: e1000
          bridge: {}
  networks:
  - name: red
    pod: {} # Stock pod network
'''

SEED_002_PORTS = '''
kind: VM
spec:
  domain:
    devices:
      interfaces:
        - name: red
          model: e1000 # expose e1000 NIC to the guest
          bridge: {} # connect through a bridge
          ports:
           - name: http
             port: 80
  networks:
  - name: red
    pod: {}
'''

SEED_002_NO_AUTOATTACH = '''
kind: VM
spec:
  domain:
    devices:
      autoattachPodInterface: false
'''

SEED_002_BRIDGE = '''
kind: VM
spec:
  domain:
    devices:
      interfaces:
        - name: red
          bridge: {} # connect through a bridge
  networks:
  - name: red
    pod: {}
'''

SEED_002_SLIRP = '''
kind: VM
spec:
  domain:
    devices:
      interfaces:
        - name: red
          slirp: {} # connect using SLIRP mode
  networks:
  - name: red
    pod: {}
'''

# --- seed 003 (KubeVirt v1) ----------------------------------------------------------------

SEED_003_POD = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: default
              masquerade: {}
      networks:
      - name: default
        pod: {} # Stock pod network
'''

SEED_003_MULTUS = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
       domain:
         devices:
           interfaces:
           - name: default
             masquerade: {}
           - name: bridge-net
             bridge: {}
       networks:
       - name: default
         pod: {} # Stock pod network
       - name: bridge-net
         multus: # Secondary multus network
           networkName: linux-bridge-net-ipam #ref to NAD name
'''

SEED_003_MULTUS_DEFAULT = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: test1
              bridge: {}
      networks:
      - name: test1
        multus: # Multus network as default
          default: true
          networkName: bridge-test
'''

SEED_003_PORTS = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: default
              model: e1000 # expose e1000 NIC to the guest
              masquerade: {} # connect through a masquerade
              ports:
               - name: http
                 port: 80 # forward only http traffic
      networks:
      - name: default
        pod: {}
'''

SEED_003_NO_AUTOATTACH = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          autoattachPodInterface: false
'''

SEED_003_BRIDGE = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: red
              bridge: {} # connect through a bridge
      networks:
      - name: red
        multus:
          networkName: red
'''

SEED_003_MASQUERADE = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: red
              masquerade: {} # connect using masquerade mode
              ports:
                - port: 80 # forward traffic on port 80 to the virtual machine guest
      networks:
      - name: red
        pod: {}
'''

SEED_003_DUAL_STACK = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: red
              masquerade: {} # connect using masquerade mode
              ports:
                - port: 80 # allow incoming traffic on port 80 to get into the virtual machine
      networks:
      - name: red
        pod: {}
'''

SEED_003_SRIOV = '''
---
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
          - name: default
            masquerade: {}
          - name: sriov-net
            sriov: {}
      networks:
      - name: default
        pod: {}
      - multus:
          networkName: default/sriov-net
        name: sriov-net
'''

SEED_003_LINK_DOWN = '''
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: my-vm
spec:
  template:
    spec:
      domain:
        devices:
          interfaces:
            - name: default
              state: down
              masquerade: { }
      networks:
        - name: default
          pod: { }
'''

SEED_003_LINK_STATUS = '''
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: my-vm
spec:
  domain:
    devices:
      interfaces:
      - name: default
        state: down
        masquerade: { }
  networks:
  - name: default
    pod: { }
status:
  interfaces:
    - name: default
      linkState: down
'''

SEED_003_SPOOF_CHECK_NETWORKS = '''
networks:
- name: default
  pod: {}
- multus:
    networkName: br-spoof-check
  name: br10
'''

SEED_003_MULTIQUEUE = '''
# partial example - kept short for brevity
apiVersion: kubevirt.io/v1
kind: VirtualMachine
spec:
  template:
    spec:
      domain:
        devices:
          networkInterfaceMultiqueue: true
'''

# The seeds' manifests that are not VM manifests: NADs, the KubeVirt CR.
SEED_003_NAD = '''
apiVersion: "k8s.cni.cncf.io/v1"
kind: NetworkAttachmentDefinition
metadata:
  name: linux-bridge-net-ipam
spec:
  config: '{
      "cniVersion": "0.3.1",
      "name": "mynet",
      "plugins": [
        {
          "type": "bridge",
          "bridge": "br10",
          "disableContainerInterface": true,
          "macspoofchk": true
        }
      ]
    }'
'''

SEED_003_KUBEVIRT_CR = '''
apiVersion: kubevirt.io/v1
kind: Kubevirt
metadata:
  name: kubevirt
  namespace: kubevirt
spec:
  configuration:
    network:
      permitBridgeInterfaceOnPodNetwork: false
'''

# --- seed 004 (Virtink) --------------------------------------------------------------------

SEED_004_POD_BRIDGE = '''
apiVersion: virt.virtink.smartx.com/v1alpha1
kind: VirtualMachine
spec:
  instance:
    interfaces:
      - name: pod
        bridge: {}
  networks:
    - name: pod
      pod: {}
'''

SEED_004_NAD = '''
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata:
  name: ovs-br1
spec:
  config: |
    {
      "cniVersion": "0.3.1",
      "type": "ovs",
      "bridge": "br1"
    }
'''

SEED_004_MULTUS = '''
apiVersion: virt.virtink.smartx.com/v1alpha1
kind: VirtualMachine
spec:
  instance:
    interfaces:
      - name: ovs
        bridge: {}
  networks:
    - name: ovs
      multus:
        networkName: ovs-br1
'''

SEED_004_MASQUERADE = '''
apiVersion: virt.virtink.smartx.com/v1alpha1
kind: VirtualMachine
spec:
  instance:
    interfaces:
      - name: pod
        masquerade: {}
  networks:
    - name: pod
      pod: {}
'''

SEED_004_SRIOV = '''
apiVersion: virt.virtink.smartx.com/v1alpha1
kind: VirtualMachine
spec:
  instance:
    interfaces:
      - name: sriov
        sriov: {}
  networks:
    - name: sriov
      multus:
        networkName: mellanox-sriov-25g
'''

SEED_EXAMPLES = [
    (SEED_000_RED, model(*EARLY, [iface('red', 'bridge')], [pod_network('red')])),
    (
        SEED_000_SLIRP,
        model(
            *LEGACY_VMI,
            [
                iface(
                    'testSlirp',
                    'slirp',
                    ports=[{'name': 'http', 'port': 80, 'protocol': 'TCP'}],
                    vmNetworkCIDR='10.0.2.0/24',
                )
            ],
            [pod_network('testSlirp')],
            name='vmi-slirp',
        ),
    ),
    (
        SEED_002_MAC,
        model(
            *LEGACY_VMI, [iface('red', 'bridge', macAddress='de:ad:00:00:be:af', model='e1000')], [pod_network('red')]
        ),
    ),
    (
        SEED_002_PORTS,
        model(
            *LEGACY_VMI,
            [iface('red', 'bridge', model='e1000', ports=[{'name': 'http', 'port': 80, 'protocol': 'TCP'}])],
            [pod_network('red')],
        ),
    ),
    (SEED_002_NO_AUTOATTACH, model(*LEGACY_VMI, [], [], autoattachPodInterface=False)),
    (SEED_002_BRIDGE, model(*LEGACY_VMI, [iface('red', 'bridge')], [pod_network('red')])),
    (SEED_002_SLIRP, model(*LEGACY_VMI, [iface('red', 'slirp', vmNetworkCIDR='10.0.2.0/24')], [pod_network('red')])),
    (SEED_003_POD, model(*V1_VM, [masquerade('default')], [pod_network('default')])),
    (
        SEED_003_MULTUS,
        model(
            *V1_VM,
            [masquerade('default'), iface('bridge-net', 'bridge', 1, hashed('bridge-net'), False)],
            [pod_network('default'), multus_network('bridge-net', 'linux-bridge-net-ipam', 1, hashed('bridge-net'))],
        ),
    ),
    (
        SEED_003_MULTUS_DEFAULT,
        model(*V1_VM, [iface('test1', 'bridge')], [multus_network('test1', 'bridge-test', 0, 'eth0', default=True)]),
    ),
    (
        SEED_003_PORTS,
        model(
            *V1_VM,
            [masquerade('default', model='e1000', ports=[{'name': 'http', 'port': 80, 'protocol': 'TCP'}])],
            [pod_network('default')],
        ),
    ),
    (SEED_003_NO_AUTOATTACH, model(*V1_VM, [], [], autoattachPodInterface=False)),
    (
        SEED_003_BRIDGE,
        model(
            *V1_VM,
            [iface('red', 'bridge', pod_iface='podb1f51a511f1', primary=False)],
            [multus_network('red', 'red', 0, 'podb1f51a511f1')],
        ),
    ),
    (
        SEED_003_MASQUERADE,
        model(*V1_VM, [masquerade('red', ports=[{'name': None, 'port': 80, 'protocol': 'TCP'}])], [pod_network('red')]),
    ),
    (
        SEED_003_DUAL_STACK,
        model(*V1_VM, [masquerade('red', ports=[{'name': None, 'port': 80, 'protocol': 'TCP'}])], [pod_network('red')]),
    ),
    (
        SEED_003_SRIOV,
        model(
            *V1_VM,
            [masquerade('default'), iface('sriov-net', 'sriov', 1, hashed('sriov-net'), False)],
            [pod_network('default'), multus_network('sriov-net', 'sriov-net', 1, hashed('sriov-net'))],
        ),
    ),
    (SEED_003_LINK_DOWN, model(*V1_VM, [masquerade('default', state='down')], [pod_network('default')], name='my-vm')),
    (
        SEED_003_LINK_STATUS,
        model(*V1_VMI, [masquerade('default', state='down')], [pod_network('default')], name='my-vm'),
    ),
    (
        SEED_003_MULTIQUEUE,
        model(*V1_VM, [iface('default', 'bridge')], [pod_network('default')], networkInterfaceMultiqueue=True),
    ),
    (
        SEED_004_POD_BRIDGE,
        model(*VIRTINK, [iface('pod', 'bridge')], [pod_network('pod')], autoattachPodInterface=False),
    ),
    (
        SEED_004_MULTUS,
        model(
            *VIRTINK,
            [iface('ovs', 'bridge', pod_iface='net0', primary=False)],
            [multus_network('ovs', 'ovs-br1', 0, 'net0')],
            autoattachPodInterface=False,
        ),
    ),
    (
        SEED_004_MASQUERADE,
        model(*VIRTINK, [masquerade('pod', ipv4='10.0.2.0/30')], [pod_network('pod')], autoattachPodInterface=False),
    ),
    (
        SEED_004_SRIOV,
        model(
            *VIRTINK,
            [iface('sriov', 'sriov', pod_iface='net0', primary=False)],
            [multus_network('sriov', 'mellanox-sriov-25g', 0, 'net0')],
            autoattachPodInterface=False,
        ),
    ),
]

VALID_SEED_MANIFESTS = [text for text, _expected in SEED_EXAMPLES]


@pytest.mark.parametrize('text, expected', SEED_EXAMPLES)
def test_seed_example_parses_to_its_model(text, expected):
    assert normalized(text) == expected


def test_seed_001_is_seed_000s_first_example():
    # Seed 001 repeats seed 000's only VM example verbatim.
    assert normalized(SEED_000_RED)['dialect'] == 'kubevirt-early'


@pytest.mark.parametrize(
    'text, message',
    [
        (SEED_003_NAD, 'unsupported apiVersion k8s.cni.cncf.io/v1: ' + UNKNOWN_MANIFEST),
        (SEED_004_NAD, 'unsupported apiVersion k8s.cni.cncf.io/v1: ' + UNKNOWN_MANIFEST),
        (SEED_003_KUBEVIRT_CR, 'unsupported kind Kubevirt: ' + UNKNOWN_MANIFEST),
    ],
)
def test_seed_manifests_that_are_not_vms_are_refused(text, message):
    assert normalize(yaml.safe_load(text)) == (None, [{'field': '', 'message': message}])


def test_seed_003_spoof_check_networks_fragment_needs_its_interfaces():
    # A fragment: the networks of a VM without its interfaces, read as a bare pair.
    assert normalize(yaml.safe_load(SEED_003_SPOOF_CHECK_NETWORKS)) == (
        None,
        [
            {'field': 'networks[0].name', 'message': "networks[0].name 'default' not found."},
            {'field': 'networks[1].name', 'message': "networks[1].name 'br10' not found."},
        ],
    )
    fragment = yaml.safe_load(SEED_003_SPOOF_CHECK_NETWORKS)
    fragment['interfaces'] = [{'name': 'default', 'masquerade': {}}, {'name': 'br10', 'bridge': {}}]
    spec, errors = normalize(fragment)
    assert errors == []
    assert spec == model(
        'bare',
        '',
        [masquerade('default'), iface('br10', 'bridge', 1, hashed('br10'), False)],
        [pod_network('default'), multus_network('br10', 'br-spoof-check', 1, hashed('br10'))],
    )


def test_hashed_pod_interface_names_match_kubevirt():
    # reference §1.4: red -> podb1f51a511f1, blue -> pod16477688c0e
    assert hashed('red') == 'podb1f51a511f1'
    assert hashed('blue') == 'pod16477688c0e'


@pytest.mark.parametrize('text', VALID_SEED_MANIFESTS)
@pytest.mark.parametrize('naming', ['hashed', 'ordinal'])
def test_normalised_spec_normalises_to_itself(text, naming):
    spec = normalized(text, pod_interface_naming=naming)
    assert json.loads(json.dumps(spec)) == spec
    permit = {'permit_slirp_interface': True}
    assert normalize(copy.deepcopy(spec), permit) == (spec, [])
    # The recorded naming wins over the option.
    other = 'hashed' if naming == 'ordinal' else 'ordinal'
    assert normalize(copy.deepcopy(spec), dict(permit, pod_interface_naming=other)) == (spec, [])


def test_normalised_spec_is_validated_again_with_the_options():
    spec = normalized(SEED_002_BRIDGE)
    assert normalize(spec, {'permit_bridge_interface_on_pod_network': False}) == (
        None,
        [
            {
                'field': 'spec.domain.devices.interfaces[0].name',
                'message': 'Bridge on pod network configuration is not enabled under kubevirt-config',
            }
        ],
    )


@pytest.mark.parametrize(
    'mutate, field, message',
    [
        (
            lambda spec: spec.update(specVersion='vmnet.networks/v0'),
            'specVersion',
            'Unsupported value: "vmnet.networks/v0": supported values: "vmnet.networks/v1"',
        ),
        (
            lambda spec: spec.update(dialect='kubevirt-v2'),
            'dialect',
            'Unsupported value: "kubevirt-v2": supported values: "kubevirt-v1-vm", "kubevirt-v1-vmi", "kubevirt-legacy", '
            '"kubevirt-early", "virtink", "bare"',
        ),
        (
            lambda spec: spec['interfaces'][0].update(binding='tap'),
            'interfaces[0].binding',
            'Unsupported value: "tap": supported values: "bridge", "masquerade", "passt", "plugin", "sriov"',
        ),
        (lambda spec: spec.update(interfaces='eth0'), 'interfaces', 'Invalid value: "string": must be of type array'),
        (
            lambda spec: spec['networks'][0].update(multus=[]),
            'networks[0].multus',
            'Invalid value: "array": must be of type object',
        ),
    ],
)
def test_tampered_normalised_spec_is_refused(mutate, field, message):
    spec = normalized(SEED_003_MULTUS)
    mutate(spec)
    assert normalize(spec) == (None, [{'field': field, 'message': message}])


def test_normalised_spec_errors_use_the_dialects_paths():
    spec = normalized(SEED_003_MULTUS)
    spec['interfaces'][1]['macAddress'] = 'de:ad'
    assert normalize(spec) == (
        None,
        [
            {
                'field': 'spec.template.spec.domain.devices.interfaces[1].macAddress',
                'message': 'interface spec.template.spec.domain.devices.interfaces[1].name has malformed MAC address (de:ad).',
            }
        ],
    )


@pytest.mark.parametrize(
    'manifest, dialect, root',
    [
        (
            {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'spec': {'template': {}}},
            'kubevirt-v1-vm',
            'spec.template.spec',
        ),
        ({'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', 'spec': {}}, 'kubevirt-v1-vmi', 'spec'),
        ({'apiVersion': 'kubevirt.io/v1', 'spec': {'domain': {}}}, 'kubevirt-v1-vmi', 'spec'),
        (
            {'apiVersion': 'kubevirt.io/v1alpha3', 'kind': 'VirtualMachine', 'spec': {'template': {}}},
            'kubevirt-legacy',
            'spec.template.spec',
        ),
        (
            {'apiVersion': 'kubevirt.io/v1alpha2', 'kind': 'VirtualMachineInstance', 'spec': {}},
            'kubevirt-legacy',
            'spec',
        ),
        ({'kind': 'VM', 'spec': {'domain': {}}}, 'kubevirt-legacy', 'spec'),
        ({'spec': {'domain': {}}}, 'kubevirt-legacy', 'spec'),
        ({'kind': 'VM', 'spec': {'devices': {}}}, 'kubevirt-early', 'spec'),
        ({'apiVersion': 'virt.virtink.smartx.com/v1alpha1', 'kind': 'VirtualMachine', 'spec': {}}, 'virtink', 'spec'),
        ({'spec': {'instance': {}}}, 'virtink', 'spec'),
        ({'interfaces': []}, 'bare', ''),
        ({'networks': []}, 'bare', ''),
    ],
)
def test_dialect_detection(manifest, dialect, root):
    assert detect(manifest) == (dialect, root)


@pytest.mark.parametrize(
    'manifest, message',
    [
        ([], 'manifest must be an object, got array'),
        ('kind: VM', 'manifest must be an object, got string'),
        (None, 'manifest must be an object, got null'),
        ({}, UNKNOWN_MANIFEST),
        ({'metadata': {'name': 'x'}}, UNKNOWN_MANIFEST),
        ({'spec': {'running': True}}, UNKNOWN_MANIFEST),
        ({'apiVersion': 'v1', 'kind': 'Pod', 'spec': {}}, 'unsupported apiVersion v1: ' + UNKNOWN_MANIFEST),
        ({'apiVersion': 7, 'spec': {'domain': {}}}, 'unsupported apiVersion 7: ' + UNKNOWN_MANIFEST),
        ({'kind': ['VM'], 'spec': {'domain': {}}}, "unsupported kind ['VM']: " + UNKNOWN_MANIFEST),
    ],
)
def test_unknown_dialect_is_one_error_without_field(manifest, message):
    assert normalize(manifest) == (None, [{'field': '', 'message': message}])


@pytest.mark.parametrize(
    'manifest, errors',
    [
        ({'interfaces': {'name': 'default'}}, [('interfaces', 'Invalid value: "object": must be of type array')]),
        ({'interfaces': ['default']}, [('interfaces[0]', 'Invalid value: "string": must be of type object')]),
        ({'interfaces': [None]}, [('interfaces[0]', 'Invalid value: "null": must be of type object')]),
        (
            {'interfaces': [{'name': 1, 'bridge': True}]},
            [
                ('interfaces[0].name', 'Invalid value: "integer": must be of type string'),
                ('interfaces[0].bridge', 'Invalid value: "boolean": must be of type object'),
            ],
        ),
        (
            {'interfaces': [{'name': 'a', 'bootOrder': True, 'acpiIndex': 1.0}]},
            [
                ('interfaces[0].bootOrder', 'Invalid value: "boolean": must be of type integer'),
                ('interfaces[0].acpiIndex', 'Invalid value: "number": must be of type integer'),
            ],
        ),
        (
            {'interfaces': [{'name': 'a', 'ports': [{'port': '80'}, 5]}]},
            [
                ('interfaces[0].ports[1]', 'Invalid value: "integer": must be of type object'),
                ('interfaces[0].ports[0].port', 'Invalid value: "string": must be of type integer'),
            ],
        ),
        (
            {'interfaces': [{'name': 'a', 'binding': {'name': ['x']}, 'bridge': {'delegateIp': 'yes'}}]},
            [
                ('interfaces[0].binding.name', 'Invalid value: "array": must be of type string'),
                ('interfaces[0].bridge.delegateIp', 'Invalid value: "string": must be of type boolean'),
            ],
        ),
        (
            {'interfaces': [{'name': 'a', 'dhcpOptions': {'ntpServers': [1], 'privateOptions': [{'option': '240'}]}}]},
            [
                ('interfaces[0].dhcpOptions.ntpServers[0]', 'Invalid value: "integer": must be of type string'),
                (
                    'interfaces[0].dhcpOptions.privateOptions[0].option',
                    'Invalid value: "string": must be of type integer',
                ),
            ],
        ),
        (
            {'networks': [{'name': 'a', 'pod': {'vmNetworkCIDR': 10}, 'multus': {'default': 'true'}}]},
            [
                ('networks[0].pod.vmNetworkCIDR', 'Invalid value: "integer": must be of type string'),
                ('networks[0].multus.default', 'Invalid value: "string": must be of type boolean'),
            ],
        ),
        (
            {
                'apiVersion': 'kubevirt.io/v1',
                'kind': 'VirtualMachine',
                'metadata': [],
                'spec': {'template': {'spec': {'domain': {'devices': [], 'cpu': {'cores': '2'}}, 'hostname': 5}}},
            },
            [
                ('metadata', 'Invalid value: "array": must be of type object'),
                ('spec.template.spec.domain.devices', 'Invalid value: "array": must be of type object'),
                ('spec.template.spec.hostname', 'Invalid value: "integer": must be of type string'),
                ('spec.template.spec.domain.cpu.cores', 'Invalid value: "string": must be of type integer'),
            ],
        ),
        ({'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'spec': {}}, [('spec.template', 'Required value')]),
        (
            {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', 'spec': {'domain': 'small'}},
            [('spec.domain', 'Invalid value: "string": must be of type object')],
        ),
        (
            {
                'apiVersion': 'virt.virtink.smartx.com/v1alpha1',
                'spec': {
                    'instance': {'interfaces': [{'name': 'pod', 'mac': 5, 'masquerade': {'cidr': []}}]},
                    'networks': 'pod',
                },
            },
            [
                ('spec.instance.interfaces[0].mac', 'Invalid value: "integer": must be of type string'),
                ('spec.instance.interfaces[0].masquerade.cidr', 'Invalid value: "array": must be of type string'),
                ('spec.networks', 'Invalid value: "string": must be of type array'),
            ],
        ),
    ],
)
def test_wrong_types_are_reported_with_their_field(manifest, errors):
    assert normalize(manifest) == (None, [{'field': field, 'message': message} for field, message in errors])


def test_null_is_an_absent_field():
    spec = normalized('''
interfaces:
  - name: default
    masquerade: {}
    macAddress: null
    ports: null
networks:
  - name: default
    pod: {}
    multus: null
''')
    assert spec['interfaces'] == [masquerade('default')]
    assert spec['networks'] == [pod_network('default')]
    assert normalize(
        {'interfaces': [{'name': 'default', 'bridge': {}}], 'networks': [{'name': 'default', 'pod': None}]}
    ) == (None, [{'field': 'networks[0]', 'message': 'should have a network type'}])


def test_null_binding_is_no_binding():
    manifest = {'interfaces': [{'name': 'default', 'masquerade': None}], 'networks': [{'name': 'default', 'pod': {}}]}
    assert normalize(manifest) == (
        None,
        [
            {
                'field': 'interfaces[0]',
                'message': 'logical default interface must have exactly one binding method or binding plugin',
            }
        ],
    )


def test_metadata_and_guest_identity():
    spec = normalized('''
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: web.%s
  namespace: shop
spec:
  template:
    spec:
      subdomain: backends
      domain:
        cpu: {sockets: 2, cores: 3, threads: 2}
        devices: {}
''' % ('x' * 70))
    assert (spec['name'], spec['namespace'], spec['hostname'], spec['subdomain'], spec['vcpus']) == (
        'web.' + 'x' * 70,
        'shop',
        'web',
        'backends',
        12,
    )
    long_name = normalized("kind: VM\nmetadata: {name: %s}\nspec: {domain: {}}" % ('a' * 70))
    assert long_name['hostname'] == 'a' * 63
    explicit = normalized("kind: VM\nmetadata: {name: vm1}\nspec: {hostname: guest, domain: {}}")
    assert explicit['hostname'] == 'guest'


def test_virtink_cpu_and_mac():
    spec = normalized('''
apiVersion: virt.virtink.smartx.com/v1alpha1
kind: VirtualMachine
metadata: {name: ch, namespace: vms}
spec:
  instance:
    cpu: {sockets: 2, coresPerSocket: 4}
    interfaces:
      - name: pod
        mac: 52-54-00-AB-CD-EF
  networks:
    - name: pod
      pod: {}
''')
    assert spec['vcpus'] == 8
    # Virtink's mutating webhook makes an interface without binding a bridge.
    assert spec['interfaces'] == [iface('pod', 'bridge', macAddress='52:54:00:ab:cd:ef')]


@pytest.mark.parametrize(
    'masquerade_spec, ipv4, ipv6',
    [
        ({'cidr': '192.168.7.0/29'}, '192.168.7.0/29', 'fd10:0:2::/120'),
        ({'ipv4CIDR': '192.168.7.0/29', 'ipv6CIDR': 'fd00:7::/64'}, '192.168.7.0/29', 'fd00:7::/64'),
    ],
)
def test_virtink_masquerade_cidrs(masquerade_spec, ipv4, ipv6):
    manifest = {
        'apiVersion': 'virt.virtink.smartx.com/v1alpha1',
        'kind': 'VirtualMachine',
        'spec': {
            'instance': {'interfaces': [{'name': 'pod', 'masquerade': masquerade_spec}]},
            'networks': [{'name': 'pod', 'pod': {}}],
        },
    }
    spec, errors = normalize(manifest)
    assert errors == []
    assert (spec['interfaces'][0]['vmNetworkCIDR'], spec['interfaces'][0]['vmIPv6NetworkCIDR']) == (ipv4, ipv6)


def test_virtink_names_multus_pod_interfaces_by_network_index():
    manifest = {
        'apiVersion': 'virt.virtink.smartx.com/v1alpha1',
        'spec': {
            'instance': {
                'interfaces': [
                    {'name': 'a', 'bridge': {}},
                    {'name': 'pod', 'masquerade': {}},
                    {'name': 'b', 'sriov': {}},
                ]
            },
            'networks': [
                {'name': 'a', 'multus': {'networkName': 'nad-a'}},
                {'name': 'pod', 'pod': {}},
                {'name': 'b', 'multus': {'networkName': 'nad-b'}},
            ],
        },
    }
    spec, errors = normalize(manifest, {'pod_interface_naming': 'hashed'})
    assert errors == []
    assert [network['podInterfaceName'] for network in spec['networks']] == ['net0', 'eth0', 'net2']
    assert [i['podInterfaceName'] for i in spec['interfaces']] == ['net0', 'eth0', 'net2']


BLUE_GREEN = {
    'interfaces': [
        {'name': 'blue', 'bridge': {}},
        {'name': 'default', 'masquerade': {}},
        {'name': 'green', 'bridge': {}},
    ],
    'networks': [
        {'name': 'blue', 'multus': {'networkName': 'team-a/blue-net'}},
        {'name': 'default', 'pod': {}},
        {'name': 'green', 'multus': {'networkName': 'green-net'}},
    ],
}


@pytest.mark.parametrize(
    'naming, names',
    [
        ('hashed', ['pod16477688c0e', 'eth0', hashed('green')]),
        ('ordinal', ['net1', 'eth0', 'net2']),
    ],
)
def test_pod_interface_naming(naming, names):
    spec, errors = normalize(copy.deepcopy(BLUE_GREEN), {'pod_interface_naming': naming})
    assert errors == []
    assert [network['podInterfaceName'] for network in spec['networks']] == names
    assert [network['primary'] for network in spec['networks']] == [False, True, False]


def test_multus_network_name_with_namespace():
    spec, errors = normalize(dict(copy.deepcopy(BLUE_GREEN)))
    assert errors == []
    assert [network['multus'] for network in spec['networks']] == [
        {'networkName': 'blue-net', 'namespace': 'team-a', 'default': False},
        None,
        {'networkName': 'green-net', 'namespace': 'default', 'default': False},
    ]


@pytest.mark.parametrize(
    'default_interface, dialect_manifest, expected',
    [
        ('bridge', {'interfaces': []}, iface('default', 'bridge')),
        ('masquerade', {'interfaces': []}, masquerade('default')),
        ('slirp', {'interfaces': []}, iface('default', 'slirp', vmNetworkCIDR='10.0.2.0/24')),
        ('masquerade', {'kind': 'VM', 'spec': {'devices': {}}}, masquerade('default')),
        (
            'masquerade',
            {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachineInstance', 'spec': {}},
            masquerade('default'),
        ),
    ],
)
def test_default_pod_interface(default_interface, dialect_manifest, expected):
    spec, errors = normalize(dialect_manifest, {'default_network_interface': default_interface,
                                                'permit_slirp_interface': True})
    assert errors == []
    assert (spec['interfaces'], spec['networks']) == ([expected], [pod_network('default')])


def test_no_default_interface_when_either_list_is_given():
    spec, errors = normalize(
        {'interfaces': [{'name': 'a', 'bridge': {}}], 'networks': [{'name': 'a', 'multus': {'networkName': 'n'}}]}
    )
    assert errors == [] and [i['name'] for i in spec['interfaces']] == ['a']
    # Networks alone: no interface is added, and the network has none.
    assert normalize({'networks': [{'name': 'a', 'pod': {}}]}) == (
        None,
        [{'field': 'networks[0].name', 'message': "networks[0].name 'a' not found."}],
    )


def test_every_interface_field_reaches_the_model():
    spec, errors = normalize(
        {
            'interfaces': [
                {
                    'name': 'default',
                    'masquerade': {},
                    'model': 'e1000e',
                    'macAddress': 'DEAD.0000.BEAF',
                    'ports': [{'name': 'dns', 'port': 53, 'protocol': 'UDP'}, {'port': 22}],
                    'pciAddress': '0000:81:00.1',
                    'bootOrder': 2,
                    'acpiIndex': 3,
                    'tag': 'front',
                    'state': 'down',
                    'dhcpOptions': {
                        'bootFileName': 'pxe.0',
                        'ntpServers': ['10.0.0.1'],
                        'privateOptions': [{'option': 240, 'value': 'extra.options.kubevirt.io'}],
                    },
                }
            ],
            'networks': [
                {'name': 'default', 'pod': {'vmNetworkCIDR': '10.11.0.0/16', 'vmIPv6NetworkCIDR': 'fd00::/64'}}
            ],
        }
    )
    assert errors == []
    assert spec['interfaces'] == [
        masquerade(
            'default',
            ipv4='10.11.0.0/16',
            ipv6='fd00::/64',
            model='e1000e',
            macAddress='de:ad:00:00:be:af',
            ports=[{'name': 'dns', 'port': 53, 'protocol': 'UDP'}, {'name': None, 'port': 22, 'protocol': 'TCP'}],
            pciAddress='0000:81:00.1',
            bootOrder=2,
            acpiIndex=3,
            tag='front',
            state='down',
            dhcpOptions={
                'bootFileName': 'pxe.0',
                'tftpServerName': None,
                'ntpServers': ['10.0.0.1'],
                'privateOptions': [{'option': 240, 'value': 'extra.options.kubevirt.io'}],
            },
        )
    ]
    assert spec['networks'] == [pod_network('default', ipv4='10.11.0.0/16', ipv6='fd00::/64')]


def test_plugin_and_passt_bindings():
    spec, errors = normalize(
        {
            'interfaces': [{'name': 'default', 'passtBinding': {}}, {'name': 'ext', 'binding': {'name': 'managedtap'}}],
            'networks': [{'name': 'default', 'pod': {}}, {'name': 'ext', 'multus': {'networkName': 'ext'}}],
        },
        {'feature_gates': ['PasstBinding'], 'network_binding_plugins': {'managedtap': {'domainAttachmentType': 'managedTap'}}},
    )
    assert errors == []
    assert spec['networkBindingPlugins'] == {'managedtap': {'domainAttachmentType': 'managedTap'}}
    assert [(i['binding'], i['bindingPlugin']) for i in spec['interfaces']] == [
        ('passt', None),
        ('plugin', 'managedtap'),
    ]


def test_port_ranges_default_to_tcp():
    spec, errors = normalize(
        {
            'interfaces': [{'name': 'default', 'masquerade': {}, 'portRanges': [{'start': 8000, 'end': 8010}]}],
            'networks': [{'name': 'default', 'pod': {}}],
        },
        {'feature_gates': ['PortRangesSpec']},
    )
    assert errors == []
    assert spec['interfaces'][0]['portRanges'] == [{'protocol': 'TCP', 'start': 8000, 'end': 8010}]


def test_normalised_spec_binding_must_exist_in_its_dialect():
    spec = normalized(SEED_004_POD_BRIDGE)
    spec['interfaces'][0]['binding'] = 'passt'
    assert normalize(spec) == (
        None,
        [
            {
                'field': 'interfaces[0].binding',
                'message': 'Unsupported value: "passt": supported values: "bridge", "masquerade", "sriov"',
            }
        ],
    )
