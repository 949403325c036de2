# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""glue_bpf: the programs' names, and the order of its shapes (tcx, cls_bpf, u32 + mirred)
where the kernel refuses one. Real links: tests/integration/test_glue_redirects.py."""

import re

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.host import bpf, glue_bpf, glue_tc


@pytest.mark.parametrize('ifindex', [1, 4242, 2 ** 31 - 1, 2 ** 32 - 1])
def test_a_program_name_fits_the_kernel_and_names_its_target(ifindex):
    for helper in (bpf.BPF_FUNC_REDIRECT_PEER, bpf.BPF_FUNC_REDIRECT):
        name = glue_bpf.program_name(helper, ifindex)
        assert re.match(r'^vmnet_[pr][0-9a-f]+$', name) and len(name) <= bpf.NAME_MAX
        assert int(name[len('vmnet_p'):], 16) == ifindex
    assert glue_bpf.program_name(bpf.BPF_FUNC_REDIRECT_PEER, 26) == 'vmnet_p1a'


class Refuses(object):
    """Stands for the kernel: refuses the shapes named, records what is done."""

    def __init__(self, *refused):
        self.refused, self.done = refused, []

    def shape(self, name):
        def attach_both(host, tap, veth):
            self.done.append(name)
            if name in self.refused:
                raise bpf.Unsupported(name + ' refused')
        return attach_both


@pytest.mark.parametrize('refused,done', [
    ((), ['tcx']),
    (('tcx',), ['tcx', 'disconnect', 'cls_bpf']),
    (('tcx', 'cls_bpf'), ['tcx', 'disconnect', 'cls_bpf', 'disconnect', 'u32']),
])
def test_connect_takes_the_first_shape_the_kernel_accepts_and_leaves_nothing_of_a_refused_one(
        monkeypatch, refused, done):
    kernel = Refuses(*refused)
    monkeypatch.setattr(glue_bpf, 'tcx_both', kernel.shape('tcx'))
    monkeypatch.setattr(glue_bpf, 'cls_both', kernel.shape('cls_bpf'))
    monkeypatch.setattr(glue_bpf, 'disconnect', lambda host, tap, veth: kernel.done.append('disconnect'))
    monkeypatch.setattr(glue_tc, 'connect', lambda host, tap, veth: kernel.done.append('u32'))
    glue_bpf.connect(None, 'tap', 'veth')
    assert kernel.done == done
