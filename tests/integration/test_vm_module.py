# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vmnet.networks.vm: a whole VM in one module run, and many VMs in one task, for real.

The pod network and the NAD's bridge live in the test's node namespace; the domains are
TCG test domains (tools/guest); one is booted to prove the result carries traffic.
"""

import os
import re
import time

from modules import run_module
from podnet import ip_json, netns_run

import snapshot

from ansible_collections.vmnet.networks.plugins.module_utils import names

DNS = ['10.96.0.10']
SEARCH = ['default.svc.cluster.local']
RED_MAC = '02:00:00:0a:00:1a'
COUNTERS = re.compile(r'counter packets \d+ bytes \d+')


def manifest(name, red=True, ports=None):
    interfaces = [{'name': 'default', 'masquerade': {}, 'ports': ports or [{'port': 80}]}]
    networks = [{'name': 'default', 'pod': {}}]
    if red:
        interfaces.append({'name': 'red', 'bridge': {}, 'macAddress': RED_MAC})
        networks.append({'name': 'red', 'multus': {'networkName': 'br10-ipam'}})
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': interfaces}}, 'networks': networks}}}}


def vm_module(podnet, check_mode=False, diff=False, **args):
    for item in args.get('vms') or [{'manifest': args.get('manifest')}]:
        if isinstance(item['manifest'], dict):
            podnet.vms.add(item['manifest']['metadata']['name'])
    return run_module('vm', check_mode=check_mode, diff=diff, dns_servers=DNS, dns_search=SEARCH,
                      **podnet.pod_options(**args))


def write_br10(podnet):
    return podnet.write_nad('br10-ipam', {'cniVersion': '0.3.1', 'name': 'vmnt-br10', 'plugins': [
        {'type': 'bridge', 'bridge': 'br10',
         'ipam': {'type': 'host-local', 'subnet': '10.250.10.0/24', 'dataDir': podnet.ipam_dir}}]})


def take(podnet, guest, libvirt_conn):
    """The snapshot of what a run may change: the pod, the node, the state, the domain and this VM's
    host links; nft counters (the pod network's broadcasts) and the kernel's late route updates
    (link-local routes, linkdown flags) left out."""
    shot = snapshot.take(netns=[names.pod_netns('default', guest.name), podnet.node],
                         state_dirs=[podnet.state_dir, podnet.ipam_dir], domains=[guest.name], conn=libvirt_conn)
    for namespace in shot['namespaces'].values():
        namespace['nft'] = COUNTERS.sub('counter', namespace['nft'])
        # the kernel adds the local routes of new links' IPv6 link-local addresses a moment later, and
        # marks a bridge's routes linkdown a moment after its last port went
        namespace['routes'] = [r.replace('"flags": ["linkdown"]', '"flags": []') for r in namespace['routes']
                               if '"dst": "fe80:' not in r]
    # the host is shared with other tests: of it, what belongs to this VM (vmnet's links carry its alias)
    owned = names.owner_alias('default', guest.name, '')
    links = dict((n, l) for n, l in shot['host']['links'].items() if (l['alias'] or '').startswith(owned))
    shot['host'] = {'links': links, 'tc': dict((n, tc) for n, tc in shot['host']['tc'].items() if n in links)}
    shot['netns'] = [n for n in shot['netns'] if guest.name in n or n == podnet.node]
    shot['netns_processes'] = [p for p in shot['netns_processes'] if podnet.state_dir in p]
    return shot


def unchanged(before, after):
    differences = snapshot.diff(before, after)
    assert differences == [], '\n'.join(differences)


def domain_aliases(guest):
    return re.findall(r"<alias name='(ua-[^']+)'/>", guest.domain.XMLDesc(0))


def assert_nothing_left(podnet, name):
    assert not os.path.exists('/var/run/netns/' + names.pod_netns('default', name))
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', name)))
    owned = names.owner_alias('default', name, '')
    assert [l['ifname'] for l in ip_json('link') if (l.get('ifalias') or '').startswith(owned)] == []


def test_one_run_converges_check_diff_unplug_traffic_absent(podnet, make_domain, libvirt_conn):
    """Masquerade on the pod network and bridge on a NAD in one run; a no-op second run;
    check mode changes nothing; removing an interface from the manifest hot-unplugs it and
    detaches its network; the booted guest gets its lease and serves HTTP through the port
    forward; absent leaves nothing and is a no-op the second time."""
    write_br10(podnet)
    guest = make_domain('vmntvm')
    spec = manifest(guest.name)

    before = take(podnet, guest, libvirt_conn)
    predicted = vm_module(podnet, check_mode=True, diff=True, manifest=spec)
    assert predicted['changed'] and not predicted.get('failed'), predicted
    unchanged(before, take(podnet, guest, libvirt_conn))

    applied = vm_module(podnet, diff=True, manifest=spec)
    assert applied['changed'] and not applied.get('failed'), applied
    assert applied['diff']['before']['networks'] == {'default': {}, 'red': {}}
    assert sorted(applied['diff']['after']['interfaces']) == ['default', 'red']
    status = dict((i['name'], i) for i in applied['interfaces'])
    assert [i['name'] for i in applied['interfaces']] == ['default', 'red']
    assert status['red']['mac'] == RED_MAC and status['red']['podInterfaceName'] == names.secondary_pod_iface('red')
    assert status['default']['podInterfaceName'] == 'eth0'
    assert domain_aliases(guest) == ['ua-default', 'ua-red']
    # the check-mode run predicted what the real one did, network by network
    assert [a for a in predicted['actions'] if 'CNI ADD' in a] == [a for a in applied['actions'] if 'CNI ADD' in a]

    settled = take(podnet, guest, libvirt_conn)
    again = vm_module(podnet, diff=True, manifest=spec)
    assert (again['changed'], again['actions']) == (False, []), again
    assert again['diff']['before'] == again['diff']['after']
    assert again['interfaces'] == applied['interfaces']
    check = vm_module(podnet, check_mode=True, manifest=spec)
    assert (check['changed'], check['actions']) == (False, [])
    unchanged(settled, take(podnet, guest, libvirt_conn))

    # red leaves the manifest: check mode predicts the unplug and changes nothing; the run unplugs it
    smaller = manifest(guest.name, red=False)
    predicted = vm_module(podnet, check_mode=True, manifest=smaller)
    assert predicted['changed'] and any(a.startswith('interface red:') for a in predicted['actions']), predicted
    unchanged(settled, take(podnet, guest, libvirt_conn))
    unplugged = vm_module(podnet, manifest=smaller)
    assert unplugged['changed'] and not unplugged.get('failed'), unplugged
    assert [i['name'] for i in unplugged['interfaces']] == ['default']
    assert domain_aliases(guest) == ['ua-default']
    assert names.secondary_pod_iface('red') not in [l['ifname'] for l in ip_json(
        '-n', names.pod_netns('default', guest.name), 'link')]
    assert not os.listdir(os.path.join(podnet.ipam_dir, 'vmnt-br10')) or all(
        f.startswith(('last_reserved', 'lock')) for f in os.listdir(os.path.join(podnet.ipam_dir, 'vmnt-br10')))
    assert vm_module(podnet, manifest=smaller)['changed'] is False
    # red back, in check mode: predicted on the pod that exists, and nothing changed
    shrunk = take(podnet, guest, libvirt_conn)
    regrow = vm_module(podnet, check_mode=True, manifest=spec)
    assert regrow['changed'] and not regrow.get('failed'), regrow
    assert 'interface red: bind red (bridge) once the pod exists' in regrow['actions'], regrow['actions']
    unchanged(shrunk, take(podnet, guest, libvirt_conn))

    # the result carries traffic: the guest's lease, and HTTP through the masquerade port forward
    client, _client_ip = podnet.client()
    guest.start()
    lease = dict(f.split('=', 1) for f in guest.wait_for(r'^VMNET-LEASE .*$', timeout=90).group(0).split()[1:])
    assert (lease['ip'], lease['router'], lease['hostname']) == ('10.0.2.2', '10.0.2.1', guest.name)
    pod_ip = unplugged['interfaces'][0]['ipAddress']
    deadline = time.monotonic() + 30
    while True:
        reply = netns_run(client, 'python3', '-c', 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('
                          '"http://%s:80/", timeout=4).read().decode())' % pod_ip, check=False, timeout=20)
        if reply.stdout.strip() == 'hello-from-%s' % guest.name or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert reply.stdout.strip() == 'hello-from-%s' % guest.name, reply

    gone = vm_module(podnet, manifest=smaller, state='absent')
    assert gone['changed'] and gone['interfaces'] == [], gone
    assert domain_aliases(guest) == []
    assert_nothing_left(podnet, guest.name)
    assert vm_module(podnet, manifest=smaller, state='absent')['changed'] is False


def test_many_vms_one_task_with_a_bad_one(podnet, make_domain, libvirt_conn):
    """Three VMs and one whose manifest fails admission in one task, two at a time: the three
    converge, the task fails naming the bad one, and it changed nothing for it; a second run
    of the good ones is a no-op; absent removes all three. A missing domain is named too."""
    guests = [make_domain('vmntmany') for _index in range(3)]
    good = [{'manifest': manifest(g.name, red=False)} for g in guests]
    bad = {'manifest': {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': 'vmntbad'},
                        'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [
                            {'name': 'default', 'masquerade': {}, 'macAddress': 'de:ad:00:00:be'}]}},
                            'networks': [{'name': 'default', 'pod': {}}]}}}}}
    missing = {'manifest': manifest('vmntnodomain' + guests[0].name[-6:], red=False)}
    before = snapshot.take(state_dirs=[podnet.state_dir])

    result = vm_module(podnet, vms=good[:2] + [bad, missing] + good[2:], parallel=2)
    assert result.get('failed'), result
    assert 'vms[2]' in result['msg'] and 'macAddress' in result['msg'], result['msg']
    assert 'vms[3] (default/%s)' % missing['manifest']['metadata']['name'] in result['msg'], result['msg']
    assert 'does not exist' in result['vms'][3]['msg'] and result['vms'][3]['field'] == 'domain'
    ok = [r for i, r in enumerate(result['vms']) if i not in (2, 3)]
    assert [r['vm'] for r in ok] == [g.name for g in guests]
    assert all(r['changed'] and not r.get('failed') and r['interfaces'][0]['name'] == 'default' for r in ok), ok
    assert result['vms'][2]['errors'][0]['field'].endswith('macAddress')
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', 'vmntbad')))
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', missing['manifest']['metadata']['name'])))
    for guest in guests:
        assert domain_aliases(guest) == ['ua-default']

    again = vm_module(podnet, vms=good, parallel=3)
    assert (again['changed'], [r['changed'] for r in again['vms']]) == (False, [False] * 3), again

    gone = vm_module(podnet, vms=[dict(g, state='absent') for g in good])
    assert gone['changed'] and not gone.get('failed'), gone
    for guest in guests:
        assert_nothing_left(podnet, guest.name)
    assert snapshot.diff(before['files'], snapshot.take(state_dirs=[podnet.state_dir])['files']) == []


def test_bad_input_names_the_field_and_changes_nothing(podnet, make_domain, libvirt_conn):
    guest = make_domain('vmntvmbad')
    before = take(podnet, guest, libvirt_conn)
    bad_mac = manifest(guest.name, red=False)
    bad_mac['spec']['template']['spec']['domain']['devices']['interfaces'][0]['macAddress'] = 'nope'
    failed = vm_module(podnet, manifest=bad_mac)
    assert failed['failed'] and failed['field'].endswith('interfaces[0].macAddress'), failed
    # a NAD that does not exist: refused before the pod network is attached
    failed = vm_module(podnet, manifest=manifest(guest.name))
    assert failed['failed'] and 'red' in failed['msg'] and failed['field'] == 'networks', failed
    failed = vm_module(podnet, manifest='kind: [', parallel=0)
    assert failed['failed'] and 'parallel' in failed['msg']
    failed = vm_module(podnet, manifest='kind: [')
    assert failed['failed'] and failed['field'] == 'manifest', failed
    unchanged(before, take(podnet, guest, libvirt_conn))
