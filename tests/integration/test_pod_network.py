# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vm_network against the real kernel and the real CNI plugins, in namespaces made here."""

import ipaddress
import os

import snapshot
from podnet import ip_json, netns_run, pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink

SPEC = {'interfaces': [{'name': 'default', 'bridge': {}}], 'networks': [{'name': 'default', 'pod': {}}]}


def _reserved_ips(podnet):
    directory = os.path.join(podnet.ipam_dir, 'vmnt-pod-network')
    return sorted(n for n in os.listdir(directory) if n[0].isdigit()) if os.path.isdir(directory) else []


def test_attach_is_idempotent_and_reports_the_pod_interface(podnet):
    first = pod_module(podnet, 'vm_network', SPEC, name='default')
    assert first['changed'] is True, first
    assert first['netns'] == names.pod_netns('default', podnet.vm)
    iface = first['pod_interface']
    assert iface['name'] == 'eth0'
    assert ipaddress.ip_interface(iface['ips'][0]) in ipaddress.ip_network(podnet.subnet)
    assert iface['gateway'] == podnet.gateway
    assert iface['mtu'] == podnet.mtu
    links = {l['ifname']: l for l in ip_json('-n', names.pod_netns('default', podnet.vm), 'addr')}
    assert links['eth0']['address'] == iface['mac']
    assert links['eth0']['addr_info'][0]['local'] == iface['ips'][0].split('/')[0]

    second = pod_module(podnet, 'vm_network', SPEC, name='default')
    assert second['changed'] is False and second['actions'] == [], second
    assert second['pod_interface'] == iface
    assert not pod_module(podnet, 'vm_network', SPEC, name='default', state='absent').get('failed')


def test_check_mode_on_a_new_vm_touches_nothing(podnet):
    netns = names.pod_netns('default', podnet.vm)
    before = snapshot.take(netns=[netns, podnet.node], state_dirs=[podnet.state_dir, podnet.ipam_dir])
    result = pod_module(podnet, 'vm_network', SPEC, name='default', check_mode=True, diff=True)
    changed = snapshot.diff(before, snapshot.take(netns=[netns, podnet.node],
                                                  state_dirs=[podnet.state_dir, podnet.ipam_dir]))
    assert changed == [], '\n'.join(changed)
    assert result['changed'] is True
    assert 'CNI ADD' in ' '.join(result['actions'])
    assert not netlink.netns_exists(names.pod_netns('default', podnet.vm))
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', podnet.vm), 'networks'))
    assert _reserved_ips(podnet) == []


def test_drift_is_repaired(podnet):
    pod_module(podnet, 'vm_network', SPEC, name='default')
    netns_run(names.pod_netns('default', podnet.vm), 'ip', 'link', 'del', 'eth0')
    repaired = pod_module(podnet, 'vm_network', SPEC, name='default')
    assert repaired['changed'] is True
    assert any(a.startswith('repair eth0: pod interface missing') for a in repaired['actions']), repaired
    assert 'eth0' in {l['ifname'] for l in ip_json('-n', names.pod_netns('default', podnet.vm), 'link')}
    assert len(_reserved_ips(podnet)) == 1   # the old reservation was released by DEL
    assert not pod_module(podnet, 'vm_network', SPEC, name='default', state='absent').get('failed')


def test_absent_runs_del_and_removes_the_pod(podnet):
    pod_module(podnet, 'vm_network', SPEC, name='default')
    assert len(_reserved_ips(podnet)) == 1
    gone = pod_module(podnet, 'vm_network', SPEC, name='default', state='absent', diff=True)
    assert gone['changed'] is True
    assert gone['diff']['after'] == {}
    assert _reserved_ips(podnet) == []
    assert not netlink.netns_exists(names.pod_netns('default', podnet.vm))
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', podnet.vm)))
    assert podnet.bridge in {l['ifname'] for l in ip_json('-n', podnet.node, 'link')}
    again = pod_module(podnet, 'vm_network', SPEC, name='default', state='absent')
    assert again['changed'] is False


def test_errors_are_clear_and_change_nothing(podnet):
    unknown = pod_module(podnet, 'vm_network', SPEC, name='nope')
    assert unknown['failed'] and 'no network named "nope"' in unknown['msg']
    os.unlink(os.path.join(podnet.conf_dir, '10-test.conflist'))
    missing = pod_module(podnet, 'vm_network', SPEC, name='default')
    assert missing['failed'] and 'no CNI network configuration in %s' % podnet.conf_dir in missing['msg']
    invalid = pod_module(podnet, 'vm_network', {'interfaces': 'x'}, name='default')
    assert invalid['failed'] and 'invalid VM network spec' in invalid['msg']
    assert not netlink.netns_exists(names.pod_netns('default', podnet.vm))


def test_an_interface_before_its_network_is_a_clear_error_and_makes_no_pod(podnet, make_domain):
    vm = make_domain('vmntpn').name
    early = pod_module(podnet, 'vm_interface', SPEC, vm=vm, name='default', dns_servers=['10.96.0.10'])
    assert early['failed'] and 'attach its networks first (vm_network)' in early['msg'], early
    assert not netlink.netns_exists(names.pod_netns('default', vm))
