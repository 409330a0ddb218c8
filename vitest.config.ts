import { defineConfig } from 'vitest/config';

/**
 * The tests that need no root and no kernel features (they pass as an
 * unprivileged user, and a test checks that they still do): `npm test --
 * --project unit` runs them anywhere, in seconds. Every other test file is
 * in the kernel project.
 */
export const UNIT_TESTS = [
  'test/bench/sink.test.ts',
  'test/config/keys.test.ts',
  'test/config/match.test.ts',
  'test/config/parser.test.ts',
  'test/containers/container-rule.test.ts',
  'test/deploy/systemd.test.ts',
  'test/http/connections.test.ts',
  'test/http/reload.test.ts',
  'test/inputs/journal.test.ts',
  'test/native/btf.test.ts',
  'test/outputs/chunk-decoder.test.ts',
  'test/outputs/forward/delivery.test.ts',
  'test/outputs/forward/faults.test.ts',
  'test/outputs/forward/framing.test.ts',
  'test/outputs/forward/lifecycle.test.ts',
  'test/outputs/forward/named-files.test.ts',
  'test/outputs/forward/pacing.test.ts',
  'test/outputs/forward/reconnect.test.ts',
  'test/outputs/forward/replies.test.ts',
  'test/outputs/forward/security.test.ts',
  'test/outputs/forward/settings.test.ts',
  'test/outputs/forward/shutdown.test.ts',
  'test/outputs/forward/time-as-integer.test.ts',
  'test/outputs/forward/tls.test.ts',
  'test/outputs/forward/upstream.test.ts',
  'test/outputs/forward/wire.test.ts',
  'test/outputs/stdout.test.ts',
  'test/system/packaging/dockerfile.test.ts',
  'test/docs.test.ts',
  'test/records/compile.test.ts',
  'test/records/encoder.test.ts',
  'test/records/golden.test.ts',
  'test/records/hostile-btf.test.ts',
  'test/records/knobs.test.ts',
  'test/records/record-ops-header.test.ts',
  'test/records/uint-nonzero.test.ts',
  'test/router.test.ts',
];

export default defineConfig({
  test: {
    // Kernel tests attach real BPF programs and start real processes: one
    // file at a time, so that the machine is only as busy as one test makes
    // it (vitest sets this for the whole run, not per project).
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: UNIT_TESTS },
      },
      {
        extends: true,
        test: {
          name: 'kernel',
          include: ['test/**/*.test.ts'],
          exclude: UNIT_TESTS,
        },
      },
    ],
  },
});
