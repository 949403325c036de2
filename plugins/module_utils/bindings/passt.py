# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The passt binding: the guest gets the pod's own addresses and routes (reference §6.2-6.4).

One binding for KubeVirt's three shapes: the old core ``passt: {}`` (v0.5x-v1.2), the
binding plugin ``binding: {name: passt}`` (v1.1-v1.8) and the core ``passtBinding: {}``
(v1.8+). As in a virt-launcher pod, passt runs in the pod's network namespace and leaves
the pod interface untouched: no bridge, no tap, no NAT rules. It answers the guest's DHCP,
DHCPv6 and NDP with the pod interface's address, prefix, gateway and routes, and turns the
guest's frames into the pod's sockets (so the guest's traffic leaves from the pod IP).
Inbound, passt listens on the pod's addresses: the listed ``ports`` (TCP and UDP), or
every port when ``ports`` is empty, as KubeVirt forwards them.

    pod:     passt --interface eth0 --socket <sock> --tcp-ports <spec> --udp-ports <spec> ...
             net.ipv4.ping_group_range=0 0, net.ipv4.ip_unprivileged_port_start=0
             (what KubeVirt's kubevirt-passt-binding CNI plugin sets, for passt's
             UID without capabilities: ping sockets for ICMP, low ports)
    domain:  -netdev stream,id=ua-<name>,server=off,addr.type=unix,addr.path=<sock>
             -device {"driver":"virtio-net-pci","netdev":"ua-<name>","id":"ua-<name>","mac":...
                      [,"bus":...,"addr":...][,"bootindex":N][,"acpi-index":N]}

QEMU 7.2 (Debian 12) has ``-netdev stream`` but not its ``reconnect`` option (QEMU 8.0), and
libvirt's own passt backend starts passt in libvirtd's namespace, not in the pod: so the NIC
is a pair of QEMU arguments, like the slirp binding's (host/libvirt_qemu_args.py), and vmnet
starts passt. QEMU connects when it starts; a passt that was restarted under a running
domain (it was killed) is reported as ``restart_required``: the guest's NIC reconnects when
QEMU restarts.

Link state is always ``up`` (KubeVirt does not support link state changes for passt); the
MAC is ``macAddress`` or the pod interface's; the model is the interface's (``virtio`` is
``virtio-net-pci``). The status reports the pod's IPs, both families.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import common
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_qemu_args, netlink
from ansible_collections.vmnet.networks.plugins.module_utils.host.passt import Passt, socket_path

SYSCTLS = {'net.ipv4.ping_group_range': '0 0', 'net.ipv4.ip_unprivileged_port_start': '0'}


def _process(pod, record):
    return Passt(pod.state, pod.netns, record['interface'])


def device_driver(model):
    return 'virtio-net-pci' if model == 'virtio' else model


def _sysctl(netns, key):
    return ' '.join(netlink.sysctl_get(netns, key).split())


def discover(pod, iface, queues):
    pod_iface = iface['podInterfaceName']
    with pod.namespace() as ns:
        link = common.pod_link(ns, pod, iface)
        addresses = ns.addresses(pod_iface)
    return {'interface': iface['name'], 'binding': 'passt', 'pod_iface': pod_iface,
            'socket': socket_path(pod.netns, iface['name']),
            'generated_mac': common.generated_mac(pod.vm_namespace, pod.vm, iface['name']),
            'original': {'mac': link['mac'], 'addresses': addresses,
                         'sysctls': dict((key, _sysctl(pod.netns, key)) for key in SYSCTLS)}}


def refresh(record, iface, hostname, dns, search):
    """The guest's MAC and the NIC from the spec; passt gets vmnet's DNS servers and search
    domains (its own default would be the pod's resolv.conf) and serves the DHCP itself."""
    # not the pod interface's MAC: passt answers with that one, and a guest sharing it would
    # share passt's IPv6 link-local address (its duplicate address detection fails: no IPv6)
    record['guest_mac'] = iface['macAddress'] or record['generated_mac']
    record['dhcp'] = None
    record['ports'] = [dict(protocol=p['protocol'], port=p['port']) for p in iface['ports']]
    record['dns'] = list(dns)
    record['search'] = list(search)
    record['qemu_nic'] = {
        'alias': names.user_alias(iface['name']), 'netdev': 'stream', 'model': device_driver(iface['model']),
        'mac': record['guest_mac'], 'net': None, 'hostname': None, 'dnssearch': [], 'hostfwd': [],
        'socket': record['socket'], 'pci_address': iface['pciAddress'], 'bootindex': iface['bootOrder'],
        'acpi_index': iface['acpiIndex'] or None}


def _argv(pod, record):
    argv = _process(pod, record).argv(record['pod_iface'], record['ports'])
    for server in record['dns']:
        argv += ['--dns', server]
    if record['search']:
        argv += ['--search', ' '.join(record['search'])]
    return argv


def desired(record):
    return {'sysctl': dict(SYSCTLS), 'passt': {'running': True, 'args': record.get('argv')}}


def observe(pod, record):
    view = {'sysctl': None, 'passt': None}
    if not pod.exists():
        return view
    view['sysctl'] = dict((key, _sysctl(pod.netns, key)) for key in SYSCTLS)
    process = _process(pod, record)
    if process.pid():
        view['passt'] = {'running': True, 'args': process.running_argv()}
    return view


def apply(pod, record, check_mode, previous=None, have=None):
    # passt's view depends on the arguments worked out here: observed again, ``have`` unused
    record['argv'] = _argv(pod, record)
    actions = common.converge(pod, record, desired(record), observe(pod, record),
                              [('sysctl', _sysctls), ('passt', _start)], check_mode, previous)
    # a passt started now: a running QEMU is connected to none (it connects when it starts)
    record['restarted'] = any(a.endswith(' passt') for a in actions)
    return actions


def _sysctls(pod, record):
    for key, value in SYSCTLS.items():
        netlink.sysctl_set(pod.netns, key, value)


def _start(pod, record):
    _process(pod, record).start(record['argv'])


def teardown(pod, record, check_mode):
    process = _process(pod, record)
    actions = []
    if process.pid():
        actions.append('stop passt')
    elif process.leftovers():
        actions.append('remove passt files')
    if not check_mode:
        process.stop()
    if not pod.exists():
        return actions
    for key, value in record['original']['sysctls'].items():
        if _sysctl(pod.netns, key) != value and not _other_passt_bindings(pod, record):
            if not check_mode:
                netlink.sysctl_set(pod.netns, key, value)
    return actions


def _other_passt_bindings(pod, record):
    return any(r.get('binding') == 'passt' and r['interface'] != record['interface']
               for r in (pod.state.read('interfaces', n) for n in pod.state.names('interfaces')) if r)


def status_ips(record):
    """The pod's IPs, both families (the guest has the same ones)."""
    return [a.split('/')[0] for a in record['original']['addresses']]


def check_domain(domain, iface):
    """A ``pciAddress`` the domain has no PCI bus for is refused before anything changes."""
    if iface['pciAddress'] is None:
        return
    try:
        libvirt_qemu_args.placement(domain.definitions()[0], iface['pciAddress'])
    except VmnetError as exc:
        raise VmnetError('interface "%s": %s' % (iface['name'], exc), field='interfaces[%d].pciAddress' % iface['index'])


def ensure_domain(domain, record, iface, queues, check_mode):
    result = libvirt_qemu_args.ensure(domain, record['qemu_nic'], check_mode=check_mode)
    if record.get('restarted') and domain.running:
        result['restart_required'] = True
    return result


def remove_domain(domain, iface, check_mode):
    return libvirt_qemu_args.remove(domain, names.user_alias(iface['name']), check_mode=check_mode)
