# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's pod: its network namespace and the CNI attachments of its networks.

This is what the kubelet and Multus do for a virt-launcher pod: create the sandbox, run
the network's CNI configuration with the pod interface name, keep the result for CHECK
and DEL. A ``pod`` network runs the host's default CNI network; a ``multus`` network the
configuration of the NetworkAttachmentDefinition it names (local store), with the
interface's ``macAddress`` requested from the plugins as Multus requests it. A NAD of
sriov-cni runs no CNI (there is no sriov-cni here, and with a vfio-pci VF it would move
nothing into the pod): the attachment is recorded for the sriov binding, which allocates
the VF (bindings/sriov.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import faults, names, nad, nad_policy, sriov_pools
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni, netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.nad_store import LocalNadStore
from ansible_collections.vmnet.networks.plugins.module_utils.host.state import VmState
from ansible_collections.vmnet.networks.plugins.module_utils.spec import plugins


class Pod(object):
    """The pod of one VM; use as a context manager to hold the VM's lock."""

    def __init__(self, vm, state_dir=None, cni_conf_dir=cni.DEFAULT_CONF_DIR, cni_bin_dirs=None,
                 node_netns=None, nad_dir=None, sriov_pools_file=None, nad_policy_file=None, nad_policy_narrow=None,
                 namespace='default', permit_slirp_interface=False):
        # the VM's identity is (namespace, name), both checked as Kubernetes checks them
        self.vm_namespace, self.vm = names.check_vm_identity(namespace, vm, 'vm', 'namespace')
        self.netns = names.pod_netns(namespace, vm)
        self.state = VmState(state_dir, namespace, vm)
        self.cni_conf_dir = cni_conf_dir
        self.cni = cni.CniRuntime(cni_bin_dirs, node_netns)
        self.nads = LocalNadStore(nad_dir)
        # the sriov binding's VFs: their pools (sriov_pool), and the host they are on
        # (an sriov.Host; None: this host's, see bindings/sriov.py)
        self.sriov_pools_file = sriov_pools_file or sriov_pools.POOLS_PATH
        self.sriov_host = None
        # what the NADs' plugins may do (nad_policy.py): the operator's file, narrowed by a module option
        self.nad_policy_file = nad_policy_file or nad_policy.POLICY_PATH
        self.nad_policy_narrow = nad_policy_narrow
        # the operator's cluster switch this pod was made under: the boot hook validates the
        # recorded spec again under the same switch
        self.permit_slirp_interface = permit_slirp_interface

    def __enter__(self):
        self.state.lock()
        return self

    def __exit__(self, *exc):
        self.state.unlock()

    def settings(self):
        """The options this pod was made with, as ``Pod(vm, state_dir, **settings)`` takes them
        (its ``namespace`` included)."""
        return {'cni_conf_dir': self.cni_conf_dir, 'cni_bin_dirs': self.cni.bin_dirs,
                'node_netns': self.cni.node_netns, 'nad_dir': self.nads.nad_dir, 'namespace': self.vm_namespace,
                'permit_slirp_interface': self.permit_slirp_interface}

    @property
    def netns_path(self):
        return netlink.netns_path(self.netns)

    def exists(self):
        return netlink.netns_exists(self.netns)

    def namespace(self):
        """The pod's namespace, opened; a clear error when it does not exist (it is never made here)."""
        if not self.exists():
            raise VmnetError('network namespace %s of VM "%s" does not exist: attach its networks first (vm_network)'
                             % (self.netns, self.vm))
        return netlink.Namespace(self.netns)

    def network_config(self, network):
        """The CNI configuration list that backs a network, and where it came from."""
        if network['source'] == 'pod':
            return cni.default_network(self.cni_conf_dir)
        multus = network['multus']
        try:
            conflist, source = nad.network_config(self.nads, multus['namespace'], multus['networkName'])
        except VmnetError as exc:
            raise VmnetError('network "%s": %s' % (network['name'], exc), field='networks')
        if network.get('logicNetworkName'):
            # a binding plugin's NAD: Multus hands KubeVirt's cni-args to every plugin
            conflist = dict(conflist, plugins=[
                dict(plugin, args=dict(plugin.get('args') or {}, cni=dict(
                    (plugin.get('args') or {}).get('cni') or {}, logicNetworkName=network['logicNetworkName'])))
                for plugin in conflist['plugins']])
        return conflist, source

    def nad_policies(self):
        """The NAD policies a NAD must pass: the operator's, and the module's narrowing one."""
        operator = nad_policy.load(self.nad_policy_file)
        if not self.nad_policy_narrow:
            return [operator]
        return [operator, nad_policy.narrowed(operator, self.nad_policy_narrow)]

    def check_nad_policy(self, conflist, where):
        nad_policy.check(self.nad_policies(), conflist, where)

    def _plan(self, network, iface):
        """The network's configuration and arguments, checked before the host is touched."""
        conflist, source = self.network_config(network)
        if network['source'] == 'multus':
            self.check_nad_policy(conflist, 'network "%s" (%s)' % (network['name'], source))
            nad.check_binding(conflist, iface and iface['binding'], network['name'])
            if nad.sriov_network(conflist):
                if iface and iface['binding'] != 'sriov':
                    raise VmnetError('network "%s": %s is an SR-IOV network (CNI type sriov): only an interface '
                                     'with the sriov binding can use it' % (network['name'], source),
                                     field='networks')
                return conflist, source, None, None
        missing = self.cni.missing_plugins(conflist)
        if missing:
            raise cni.CniError('network "%s": CNI plugin(s) %s of %s not found in %s' % (
                network['name'], ', '.join(sorted(set(m[2] for m in missing))), source,
                ', '.join(self.cni.bin_dirs)), field='networks')
        # Multus requests a MAC for secondary networks only (KubeVirt's networks annotation)
        secondary = network['source'] == 'multus' and not network['primary']
        cni_args, runtime_config = cni.attachment_args(iface['macAddress'] if iface and secondary else None)
        return conflist, source, cni_args, runtime_config

    def check(self, network, iface=None):
        """Refuse a network that ``ensure`` would refuse (its NAD, the NAD policy, the binding, its
        plugins' binaries), before anything on the host changes."""
        self._plan(network, iface)

    def attachment(self, network_name):
        return self.state.read('networks', network_name)

    def users(self, pod_iface):
        """Binding records of interfaces on the pod interface ``pod_iface``."""
        return [r for r in (self.state.read('interfaces', n) for n in self.state.names('interfaces'))
                if r and r.get('pod_iface') == pod_iface]

    def owner(self, pod_iface):
        """The binding record that took the pod interface over (renamed it), or None."""
        return next((r for r in self.users(pod_iface) if r.get('nic')), None)

    # -- present -----------------------------------------------------------------------
    def ensure(self, network, check_mode=False, iface=None):
        """Attach a network (``iface``: the interface bound to it, if any); returns
        (changed, actions, attachment record or None)."""
        conflist, source, cni_args, runtime_config = self._plan(network, iface)
        ifname = network['podInterfaceName']
        record = self.attachment(network['name'])
        actions = []
        new_sandbox = not self.exists()
        fresh_pod = new_sandbox and not self.state.exists()
        if new_sandbox:
            actions.append('create network namespace %s' % self.netns)
            if not check_mode:
                netlink.create_netns(self.netns)
                faults.point('pod:netns')
        if network['source'] == 'multus' and nad.sriov_network(conflist):
            return self._ensure_sriov(network, conflist, source, record, actions, check_mode)
        add_args = cni_args
        if record and record.get('result') and (record['config'], record.get('cni_args') or {}) == (conflist, cni_args):
            if new_sandbox:
                # the pod is gone (a host reboot): release the old reservation and ask IPAM
                # for the same IPv4 again (host-local honours CNI_ARGS IP)
                actions.append('repair %s: pod re-created' % ifname)
                add_args = dict(cni_args or {}, **cni.sticky_ip_args(record['result']))
                if not check_mode:
                    self._delete(record)
            else:
                repair = self._needs_repair(record)
                if not repair:
                    return bool(actions), actions, record
                actions.append('repair %s: %s' % (ifname, repair))
                if not check_mode:
                    self._delete(record)
        elif record:
            # interrupted ADD, or the network's configuration (or requested MAC) changed: run it again
            why = 'configuration changed' if record.get('result') else 'interrupted attachment'
            bound = self.owner(record['ifname'])
            if bound and record.get('result'):
                raise VmnetError('network "%s": its %s, but interface "%s" is bound to %s: remove the interface '
                                 'first (vm_interface state=absent), then apply both again'
                                 % (network['name'], why, bound['interface'], ifname), field='networks')
            actions.append('re-attach %s (%s)' % (ifname, why))
            if not check_mode:
                self._delete(record)
        actions.append('CNI ADD %s (%s) as %s' % (conflist.get('name'), source, ifname))
        if check_mode:
            return True, actions, None
        record = {'network': network['name'], 'ifname': ifname, 'config': conflist, 'config_source': source,
                  'container_id': self.netns, 'cni_args': cni_args, 'runtime_config': runtime_config,
                  'result': None}
        self.state.write('networks', network['name'], record)
        try:
            record['result'] = self.cni.add(conflist, self.netns, self.netns_path, ifname, add_args, runtime_config)
            faults.point('pod:cni-add')
            if network['source'] == 'multus' and network['primary'] and not record['result'].get('ips'):
                raise VmnetError('network "%s": the multus delegate chosen as default must return at least one '
                                 'IP address, and %s returned none' % (network['name'], source), field='networks')
        except VmnetError:
            self._undo_add(record, fresh_pod)
            raise
        # Some plugins cannot CHECK what they just added (bridge 1.1.1 without IPAM, portmap
        # on IPv4-only pods): drift is then seen by the pod interface's presence only.
        record['check_broken'] = self._check_error(record)
        self.state.write('networks', network['name'], record)
        return True, actions, record

    def _ensure_sriov(self, network, conflist, source, record, actions, check_mode):
        """Record an SR-IOV network, without CNI; the NAD it names is read by the sriov
        binding. A CNI attachment it replaces is deleted."""
        multus = network['multus']
        want = {'network': network['name'], 'ifname': network['podInterfaceName'], 'config': conflist,
                'config_source': source, 'result': None,
                'sriov_nad': {'namespace': multus['namespace'], 'name': multus['networkName']}}
        if record == want:
            return bool(actions), actions, record
        if record:
            bound = self.users(record['ifname'])
            if bound:
                raise VmnetError('network "%s": its configuration changed, but interface "%s" is bound to it: remove '
                                 'the interface first (vm_interface state=absent), then apply both again'
                                 % (network['name'], bound[0]['interface']), field='networks')
            actions.append('re-attach %s (configuration changed)' % record['ifname'])
            if not check_mode:
                self._delete(record)
        actions.append('record SR-IOV network %s (%s): no CNI, its interface\'s binding allocates the VF'
                       % (network['name'], source))
        if check_mode:
            return True, actions, None
        self.state.write('networks', network['name'], want)
        return True, actions, want

    def _undo_add(self, record, fresh_pod):
        """A failed ADD leaves nothing behind: DEL what the plugins made (as a kubelet tears
        a failed sandbox down), forget the record, and remove the pod if this run made it."""
        try:
            self._delete(record)
        except cni.CniError:
            pass  # the ADD's error is the one to report
        self.state.delete('networks', record['network'])
        if fresh_pod:
            self._remove_sandbox(check_mode=False)

    def _needs_repair(self, record):
        """Why an attachment must be re-made, or None. A taken-over interface is the binding's."""
        if self.owner(record['ifname']):
            return None
        with self.namespace() as ns:
            if ns.link(record['ifname']) is None:
                return 'pod interface missing'
        error = None if record.get('check_broken') else self._check_error(record)
        return 'CNI CHECK failed: %s' % error if error else None

    def _check_error(self, record):
        try:
            self.cni.check(record['config'], record['container_id'], self.netns_path,
                           record['ifname'], record['result'], record.get('cni_args'), record.get('runtime_config'))
        except cni.CniError as exc:
            return str(exc)
        return None

    # -- absent ------------------------------------------------------------------------
    def remove(self, network_name, check_mode=False):
        record = self.attachment(network_name)
        actions = []
        if record:
            users = self.users(record['ifname'])
            if users:
                raise VmnetError('network "%s" is still used by interface(s) %s: remove them first '
                                 '(vm_interface state=absent)'
                                 % (network_name, ', '.join(r['interface'] for r in users)))
            actions.append('forget SR-IOV network %s' % network_name if record.get('sriov_nad')
                           else 'CNI DEL %s' % record['ifname'])
            if not check_mode:
                self._delete(record)
                faults.point('pod:cni-del')
                self.state.delete('networks', network_name)
        if not self.state.names('networks') and (self.exists() or self.state.exists()):
            actions.extend(self._remove_sandbox(check_mode))
        return bool(actions), actions

    def _delete(self, record):
        if self.exists() and not record.get('sriov_nad'):
            self.cni.delete(record['config'], record['container_id'], self.netns_path,
                            record['ifname'], record.get('result'), record.get('cni_args'), record.get('runtime_config'))

    def _remove_sandbox(self, check_mode):
        actions = []
        if self.exists():
            actions.append('delete network namespace %s' % self.netns)
            if not check_mode:
                busy = netlink.netns_pids(self.netns)
                if busy:
                    raise VmnetError('network namespace %s is still used by process(es) %s'
                                     % (self.netns, ', '.join(map(str, busy))))
                netlink.remove_netns(self.netns)
        if self.state.exists():
            actions.append('delete state %s' % self.state.root)
            if not check_mode:
                self.state.remove_all()
        return actions

    # -- observe -----------------------------------------------------------------------
    def interface_status(self, record):
        """The pod interface as vm_network returns it: name, MAC, IPs, gateway, routes, MTU."""
        iface = cni.pod_interface(record['result'], record['ifname'])
        owner = self.owner(record['ifname'])
        mtu = None
        if self.exists():
            with self.namespace() as ns:
                link = ns.link(owner['nic'] if owner else record['ifname'])
                mtu = link['mtu'] if link else None
        return {
            'name': record['ifname'],
            'mac': iface['mac'],
            'ips': iface['ips'],
            'gateway': iface['gateways'][0] if iface['gateways'] else None,
            'routes': iface['routes'],
            'mtu': mtu,
            'bound_by': [r['interface'] for r in self.users(record['ifname'])],
        }


def network_interface(spec, network_name):
    """The interface of the spec on the network ``network_name``, or None."""
    return next((i for i in spec['interfaces'] if i['network'] == network_name), None)


def attach(pod, spec, network, check_mode):
    """Attach ``network`` of ``spec`` and, with it, the NAD of its interface's binding plugin
    (which comes and goes with the network); returns (actions, record or None, record before)."""
    iface = network_interface(spec, network['name'])
    plugin = plugin_network(spec, iface)
    before = pod.attachment(network['name'])
    actions, record = pod.ensure(network, check_mode, iface)[1:]
    if plugin and (record or check_mode):
        actions += [a for a in pod.ensure(plugin, check_mode)[1] if a not in actions]
    return actions, record, before


def detach(pod, spec, network_name, check_mode):
    """Detach the network ``network_name`` (and its binding plugin's NAD); the pod goes with the
    last network. Returns (actions, record before)."""
    plugin = plugin_network(spec, network_interface(spec, network_name))
    before = pod.attachment(network_name)
    actions = pod.remove(plugin['name'], check_mode)[1] if plugin else []
    actions += pod.remove(network_name, check_mode)[1]
    return actions, before


def attachment_summary(record):
    """An attachment record as the diff shows it."""
    if not record:
        return {}
    return {'interface': record['ifname'], 'network': record['config'].get('name'),
            'config': record.get('config_source'),
            'ips': [ip['address'] for ip in (record.get('result') or {}).get('ips', [])]}


def plugin_network(spec, iface):
    """The attachment of the NetworkAttachmentDefinition of ``iface``'s binding plugin, as a
    network of its own (None: no plugin, or no NAD). KubeVirt has Multus run it in the pod: an
    element of the networks annotation after the secondary networks, without an interface
    name (so Multus names it ``net<position>``), with ``cni-args`` ``logicNetworkName``."""
    if not iface or iface['binding'] != 'plugin':
        return None
    registration = (spec.get('networkBindingPlugins') or {}).get(iface['bindingPlugin']) or {}
    reference = plugins.nad_reference(registration, spec['namespace'])
    if reference is None:
        return None
    secondary = [n for n in spec['networks'] if n['source'] == 'multus' and not n['primary']]
    with_nads = [i['name'] for i in spec['interfaces'] if i['binding'] == 'plugin' and plugins.nad_reference(
        (spec.get('networkBindingPlugins') or {}).get(i['bindingPlugin']) or {}, spec['namespace'])]
    position = len(secondary) + with_nads.index(iface['name']) + 1
    return {'name': '%s.plugin' % iface['network'], 'source': 'multus', 'primary': False,
            'multus': {'namespace': reference[0], 'networkName': reference[1], 'default': False},
            'podInterfaceName': 'net%d' % position, 'logicNetworkName': iface['network']}
