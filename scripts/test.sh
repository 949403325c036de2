#!/usr/bin/env bash
# The project's tests, by stage: sanity, lint, unit, integration, molecule, release, or all.
# `make test` runs `all`: the pytest run (unit + integration) comes last so that its
# closing line is the run's verdict.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
stage=${1:-all}
bin="$here/.venv/bin"
# Runnable alone as well as from make: the venv first (molecule runs ansible-config), the
# collection through its symlink tree, and libvirtd required (no silent skip).
export PATH="$bin:$PATH:/usr/sbin:/sbin"
export ANSIBLE_COLLECTIONS_PATH="$here/.build/collections" PYTHONPATH="$here/.build/collections"
export VMNET_REQUIRE_LIBVIRT=1

sanity() {
  # ansible-test needs a real ansible_collections/<ns>/<name> tree, outside any git work
  # tree (inside one it would only see tracked files): test a copy.
  local dest="${TMPDIR:-/tmp}/vmnet-sanity/ansible_collections/vmnet/networks"
  mkdir -p "$dest"
  rsync -a --delete --exclude .venv --exclude .build --exclude .cache --exclude .git \
    --exclude tests/output --exclude '__pycache__' --exclude .pytest_cache --exclude .hypothesis \
    "$here/" "$dest/"
  (cd "$dest" && "$bin/ansible-test" sanity --python 3.11 --local --color no)
}

lint() {
  # ansible-lint puts ~/.ansible/collections first: a collection installed there (an older
  # vmnet.networks, say) would shadow this tree's modules; give it an empty home of its own
  ANSIBLE_HOME="$here/.cache/ansible-home" "$bin/ansible-lint" --offline --profile production -q
}

pytests() {
  "$bin/pytest" -p no:cacheprovider -q "$@"
}

molecule_all() {
  local s t0
  for s in roles/*/molecule/default; do
    [ -d "$s" ] || continue
    t0=$(date +%s)
    (cd "$(dirname "$(dirname "$s")")" && "$bin/molecule" test)
    echo "molecule: $(dirname "$(dirname "$s")") passed in $(( $(date +%s) - t0 )) s"
  done
}

release() {
  # The tarball a user gets, built from this working tree as it is after setup and the
  # tests (so build_ignore is proven to keep their litter out), checked as Galaxy would.
  local out="${TMPDIR:-/tmp}/vmnet-release" tarball unpacked t0
  t0=$(date +%s)
  rm -rf "$out" && mkdir -p "$out"
  "$bin/ansible-galaxy" collection build --output-path "$out" "$here" >/dev/null
  tarball=$(ls "$out"/vmnet-networks-*.tar.gz)
  echo "release: $(basename "$tarball") $(stat -c %s "$tarball") bytes, $(tar tzf "$tarball" | wc -l) entries"
  if tar tzf "$tarball" | grep -E '(^|/)(\.cache|\.venv|\.build|\.ci|\.hypothesis|\.pytest_cache|__pycache__|molecule|scripts|bench|tests/output)(/|$)|^Makefile$'; then
    echo "release: the tarball holds development litter (above)" >&2; return 1
  fi
  (cd "$out" && GALAXY_IMPORTER_CONFIG="$here/tests/galaxy-importer.cfg" "$bin/python" -m galaxy_importer.main "$tarball") \
    > "$out/importer.log" 2>&1 || { cat "$out/importer.log"; echo "release: galaxy-importer failed" >&2; return 1; }
  if grep -E '^(WARNING|ERROR)' "$out/importer.log"; then echo "release: galaxy-importer warned" >&2; return 1; fi
  echo "release: galaxy-importer ok"
  unpacked="$out/tree/ansible_collections/vmnet/networks"
  mkdir -p "$unpacked" && tar xzf "$tarball" -C "$unpacked"
  (cd "$unpacked" && ANSIBLE_COLLECTIONS_PATH="$out/tree" PYTHONPATH="$out/tree" \
    "$bin/antsibull-docs" lint-collection-docs --plugin-docs .)
  echo "release: antsibull-docs lint-collection-docs ok ($(( $(date +%s) - t0 )) s)"
}

with_libvirt() {
  # start libvirtd for the run if it is not running; stop it afterwards only if we started it
  if ! bash scripts/libvirtd.sh status >/dev/null 2>&1; then
    bash scripts/libvirtd.sh start
    trap 'bash scripts/libvirtd.sh stop' EXIT
  fi
}

case "$stage" in
  sanity) sanity ;;
  lint) lint ;;
  unit) pytests tests/unit ;;
  integration) with_libvirt; pytests tests/integration ;;
  molecule) with_libvirt; molecule_all ;;
  release) release ;;
  all)
    start=$(date +%s)
    sanity
    lint
    with_libvirt
    molecule_all
    pytests tests/unit tests/integration
    release
    echo "test: all stages passed in $(( $(date +%s) - start )) s"
    ;;
  *) echo "usage: $0 sanity|lint|unit|integration|molecule|release|all" >&2; exit 2 ;;
esac
