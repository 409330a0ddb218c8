#!/usr/bin/env bash
# Fuzzes the native addon under AddressSanitizer and UndefinedBehaviorSanitizer:
# builds a sanitizer copy of it into build-sanitizers/ (scripts/fuzz/build-addon.mjs;
# build/ and prebuilds/ are left alone), then runs scripts/fuzz/driver.mjs under
# node with the sanitizers' runtimes preloaded for --seconds (default 60).
# Exits 0 with the figures of what it did, or non-zero with the sanitizer's
# report and how to run the failing case again.
#
#   scripts/fuzz.sh [--seconds N] [--seed S] [--case K] [--open-unchecked]
#
# --seed: the generator's seed (default: a random one, printed); --case: run
# iteration K of that seed alone (the failing one, which a failed run names);
# --open-unchecked: open mutated objects whose BTF refers to types it lacks
# or loops through typedefs too, on which Debian 12's libbpf 1.1 crashes or
# hangs (see unopenableBtf in the driver).
# Needs the normal build first (npm run build: the BPF objects and dist/,
# whose record compiler and trace declarations it drives) and g++ with
# Debian's libasan/libubsan (g++'s own dependencies; scripts/setup.sh installs g++).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
seed=$(( (RANDOM << 16 | RANDOM) & 0xffffffff ))
case_arg=()
extra=()
while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --seed) seed=${2:?--seed needs a number}; shift 2 ;;
    --case) case_arg=(--case "${2:?--case needs an iteration number}"); shift 2 ;;
    --open-unchecked) extra+=(--open-unchecked); shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz: unknown argument $1 (see scripts/fuzz.sh --help)" >&2; exit 2 ;;
  esac
done
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz: --seconds must be a whole number, not $seconds" >&2; exit 2; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "fuzz: --seed must be a whole number, not $seed" >&2; exit 2; }

command -v g++ >/dev/null || { echo "fuzz: g++ is missing; run: bash scripts/setup.sh (or apt-get install -y g++)" >&2; exit 2; }
# g++ -print-file-name gives back the bare name when it has no such file.
asan=$(g++ -print-file-name=libasan.so)
ubsan=$(g++ -print-file-name=libubsan.so)
[[ -f $asan && -f $ubsan ]] || { echo "fuzz: g++ has no libasan.so/libubsan.so; run: apt-get install -y g++ (they come with gcc's libgcc-dev)" >&2; exit 2; }
if [[ ! -f dist/records/compile.js ]] || ! compgen -G 'bpf/.output/*.bpf.o' >/dev/null; then
  echo "fuzz: the build is missing (dist/, bpf/.output/); run: npm run build" >&2
  exit 2
fi

addon=$(node scripts/fuzz/build-addon.mjs)
# What a crash leaves to reproduce it: the iteration it was in, the last mutated object.
state=build-sanitizers/last-case
object=build-sanitizers/last-mutated.bpf.o
echo "fuzz: seed $seed, ${seconds}s${case_arg:+, case ${case_arg[1]}}: $addon"

# detect_leaks=0: node itself leaks at exit. abort_on_error: a report ends the
# run at once (SIGABRT), as does UBSan's first finding (-fno-sanitize-recover).
# allow_user_segv_handler=0: node installs its own SIGSEGV handler, which
# would otherwise die silently in place of ASan's report of the bad access.
# The time limit is for a hang (the driver stops by itself at --seconds).
status=0
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:allow_user_segv_handler=0:detect_stack_use_after_return=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
LD_PRELOAD="$asan:$ubsan" \
  timeout --kill-after=10 $((seconds * 2 + 120)) \
  node scripts/fuzz/driver.mjs --addon "$addon" --seconds "$seconds" --seed "$seed" \
    --state "$state" --object "$object" "${case_arg[@]}" "${extra[@]}" || status=$?

if ((status != 0)); then
  last=$(tr -d '\0' <"$state" 2>/dev/null | head -1 | tr -s ' ')
  iteration=${last%% *}
  what="exit $status"
  ((status == 124)) && what="no end after $((seconds * 2 + 120))s: a hang"
  ((status == 134)) && what="a sanitizer's report, above"
  echo "fuzz: FAILED ($what) at iteration ${last:-unknown} of seed $seed" >&2
  [[ $last == *btf* ]] && echo "fuzz: the object it was opening: $object" >&2
  [[ -n $iteration ]] && echo "fuzz: run it again alone: scripts/fuzz.sh --seed $seed --case $iteration${extra:+ ${extra[*]}} (or the whole run: scripts/fuzz.sh --seed $seed --seconds $seconds${extra:+ ${extra[*]}})" >&2
  exit 1
fi
