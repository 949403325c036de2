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
# Prints the kernel image to boot with (the PVH vmlinux that tools/guest/build-initramfs.sh
# extracts, else the vmlinuz). Rebuilt only when an input changed (OUT.stamp).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/lib/kernel-modules.sh
. "$here/../lib/kernel-modules.sh"
[ $# -eq 1 ] || { echo "usage: $0 OUT.gz" >&2; exit 2; }
out=$(realpath -m "$1")
vmlinux=${out%.gz}.vmlinux

# virtio_pci carries the 9p transport; 9pnet_virtio and 9p mount the shares.
readonly MODULES=(virtio_pci 9pnet_virtio 9p)
readonly BUSYBOX=/bin/busybox

kver=${VMNET_GUEST_KERNEL:-$(newest_kernel)}
vmlinuz=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver

mapfile -t modules < <(load_order "$moddir" "${MODULES[@]}")
inputs=("$here/build-initramfs.sh" "$here/../lib/kernel-modules.sh" "$here/init" "$BUSYBOX" "$vmlinuz")
for m in "${modules[@]}"; do
  case "$m" in
    *.ko) inputs+=("$moddir/$m") ;;
    *) echo "nested build-initramfs: $m is compressed; only plain .ko modules are supported" >&2; exit 1 ;;
  esac
done
stamp=$( { printf '%s\n' "$vmlinuz" "${modules[@]}"; sha256sum "${inputs[@]}" | cut -d' ' -f1; } |
  sha256sum | cut -d' ' -f1)

mkdir -p "$(dirname "$out")"
exec 9> "$out.lock"
flock 9

if [ -f "$out" ] && [ "$(head -n1 "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
  kernel=$(sed -n 2p "$out.stamp")
  if [ -f "$kernel" ]; then
    echo "$kernel"
    exit 0
  fi
fi

root=$(mktemp -d)
trap 'rm -rf "$root" "$out.tmp" "$vmlinux.tmp"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules}
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init" "$root/init"
for m in "${modules[@]}"; do
  cp "$moddir/$m" "$root/lib/modules/"
  basename "$m" >> "$root/lib/modules/load-order"
done
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$out.tmp"
chmod 0644 "$out.tmp"
mv "$out.tmp" "$out"

# The kernel: the test guest's PVH vmlinux when it is there (it boots twice as fast
# under TCG), else the compressed image.
kernel=$vmlinuz
if grep -qx 'CONFIG_PVH=y' "/boot/config-$kver"; then
  if python3 - "$vmlinuz" "$vmlinux.tmp" <<'PY'
import lzma, sys
image = open(sys.argv[1], 'rb').read()
start = image.find(b'\xfd7zXZ\x00')
if start < 0:
    sys.exit(1)
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(image[start:])
sys.exit(0 if elf.startswith(b'\x7fELF') and open(sys.argv[2], 'wb').write(elf) else 1)
PY
  then
    mv "$vmlinux.tmp" "$vmlinux"
    kernel=$vmlinux
  fi
fi
printf '%s\n%s\n' "$stamp" "$kernel" > "$out.stamp"
echo "nested build-initramfs: built $out ($(du -h "$out" | cut -f1)) for $kernel" >&2
echo "$kernel"
