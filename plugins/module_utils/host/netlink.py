# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for network namespaces, links, addresses, routes, tc and sysctls.

Only the synchronous ``IPRoute`` API that pyroute2 0.7 (Debian) and 0.9 (PyPI) share is
used. Another namespace is entered by a short-lived thread (``setns`` changes only the
calling thread's namespace): it opens the netlink socket there, reads and writes the
namespace's sysctls under ``/proc/sys`` and starts the pod's daemons, so that no ``ip netns
exec`` process and no pyroute2 helper process is forked. A ``Namespace`` keeps what it read
until it changes something: a pod's links and addresses come from one dump each, the host's
links one at a time (the host has every VM's links).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ctypes
import errno
import importlib.util
import os
import socket
import subprocess
import sys
import threading


def _defer_package_init(name):
    """Put package ``name`` in ``sys.modules`` without running its ``__init__`` until one of
    the package's own names is asked for (PEP 562 ``__getattr__``), so that its submodules
    import alone. pyroute2 0.9's ``__init__`` imports every API it has (NDB, IPDB, conntrack,
    ipset, nl80211, ...), about 40 ms of every module run that needs only ``IPRoute``."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        return  # not installed: the import below says so
    package = importlib.util.module_from_spec(spec)

    def complete(attr):
        if importlib.util.find_spec('%s.%s' % (name, attr)) is not None:
            raise AttributeError(attr)  # a submodule: the import system imports it alone
        del package.__dict__['__getattr__']
        spec.loader.exec_module(package)
        return getattr(package, attr)

    package.__getattr__ = complete
    sys.modules[name] = package


try:
    _defer_package_init('pyroute2')
    import pyroute2.netns as pyroute2_netns
    from pyroute2.iproute.linux import IPRoute
    HAS_PYROUTE2 = True
except ImportError:
    HAS_PYROUTE2 = False


NETNS_DIR = '/var/run/netns'
INGRESS = 0xffff0000
ETH_P_ALL = 0x0003
TCA_EGRESS_REDIR = 1
IFA_F_NODAD = 0x02
CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
_LIBC = []


def netns_path(name):
    return os.path.join(NETNS_DIR, name)


def netns_exists(name):
    return os.path.exists(netns_path(name))


def create_netns(name):
    pyroute2_netns.create(name)


def remove_netns(name):
    if netns_exists(name):
        pyroute2_netns.remove(name)


def netns_pids(name):
    """PIDs of processes living in the namespace (they would keep it alive)."""
    try:
        target = os.stat(netns_path(name))
    except OSError:
        return []
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            st = os.stat('/proc/%s/ns/net' % entry)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            pids.append(int(entry))
    return pids


def _setns(fd):
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    if _LIBC[0].setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def in_netns(name, func, *args):
    """``func(*args)`` run by a thread inside the network namespace ``name`` (None: here).

    ``setns(CLONE_NEWNET)`` moves only the calling thread, and the thread ends with the call:
    sockets it opens stay in that namespace, ``/proc/sys/net`` shows that namespace, and a
    process it starts is born there. Exceptions are raised in the caller.
    """
    if name is None:
        return func(*args)
    outcome = {}

    def enter_and_call():
        try:
            fd = os.open(netns_path(name), os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
            try:
                _setns(fd)
            finally:
                os.close(fd)
            outcome['value'] = func(*args)
        except BaseException as exc:  # handed to the caller
            outcome['error'] = exc

    thread = threading.Thread(target=enter_and_call, name='vmnet-netns')
    thread.start()
    thread.join()
    if 'error' in outcome:
        raise outcome['error']
    return outcome['value']


def _open(ns):
    if ns is None:
        return IPRoute()
    sock = in_netns(ns, socket.socket, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
    return IPRoute(fileno=sock.detach())


def _family_of(address):
    return socket.AF_INET6 if ':' in address else socket.AF_INET


def _tun_multi_queue(info):
    """IFLA_TUN_MULTI_QUEUE of a tun/tap's link info as a bool, None for other kinds."""
    if not info or info.get_attr('IFLA_INFO_KIND') != 'tun':
        return None
    data = info.get_attr('IFLA_INFO_DATA')
    value = data.get_attr('IFLA_TUN_MULTI_QUEUE') if data is not None and hasattr(data, 'get_attr') else None
    return None if value is None else bool(value)


class Namespace(object):
    """Links of one namespace (``None`` = the host's), observed as plain dicts."""

    def __init__(self, name=None):
        self.name = name
        self._ipr = _open(name)
        # what was read, kept until the next change (see ``ipr``): a pod's links and addresses
        # from one dump each; the host's (hundreds of VMs' links) one link at a time
        self._seen = {}

    @property
    def ipr(self):
        """The pyroute2 socket for a change: taking it forgets what was read (reads use ``_ipr``)."""
        self._seen.clear()
        return self._ipr

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._ipr.close()

    # -- observation -----------------------------------------------------------------
    def _remember(self, key, read):
        if key not in self._seen:
            self._seen[key] = read()
        return self._seen[key]

    def _pod_links(self):
        return self._remember('links', lambda: dict((m['index'], m) for m in self._ipr.get_links()))

    def _message(self, ifname=None, index=None):
        """The link message of ``ifname`` (or ``index``), None when there is none."""
        if self.name is not None:
            links = self._pod_links()
            if index is not None:
                return links.get(index)
            return next((m for m in links.values() if m.get_attr('IFLA_IFNAME') == ifname), None)
        return self._remember(('link', ifname, index), lambda: self._get_link(ifname, index))

    def _get_link(self, ifname, index):
        try:
            return self._ipr.link('get', **({'ifname': ifname} if index is None else {'index': index}))[0]
        except Exception:  # no such link (here: an index of another namespace)
            return None

    def _index(self, ifname):
        msg = self._message(ifname)
        return msg['index'] if msg else None

    def link(self, ifname):
        """A link as ``{index, name, kind, mac, mtu, up, carrier, master, alias, multi_queue}``;
        None if absent. ``multi_queue`` is the kernel's IFF_MULTI_QUEUE of a tun/tap (None for
        other kinds); a tap has ``carrier`` while a process (QEMU) has it open."""
        msg = self._message(ifname)
        if msg is None:
            return None
        index = msg['index']
        info = msg.get_attr('IFLA_LINKINFO')
        master = msg.get_attr('IFLA_MASTER')
        return {
            'index': index,
            'name': msg.get_attr('IFLA_IFNAME'),
            'kind': info.get_attr('IFLA_INFO_KIND') if info else None,
            'mac': msg.get_attr('IFLA_ADDRESS'),
            'mtu': msg.get_attr('IFLA_MTU'),
            'up': bool(msg['flags'] & 1),
            'carrier': bool(msg.get_attr('IFLA_CARRIER')),
            'master': self._name_of(master) if master else None,
            'alias': msg.get_attr('IFLA_IFALIAS'),
            'multi_queue': _tun_multi_queue(info),
        }

    def _name_of(self, index):
        msg = self._message(index=index)  # a master in another namespace cannot be resolved
        return msg.get_attr('IFLA_IFNAME') if msg else None

    def link_names(self):
        links = self._pod_links().values() if self.name is not None else self._ipr.get_links()
        return sorted(m.get_attr('IFLA_IFNAME') for m in links)

    def addresses(self, ifname, family=None):
        """Global addresses of a link as ``ip/prefix`` strings, IPv4 first."""
        index = self._index(ifname)
        if index is None:
            return []
        if self.name is not None:
            found = [m for m in self._remember('addresses', lambda: list(self._ipr.get_addr())) if m['index'] == index]
        else:
            found = self._remember(('addresses', index), lambda: list(self._ipr.get_addr(index=index)))
        result = []
        for msg in found:
            if msg['scope'] != 0 or (family and msg['family'] != family):
                continue
            result.append((msg['family'], '%s/%d' % (msg.get_attr('IFA_ADDRESS'), msg['prefixlen'])))
        return [a for _f, a in sorted(result, key=lambda item: item[0])]

    def ipv4_routes(self, ifname):
        """IPv4 main-table routes whose out-interface is ``ifname``, in kernel order."""
        index = self._index(ifname)
        routes = []
        if index is None:
            return routes
        for msg in self._ipr.get_routes(family=socket.AF_INET, table=254):
            if msg.get_attr('RTA_OIF') != index:
                continue
            dst = msg.get_attr('RTA_DST')
            routes.append({'dst': '%s/%d' % (dst, msg['dst_len']) if dst else '0.0.0.0/0',
                           'gateway': msg.get_attr('RTA_GATEWAY')})
        return routes

    def learning(self, ifname):
        msg = self._message(ifname)
        info = msg.get_attr('IFLA_LINKINFO') if msg else None
        data = info.get_attr('IFLA_INFO_SLAVE_DATA') if info else None
        return bool(data.get_attr('IFLA_BRPORT_LEARNING')) if data else None

    def redirect_target(self, ifname):
        """The ifindex that the ingress u32+mirred filter of ``ifname`` redirects to."""
        index = self._index(ifname)
        if index is None:
            return None
        try:
            filters = self._ipr.get_filters(index, parent=INGRESS)
        except Exception:  # no ingress qdisc
            return None
        for msg in filters:
            options = msg.get_attr('TCA_OPTIONS')
            actions = options.get_attr('TCA_U32_ACT') if options else None
            for _prio, action in (actions['attrs'] if actions else []):
                if action.get_attr('TCA_ACT_KIND') != 'mirred':
                    continue
                parms = action.get_attr('TCA_ACT_OPTIONS').get_attr('TCA_MIRRED_PARMS')
                if parms['eaction'] == TCA_EGRESS_REDIR:
                    return parms['ifindex']
        return None

    def bpf_filter_names(self, ifname):
        """Names of the cls_bpf filters on the ingress of ``ifname`` (empty when none)."""
        index = self._index(ifname)
        try:
            filters = self._ipr.get_filters(index, parent=INGRESS) if index is not None else []
        except Exception:  # no ingress qdisc
            return []
        names = []
        for msg in filters:
            options = msg.get_attr('TCA_OPTIONS') if msg.get_attr('TCA_KIND') == 'bpf' else None
            if options and options.get_attr('TCA_BPF_NAME'):
                names.append(options.get_attr('TCA_BPF_NAME'))
        return names

    # -- changes -----------------------------------------------------------------------
    def add_bridge(self, ifname, mtu):
        self.ipr.link('add', ifname=ifname, kind='bridge')
        index = self._index(ifname)
        # Pin the random MAC: an unset bridge MAC follows its lowest port's MAC, and the
        # renamed pod NIC must keep carrying the bridge's MAC (KubeVirt's copy-mac-from).
        mac = self.ipr.link('get', index=index)[0].get_attr('IFLA_ADDRESS')
        self.ipr.link('set', index=index, address=mac, mtu=mtu)

    def add_tap(self, ifname, mtu, multi_queue, alias):
        # libvirt opens one queue per vCPU only on a tap made with IFF_MULTI_QUEUE
        self.ipr.link('add', ifname=ifname, kind='tuntap', mode='tap', ifr={'multi_queue': bool(multi_queue)})
        self.ipr.link('set', index=self._index(ifname), mtu=mtu, ifalias=alias)

    def add_veth_into(self, ifname, peer_name, peer_netns, mtu, alias):
        """A veth whose peer is created directly inside ``peer_netns`` as ``peer_name``."""
        self.ipr.link('add', ifname=ifname, kind='veth',
                      peer={'ifname': peer_name, 'net_ns_fd': peer_netns})
        self.ipr.link('set', index=self._index(ifname), mtu=mtu, ifalias=alias)

    def add_placeholder(self, ifname, mac, mtu, temp_name):
        """KubeVirt's dummy that keeps the pod IP on the original name, left down.

        Kernels without ``dummy`` (such as this project's CI kernel) get a persistent tap
        nobody opens: like a dummy it has a MAC, an MTU and addresses and passes no
        traffic. A tap is created by ioctl in the caller's namespace, so it is made in the
        host namespace under ``temp_name`` and moved into this one under ``ifname``.
        """
        try:
            self.ipr.link('add', ifname=ifname, kind='dummy')
        except Exception as exc:  # pyroute2's NetlinkError
            if getattr(exc, 'code', None) != errno.EOPNOTSUPP:
                raise
            with IPRoute() as host:
                host.link('add', ifname=temp_name, kind='tuntap', mode='tap')
                host.link('set', index=host.link_lookup(ifname=temp_name)[0],
                          net_ns_fd=self.name, ifname=ifname)
        self.ipr.link('set', index=self._index(ifname), address=mac, mtu=mtu)

    def set_link(self, name, **attrs):
        """Set attributes (``ifname`` to rename, ``address``, ``mtu``, ``master``, ``state``)."""
        index = self._index(name)
        if 'master' in attrs:
            attrs['master'] = self._index(attrs['master']) if attrs['master'] else 0
        if 'ifname' in attrs or 'address' in attrs:
            # renames and MAC changes need the link down on some drivers
            self.ipr.link('set', index=index, state='down')
        self.ipr.link('set', index=index, **attrs)

    def set_learning(self, ifname, enabled):
        self.ipr.brport('set', index=self._index(ifname), learning=1 if enabled else 0)

    def add_address(self, ifname, cidr):
        address, prefix = cidr.split('/')
        kwargs = {}
        if ':' in address:
            # no duplicate address detection: dnsmasq binds these at once, and no one else
            # on a pod's own bridge can hold them
            kwargs['flags'] = IFA_F_NODAD
        self.ipr.addr('add', index=self._index(ifname), address=address, prefixlen=int(prefix),
                      family=_family_of(address), **kwargs)

    def flush_addresses(self, ifname):
        for cidr in self.addresses(ifname):
            address, prefix = cidr.split('/')
            self.ipr.addr('del', index=self._index(ifname), address=address, prefixlen=int(prefix),
                          family=_family_of(address))

    def add_route(self, ifname, dst, gateway):
        kwargs = {'dst': dst, 'oif': self._index(ifname)}
        if gateway:
            kwargs['gateway'] = gateway
        self.ipr.route('replace', **kwargs)

    def redirect(self, src, dst):
        """Ingress of ``src`` → egress of ``dst`` (u32 match-all + mirred: no matchall here)."""
        index = self._index(src)
        self.ipr.tc('add', 'ingress', index, INGRESS)
        self.ipr.tc('add-filter', 'u32', index, parent=INGRESS, protocol=ETH_P_ALL,
                    keys=['0x0/0x0+0'], target=0x1,
                    action=[{'kind': 'mirred', 'direction': 'egress', 'action': 'redirect',
                             'ifindex': self._index(dst)}])

    def add_bpf_filter(self, ifname, fd, name):
        """Ingress of ``ifname`` → the loaded SCHED_CLS program ``fd`` (direct action)."""
        index = self._index(ifname)
        self.ipr.tc('add', 'ingress', index, INGRESS)
        self.ipr.tc('add-filter', 'bpf', index, parent=INGRESS, protocol=ETH_P_ALL, fd=fd, name=name,
                    direct_action=True)

    def drop_ingress(self, ifname):
        index = self._index(ifname)
        if index is not None:
            try:
                self.ipr.tc('del', 'ingress', index, INGRESS)
            except Exception as exc:
                if getattr(exc, 'code', None) not in (errno.EINVAL, errno.ENOENT):
                    raise

    def delete(self, ifname):
        index = self._index(ifname)
        if index is not None:
            self.ipr.link('del', index=index)


def _sysctl_path(key):
    return '/proc/sys/' + key.replace('.', '/')


def _read(path):
    with open(path) as handle:
        return handle.read().strip()


def _write(path, value):
    with open(path, 'w') as handle:
        handle.write(value)


def sysctl_get(ns, key):
    """A sysctl of namespace ``ns`` (None: the host's)."""
    return in_netns(ns, _read, _sysctl_path(key))


def sysctl_set(ns, key, value):
    in_netns(ns, _write, _sysctl_path(key), '%s' % value)


def run_in(ns, argv, check=False, **kwargs):
    """``subprocess.run(argv)`` with the process born in namespace ``ns`` (argument list)."""
    return in_netns(ns, lambda: subprocess.run(argv, check=check, **kwargs))
