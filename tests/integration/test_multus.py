# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Multus networks end to end: NetworkAttachmentDefinitions of the local store run by the
real CNI plugins into the pod, bound by the bridge binding, with real guests.

The NADs' bridges (br10, br11, br20) live in the test's node namespace, where the CNI
plugins run (``node_netns``); clients are namespaces attached to them by the same NADs.
"""

import json
import os
import re
import subprocess
import time

import pytest

from podnet import NO_MASTER, ip_json, netns_run, pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

DNS = ['10.96.0.10']
SEARCH = ['vmnt-ns.svc.cluster.local']
RED_MAC, BLUE_MAC = '02:00:00:0a:00:0a', '02:00:00:0b:00:0b'
SPOOFED_MAC = '02:de:ad:be:ef:01'
GUEST_L2 = '10.250.11.20'
# vmnet.setmac delays (s after the guest's init starts): the MACs change at SETMAC_AT and
# are set back at RESTORE_AT; the test probes in between.
SETMAC_AT, RESTORE_AT = 16, 28


@pytest.fixture(autouse=True)
def _no_bridge_table_in_the_host():
    """The spoof check's nft runs in the node namespace, never in the host's."""
    def bridge_tables():
        return subprocess.run(['nft', 'list', 'tables', 'bridge'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False).stdout
    before = bridge_tables()
    yield
    assert bridge_tables() == before


def vm(name, interfaces, networks, namespace=None):
    metadata = dict({'name': name}, **({'namespace': namespace} if namespace else {}))
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': metadata,
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': interfaces}}, 'networks': networks}}}}


def attach(podnet, manifest, name, *networks):
    results = [pod_module(podnet, 'vm_network', manifest, vm=name, name=n) for n in networks]
    assert not any(r.get('failed') for r in results), results
    return results


def bind(podnet, manifest, name, *interfaces):
    # the domain is named: a VM outside the default namespace defaults to <namespace>_<name>
    results = [pod_module(podnet, 'vm_interface', manifest, vm=name, name=i, domain=name, dns_servers=DNS,
                          dns_search=SEARCH) for i in interfaces]
    assert not any(r.get('failed') for r in results), results
    return results


def detach(podnet, manifest, name, *networks):
    """Unbind the interfaces, then detach their networks (CNI DEL), in reverse order."""
    for net in reversed(networks):
        assert not pod_module(podnet, 'vm_interface', manifest, vm=name, name=net, domain=name,
                              state='absent').get('failed')
    for net in reversed(networks):
        assert not pod_module(podnet, 'vm_network', manifest, vm=name, name=net, state='absent').get('failed')


def console_line(guest, pattern, timeout=90):
    """The fields of the first console line matching ``pattern``, wherever it is (the guest's
    NICs report in any order)."""
    regex = re.compile(pattern, re.MULTILINE)
    deadline = time.monotonic() + timeout
    while True:
        match = regex.search(guest.console())
        if match:
            return dict(f.split('=', 1) for f in match.group(0).split()[1:] if '=' in f)
        assert time.monotonic() < deadline and guest.domain.isActive(), \
            'no %r on the console of %s:\n%s' % (pattern, guest.name, guest.console()[-3000:])
        time.sleep(0.2)


def reachable(client, address, tries=1):
    """Ping ``address`` from ``client`` with an empty neighbour cache: the answer must come
    from the MAC the guest uses now."""
    for _attempt in range(tries):
        netns_run(client, 'ip', 'neigh', 'flush', 'dev', 'eth0')
        if netns_run(client, 'busybox', 'ping', '-c', '2', '-W', '2', address, check=False).returncode == 0:
            return True
    return False


def http_get(netns, address):
    code = ('import urllib.request,sys; '
            'sys.stdout.write(urllib.request.urlopen("http://%s/", timeout=5).read().decode())' % address)
    return netns_run(netns, 'python3', '-c', code, check=False, timeout=20).stdout.strip()


def reserved(podnet, network, address):
    return os.path.exists(os.path.join(podnet.ipam_dir, network, address.split('/')[0]))


def node_veths(podnet):
    return [l['ifname'] for l in ip_json('-d', '-n', podnet.node, 'link')
            if l.get('linkinfo', {}).get('info_kind') == 'veth']


def assert_pod_gone(podnet, name, namespace='default'):
    assert not os.path.exists('/var/run/netns/' + names.pod_netns(namespace, name))
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id(namespace, name)))
    owned = names.owner_alias(namespace, name, '')
    assert [l['ifname'] for l in ip_json('link') if (l.get('ifalias') or '').startswith(owned)] == []


def test_masquerade_pod_network_and_bridge_bound_secondary_networks(podnet, make_domain):
    """eth0 masquerade on the pod network; eth1 bridge-bound to a NAD with host-local IPAM (DHCP
    from the pod, reached from a client on br10); eth2 bridge-bound to an L2 NAD with
    macspoofchk (static address in the guest): a spoofed MAC is dropped, its own MAC passes.
    Absent runs CNI DEL: the IPAM reservation, the veths and the spoof-check chains go."""
    br10 = podnet.write_nad('br10-ipam', {'cniVersion': '0.3.1', 'name': 'vmnt-br10', 'plugins': [
        {'type': 'bridge', 'bridge': 'br10',
         'ipam': {'type': 'host-local', 'subnet': '10.250.10.0/24', 'dataDir': podnet.ipam_dir}}]},
        namespace='vmnt-ns')
    br11 = podnet.write_nad('br11-l2', {'cniVersion': '1.0.0', 'name': 'vmnt-br11', 'type': 'bridge',
                                        'bridge': 'br11', 'macspoofchk': True, 'ipam': {}}, namespace='vmnt-l2')
    guest = make_domain('vmntmul', cmdline=' '.join([
        'vmnet.static=eth2:%s/24' % GUEST_L2,
        'vmnet.setmac=eth1:02:00:00:0a:ff:0a:%d' % SETMAC_AT, 'vmnet.setmac=eth2:%s:%d' % (SPOOFED_MAC, SETMAC_AT),
        'vmnet.setmac=eth1:%s:%d' % (RED_MAC, RESTORE_AT), 'vmnet.setmac=eth2:%s:%d' % (BLUE_MAC, RESTORE_AT)]))
    manifest = vm(guest.name, namespace='vmnt-ns', interfaces=[
        {'name': 'default', 'masquerade': {}},
        {'name': 'red', 'bridge': {}, 'macAddress': RED_MAC},
        {'name': 'blue', 'bridge': {}, 'macAddress': BLUE_MAC},
    ], networks=[
        {'name': 'default', 'pod': {}},
        {'name': 'red', 'multus': {'networkName': 'br10-ipam'}},            # namespace of the VM
        {'name': 'blue', 'multus': {'networkName': 'vmnt-l2/br11-l2'}},
    ])
    pod = names.pod_netns('vmnt-ns', guest.name)
    red_if, blue_if = names.secondary_pod_iface('red'), names.secondary_pod_iface('blue')

    _default, red, blue = attach(podnet, manifest, guest.name, 'default', 'red', 'blue')
    # KubeVirt's names; the requested MACs were honoured by the bridge plugin (CNI_ARGS MAC=)
    assert (red['pod_interface']['name'], red['pod_interface']['mac']) == (red_if, RED_MAC)
    assert (blue['pod_interface']['name'], blue['pod_interface']['mac'], blue['pod_interface']['ips']) == (
        blue_if, BLUE_MAC, [])
    red_ip = red['pod_interface']['ips'][0]
    assert red_ip.startswith('10.250.10.') and red_ip.endswith('/24')
    assert 'CNI ADD vmnt-br10 (%s) as %s' % (os.path.join(podnet.nad_dir, 'vmnt-ns', 'br10-ipam.yaml'), red_if) \
        in red['actions']
    with open(os.path.join(podnet.state_dir, names.pod_id('vmnt-ns', guest.name), 'networks', 'red.json')) as handle:
        assert json.load(handle)['result']['ips'][0]['version'] == '4'          # a 0.3.1 result
    spoof_rules = netns_run(podnet.node, 'nft', 'list', 'table', 'bridge', 'nat').stdout
    assert 'ether saddr %s return' % BLUE_MAC in spoof_rules
    assert [r['changed'] for r in attach(podnet, manifest, guest.name, 'default', 'red', 'blue')] == [False] * 3

    _default, red_status, blue_status = [r['interface'] for r in bind(podnet, manifest, guest.name,
                                                                      'default', 'red', 'blue')]
    assert (red_status['podInterfaceName'], red_status['mac'], red_status['ipAddress']) == (
        red_if, RED_MAC, red_ip.split('/')[0])
    assert (blue_status['podInterfaceName'], blue_status['mac'], blue_status.get('ipAddress')) == (
        blue_if, BLUE_MAC, None)
    bridges = {l['ifname']: [a['local'] for a in l['addr_info']] for l in ip_json('-4', '-n', pod, 'addr')}
    assert bridges[names.bridge_name(red_if)] == ['169.254.75.11']
    assert bridges.get(names.bridge_name(blue_if), []) == []                      # L2 only: no DHCP

    started = time.monotonic()
    guest.start()
    masq = console_line(guest, r'^VMNET-LEASE if=eth0 .*$')
    assert (masq['ip'], masq['router']) == ('10.0.2.2', '10.0.2.1')
    lease = console_line(guest, r'^VMNET-LEASE if=eth1 .*$')
    assert ('%s/%s' % (lease['ip'], lease['mask']), lease['mac'], lease['router']) == (red_ip, RED_MAC, '')
    assert lease['serverid'] == '169.254.75.11'
    console_line(guest, r'^VMNET-STATIC if=eth2 ip=%s/24$' % re.escape(GUEST_L2))
    print('guest: both leases and the static address %.1f s after start' % (time.monotonic() - started))

    red_client, _ip = podnet.client('red', br10)
    assert http_get(red_client, red_ip.split('/')[0]) == 'hello-from-%s' % guest.name
    blue_client, _ip = podnet.client('blue', br11, address='10.250.11.30/24')

    # the guest takes another MAC: the spoof check of br11 drops it; br10 has none
    console_line(guest, r'^VMNET-SETMAC if=eth2 mac=%s ok$' % SPOOFED_MAC, timeout=SETMAC_AT + 30)
    console_line(guest, r'^VMNET-SETMAC if=eth1 mac=02:00:00:0a:ff:0a ok$', timeout=5)
    assert 'VMNET-SETMAC if=eth2 mac=%s' % BLUE_MAC not in guest.console(), 'too slow: the MACs are back already'
    assert not reachable(blue_client, GUEST_L2), 'the spoofed MAC got through macspoofchk'
    assert reachable(red_client, red_ip.split('/')[0]), 'without macspoofchk a new MAC must work'
    assert 'VMNET-SETMAC if=eth2 mac=%s' % BLUE_MAC not in guest.console(), 'too slow: the MACs came back meanwhile'

    # its own MAC back: reachable again, and the static address serves HTTP
    console_line(guest, r'^VMNET-SETMAC if=eth2 mac=%s ok$' % BLUE_MAC, timeout=RESTORE_AT + 30)
    assert reachable(blue_client, GUEST_L2, tries=5)
    assert http_get(blue_client, GUEST_L2) == 'hello-from-%s' % guest.name

    detach(podnet, manifest, guest.name, 'default', 'red', 'blue')
    assert not reserved(podnet, 'vmnt-br10', red_ip)                                # CNI DEL released it
    assert_pod_gone(podnet, guest.name, 'vmnt-ns')
    assert len(node_veths(podnet)) == 2                                             # the two clients' only
    assert BLUE_MAC not in netns_run(podnet.node, 'nft', 'list', 'table', 'bridge', 'nat').stdout


def test_multus_default_network_from_a_nad_chain(podnet, make_domain):
    """multus.default: the pod's eth0 comes from a bridge + tuning chain (tuning's MTU and MAC in
    the pod), the guest's lease from its IPAM; CHECK of the chain keeps a second run quiet."""
    tuned_mac = '02:00:00:14:00:05'
    podnet.write_nad('vmnt-default', {'cniVersion': '1.0.0', 'name': 'vmnt-br20', 'plugins': [
        {'type': 'bridge', 'bridge': 'br20', 'isGateway': True,
         'ipam': {'type': 'host-local', 'ranges': [[{'subnet': '10.250.20.0/24', 'gateway': '10.250.20.1'}]],
                  'routes': [{'dst': '0.0.0.0/0'}], 'dataDir': podnet.ipam_dir}},
        {'type': 'tuning', 'mtu': 1300, 'mac': tuned_mac}]})
    guest = make_domain('vmntdef')
    manifest = vm(guest.name, interfaces=[{'name': 'test1', 'bridge': {}}],
                  networks=[{'name': 'test1', 'multus': {'default': True, 'networkName': 'vmnt-default'}}])
    pod = names.pod_netns('default', guest.name)

    net, = attach(podnet, manifest, guest.name, 'test1')
    iface = net['pod_interface']
    assert (iface['name'], iface['mac'], iface['mtu'], iface['gateway']) == ('eth0', tuned_mac, 1300, '10.250.20.1')
    assert iface['ips'][0].startswith('10.250.20.')
    eth0 = next(l for l in ip_json('-n', pod, 'link') if l['ifname'] == 'eth0')
    assert (eth0['address'], eth0['mtu']) == (tuned_mac, 1300)                      # tuning's effects
    again, = attach(podnet, manifest, guest.name, 'test1')                          # CHECK of the chain passes
    assert (again['changed'], again['actions']) == (False, [])

    bind(podnet, manifest, guest.name, 'test1')
    guest.start()
    lease = console_line(guest, r'^VMNET-LEASE if=eth0 .*$')
    assert '%s/%s' % (lease['ip'], lease['mask']) == iface['ips'][0]
    assert (lease['mac'], lease['mtu'], lease['router']) == (tuned_mac, '1300', '10.250.20.1')
    console_line(guest, r'^VMNET-PING if=eth0 dst=10\.250\.20\.1 ok$', timeout=30)

    detach(podnet, manifest, guest.name, 'test1')
    assert not reserved(podnet, 'vmnt-br20', iface['ips'][0])
    assert_pod_gone(podnet, guest.name)


