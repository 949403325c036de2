# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``vm`` role as users run it: ansible-playbook with the role on a booted guest, through
its public interface only (its variables, ``vmnet_vm_interfaces``, its README's promises), so
that a rewrite of its internals is held to the same behaviour.

One guest with two interfaces: ``default`` (masquerade on the pod network) and ``l2``
(bridge on a NetworkAttachmentDefinition with IPAM). Whole-host snapshots (snapshot.py)
prove that check mode and a refused manifest change nothing, and that ``state: absent``
leaves the host as it was before the VM.
"""

import json
import re
import time

from playbooks import run_playbook
from podnet import netns_run

import snapshot

from ansible_collections.vmnet.networks.plugins.module_utils import names

PLAYBOOK = """---
- name: The vm role, as a user's playbook runs it
  hosts: localhost
  gather_facts: false
  roles:
    - role: vmnet.networks.vm
  post_tasks:
    - name: Show the interfaces' status
      ansible.builtin.debug:
        msg: "VMNET-INTERFACES {{ vmnet_vm_interfaces | default(none) | to_json }}"
"""


def manifest(name, l2_state=None, bad=False):
    l2 = {'name': 'l2', 'bridge': {}, 'macAddress': '02:00:00:1e:00:02'}
    if l2_state:
        l2['state'] = l2_state
    default = {'name': 'default', 'masquerade': {}, 'ports': [{'port': 80}]}
    if bad:
        default['ports'] = [{'port': 70000}]
    return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
            'spec': {'template': {'spec': {
                'domain': {'devices': {'interfaces': [default, l2]}},
                'networks': [{'name': 'default', 'pod': {}}, {'name': 'l2', 'multus': {'networkName': 'l2'}}]}}}}


def interfaces_of(run):
    match = re.search(r'"msg": "VMNET-INTERFACES (.*)"$', run.output, re.MULTILINE)
    assert match, run.output
    return json.loads(json.loads('"%s"' % match.group(1)))


def leases(guest, *patterns, timeout=120):
    """The match of each pattern anywhere on the console, once all of them are there."""
    regexes = [re.compile(pattern, re.MULTILINE) for pattern in patterns]
    deadline = time.monotonic() + timeout
    while True:
        text = guest.console()
        found = [regex.search(text) for regex in regexes]
        if all(found):
            return found
        assert time.monotonic() < deadline, 'no %s within %d s:\n%s' % (
            [p for p, m in zip(patterns, found) if not m], timeout, text[-3000:])
        time.sleep(0.5)


def test_the_vm_role_as_users_run_it(podnet, make_domain, libvirt_conn, tmp_path):
    bridge = 'vmntl2' + podnet.node[-6:]
    podnet.write_nad('l2', {'cniVersion': '0.3.1', 'name': 'vmnt-l2', 'type': 'bridge', 'bridge': bridge,
                            'ipam': {'type': 'host-local', 'subnet': '10.250.12.0/24', 'dataDir': podnet.ipam_dir}})
    guest = make_domain('vmntrole')
    vm = guest.name
    pod = names.pod_netns('default', vm)
    playbook = tmp_path / 'vm.yml'
    playbook.write_text(PLAYBOOK)
    options = dict(('vmnet_pod_' + k, v) for k, v in podnet.pod_options().items())
    podnet.vms.add(vm)

    def role(spec, check=False, **extra):
        return run_playbook(str(playbook), dict(options, vmnet_vm_manifest=spec, **extra), check=check,
                            tmp_path=tmp_path)

    def shot():
        return snapshot.take(netns=[pod, podnet.node], state_dirs=[podnet.state_dir], domains=[vm], conn=libvirt_conn)

    def settled():
        """A snapshot once no IPv6 address is tentative (their link-local routes come after DAD)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
                netns_run(ns, 'ip', '-6', 'addr', 'show', 'tentative', check=False).stdout.strip()
                for ns in (podnet.node, client)):
            time.sleep(0.5)
        time.sleep(1)
        return shot()

    def unchanged(before, what, keep=()):
        changed = [line for line in snapshot.diff(before, shot()) if not any(name in line for name in keep)]
        assert changed == [], '%s changed the host:\n%s' % (what, '\n'.join(changed))

    client, _client_ip = podnet.client()
    original = settled()

    # check mode on a new VM: reports changes, touches nothing
    preview = role(manifest(vm), check=True)
    assert preview.rc == 0 and preview.changed > 0, preview.output
    unchanged(original, 'check mode on a new VM')

    # a bad manifest: refused naming the field, nothing changed
    refused = role(manifest(vm, bad=True))
    assert refused.rc != 0 and 'interfaces[0].ports[0].port: Port field must be in range' in refused.output, refused.output
    unchanged(original, 'a refused manifest')

    # apply, then the guest gets both addresses and answers through NAT
    first = role(manifest(vm))
    assert first.rc == 0 and first.changed > 0, first.output
    status = dict((i['name'], i) for i in interfaces_of(first))
    assert sorted(status) == ['default', 'l2'], status
    assert status['l2']['mac'] == '02:00:00:1e:00:02'
    guest.start()
    # the two leases come in either order
    _default_lease, l2_lease = leases(guest, r'^VMNET-LEASE if=eth\d .*ip=10\.0\.2\.2 ',
                                      r'^VMNET-LEASE if=eth\d mac=02:00:00:1e:00:02 .*ip=(10\.250\.12\.\d+) ')
    assert l2_lease.group(1) == status['l2']['ipAddress'], (l2_lease.group(0), status)
    pod_ip = status['default']['ipAddress']
    page = netns_run(client, 'python3', '-c', 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('
                     '"http://%s:80/", timeout=5).read().decode())' % pod_ip, check=False, timeout=20)
    assert page.stdout.strip() == 'hello-from-%s' % vm, page.stderr

    # the second run changes nothing, live domain included
    again = role(manifest(vm))
    assert again.rc == 0 and again.changed == 0, again.output
    applied = settled()

    # check mode of a hot-unplug: nothing changes
    preview = role(manifest(vm, l2_state='absent'), check=True)
    assert preview.rc == 0 and preview.changed > 0, preview.output
    unchanged(applied, 'check mode of a hot-unplug')

    # hot-unplug of l2 via the manifest: the guest loses the NIC, its network leaves the pod,
    # default still answers; twice is a no-op
    l2_pod_iface = [link for link in json.loads(netns_run(pod, 'ip', '-j', 'link').stdout)
                    if link['ifname'] not in ('lo', 'eth0', 'k6t-eth0', 'tap0') and not link['ifname'].startswith('k6t-')]
    assert l2_pod_iface, 'no pod interface of l2'
    unplug = role(manifest(vm, l2_state='absent'))
    assert unplug.rc == 0 and unplug.changed > 0, unplug.output
    assert [i['name'] for i in interfaces_of(unplug)] == ['default']
    guest.wait_for(r'^VMNET-NIC-GONE if=eth\d$', timeout=60)
    assert "<alias name='ua-l2'/>" not in guest.domain.XMLDesc(0)
    assert "<alias name='ua-l2'/>" not in guest.domain.XMLDesc(2)
    left = [link['ifname'] for link in json.loads(netns_run(pod, 'ip', '-j', 'link').stdout)]
    assert not [link for link in l2_pod_iface if link['ifname'] in left], left   # the network detached (CNI DEL)
    page = netns_run(client, 'python3', '-c', 'import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('
                     '"http://%s:80/", timeout=5).read().decode())' % pod_ip, check=False, timeout=20)
    assert page.stdout.strip() == 'hello-from-%s' % vm, page.stderr
    again = role(manifest(vm, l2_state='absent'))
    assert again.rc == 0 and again.changed == 0, again.output

    # the whole VM absent: the host as before the VM (the domain's NICs gone too); twice is a no-op
    gone = role(manifest(vm), vmnet_vm_state='absent')
    assert gone.rc == 0 and gone.changed > 0, gone.output
    guest.domain.destroy()
    # but the NAD's bridge on the node: the CNI bridge plugin makes it for the network and keeps
    # it on DEL (as on a Kubernetes node); it is not the VM's
    unchanged(original, 'the VM with state absent (domain stopped)', keep=[bridge])
    again = role(manifest(vm), vmnet_vm_state='absent')
    assert again.rc == 0 and again.changed == 0, again.output


LIST_PLAYBOOK = """---
- name: The vm role's list entry point, as a user's playbook runs it
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Every VM of the list in one task
      ansible.builtin.include_role:
        name: vmnet.networks.vm
        tasks_from: list
    - name: Show the results
      ansible.builtin.debug:
        msg: "VMNET-RESULTS {{ vmnet_vm_list_results | to_json }}"
"""


def results_of(run):
    match = re.search(r'"msg": "VMNET-RESULTS (.*)"$', run.output, re.MULTILINE)
    assert match, run.output
    return json.loads(json.loads('"%s"' % match.group(1)))


def test_the_list_entry_point(podnet, make_domain, libvirt_conn, tmp_path):
    """Two VMs through ``tasks_from: list`` (vmnet_vm_list, vmnet_vm_parallel): one task
    converges both, ``vmnet_vm_list_results`` has each VM's status in order, a re-run changes
    nothing, a bad item is refused naming it with nothing changed, and absent removes both."""
    guests = [make_domain('vmntrlist') for _index in range(2)]
    podnet.vms.update([guests[0].name, 'x' + guests[1].name])
    playbook = tmp_path / 'list.yml'
    playbook.write_text(LIST_PLAYBOOK)
    options = dict(('vmnet_pod_' + k, v) for k, v in podnet.pod_options().items())

    def vm_list(items, **extra):
        return run_playbook(str(playbook), dict(options, vmnet_vm_list=items, vmnet_vm_parallel=2, **extra),
                            tmp_path=tmp_path)

    def spec(name):
        return {'apiVersion': 'kubevirt.io/v1', 'kind': 'VirtualMachine', 'metadata': {'name': name},
                'spec': {'template': {'spec': {'domain': {'devices': {'interfaces': [{'name': 'default', 'masquerade': {}}]}},
                                               'networks': [{'name': 'default', 'pod': {}}]}}}}

    def host():
        return snapshot.take(netns=[podnet.node], state_dirs=[podnet.state_dir], domains=[g.name for g in guests],
                             conn=libvirt_conn)

    # a client pod first: the pod network's bridge in the node (made by the CNI plugin on the
    # first ADD, kept on DEL, as on a Kubernetes node) is not the VMs'
    client, _client_ip = podnet.client()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
            netns_run(ns, 'ip', '-6', 'addr', 'show', 'tentative', check=False).stdout.strip() for ns in (podnet.node, client)):
        time.sleep(0.5)

    # the second VM is named apart from its domain, which its item gives
    items = [{'manifest': spec(guests[0].name)}, {'manifest': spec('x' + guests[1].name), 'domain': guests[1].name}]
    original = host()

    refused = vm_list(items + [{'manifest': spec('other'), 'state': 'gone'}])
    assert refused.rc != 0 and 'vmnet_vm_list' in refused.output and 'gone' in refused.output, refused.output
    assert snapshot.diff(original, host()) == []

    first = vm_list(items)
    assert first.rc == 0 and first.changed > 0, first.output
    results = results_of(first)
    assert [(r['vm'], r['domain'], r['changed']) for r in results] == [
        (guests[0].name, guests[0].name, True), ('x' + guests[1].name, guests[1].name, True)], results
    for result, guest in zip(results, guests):
        assert [i['name'] for i in result['interfaces']] == ['default'] and result['interfaces'][0]['ipAddress']
        assert "<alias name='ua-default'/>" in guest.domain.XMLDesc(0)

    again = vm_list(items)
    assert again.rc == 0 and again.changed == 0, again.output
    assert [r['changed'] for r in results_of(again)] == [False, False]

    gone = vm_list([dict(item, state='absent') for item in items])
    assert gone.rc == 0 and gone.changed > 0, gone.output
    assert [r['interfaces'] for r in results_of(gone)] == [[], []]
    for guest in guests:
        assert "<alias name='ua-default'/>" not in guest.domain.XMLDesc(0)
    assert snapshot.diff(original, host()) == []
