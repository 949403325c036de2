#!/usr/bin/env bash
# Build the vmnet test guest: a busybox initramfs for the Debian 6.1 kernel installed
# on this machine (linux-image-amd64), holding its NIC driver modules, dhcpcd for DHCPv6,
# tools/guest/init, dhcp-event.sh and dhcp6-event.sh. See init for what the guest does
# and prints.
#
#   tools/guest/build-initramfs.sh OUT.gz
#
# Prints the kernel image to boot the initramfs with (OUT.vmlinux, the kernel
# decompressed for PVH boot, or the vmlinuz; see tools/lib/initramfs.sh). Outputs are
# rebuilt only when an input changed (OUT.stamp holds their checksum).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/lib/initramfs.sh
. "$here/../lib/initramfs.sh"
[ $# -eq 1 ] || { echo "usage: $0 OUT.gz" >&2; exit 2; }

# busybox has no DHCPv6 client: dhcpcd (dhcpcd-base) with the C library it links.
readonly DHCPCD=/usr/sbin/dhcpcd

# Drivers for the NIC models the tests boot with; virtio_pci carries every virtio device.
# QEMU's rtl8139 is an RTL8139C+ (revision 0x20), which 8139cp drives (8139too refuses it).
initramfs_setup "$1" virtio_pci virtio_net e1000 8139cp
initramfs_cached "$here/build-initramfs.sh" "$here/init" "$here/dhcp-event.sh" "$here/dhcp6-event.sh" \
  "$DHCPCD" && exit 0

root=$(mktemp -d)
trap 'rm -rf "$root" "$out.tmp" "$vmlinux.tmp"' EXIT
initramfs_base "$root"
mkdir -p "$root"/{run,tmp,www,etc,var/lib/dhcpcd,run/dhcpcd}
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/dhcp-event.sh" "$root/bin/dhcp-event.sh"
install -m 0755 "$here/dhcp6-event.sh" "$root/bin/dhcp6-event.sh"
install -m 0755 "$DHCPCD" "$root/bin/dhcpcd"
for lib in $(ldd "$DHCPCD" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo 'root:x:0:0::/:/bin/sh' > "$root/etc/passwd"
echo 'dhcpcd:x:100:65534::/var/lib/dhcpcd:/bin/false' >> "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
initramfs_finish "$root"
