#!/usr/bin/env bash
# Builds the guest's root filesystem once: a debootstrap --variant=minbase
# bookworm, with what the tests run inside (a C compiler and libssl-dev for
# their small programs, clang and libbpf-dev for the BPF objects of their
# own, openssl, bpftool, sysctl, ip), libbpf1 and libelf1
# for the addon, and this machine's Node (its binary and npm). Kept as an
# uncompressed cpio archive, $vm_cache/rootfs.cpio, which the kernel
# unpacks as its initramfs: the guest then needs no disk driver, and no
# module of the kernel under test. Rebuilt only when missing or when this
# recipe or the Node binary changed (rootfs.stamp).
set -euo pipefail
here=$(dirname "$0")
source "$here/common.sh"

node_bin=$(command -v node) || vm_fail "node is not installed on this machine"
packages=netbase,gcc,libc6-dev,libssl-dev,openssl,bpftool,procps,iproute2,libbpf1,libelf1,libstdc++6,clang,libbpf-dev
stamp_want=$( { sha256sum "$0" | cut -d' ' -f1; sha256sum "$node_bin" | cut -d' ' -f1; } | sha256sum | cut -d' ' -f1)
if [[ -s $vm_cache/rootfs.cpio && $(cat "$vm_cache/rootfs.stamp" 2>/dev/null) == "$stamp_want" ]]; then
  exit 0
fi

mkdir -p "$vm_cache"
mirror=$(debian_mirror)
vm_say "building the guest root filesystem: debootstrap --variant=minbase bookworm from $mirror (once; kept in $vm_cache)"
rootfs=$(mktemp -d "$vm_cache/rootfs.XXXXXX")
trap 'rm -rf "$rootfs" "$vm_cache/rootfs.cpio.part"' EXIT
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >"$vm_cache/debootstrap.log" 2>&1 \
  || vm_fail "debootstrap of the guest root filesystem failed (see $vm_cache/debootstrap.log)"

install -m 755 "$node_bin" "$rootfs/usr/local/bin/node"
npm_dir=$(dirname "$(dirname "$node_bin")")/lib/node_modules/npm
if [[ -d $npm_dir ]]; then
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
fi
# What a booted guest never reads: smaller to unpack at each boot.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale "$rootfs"/usr/share/info
echo ebpf-forward-vm >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost ebpf-forward-vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"

(cd "$rootfs" && find . -xdev -print0 | cpio --null -o -H newc --quiet) >"$vm_cache/rootfs.cpio.part"
mv "$vm_cache/rootfs.cpio.part" "$vm_cache/rootfs.cpio"
echo "$stamp_want" >"$vm_cache/rootfs.stamp"
vm_say "guest root filesystem ready: $vm_cache/rootfs.cpio ($(du -h "$vm_cache/rootfs.cpio" | cut -f1))"
