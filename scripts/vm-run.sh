#!/usr/bin/env bash
# Runs a command inside a Debian kernel booted in qemu, over the package
# built in this checkout, and gives back the command's output and exit
# status:
#
#   scripts/vm-run.sh [--timeout SECONDS] <kernel> -- <command> [args...]
#
# <kernel>: a Debian kernel package (linux-image-6.1.0-57-amd64), a release
# (debian-12, debian-11: its newest kernel) or a kernel .deb file. The
# command runs as root in the checkout's path, in a guest with no network
# device at all (loopback only), with proc, sys, tracefs, debugfs, bpffs and
# cgroup2 mounted. The guest's root filesystem (scripts/vm/build-rootfs.sh)
# and the kernels (scripts/vm/fetch-kernel.sh) are kept in
# /var/cache/ebpf-forward-vm between runs; the checkout (its sources, dist/,
# bpf/.output, the example objects, the addon, node_modules) is copied in at
# each run.
#
# KVM is used where it works, else software emulation (slower). The run is
# bounded: qemu is killed after --timeout seconds (default 900). Exit status:
# the command's; 124 if the time ran out; 125 if the guest did not run it
# (the kernel's console is then printed); 123 if the guest's kernel locked
# up (a soft lockup on its console: under emulation on a busy host, a CPU
# can spin for good in the kernel's code patching; qemu is killed at once
# rather than at the timeout, so that the caller may boot again).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
checkout=$(dirname "$here")
source "$here/vm/common.sh"

usage() { vm_fail "usage: scripts/vm-run.sh [--timeout SECONDS] <kernel package | debian-12 | debian-11 | file.deb> -- <command> [args...]"; }
timeout_s=900
while [[ ${1:-} == --timeout ]]; do
  [[ ${2:-} =~ ^[0-9]+$ ]] || usage
  timeout_s=$2
  shift 2
done
[[ $# -ge 3 && $2 == -- ]] || usage
kernel_spec=$1
shift 2

[[ $(id -u) -eq 0 ]] || vm_fail "must run as root (it keeps its cache in $vm_cache); run: sudo scripts/vm-run.sh ..."
command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null \
  || vm_fail "qemu-system-x86_64 or cpio is missing; run: sudo bash scripts/vm/setup.sh"
[[ -s $checkout/build/Release/ebpf_forward.node && -d $checkout/dist && -d $checkout/node_modules ]] \
  || vm_fail "this checkout is not built (no build/Release/ebpf_forward.node, dist/ or node_modules/); run: npm ci && npm run build"

# One builder of the cache at a time (runs may start together).
mkdir -p "$vm_cache"
exec {lock}>"$vm_cache/lock"
flock "$lock"
bash "$here/vm/build-rootfs.sh"
vmlinuz=$(bash "$here/vm/fetch-kernel.sh" "$kernel_spec")
flock -u "$lock"

# A run's folder (its initrd is ~500 MB) left by a run killed outright goes.
for stale in "$vm_cache"/run.*; do
  [[ -d $stale ]] && ! kill -0 "$(cat "$stale/pid" 2>/dev/null || echo 0)" 2>/dev/null && rm -rf "$stale"
done
run=$(mktemp -d "$vm_cache/run.XXXXXX")
echo $$ >"$run/pid"
qemu_pid=
cleanup() {
  [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- this run's files: the checkout at its own path, and the command -----
stage=$run/stage
mkdir -p "$stage/vm"
{
  cd "$checkout"
  git ls-files -z --cached --others --exclude-standard 2>/dev/null || find . -path ./.git -prune -o -type f -print0
  find dist node_modules bpf/.output build/Release/ebpf_forward.node conf/examples -print0 2>/dev/null
} | (cd "$checkout" && cpio --null -pdl --quiet "$stage$checkout" 2>/dev/null) || true
install -m 755 "$here/vm/init" "$stage/init"
echo "$checkout" >"$stage/vm/workdir"
printf '%q ' "$@" >"$stage/vm/command" # bash quoting: the guest runs it with bash
echo >>"$stage/vm/command"
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) >"$run/checkout.cpio" \
  2> >(grep -v "was modified while being copied" >&2)
cat "$vm_cache/rootfs.cpio" "$run/checkout.cpio" >"$run/initrd.cpio"
rm -rf "$stage" "$run/checkout.cpio"

# --- KVM where it works ------------------------------------------------------
# A nested or restricted KVM may refuse the CPU model or hang: probed once
# per boot of this machine, by booting the kernel with no root to its panic.
accel=(-accel tcg -cpu max)
kvm_state=$vm_cache/kvm.$(cat /proc/sys/kernel/random/boot_id)
if [[ -w /dev/kvm && ! -e $kvm_state ]]; then
  if timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 256 -display none -no-reboot -nic none \
      -serial stdio -kernel "$vmlinuz" -append "console=ttyS0 panic=-1" 2>&1 | grep -q 'Kernel panic'; then
    echo works >"$kvm_state"
  else
    echo fails >"$kvm_state"
  fi
fi
if [[ $(cat "$kvm_state" 2>/dev/null) == works ]]; then
  accel=(-accel kvm -cpu host)
  vm_say "booting $(basename "$(dirname "$vmlinuz")") with KVM"
else
  vm_say "booting $(basename "$(dirname "$vmlinuz")") under emulation (KVM does not work here)"
fi

# ttyS0: the kernel's console; ttyS1: the command's output; ttyS2: its status.
: >"$run/output"
timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 "${accel[@]}" -smp 2 -m 3072 \
  -display none -no-reboot -nic none \
  -serial "file:$run/console" -serial "file:$run/output" -serial "file:$run/status" \
  -kernel "$vmlinuz" -initrd "$run/initrd.cpio" \
  -append "console=ttyS0 panic=-1 rdinit=/init" >"$run/qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$run/output" &
tail_pid=$!
# The guest's kernel says when one of its CPUs is stuck (after 20 s): no
# command finishes after that.
(
  while kill -0 "$qemu_pid" 2>/dev/null; do
    if grep -q 'BUG: soft lockup' "$run/console" 2>/dev/null; then
      : >"$run/lockup"
      kill "$qemu_pid" 2>/dev/null
      break
    fi
    sleep 5
  done
) &
watch_pid=$!
set +e
wait "$qemu_pid"
qemu_status=$?
set -e
qemu_pid=
wait "$tail_pid" 2>/dev/null || true
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true

status=$(sed -n 's/^ebpf-forward-vm-exit \([0-9]*\).*/\1/p' "$run/status" 2>/dev/null | tail -1)
if [[ -n $status ]]; then
  exit "$status"
fi
if [[ -e $run/lockup ]]; then
  vm_say "the guest's kernel locked up (soft lockup: a CPU stuck in the kernel under emulation): qemu killed; its console ends:"
  grep -m1 'BUG: soft lockup' "$run/console" >&2 || true
  exit 123
fi
if [[ $qemu_status -eq 124 || $qemu_status -eq 137 ]]; then
  vm_say "the guest's command did not end within ${timeout_s}s: qemu killed"
  exit 124
fi
vm_say "the guest did not run the command (qemu exit $qemu_status); the kernel's console ends:"
tail -n 40 "$run/console" >&2
cat "$run/qemu.log" >&2
exit 125
