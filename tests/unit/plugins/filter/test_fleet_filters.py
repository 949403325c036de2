# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address arithmetic of the fleet role."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.vmnet.networks.plugins.filter.fleet import fleet_block, fleet_slice


def test_blocks():
    assert fleet_block('10.244.0.0/16', 24, 0) == '10.244.0.0/24'
    assert fleet_block('10.244.0.0/16', 24, 3) == '10.244.3.0/24'
    assert fleet_block('10.244.0.0/16', 26, 5) == '10.244.1.64/26'
    assert fleet_block('fd00:244::/48', 64, 2) == 'fd00:244:0:2::/64'
    # The fleet role's IPv6 blocks and their gateways (the block's first address).
    assert fleet_block('fd10:244::/56', 64, 255) == 'fd10:244:0:ff::/64'
    assert fleet_block('fd10:244:0:1::/64', 128, 1) == 'fd10:244:0:1::1/128'


@pytest.mark.parametrize('args', [('10.244.0.0/16', 24, 256), ('10.244.0.0/16', 8, 0), ('nope', 24, 0)])
def test_bad_blocks_fail(args):
    with pytest.raises(AnsibleFilterError):
        fleet_block(*args)


def test_slices_leave_out_the_network_and_broadcast_address():
    assert fleet_slice('10.10.0.0/24', 4, 0) == {'subnet': '10.10.0.0/24', 'rangeStart': '10.10.0.1',
                                                 'rangeEnd': '10.10.0.15'}
    assert fleet_slice('10.10.0.0/24', 4, 1)['rangeStart'] == '10.10.0.16'
    assert fleet_slice('10.10.0.0/24', 4, 15)['rangeEnd'] == '10.10.0.254'
