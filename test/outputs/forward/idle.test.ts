// An idle output keeps no timer: once what it held is delivered, nothing
// wakes the process until records come again (an idle process sleeps),
// and records that come then are still flushed.
import { createHook } from 'node:async_hooks';
import { afterEach, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver } from './receivers.js';
import { createForward, makeChunk, sleep, waitFor } from './support.js';

let receiver: IndependentReceiver | undefined;
let output: ForwardOutput | undefined;
afterEach(async () => {
  await output?.close(1000);
  await receiver?.close();
  output = receiver = undefined;
});

/** Timers (setTimeout, setInterval) the code under test (src/) made while it runs that are still pending. */
function pendingTimers(): { count(): number; stop(): void } {
  const live = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (type === 'Timeout' && /\/src\//.test(new Error().stack ?? '')) live.add(id);
    },
    destroy(id) {
      live.delete(id);
    },
  });
  hook.enable();
  return { count: () => live.size, stop: () => hook.disable() };
}

it('keeps no timer once everything is delivered, and flushes again when records come', async () => {
  receiver = await new IndependentReceiver().start();
  const timers = pendingTimers();
  try {
    output = createForward({ host: '127.0.0.1', port: String(receiver.port) }, { flushSeconds: 0.05 });
    await output.start();
    for (let round = 1; round <= 2; round++) {
      output.write('idle.test', makeChunk(0, 50));
      output.write('idle.test', makeChunk(50, 50));
      await waitFor(`round ${round}'s records`, () => receiver!.entries.length === 100 * round);
      // Several Flush periods with nothing held: a timer still pending would be one that fires for nothing.
      await sleep(300);
      expect(timers.count()).toBe(0);
    }
  } finally {
    timers.stop();
  }
});

it('arms no Flush timer for a batch sent at once', async () => {
  receiver = await new IndependentReceiver().start();
  const timers = pendingTimers();
  try {
    // A Flush far beyond the test: a timer armed for it would still be pending.
    output = createForward({ host: '127.0.0.1', port: String(receiver.port) }, { flushSeconds: 600 });
    await output.start();
    for (let batch = 1; batch <= 3; batch++) {
      output.write('idle.test', makeChunk(batch * 10, 10));
      await waitFor(`batch ${batch}`, () => receiver!.entries.length === 10 * batch);
      await waitFor(`batch ${batch}'s delivery to end`, () => output!.counters().records_sent === 10 * batch);
      expect(timers.count()).toBe(0);
    }
  } finally {
    timers.stop();
  }
});

it('keeps batches in order when one is written while the one before is still being written', async () => {
  receiver = await new IndependentReceiver().start();
  output = createForward({ host: '127.0.0.1', port: String(receiver.port) }, { flushSeconds: 600 });
  await output.start();
  output.write('idle.test', makeChunk(0, 1));
  await waitFor('the connection', () => receiver!.entries.length === 1);
  // The first goes out at once on the idle connection; the next ones, written
  // in the same turn, wait for that write (a slot each, then batched).
  for (let seq = 1; seq < 400; seq++) output.write('idle.test', makeChunk(seq, 1));
  await output.flush();
  await waitFor('every record', () => receiver!.entries.length === 400);
  expect(receiver.entries.map((e) => e.record.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i));
});
