# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by every unit test."""

import pytest
from ansible.module_utils import _internal


@pytest.fixture(autouse=True)
def module_side(monkeypatch):
    """Modules run here as on a managed host: importing controller code (a filter plugin's
    ansible.errors, say) switches the process to controller mode, where a module's warnings
    go to the display instead of its result."""
    monkeypatch.setattr(_internal, 'is_controller', False)
