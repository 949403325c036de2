# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time to plumb one VM's pod and bridge binding of eth0: the project's library
(``Pod.ensure`` + ``interface.ensure``, a fake domain) against plumb_raw.sh, which makes
the same changes with raw ip/tc/sysctl/dnsmasq. Also the library's second, no-op run.

Both use a node netns holding the CNI bridge (as the integration tests do), a temp CNI
conf dir with a bridge + host-local conflist, IPAM data and state in temp dirs. Runs are
interleaved; every pod is torn down after its run, outside the timing.
"""

import json
import os

from ansible_collections.vmnet.networks.plugins.module_utils import interface, names
from ansible_collections.vmnet.networks.plugins.module_utils.host import cni, netlink
from ansible_collections.vmnet.networks.plugins.module_utils.pod import Pod

from _netns import OWNER, PREFIX, Ledger, kill_pidfile, median, run as run_cmd, tag, timed, warn

RUNS = 5
CNI_BIN = ['/usr/lib/cni']
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'plumb_raw.sh')
DNS = (['10.96.0.10'], ['cluster.local'])
NETWORK = {'name': 'default', 'source': 'pod', 'podInterfaceName': 'eth0'}
IFACE = {'name': 'default', 'network': 'default', 'index': 0, 'binding': 'bridge',
         'podInterfaceName': 'eth0', 'model': 'virtio', 'macAddress': None, 'state': 'up',
         'pciAddress': None, 'bootOrder': None, 'acpiIndex': None}


class FakeDomain(object):
    """The libvirt side (host/libvirt_domain.DomainNics), left out: a stopped domain
    whose persistent NIC and pod record are always already as wanted."""
    running = False

    def ensure(self, nic, check_mode=False):
        return {'changed': False, 'actions': [], 'before': {'config': nic, 'live': None},
                'after': {'config': nic, 'live': None}}

    def ensure_pod_metadata(self, namespace, vm, state_dir, check_mode=False):
        return []

    def vcpus(self):
        return {'current': 1, 'maximum': 1}


class PodNetwork(object):
    """A node netns holding the CNI bridge, and a CNI conf dir naming it."""

    def __init__(self, ledger):
        self.tag = tag()
        self.node = ledger.netns('%s-%s-node' % (PREFIX, self.tag))
        self.root = ledger.tempdir()
        self.conf_dir = os.path.join(self.root, 'cni')
        self.state_dir = os.path.join(self.root, 'state')
        os.makedirs(self.conf_dir)
        self.conflist = {
            'cniVersion': '1.0.0', 'name': 'vmnb-pod-network',
            'plugins': [{'type': 'bridge', 'bridge': PREFIX + 'br' + self.tag, 'isGateway': True,
                         'ipMasq': False, 'mtu': 1400,
                         'ipam': {'type': 'host-local', 'dataDir': os.path.join(self.root, 'ipam'),
                                  'ranges': [[{'subnet': '10.251.9.0/24', 'gateway': '10.251.9.1'}]],
                                  'routes': [{'dst': '0.0.0.0/0'}]}}]}
        with open(os.path.join(self.conf_dir, '10-vmnb.conflist'), 'w') as handle:
            json.dump(self.conflist, handle)

    def pod(self, vm):
        return Pod(vm, self.state_dir, self.conf_dir, CNI_BIN, self.node)

    def cni_del(self, netns):
        cni.CniRuntime(CNI_BIN, self.node).delete(self.conflist, netns, netlink.netns_path(netns), 'eth0', None)


# -- the library -----------------------------------------------------------------------------
def library_plumb(net, vm):
    """Pod.ensure + interface.ensure, as vm_network and vm_interface run them; whether changed."""
    with net.pod(vm) as pod:
        pod_changed = pod.ensure(NETWORK, iface=IFACE)[0]
        result = interface.ensure(pod, {'hostname': vm}, IFACE, FakeDomain(), DNS, False)
    return pod_changed or result['changed']


def library_unplumb(net, vm):
    """The pod side only (no domain), as vm_interface and vm_network state=absent undo it."""
    with net.pod(vm) as pod:
        interface.remove(pod, IFACE, None, False)
        pod.remove(NETWORK['name'])


def library_leftovers(net, vm):
    """Whatever the library's own teardown left behind (it failed): dnsmasq, links, netns."""
    pod = net.pod(vm)
    kill_pidfile(pod.state.path('dnsmasq.pid'), 'dnsmasq')
    with netlink.Namespace() as host:
        for ifname in names.host_links(pod.netns, 'eth0'):
            link = host.link(ifname)
            if link and link['alias'] == names.owner_alias(vm, IFACE['name']):
                host.delete(ifname)
    netlink.remove_netns(pod.netns)


