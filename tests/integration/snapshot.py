# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-host snapshots: what a module may have changed anywhere, in one comparable value.

``take(netns=..., state_dirs=..., domains=...)`` records
  * the host namespace and every named namespace in ``netns`` that exists: links (kind,
    alias, MTU, MAC, master, up), addresses, routes, tc qdiscs and filters (ingress and
    egress), the BPF programs on each link's tcx hooks (``name#id``: a program attached
    anew has a new id), the whole nft ruleset (every family), the sysctls of ``SYSCTLS``, and the
    processes in it;
  * the list of named network namespaces;
  * the processes that live in a network namespace other than the host's (a dnsmasq left
    in a deleted pod is found here);
  * every file under ``state_dirs`` (path -> SHA-256 of its content);
  * the inactive and the live XML of ``domains`` (libvirt domain objects or names, with
    ``conn``).
Two things are left out by design: the empty lock files under ``<state dir>/.locks`` (a
lock file is never deleted: a run waiting on it would lock a deleted file) and the empty
``<metadata/>`` libvirt keeps once the last metadata element is removed.
``diff(before, after)`` lists what differs, readable in an assertion message.
"""

import hashlib
import json
import os
import subprocess

from ansible_collections.vmnet.networks.plugins.module_utils.host import bpf, netlink

SYSCTLS = ('net.ipv4.ip_forward', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.route_localnet',
           'net.ipv6.conf.all.forwarding', 'net.ipv6.conf.all.disable_ipv6',
           'net.ipv4.ping_group_range')


def _run(netns, *argv):
    prefix = ['ip', 'netns', 'exec', netns] if netns else []
    proc = subprocess.run(prefix + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    return proc.stdout if proc.returncode == 0 else 'ERROR: ' + proc.stderr.strip()


def _json(netns, *argv):
    text = _run(netns, *argv)
    if text.startswith('ERROR'):
        return text
    return json.loads(text or '[]')


def _links(netns):
    links = {}
    for link in _json(netns, 'ip', '-j', '-d', 'link', 'show'):
        info = link.get('linkinfo') or {}
        links[link['ifname']] = {'kind': info.get('info_kind'), 'alias': link.get('ifalias'), 'mtu': link.get('mtu'),
                                 'mac': link.get('address'), 'master': link.get('master'),
                                 'up': 'UP' in link.get('flags', []),
                                 'multi_queue': (info.get('info_data') or {}).get('multi_queue')}
    return links


def tcx(netns, ifnames=None):
    """{ifname: {'ingress'|'egress': ['name#id', ...]}} of the links of ``netns`` (None: the
    host's; ``ifnames``: only these) that have programs on a tcx hook."""
    indexes = dict((link['ifname'], link['ifindex']) for link in _json(netns, 'ip', '-j', 'link', 'show')
                   if ifnames is None or link['ifname'] in ifnames)

    def read():
        found = {}
        for ifname, index in indexes.items():
            hooks = dict((where, ['%s#%d' % (name, prog_id) for prog_id, name in bpf.tcx_programs(index, attach)])
                         for where, attach in (('ingress', bpf.BPF_TCX_INGRESS), ('egress', bpf.BPF_TCX_EGRESS)))
            if any(hooks.values()):
                found[ifname] = hooks
        return found
    return netlink.in_netns(netns, read)


def _namespace(netns):
    links = _links(netns)
    tc = {}
    for ifname in sorted(links):
        qdiscs = _run(netns, 'tc', 'qdisc', 'show', 'dev', ifname)
        filters = [_run(netns, 'tc', 'filter', 'show', 'dev', ifname, where) for where in ('ingress', 'egress')]
        if 'ingress' in qdiscs or 'clsact' in qdiscs or any(f.strip() for f in filters):
            tc[ifname] = {'qdiscs': qdiscs, 'filters': filters}
    sysctls = {}
    for key in SYSCTLS:
        sysctls[key] = _run(netns, 'cat', '/proc/sys/' + key.replace('.', '/')).strip()
    pids = _run(None, 'ip', 'netns', 'pids', netns).split() if netns else []
    return {
        'links': links,
        'addresses': sorted('%s %s/%s' % (a['ifname'], i['local'], i['prefixlen'])
                            for a in _json(netns, 'ip', '-j', 'addr', 'show') for i in a.get('addr_info', [])
                            if 'local' in i),
        'routes': sorted(json.dumps(r, sort_keys=True) for family in ('-4', '-6')
                         for r in _json(netns, 'ip', '-j', family, 'route', 'show', 'table', 'all')),
        'tc': tc,
        'tcx': tcx(netns),
        'nft': _run(netns, 'nft', 'list', 'ruleset'),
        'sysctls': sysctls,
        'processes': sorted(process(pid) for pid in pids),
    }


def process(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return '(gone)'


def _foreign_netns_processes():
    host = os.readlink('/proc/self/ns/net')
    found = []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                if os.readlink('/proc/%s/ns/net' % pid) != host:
                    found.append(process(pid))
            except OSError:
                pass
    return sorted(found)


def _files(directory):
    files = {}
    for root, dirs, names in os.walk(directory):
        if root == directory and '.locks' in dirs:
            dirs.remove('.locks')
        for name in names:
            path = os.path.join(root, name)
            with open(path, 'rb') as handle:
                files[os.path.relpath(path, directory)] = hashlib.sha256(handle.read()).hexdigest()[:16]
    return files


def _xml_lines(xml):
    return [line for line in xml.splitlines() if line.strip() != '<metadata/>']


def take(netns=(), state_dirs=(), domains=(), conn=None):
    named = sorted(line.split()[0] for line in _run(None, 'ip', 'netns', 'list').splitlines() if line.strip())
    shot = {'host': _namespace(None), 'netns': named, 'netns_processes': _foreign_netns_processes(),
            'namespaces': dict((ns, _namespace(ns)) for ns in netns if ns in named),
            'files': dict((d, _files(d)) for d in state_dirs), 'domains': {}}
    for domain in domains:
        if isinstance(domain, str):
            domain = conn.lookupByName(domain)
        shot['domains'][domain.name()] = {  # as lines: a diff shows the lines that changed
            'inactive': _xml_lines(domain.XMLDesc(2)),  # VIR_DOMAIN_XML_INACTIVE
            'live': _xml_lines(domain.XMLDesc(0)) if domain.isActive() else None}
    return shot


def diff(before, after, path=''):
    """The differences of two snapshots (or parts), one line each."""
    if isinstance(before, dict) and isinstance(after, dict):
        lines = []
        for key in sorted(set(before) | set(after), key=str):
            where = '%s/%s' % (path, key)
            if key not in before:
                lines.append('+ %s: %s' % (where, json.dumps(after[key], sort_keys=True)[:400]))
            elif key not in after:
                lines.append('- %s: %s' % (where, json.dumps(before[key], sort_keys=True)[:400]))
            else:
                lines += diff(before[key], after[key], where)
        return lines
    if isinstance(before, list) and isinstance(after, list):
        gone = [x for x in before if x not in after]
        new = [x for x in after if x not in before]
        return ['- %s: %s' % (path, x) for x in gone] + ['+ %s: %s' % (path, x) for x in new]
    if before != after:
        return ['~ %s: %r -> %r' % (path, before, after)]
    return []
