# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A VM's plumbing as data (the pod's links, the host glue, the domain's NICs, addresses,
nftables tables) and as a picture: Graphviz DOT (SVG through ``dot`` when it is installed)
or Mermaid text.

Nodes are named ``<place>:<name>`` with place ``pod``, ``host``, ``nic`` (a domain NIC, by
alias) or ``node`` (the CNI side of a pod NIC: the node's network); edges carry the kind of
link between them (``port`` of a bridge, ``veth``, ``redirect`` the glue's tc pair, ``tap``
a NIC's host tap, ``cni`` a pod NIC's network, ``user`` QEMU's user-mode network).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import shutil
import subprocess

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # only query needs it
    jmespath = None
    HAS_JMESPATH = False

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import netlink, nft


def collect(pod, domain, interfaces):
    """The topology of ``pod``'s VM; ``domain`` may be None; ``interfaces`` are its status entries."""
    records = dict((n, pod.state.read('interfaces', n)) for n in pod.state.names('interfaces'))
    pod_links, tables = [], []
    if pod.exists():
        with pod.namespace() as ns:
            pod_links = [_link(ns, name) for name in ns.link_names() if name != 'lo']
        tables = nft.list_tables(pod.netns)
    glues = [r['glue'] for r in records.values() if r and r.get('glue')]
    host_links = []
    with netlink.Namespace() as host:
        for glue in glues:
            host_links += [_link(host, glue[key]) for key in ('host_tap', 'host_veth') if host.link(glue[key])]
    nics = []
    if domain is not None:
        for nic in domain.list_nics():
            seen = nic['live'] or nic['config']
            nics.append({'alias': nic['alias'], 'type': seen.get('type'), 'target': seen.get('target_dev'),
                         'mac': seen.get('mac'), 'model': seen.get('model'), 'linkState': seen.get('link_state')})
    nodes, edges = _graph(pod_links, host_links, glues, nics, records)
    return {'vm': pod.vm, 'netns': pod.netns, 'domain': domain.name if domain is not None else None,
            'pod': {'links': pod_links, 'nftTables': ['%s %s' % tuple(t) for t in tables]},
            'host': {'links': host_links}, 'nics': nics, 'interfaces': interfaces,
            'nodes': nodes, 'edges': edges}


def _link(ns, name):
    link = ns.link(name)
    return {'name': name, 'kind': link['kind'], 'mac': link['mac'], 'mtu': link['mtu'], 'up': link['up'],
            'master': link['master'], 'alias': link['alias'], 'addresses': ns.addresses(name)}


def _graph(pod_links, host_links, glues, nics, records):
    nodes, edges = [], []
    for place, links in (('pod', pod_links), ('host', host_links)):
        for link in links:
            nodes.append({'id': '%s:%s' % (place, link['name']), 'place': place, 'label': _label(link)})
    glue_pod_taps = set(g['pod_tap'] for g in glues)
    for link in pod_links:
        if link['master']:
            edges.append(['pod:' + link['master'], 'pod:' + link['name'], 'port'])
        if link['kind'] == 'veth' and link['name'] not in glue_pod_taps:
            nodes.append({'id': 'node:' + link['name'], 'place': 'node', 'label': 'node network\n(CNI)'})
            edges.append(['node:' + link['name'], 'pod:' + link['name'], 'cni'])
    for glue in glues:
        edges.append(['host:' + glue['host_tap'], 'host:' + glue['host_veth'], 'redirect'])
        edges.append(['host:' + glue['host_veth'], 'pod:' + glue['pod_tap'], 'veth'])
    for nic in nics:
        nodes.append({'id': 'nic:' + nic['alias'], 'place': 'nic',
                      'label': '%s\n%s %s\n%s' % (nic['alias'], nic['type'] or '', nic['model'] or '', nic['mac'] or '')})
        if nic['target']:
            edges.append(['nic:' + nic['alias'], 'host:' + nic['target'], 'tap'])
        elif nic['type'] == 'user':
            nodes.append({'id': 'node:qemu-' + nic['alias'], 'place': 'node', 'label': 'QEMU user network'})
            edges.append(['nic:' + nic['alias'], 'node:qemu-' + nic['alias'], 'user'])
    known = set(n['id'] for n in nodes)
    edges = [e for e in edges if e[0] in known and e[1] in known]
    return nodes, [{'from': a, 'to': b, 'kind': k} for a, b, k in edges]


def _label(link):
    lines = [link['name'], '%s%s' % (link['kind'] or 'link', '' if link['up'] else ' (down)')]
    return '\n'.join(lines + link['addresses'])


PLACES = (('host', 'host network namespace'), ('pod', 'pod %(netns)s'), ('nic', 'libvirt domain %(domain)s'),
          ('node', 'outside'))


def _id(node_id):
    return 'n_' + re.sub(r'[^A-Za-z0-9_]', '_', node_id)


def _dot_text(text):
    return text.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def to_dot(topo):
    out = ['digraph vmnet {', '  rankdir=LR;', '  node [shape=box, fontname="monospace", fontsize=10];']
    for index, (place, title) in enumerate(PLACES):
        members = [n for n in topo['nodes'] if n['place'] == place]
        if not members:
            continue
        out.append('  subgraph cluster_%d {' % index)
        out.append('    label="%s";' % _dot_text(title % topo))
        out += ['    %s [label="%s"];' % (_id(n['id']), _dot_text(n['label'])) for n in members]
        out.append('  }')
    out += ['  %s -> %s [label="%s", dir=both];' % (_id(e['from']), _id(e['to']), e['kind']) for e in topo['edges']]
    out.append('}')
    return '\n'.join(out) + '\n'


def _mermaid_text(text):
    return re.sub(r'["<>]', '', text).replace('\n', '<br/>')


def to_mermaid(topo):
    out = ['flowchart LR']
    for place, title in PLACES:
        members = [n for n in topo['nodes'] if n['place'] == place]
        if not members:
            continue
        out.append('  subgraph %s["%s"]' % (place, _mermaid_text(title % topo)))
        out += ['    %s["%s"]' % (_id(n['id']), _mermaid_text(n['label'])) for n in members]
        out.append('  end')
    out += ['  %s <-- %s --> %s' % (_id(e['from']), e['kind'], _id(e['to'])) for e in topo['edges']]
    return '\n'.join(out) + '\n'


def to_svg(dot_text):
    """SVG from Graphviz's ``dot``; None when it is not installed."""
    dot = shutil.which('dot')
    if dot is None:
        return None
    proc = subprocess.run([dot, '-Tsvg'], input=dot_text, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise VmnetError('dot failed: %s' % proc.stderr.strip())
    return proc.stdout


def query(data, expression):
    """``expression`` (JMESPath) applied to ``data``; VmnetError naming ``query`` when it is invalid."""
    if not HAS_JMESPATH:
        raise VmnetError('query needs the jmespath library on the host (python3-jmespath)', field='query')
    try:
        return jmespath.search(expression, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise VmnetError('query: not a valid JMESPath expression: %s' % ' '.join(str(exc).split()), field='query')
