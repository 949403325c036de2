# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge binding end to end: a real guest gets the pod IP, in every dialect.

The pod network lives in a node namespace made by the test; the guest is a busybox
initramfs under QEMU TCG started by the real libvirtd; it reports what its DHCP client
received on the serial console (tools/guest).
"""

import json
import os
import subprocess
import time

import pytest

from modules import run_module
from podnet import ip_json, netns_run, pod_module
from snapshot import tcx as tcx_programs

from ansible_collections.vmnet.networks.plugins.module_utils import names

DNS = ['10.96.0.10']
SEARCH = ['default.svc.cluster.local', 'svc.cluster.local']


def kubevirt_v1(name, interface):
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [interface]}},
                                           'networks': [{'name': interface['name'], 'pod': {}}]}}}}


DIALECTS = {
    # seeds 000/001: kind VM, spec.devices, bridge.delegateIp
    'kubevirt-early': lambda name: {
        'kind': 'VM', 'metadata': {'name': name},
        'spec': {'devices': {'interfaces': [{'name': 'red', 'bridge': {'delegateIp': True}}]},
                 'networks': [{'name': 'red', 'pod': {}}]}},
    # seed 002: spec.domain.devices, macAddress and model
    'kubevirt-legacy': lambda name: {
        'kind': 'VM', 'metadata': {'name': name},
        'spec': {'domain': {'devices': {'interfaces': [
            {'name': 'red', 'macAddress': 'de:ad:00:00:be:af', 'model': 'e1000', 'bridge': {}}]}},
            'networks': [{'name': 'red', 'pod': {}}]}},
    # seed 003: KubeVirt v1 VirtualMachine
    'kubevirt-v1-vm': lambda name: kubevirt_v1(name, {'name': 'default', 'bridge': {}}),
    # seed 004: Virtink
    'virtink': lambda name: {
        'apiVersion': 'virt.virtink.smartx.com/v1alpha1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
        'spec': {'instance': {'interfaces': [{'name': 'pod', 'bridge': {}}]},
                 'networks': [{'name': 'pod', 'pod': {}}]}},
}


def lease_fields(match):
    return dict(field.split('=', 1) for field in match.group(0).split()[1:])


def apply(podnet, manifest, vm, domain, state='present', **extra):
    network = manifest_network(manifest)
    if state == 'present':
        net = pod_module(podnet, 'vm_network', manifest, vm=vm, name=network, **extra)
        iface = pod_module(podnet, 'vm_interface', manifest, vm=vm, name=network, domain=domain,
                           dns_servers=DNS, dns_search=SEARCH, **extra)
        return net, iface
    iface = pod_module(podnet, 'vm_interface', manifest, vm=vm, name=network, domain=domain, state='absent', **extra)
    net = pod_module(podnet, 'vm_network', manifest, vm=vm, name=network, state='absent', **extra)
    return net, iface


def manifest_network(manifest):
    spec = manifest['spec']
    spec = spec.get('template', {}).get('spec', spec)
    return spec['networks'][0]['name']


def http_get(netns, address, port=80):
    code = ('import urllib.request,sys; '
            'sys.stdout.write(urllib.request.urlopen("http://%s:%d/", timeout=5).read().decode())' % (address, port))
    return netns_run(netns, 'python3', '-c', code, check=False, timeout=20)


def assert_nothing_left(podnet, vm, pod_ip):
    netns = names.pod_netns('default', vm)
    assert netns not in subprocess.run(['ip', 'netns', 'list'], stdout=subprocess.PIPE,
                                       universal_newlines=True, check=False).stdout
    owned = [link['ifname'] for link in ip_json('link') if (link.get('ifalias') or '').startswith(names.owner_alias('default', vm, ''))]
    assert owned == []
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', vm)))
    assert not os.path.exists(os.path.join(podnet.ipam_dir, 'vmnt-pod-network', pod_ip.split('/')[0]))


@pytest.mark.parametrize('dialect', sorted(DIALECTS))
def test_guest_gets_the_pod_ip(podnet, make_domain, dialect):
    guest = make_domain('vmntbr')
    manifest = DIALECTS[dialect](guest.name)
    net, iface = apply(podnet, manifest, guest.name, guest.name)
    assert not net.get('failed') and not iface.get('failed'), (net, iface)
    pod_ip = net['pod_interface']['ips'][0]
    status = iface['interface']
    assert status['ipAddress'] == pod_ip.split('/')[0]
    expected_mac = 'de:ad:00:00:be:af' if dialect == 'kubevirt-legacy' else net['pod_interface']['mac']
    assert status['mac'] == expected_mac
    assert (status['podInterfaceName'], status['linkState'], status['infoSource']) == ('eth0', 'up', 'domain')

    guest.start()
    lease = lease_fields(guest.wait_for(r'^VMNET-LEASE .*$', timeout=90))
    assert lease['mac'] == expected_mac
    assert '%s/%s' % (lease['ip'], lease['mask']) == pod_ip
    assert lease['router'] == podnet.gateway
    assert lease['mtu'] == str(podnet.mtu)
    assert lease['dns'] == DNS[0]
    assert lease['search'] == ','.join(SEARCH)
    assert lease['domain'] == max(SEARCH, key=len)
    assert lease['hostname'] == guest.name
    assert lease['serverid'] == '169.254.75.10'
    assert lease['lease'] == str(999 * 86400)
    assert lease['staticroutes'] == '0.0.0.0/0,%s' % podnet.gateway
    assert_dnsmasq_unprivileged(podnet, guest.name, expected_mac)
    guest.wait_for(r'^VMNET-PING if=eth0 dst=%s ok' % podnet.gateway.replace('.', r'\.'), timeout=30)

    client, _client_ip = podnet.client()
    ping = netns_run(client, 'busybox', 'ping', '-c', '3', '-W', '3', pod_ip.split('/')[0], check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    page = http_get(client, pod_ip.split('/')[0])
    assert page.stdout.strip() == 'hello-from-%s' % guest.name, page.stderr

    apply(podnet, manifest, guest.name, guest.name, state='absent')
    assert_nothing_left(podnet, guest.name, pod_ip)


def assert_dnsmasq_unprivileged(podnet, vm, mac):
    """The pod's dnsmasq dropped root after start, and still recorded the lease it gave."""
    state = os.path.join(podnet.state_dir, names.pod_id('default', vm))
    with open(os.path.join(state, 'dnsmasq.pid')) as handle:
        pid = int(handle.read())
    with open('/proc/%d/status' % pid) as handle:
        uids = next(line.split()[1:] for line in handle if line.startswith('Uid:'))
    assert '0' not in uids, uids
    deadline = time.monotonic() + 10
    while mac not in open(os.path.join(state, 'dnsmasq.leases')).read():
        assert time.monotonic() < deadline, 'dnsmasq did not record the lease of %s' % mac
        time.sleep(0.2)
    assert oct(os.stat(state).st_mode & 0o777) == '0o700'


