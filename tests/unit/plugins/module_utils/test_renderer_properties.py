# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property tests of the renderers, on inputs valid by construction: what vmnet writes for
dnsmasq, nft, QEMU and libvirt is accepted by the real parser (``dnsmasq --test``, ``nft -c``
in a namespace of its own) or reads back as what was rendered, every value stays one token
of its line, and the names and paths built from VM identities stay distinct and confined.
(test_fuzz.py covers the other side: invalid input refused without a traceback.)"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.vmnet.networks.plugins.module_utils import names
from ansible_collections.vmnet.networks.plugins.module_utils.bindings import masquerade
from ansible_collections.vmnet.networks.plugins.module_utils.host import dhcp, files, libvirt_qemu_args, libvirt_xml

PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

LABEL = st.from_regex(r'\A[a-z]([-a-z0-9]{0,14}[a-z0-9])?\Z')
SUBDOMAIN = st.lists(LABEL, min_size=1, max_size=4).map('.'.join).filter(lambda s: len(s) <= 253)
IFACE_NAME = st.from_regex(r'\A[A-Za-z0-9_-]{1,20}\Z')
MAC = st.lists(st.integers(0, 255), min_size=5, max_size=5).map(
    lambda rest: ':'.join('%02x' % b for b in [0x02] + rest))
IPV4 = st.ip_addresses(v=4, network='10.0.0.0/8').map(str)
IPV6 = st.ip_addresses(v=6, network='fd00::/8').map(str)
PORTS = st.lists(st.fixed_dictionaries({'protocol': st.sampled_from(['TCP', 'UDP', 'tcp']),
                                        'port': st.integers(1, 65535)}), max_size=12)


def _lines(text):
    return [line for line in text.splitlines() if line and not line.startswith('#')]


@pytest.fixture
def workdir(tmp_path):
    return str(tmp_path)


# --- dnsmasq: what dnsmasq itself accepts ------------------------------------------------

@st.composite
def dhcp_entries(draw):
    entries = []
    for index in range(draw(st.integers(1, 3))):
        tag = 'vmnet%d' % index
        hostname = draw(st.one_of(st.none(), LABEL))
        dns = draw(st.lists(IPV4, max_size=3))
        search = draw(st.lists(SUBDOMAIN, max_size=3))
        mtu = draw(st.integers(576, 9000))
        if draw(st.booleans()):
            network = ipaddress.ip_network('10.%d.0.0/16' % index)
            ip = str(network.network_address + draw(st.integers(2, 65000)))
            routes = [{'dst': '0.0.0.0/0', 'gateway': str(network.network_address + 1)}]
            entries.append(dhcp.bridge_entry(tag, 'k6t-net%d' % index, '%s/16' % ip, draw(MAC),
                                             str(network.network_address + 1), routes, mtu, hostname, dns, search))
        else:
            v4 = {'vm': '10.0.2.2', 'gateway': '10.0.2.1', 'prefix': 24} if draw(st.booleans()) else None
            v6 = {'vm': 'fd10:0:2::2', 'gateway': 'fd10:0:2::1', 'prefix': 120} if not v4 or draw(st.booleans()) else None
            entries.append(dhcp.masquerade_entry(tag, 'k6t-eth%d' % index, v4, v6, mtu, hostname, dns, search))
    return entries


