# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pod network made for one test: a node namespace that holds the CNI bridges, a CNI
configuration directory, a NetworkAttachmentDefinition store, and client pods on the pod
network or on a NAD's network. Everything it makes is removed at teardown, also when the
test fails."""

import glob
import json
import os
import signal
import subprocess
import uuid

from ansible_collections.vmnet.networks.plugins.module_utils import names, nad, nad_policy
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni, netlink, passt
from ansible_collections.vmnet.networks.plugins.module_utils.host.nad_store import LocalNadStore

from modules import run_module

CNI_BIN = ['/usr/lib/cni']
NO_MASTER = 'vmntnomaster'


def ip(*args, check=True):
    return subprocess.run(['ip'] + list(args), check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True).stdout


def ip_json(*args):
    return json.loads(ip('-j', *args) or '[]')


def netns_run(ns, *argv, timeout=30, check=True):
    return subprocess.run(['ip', 'netns', 'exec', ns] + list(argv), check=check, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


class PodNetwork(object):
    """The default pod network of a test: ``subnet`` lives in node netns ``node``."""

    def __init__(self, tmp_path, subnet='10.250.7.0/24', mtu=1400, ipv6_subnet=None):
        """``subnet`` None makes an IPv6-only network (then ``ipv6_subnet`` is required)."""
        tag = uuid.uuid4().hex[:6]
        self.node = 'vmnt-node-' + tag
        self.vm = 'vmntpod' + tag      # the VM of pod_module() calls that name none
        self.bridge = 'vmntbr' + tag[:4]
        self.conf_dir = str(tmp_path / 'cni')
        self.ipam_dir = str(tmp_path / 'ipam')
        self.state_dir = str(tmp_path / 'state')
        self.nad_dir = str(tmp_path / 'nads')
        # the operator's NAD policy of the test: the default one, with the test's IPAM dir
        # and a master name that exists nowhere (for the binding refusals)
        self.nad_policy_file = str(tmp_path / 'nad-policy.json')
        with open(self.nad_policy_file, 'w') as handle:
            json.dump(dict(nad_policy.DEFAULT, ipam_data_dirs=[self.ipam_dir], host_interfaces=[NO_MASTER]), handle)
        self.subnet, self.ipv6_subnet, self.mtu = subnet, ipv6_subnet, mtu
        self.gateway = subnet.rsplit('.', 1)[0] + '.1' if subnet else None
        self.clients = []
        self.vms = set()   # every VM a pod_module() call named: cleanup() looks for what vmnet left of them
        os.makedirs(self.conf_dir)
        ranges, routes = [], []
        if subnet:
            ranges.append([{'subnet': subnet, 'gateway': self.gateway}])
            routes.append({'dst': '0.0.0.0/0'})
        if ipv6_subnet:
            ranges.append([{'subnet': ipv6_subnet}])
            routes.append({'dst': '::/0'})
        self.conflist = {
            'cniVersion': '1.0.0', 'name': 'vmnt-pod-network',
            'plugins': [{'type': 'bridge', 'bridge': self.bridge, 'isGateway': True, 'ipMasq': False,
                         'mtu': mtu, 'ipam': {'type': 'host-local', 'ranges': ranges, 'routes': routes,
                                              'dataDir': self.ipam_dir}}]}
        with open(os.path.join(self.conf_dir, '10-test.conflist'), 'w') as handle:
            json.dump(self.conflist, handle)
        netlink.create_netns(self.node)
        netns_run(self.node, 'ip', 'link', 'set', 'lo', 'up')

    def pod_options(self, **extra):
        return dict(state_dir=self.state_dir, cni_conf_dir=self.conf_dir, cni_bin_dir=CNI_BIN,
                    node_netns=self.node, nad_dir=self.nad_dir, nad_policy_file=self.nad_policy_file, **extra)

    def hook_config(self, path):
        """The libvirt hook's own configuration for this network, as the host role writes it."""
        config = {'state_dir': self.state_dir, 'cni_conf_dir': self.conf_dir, 'cni_bin_dirs': CNI_BIN,
                  'nad_dir': self.nad_dir, 'nad_policy_file': self.nad_policy_file,
                  'sriov_pools_file': os.path.join(os.path.dirname(self.state_dir), 'sriov-pools.json'),
                  'node_netns': self.node}
        with open(path, 'w') as handle:
            json.dump(config, handle)
        os.chmod(path, 0o644)
        return path

    def write_nad(self, name, config, namespace='default'):
        """A NetworkAttachmentDefinition in the test's store; returns its CNI conflist."""
        nad.ensure_present(LocalNadStore(self.nad_dir), namespace, name, nad.parse_config(config))
        return cni.as_conflist(config)

    def client(self, name='client', conflist=None, address=None):
        """A client pod on the pod network, or on the network of ``conflist`` (a NAD's) with
        ``address`` (a CIDR) when that has no IPAM. Returns (netns, its first address: IPv4
        if it has one)."""
        conflist = conflist or self.conflist
        netns = 'vmnt-%s-%s' % (name, self.node[-6:])
        netlink.create_netns(netns)
        self.clients.append((netns, conflist))
        result = cni.CniRuntime(CNI_BIN, self.node).add(conflist, netns, netlink.netns_path(netns), 'eth0')
        netns_run(netns, 'ip', 'link', 'set', 'lo', 'up')
        if address:
            netns_run(netns, 'ip', 'addr', 'add', address, 'dev', 'eth0')
            return netns, address.split('/')[0]
        addresses = sorted((':' in i['address'], i['address'].split('/')[0]) for i in result['ips'])
        return netns, addresses[0][1]

    def cleanup(self):
        """Remove everything of the test; returns what vmnet itself left (a pod namespace,
        a host link it owns, a dnsmasq, state), which a passing test must not."""
        leaks = []
        pods = set(('default', vm) for vm in self.vms)
        for state in glob.glob(os.path.join(self.state_dir, '*')):
            if _kill_dnsmasq(state):
                leaks.append('dnsmasq of %s' % state)
            namespace, _sep, vm = os.path.basename(state).partition(names.ID_SEPARATOR)
            pod = names.NETNS_PREFIX + os.path.basename(state)
            for pidfile in glob.glob(os.path.join(state, 'passt-*.pid')):
                if _kill_pidfile(pidfile, 'passt'):
                    leaks.append('passt of %s' % state)
                iface = os.path.basename(pidfile)[len('passt-'):-len('.pid')]
                if os.path.lexists(passt.socket_path(pod, iface)):   # passt leaves it when killed
                    os.unlink(passt.socket_path(pod, iface))
            pods.add((namespace, vm))
            leaks.append('state %s' % state)
        for namespace, vm in sorted(pods):
            pod = names.pod_netns(namespace, vm)
            leaks += ['host link %s' % l for l in _delete_owned_host_links(namespace, vm)]
            if netlink.netns_exists(pod):
                leaks.append('netns %s' % pod)
                netlink.remove_netns(pod)
        for netns, conflist in self.clients:
            try:
                cni.CniRuntime(CNI_BIN, self.node).delete(conflist, netns, netlink.netns_path(netns), 'eth0', None)
            except cni.CniError:
                pass
            netlink.remove_netns(netns)
        netlink.remove_netns(self.node)
        return leaks


