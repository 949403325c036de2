# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A CNI runtime (spec 1.0; configurations 0.3.0 to 1.0.0): what Multus and the kubelet do.

Plugins are executed with an argument list and the CNI environment, the network
configuration on stdin. A ``.conf`` is run as a list of one plugin; a list is run by ADD
in order, each plugin getting the previous result as ``prevResult``, and by DEL in
reverse order. As libcni does, configurations older than 0.4.0 get no ``CHECK`` (the
command did not exist then) and no ``prevResult`` on ``DEL``. The caller keeps the ADD
result and the arguments ADD ran with, and hands both to CHECK and DEL.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

DEFAULT_BIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni']
# vmnet's own, filled by the host role: never podman's or a Kubernetes node's /etc/cni/net.d
DEFAULT_CONF_DIR = '/etc/vmnet/cni/net.d'
CONF_EXTENSIONS = ('.conf', '.conflist', '.json')
SUPPORTED_VERSIONS = ('0.3.0', '0.3.1', '0.4.0', '1.0.0')
# Before 0.4.0 there was no CHECK, and DEL got no prevResult.
PRE_CHECK_VERSIONS = ('0.3.0', '0.3.1')
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


def plugin_binaries(conflist):
    """Every plugin binary a configuration list runs, as (plugin index, key, binary); the
    key is ``type`` for the plugin itself, ``ipam.type`` for its IPAM plugin."""
    found = []
    for index, plugin in enumerate(conflist['plugins']):
        found.append((index, 'type', plugin.get('type')))
        if (plugin.get('ipam') or {}).get('type'):
            found.append((index, 'ipam.type', plugin['ipam']['type']))
    return found


def valid_plugin_name(plugin_type):
    """A plugin type names a file of the bin dirs, never a path elsewhere."""
    return isinstance(plugin_type, str) and plugin_type not in ('', '.', '..') and '/' not in plugin_type


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


def attachment_args(mac=None):
    """(CNI_ARGS, runtimeConfig) of an attachment, as Multus builds them for a requested MAC:
    ``MAC=`` in CNI_ARGS (with ``IgnoreUnknown`` so that plugins without it do not fail)
    and ``mac`` in the runtimeConfig of plugins declaring the ``mac`` capability."""
    if not mac:
        return {}, {}
    return {'IgnoreUnknown': 'true', 'MAC': mac}, {'mac': mac}


class CniRuntime(object):
    """Runs plugins from ``bin_dirs``; in ``node_netns`` when given (instead of the host's)."""

    def __init__(self, bin_dirs=None, node_netns=None):
        self.bin_dirs = list(bin_dirs or DEFAULT_BIN_DIRS)
        self.node_netns = node_netns

    def find_plugin(self, plugin_type):
        if not valid_plugin_name(plugin_type):
            raise CniError('invalid CNI plugin type %r: a file name in %s' % (plugin_type, ', '.join(self.bin_dirs)))
        for directory in self.bin_dirs:
            path = os.path.join(directory, plugin_type)
            if os.access(path, os.X_OK):
                return path
        raise CniError('CNI plugin "%s" not found in %s' % (plugin_type, ', '.join(self.bin_dirs)))

    def missing_plugins(self, conflist):
        """The entries of ``plugin_binaries(conflist)`` that no bin dir has."""
        missing = []
        for entry in plugin_binaries(conflist):
            try:
                self.find_plugin(entry[2])
            except CniError:
                missing.append(entry)
        return missing

    def add(self, conflist, container_id, netns, ifname, cni_args=None, runtime_config=None):
        result = None
        for plugin in conflist['plugins']:
            result = self._exec('ADD', conflist, plugin, container_id, netns, ifname,
                                result, cni_args, runtime_config)
        return result

    def check(self, conflist, container_id, netns, ifname, prev_result, cni_args=None,
              runtime_config=None):
        if conflist.get('cniVersion') in PRE_CHECK_VERSIONS or conflist.get('disableCheck'):
            return
        for plugin in conflist['plugins']:
            self._exec('CHECK', conflist, plugin, container_id, netns, ifname, prev_result,
                       cni_args, runtime_config)

    def delete(self, conflist, container_id, netns, ifname, prev_result, cni_args=None,
               runtime_config=None):
        if conflist.get('cniVersion') in PRE_CHECK_VERSIONS:
            prev_result = None
        for plugin in reversed(conflist['plugins']):
            self._exec('DEL', conflist, plugin, container_id, netns, ifname, prev_result,
                       cni_args, runtime_config)

    def _exec(self, command, conflist, plugin, container_id, netns, ifname, prev_result,
              cni_args, runtime_config):
        conf = dict(plugin)
        conf['cniVersion'] = conflist.get('cniVersion') or plugin.get('cniVersion')
        conf['name'] = conflist.get('name') or plugin.get('name')
        if conf['cniVersion'] not in SUPPORTED_VERSIONS:
            raise CniError('CNI network "%s": cniVersion %s is not supported (supported: %s)'
                           % (conf['name'], conf['cniVersion'], ', '.join(SUPPORTED_VERSIONS)))
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
            raise CniError(_error_text(command, conf['name'], plugin['type'], proc))
        if command != 'ADD':
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            raise CniError('CNI network "%s": plugin "%s" ADD returned no JSON result: %r'
                           % (conf['name'], plugin['type'], proc.stdout[:200]))


def _error_text(command, network, plugin_type, proc):
    """The plugin's error (spec: a JSON object with code, msg, details on stdout) as one line."""
    where = 'CNI network "%s": plugin "%s" %s failed' % (network, plugin_type, command)
    try:
        error = json.loads(proc.stdout)
        detail = error.get('msg', '')
        if error.get('details'):
            detail += ': ' + error['details']
        return '%s (code %s): %s' % (where, error.get('code'), detail)
    except (ValueError, AttributeError):
        return '%s (exit %d): %s' % (where, proc.returncode, (proc.stderr or proc.stdout).strip()[:500])


def pod_interface(result, ifname):
    """The sandbox interface ``ifname`` of a CNI result: its MAC, addresses, gateways, routes.

    Results of 0.3.x and 0.4.0 carry a ``version`` ("4"/"6") in each IP, 1.0.0 does not:
    only the fields all of them share are read.
    """
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


def sticky_ip_args(result):
    """CNI_ARGS asking IPAM for the first IPv4 of an earlier result again (host-local's ``IP``);
    ``IgnoreUnknown`` keeps plugins that do not know the argument from failing."""
    ipv4 = [ip['address'].split('/')[0] for ip in (result or {}).get('ips') or [] if ':' not in ip['address']]
    return {'IgnoreUnknown': 'true', 'IP': ipv4[0]} if ipv4 else {}
