# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""virtio multiqueue: one queue per vCPU, capped at 256 (KubeVirt's and the kernel's limit),
only for virtio with networkInterfaceMultiqueue."""

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils import interface


class Domain(object):
    def __init__(self, vcpus):
        self._vcpus = vcpus

    def vcpus(self):
        return {'current': self._vcpus, 'maximum': self._vcpus}


@pytest.mark.parametrize('vcpus,expected', [(1, 1), (2, 2), (255, 255), (256, 256), (257, 256), (1024, 256)])
def test_one_queue_per_vcpu_capped_at_256(vcpus, expected):
    spec = {'networkInterfaceMultiqueue': True}
    assert interface.queues(spec, {'model': 'virtio'}, Domain(vcpus)) == expected


@pytest.mark.parametrize('spec,model', [({'networkInterfaceMultiqueue': True}, 'e1000'),
                                        ({'networkInterfaceMultiqueue': True}, 'rtl8139'),
                                        ({'networkInterfaceMultiqueue': False}, 'virtio'), ({}, 'virtio')])
def test_no_queues_unless_virtio_and_asked(spec, model):
    assert interface.queues(spec, {'model': model}, Domain(8)) is None
