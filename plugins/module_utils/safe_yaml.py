# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""YAML from someone vmnet does not trust (a survey's manifest, a NAD file): PyYAML's safe
loader without anchors and aliases, which expand exponentially ("billion laughs"); and the
YAML vmnet writes (the local NAD store's files).

PyYAML is imported on first use: a run whose manifest is a mapping and whose networks name
no NAD needs none of it (the import costs every module run start-up time).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util

HAS_YAML = importlib.util.find_spec('yaml') is not None
_CLASSES = {}


class Error(ValueError):
    """The text is not YAML vmnet accepts (PyYAML's error, anchors and aliases among them)."""


def _classes():
    """PyYAML, and the loader and dumper made from it, once."""
    if not _CLASSES:
        import yaml

        class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
            def compose_node(self, parent, index):
                event = self.peek_event()
                if isinstance(event, yaml.AliasEvent) or getattr(event, 'anchor', None) is not None:
                    raise yaml.composer.ComposerError(None, None, 'YAML anchors and aliases are not allowed',
                                                      event.start_mark)
                return super(_Loader, self).compose_node(parent, index)

        class _Dumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
            """Multi-line strings (a NAD's spec.config) as literal blocks, as people write them."""

        _Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
            'tag:yaml.org,2002:str', text, style='|' if '\n' in text else None))
        _CLASSES.update(yaml=yaml, loader=_Loader, dumper=_Dumper)
    return _CLASSES


def load(text):
    """The data of ``text``; raises ``Error`` (with PyYAML's message)."""
    classes = _classes()
    try:
        return classes['yaml'].load(text, Loader=classes['loader'])  # nosec: a SafeLoader without anchors and aliases
    except classes['yaml'].YAMLError as exc:
        raise Error(str(exc))


def dump(data):
    """``data`` as YAML text, keys in their order, multi-line strings as literal blocks."""
    classes = _classes()
    return classes['yaml'].dump(data, Dumper=classes['dumper'], default_flow_style=False, sort_keys=False)
