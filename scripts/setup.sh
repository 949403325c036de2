#!/usr/bin/env bash
# One-time (idempotent) setup of a test/development machine of this project's kind
# (Debian 12, root): system packages, the project venv, and what ansible-test needs
# offline. It configures nothing that the collection's roles would do on a user's host.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv="$here/.venv"

apt_packages=(
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config
  qemu-system-x86 nftables python3-nftables dnsmasq-base passt containernetworking-plugins
  iproute2 kmod ethtool iperf3 busybox-static dhcpcd-base cpio linux-image-amd64
  python3-libvirt python3-pyroute2 python3-yaml rsync
  frr frr-pythontools graphviz
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirt resolves its compiled-in default user before reading qemu.conf (toolchain §2).
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || \
  useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu

stamp="$venv/.requirements.sha"
want=$(sha256sum "$here/tests/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/tests/requirements.txt"
  echo "$want" > "$stamp"
fi

# ansible-test's sanity venvs bootstrap pip from a host that is unreachable here:
# a stand-in that uses the pip bundled with CPython (toolchain §1).
pin=$("$venv/bin/python" - <<'PY'
import glob, os, re
import ansible_test
root = os.path.dirname(ansible_test.__file__)
for path in glob.glob(os.path.join(root, '_internal', '**', '*.py'), recursive=True):
    m = re.search(r"get_pip_(\d+_\d+(?:_\d+)?)\.py", open(path, encoding='utf-8').read())
    if m:
        print(m.group(1)); break
PY
)
cache="${HOME:-/root}/.ansible/test/cache"
mkdir -p "$cache"
cat > "$cache/get_pip_${pin:-24_2}.py" <<'PY'
# Stand-in for ansible-test's get-pip bootstrap (the real one lives on a host unreachable here).
import ensurepip, os, subprocess, sys
env = dict(os.environ)                  # ensurepip scrubs PIP_* from os.environ: keep a copy
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
ensurepip.bootstrap(upgrade=False)
r = subprocess.call([sys.executable, '-m', 'pip', 'install', '-q'] + args, env=env)
if r:
    sys.stderr.write('get_pip stand-in: could not install %s, keeping bundled pip\n' % args)
sys.exit(0)
PY

# QEMU 10 (bookworm-backports, extracted under .cache, never installed) for the nested
# SR-IOV test: the emulated igb PF needs QEMU >= 8.
bash "$here/scripts/qemu10.sh" >/dev/null || echo "setup: QEMU 10 unavailable; the nested SR-IOV test will skip"

# The collection must sit under ansible_collections/<ns>/<name> for ansible(-test).
mkdir -p "$here/.build/collections/ansible_collections/vmnet"
ln -sfn "$here" "$here/.build/collections/ansible_collections/vmnet/networks"
echo "setup: ok"
