# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of everything vmnet creates, in the pod (KubeVirt's own names) and on the host.

Someone who knows KubeVirt must recognise a vmnet pod, so the in-pod names follow
kubevirt:pkg/network/namescheme and pkg/network/link/names.go exactly.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.vmnet.networks.plugins.module_utils.errors import VmnetError

PRIMARY_POD_IFACE = 'eth0'
IFNAMSIZ = 15
# The owner tag written to IFLA_IFALIAS of every host-side link vmnet creates:
# vmnet never touches a host link that does not carry it.
OWNER_ALIAS_PREFIX = 'vmnet:'
NETNS_PREFIX = 'vmnet-'
# IFALIASZ is 256 with its NUL; a netns name is kept short enough to read in ``ip netns``.
MAX_ALIAS = 255
MAX_NETNS = 63
# Between namespace and name in a pod's flat identity (netns, CNI container ID): no valid
# namespace or name holds it, and a hashed identity holds it twice, so no name can be
# chosen to equal another VM's identity, hashed or not.
ID_SEPARATOR = '_'

# Kubernetes' name rules (k8s.io/apimachinery/pkg/util/validation), with its messages.
_DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
DNS1123_LABEL = re.compile(_DNS1123_LABEL)
DNS1123_SUBDOMAIN = re.compile(r'%s(\.%s)*' % (_DNS1123_LABEL, _DNS1123_LABEL))
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_LABEL_MESSAGE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                  "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
                  "for validation is '%s')" % _DNS1123_LABEL)
_SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                      "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                      "for validation is '%s')" % DNS1123_SUBDOMAIN.pattern)
# KubeVirt's interface (and so network) names: kubevirt:pkg/network/admitter.
INTERFACE_NAME = re.compile(r'[A-Za-z0-9_-]+')
INTERFACE_NAME_MESSAGE = ('Network interface name can only contain alphabetical characters, numbers, '
                          'dashes (-) or underscores (_)')


def _length_and_pattern_errors(value, limit, pattern, message):
    errors = []
    if len(value) > limit:
        errors.append('must be no more than %d characters' % limit)
    if not pattern.fullmatch(value):
        errors.append(message)
    return errors


def dns1123_label_errors(value):
    """Kubernetes' ``IsDNS1123Label``: the list of what is wrong with ``value`` (empty: valid)."""
    return _length_and_pattern_errors(value, DNS1123_LABEL_MAX, DNS1123_LABEL, _LABEL_MESSAGE)


def dns1123_subdomain_errors(value):
    """Kubernetes' ``IsDNS1123Subdomain``: the list of what is wrong with ``value``."""
    return _length_and_pattern_errors(value, DNS1123_SUBDOMAIN_MAX, DNS1123_SUBDOMAIN, _SUBDOMAIN_MESSAGE)


def check_vm_identity(namespace, name, name_field='metadata.name', namespace_field='metadata.namespace'):
    """Refuse a VM name that is no DNS-1123 subdomain or a namespace that is no DNS-1123
    label (as Kubernetes validates them), naming the field; returns (namespace, name)."""
    for field, value, check in ((namespace_field, namespace, dns1123_label_errors),
                                (name_field, name, dns1123_subdomain_errors)):
        problems = check(value) if isinstance(value, str) else ['must be a string']
        if problems:
            raise VmnetError('%s: Invalid value: %s: %s' % (field, _quote(value), '; '.join(problems)), field=field)
    return namespace, name


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')


def plain_text(value, what):
    """``value`` (str) for a rendered configuration (XML, QEMU arguments, nft), refused when
    it holds a control character: a line break or NUL must never reach a renderer, even if
    a check before it had a bug."""
    if not isinstance(value, str) or _CONTROL.search(value):
        raise VmnetError('%s: refusing to render %s: control characters are not allowed' % (what, _quote(value)),
                         field=what)
    return value


