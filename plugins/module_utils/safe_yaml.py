# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML from someone vmnet does not trust (a survey's manifest, a NAD file): PyYAML's safe
loader without anchors and aliases, which expand exponentially ("billion laughs")."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

try:
    import yaml
    HAS_YAML = True
except ImportError:
    yaml = None
    HAS_YAML = False

if HAS_YAML:
    class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, 'anchor', None) is not None:
                raise yaml.composer.ComposerError(None, None, 'YAML anchors and aliases are not allowed',
                                                  event.start_mark)
            return super(_Loader, self).compose_node(parent, index)


def load(text):
    """The data of ``text``; raises ``yaml.YAMLError`` (anchors and aliases among them)."""
    return yaml.load(text, Loader=_Loader)  # nosec: a SafeLoader without anchors and aliases
