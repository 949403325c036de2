# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One dnsmasq per pod, serving the guest of every ``k6t-*`` bridge with KubeVirt's options.

KubeVirt's in-pod server answers one client (the guest's MAC) and sends every option
whatever the client asked for; ``dhcp-host`` with a ``static`` range and
``dhcp-option-force`` give the same behaviour. The bridge holds only the fake
``169.254.75.1<i>/32``, so ``shared-network`` tells dnsmasq which subnet it serves; the
fake address becomes the server identifier, as in KubeVirt.

The configuration is rendered, never interpolated: every value that goes into a line (the
hostname from the manifest, addresses, search domains, paths) must be one token of
``[A-Za-z0-9._:/-]``, else rendering is refused, so no value can add a directive or split
an option. dnsmasq drops root after it opened its files (its compiled-in user), keeping only
what DHCP needs; its files live in the VM's private state dir, written atomically.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import os
import re
import subprocess
import time

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import files, netlink, process

LEASE = '999d'  # KubeVirt: 999 days (86 313 600 s)
DEFAULT_DNS = ['8.8.8.8']
DEFAULT_SEARCH = ['cluster.local']


def resolv_conf(path='/etc/resolv.conf'):
    """IPv4 nameservers and lower-cased search domains, as KubeVirt reads the pod's file."""
    servers, search = [], []
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == 'nameserver':
            servers.append(fields[1])
        elif fields and fields[0] == 'search':
            search = [d.lower().rstrip('.') for d in fields[1:]]
    ipv4 = [s for s in servers if ':' not in s]
    return (ipv4 if servers else DEFAULT_DNS), (search or DEFAULT_SEARCH)


def bridge_entry(tag, bridge, cidr, mac, gateway, routes, mtu, hostname, dns, search):
    """The DHCP entry of a bridge-bound interface (reference §3), JSON-serialisable."""
    network = ipaddress.ip_interface(cidr).network
    # RFC 3442: non-default routes first, then the default; the pod subnet is on-link.
    classless = [r for r in routes if r['dst'] != str(network) and r['dst'] != '0.0.0.0/0']
    classless += [r for r in routes if r['dst'] == '0.0.0.0/0']
    return {
        'binding': 'bridge', 'tag': tag, 'bridge': bridge, 'ip': cidr.split('/')[0],
        'netmask': str(network.netmask), 'network': str(network.network_address), 'mac': mac,
        'router': gateway, 'routes': [[r['dst'], r['gateway'] or '0.0.0.0'] for r in classless],
        'mtu': mtu, 'hostname': hostname, 'dns': list(dns), 'search': list(search),
    }


def masquerade_entry(tag, bridge, ipv4, ipv6, mtu, hostname, dns, search):
    """The DHCP entry of a masquerade interface: any client gets the VM address (reference §4.4).

    ``ipv4``/``ipv6`` are ``{'vm': address, 'gateway': address, 'prefix': int}`` or None.
    """
    entry = {'binding': 'masquerade', 'tag': tag, 'bridge': bridge, 'mtu': mtu,
             'hostname': hostname, 'dns': list(dns), 'search': list(search), 'ipv4': None, 'ipv6': None}
    if ipv4:
        network = ipaddress.ip_network('%s/%d' % (ipv4['vm'], ipv4['prefix']), strict=False)
        entry['ipv4'] = {'ip': ipv4['vm'], 'netmask': str(network.netmask), 'router': ipv4['gateway']}
    if ipv6:
        entry['ipv6'] = {'ip': ipv6['vm'], 'prefix': ipv6['prefix']}
    return entry


# One token of a dnsmasq option: no separator (``,`` ``=`` space), no comment, no line break.
_TOKEN = re.compile(r'[A-Za-z0-9._:/-]+')


def _token(value, what):
    """``value`` as text, refused unless it is one safe token of a dnsmasq line."""
    text = '%s' % (value,)
    if not _TOKEN.fullmatch(text):
        raise VmnetError('refusing to render %s %s into the dnsmasq configuration: only letters, digits and '
                         '"._:/-" are allowed' % (what, _quoted(text)), field=what)
    return text


def _quoted(text):
    return '"%s"' % text.encode('unicode_escape').decode('ascii').replace('"', '\\"')


def _line(template, *values):
    """A line of ``template`` with each value checked as a token (``what`` names it)."""
    return template % tuple(_token(value, what) for what, value in values)


def _options(tag, entry):
    """Options both bindings send, whatever the client asked for."""
    lines = [_line('dhcp-option-force=tag:%s,option:mtu,%s', ('tag', tag), ('mtu', entry['mtu']))]
    if entry['dns']:
        lines.append('dhcp-option-force=tag:%s,option:dns-server,%s'
                     % (tag, ','.join(_token(server, 'dns') for server in entry['dns'])))
    if entry['hostname']:
        lines.append(_line('dhcp-option-force=tag:%s,12,%s', ('tag', tag), ('hostname', entry['hostname'])))
    if entry['search']:
        search = [_token(domain, 'search') for domain in entry['search']]
        lines.append('dhcp-option-force=tag:%s,option:domain-name,%s' % (tag, max(search, key=len)))
        lines.append('dhcp-option-force=tag:%s,option:domain-search,%s' % (tag, ','.join(search)))
    return lines


