#!/usr/bin/env bash
# Runs the whole test suite (vitest), after what the tests need beyond the
# build (scripts/test-setup.sh: promtool, the container runtimes, the VM
# tier's kernels), the type check and the architecture check, and ends
# with a plain
# "N passed, N failed" line; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-setup.sh || exit 1
# The type check of src and the tests comes first: a test that does not
# type-check is a failure, whatever it would do when run.
if ! npx tsc -p tsconfig.json; then
  echo "0 passed, 1 failed (the type check above)"
  exit 1
fi
# Then the architecture check (.dependency-cruiser.cjs): no import cycle,
# the core never into an output plugin's files.
if ! npx depcruise src --config .dependency-cruiser.cjs; then
  echo "0 passed, 1 failed (the architecture check above)"
  exit 1
fi
report=$(mktemp -t ebpf-forward-tests-XXXXXX.json)
trap 'rm -f "$report"' EXIT
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" 2>/dev/null || echo "0 passed, 1 failed"
exit $status
