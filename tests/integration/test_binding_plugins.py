# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A binding plugin with ``domainAttachmentType: managedTap`` on a secondary network, with a
real guest: the tap on the in-pod bridge to the pod NIC carries the guest's L2 frames (the
guest has a static address: no IPAM, no DHCP from the pod), and the binding is undone on
``absent``. The client is a namespace on the NAD's own bridge, in the test's node."""

import os

from podnet import ip_json, pod_module
from test_multus import console_line, http_get, reachable

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.spec import normalize

# the plugin's NAD runs in the pod as Multus runs it for KubeVirt: after the secondary
# network, as net2
PLUGINS = {'mytap': {'domainAttachmentType': 'managedTap', 'networkAttachmentDefinition': 'vmnt-plugins/tap-cni'}}
GUEST_IP = '10.250.12.20'
CLIENT_IP = '10.250.12.30'


def spec_of(name):
    manifest = {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
                'spec': {'template': {'spec': {
                    'domain': {'devices': {'interfaces': [{'name': 'blue', 'binding': {'name': 'mytap'}}]}},
                    'networks': [{'name': 'blue', 'multus': {'networkName': 'br12'}}]}}}}
    spec, errors = normalize(manifest, {'network_binding_plugins': PLUGINS})
    assert errors == [], errors
    return spec


def test_managed_tap_plugin_carries_l2_frames(podnet, make_domain):
    br12 = podnet.write_nad('br12', {'cniVersion': '1.0.0', 'name': 'vmnt-br12', 'type': 'bridge',
                                     'bridge': 'br12', 'ipam': {}})
    podnet.write_nad('tap-cni', {'cniVersion': '1.0.0', 'name': 'vmnt-br13', 'type': 'bridge', 'bridge': 'br13',
                                 'ipam': {}}, namespace='vmnt-plugins')
    guest = make_domain('vmnttap', cmdline='vmnet.static=eth0:%s/24' % GUEST_IP)
    spec = spec_of(guest.name)
    net = pod_module(podnet, 'vm_network', spec, vm=guest.name, name='blue')
    iface = pod_module(podnet, 'vm_interface', spec, vm=guest.name, name='blue')
    assert not net.get('failed') and not iface.get('failed'), (net, iface)
    assert [a for a in net['actions'] if a.startswith('CNI ADD')] == [
        'CNI ADD vmnt-br12 (%s) as %s' % (os.path.join(podnet.nad_dir, 'default', 'br12.yaml'), names.secondary_pod_iface('blue')),
        'CNI ADD vmnt-br13 (%s) as net2' % os.path.join(podnet.nad_dir, 'vmnt-plugins', 'tap-cni.yaml')]
    pod_iface = names.secondary_pod_iface('blue')
    # the bridge binding's pieces, without the fake address and without DHCP
    links = dict((l['ifname'], l) for l in ip_json('-d', '-n', net['netns'], 'addr'))
    assert 'net2' in links      # the plugin's CNI ran in the pod
    bridge = names.bridge_name(pod_iface)
    assert links[bridge]['addr_info'] == [] or all(a['family'] == 'inet6' for a in links[bridge]['addr_info'])
    assert links[names.renamed_nic(pod_iface)]['master'] == bridge
    assert links[names.pod_tap(pod_iface)]['master'] == bridge
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', guest.name), 'dnsmasq.conf'))
    assert iface['interface']['mac'] == net['pod_interface']['mac'] and 'ipAddress' not in iface['interface']
    again = pod_module(podnet, 'vm_interface', spec, vm=guest.name, name='blue')
    assert (again['changed'], again['actions']) == (False, []), again
    again = pod_module(podnet, 'vm_network', spec, vm=guest.name, name='blue')
    assert (again['changed'], again['actions']) == (False, []), again

    guest.start()
    console_line(guest, r'^VMNET-STATIC if=eth0 ip=%s/24$' % GUEST_IP.replace('.', r'\.'))
    client, _ip = podnet.client('blue', br12, address=CLIENT_IP + '/24')
    assert reachable(client, GUEST_IP, tries=10)
    assert http_get(client, GUEST_IP) == 'hello-from-vmnet-guest'
    guest.domain.destroy()

    for _run in range(2):
        iface = pod_module(podnet, 'vm_interface', spec, vm=guest.name, name='blue', state='absent')
        net = pod_module(podnet, 'vm_network', spec, vm=guest.name, name='blue', state='absent')
        assert not net.get('failed') and not iface.get('failed'), (net, iface)
    assert not iface['changed'] and not net['changed']
    assert not os.path.exists(os.path.join(podnet.state_dir, names.pod_id('default', guest.name)))
    assert [l['ifname'] for l in ip_json('link') if (l.get('ifalias') or '').startswith('vmnet:%s/' % guest.name)] == []
