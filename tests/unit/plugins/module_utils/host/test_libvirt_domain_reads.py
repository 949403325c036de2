# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DomainNics reads a domain's XML once per run until vmnet changes the domain (libvirtd's
side faked: its answers only)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.host import libvirt_domain

libvirt = pytest.importorskip('libvirt')

XML = """<domain type='qemu'><name>vm1</name><devices>
<interface type='ethernet'><mac address='52:54:00:00:00:01'/><target dev='vmtap1' managed='no'/>
<model type='virtio'/><alias name='ua-default'/></interface></devices></domain>"""


class FakeDomain(object):
    def __init__(self):
        self.reads, self.changes = 0, []

    def XMLDesc(self, flags=0):  # noqa: N802 (libvirt's name)
        self.reads += 1
        return XML

    def isActive(self):  # noqa: N802
        return False

    def isPersistent(self):  # noqa: N802
        return True

    def metadata(self, *args):
        raise libvirt.libvirtError('no metadata')

    def setMetadata(self, *args):  # noqa: N802
        self.changes.append('metadata')

    def detachDeviceFlags(self, xml, flags):  # noqa: N802
        self.changes.append('detach')


class FakeConnection(object):
    def __init__(self, domain):
        self.domain = domain

    def lookupByName(self, name):  # noqa: N802
        return self.domain

    def close(self):
        pass


@pytest.fixture
def domain(monkeypatch):
    fake = FakeDomain()
    monkeypatch.setattr(libvirt, 'open', lambda uri: FakeConnection(fake))
    return libvirt_domain.DomainNics('qemu:///system', 'vm1'), fake


def test_one_read_until_a_change(domain):
    nics, fake = domain
    assert [n['alias'] for n in nics.list_nics()] == ['ua-default']
    assert nics.get('ua-default')['config']['mac'] == '52:54:00:00:00:01'
    nics.list_hostdevs()
    nics.definitions()[0].find('devices').clear()       # a caller's tree is its own
    assert nics.list_nics()[0]['config']['target_dev'] == 'vmtap1'
    assert fake.reads == 1
    nics.remove('ua-default')                           # vmnet changes the domain: read again
    nics.list_nics()
    assert fake.changes == ['detach'] and fake.reads == 2
    nics.remove_pod_metadata()                          # no metadata: nothing to change, nothing re-read
    nics.list_nics()
    assert fake.reads == 2


def test_os_boot_devices_of_the_persistent_definition(domain, monkeypatch):
    nics, _fake = domain
    assert nics.os_boot_devices() == []
    booting = XML.replace('<devices>', "<os><type>hvm</type><boot dev='hd'/><boot dev='network'/></os><devices>")
    monkeypatch.setattr(FakeDomain, 'XMLDesc', lambda self, flags=0: booting)
    assert libvirt_domain.DomainNics('qemu:///system', 'vm1').os_boot_devices() == ['hd', 'network']
