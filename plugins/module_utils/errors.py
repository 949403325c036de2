# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the library; modules turn it into fail_json."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class VmnetError(Exception):
    """A failure to report to the user as is; ``field`` names the input at fault."""

    def __init__(self, message, field=None):
        super(VmnetError, self).__init__(message)
        self.field = field
