# -*- coding: utf-8 -*-
# Copyright: vmnet.networks contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The adapter for bpf(2): load a tc program from raw instructions, attach it to a
device's tcx hook (Linux >= 6.6), list a hook's programs by name, detach one.

Called through ctypes (no libbpf, no compiler, no object file). An ifindex names a
device of the calling thread's network namespace: callers run these inside the
namespace of the links (netlink.in_netns). Every file descriptor opened here is closed
here, but the one ``load`` returns.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ctypes
import errno
import os
import platform

SYS_BPF = {'x86_64': 321, 'aarch64': 280, 'ppc64le': 361, 's390x': 351}
# enum bpf_cmd
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD, BPF_PROG_QUERY = 13, 15, 16
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_TCX_INGRESS, BPF_TCX_EGRESS = 46, 47
BPF_FUNC_REDIRECT, BPF_FUNC_REDIRECT_PEER = 23, 155
NAME_MAX = 15  # BPF_OBJ_NAME_LEN less its NUL
LOG_SIZE = 4096
QUERY_SLOTS = 64


class Unsupported(Exception):
    """The kernel refused to load or attach a program (the message says why)."""


class _Insn(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint8), ('regs', ctypes.c_uint8), ('off', ctypes.c_int16), ('imm', ctypes.c_int32)]


class _ProgLoad(ctypes.Structure):
    """The head of ``union bpf_attr`` for BPF_PROG_LOAD (the kernel zero-fills the rest)."""
    _fields_ = [('prog_type', ctypes.c_uint32), ('insn_cnt', ctypes.c_uint32), ('insns', ctypes.c_uint64),
                ('license', ctypes.c_uint64), ('log_level', ctypes.c_uint32), ('log_size', ctypes.c_uint32),
                ('log_buf', ctypes.c_uint64), ('kern_version', ctypes.c_uint32), ('prog_flags', ctypes.c_uint32),
                ('prog_name', ctypes.c_char * 16)]


class _ProgAttach(ctypes.Structure):
    """BPF_PROG_ATTACH / BPF_PROG_DETACH."""
    _fields_ = [('target_ifindex', ctypes.c_uint32), ('attach_bpf_fd', ctypes.c_uint32),
                ('attach_type', ctypes.c_uint32), ('attach_flags', ctypes.c_uint32),
                ('replace_bpf_fd', ctypes.c_uint32), ('relative_fd', ctypes.c_uint32),
                ('expected_revision', ctypes.c_uint64)]


class _ProgQuery(ctypes.Structure):
    _fields_ = [('target_ifindex', ctypes.c_uint32), ('attach_type', ctypes.c_uint32),
                ('query_flags', ctypes.c_uint32), ('attach_flags', ctypes.c_uint32),
                ('prog_ids', ctypes.c_uint64), ('prog_cnt', ctypes.c_uint32), ('pad', ctypes.c_uint32),
                ('prog_attach_flags', ctypes.c_uint64), ('link_ids', ctypes.c_uint64),
                ('link_attach_flags', ctypes.c_uint64), ('revision', ctypes.c_uint64)]


class _GetFdById(ctypes.Structure):
    _fields_ = [('prog_id', ctypes.c_uint32), ('next_id', ctypes.c_uint32), ('open_flags', ctypes.c_uint32)]


class _InfoByFd(ctypes.Structure):
    _fields_ = [('bpf_fd', ctypes.c_uint32), ('info_len', ctypes.c_uint32), ('info', ctypes.c_uint64)]


class _ProgInfo(ctypes.Structure):
    """The head of ``struct bpf_prog_info``, up to its name (the kernel fills what is asked)."""
    _fields_ = [('type', ctypes.c_uint32), ('id', ctypes.c_uint32), ('tag', ctypes.c_uint8 * 8),
                ('jited_prog_len', ctypes.c_uint32), ('xlated_prog_len', ctypes.c_uint32),
                ('jited_prog_insns', ctypes.c_uint64), ('xlated_prog_insns', ctypes.c_uint64),
                ('load_time', ctypes.c_uint64), ('created_by_uid', ctypes.c_uint32), ('nr_map_ids', ctypes.c_uint32),
                ('map_ids', ctypes.c_uint64), ('name', ctypes.c_char * 16)]


_SYSCALL = []  # libc's syscall(), looked up once: a no-op run calls bpf(2) a few times per NIC


