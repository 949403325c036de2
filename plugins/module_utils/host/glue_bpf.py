# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The glue's redirects as two 4-instruction tc BPF programs (cls_bpf, direct action).

    tap ingress:  r0 = bpf_redirect_peer(host veth, 0)  the frame enters the pod end of the
                                                        veth at once: no veth transmit, no
                                                        backlog pass (the u32 + mirred glue
                                                        pays both on every guest frame)
    veth ingress: r0 = bpf_redirect(tap, 0)             out of the tap, to QEMU

The programs are loaded with bpf(2) from raw instructions (no compiler, no object file) and
held by their filters; each filter's name carries the ifindex its program redirects to, which
is how ``connected`` checks them. Where the kernel refuses BPF (no cls_bpf, no bpf(2), not
permitted) the glue falls back to glue_tc.py, and either shape counts as connected.
Measured against glue_tc.py and a plain bridge by ``make bench`` (bench/glue_throughput.py).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ctypes
import os
import platform

from ansible_collections.vmnet.networks.plugins.module_utils.host import glue_tc

SYS_BPF = {'x86_64': 321, 'aarch64': 280, 'ppc64le': 361, 's390x': 351}
BPF_PROG_LOAD = 5
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_FUNC_REDIRECT = 23
BPF_FUNC_REDIRECT_PEER = 155
NAMES = {BPF_FUNC_REDIRECT: 'vmnet-redirect:%d', BPF_FUNC_REDIRECT_PEER: 'vmnet-peer:%d'}
LOG_SIZE = 4096


class Unsupported(Exception):
    """The kernel refused to load or attach the program (the message says why)."""


class _Insn(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint8), ('regs', ctypes.c_uint8), ('off', ctypes.c_int16), ('imm', ctypes.c_int32)]


class _ProgLoad(ctypes.Structure):
    """The head of ``union bpf_attr`` for BPF_PROG_LOAD (the kernel zero-fills the rest)."""
    _fields_ = [('prog_type', ctypes.c_uint32), ('insn_cnt', ctypes.c_uint32), ('insns', ctypes.c_uint64),
                ('license', ctypes.c_uint64), ('log_level', ctypes.c_uint32), ('log_size', ctypes.c_uint32),
                ('log_buf', ctypes.c_uint64), ('kern_version', ctypes.c_uint32), ('prog_flags', ctypes.c_uint32),
                ('prog_name', ctypes.c_char * 16)]


def program(helper, ifindex):
    """mov64 r1, ifindex; mov64 r2, 0; call helper; exit (r0 = TC_ACT_REDIRECT or drop)."""
    mov64_imm, call, exit_ = 0xb7, 0x85, 0x95
    return (_Insn * 4)(_Insn(mov64_imm, 1, 0, ifindex), _Insn(mov64_imm, 2, 0, 0),
                       _Insn(call, 0, 0, helper), _Insn(exit_, 0, 0, 0))


def bpf(command, attr):
    """``bpf(2)``: its result (a file descriptor for a load), or OSError with the errno."""
    number = SYS_BPF.get(platform.machine())
    if number is None:
        raise Unsupported('no bpf(2) syscall number known for %s' % platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(number), ctypes.c_int(command), ctypes.byref(attr),
                          ctypes.c_uint(ctypes.sizeof(attr)))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def load(helper, ifindex):
    """A file descriptor of the loaded program; Unsupported with the kernel's reason."""
    insns, license_ = program(helper, ifindex), ctypes.create_string_buffer(b'GPL')
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = _ProgLoad(prog_type=BPF_PROG_TYPE_SCHED_CLS, insn_cnt=len(insns), insns=ctypes.addressof(insns),
                     license=ctypes.addressof(license_), log_level=1, log_size=LOG_SIZE,
                     log_buf=ctypes.addressof(log), prog_name=b'vmnet_glue')
    try:
        return bpf(BPF_PROG_LOAD, attr)
    except OSError as exc:
        raise Unsupported('bpf(BPF_PROG_LOAD): %s %s' % (exc.strerror, log.value.decode('ascii', 'replace').strip()))


def attach(host, ifname, helper, ifindex):
    """Ingress of ``ifname`` → the program ``r0 = helper(ifindex, 0)``; Unsupported if refused."""
    fd = load(helper, ifindex)
    try:
        host.add_bpf_filter(ifname, fd, NAMES[helper] % ifindex)
    except Exception as exc:  # pyroute2's NetlinkError: no cls_bpf, say
        host.drop_ingress(ifname)
        raise Unsupported('cls_bpf filter on %s: %s' % (ifname, exc))
    finally:
        os.close(fd)  # the filter holds its own reference


def attach_both(host, tap, veth):
    """Both programs; Unsupported when the kernel refuses one."""
    tap_index, veth_index = host.link(tap)['index'], host.link(veth)['index']
    attach(host, tap, BPF_FUNC_REDIRECT_PEER, veth_index)
    attach(host, veth, BPF_FUNC_REDIRECT, tap_index)


def connect(host, tap, veth):
    """Frames from the tap enter the pod end of the veth, and back (``host``: a netlink.Namespace)."""
    try:
        attach_both(host, tap, veth)
    except Unsupported:
        for ifname in (tap, veth):
            host.drop_ingress(ifname)
        glue_tc.connect(host, tap, veth)


def connected(host, tap, veth):
    """Whether both programs (or glue_tc's fallback) are in place (links as netlink observes them)."""
    if (NAMES[BPF_FUNC_REDIRECT_PEER] % veth['index'] in host.bpf_filter_names(tap['name']) and
            NAMES[BPF_FUNC_REDIRECT] % tap['index'] in host.bpf_filter_names(veth['name'])):
        return True
    return glue_tc.connected(host, tap, veth)
