# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local NetworkAttachmentDefinition store of a libvirt host.

One file per NAD, ``<nad_dir>/<namespace>/<name>.yaml``, holding the very manifest a
cluster takes (``kubectl apply -f`` works on it). Files are replaced atomically (a
temporary file renamed over the old one, never through a symlink), so a reader never sees
half a manifest; directories are 0700 and files 0600 whoever creates them, and every path
stays inside ``nad_dir`` (``files.confine``).

A NAD file may come from someone else than the modules: it is read with a size cap, as
YAML without anchors or aliases (they expand exponentially), and its ``spec.config`` must
be a string, as in Kubernetes.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.vmnet.networks.plugins.module_utils import safe_yaml
from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError
from ansible_collections.vmnet.networks.plugins.module_utils.host import files

DEFAULT_NAD_DIR = '/etc/vmnet/nads'
SUFFIX = '.yaml'
MAX_NAD_BYTES = 256 * 1024


class LocalNadStore(object):
    """NADs as files under ``nad_dir``; namespace and name are validated by the caller."""

    def __init__(self, nad_dir=None):
        self.nad_dir = nad_dir or DEFAULT_NAD_DIR

    def location(self, namespace, name):
        return os.path.join(self.nad_dir, namespace, name + SUFFIX)

    def _path(self, namespace, name):
        return files.confine(self.nad_dir, namespace, name + SUFFIX)

    def get(self, namespace, name):
        """The manifest, or None when there is no such file."""
        _require_yaml()
        path = self.location(namespace, name)
        try:
            text = files.read_text(self._path(namespace, name), limit=MAX_NAD_BYTES)
            manifest = safe_yaml.load(text) if text is not None else None
        except (OSError, safe_yaml.Error, VmnetError) as exc:
            raise VmnetError('cannot read NetworkAttachmentDefinition %s: %s' % (path, exc))
        if text is None:
            return None
        if not isinstance(manifest, dict):
            raise VmnetError('%s does not hold a NetworkAttachmentDefinition manifest' % path)
        config = (manifest.get('spec') or {}).get('config') if isinstance(manifest.get('spec'), dict) else None
        if config is not None and not isinstance(config, str):
            raise VmnetError('%s: spec.config must be a string, the CNI configuration as JSON text (as in '
                             'Kubernetes), not a %s' % (path, 'mapping' if isinstance(config, dict) else type(config).__name__))
        return manifest

    def list(self, namespace):
        """The manifests of a namespace, by name."""
        directory = files.confine(self.nad_dir, namespace)
        try:
            found = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX) and not n.startswith('.'))
        except FileNotFoundError:
            return []
        return [m for m in (self.get(namespace, n[:-len(SUFFIX)]) for n in found) if m is not None]

    def create(self, manifest):
        return self.replace(manifest)

    def replace(self, manifest):
        _require_yaml()
        metadata = manifest['metadata']
        files.makedirs(self.nad_dir)
        files.makedirs(files.confine(self.nad_dir, metadata['namespace']))
        path = self._path(metadata['namespace'], metadata['name'])
        files.write_atomic(path, safe_yaml.dump(manifest))
        return manifest

    def delete(self, namespace, name):
        try:
            os.unlink(self._path(namespace, name))
        except FileNotFoundError:
            pass
        try:  # an emptied namespace directory goes too
            os.rmdir(files.confine(self.nad_dir, namespace))
        except OSError:
            pass


def _require_yaml():
    if not safe_yaml.HAS_YAML:
        raise VmnetError('the local NetworkAttachmentDefinition store needs PyYAML on the host '
                         '(Debian: python3-yaml)')
