# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make bench`` starts: bench/run.py and every section it runs import in a fresh interpreter
(an import cycle through the integration tests' helpers once broke it without any test failing)."""

import os
import subprocess
import sys

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'bench')


def test_bench_runner_imports():
    proc = subprocess.run([sys.executable, '-c', 'import run'], cwd=BENCH, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout
