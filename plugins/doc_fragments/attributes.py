# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # A module that converges a VM's pod and domain on a libvirt host (a module's own
    # attributes, such as a more precise diff_mode description, take precedence).
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    support: full
    description: Reports what would change, with the same actions and diff, and changes nothing.
  diff_mode:
    support: full
    description: Shows the pieces it owns before and after, as plain values.
  platform:
    platforms: linux
    support: full
    description: Runs as root on a Linux libvirt host.
'''

    # A module that only reads.
    INFO = r'''
options: {}
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is no diff.
'''
