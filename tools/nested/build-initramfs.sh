#!/usr/bin/env bash
# Build the initramfs of the nested SR-IOV test guest (tests/integration/test_sriov_nested.py):
# busybox, the virtio and 9p modules of the Debian 6.1 kernel, and tools/nested/init, which
# mounts the *host's root read-only over virtio-9p* and runs a script from a writable 9p
# scratch share inside a chroot into it (reference toolchain §8). The host's python, venv,
# pyroute2, kmod and /lib/modules then run inside the guest, whose kernel has SR-IOV,
# igb/igbvf and vfio-pci.
#
#   tools/nested/build-initramfs.sh OUT.gz
#
# Prints the kernel image to boot with (see tools/lib/initramfs.sh). Rebuilt only when an
# input changed (OUT.stamp).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/lib/initramfs.sh
. "$here/../lib/initramfs.sh"
[ $# -eq 1 ] || { echo "usage: $0 OUT.gz" >&2; exit 2; }

# virtio_pci carries the 9p transport; 9pnet_virtio and 9p mount the shares.
initramfs_setup "$1" virtio_pci 9pnet_virtio 9p
initramfs_cached "$here/build-initramfs.sh" "$here/init" && exit 0

root=$(mktemp -d)
trap 'rm -rf "$root" "$out.tmp" "$vmlinux.tmp"' EXIT
initramfs_base "$root"
mkdir -p "$root/host"
install -m 0755 "$here/init" "$root/init"
initramfs_finish "$root"
