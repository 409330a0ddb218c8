#!/usr/bin/env bash
# Prints the path of a Debian kernel's vmlinuz, fetched once and kept in
# $vm_cache/kernels/<package>/. The kernel is named by:
#   - a package: linux-image-6.1.0-57-amd64 (Debian 12), linux-image-5.10.0-35-amd64 (Debian 11);
#   - a release: debian-12 or debian-11, for its newest kernel package;
#   - a .deb file of a kernel package.
# Packages come through a private apt configuration (bookworm and bullseye,
# with their -updates and -security suites, from the mirror apt already
# uses), kept in $vm_cache/apt: the machine's own apt state is not touched,
# and nothing is installed on this machine (the .deb is only unpacked).
set -euo pipefail
here=$(dirname "$0")
source "$here/common.sh"

[[ $# -eq 1 && -n $1 ]] || vm_fail "usage: fetch-kernel.sh <linux-image package | debian-12 | debian-11 | file.deb>"
spec=$1

unpack() { # <deb> <dir>: the vmlinuz of a kernel .deb into dir
  local deb=$1 dir=$2 tmp
  tmp=$(mktemp -d "$vm_cache/kernels/unpack.XXXXXX")
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './boot/config-*' \
    || { rm -rf "$tmp"; vm_fail "$deb: not a Debian kernel package (no boot/vmlinuz-* in it)"; }
  mkdir -p "$dir"
  mv "$tmp"/boot/vmlinuz-* "$dir/vmlinuz"
  mv "$tmp"/boot/config-* "$dir/config"
  rm -rf "$tmp"
}

mkdir -p "$vm_cache/kernels"
if [[ $spec == *.deb ]]; then
  [[ -f $spec ]] || vm_fail "$spec: no such file"
  dir=$vm_cache/kernels/deb-$(sha256sum "$spec" | cut -c1-16)
  [[ -s $dir/vmlinuz ]] || unpack "$spec" "$dir"
  echo "$dir/vmlinuz"
  exit 0
fi

# A package already fetched needs no apt at all.
if [[ $spec == linux-image-* && -s $vm_cache/kernels/$spec/vmlinuz ]]; then
  echo "$vm_cache/kernels/$spec/vmlinuz"
  exit 0
fi

apt_dir=$vm_cache/apt
mirror=$(debian_mirror)
security=${mirror%/debian}/debian-security
[[ $security != "$mirror/debian-security" || $mirror == */debian ]] || security=http://deb.debian.org/debian-security
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/etc"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt_dir/etc/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates bullseye bullseye-updates
Components: main
Signed-By: $keyring

Types: deb
URIs: $security
Suites: bookworm-security bullseye-security
Components: main
Signed-By: $keyring
SOURCES
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/etc/debian.sources" -o "Dir::Etc::sourceparts=$apt_dir/etc/none"
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Architecture=amd64"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")

refresh_lists() {
  apt-get "${apt_opts[@]}" -qq update >"$apt_dir/update.log" 2>&1 \
    || vm_fail "apt-get update of the kernel archive ($mirror) failed (see $apt_dir/update.log)"
  touch "$apt_dir/lists.stamp"
}
# Lists a day old are refreshed: a superseded kernel ABI leaves the archive.
# Offline, lists kept from before still name the kernels fetched then.
if [[ ! -e $apt_dir/lists.stamp ]]; then
  refresh_lists
elif [[ -n $(find "$apt_dir/lists.stamp" -mmin +1440) ]]; then
  (refresh_lists) || vm_say "using the kernel lists of $(date -r "$apt_dir/lists.stamp" +%F)"
fi

# The newest kernel of a release (its ABI number: 6.1.0-<N>, 5.10.0-<N>), in
# any of its suites, as an up-to-date machine of that release runs.
release_kernel() {
  apt-cache "${apt_opts[@]}" pkgnames "linux-image-$1-" | grep -E "^linux-image-${1//./\\.}-[0-9]+-amd64\$" | sort -V | tail -1
}
case $spec in
  debian-12) package=$(release_kernel 6.1.0) ;;
  debian-11) package=$(release_kernel 5.10.0) ;;
  linux-image-*) package=$spec ;;
  *) vm_fail "$spec: not a kernel package name (linux-image-...), debian-12, debian-11 or a .deb file" ;;
esac
[[ -n $package ]] || vm_fail "$spec: no kernel package found in the kernel archive (see $apt_dir/update.log)"

dir=$vm_cache/kernels/$package
if [[ ! -s $dir/vmlinuz ]]; then
  if ! apt-cache "${apt_opts[@]}" show "$package" >/dev/null 2>&1; then
    refresh_lists
    apt-cache "${apt_opts[@]}" show "$package" >/dev/null 2>&1 \
      || vm_fail "$package: not in bookworm nor bullseye (apt-cache search linux-image- lists those there)"
  fi
  vm_say "fetching $package (once; kept in $dir)"
  download=$(mktemp -d "$vm_cache/kernels/download.XXXXXX")
  (cd "$download" && apt-get "${apt_opts[@]}" -qq download "$package" >"$download/log" 2>&1) \
    || { cat "$download/log" >&2; rm -rf "$download"; vm_fail "apt-get download $package failed"; }
  unpack "$download"/*.deb "$dir"
  rm -rf "$download"
fi
echo "$dir/vmlinuz"
