# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A manifest given as text: what a survey's textarea (AWX) or a file lookup hands over.

JSON is read with the standard library; YAML needs PyYAML and is read with a safe loader
without anchors and aliases (safe_yaml) and without custom tags. The text is bounded.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

from ansible_collections.vmnet.networks.plugins.module_utils import safe_yaml

MAX_TEXT = 1024 * 1024


def load(value, field='manifest'):
    """``(manifest, errors)``: ``value`` itself when it is a mapping, else ``value`` parsed as
    JSON or YAML text into a mapping. ``errors`` has the vm_spec shape ({field, message})."""
    if isinstance(value, dict):
        return value, []
    if not isinstance(value, str):
        return None, [_error(field, 'must be a mapping, or YAML or JSON text of one (got %s)' % type(value).__name__)]
    if len(value) > MAX_TEXT:
        return None, [_error(field, 'the text is longer than %d characters' % MAX_TEXT)]
    if value.lstrip().startswith('{'):
        try:
            data = json.loads(value)
        except ValueError as exc:
            return None, [_error(field, 'not valid JSON: %s' % exc)]
    elif not safe_yaml.HAS_YAML:
        return None, [_error(field, 'YAML text needs PyYAML on the host (python3-yaml); give JSON text or a mapping')]
    else:
        try:
            data = safe_yaml.load(value)
        except safe_yaml.Error as exc:
            return None, [_error(field, 'not valid YAML: %s' % ' '.join(str(exc).split()))]
    if not isinstance(data, dict):
        return None, [_error(field, 'the text must hold a mapping (a manifest), not %s' % type(data).__name__)]
    return data, []


def _error(field, message):
    return dict(field=field, message=message)
