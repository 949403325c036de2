#!/usr/bin/env bash
# QEMU 10 from bookworm-backports, downloaded and *extracted* (never installed) under
# .cache/qemu10/root, for the nested SR-IOV test (tests/integration/test_sriov_nested.py):
# its emulated `igb` NIC is an SR-IOV PF (QEMU >= 8.0; bookworm's own QEMU 7.2 lacks it).
# libvirt keeps using the system's QEMU. Idempotent: does nothing when the extracted
# binary is there and matches the stamp. See reference toolchain §8.
#
#   scripts/qemu10.sh            download + extract if needed; prints the binary's path
#   scripts/qemu10.sh --path     prints the binary's path if it is there (exit 1 if not)
#
# The side apt configuration (sources list, lists, archives) lives in .cache/qemu10/apt;
# the mirror is the one of the machine's own Debian sources (/etc/apt/sources.list*).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache="$here/.cache/qemu10"
root="$cache/root"
bin="$root/usr/bin/qemu-system-x86_64"
stamp="$cache/stamp"
readonly PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data)
readonly SUITE=bookworm-backports

if [ "${1:-}" = --path ]; then
  [ -x "$bin" ] && [ -f "$stamp" ] && { echo "$bin"; exit 0; }
  exit 1
fi

if [ -x "$bin" ] && [ -f "$stamp" ]; then
  echo "$bin"
  exit 0
fi

# The machine's Debian mirror: the first URI of the main archive (not -security).
mirror() {
  local m
  m=$( { cat /etc/apt/sources.list 2>/dev/null; cat /etc/apt/sources.list.d/*.list 2>/dev/null; } |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' |
    grep -v -- -security | head -n1 || true)
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' | grep -v -- -security | head -n1 || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

mkdir -p "$cache/apt/lists/partial" "$cache/apt/archives/partial" "$cache/debs"
exec 9> "$cache/.lock"
flock 9
[ -x "$bin" ] && [ -f "$stamp" ] && { echo "$bin"; exit 0; }

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] $(mirror) $SUITE main" > "$cache/apt/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache::Archives=$cache/apt/archives"
  -o Dir::State::Status=/var/lib/dpkg/status -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
echo "qemu10: apt-get update ($SUITE)" >&2
apt-get "${apt_opts[@]}" -qq update >&2
version=$(apt-cache "${apt_opts[@]}" madison qemu-system-x86 | awk -v s="$SUITE" '$0 ~ s { print $3; exit }')
if [ -z "$version" ]; then
  echo "qemu10: qemu-system-x86 not found in $SUITE" >&2
  exit 1
fi
case "$version" in
  1:[89].*|1:[1-9][0-9].*) ;;
  *) echo "qemu10: $SUITE has qemu-system-x86 $version, older than 8.0 (no igb)" >&2; exit 1 ;;
esac
(cd "$cache/debs" && rm -f ./*.deb &&
  apt-get "${apt_opts[@]}" -qq download "${PACKAGES[@]/%/=$version}" >&2)
rm -rf "$root.tmp"
mkdir -p "$root.tmp"
for deb in "$cache"/debs/*.deb; do
  dpkg-deb -x "$deb" "$root.tmp"
done
rm -rf "$root"
mv "$root.tmp" "$root"
rm -f "$cache"/debs/*.deb
echo "$version" > "$stamp"
echo "qemu10: extracted qemu-system-x86 $version into $root" >&2
echo "$bin"