def _bridge_lines(entry):
    tag, bridge, ip = _token(entry['tag'], 'tag'), _token(entry['bridge'], 'bridge'), _token(entry['ip'], 'ip')
    lines = [
        'interface=%s' % bridge,
        'shared-network=%s,%s' % (bridge, ip),
        _line('dhcp-range=set:%s,%s,static,%s,%s', ('tag', tag), ('network', entry['network']),
              ('netmask', entry['netmask']), ('lease', LEASE)),
        _line('dhcp-host=%s,set:%s,%s,%s', ('mac', entry['mac']), ('tag', tag), ('ip', ip), ('lease', LEASE)),
        # Silent to every other client: the bridge is a port of the network, so other guests'
        # DHCP broadcasts arrive here too, and an authoritative NAK (every pod has the same server
        # id, KubeVirt's 169.254.75.1x) would break their exchange with their own pod.
        'dhcp-ignore=tag:!known,tag:%s' % bridge,
        # an empty router option stops dnsmasq from offering itself as the gateway
        'dhcp-option-force=tag:%s,option:router%s' % (
            tag, ',' + _token(entry['router'], 'router') if entry['router'] else ''),
    ]
    lines += _options(tag, entry)
    if entry['routes']:
        lines.append('dhcp-option-force=tag:%s,option:classless-static-route,%s'
                     % (tag, ','.join('%s,%s' % (_token(dst, 'routes'), _token(via, 'routes'))
                                      for dst, via in entry['routes'])))
    return lines


def _masquerade_lines(entry):
    tag, bridge = _token(entry['tag'], 'tag'), _token(entry['bridge'], 'bridge')
    lines = ['interface=%s' % bridge]
    if entry['ipv4']:
        v4 = entry['ipv4']
        lines += [_line('dhcp-range=set:%s,%s,%s,%s,%s', ('tag', tag), ('ip', v4['ip']), ('ip', v4['ip']),
                        ('netmask', v4['netmask']), ('lease', LEASE)),
                  _line('dhcp-option-force=tag:%s,option:router,%s', ('tag', tag), ('router', v4['router']))]
        lines += _options(tag, entry)
    if entry['ipv6']:
        v6 = entry['ipv6']
        # DHCPv6 for the address, and router advertisements (which KubeVirt does not send)
        # so that the guest gets its IPv6 default route.
        lines += ['enable-ra', 'ra-param=%s,10,1800' % bridge,
                  _line('dhcp-range=set:%s,%s,%s,%s,%s', ('tag', tag), ('ip', v6['ip']), ('ip', v6['ip']),
                        ('prefix', int(v6['prefix'])), ('lease', LEASE))]
    return lines


def render(entries, leases, log):
    """The pod's dnsmasq configuration; ``leases`` and ``log`` are its files' paths."""
    lines = ['# vmnet.networks: DHCP for the guests of this pod (generated; do not edit)',
             'port=0', 'bind-interfaces', 'except-interface=lo', 'dhcp-authoritative',
             'dhcp-leasefile=%s' % _token(leases, 'dhcp-leasefile'), 'log-dhcp',
             'log-facility=%s' % _token(log, 'log-facility')]
    for entry in entries:
        lines += _masquerade_lines(entry) if entry['binding'] == 'masquerade' else _bridge_lines(entry)
    return '\n'.join(lines) + '\n'


class Dnsmasq(object):
    """The pod's DHCP server: its configuration and process live in the VM's state dir."""

    def __init__(self, state, netns):
        self.netns = netns
        self.conf = state.path('dnsmasq.conf')
        self.pidfile = state.path('dnsmasq.pid')
        self.leases = state.path('dnsmasq.leases')
        self.log = state.path('dnsmasq.log')

    def text(self, entries):
        return render(entries, self.leases, self.log) if entries else ''

    def current_text(self):
        try:
            return files.read_text(self.conf) or ''
        except OSError:
            return ''

    def pid(self):
        """The PID of our dnsmasq if it runs (checked against its command line), else None."""
        try:
            with open(self.pidfile) as handle:
                pid = int(handle.read().strip())
            with open('/proc/%d/cmdline' % pid) as handle:
                cmdline = handle.read()
        except (OSError, ValueError):
            return None
        return pid if 'dnsmasq' in cmdline and self.conf in cmdline else None

    def ensure(self, entries, check_mode=False):
        """Converge to serving ``entries``; returns the actions (empty when nothing to do)."""
        wanted = self.text(entries)
        running = self.pid()
        if not wanted:
            return self.stop(check_mode)
        actions = []
        if wanted != self.current_text():
            actions.append('write %s' % self.conf)
            if running:
                actions.append('restart dnsmasq (configuration changed)')
        elif not running:
            actions.append('start dnsmasq (not running)')
        if actions and not check_mode:
            self._stop_process()
            files.makedirs(os.path.dirname(self.conf))
            files.write_atomic(self.conf, wanted)
            self._start()
        return actions

    def stop(self, check_mode=False):
        actions = []
        if self.pid():
            actions.append('stop dnsmasq')
        if os.path.exists(self.conf):
            actions.append('remove %s' % self.conf)
        if not check_mode:
            self._stop_process()
            for path in (self.conf, self.pidfile, self.leases):
                if os.path.lexists(path):
                    os.unlink(path)
        return actions

    def _start(self):
        # The C locale: every value in the configuration is an ASCII token, and no locale
        # archive mapped or message catalogue loaded is ~0.13 MiB less RSS per pod.
        proc = netlink.run_in(self.netns, ['dnsmasq', '--conf-file=%s' % self.conf, '--pid-file=%s' % self.pidfile],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False,
                              env=dict(os.environ, LC_ALL='C'))
        if proc.returncode != 0:
            raise VmnetError('dnsmasq failed to start in %s: %s' % (self.netns, proc.stderr.strip()))
        for _attempt in range(50):
            if self.pid():
                return
            time.sleep(0.02)
        raise VmnetError('dnsmasq did not write %s' % self.pidfile)

    def _stop_process(self):
        pid = self.pid()
        if pid:
            process.terminate(pid, self.pid)
