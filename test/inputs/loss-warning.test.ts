// Records lost in the kernel are warned of while records keep coming: the
// loss check rides on the reader's own wake-ups (no timer of its own while
// records come), and a ring far too small for a burst still gets its warning,
// with a count no larger than the kernel's.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { buildLoadgen, runLoadgen } from '../../bench/loadgen.mjs';
import { loadConfig } from '../../src/config/load.js';
import { EbpfInput } from '../../src/inputs/ebpf-input.js';
import type { Logger } from '../../src/log.js';
import { addon } from '../../src/native/addon.js';
import { traces } from '../../src/traces/registry.js';
import { waitFor, writeConfig } from '../support/cli.js';

let input: EbpfInput | undefined;

beforeAll(() => {
  buildLoadgen();
  addon().ensureTracefs();
});

afterEach(() => {
  input?.stop();
  input = undefined;
});

it('warns of records lost in a ring too small for a burst, with at most the kernel count', async () => {
  const warnings: string[] = [];
  const log: Logger = {
    error() {},
    warn: (m: string) => void warnings.push(m),
    info() {},
    debug() {},
    trace() {},
    enabled: () => false,
    child: () => log,
  };
  // 4 KB holds a few dozen signal records: a burst of 50,000 overflows it while reading goes on.
  const config = loadConfig(writeConfig(`[INPUT]\n    Name         ebpf\n    Trace        trace_signal\n    ringbuf_size 4K\n    comm         loadgen\n`), { traces, outputs: new Map(), env: {} });
  let received = 0;
  input = new EbpfInput({ settings: config.inputs[0]!, log, emit: (_tag, chunk) => void (received += chunk.count) });
  input.start();
  await runLoadgen('signal', 50_000, 0);
  const lostWarning = () => warnings.find((w) => /ring buffer full: trace_signal lost \d+ records/.test(w));
  await waitFor(() => lostWarning(), 15_000, 'the loss warning');
  const warned = Number(/lost (\d+) records/.exec(lostWarning()!)![1]);
  const lost = input.counters().find((c) => c.trace === 'trace_signal')!.lost;
  expect(warned).toBeGreaterThan(0);
  expect(warned).toBeLessThanOrEqual(lost);
  expect(received).toBeGreaterThan(0);
});
