# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for a PF's VF settings over netlink (pyroute2), in the host namespace.

VF settings live in the PF's driver and are read and written through the PF:
``RTM_GETLINK`` with ``RTEXT_FILTER_VF`` (``ext_mask=1``; without it the kernel sends no
``IFLA_VFINFO_LIST``) and ``RTM_SETLINK`` with one ``IFLA_VF_*`` attribute per call, so
that a driver's refusal names the setting at fault. A VF is a plain dict of ``VF_FIELDS``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket

try:
    from pyroute2 import IPRoute
    HAS_PYROUTE2 = True
except ImportError:
    HAS_PYROUTE2 = False

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

RTEXT_FILTER_VF = 1
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88a8
VLAN_PROTOS = {'802.1q': ETH_P_8021Q, '802.1ad': ETH_P_8021AD}
LINK_STATES = {0: 'auto', 1: 'enable', 2: 'disable'}
ZERO_MAC = '00:00:00:00:00:00'
VF_FIELDS = ('mac', 'vlan', 'qos', 'vlan_proto', 'spoofchk', 'trust', 'link_state',
             'min_tx_rate', 'max_tx_rate')
# The kernel reports "not supported by this driver" as a value it never sets:
# ~0 for spoofchk/trust of drivers without them.
_UNSUPPORTED = 0xffffffff


def _parse_vf(info):
    """One ``IFLA_VF_INFO`` as ``(index, dict of VF_FIELDS)``; fields a driver does not
    report are None."""
    mac = info.get_attr('IFLA_VF_MAC')
    vlan = info.get_attr('IFLA_VF_VLAN')
    index = mac['vf'] if mac is not None else vlan['vf']
    out = dict.fromkeys(VF_FIELDS)
    if mac is not None:
        out['mac'] = mac['mac'].lower()
    if vlan is not None:
        out['vlan'], out['qos'], out['vlan_proto'] = vlan['vlan'], vlan['qos'], '802.1q'
    vlist = info.get_attr('IFLA_VF_VLAN_LIST')
    if vlist is not None:
        for entry in vlist.get_attrs('IFLA_VF_VLAN_INFO'):
            proto = entry['proto']
            out['vlan_proto'] = '802.1ad' if proto == ETH_P_8021AD else '802.1q'
            break
    for field in ('spoofchk', 'trust', 'link_state'):
        attr = info.get_attr('IFLA_VF_' + field.upper())
        if attr is None or attr[field] == _UNSUPPORTED:
            continue
        out[field] = LINK_STATES.get(attr[field], 'auto') if field == 'link_state' else bool(attr[field])
    rate = info.get_attr('IFLA_VF_RATE')
    if rate is not None:
        out['min_tx_rate'], out['max_tx_rate'] = rate['min_tx_rate'], rate['max_tx_rate']
    else:
        tx_rate = info.get_attr('IFLA_VF_TX_RATE')
        if tx_rate is not None:
            out['min_tx_rate'], out['max_tx_rate'] = 0, tx_rate['tx_rate']
    return index, out


class PfNetlink(object):
    """VF settings of PFs, through one netlink socket. Use as a context manager."""

    def __init__(self):
        if not HAS_PYROUTE2:
            raise VmnetError('the Python library pyroute2 is required')
        self.ipr = IPRoute()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.ipr.close()

    def index(self, ifname):
        found = self.ipr.link_lookup(ifname=ifname)
        if not found:
            raise VmnetError('network interface "%s" not found' % ifname)
        return found[0]

    def vfs(self, ifname):
        """``{vf index: dict of VF_FIELDS}`` as the PF's driver reports them."""
        msg = self.ipr.link('get', index=self.index(ifname), ext_mask=RTEXT_FILTER_VF)[0]
        vflist = msg.get_attr('IFLA_VFINFO_LIST')
        if vflist is None:
            return {}
        return dict(_parse_vf(info) for info in vflist.get_attrs('IFLA_VF_INFO'))

    def set_vf(self, ifname, vf, field, value, vlan=None):
        """Set one setting of VF ``vf``. ``vlan`` carries ``{vlan, qos, vlan_proto}``
        for the VLAN (set together, as the kernel takes them); ``min_tx_rate`` and
        ``max_tx_rate`` are set together as ``value=(min, max)`` with ``field='rate'``."""
        if field == 'vlan':
            proto = VLAN_PROTOS[vlan['vlan_proto'] or '802.1q']
            if proto == ETH_P_8021Q:
                spec = {'vf': vf, 'vlan': {'vlan': vlan['vlan'], 'qos': vlan['qos']}}
            else:  # only IFLA_VF_VLAN_LIST carries the protocol
                spec = {'vf': vf, 'vlan': [{'vlan': vlan['vlan'], 'qos': vlan['qos'], 'proto': proto}]}
        elif field == 'rate':
            spec = {'vf': vf, 'rate': {'min_tx_rate': value[0], 'max_tx_rate': value[1]}}
        elif field == 'link_state':
            spec = {'vf': vf, 'link_state': dict((v, k) for k, v in LINK_STATES.items())[value]}
        elif field in ('spoofchk', 'trust'):
            spec = {'vf': vf, field: 1 if value else 0}
        elif field == 'mac':
            spec = {'vf': vf, 'mac': value}
        else:
            raise ValueError(field)
        try:
            self.ipr.link('set', index=self.index(ifname), vf=spec)
        except Exception as exc:  # pyroute2's NetlinkError carries the errno
            code = getattr(exc, 'code', None)
            reason = '%s (errno %s)' % (exc, code) if code else str(exc)
            raise VmnetError('%s: setting %s of VF %d failed: %s' % (ifname, field, vf, reason))

    def default_route_links(self):
        """Names of the links the host's default routes (IPv4 and IPv6, main table) leave
        through, with every link beneath them: ports of a bridge or bond, the lower link
        of a VLAN or macvlan. A PF among them carries the host's own connectivity."""
        oifs = set()
        for family in (socket.AF_INET, socket.AF_INET6):
            for msg in self.ipr.get_routes(family=family, table=254):
                if msg['dst_len'] != 0 or msg.get_attr('RTA_DST'):
                    continue
                if msg.get_attr('RTA_OIF'):
                    oifs.add(msg.get_attr('RTA_OIF'))
                multipath = msg.get_attr('RTA_MULTIPATH') or []
                for hop in multipath:
                    oifs.add(hop['oif'])
        links = dict((m['index'], m) for m in self.ipr.get_links())
        found, todo = set(), list(oifs)
        while todo:
            index = todo.pop()
            if index in found or index not in links:
                continue
            found.add(index)
            lower = links[index].get_attr('IFLA_LINK')
            if lower and lower != index:
                todo.append(lower)
            todo.extend(i for i, m in links.items() if m.get_attr('IFLA_MASTER') == index)
        return sorted(links[i].get_attr('IFLA_IFNAME') for i in found)