def host_snapshot(vm):
    """What check mode must not change for ``vm``: its host links and their qdiscs, the host's
    nft rules, its pod (links, addresses, nft). Other tests' objects are left out."""
    def out(*argv):
        return subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False).stdout
    netns = names.pod_netns('default', vm)
    ours = set(names.host_links(netns, 'eth0'))
    links = [l for l in ip_json('link') if l['ifname'] in ours or (l.get('ifalias') or '').startswith(names.owner_alias('default', vm, ''))]
    pod_exists = netns in out('ip', 'netns', 'list').split()
    return {
        'links': links,
        'qdiscs': [out('tc', '-j', 'qdisc', 'show', 'dev', l['ifname']) for l in links],
        'nft': out('nft', '-j', 'list', 'ruleset'),
        'pod': (out('ip', '-n', netns, '-j', 'addr'), out('ip', 'netns', 'exec', netns, 'nft', '-j', 'list', 'ruleset'))
        if pod_exists else None,
    }


def test_idempotence_check_mode_diff_and_absent(podnet, make_domain):
    guest = make_domain('vmntidem')
    manifest = DIALECTS['kubevirt-v1-vm'](guest.name)
    xml_before = guest.domain.XMLDesc(0)
    snapshot = host_snapshot(guest.name)

    # check mode on a new VM: reports the change, touches nothing
    net = pod_module(podnet, 'vm_network', manifest, vm=guest.name, name='default', check_mode=True, diff=True)
    iface = pod_module(podnet, 'vm_interface', manifest, vm=guest.name, name='default', check_mode=True, diff=True)
    assert net['changed'] and iface['changed']
    assert host_snapshot(guest.name) == snapshot
    assert guest.domain.XMLDesc(0) == xml_before
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', guest.name), 'networks'))

    net, iface = apply(podnet, manifest, guest.name, guest.name)
    assert net['changed'] and iface['changed']
    pod_ip = net['pod_interface']['ips'][0]
    guest.start()
    guest.wait_for(r'^VMNET-LEASE ', timeout=90)

    # second run: nothing to do, live domain included; the glue's programs are observed, not
    # attached anew (the same program ids)
    host_links = names.host_links(names.pod_netns('default', guest.name), 'eth0')
    glue_programs = tcx_programs(None, host_links)
    assert sorted(glue_programs) == sorted(host_links), glue_programs
    net, iface = apply(podnet, manifest, guest.name, guest.name)
    assert (net['changed'], net['actions'], iface['changed'], iface['actions']) == (False, [], False, [])
    assert tcx_programs(None, host_links) == glue_programs

    # check mode + diff on a change (link down): readable diff, nothing changed
    down = json.loads(json.dumps(manifest))
    down['spec']['template']['spec']['domain']['devices']['interfaces'][0]['state'] = 'down'
    pod = names.pod_netns('default', guest.name)
    snapshot, xml = host_snapshot(guest.name), guest.domain.XMLDesc(0)
    preview = pod_module(podnet, 'vm_interface', down, vm=guest.name, name='default', check_mode=True, diff=True)
    assert preview['changed'] is True
    assert preview['diff']['before']['domain_nic']['live']['link_state'] == 'up'
    assert preview['diff']['after']['domain_nic']['live']['link_state'] == 'down'
    assert preview['diff']['after']['domain_nic']['config']['link_state'] == 'down'
    assert preview['diff']['after']['pod']['k6t-eth0']['addresses'] == ['169.254.75.10/32']
    assert host_snapshot(guest.name) == snapshot and guest.domain.XMLDesc(0) == xml

    # link state applied live: the guest loses its carrier, the status says so, and back
    pod_module(podnet, 'vm_interface', down, vm=guest.name, name='default')
    guest.wait_for(r'^VMNET-CARRIER if=eth0 carrier=0', timeout=30)
    info = run_module('vm_interface_info', vm=guest.name, state_dir=podnet.state_dir)
    assert info['interfaces'] == [{
        'name': 'default', 'mac': net['pod_interface']['mac'], 'ipAddress': pod_ip.split('/')[0],
        'ipAddresses': [pod_ip.split('/')[0]], 'podInterfaceName': 'eth0', 'linkState': 'down',
        'queueCount': 1, 'infoSource': 'domain'}]
    pod_module(podnet, 'vm_interface', manifest, vm=guest.name, name='default')
    guest.wait_for(r'^VMNET-CARRIER if=eth0 carrier=1', timeout=30)

    # drift: a piece deleted by hand is repaired and reported
    netns_run(pod, 'ip', 'link', 'del', 'k6t-eth0')
    repaired = pod_module(podnet, 'vm_interface', manifest, vm=guest.name, name='default')
    assert 'repair k6t-eth0' in repaired['actions'], repaired
    again = pod_module(podnet, 'vm_interface', manifest, vm=guest.name, name='default')
    assert again['changed'] is False, again

    # absent twice leaves nothing behind
    for _attempt in range(2):
        apply(podnet, manifest, guest.name, guest.name, state='absent')
    net, iface = apply(podnet, manifest, guest.name, guest.name, state='absent')
    assert (net['changed'], iface['changed']) == (False, False)
    assert_nothing_left(podnet, guest.name, pod_ip)
    assert 'ua-default' not in guest.domain.XMLDesc(0)


def test_missing_domain_is_a_clear_error_and_changes_nothing(podnet):
    manifest = DIALECTS['kubevirt-v1-vm']('vmntnodomain')
    pod_module(podnet, 'vm_network', manifest, vm='vmntnodomain', name='default')
    pod = names.pod_netns('default', 'vmntnodomain')
    before = ip_json('-n', pod, 'link')
    result = pod_module(podnet, 'vm_interface', manifest, vm='vmntnodomain', name='default')
    assert result['failed'] and 'libvirt domain "vmntnodomain" not found' in result['msg']
    assert ip_json('-n', pod, 'link') == before
    pod_module(podnet, 'vm_network', manifest, vm='vmntnodomain', name='default', state='absent')