def test_refusals_leave_the_host_untouched(podnet):
    """Refused before the host is touched, or undone (DEL, pod removed) when the plugin fails."""
    podnet.write_nad('macvlan', {'cniVersion': '0.3.1', 'name': 'mv', 'type': 'macvlan', 'master': NO_MASTER})
    podnet.write_nad('uplink', {'cniVersion': '0.3.1', 'name': 'up', 'type': 'macvlan', 'master': 'eth0'})
    podnet.write_nad('hostdev', {'cniVersion': '0.3.1', 'name': 'hd', 'type': 'host-device', 'device': 'eth0'})
    podnet.write_nad('leases', {'cniVersion': '0.3.1', 'name': 'ls', 'type': 'bridge', 'bridge': 'br31',
                                'ipam': {'type': 'host-local', 'subnet': '10.250.31.0/24', 'dataDir': '/var/lib'}})
    podnet.write_nad('broken', {'cniVersion': '0.3.1', 'name': 'broken', 'type': 'bridge',
                                'bridge': 'vmnt-bridge-name-too-long'})
    podnet.write_nad('l2', {'cniVersion': '0.4.0', 'name': 'l2', 'type': 'bridge', 'bridge': 'br30'})

    def attempt(network, binding='bridge', default=False, name='vmntrefuse'):
        manifest = vm(name, interfaces=[{'name': 'net', binding: {}}],
                      networks=[{'name': 'net', 'multus': {'networkName': network, 'default': default}}])
        result = pod_module(podnet, 'vm_network', manifest, vm=name, name='net')
        assert result.get('failed'), result
        assert_pod_gone(podnet, name)
        return result['msg']

    # the operator's NAD policy refuses before anything else (podnet's: the default one)
    assert 'plugins[0].master: host interface "eth0" is not in the policy\'s host_interfaces' in attempt('uplink')
    assert 'plugins[0].type: CNI plugin "host-device" is not allowed' in attempt('hostdev')
    assert 'plugins[0].ipam.dataDir: "/var/lib" is not inside the policy\'s ipam_data_dirs' in attempt('leases')
    assert 'its CNI plugin macvlan does not work with the bridge binding: the binding moves the pod ' \
           'interface\'s MAC address to the VM' in attempt('macvlan')
    assert 'Masquerade interface only implemented with pod network' in attempt('l2', binding='masquerade')
    assert attempt('nope').startswith('network "net": NetworkAttachmentDefinition default/nope not found')
    # the plugin's error object, and an ADD that failed leaves nothing (DEL, pod removed)
    assert re.search(r'CNI network "broken": plugin "bridge" ADD failed \(code \d+\): .*', attempt('broken'))
    assert 'the multus delegate chosen as default must return at least one IP address' in attempt('l2', default=True)
    assert node_veths(podnet) == []


