#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: vm_migration
short_description: One step of a VM's live migration between two libvirt hosts, network kept
description:
  - The steps the C(vmnet.networks.migrate) role runs, in this order; each runs on the host it names.
  - "O(step=source) (on the source host): refuses a VM KubeVirt would not migrate (SR-IOV, slirp, passt; the
    bridge binding on the pod network without the VMI annotation
    C(kubevirt.io/allow-pod-bridge-network-live-migration)), checks that the domain runs there, and returns the
    pod's binding records (RV(source)). Changes nothing."
  - "O(step=prepare) (on the target host): builds the VM's pod there from O(source): its networks attached (the
    pod network's address from the target's block), the bindings built with the guest's MAC (and, for the bridge
    binding on a secondary network, the guest's addresses: a stretched network keeps them), the guest's links
    in the pod down until the guest runs there. Refused when the target has the domain or a pod of the VM."
  - "O(step=migrate) (on the target host): migrates the domain live from O(source_uri) to O(uri) (libvirt's
    managed direct migration: live, persistent with the rewritten inactive definition, the source's definition
    undefined), the host-local parts of both definitions rewritten for the target (host taps, O(paths), serial
    logs appended to, the pod metadata's state dir). The moment the guest runs on the target its links in the
    pod go up; then QEMU announces the guest (C(announce-self))."
  - "O(step=abort) (on the target host): removes the target pod after a migration that did not switch; refused
    when the domain runs on the target."
  - "O(step=cleanup) (on the source host): removes the source pod (bindings, DHCP, networks with CNI DEL so IPAM
    releases the addresses, namespace, state); refused while the domain runs on the source."
  - "O(step=announce) (on the target host): QEMU announces the guest once more, after the source pod is gone (a
    bridge on the source may have held the guest's MAC until then)."
version_added: 0.2.0
author:
  - vmnet.networks contributors (@vmnet)
extends_documentation_fragment:
  - vmnet.networks.pod
  - vmnet.networks.pod.host
attributes:
  check_mode:
    support: full
    description: O(step=source) runs (it changes nothing); the other steps report what they would do and change nothing.
  diff_mode:
    support: none
    description: The steps return their actions, no diff.
  platform:
    platforms: linux
    support: full
    description: Runs as root on the libvirt hosts (source and target).
