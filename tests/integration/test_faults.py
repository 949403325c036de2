# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A run killed at every known point of the pod and of the bindings (VMNET_FAULT, see
plugins/module_utils/faults.py): the partial state that point leaves exists, the next run
converges (and the one after it changes nothing), and ``state: absent`` leaves the host as
it was before the VM (a whole-host snapshot)."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

import snapshot
from modules import COLLECTIONS
from podnet import ip_json, netns_run, pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import faults, names

DNS = ['10.96.0.10']


def manifest(name, binding):
    iface = {'name': 'default', binding: {}}
    if binding == 'slirp':   # slirp is of the older shapes (discontinued in KubeVirt v1.3)
        return {'apiVersion': 'kubevirt.io/v1alpha2', 'kind': 'VirtualMachineInstance', 'metadata': {'name': name},
                'spec': {'domain': {'devices': {'interfaces': [iface]}}, 'networks': [{'name': 'default', 'pod': {}}]}}
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [iface]}},
                                           'networks': [{'name': 'default', 'pod': {}}]}}}}


def domain_has_nic(guest, binding):
    """The interface's device in the persistent definition: a NIC, or slirp's QEMU arguments."""
    xml = guest.domain.XMLDesc(2)
    return ('id=ua-default,net=' in xml) if binding == 'slirp' else ("<alias name='ua-default'/>" in xml)


def killed_run(podnet, module, spec, vm, point, **extra):
    """Run ``module`` with VMNET_FAULT=point: it must die by SIGKILL at that point."""
    args = dict(spec=spec, vm=vm, name='default', _ansible_check_mode=False, _ansible_diff=False,
                **podnet.pod_options(**extra))
    path = os.path.join(podnet.state_dir + '-args.json')
    with open(path, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    proc = subprocess.run([sys.executable, '-m', 'ansible_collections.vmnet.networks.plugins.modules.' + module, path],
                          env=dict(os.environ, PYTHONPATH=COLLECTIONS, **{faults.ENV: point}), cwd='/',
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                          check=False)
    os.unlink(path)
    assert proc.returncode == -signal.SIGKILL, 'not killed at %s (rc %d): %s %s' % (
        point, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])


def _pod_links(netns):
    try:
        return dict((l['ifname'], l) for l in ip_json('-n', netns, '-d', 'link'))
    except ValueError:
        return {}


def _host_owned(vm):
    prefix = names.owner_alias('default', vm, '')
    return sorted(l['ifname'] for l in ip_json('link') if (l.get('ifalias') or '').startswith(prefix))


# What each point leaves, seen from outside: (netns, vm, podnet, guest) -> None (asserts)
def _netns_only(ns, vm, podnet, guest):
    assert os.path.exists('/run/netns/' + ns)
    assert 'eth0' not in _pod_links(ns)


def _cni_added(ns, vm, podnet, guest):
    assert 'eth0' in _pod_links(ns)
    with open(os.path.join(podnet.state_dir, names.pod_id('default', vm), 'networks', 'default.json')) as handle:
        assert json.load(handle)['result'] is None   # the ADD ran, its result was never recorded


def _bridge_made(ns, vm, podnet, guest):
    links = _pod_links(ns)
    assert names.bridge_name('eth0') in links and links['eth0']['linkinfo']['info_kind'] == 'veth', links


def _nic_renamed(ns, vm, podnet, guest):
    links = _pod_links(ns)
    assert links[names.renamed_nic('eth0')]['master'] == names.bridge_name('eth0')
    assert 'eth0' not in links and _host_owned(vm) == []


def _host_tap_only(ns, vm, podnet, guest):
    owned = _host_owned(vm)
    assert len(owned) == 1, owned   # the tap, not yet its veth


def _veth_made(ns, vm, podnet, guest):
    assert len(_host_owned(vm)) == 2
    assert names.pod_tap('eth0') in _pod_links(ns)


def _glue_whole(ns, vm, podnet, guest):
    assert len(_host_owned(vm)) == 2
    assert _pod_links(ns)[names.pod_tap('eth0')].get('master') == names.bridge_name('eth0')


def _placeholder_made(ns, vm, podnet, guest):
    assert _pod_links(ns)['eth0']['linkinfo']['info_kind'] in ('tun', 'dummy')


def _arp_ignore_set(ns, vm, podnet, guest):
    assert netns_run(ns, 'cat', '/proc/sys/net/ipv4/conf/all/arp_ignore').stdout.strip() == '1'


def _dnsmasq_running(ns, vm, podnet, guest):
    pids = subprocess.run(['ip', 'netns', 'pids', ns], stdout=subprocess.PIPE, universal_newlines=True,
                          check=True).stdout.split()
    assert [p for p in pids if 'dnsmasq' in snapshot.process(p)], pids
    assert "alias name='ua-default'" not in guest.domain.XMLDesc(2)


def _nic_defined(ns, vm, podnet, guest):
    assert domain_has_nic(guest, 'bridge')


