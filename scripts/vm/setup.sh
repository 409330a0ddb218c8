#!/usr/bin/env bash
# What scripts/vm-run.sh needs: qemu (software emulation is enough; KVM is
# used where it works), cpio and debootstrap from Debian's packages; the
# guest's root filesystem; Debian 12's and Debian 11's newest kernels (those
# test/system/vm boots).
# Idempotent, and quick when all is in place. Called by scripts/test-setup.sh.
set -euo pipefail
here=$(dirname "$0")
source "$here/common.sh"

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v cpio >/dev/null || missing+=(cpio)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) -eq 0 ]] || vm_fail "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y --no-install-recommends ${missing[*]}"
  vm_say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ $(id -u) -eq 0 ]] || vm_fail "must run as root (the cache is $vm_cache)"
mkdir -p "$vm_cache"
exec {lock}>"$vm_cache/lock" # as scripts/vm-run.sh: one builder at a time
flock "$lock"
bash "$here/build-rootfs.sh"
bash "$here/fetch-kernel.sh" debian-12 >/dev/null
bash "$here/fetch-kernel.sh" debian-11 >/dev/null