def _quote(value):
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _sha256(text):
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def pod_id(namespace, name):
    """The pod's flat identity: ``<namespace>_<name>``, as KubeVirt names a VMI's domain.

    Too long for a readable netns name, it is ``<namespace[:20]>_<name[:20]>_<hash>`` with a
    hash of the whole identity: a valid namespace or name never holds ``_``, so a plain
    identity has one separator and a hashed one two, and the two kinds cannot meet.
    """
    check_vm_identity(namespace, name)
    plain = namespace + ID_SEPARATOR + name
    if len(NETNS_PREFIX) + len(plain) <= MAX_NETNS:
        return plain
    return ID_SEPARATOR.join((namespace[:20], name[:20], _sha256(namespace + '/' + name)[:15]))


def default_domain(namespace, name):
    """The libvirt domain of a VM when none is named: its name in the ``default`` namespace,
    else ``<namespace>_<name>`` as KubeVirt names a VMI's domain, so that two VMs of one name
    in two namespaces never default to one domain."""
    check_vm_identity(namespace, name)
    return name if namespace == 'default' else namespace + ID_SEPARATOR + name


def pod_netns(namespace, name):
    """The pod network namespace of the VM ``namespace/name``: ``vmnet-<pod_id>``."""
    return NETNS_PREFIX + pod_id(namespace, name)


def secondary_pod_iface(network_name, ordinal=None):
    """KubeVirt's pod interface of a secondary network.

    Hashed scheme (KubeVirt >= 1.0): ``pod`` + sha256(network name)[:11]; the legacy
    ordinal scheme gives ``net<ordinal>`` (1-based among secondary networks).
    """
    if ordinal is not None:
        return 'net%d' % ordinal
    return 'pod' + _sha256(network_name)[:11]


def pod_iface(network_name, primary, ordinal=None):
    return PRIMARY_POD_IFACE if primary else secondary_pod_iface(network_name, ordinal)


def _suffix(pod_iface_name):
    # eth0 -> eth0, pod<hash> -> <hash>, net1 -> net1
    return pod_iface_name[3:] if pod_iface_name.startswith('pod') else pod_iface_name


def bridge_name(pod_iface_name):
    """In-pod bridge: ``k6t-eth0``, ``k6t-<hash>``, ``k6t-net1``."""
    return 'k6t-' + _suffix(pod_iface_name)


def renamed_nic(pod_iface_name):
    """The pod NIC after the bridge binding took it over: ``eth0-nic``, ``<hash>-nic``."""
    return _suffix(pod_iface_name) + '-nic'


def pod_tap(pod_iface_name):
    """The tap port of the in-pod bridge: ``tap0``, ``tap<hash>``, ``tap1``."""
    if pod_iface_name == PRIMARY_POD_IFACE:
        return 'tap0'
    return 'tap' + pod_iface_name[3:]


def fake_bridge_ip(index):
    """KubeVirt's fake bridge address: ``169.254.75.1<index>`` (string concatenation)."""
    return '169.254.75.1%d' % index


def host_links(netns, pod_iface_name):
    """Host-namespace names of the glue of one interface: (tap for QEMU, veth host end).

    They must be unique on the host and fit IFNAMSIZ, so they carry a hash of the pod
    namespace and pod interface.
    """
    digest = _sha256('%s/%s' % (netns, pod_iface_name))[:10]
    return 'vmtap' + digest, 'vmveth' + digest[:9]


def host_temp_link(netns, pod_iface_name):
    """A short-lived host name for a link made in the host and moved into the pod."""
    return 'vmtmp' + _sha256('%s/%s' % (netns, pod_iface_name))[:10]


def owner_alias(namespace, vm_name, iface_name):
    """``vmnet:<namespace>/<vm>/<interface>``; past IFALIASZ, cut and ended by a hash of the whole."""
    alias = '%s%s/%s/%s' % (OWNER_ALIAS_PREFIX, namespace, vm_name, iface_name)
    if len(alias.encode('utf-8')) > MAX_ALIAS:
        alias = '%s#%s' % (alias[:MAX_ALIAS - 33], _sha256(alias)[:32])
    return alias


def user_alias(iface_name):
    """libvirt user alias of a domain NIC (``ua-<name>``); KubeVirt matches NICs by it."""
    return 'ua-' + iface_name


def sriov_alias(iface_name):
    return 'ua-sriov-' + iface_name