def _slirp_args_defined(ns, vm, podnet, guest):
    assert domain_has_nic(guest, 'slirp')
    assert sorted(_pod_links(ns)) == ['eth0', 'lo'] and _host_owned(vm) == []   # slirp: QEMU's stack, no glue


def _masq_sysctl(ns, vm, podnet, guest):
    assert netns_run(ns, 'cat', '/proc/sys/net/ipv4/ip_forward').stdout.strip() == '1'
    assert 'vmnet' not in netns_run(ns, 'nft', 'list', 'tables').stdout


def _masq_nft(ns, vm, podnet, guest):
    assert netns_run(ns, 'nft', 'list', 'tables').stdout.strip()


def _masq_bridge(ns, vm, podnet, guest):
    assert names.bridge_name('eth0') in _pod_links(ns) and _host_owned(vm) == []


CASES = [
    ('bridge', 'vm_network', 'pod:netns', _netns_only),
    ('bridge', 'vm_network', 'pod:cni-add', _cni_added),
    ('bridge', 'vm_interface', 'bridge:bridge', _bridge_made),
    ('bridge', 'vm_interface', 'bridge:nic', _nic_renamed),
    ('bridge', 'vm_interface', 'glue:host-tap', _host_tap_only),
    ('bridge', 'vm_interface', 'glue:veth', _veth_made),
    ('bridge', 'vm_interface', 'bridge:make_glue', _glue_whole),
    ('bridge', 'vm_interface', 'bridge:placeholder', _placeholder_made),
    ('bridge', 'vm_interface', 'bridge:arp_ignore', _arp_ignore_set),
    ('bridge', 'vm_interface', 'dhcp:dnsmasq', _dnsmasq_running),
    ('bridge', 'vm_interface', 'domain:nic', _nic_defined),
    ('masquerade', 'vm_interface', 'masquerade:bridge', _masq_bridge),
    ('masquerade', 'vm_interface', 'masquerade:make_glue', _glue_whole),
    ('masquerade', 'vm_interface', 'masquerade:sysctl', _masq_sysctl),
    ('masquerade', 'vm_interface', 'masquerade:nftables', _masq_nft),
    ('masquerade', 'vm_interface', 'domain:nic', _nic_defined),
    ('slirp', 'vm_network', 'pod:cni-add', _cni_added),
    ('slirp', 'vm_interface', 'domain:nic', _slirp_args_defined),
]


@pytest.mark.parametrize('binding,module,point,left', CASES, ids=['%s-%s' % (c[0], c[2]) for c in CASES])
def test_killed_at_a_point_the_next_run_converges_and_absent_leaves_nothing(
        podnet, make_domain, libvirt_conn, binding, module, point, left):
    guest = make_domain('vmntfault')
    vm = guest.name
    spec = manifest(vm, binding)
    extra = {'permit_slirp_interface': True} if binding == 'slirp' else {}
    iface_extra = dict(extra, dns_servers=DNS)
    ns = names.pod_netns('default', vm)
    before = snapshot.take(netns=[ns], state_dirs=[podnet.state_dir], domains=[vm], conn=libvirt_conn)

    if module == 'vm_interface':
        assert not pod_module(podnet, 'vm_network', spec, vm=vm, name='default', **extra).get('failed')
    killed_run(podnet, module, spec, vm, point, **(iface_extra if module == 'vm_interface' else extra))
    left(ns, vm, podnet, guest)   # the partial state of that point exists

    steps = [('vm_network', extra), ('vm_interface', iface_extra)]
    for step, args in steps:
        result = pod_module(podnet, step, spec, vm=vm, name='default', **args)
        assert not result.get('failed') and result['changed'] == (step == module or step == 'vm_interface'), (
            point, step, result)
    for step, args in steps:
        again = pod_module(podnet, step, spec, vm=vm, name='default', **args)
        assert (again.get('failed'), again['changed'], again['actions']) == (None, False, []), (point, step, again)
    assert domain_has_nic(guest, binding)

    for step, args in reversed(steps):
        gone = pod_module(podnet, step, spec, vm=vm, name='default', state='absent', **args)
        assert not gone.get('failed'), (point, step, gone)
    after = snapshot.take(netns=[ns], state_dirs=[podnet.state_dir], domains=[vm], conn=libvirt_conn)
    changed = snapshot.diff(before, after)
    assert changed == [], '%s:\n%s' % (point, '\n'.join(changed))


# --- the way down: a run killed while removing ------------------------------------------

def _record(podnet, vm, kind, name):
    return os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', vm), kind, name + '.json'))


def _nic_unplugged(ns, vm, podnet, guest):
    assert not domain_has_nic(guest, 'bridge')
    assert len(_host_owned(vm)) == 2 and names.bridge_name('eth0') in _pod_links(ns)   # the pod side untouched
    _dnsmasq_running(ns, vm, podnet, guest)


def _glue_half_gone(ns, vm, podnet, guest):
    assert not domain_has_nic(guest, 'bridge')
    owned = _host_owned(vm)
    assert len(owned) == 1 and owned[0].startswith('vmtap'), owned   # its veth (and pod end) gone, the tap left
    links = _pod_links(ns)
    assert names.pod_tap('eth0') not in links and names.bridge_name('eth0') in links, links
    assert _record(podnet, vm, 'interfaces', 'default')


