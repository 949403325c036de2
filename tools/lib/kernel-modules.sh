# Shared by tools/guest/build-initramfs.sh and tools/nested/build-initramfs.sh (sourced):
# which Debian 6.1 kernel the test guests boot, and the modules to insmod into it.

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
