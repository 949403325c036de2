#!/usr/bin/env bash
# Build the vmnet test guest: a busybox initramfs for the Debian 6.1 kernel installed
# on this machine (linux-image-amd64), holding its NIC driver modules, tools/guest/init
# and tools/guest/dhcp-event.sh. See init for what the guest does and prints.
#
#   tools/guest/build-initramfs.sh OUT.gz
#
# Prints the kernel image to boot the initramfs with: OUT.vmlinux, the kernel
# decompressed, which QEMU boots through its PVH entry point. Under TCG that halves the
# boot (the lease comes ~3.5 s after start instead of ~6.7 s: the guest no longer
# decompresses 8 MB of xz). Kernels without PVH or not xz-compressed get their vmlinuz.
# Outputs are rebuilt only when an input changed (OUT.stamp holds their checksum).
# VMNET_GUEST_KERNEL=<version> picks a kernel other than the newest 6.1 one.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/lib/kernel-modules.sh
. "$here/../lib/kernel-modules.sh"
[ $# -eq 1 ] || { echo "usage: $0 OUT.gz" >&2; exit 2; }
out=$(realpath -m "$1")
vmlinux=${out%.gz}.vmlinux

# Drivers for the NIC models the tests boot with; virtio_pci carries every virtio device.
readonly DRIVERS=(virtio_pci virtio_net e1000)
readonly BUSYBOX=/bin/busybox     # busybox-static: no libraries needed in the image
# busybox has no DHCPv6 client: dhcpcd (dhcpcd-base) with the C library it links.
readonly DHCPCD=/usr/sbin/dhcpcd

kver=${VMNET_GUEST_KERNEL:-$(newest_kernel)}
vmlinuz=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver

# Writes the ELF kernel inside an xz-compressed bzImage to $2; fails if there is none.
extract_vmlinux() {
  python3 - "$1" "$2" <<'PY'
import lzma, sys
image = open(sys.argv[1], 'rb').read()
start = image.find(b'\xfd7zXZ\x00')
if start < 0:
    sys.exit(1)
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(image[start:])
if not elf.startswith(b'\x7fELF'):
    sys.exit(1)
open(sys.argv[2], 'wb').write(elf)
PY
}

build_initramfs() {
  local root=$1 m applet
  mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,www,lib/modules}
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  install -m 0755 "$here/init" "$root/init"
  install -m 0755 "$here/dhcp-event.sh" "$root/bin/dhcp-event.sh"
  install -m 0755 "$here/dhcp6-event.sh" "$root/bin/dhcp6-event.sh"
  install -m 0755 "$DHCPCD" "$root/bin/dhcpcd"
  for lib in $(ldd "$DHCPCD" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  mkdir -p "$root"/{etc,var/lib/dhcpcd,run/dhcpcd}
  echo 'root:x:0:0::/:/bin/sh' > "$root/etc/passwd"
  echo 'dhcpcd:x:100:65534::/var/lib/dhcpcd:/bin/false' >> "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"
  for m in "${modules[@]}"; do
    cp "$moddir/$m" "$root/lib/modules/"
    basename "$m" >> "$root/lib/modules/load-order"
  done
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$out.tmp"
  chmod 0644 "$out.tmp"
  mv "$out.tmp" "$out"
}

# Prints the kernel to boot with.
build_kernel() {
  if grep -qx 'CONFIG_PVH=y' "/boot/config-$kver" && extract_vmlinux "$vmlinuz" "$vmlinux.tmp"; then
    mv "$vmlinux.tmp" "$vmlinux"
    echo "$vmlinux"
  else
    rm -f "$vmlinux.tmp" "$vmlinux"
    echo "$vmlinuz"
  fi
}

mapfile -t modules < <(load_order "$moddir" "${DRIVERS[@]}")
inputs=("$here/build-initramfs.sh" "$here/../lib/kernel-modules.sh" "$here/init" "$here/dhcp-event.sh" "$here/dhcp6-event.sh" "$BUSYBOX" "$DHCPCD"
  "$vmlinuz" "/boot/config-$kver")
for m in "${modules[@]}"; do
  case "$m" in
    *.ko) inputs+=("$moddir/$m") ;;
    *) echo "build-initramfs: $m is compressed; only plain .ko modules are supported" >&2; exit 1 ;;
  esac
done
# Contents only: the same inputs give the same stamp whatever the paths look like.
stamp=$( { printf '%s\n' "$vmlinuz" "${modules[@]}"; sha256sum "${inputs[@]}" | cut -d' ' -f1; } |
  sha256sum | cut -d' ' -f1)

mkdir -p "$(dirname "$out")"
# Test sessions running side by side share the cache: one builds, the others wait.
exec 9> "$out.lock"
flock 9

# OUT.stamp: the inputs' checksum, then the kernel to boot with.
if [ -f "$out" ] && [ "$(head -n1 "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
  kernel=$(sed -n 2p "$out.stamp")
  if [ -f "$kernel" ]; then
    echo "$kernel"
    exit 0
  fi
fi

root=$(mktemp -d)
trap 'rm -rf "$root" "$out.tmp" "$vmlinux.tmp"' EXIT
build_initramfs "$root"
kernel=$(build_kernel)
printf '%s\n%s\n' "$stamp" "$kernel" > "$out.stamp"
echo "build-initramfs: built $out ($(du -h "$out" | cut -f1)) for $kernel" >&2
echo "$kernel"
