# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make bench``: the glue's throughput, the plumbing time and the masquerade binding's
throughput (and the passt binding's, with its memory per VM), each as a ratio to a baseline
measured in the same run, the size of the masquerade nft table as forwarded ports grow, and
the fleet's throughput across hosts, and the time per VM of N VMs through the vm role and the
vm module's many-VM form (scale.py). Prints
the tables and writes bench/results/latest.txt. Needs root; touches only namespaces and links
it makes (all named ``vmnb*``; the fleet's inside simulated hosts it destroys)."""

import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), '.build', 'collections'))

import fleet_throughput  # noqa: E402  (after the collection path)
import glue_throughput  # noqa: E402
import masquerade  # noqa: E402
import plumb_time  # noqa: E402
import scale  # noqa: E402
from _netns import exit_on_sigterm  # noqa: E402

RESULTS = os.path.join(HERE, 'results', 'latest.txt')


def header():
    return 'vmnet.networks bench, %s, kernel %s, %d CPUs, %s\n' % (
        time.strftime('%Y-%m-%d %H:%M:%S'), platform.release(), os.cpu_count(), load('start'))


def load(when):
    """The load average: other work on the box makes the figures noisy."""
    return 'load average at %s %.2f %.2f %.2f' % ((when,) + os.getloadavg())


def main():
    if os.geteuid() != 0:
        sys.exit('bench: needs root (it creates network namespaces and links)')
    exit_on_sigterm()
    sections = [header()]
    print(sections[0], flush=True)
    for bench in (glue_throughput, plumb_time, masquerade, fleet_throughput, scale):
        sections.append(bench.run())
        print(sections[-1], flush=True)
    sections.append(load('end') + '\n')
    print(sections[-1])
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, 'w') as handle:
        handle.write('\n'.join(sections))
    print('written to %s' % os.path.relpath(RESULTS))


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:  # the ledgers have already removed what was made
        sys.exit('bench: interrupted')