def test_ordinal_names_and_a_changed_mac_reattach(podnet):
    """Ordinal naming gives net1; a changed macAddress re-attaches with the new MAC (CNI_ARGS)."""
    podnet.write_nad('l2', {'cniVersion': '0.4.0', 'name': 'l2', 'type': 'bridge', 'bridge': 'br30'})
    manifest = vm('vmntord', interfaces=[{'name': 'default', 'masquerade': {}},
                                         {'name': 'l2', 'bridge': {}, 'macAddress': '02:00:00:1e:00:01'}],
                  networks=[{'name': 'default', 'pod': {}}, {'name': 'l2', 'multus': {'networkName': 'l2'}}])
    spec, errors = normalize(manifest, {'pod_interface_naming': 'ordinal'})
    assert not errors
    first = pod_module(podnet, 'vm_network', spec, vm='vmntord', name='l2')
    assert (first['pod_interface']['name'], first['pod_interface']['mac']) == ('net1', '02:00:00:1e:00:01')

    spec['interfaces'][1]['macAddress'] = '02:00:00:1e:00:02'
    preview = pod_module(podnet, 'vm_network', spec, vm='vmntord', name='l2', check_mode=True)
    assert preview['changed'] and 're-attach net1 (configuration changed)' in preview['actions']
    changed = pod_module(podnet, 'vm_network', spec, vm='vmntord', name='l2')
    assert changed['pod_interface']['mac'] == '02:00:00:1e:00:02'
    assert [l['address'] for l in ip_json('-n', 'vmnet-default_vmntord', 'link') if l['ifname'] == 'net1'] == [
        '02:00:00:1e:00:02']
    assert pod_module(podnet, 'vm_network', spec, vm='vmntord', name='l2', state='absent')['changed']
    assert_pod_gone(podnet, 'vmntord')
    assert node_veths(podnet) == []