def library_run(net, ledger):
    """Seconds of the first plumb and of the second (no-op) one."""
    vm = '%s-%s-lib' % (PREFIX, tag())
    ledger.defer('leftovers of ' + vm, lambda: library_leftovers(net, vm))
    ledger.defer('library teardown of ' + vm, lambda: library_unplumb(net, vm))
    first, _changed = timed(library_plumb, net, vm)
    second, changed = timed(library_plumb, net, vm)
    if changed:
        warn('the second library run of %s changed something: not a no-op' % vm)
    return first, second


# -- the raw script --------------------------------------------------------------------------
def script_run(net, ledger):
    suffix = tag()
    pod = ledger.adopt_netns('%s-%s-raw' % (PREFIX, suffix))
    state = ledger.tempdir()
    ledger.pidfile(os.path.join(state, 'dnsmasq.pid'), 'dnsmasq')
    ledger.defer('CNI DEL of ' + pod, lambda: net.cni_del(pod) if netlink.netns_exists(pod) else None)
    conf = os.path.join(state, 'cni.json')
    with open(conf, 'w') as handle:
        json.dump(dict(net.conflist['plugins'][0], cniVersion=net.conflist['cniVersion'],
                       name=net.conflist['name']), handle)
    env = dict(os.environ, POD=pod, NODE=net.node, CNI_CONF=conf, OWNER=OWNER, STATE=state, VM=pod,
               DNS=','.join(DNS[0]), SEARCH=','.join(DNS[1]))
    for variable, letter in (('HOST_TAP', 't'), ('HOST_VETH', 'v'), ('HOST_TMP', 'x')):
        env[variable] = ledger.host_link(PREFIX + suffix + letter)
    return timed(run_cmd, ['bash', SCRIPT], env=env)[0]


# -- the benchmark ---------------------------------------------------------------------------
def library_step(net, times):
    with Ledger() as per_run:
        first, second = library_run(net, per_run)
    times['first'].append(first)
    times['second'].append(second)


def script_step(net, times):
    with Ledger() as per_run:
        times['raw'].append(script_run(net, per_run))


def run():
    """Plumb RUNS times each way, interleaved, the order alternating; returns the report."""
    times = {'raw': [], 'first': [], 'second': []}
    with Ledger() as ledger:
        net = PodNetwork(ledger)
        for turn in range(RUNS):
            for step in (library_step, script_step)[::1 if turn % 2 == 0 else -1]:
                step(net, times)
    return report(times)


def report(times):
    raw = median(times['raw'])
    rows = [('raw ip/tc/sysctl/dnsmasq script', times['raw']),
            ('library: Pod.ensure + interface.ensure', times['first']),
            ('library: second run (no-op)', times['second'])]
    lines = ['Plumb time of one VM (netns, CNI ADD, bridge binding of eth0, glue, dnsmasq): '
             '%d runs each, interleaved, median; ratio to the raw script' % RUNS, '']
    header = '%-40s| %-36s| %-8s| ratio' % ('how', 'runs (ms)', 'median')
    lines += [header, '-' * len(header)]
    for label, values in rows:
        lines.append('%-40s| %-36s| %-8.1f| %.2f' % (label, ' '.join('%.0f' % (v * 1e3) for v in values),
                                                     median(values) * 1e3, median(values) / raw))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    print(run())
