#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) to build and run ebpf-forward:
# the Debian packages the build needs, then npm ci (which builds everything).
# Idempotent and quick when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# The development build: clang, llvm (llvm-strip), bpftool and libbpf-dev
# (the BPF programs' headers) for the BPF objects; g++, make, python3
# (node-gyp) and libbpf1 (libbpf.so.1) for the addon, whose libbpf headers are
# vendored. The installed package needs only libbpf1 (see docs/install.md).
# openssl: the tests' TLS peers run on its libssl.so.3 and make their certificate with it.
packages=(clang llvm bpftool libbpf-dev libbpf1 make g++ python3 openssl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "ebpf-forward setup: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "ebpf-forward setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  node scripts/build.mjs
fi
