# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import os
import stat

import pytest

from ansible_collections.vmnet.networks.plugins.module_utils.host import files


@pytest.fixture
def sandbox(tmp_path):
    """A base directory with a canary beside it that nothing may touch."""
    base = tmp_path / 'base'
    base.mkdir()
    canary = tmp_path / 'canary'
    canary.write_text('keep')
    yield base, canary
    assert canary.read_text() == 'keep'


@pytest.mark.parametrize('parts', [('..',), ('../canary',), ('a', '..', '..', 'canary'), ('/etc',), ('',),
                                   ('a\0b',)])
def test_confine_refuses_escapes(sandbox, parts):
    base, _canary = sandbox
    with pytest.raises(files.UnsafePath):
        files.confine(str(base), *parts)


def test_confine_refuses_a_symlink_leading_out(sandbox):
    base, canary = sandbox
    os.symlink(str(canary.parent), str(base / 'link'))
    with pytest.raises(files.UnsafePath):
        files.confine(str(base), 'link', 'canary')


def test_remove_tree_stays_inside(sandbox):
    base, _canary = sandbox
    (base / 'vm').mkdir()
    (base / 'vm' / 'f').write_text('x')
    files.remove_tree(str(base), 'vm')
    assert not (base / 'vm').exists()
    for parts in (('..',), ('.',)):
        with pytest.raises(files.UnsafePath):
            files.remove_tree(str(base), *parts)
    assert base.exists()


def test_makedirs_and_write_are_private_whatever_the_umask(sandbox):
    base, _canary = sandbox
    old = os.umask(0)
    try:
        directory = files.makedirs(str(base / 'a' / 'b'))
        files.write_atomic(os.path.join(directory, 'f.json'), '{}')
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(str(base / 'a')).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(os.path.join(directory, 'f.json')).st_mode) == 0o600
    assert files.read_text(os.path.join(directory, 'f.json')) == '{}'


def test_write_replaces_a_planted_symlink_and_never_follows_it(sandbox):
    base, canary = sandbox
    target = base / 'state.json'
    os.symlink(str(canary), str(target))
    files.write_atomic(str(target), 'new')
    assert not os.path.islink(str(target)) and target.read_text() == 'new'


def test_read_refuses_symlinks_and_oversized_files(sandbox):
    base, canary = sandbox
    os.symlink(str(canary), str(base / 'link'))
    with pytest.raises(files.UnsafePath):
        files.read_text(str(base / 'link'))
    (base / 'big').write_text('x' * 100)
    with pytest.raises(files.UnsafePath):
        files.read_text(str(base / 'big'), limit=10)
    assert files.read_text(str(base / 'missing')) is None


def test_makedirs_refuses_a_symlinked_directory(sandbox):
    base, canary = sandbox
    os.symlink(str(canary.parent), str(base / 'dir'))
    with pytest.raises(files.UnsafePath):
        files.makedirs(str(base / 'dir'))


def test_require_trusted(sandbox):
    base, _canary = sandbox
    path = base / 'conf'
    path.write_text('x')
    os.chmod(str(path), 0o600)
    assert files.require_trusted(str(path)) == str(path)
    os.chmod(str(path), 0o620)
    with pytest.raises(files.UnsafePath):
        files.require_trusted(str(path))
