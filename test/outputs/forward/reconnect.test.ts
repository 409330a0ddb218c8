// A receiver back after an outage: batches that waited on it go out within
// the probe's seconds, not after their grown backoff (scheduler.cap), and
// without spending a retry.
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { receivers, type TestReceiver } from './receivers.js';
import { createForward, makeChunk, sleep, tally, testLog, waitFor } from './support.js';

describe.each(receivers)('a receiver back after an outage (%s)', (name, start) => {
  let receiver: TestReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(300);
    await receiver?.close();
    output = receiver = undefined;
  });

  it('batches waiting a long backoff go out once it answers, their retries unspent', async () => {
    receiver = await start();
    await receiver.kill();
    const log = testLog();
    // A backoff of 60 s at least: only noticing the receiver can deliver within the test.
    output = createForward({ port: String(receiver.port), retry_limit: '1' }, { schedulerBase: 60, schedulerCap: 120, log: log.logger });
    await output.start();
    output.write('host.ebpf', makeChunk(0, 500));
    await waitFor('a failed attempt', () => (output!.counters().errors ?? 0) >= 1);
    output.write('host.ebpf', makeChunk(500, 500));
    await sleep(1500);
    await receiver.restart();
    await waitFor('1000 records', () => tally(receiver!.seqs()).unique === 1000, 20_000);
    const c = output.counters();
    expect(c.records_dropped).toEqual({});
    expect(tally(receiver.seqs()).duplicates).toBe(0);
    console.log(`[${name}] reconnect: ${c.errors} failed attempts, ${c.retries} retries scheduled, all 1000 records delivered`);
  });
});
