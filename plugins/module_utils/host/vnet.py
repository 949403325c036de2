# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The links of the fleet's stretched networks on one host: per network a Linux bridge and a
VXLAN device (its VNI, the host's underlay address as local VTEP, no learning: FRR's zebra
installs the remote MACs from BGP EVPN) as the bridge's port with learning off and ARP/ND
suppression on, optionally an anycast gateway (the same address and MAC on every host).

The adapter reads the links with ``ip -j -d`` and changes them with ``ip``: iproute2 knows the
bridge-port flags (``neigh_suppress``) of every kernel. Every link it makes carries the owner
alias ``vmnet:fleet/<network>``; links without it are never touched.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress
import json

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.names import OWNER_ALIAS_PREFIX

ALIAS_PREFIX = OWNER_ALIAS_PREFIX + 'fleet/'
VXLAN_OVERHEAD = 50
MAX_VNI = 16777215


def bridge_name(vni):
    return 'vnbr%d' % vni


def vxlan_name(vni):
    return 'vnvx%d' % vni


def gateway_mac(vni):
    """The anycast gateway's MAC of a VNI: locally administered, the same on every host."""
    return '02:76:6e:%02x:%02x:%02x' % ((vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff)


def desired(networks, local, port):
    """The wanted links of ``networks`` (dicts: name, vni, mtu, gateway as address/prefix or
    empty); every problem is reported at once with its field."""
    errors, seen_vni, seen_name, wanted = [], {}, set(), []
    try:
        ipaddress.IPv4Address(local)
    except ValueError:
        errors.append('local: %r is not an IPv4 address' % (local,))
    for i, net in enumerate(networks):
        field = 'networks[%d]' % i
        name, vni, mtu, gateway = net.get('name'), net.get('vni'), net.get('mtu'), net.get('gateway') or ''
        if not isinstance(name, str) or not name or len(name) > 200:
            errors.append('%s.name: a non-empty name is required' % field)
        elif name in seen_name:
            errors.append('%s.name: %s is given twice' % (field, name))
        seen_name.add(name)
        if not isinstance(vni, int) or isinstance(vni, bool) or not 1 <= vni <= MAX_VNI:
            errors.append('%s.vni: an integer 1-%d is required, got %r' % (field, MAX_VNI, vni))
            continue
        if vni in seen_vni:
            errors.append('%s.vni: %d is also the VNI of %s' % (field, vni, seen_vni[vni]))
        seen_vni[vni] = name
        if not isinstance(mtu, int) or isinstance(mtu, bool) or not 576 <= mtu <= 9000:
            errors.append('%s.mtu: an integer 576-9000 is required, got %r' % (field, mtu))
        if gateway:
            try:
                iface = ipaddress.ip_interface(gateway)
                if iface.network.prefixlen == iface.max_prefixlen:
                    raise ValueError
            except ValueError:
                errors.append('%s.gateway: %r is not an address/prefix of the subnet' % (field, gateway))
        wanted.append(dict(network=name, vni=vni, bridge=bridge_name(vni), vxlan=vxlan_name(vni), mtu=mtu,
                           gateway=str(ipaddress.ip_interface(gateway)) if gateway and not errors else gateway,
                           gateway_mac=gateway_mac(vni) if gateway else None, local=local, port=port))
    if errors:
        raise VmnetError('; '.join(errors), field='networks')
    return sorted(wanted, key=lambda w: w['vni'])


class Links(object):
    """``ip`` on this host; ``run(argv)`` returns (rc, stdout, stderr)."""

    def __init__(self, run):
        self._run = run

    def _ip(self, *argv):
        rc, out, err = self._run(['ip'] + list(argv))
        if rc != 0:
            raise VmnetError('ip %s: %s' % (' '.join(argv), err.strip() or out.strip()))
        return out

    def read(self):
        """The links this collection owns, by name, with what ``desired`` describes."""
        links = json.loads(self._ip('-j', '-d', 'link', 'show') or '[]')
        addrs = {a['ifname']: a for a in json.loads(self._ip('-j', 'addr', 'show') or '[]')}
        owned = {}
        for link in links:
            alias = link.get('ifalias') or ''
            if not alias.startswith(ALIAS_PREFIX):
                continue
            info = link.get('linkinfo', {})
            data, port = info.get('info_data', {}), info.get('info_slave_data', {})
            owned[link['ifname']] = dict(
                network=alias[len(ALIAS_PREFIX):], kind=info.get('info_kind'), mtu=link.get('mtu'),
                up='UP' in link.get('flags', []), mac=link.get('address'), master=link.get('master'),
                vni=data.get('id'), local=data.get('local'), port=data.get('port'), learning=data.get('learning'),
                port_learning=port.get('learning'), neigh_suppress=port.get('neigh_suppress'),
                addresses=sorted('%s/%s' % (a['local'], a['prefixlen'])
                                 for a in addrs.get(link['ifname'], {}).get('addr_info', [])
                                 if a.get('scope') == 'global'))
        return owned

    def name_taken(self, name):
        rc, _out, _err = self._run(['ip', 'link', 'show', 'dev', name])
        return rc == 0

    def apply(self, steps):
        for argv in steps:
            self._ip(*argv)


def plan(wanted, owned, links):
    """The ``ip`` steps from ``owned`` to ``wanted``: (steps, names of foreign links in the way)."""
    steps, foreign = [], []
    want_names = set()
    for w in wanted:
        alias = ALIAS_PREFIX + w['network']
        br, vx = owned.get(w['bridge']), owned.get(w['vxlan'])
        want_names.update((w['bridge'], w['vxlan']))
        for name, have in ((w['bridge'], br), (w['vxlan'], vx)):
            if have is None and links.name_taken(name):
                foreign.append(name)
        if br is None or br['kind'] != 'bridge':
            if br is not None:
                steps.append(['link', 'del', w['bridge']])
            steps.append(['link', 'add', w['bridge'], 'type', 'bridge'])
            br = {}
        if br.get('mtu') != w['mtu']:
            steps.append(['link', 'set', w['bridge'], 'mtu', str(w['mtu'])])
        if w['gateway_mac'] and br.get('mac') != w['gateway_mac']:
            steps.append(['link', 'set', w['bridge'], 'address', w['gateway_mac']])
        if br.get('network') != w['network']:
            steps.append(['link', 'set', w['bridge'], 'alias', alias])
        have_addrs = br.get('addresses', [])
        for cidr in have_addrs:
            if cidr != w['gateway']:
                steps.append(['addr', 'del', cidr, 'dev', w['bridge']])
        if w['gateway'] and w['gateway'] not in have_addrs:
            steps.append(['addr', 'add', w['gateway'], 'dev', w['bridge']])
        if not br.get('up'):
            steps.append(['link', 'set', w['bridge'], 'up'])

        same = vx is not None and vx['kind'] == 'vxlan' and (vx['vni'], vx['local'], vx['port'], vx['learning']) == (
            w['vni'], w['local'], w['port'], False)
        if not same:
            if vx is not None:
                steps.append(['link', 'del', w['vxlan']])
            steps.append(['link', 'add', w['vxlan'], 'type', 'vxlan', 'id', str(w['vni']), 'local', w['local'],
                          'dstport', str(w['port']), 'nolearning'])
            vx = {}
        if vx.get('mtu') != w['mtu']:
            steps.append(['link', 'set', w['vxlan'], 'mtu', str(w['mtu'])])
        if vx.get('network') != w['network']:
            steps.append(['link', 'set', w['vxlan'], 'alias', alias])
        if vx.get('master') != w['bridge']:
            steps.append(['link', 'set', w['vxlan'], 'master', w['bridge']])
        if vx.get('port_learning') is not False or vx.get('neigh_suppress') is not True:
            steps.append(['link', 'set', w['vxlan'], 'type', 'bridge_slave', 'learning', 'off', 'neigh_suppress', 'on'])
        if not vx.get('up'):
            steps.append(['link', 'set', w['vxlan'], 'up'])
    # vxlan devices first: a bridge goes with its ports detached.
    for name in sorted(owned, key=lambda n: owned[n]['kind'] != 'vxlan'):
        if name not in want_names:
            steps.append(['link', 'del', name])
    return steps, foreign


def summary(owned):
    """What diff mode shows: the owned links, per network."""
    nets = {}
    for name, link in sorted(owned.items()):
        entry = nets.setdefault(link['network'], {})
        if link['kind'] == 'vxlan':
            entry.update(vni=link['vni'], vxlan=name, local=link['local'], mtu=link['mtu'])
        else:
            entry.update(bridge=name, gateway=','.join(link['addresses']))
    return nets


def summary_of_wanted(wanted):
    return dict((w['network'], dict(vni=w['vni'], vxlan=w['vxlan'], local=w['local'], mtu=w['mtu'],
                                    bridge=w['bridge'], gateway=w['gateway'])) for w in wanted)
