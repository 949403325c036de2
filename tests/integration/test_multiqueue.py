# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virtio multiqueue end to end: a VM with 2 vCPUs and ``networkInterfaceMultiqueue`` gets
``<driver queues='2'/>`` on a multi-queue host tap (read back from the kernel: a tap
replaced by a single-queue one is drift, repaired), a non-virtio model gets neither, and
the guest, started on it, gets its lease and answers."""

from podnet import ip_json, netns_run, pod_module

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.host import glue, netlink

DNS = ['10.96.0.10']


def manifest(name, model=None):
    iface = {'name': 'default', 'bridge': {}}
    if model:
        iface['model'] = model
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {'domain': {'devices': {'networkInterfaceMultiqueue': True,
                                                                  'interfaces': [iface]}},
                                           'networks': [{'name': 'default', 'pod': {}}]}}}}


def host_tap(vm):
    return names.host_links(names.pod_netns('default', vm), names.PRIMARY_POD_IFACE)[0]


def multi_queue(tap):
    return ip_json('-d', 'link', 'show', tap)[0]['linkinfo']['info_data']['multi_queue']


def apply(podnet, spec, vm, state='present'):
    steps = [('vm_network', {}), ('vm_interface', {'dns_servers': DNS, 'diff': True})]
    results = [pod_module(podnet, module, spec, vm=vm, name='default', state=state, **extra)
               for module, extra in (reversed(steps) if state == 'absent' else steps)]
    assert not [r for r in results if r.get('failed')], results
    return results[-1] if state != 'absent' else results[0]


def test_two_vcpus_two_queues_on_a_multi_queue_tap_and_its_drift(podnet, make_domain):
    guest = make_domain('vmntmq', vcpus=2)
    vm = guest.name
    spec = manifest(vm)
    iface = apply(podnet, spec, vm)
    assert iface['diff']['after']['domain_nic']['config']['queues'] == 2, iface
    assert "queues='2'" in guest.domain.XMLDesc(2)
    tap = host_tap(vm)
    assert multi_queue(tap) is True

    # a single-queue tap in its place, whole otherwise (vmnet's alias, up, both redirects):
    # only the kernel's multi_queue flag tells it apart; drift, seen there and repaired
    veth = names.host_links(names.pod_netns('default', vm), names.PRIMARY_POD_IFACE)[1]
    with netlink.Namespace() as host:
        link = host.link(tap)
        host.delete(tap)
        host.add_tap(tap, link['mtu'], False, link['alias'])
        host.set_link(tap, state='up')
        host.drop_ingress(veth)
        glue.connect(host, tap, veth)
    assert multi_queue(tap) is False
    repaired = apply(podnet, spec, vm)
    assert repaired['actions'] == ['repair glue'], repaired
    assert multi_queue(tap) is True
    again = apply(podnet, spec, vm)
    assert (again['changed'], again['actions']) == (False, []), again

    guest.start()
    lease = guest.wait_for(r'^VMNET-LEASE if=eth0 .*$', timeout=120).group(0)
    address = lease.split(' ip=')[1].split()[0]
    client, _ip = podnet.client()
    assert netns_run(client, 'busybox', 'ping', '-c', '2', '-W', '3', address, check=False).returncode == 0
    apply(podnet, spec, vm, state='absent')


def test_a_non_virtio_model_gets_no_queues(podnet, make_domain):
    guest = make_domain('vmntmq', vcpus=2)
    vm = guest.name
    iface = apply(podnet, manifest(vm, model='e1000'), vm)
    assert iface['diff']['after']['domain_nic']['config']['queues'] is None, iface
    assert 'queues=' not in guest.domain.XMLDesc(2)
    assert multi_queue(host_tap(vm)) is False
    apply(podnet, manifest(vm, model='e1000'), vm, state='absent')
