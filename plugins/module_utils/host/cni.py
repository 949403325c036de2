# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A CNI runtime (spec 1.0; plugins 0.3.1 to 1.0.0): what Multus and the kubelet do.

Plugins are executed with an argument list and the CNI environment, the network
configuration on stdin. A ``.conf`` is run as a list of one plugin; a list is run by ADD
in order, each plugin getting the previous result as ``prevResult``, and by DEL in
reverse order.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

DEFAULT_BIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni']
CONF_EXTENSIONS = ('.conf', '.conflist', '.json')
# The bridge plugin's spoof check runs nft, the portmap plugin iptables.
PLUGIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'


class CniError(VmnetError):
    pass


def as_conflist(config):
    """A ``.conf`` (one plugin) becomes a list of one; a ``.conflist`` is kept."""
    if 'plugins' in config:
        return config
    plugin = dict(config)
    return {'cniVersion': config.get('cniVersion'), 'name': config.get('name'), 'plugins': [plugin]}


def default_network(conf_dir):
    """The first network configuration of the directory, by file name, as a kubelet picks it."""
    try:
        names = sorted(n for n in os.listdir(conf_dir) if n.endswith(CONF_EXTENSIONS))
    except OSError:
        names = []
    if not names:
        raise CniError('no CNI network configuration in %s: the default pod network is missing '
                       '(the vmnet.networks.host role installs one)' % conf_dir)
    path = os.path.join(conf_dir, names[0])
    try:
        with open(path) as handle:
            return as_conflist(json.load(handle)), path
    except (OSError, ValueError) as exc:
        raise CniError('cannot read CNI configuration %s: %s' % (path, exc))


class CniRuntime(object):
    """Runs plugins from ``bin_dirs``; in ``node_netns`` when given (instead of the host's)."""

    def __init__(self, bin_dirs=None, node_netns=None):
        self.bin_dirs = list(bin_dirs or DEFAULT_BIN_DIRS)
        self.node_netns = node_netns

    def find_plugin(self, plugin_type):
        for directory in self.bin_dirs:
            path = os.path.join(directory, plugin_type)
            if os.access(path, os.X_OK):
                return path
        raise CniError('CNI plugin "%s" not found in %s' % (plugin_type, ', '.join(self.bin_dirs)))

    def add(self, conflist, container_id, netns, ifname, cni_args=None, runtime_config=None):
        result = None
        for plugin in conflist['plugins']:
            result = self._exec('ADD', conflist, plugin, container_id, netns, ifname,
                                result, cni_args, runtime_config)
        return result

    def check(self, conflist, container_id, netns, ifname, prev_result, cni_args=None,
              runtime_config=None):
        for plugin in conflist['plugins']:
            self._exec('CHECK', conflist, plugin, container_id, netns, ifname, prev_result,
                       cni_args, runtime_config)

    def delete(self, conflist, container_id, netns, ifname, prev_result, cni_args=None,
               runtime_config=None):
        for plugin in reversed(conflist['plugins']):
            self._exec('DEL', conflist, plugin, container_id, netns, ifname, prev_result,
                       cni_args, runtime_config)

    def _exec(self, command, conflist, plugin, container_id, netns, ifname, prev_result,
              cni_args, runtime_config):
        conf = dict(plugin)
        conf['cniVersion'] = conflist.get('cniVersion') or plugin.get('cniVersion')
        conf['name'] = conflist.get('name') or plugin.get('name')
        if prev_result is not None:
            conf['prevResult'] = prev_result
        if runtime_config and plugin.get('capabilities'):
            wanted = dict((k, v) for k, v in runtime_config.items() if plugin['capabilities'].get(k))
            if wanted:
                conf['runtimeConfig'] = wanted
        env = {
            'CNI_COMMAND': command,
            'CNI_CONTAINERID': container_id,
            'CNI_NETNS': netns,
            'CNI_IFNAME': ifname,
            'CNI_PATH': ':'.join(self.bin_dirs),
            'PATH': PLUGIN_PATH,
        }
        if cni_args:
            env['CNI_ARGS'] = ';'.join('%s=%s' % item for item in sorted(cni_args.items()))
        argv = [self.find_plugin(plugin['type'])]
        if self.node_netns:
            argv = ['ip', 'netns', 'exec', self.node_netns] + argv
        proc = subprocess.run(argv, input=json.dumps(conf), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise CniError(_error_text(command, plugin['type'], proc))
        if command != 'ADD':
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise CniError('CNI plugin "%s" ADD returned no JSON result: %r' % (plugin['type'], proc.stdout[:200]))


def _error_text(command, plugin_type, proc):
    try:
        error = json.loads(proc.stdout)
        detail = error.get('msg', '')
        if error.get('details'):
            detail += ': ' + error['details']
        return 'CNI plugin "%s" %s failed (code %s): %s' % (plugin_type, command, error.get('code'), detail)
    except (ValueError, AttributeError):
        return 'CNI plugin "%s" %s failed (exit %d): %s' % (
            plugin_type, command, proc.returncode, (proc.stderr or proc.stdout).strip()[:500])


def pod_interface(result, ifname):
    """The sandbox interface ``ifname`` of a CNI result: its MAC, addresses, gateways, routes."""
    interfaces = result.get('interfaces') or []
    index = next((i for i, iface in enumerate(interfaces)
                  if iface.get('name') == ifname and iface.get('sandbox')), None)
    ips = [ip for ip in result.get('ips') or []
           if index is None or ip.get('interface') in (None, index)]
    return {
        'name': ifname,
        'mac': interfaces[index].get('mac') if index is not None else None,
        'ips': [ip['address'] for ip in ips],
        'gateways': [ip['gateway'] for ip in ips if ip.get('gateway')],
        'routes': result.get('routes') or [],
        'dns': result.get('dns') or {},
    }
