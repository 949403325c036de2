# Shared by tools/guest/build-initramfs.sh and tools/nested/build-initramfs.sh (sourced):
# a busybox initramfs for the newest Debian 6.1 kernel installed here, its modules in
# load order, a cache keyed on the inputs' contents, and the kernel to boot it with.
#
#   initramfs_setup OUT.gz MODULE...     choose the kernel, resolve the modules
#   initramfs_cached INPUT... && exit 0  print the cached kernel when nothing changed
#   initramfs_base ROOT                  busybox, its applets, the modules, load-order
#   initramfs_finish ROOT                pack ROOT into OUT.gz, print the kernel to boot
#
# VMNET_GUEST_KERNEL=<version> picks a kernel other than the newest 6.1 one.

readonly BUSYBOX=/bin/busybox     # busybox-static: no libraries needed in the image
_initramfs_lib=${BASH_SOURCE[0]}

# The newest installed 6.1 kernel that has both its image and its modules.
newest_kernel() {
  local v
  for v in $(printf '%s\n' /lib/modules/6.1.0-*-amd64 | sort -V -r); do
    v=${v##*/}
    [ -f "/boot/vmlinuz-$v" ] && { echo "$v"; return; }
  done
  echo "build-initramfs: no Debian 6.1 kernel with modules (install linux-image-amd64)" >&2
  return 1
}

# load_order MODDIR MODULE...: the .ko files to insmod, dependencies first (modules.dep
# lists each module's dependencies, the last one to be loaded first), each once.
load_order() {
  local moddir=$1 module line deps dep i
  shift
  declare -A seen=()
  for module in "$@"; do
    line=$(grep -E "(^|/)${module}\.ko:" "$moddir/modules.dep") || {
      echo "build-initramfs: $module is not a module of ${moddir##*/}" >&2; return 1; }
    read -r -a deps <<< "${line#*:}"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
      dep=${deps[i]}
      [ -n "${seen[$dep]:-}" ] || { seen[$dep]=1; echo "$dep"; }
    done
    dep=${line%%:*}
    [ -n "${seen[$dep]:-}" ] || { seen[$dep]=1; echo "$dep"; }
  done
}

initramfs_setup() {
  out=$(realpath -m "$1")
  shift
  vmlinux=${out%.gz}.vmlinux
  kver=${VMNET_GUEST_KERNEL:-$(newest_kernel)}
  vmlinuz=/boot/vmlinuz-$kver
  moddir=/lib/modules/$kver
  mapfile -t modules < <(load_order "$moddir" "$@")
  local m
  for m in "${modules[@]}"; do
    case "$m" in
      *.ko) ;;
      *) echo "build-initramfs: $m is compressed; only plain .ko modules are supported" >&2; exit 1 ;;
    esac
  done
}

# Takes the cache's lock (test sessions side by side share it: one builds, the others
# wait); prints the kernel and succeeds when OUT is current for these inputs.
initramfs_cached() {
  local inputs=("$@" "$_initramfs_lib" "$BUSYBOX" "$vmlinuz" "/boot/config-$kver") m kernel
  for m in "${modules[@]}"; do
    inputs+=("$moddir/$m")
  done
  # Contents only: the same inputs give the same stamp whatever the paths look like.
  stamp=$( { printf '%s\n' "$vmlinuz" "${modules[@]}"; sha256sum "${inputs[@]}" | cut -d' ' -f1; } |
    sha256sum | cut -d' ' -f1)
  mkdir -p "$(dirname "$out")"
  exec 9> "$out.lock"
  flock 9
  # OUT.stamp: the inputs' checksum, then the kernel to boot with.
  [ -f "$out" ] && [ "$(head -n1 "$out.stamp" 2>/dev/null)" = "$stamp" ] || return 1
  kernel=$(sed -n 2p "$out.stamp")
  [ -f "$kernel" ] || return 1
  echo "$kernel"
}

initramfs_base() {
  local root=$1 applet m
  mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  for m in "${modules[@]}"; do
    cp "$moddir/$m" "$root/lib/modules/"
    basename "$m" >> "$root/lib/modules/load-order"
  done
}

# Writes the ELF kernel inside an xz-compressed bzImage to $2; fails if there is none.
_extract_vmlinux() {
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

# Packs ROOT into OUT and prints the kernel to boot with: the decompressed kernel, which
# QEMU boots through its PVH entry point (under TCG that halves the boot: no 8 MB of xz
# to decompress), else the stock vmlinuz.
initramfs_finish() {
  local root=$1 kernel=$vmlinuz
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$out.tmp"
  chmod 0644 "$out.tmp"
  mv "$out.tmp" "$out"
  if grep -qx 'CONFIG_PVH=y' "/boot/config-$kver" && _extract_vmlinux "$vmlinuz" "$vmlinux.tmp"; then
    mv "$vmlinux.tmp" "$vmlinux"
    kernel=$vmlinux
  else
    rm -f "$vmlinux.tmp" "$vmlinux"
  fi
  printf '%s\n%s\n' "$stamp" "$kernel" > "$out.stamp"
  echo "build-initramfs: built $out ($(du -h "$out" | cut -f1)) for $kernel" >&2
  echo "$kernel"
}
