// The end of Grace without acks: what was still queued for a slow receiver
// when the connection is torn down never left, so it is counted as dropped
// (shutdown), not as sent. Sent must then be what the receiver reads.
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver } from './receivers.js';
import { createForward, makeChunk, sleep, tally, testLog, waitFor } from './support.js';

describe('forward output shutdown without acks', () => {
  let receiver: IndependentReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(100);
    await receiver?.close();
    output = receiver = undefined;
  });

  it('a receiver reading at 300 KB/s: records queued at teardown are dropped (shutdown), and sent = received', async () => {
    receiver = await new IndependentReceiver({ bytesPerSecond: 300_000 }).start();
    const log = testLog();
    output = createForward({ port: String(receiver.port) }, { log: log.logger });
    await output.start();
    // About 14 MB offered in 3 s: more than the receiver reads within the
    // grace and the kernel's socket buffers hold, so megabytes sit in the
    // socket's queue at teardown.
    const total = 150_000;
    for (let i = 0; i < total; i += 1000) {
      output.write('t', makeChunk(i, 1000));
      await sleep(20);
    }
    await output.close(500);
    const c = output.counters();
    // The receiver reads on after we close (faster now, to keep the test
    // short), up to the end of what reached its socket.
    receiver.setReadRate(1e9);
    await waitFor('the receiver to read to the end', () => receiver!.openConnections === 0, 60_000);
    const { unique, duplicates } = tally(receiver.seqs());
    console.log(`no-ack shutdown: in ${c.records_in}, sent ${c.records_sent}, received ${unique}, dropped ${JSON.stringify(c.records_dropped)}`);
    expect(duplicates).toBe(0);
    expect(c.records_dropped.shutdown).toBeGreaterThan(0);
    expect(c.records_sent).toBe(unique);
    expect(c.records_sent + c.records_dropped.shutdown!).toBe(total);
    // One line for them all.
    expect(log.lines.filter((l) => l.includes('counted as shutdown'))).toEqual([expect.stringContaining(`dropped ${c.records_dropped.shutdown} records of t undelivered within the grace period`)]);
  });
});
