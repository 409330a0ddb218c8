#!/usr/bin/env bash
# What the tests need beyond the build (scripts/setup.sh): promtool, from
# Debian's prometheus package, which test/http runs on the Prometheus text
# (`promtool check metrics`). The package also brings the Prometheus server;
# its service is kept from starting (policy-rc.d), as only promtool is used.
# Then the container runtimes test/system/runtimes runs real containers with
# (scripts/test-runtimes.sh, which can be run alone).
# Idempotent and quick when all is in place.
set -euo pipefail

if ! command -v promtool >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "ebpf-forward test setup: promtool is missing; run as root or: sudo apt-get install -y --no-install-recommends prometheus" >&2
    exit 1
  fi
  echo "ebpf-forward test setup: installing prometheus (for promtool)" >&2
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# ebpf-forward test setup: no service starts while prometheus is installed\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# A runtime that can't be set up is said here in one line, and its tests in
# test/system/runtimes fail with that line; the rest of the suite still runs.
bash "$(dirname "$0")/test-runtimes.sh" || true

# qemu, the guest's root filesystem and Debian 12's kernel, for test/system/vm
# (scripts/vm-run.sh); a failure here fails those tests with its line.
bash "$(dirname "$0")/vm/setup.sh" || true