def _syscall():
    if not _SYSCALL:
        function = ctypes.CDLL(None, use_errno=True).syscall
        function.restype = ctypes.c_long
        _SYSCALL.append(function)
    return _SYSCALL[0]


def bpf(command, attr):
    """``bpf(2)``: its result (a file descriptor for a load), or OSError with the errno."""
    number = SYS_BPF.get(platform.machine())
    if number is None:
        raise Unsupported('no bpf(2) syscall number known for %s' % platform.machine())
    result = _syscall()(ctypes.c_long(number), ctypes.c_int(command), ctypes.byref(attr),
                        ctypes.c_uint(ctypes.sizeof(attr)))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def program(helper, ifindex):
    """mov64 r1, ifindex; mov64 r2, 0; call helper; exit (r0 = TC_ACT_REDIRECT or drop)."""
    mov64_imm, call, exit_ = 0xb7, 0x85, 0x95
    return (_Insn * 4)(_Insn(mov64_imm, 1, 0, ifindex), _Insn(mov64_imm, 2, 0, 0),
                       _Insn(call, 0, 0, helper), _Insn(exit_, 0, 0, 0))


def load(helper, ifindex, name):
    """A file descriptor of the loaded program ``r0 = helper(ifindex, 0)`` named ``name``
    (at most 15 of [A-Za-z0-9_.]); Unsupported with the kernel's reason."""
    insns, license_ = program(helper, ifindex), ctypes.create_string_buffer(b'GPL')
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = _ProgLoad(prog_type=BPF_PROG_TYPE_SCHED_CLS, insn_cnt=len(insns), insns=ctypes.addressof(insns),
                     license=ctypes.addressof(license_), log_level=1, log_size=LOG_SIZE,
                     log_buf=ctypes.addressof(log), prog_name=name.encode('ascii'))
    try:
        return bpf(BPF_PROG_LOAD, attr)
    except OSError as exc:
        raise Unsupported('bpf(BPF_PROG_LOAD): %s %s' % (exc.strerror, log.value.decode('ascii', 'replace').strip()))


def tcx_attach(ifindex, fd, attach_type=BPF_TCX_INGRESS):
    """Append program ``fd`` to the tcx hook of device ``ifindex``; Unsupported where refused
    (EINVAL: a kernel older than 6.6 knows no tcx). The attachment holds the program."""
    try:
        bpf(BPF_PROG_ATTACH, _ProgAttach(target_ifindex=ifindex, attach_bpf_fd=fd, attach_type=attach_type))
    except OSError as exc:
        raise Unsupported('bpf(BPF_PROG_ATTACH) tcx on ifindex %d: %s' % (ifindex, exc.strerror))


def tcx_programs(ifindex, attach_type=BPF_TCX_INGRESS):
    """[(program id, name)] on the tcx hook of device ``ifindex``, in the order they run;
    empty where the kernel has no tcx or the device is gone."""
    slots = QUERY_SLOTS
    while True:
        ids = (ctypes.c_uint32 * slots)()
        attr = _ProgQuery(target_ifindex=ifindex, attach_type=attach_type, prog_ids=ctypes.addressof(ids),
                          prog_cnt=slots)
        try:
            bpf(BPF_PROG_QUERY, attr)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                slots = attr.prog_cnt
                continue
            return []
        break
    found = []
    for prog_id in ids[:attr.prog_cnt]:
        name = _with_program(prog_id, _name)
        if name is not None:  # None: detached meanwhile
            found.append((prog_id, name))
    return found


def tcx_detach(ifindex, prog_id, attach_type=BPF_TCX_INGRESS):
    """Detach program ``prog_id`` from the tcx hook of ``ifindex`` (gone already: nothing)."""
    def detach(fd):
        try:
            bpf(BPF_PROG_DETACH, _ProgAttach(target_ifindex=ifindex, attach_bpf_fd=fd, attach_type=attach_type))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
    _with_program(prog_id, detach)


def _with_program(prog_id, func):
    """``func(fd)`` of program ``prog_id``, the fd closed after; None when there is no such program."""
    try:
        fd = bpf(BPF_PROG_GET_FD_BY_ID, _GetFdById(prog_id=prog_id))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    try:
        return func(fd)
    finally:
        os.close(fd)


def _name(fd):
    info = _ProgInfo()
    bpf(BPF_OBJ_GET_INFO_BY_FD, _InfoByFd(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info)))
    return info.name.decode('ascii', 'replace')