options:
  step:
    description: The step (see the description).
    type: str
    required: true
    choices: [source, prepare, migrate, abort, cleanup, announce]
  manifest:
    description:
      - The VM manifest (mapping or YAML/JSON text) whose annotations (C(metadata.annotations), a
        VirtualMachine's C(spec.template.metadata.annotations)) the rules read. Used by O(step=source).
    type: raw
  domain:
    description: The libvirt domain; default the VM's name (C(<namespace>_<name>) outside C(default)).
    type: str
  uri:
    description: libvirt URI of this host's daemon (the source for O(step=source)/O(step=cleanup), the target otherwise).
    type: str
    default: qemu:///system
  source_uri:
    description: libvirt URI of the source's daemon as the target reaches it (C(qemu+ssh://src/system), say). Required by O(step=migrate).
    type: str
  migrate_uri:
    description: Where the source QEMU sends the memory (C(tcp://<target address>)); default libvirt's (the target's hostname).
    type: str
  listen_address:
    description: The address the incoming QEMU listens on; default libvirt's (all).
    type: str
  timeout:
    description: Seconds after which a migration that has not switched is aborted (the guest stays on the source).
    type: int
    default: 300
  paths:
    description: Files of the domain (disk sources, serial sources and logs, kernel, initrd) to replace on the target, old path to new.
    type: dict
    default: {}
  source:
    description: RV(source) of O(step=source). Required by O(step=prepare).
    type: dict
  resolv_conf:
    description: The target's resolver configuration, whose servers and search domains the target pod's DHCP serves (as M(vmnet.networks.vm_interface) does).
    type: path
    default: /etc/resolv.conf
notes:
  - Needs libvirt-python (and its C(libvirt_qemu) for the announcement) and pyroute2 on the hosts.
requirements: [libvirt-python, pyroute2]
'''

EXAMPLES = r'''
- name: The source's side (rules, records)
  vmnet.networks.vm_migration:
    step: source
    spec: "{{ spec }}"
    manifest: "{{ manifest }}"
  delegate_to: hv1
  register: src

- name: The target pod, links down
  vmnet.networks.vm_migration:
    step: prepare
    spec: "{{ spec }}"
    source: "{{ src.source }}"
  delegate_to: hv2

- name: Migrate
  vmnet.networks.vm_migration:
    step: migrate
    spec: "{{ spec }}"
    source_uri: qemu+ssh://hv1/system
    migrate_uri: tcp://hv2.example.net
  delegate_to: hv2
'''

RETURN = r'''
actions:
  description: What the step did (or would do in check mode).
  returned: always
  type: list
  elements: str
  sample: ["CNI ADD vmnet (/etc/vmnet/cni/net.d/10-vmnet.conflist) as eth0", "set tap0 down"]
source:
  description: The source pod's binding records, for O(step=prepare).
  returned: O(step=source)
  type: dict
switched:
  description: Whether the guest runs on the target (O(step=migrate)); also returned when the step failed.
  returned: O(step=migrate)
  type: bool
  sample: true
switched_at:
  description: When the guest started to run on the target (seconds since the epoch, the target's clock); null before.
  returned: O(step=migrate)
  type: float
  sample: 1795780312.41
seconds:
  description: Seconds from the start of the migration to the switch (C(switch)) and to libvirt's return (C(total)).
  returned: O(step=migrate)
  type: dict
  sample: {switch: 0.62, total: 1.81}
job:
  description: The completed job's figures as libvirt reports them (C(virsh domjobinfo --completed)), milliseconds and bytes.
  returned: O(step=migrate), when switched
  type: dict
  sample: {time_elapsed: 640, downtime: 41, memory_total: 71385088}
taps:
  description: The host taps renamed in the domain, source name to target name.
  returned: O(step=migrate)
  type: dict
'''

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.vmnet.networks.plugins.module_utils import migration, migration_pod, names
from ansible_collections.vmnet.networks.plugins.module_utils import module as common
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp, libvirt_migration


def main():
    argument_spec = dict(common.POD_ARGUMENT_SPEC,
                         step=dict(type='str', required=True, choices=['source', 'prepare', 'migrate', 'abort', 'cleanup', 'announce']),
                         manifest=dict(type='raw'),
                         domain=dict(type='str'),
                         uri=dict(type='str', default='qemu:///system'),
                         source_uri=dict(type='str'),
                         migrate_uri=dict(type='str'),
                         listen_address=dict(type='str'),
                         timeout=dict(type='int', default=300),
                         paths=dict(type='dict', default={}),
                         source=dict(type='dict'),
                         resolv_conf=dict(type='path', default='/etc/resolv.conf'))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[('step', 'migrate', ['source_uri']), ('step', 'prepare', ['source'])])
    common.require_pyroute2(module)
    if not libvirt_migration.HAS_LIBVIRT:
        module.fail_json(msg=missing_required_lib('libvirt-python'))
    params = module.params
    spec = common.load_spec(module)
    pod = common.pod(module, spec)
    domain = params['domain'] or names.default_domain(pod.vm_namespace, pod.vm)
    step = params['step']

    def work():
        if step == 'source':
            migration.check(spec, migration.annotations(params['manifest']))
            if libvirt_migration.domain_state(params['uri'], domain) != 'running':
                raise VmnetError('libvirt domain "%s" does not run on this host (%s): nothing to migrate'
                                 % (domain, params['uri']), field='domain')
            with pod:
                return dict(changed=False, actions=[], source=migration_pod.export(pod))
        if step == 'prepare':
            return prepare()
        if step == 'migrate':
            return migrate()
        if step == 'announce':
            if not module.check_mode:
                libvirt_migration.announce(params['uri'], domain)
            return dict(changed=False, actions=['announce-self'])
        return remove()

    def prepare():
        if libvirt_migration.domain_state(params['uri'], domain) is not None:
            raise VmnetError('libvirt domain "%s" already exists on the target (%s)' % (domain, params['uri']),
                             field='domain')
        with pod:
            if module.check_mode:
                return dict(changed=True, actions=migration_pod.plan(pod, spec))
            actions = migration_pod.prepare(pod, spec, params['source'], dhcp.resolv_conf(params['resolv_conf']))[0]
        return dict(changed=True, actions=actions)

    def migrate():
        if module.check_mode:
            return dict(changed=True, actions=['migrate %s from %s' % (domain, params['source_uri'])], switched=False)
        with pod, libvirt_migration.Migration(params['source_uri'], params['uri'], domain) as mig:
            records = migration_pod.records_of(pod)
            if not records:
                raise VmnetError('no pod of VM "%s/%s" on the target: run step prepare first' % (pod.vm_namespace, pod.vm))
            live, persistent = mig.definitions()
            source_records = dict((r['interface'], r) for r in (params['source'] or {}).get('interfaces', {}).values()
                                  if r) or records
            taps = migration.tap_map(source_records, records)
            rewrite = dict(taps=taps, paths=params['paths'], state_dir=params['state_dir'])
            actions, switch = [], {}

            def on_switch():
                switch['at'] = time.time()
                actions.extend(migration_pod.set_guest_links(pod, records, up=True))

            switched, error, switch_seconds, total = mig.migrate(
                migration.rewrite(live, **rewrite), persistent and migration.rewrite(persistent, **rewrite),
                on_switch, params['migrate_uri'], params['listen_address'], params['timeout'])
            result = dict(changed=switched, switched=switched, switched_at=switch.get('at'), taps=taps, actions=actions,
                          seconds={'switch': switch_seconds and round(switch_seconds, 3), 'total': round(total, 3)})
            if not switched:
                module.fail_json(msg='the migration of %s did not happen, the guest runs on the source: %s'
                                 % (domain, error), **result)
            result['job'] = mig.job_stats()
            try:
                mig.announce()
                actions.append('announce-self')
            except VmnetError as exc:
                module.fail_json(msg='the guest runs on the target, but: %s' % exc, **result)
            if error:
                module.warn('libvirt reported after the switch: %s' % error)
            return result

    def remove():
        if libvirt_migration.domain_state(params['uri'], domain) == 'running':
            raise VmnetError('libvirt domain "%s" runs on this host (%s): not removing its pod (step %s)'
                             % (domain, params['uri'], step), field='domain')
        with pod:
            actions = migration_pod.remove(pod, spec, module.check_mode)
        return dict(changed=bool(actions), actions=actions)

    module.exit_json(**common.run(module, work))


if __name__ == '__main__':
    main()