def _kill_pidfile(path, program):
    """Stop the ``program`` whose PID ``path`` holds; True if one was running."""
    try:
        with open(path) as handle:
            pid = int(handle.read())
        with open('/proc/%d/cmdline' % pid) as handle:
            if program in handle.read():
                os.kill(pid, signal.SIGTERM)
                return True
    except (OSError, ValueError):
        pass
    return False


def _kill_dnsmasq(state):
    """Stop the dnsmasq of the pod directory ``state`` (found by the configuration its
    command line names, PID file or not); True if one was running."""
    conf = '--conf-file=' + os.path.join(state, 'dnsmasq.conf')
    found = False
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as handle:
                argv = handle.read().decode('utf-8', 'replace').split('\0')
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == 'dnsmasq' and conf in argv:
            os.kill(int(pid), signal.SIGTERM)
            found = True
    return found


def _delete_owned_host_links(namespace, vm):
    deleted = []
    with netlink.Namespace() as host:
        for name in host.link_names():
            link = host.link(name)
            if link and (link['alias'] or '').startswith('%s%s/%s/' % (names.OWNER_ALIAS_PREFIX, namespace, vm)):
                host.delete(name)
                deleted.append(name)
    return deleted


def pod_module(podnet, module, spec, vm=None, **args):
    podnet.vms.add(vm or podnet.vm)
    return run_module(module, spec=spec, vm=vm or podnet.vm, **podnet.pod_options(**args))
