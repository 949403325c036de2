# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A whole VM in one run: what vm_spec, vm_network and vm_interface do piece by piece (and
the vm role strings together), in one process with one libvirt connection.

Order (the vm role's): admission (all errors at once), then the checks that need the host
but change nothing (the bindings are supported, the domain exists, every network to attach
passes its NAD, policy and plugin checks); then, holding the VM's lock, the interfaces that
go are unplugged (interfaces vmnet bound that the manifest no longer lists, then those whose
``state`` is ``absent``, in reverse spec order), the networks no remaining interface uses are
detached (reverse order), the others attached (spec order), every remaining interface is
applied (spec order), and the status is read as a VMI's ``status.interfaces``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import interface, names, status
from ansible_collections.vmnet.networks.plugins.module_utils import pod as pods
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain
from ansible_collections.vmnet.networks.plugins.module_utils.spec import describe, normalize, text

DEFAULT_NAMESPACE = 'default'


class AdmissionError(VmnetError):
    """The manifest failed admission; ``errors`` has vm_spec's shape ({field, message})."""

    def __init__(self, errors):
        VmnetError.__init__(self, describe(errors), field=errors[0]['field'] or 'manifest')
        self.errors = errors


class Host(object):
    """The host-wide settings of a run: where pods, CNI, NADs and libvirt are, and the DNS
    the guests get (the pod options of vm_network and vm_interface)."""

    def __init__(self, state_dir=None, cni_conf_dir=None, cni_bin_dirs=None, node_netns=None, nad_dir=None,
                 nad_policy_file=None, nad_policy=None, sriov_pools_file=None, uri='qemu:///system',
                 dns=((), ())):
        self.pod_options = dict(state_dir=state_dir, cni_conf_dir=cni_conf_dir, cni_bin_dirs=cni_bin_dirs,
                                node_netns=node_netns, nad_dir=nad_dir, nad_policy_file=nad_policy_file,
                                nad_policy_narrow=nad_policy, sriov_pools_file=sriov_pools_file)
        self.uri = uri
        self.dns = (list(dns[0]), list(dns[1]))

    def pod(self, spec, permit_slirp_interface):
        options = dict((k, v) for k, v in self.pod_options.items() if v is not None)
        return pods.Pod(spec.get('name'), namespace=spec.get('namespace') or DEFAULT_NAMESPACE,
                        permit_slirp_interface=permit_slirp_interface, **options)


def admit(manifest, switches):
    """The normalised spec of ``manifest`` (a mapping, or YAML/JSON text) under the cluster
    ``switches``; raises AdmissionError with every error. The VM must be named."""
    document, errors = text.load(manifest)
    if not errors:
        spec, errors = normalize(document, switches)
    if errors:
        raise AdmissionError(errors)
    if not spec.get('name'):
        raise AdmissionError([{'field': 'metadata.name', 'message': 'the manifest names no VM (metadata.name)'}])
    return spec


def plan(spec, pod, state):
    """What a run does, from the spec and the pod's records (pure but for reading records):
    ``keep`` (interfaces to apply, spec order), ``drop`` (to unplug: gone from the manifest,
    then spec ``state: absent`` ones in reverse spec order), ``attach`` (networks, spec order)
    and ``detach`` (network names, reverse order; those gone from the manifest first)."""
    listed = set(i['name'] for i in spec['interfaces'])
    keep = [] if state == 'absent' else [i for i in spec['interfaces'] if i['state'] != 'absent']
    kept = set(i['name'] for i in keep)
    gone = []
    for name in sorted(pod.state.names('interfaces'), reverse=True):
        record = pod.state.read('interfaces', name)
        if record and name not in listed:
            gone.append({'name': name, 'binding': record['binding'], 'bindingPlugin': None, 'state': 'absent'})
    drop = gone + [i for i in reversed(spec['interfaces']) if i['name'] not in kept]
    used = set(i['network'] for i in keep)
    attach = [n for n in spec['networks'] if n['name'] in used]
    attached = set(n['name'] for n in attach)
    attached |= set(p['name'] for p in (pods.plugin_network(spec, i) for i in keep) if p)
    spec_names = set(n['name'] for n in spec['networks'])
    spec_names |= set(p['name'] for p in (pods.plugin_network(spec, i) for i in spec['interfaces']) if p)
    # a binding plugin's NAD (<network>.plugin) goes with its network; one left alone goes alone
    orphans = [n for n in sorted(pod.state.names('networks'), reverse=True) if n not in spec_names]
    detach = orphans + [n['name'] for n in reversed(spec['networks']) if n['name'] not in attached]
    return {'keep': keep, 'drop': drop, 'attach': attach, 'detach': detach}


def converge(host, spec, switches, state='present', domain_name=None, check_mode=False):
    """Make the networking of the VM of ``spec`` (admit's) match it (``state=present``) or
    remove it (``absent``); returns the VM's result: vm, namespace, domain, state, changed,
    actions, restart_required, interfaces (status), diff. Raises VmnetError, with nothing
    changed when a check fails before the first change."""
    pod = host.pod(spec, switches.get('permit_slirp_interface', False))
    domain_name = domain_name or names.default_domain(pod.vm_namespace, pod.vm)
    present = state == 'present'
    if present:
        for iface in spec['interfaces']:
            if iface['state'] != 'absent':
                interface.binding_of(iface, spec)
    try:
        domain = libvirt_domain.find_domain(host.uri, domain_name, required=present)
    except libvirt_domain.DomainNotFound:
        raise VmnetError('the libvirt domain %s does not exist at %s; define it first (nothing was changed)'
                         % (domain_name, host.uri), field='domain')
    try:
        for iface in spec['interfaces'] if present else []:
            if iface['state'] != 'absent':
                interface.check_domain(iface, domain, interface.binding_of(iface, spec))
        with pod:
            steps = plan(spec, pod, state)
            for network in steps['attach']:
                pod.check(network, pods.network_interface(spec, network['name']))
            result = _apply(host, pod, spec, domain, steps, check_mode)
            result['interfaces'] = status.interfaces(pod, domain) if present else []
    finally:
        if domain is not None:
            domain.close()
    result.update(vm=pod.vm, namespace=pod.vm_namespace, domain=domain_name, state=state)
    return result


def _apply(host, pod, spec, domain, steps, check_mode):
    actions, before, after = [], {'networks': {}, 'interfaces': {}}, {'networks': {}, 'interfaces': {}}
    restart = False
    with interface.sriov_host(pod, steps['drop'] + steps['keep'], host.uri):
        for iface in steps['drop']:
            done = interface.remove(pod, iface, domain, check_mode, spec=spec)
            restart = restart or done['restart_required']
            _note(actions, before, after, 'interfaces', iface['name'], done['actions'],
                  done['diff']['before'], done['diff']['after'])
        for name in steps['detach']:
            if check_mode and _bound(pod, name):
                # its interfaces are unplugged by this run, which check mode only predicts
                _note(actions, before, after, 'networks', name, ['detach once its interfaces are gone'],
                      pods.attachment_summary(pod.attachment(name)), {})
                continue
            done, was = pods.detach(pod, spec, name, check_mode)
            _note(actions, before, after, 'networks', name, done, pods.attachment_summary(was), {})
        pending = set()  # networks check mode only predicts: their interfaces are predicted too
        for network in steps['attach']:
            done, record, was = pods.attach(pod, spec, network, check_mode)
            if record is None:
                pending.add(network['name'])
            # check mode attaches nothing: the network as it would be, by name
            now = pods.attachment_summary(record) if record else {'network': network['name']}
            _note(actions, before, after, 'networks', network['name'], done, pods.attachment_summary(was), now)
        for iface in steps['keep']:
            if iface['network'] in pending and pod.state.read('interfaces', iface['name']) is None:
                done = interface.predicted(iface)
            else:
                done = interface.ensure(pod, spec, iface, domain, host.dns, check_mode)
            restart = restart or done['restart_required']
            _note(actions, before, after, 'interfaces', iface['name'], done['actions'],
                  done['diff']['before'], done['diff']['after'])
    return {'changed': bool(actions), 'actions': actions, 'restart_required': restart,
            'diff': {'before': before, 'after': after}}


def _bound(pod, network_name):
    """Whether an interface is bound to the network (check mode keeps what it would unplug)."""
    record = pod.attachment(network_name)
    return bool(record and pod.users(record['ifname']))


def _note(actions, before, after, kind, name, done, was, now):
    """Collect one step: its actions, prefixed with what they are about, and its diff."""
    actions.extend('%s %s: %s' % (kind[:-1], name, action) for action in done)
    if was or now:
        before[kind][name] = was
        after[kind][name] = now


def converge_many(host, requests, switches, check_mode=False, parallel=1):
    """Converge several VMs, each ``{'manifest', 'state', 'domain'}``, at most ``parallel``
    at a time, each in a process of its own (pods are independent; the host-wide pieces,
    IPAM and SR-IOV allocation, take their own locks). Returns one result per request, in
    order; a VM that failed has ``failed`` and ``msg`` (and ``errors`` for admission) and
    does not stop the others. Two requests for one VM are refused."""
    results, work = [None] * len(requests), []
    seen = {}
    for index, request in enumerate(requests):
        try:
            spec = admit(request['manifest'], switches)
            identity = (spec.get('namespace') or DEFAULT_NAMESPACE, spec['name'])
            if identity in seen:
                raise VmnetError('vms[%d]: VM %s/%s is also vms[%d]; list each VM once'
                                 % (index, identity[0], identity[1], seen[identity]), field='vms')
            seen[identity] = index
        except VmnetError as exc:
            results[index] = failure(exc, request)
            continue
        work.append((index, (host, spec, switches, request.get('state') or 'present', request.get('domain'),
                             check_mode)))
    if parallel > 1 and len(work) > 1:
        import multiprocessing  # here: the single-VM form, the usual run, needs none of it
        context = multiprocessing.get_context('fork')
        with context.Pool(min(parallel, len(work))) as workers:
            done = workers.map(_converge_one, [args for _index, args in work], chunksize=1)
    else:
        done = [_converge_one(args) for _index, args in work]
    for (index, _args), result in zip(work, done):
        results[index] = result
    return results


def _converge_one(args):
    host, spec, switches, state, domain_name, check_mode = args
    request = {'state': state, 'domain': domain_name}
    try:
        return converge(host, spec, switches, state, domain_name, check_mode)
    except Exception as exc:  # one VM's failure is its result; the others go on
        return failure(exc, request, spec)


def failure(exc, request, spec=None):
    """The result of a VM that failed: what it is, and why (``field`` and ``errors`` too when known)."""
    result = {'failed': True, 'changed': False, 'state': request.get('state') or 'present',
              'domain': request.get('domain'), 'msg': str(exc) if isinstance(exc, VmnetError)
              else '%s: %s' % (type(exc).__name__, exc)}
    if spec:
        result.update(vm=spec.get('name'), namespace=spec.get('namespace') or DEFAULT_NAMESPACE)
    if getattr(exc, 'field', None):
        result['field'] = exc.field
    if isinstance(exc, AdmissionError):
        result['errors'] = exc.errors
    return result
