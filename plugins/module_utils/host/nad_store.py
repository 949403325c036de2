# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local NetworkAttachmentDefinition store of a libvirt host.

One file per NAD, ``<nad_dir>/<namespace>/<name>.yaml``, holding the very manifest a
cluster takes (``kubectl apply -f`` works on it). Files are replaced atomically (a
temporary file renamed over the old one), so a reader never sees half a manifest.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

try:
    import yaml

    class _Dumper(yaml.SafeDumper):
        """Multi-line strings (a NAD's spec.config) as literal blocks, as people write them."""

    _Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
        'tag:yaml.org,2002:str', text, style='|' if '\n' in text else None))
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

DEFAULT_NAD_DIR = '/etc/vmnet/nads'
SUFFIX = '.yaml'


class LocalNadStore(object):
    """NADs as files under ``nad_dir``; namespace and name are validated by the caller."""

    def __init__(self, nad_dir=None):
        self.nad_dir = nad_dir or DEFAULT_NAD_DIR

    def location(self, namespace, name):
        return os.path.join(self.nad_dir, namespace, name + SUFFIX)

    def get(self, namespace, name):
        """The manifest, or None when there is no such file."""
        _require_yaml()
        path = self.location(namespace, name)
        try:
            with open(path) as handle:
                manifest = yaml.safe_load(handle)
        except FileNotFoundError:
            return None
        except (OSError, yaml.YAMLError) as exc:
            raise VmnetError('cannot read NetworkAttachmentDefinition %s: %s' % (path, exc))
        if not isinstance(manifest, dict):
            raise VmnetError('%s does not hold a NetworkAttachmentDefinition manifest' % path)
        return manifest

    def list(self, namespace):
        """The manifests of a namespace, by name."""
        directory = os.path.join(self.nad_dir, namespace)
        try:
            files = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX) and not n.startswith('.'))
        except FileNotFoundError:
            return []
        return [m for m in (self.get(namespace, n[:-len(SUFFIX)]) for n in files) if m is not None]

    def create(self, manifest):
        return self.replace(manifest)

    def replace(self, manifest):
        _require_yaml()
        metadata = manifest['metadata']
        path = self.location(metadata['namespace'], metadata['name'])
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        tmp = os.path.join(os.path.dirname(path), '.%s.tmp' % os.path.basename(path))
        with open(tmp, 'w') as handle:
            yaml.dump(manifest, handle, Dumper=_Dumper, default_flow_style=False, sort_keys=False)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        return manifest

    def delete(self, namespace, name):
        try:
            os.unlink(self.location(namespace, name))
        except FileNotFoundError:
            pass
        try:  # an emptied namespace directory goes too
            os.rmdir(os.path.join(self.nad_dir, namespace))
        except OSError:
            pass


def _require_yaml():
    if not HAS_YAML:
        raise VmnetError('the local NetworkAttachmentDefinition store needs PyYAML on the host '
                         '(Debian: python3-yaml)')
