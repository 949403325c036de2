# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology's pictures and query, on a synthetic topology (collect() runs for real in
tests/integration/test_topology.py)."""

import shutil
import subprocess

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import topology
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

HOSTILE = 'x"];\nevil [label="<script>'

TOPO = {
    'vm': 'web', 'netns': 'vmnet-web', 'domain': HOSTILE,
    'interfaces': [{'name': 'default', 'linkState': 'up'}, {'name': 'red', 'linkState': 'down'}],
    'nodes': [
        {'id': 'host:vmtapaaaa', 'place': 'host', 'label': 'vmtapaaaa\ntun'},
        {'id': 'pod:tap0', 'place': 'pod', 'label': 'tap0\nveth'},
        {'id': 'pod:k6t-eth0', 'place': 'pod', 'label': 'k6t-eth0\nbridge\n10.0.2.1/24'},
        {'id': 'nic:ua-default', 'place': 'nic', 'label': HOSTILE},
    ],
    'edges': [{'from': 'pod:k6t-eth0', 'to': 'pod:tap0', 'kind': 'port'},
              {'from': 'nic:ua-default', 'to': 'host:vmtapaaaa', 'kind': 'tap'}],
}


def test_mermaid_has_the_places_nodes_and_edges_and_no_markup():
    text = topology.to_mermaid(TOPO)
    assert text.startswith('flowchart LR\n')
    assert 'subgraph pod["pod vmnet-web"]' in text
    assert 'n_pod_k6t_eth0["k6t-eth0<br/>bridge<br/>10.0.2.1/24"]' in text
    assert 'n_pod_k6t_eth0 <-- port --> n_pod_tap0' in text
    assert '<script>' not in text and '"]; ' not in text


@pytest.mark.skipif(shutil.which('dot') is None, reason='Graphviz is not installed')
def test_dot_is_valid_graphviz_even_with_hostile_labels():
    text = topology.to_dot(TOPO)
    proc = subprocess.run(['dot', '-Tplain'], input=text, universal_newlines=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count('\nnode ') == 4             # the hostile label made no node of its own
    assert topology.to_svg(text).lstrip().startswith('<?xml')


def test_svg_is_none_without_graphviz(monkeypatch):
    monkeypatch.setattr(shutil, 'which', lambda name: None)
    assert topology.to_svg(topology.to_dot(TOPO)) is None


def test_query_picks_fields_and_names_itself_on_error():
    assert topology.query(TOPO, "interfaces[?linkState=='down'].name") == ['red']
    with pytest.raises(VmnetError) as err:
        topology.query(TOPO, 'interfaces[?')
    assert err.value.field == 'query'