@PROPERTY
@given(entries=dhcp_entries())
def test_dnsmasq_accepts_every_rendered_configuration(entries, workdir):
    conf = os.path.join(workdir, 'dnsmasq.conf')
    text = dhcp.render(entries, os.path.join(workdir, 'leases'), os.path.join(workdir, 'log'))
    with open(conf, 'w') as handle:
        handle.write(text)
    # dnsmasq resolves shared-network's interface while parsing: the pod's bridges, made in a
    # network namespace of the check's own
    bridges = ''.join('ip link add %s type bridge && ' % entry['bridge'] for entry in entries)
    checked = subprocess.run(['unshare', '--net', 'sh', '-c', bridges + '"$0" --test -C "$1"',
                              shutil.which('dnsmasq') or '/usr/sbin/dnsmasq', conf],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert checked.returncode == 0, (checked.stdout, text)
    for line in _lines(text):
        assert re.fullmatch(r'[a-z-]+(=[A-Za-z0-9._:/!,-]+)?', line), line
    for entry in entries:
        if entry['hostname'] and (entry['binding'] == 'bridge' or entry['ipv4']):  # a DHCPv4 option
            assert ',12,%s\n' % entry['hostname'] in text
        if entry['binding'] == 'bridge':
            assert 'dhcp-host=%s,set:%s,%s,' % (entry['mac'], entry['tag'], entry['ip']) in text


# --- nft: what nft itself accepts ----------------------------------------------------------

@PROPERTY
@given(family=st.sampled_from(['ip', 'ip6']), ports=PORTS, vm_offset=st.integers(2, 200),
       pod_iface=st.from_regex(r'\A[A-Za-z0-9_.-]{1,15}\Z'))
def test_nft_accepts_the_masquerade_table_and_it_forwards_exactly_the_ports(family, ports, vm_offset, pod_iface, workdir):
    base = ipaddress.ip_address('10.0.2.0' if family == 'ip' else 'fd10:0:2::')
    addresses = {'vm': str(base + vm_offset), 'gateway': str(base + 1)}
    body = masquerade.rules(family, addresses, ports, pod_iface=pod_iface)
    script = os.path.join(workdir, 'nat.nft')
    with open(script, 'w') as handle:
        handle.write('table %s nat {\n%s}\n' % (family, body))
    # -c: checked by the kernel, never committed; in a network namespace of its own anyway
    checked = subprocess.run(['unshare', '--net', 'nft', '-c', '-f', script],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert checked.returncode == 0, (checked.stdout, body)
    forwarded = {}
    for protocol, listed in re.findall(r'^\s+(tcp|udp) dport \{ ([0-9, ]+) \} counter dnat', body, re.MULTILINE):
        forwarded[protocol] = set(int(p) for p in listed.split(', '))
    wanted = {}
    for port in ports:
        wanted.setdefault(port['protocol'].lower(), set()).add(port['port'])
    assert forwarded == wanted
    # no ports: everything is forwarded (KubeVirt's rule without a port match)
    assert bool(re.search(r'^    counter dnat to %s$' % re.escape(addresses['vm']), body, re.MULTILINE)) is (not ports)


# --- QEMU arguments: rendered, then read back the same ------------------------------------

PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=1, max_size=20)


@PROPERTY
@given(alias=IFACE_NAME, mac=MAC, model=st.sampled_from(['virtio-net-pci', 'e1000', 'rtl8139']),
       hostname=st.one_of(st.none(), PRINTABLE), dnssearch=st.lists(PRINTABLE, max_size=3),
       hostfwd=st.lists(PRINTABLE, max_size=3), stream=st.booleans(), socket=PRINTABLE,
       slot=st.one_of(st.none(), st.integers(0, 31)), bootindex=st.one_of(st.none(), st.integers(1, 99)),
       acpi_index=st.one_of(st.none(), st.integers(1, 16383)))
def test_qemu_arguments_read_back_as_rendered(alias, mac, model, hostname, dnssearch, hostfwd, stream, socket, slot,
                                              bootindex, acpi_index):
    nic = {'alias': 'ua-' + alias, 'model': model, 'mac': mac, 'netdev': 'stream' if stream else 'user',
           'net': None if stream else '10.0.2.0/24', 'hostname': None if stream else hostname,
           'dnssearch': [] if stream else dnssearch, 'hostfwd': [] if stream else hostfwd,
           'socket': '/run/vmnet/' + socket if stream else None, 'bus': None if slot is None else 'pci.0',
           'addr': None if slot is None else '0x%x' % slot, 'bootindex': bootindex, 'acpi_index': acpi_index}
    netdev, device = libvirt_qemu_args.render(nic)
    assert libvirt_qemu_args.parse(netdev, device) == nic
    assert '\n' not in netdev and '\n' not in device


# --- libvirt NIC XML: rendered, then read back the same -----------------------------------

@PROPERTY
@given(alias=IFACE_NAME, mac=MAC, model=st.sampled_from(['virtio', 'e1000', 'e1000e', 'rtl8139', 'igb']),
       mtu=st.one_of(st.none(), st.integers(68, 65535)), queues=st.one_of(st.none(), st.integers(2, 256)),
       link_state=st.sampled_from(['up', 'down']), boot_order=st.one_of(st.none(), st.integers(1, 99)),
       acpi_index=st.one_of(st.none(), st.integers(1, 16383)), slot=st.integers(1, 31),
       target=st.from_regex(r'\Avmtap[0-9a-f]{10}\Z'))
def test_libvirt_nic_xml_reads_back_as_rendered(alias, mac, model, mtu, queues, link_state, boot_order, acpi_index,
                                                slot, target):
    nic = libvirt_xml.normalise_nic({
        'alias': 'ua-' + alias, 'type': 'ethernet', 'target_dev': target, 'managed': False, 'mac': mac,
        'model': model, 'mtu': mtu, 'pci_address': '0000:01:%02x.0' % slot, 'link_state': link_state,
        'queues': queues, 'boot_order': boot_order, 'acpi_index': acpi_index})
    element = libvirt_xml.ET.fromstring(libvirt_xml.render_interface(nic))
    assert libvirt_xml.parse_interface(element) == nic


# --- names and paths from VM identities ---------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(first=st.tuples(LABEL, SUBDOMAIN), second=st.tuples(LABEL, SUBDOMAIN))
def test_pod_names_are_distinct_bounded_and_confined(first, second):
    ids = [names.pod_id(*identity) for identity in (first, second)]
    assert (ids[0] == ids[1]) is (first == second)
    for pod_id in ids:
        netns = names.pod_netns(*first) if pod_id == ids[0] else names.pod_netns(*second)
        assert len(netns) <= names.MAX_NETNS and re.fullmatch(r'vmnet-[a-z0-9._-]+', netns), netns
        assert files.confine('/var/lib/vmnet/pods', pod_id) == os.path.join('/var/lib/vmnet/pods', pod_id)
    taps = [names.host_links(names.pod_netns(*identity), 'eth0') for identity in (first, second)]
    assert all(len(link) <= 15 for pair in taps for link in pair)
    assert (taps[0] == taps[1]) is (first == second)
