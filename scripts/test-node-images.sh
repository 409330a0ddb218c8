#!/usr/bin/env bash
# Local stand-ins for the two images docker/Dockerfile starts from,
# node:20-bookworm and node:20-bookworm-slim, for test/system/image to build it
# with no registry reachable. Each is the debootstrap base of
# scripts/test-runtimes.sh with this host's Node 20 laid out as the official
# images lay it out: node, npm and npx in /usr/local/bin, npm and corepack
# in /usr/local/lib/node_modules, Node's headers in /usr/local/include/node
# (node-gyp builds the addon against them). The -slim one is trimmed as
# debian:bookworm-slim is (no apt lists or cached packages, no docs, man
# pages or locales, and dpkg told to leave them out; apt's caches are not
# kept in either, as in all of Debian's images), so the image built on
# it measures what the official one would; the other keeps what the base
# has (the official one has a compiler more, which scripts/setup.sh installs).
#
# Tagged docker.io/library/node:20-bookworm[-slim] in podman, which builds
# the image (docker 20.10's legacy builder can't: see docs/install.md, The
# image), and made again only when the base, the host's Node or this script
# change (a label on each image says which). Called by
# scripts/test-runtimes.sh once podman is set up; can be run alone (as
# root). Its outcome is one line in $state/status/node-images ("ok", or why
# not), which test/system/image reads.
set -uo pipefail

state=/var/cache/ebpf-forward-test
base_tar=$state/debian-bookworm-minbase.tar
label=ebpf-forward-test.node-stand-in

status_file=$state/status/node-images

say() { echo "ebpf-forward test setup: $*" >&2; }
# Says why the stand-ins can't be had, for the setup's log and test/system/image.
give_up() {
  say "$1"
  mkdir -p "$(dirname "$status_file")" && printf '%s\n' "$1" >"$status_file"
  exit 1
}

node_bin=$(command -v node) || give_up "no node on the PATH: the node image stand-ins need the host's Node 20"
node_bin=$(readlink -f "$node_bin")
prefix=$(dirname "$(dirname "$node_bin")")
version=$("$node_bin" --version)
if [[ $version != v20.* ]]; then
  give_up "the host's node is $version: the stand-ins for node:20-* need Node 20"
fi
for need in "$prefix/include/node/node_api.h" "$prefix/lib/node_modules/npm/bin/npm-cli.js"; do
  [[ -e $need ]] || give_up "$need is missing: the node image stand-ins need Node's headers and npm"
done
[[ -s $base_tar ]] || give_up "no base image $base_tar (scripts/test-runtimes.sh makes it)"

key=$({ echo "$version"; stat -c '%s %Y' "$base_tar"; sha256sum <"$0"; } | sha256sum | cut -c1-16)

# Writes the rootfs of a stand-in as the tar $2; $1 is "full" or "slim".
make_rootfs() {
  local flavour=$1 out=$2 root
  root=$(mktemp -d "$state/node-rootfs.XXXXXX")
  tar -C "$root" -xf "$base_tar" || return 1
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin
  # Debian's images keep apt from leaving its caches (docker-clean).
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
  if [[ $flavour == slim ]]; then
    rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    # debian:bookworm-slim's dpkg excludes: later packages bring no docs either.
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
      'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
      'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
      >"$root/etc/dpkg/dpkg.cfg.d/docker"
  fi
  mkdir -p "$root/usr/local/bin" "$root/usr/local/include" "$root/usr/local/lib/node_modules"
  cp -a "$node_bin" "$root/usr/local/bin/node"
  cp -a "$prefix/include/node" "$root/usr/local/include/"
  cp -a "$prefix/lib/node_modules/npm" "$root/usr/local/lib/node_modules/"
  [[ -d $prefix/lib/node_modules/corepack ]] && cp -a "$prefix/lib/node_modules/corepack" "$root/usr/local/lib/node_modules/"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  [[ -d $root/usr/local/lib/node_modules/corepack ]] && ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"
  tar -C "$root" -cf "$out" . || return 1
  rm -rf "$root"
}

# What the official images set: PATH as Debian's, NODE_VERSION, `node` as the command.
changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=${version#v}" --change 'CMD ["node"]' --change "LABEL $label=$key")

for flavour in full slim; do
  tag=20-bookworm
  [[ $flavour == slim ]] && tag=20-bookworm-slim
  have=$(podman image inspect -f "{{index .Labels \"$label\"}}" "docker.io/library/node:$tag" 2>/dev/null)
  [[ $have == "$key" ]] && continue
  say "making the stand-in node:$tag (the base with this host's Node $version; once)"
  rootfs=$state/node-$tag.tar
  make_rootfs "$flavour" "$rootfs" || { rm -f "$rootfs"; give_up "could not make the rootfs of the stand-in node:$tag in $state"; }
  old=$(podman image inspect -f '{{.Id}}' "docker.io/library/node:$tag" 2>/dev/null)
  podman import -q "${changes[@]}" "$rootfs" "docker.io/library/node:$tag" >/dev/null || { rm -f "$rootfs"; give_up "podman import of the stand-in node:$tag failed"; }
  rm -f "$rootfs"
  # The one it replaces, unless something still uses it.
  [[ -n $old ]] && podman rmi "$old" >/dev/null 2>&1
done
mkdir -p "$(dirname "$status_file")" && echo ok >"$status_file"