def _binding_undone(ns, vm, podnet, guest):
    links = _pod_links(ns)
    assert _host_owned(vm) == [] and names.bridge_name('eth0') not in links, links
    assert links['eth0']['linkinfo']['info_kind'] == 'veth'   # the pod NIC back under its name
    assert 'vmnet' not in netns_run(ns, 'nft', 'list', 'tables').stdout
    _dnsmasq_running(ns, vm, podnet, guest)   # still serving the interface's entry
    assert _record(podnet, vm, 'interfaces', 'default')


def _reserved(podnet):
    """The addresses host-local IPAM holds (a file named after each), any network."""
    return sorted(name for _root, _dirs, files in os.walk(podnet.ipam_dir) for name in files
                  if re.match(r'^[0-9a-f.:]+$', name))


def _cni_deleted(ns, vm, podnet, guest):
    assert os.path.exists('/run/netns/' + ns) and 'eth0' not in _pod_links(ns)
    assert _record(podnet, vm, 'networks', 'default') and _reserved(podnet) == []   # the DEL released the address


REMOVAL_CASES = [
    ('bridge', 'vm_interface', 'remove:domain-nic', _nic_unplugged),
    ('bridge', 'vm_interface', 'remove:glue-veth', _glue_half_gone),
    ('bridge', 'vm_interface', 'remove:binding', _binding_undone),
    ('bridge', 'vm_network', 'pod:cni-del', _cni_deleted),
    ('masquerade', 'vm_interface', 'remove:glue-veth', _glue_half_gone),
    ('masquerade', 'vm_interface', 'remove:binding', _binding_undone),
]


def _comparable(shot):
    """A snapshot without what a link made anew must differ in: its random MAC (veths, taps,
    bridges) and the IPv6 link-local address made of it, and the BPF programs attached anew
    (their ids, and the target's ifindex in their names); the nft counters, which count
    traffic, and dnsmasq's log, which grows."""
    shot = json.loads(json.dumps(shot))
    for files in shot['files'].values():
        for path in [p for p in files if p.endswith('/dnsmasq.log')]:
            del files[path]
    for space in [shot['host']] + list(shot['namespaces'].values()):
        space['nft'] = re.sub(r'counter packets \d+ bytes \d+', 'counter', space['nft'])
        for link in space['links'].values():
            link.pop('mac', None)
        space['addresses'] = [a for a in space['addresses'] if ' fe80:' not in a]
        space['routes'] = [r for r in space['routes'] if '"dst": "fe80:' not in r]
        space['tcx'] = dict((ifname, dict((where, [p.split('#')[0].rstrip('0123456789abcdef') for p in progs])
                                          for where, progs in hooks.items()))
                            for ifname, hooks in space['tcx'].items())
    return shot


@pytest.mark.parametrize('binding,module,point,left', REMOVAL_CASES, ids=['%s-%s' % (c[0], c[2]) for c in REMOVAL_CASES])
def test_absent_killed_at_a_point_is_finished_by_the_next_absent_and_present_rebuilds(
        podnet, make_domain, libvirt_conn, binding, module, point, left):
    guest = make_domain('vmntfault')
    vm = guest.name
    spec = manifest(vm, binding)
    steps = [('vm_network', {}), ('vm_interface', {'dns_servers': DNS})]
    ns = names.pod_netns('default', vm)

    def shot():
        return snapshot.take(netns=[ns], state_dirs=[podnet.state_dir], domains=[vm], conn=libvirt_conn)

    def run(step, args, state, changed):
        result = pod_module(podnet, step, spec, vm=vm, name='default', state=state, **args)
        assert not result.get('failed') and result['changed'] == changed, (point, step, state, result)

    clean = shot()
    for step, args in steps:
        run(step, args, 'present', True)
    if module == 'vm_network':   # the network goes once its interface is gone
        run('vm_interface', steps[1][1], 'absent', True)
    whole = shot()
    args = dict(steps)[module]
    killed_run(podnet, module, spec, vm, point, state='absent', **args)
    left(ns, vm, podnet, guest)   # the partial state of that point exists

    # present after a killed absent: made again, as an undisturbed run made it (a network
    # attached again gets the next address of its IPAM: compared for the interfaces only)
    run(module, args, 'present', True)
    run(module, args, 'present', False)
    if module == 'vm_interface':
        changed = snapshot.diff(_comparable(whole), _comparable(shot()))
        assert changed == [], '%s, present after:\n%s' % (point, '\n'.join(changed))
    killed_run(podnet, module, spec, vm, point, state='absent', **args)
    left(ns, vm, podnet, guest)

    # the next absent finishes the removal, the one after it has nothing left to do
    for step, args in reversed(steps[:1] if module == 'vm_network' else steps):
        run(step, args, 'absent', True)
        run(step, args, 'absent', False)
    changed = snapshot.diff(clean, shot())
    assert changed == [] and _reserved(podnet) == [], '%s, absent after:\n%s' % (point, '\n'.join(changed))
