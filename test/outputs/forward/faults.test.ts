// Fault tests on loopback, each against FluentServer and the independent
// receiver: a receiver killed mid-stream and restarted, one that never acks,
// and a slow one. Counts are printed for the record (FORWARD_TEST_LOG=1 also
// prints the output's log).
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { receivers, type TestReceiver } from './receivers.js';
import { createForward, makeChunk, sleep, tally, testLog, waitFor } from './support.js';
import { startThrottle, type Throttle } from './throttle.js';

/** Writes `total` records from `from` in batches, yielding between them as an input does. */
async function produce(output: ForwardOutput, from: number, total: number, perBatch: number, pauseMs: number, between?: (written: number) => Promise<void>) {
  for (let written = 0; written < total; written += perBatch) {
    output.write('host.ebpf', makeChunk(from + written, Math.min(perBatch, total - written)));
    await between?.(written + perBatch);
    await sleep(pauseMs);
  }
}

describe.each(receivers)('faults with %s', (name, start) => {
  let receiver: TestReceiver | undefined;
  let output: ForwardOutput | undefined;
  let throttle: Throttle | undefined;
  afterEach(async () => {
    await output?.close(500);
    await throttle?.close();
    await receiver?.close();
    output = receiver = throttle = undefined;
  });

  it('receiver killed mid-stream and restarted: with acks every record arrives, duplicates only from resends', async () => {
    receiver = await start();
    // A slow link keeps batches in flight (written, not yet acked) when the receiver dies.
    throttle = await startThrottle(receiver.port, 300_000);
    output = createForward({ port: String(throttle.port), require_ack_response: 'on', retry_limit: 'no_limits' });
    await output.start();
    const total = 4000;
    let killed = false;
    await produce(output, 0, total, 40, 5, async () => {
      if (!killed && receiver!.seqs().length >= 1000) {
        killed = true;
        await receiver!.kill();
        await sleep(300); // down for a while: batches fail and pile up
        await receiver!.restart();
      }
    });
    await waitFor('the kill', () => killed || receiver!.seqs().length >= 1000);
    if (!killed) {
      await receiver.kill();
      await sleep(300);
      await receiver.restart();
    }
    await waitFor(`${total} distinct records`, () => tally(receiver!.seqs()).unique === total, 30_000);
    await output.flush();
    const c = output.counters();
    const { unique, duplicates } = tally(receiver.seqs());
    console.log(`[${name}] killed mid-stream: sent ${c.records_sent}, retried ${c.records_retried}, acked ${c.records_acked}, received ${receiver.seqs().length} (${unique} distinct, ${duplicates} duplicates)`);
    expect(unique).toBe(total);
    expect(c.records_sent).toBe(total);
    expect(c.records_acked).toBe(total);
    expect(c.records_dropped).toEqual({});
    expect(c.records_retried).toBeGreaterThan(0); // the kill really cut batches in flight
    expect(duplicates).toBeLessThanOrEqual(c.records_retried);
  });

  it('receiver that never acks: resent after ack_response_timeout, then dropped and counted at Retry_Limit', async () => {
    receiver = await start({ ack: false });
    const log = testLog();
    output = createForward({ port: String(receiver.port), require_ack_response: 'on', ack_response_timeout: '0.3', retry_limit: '2' }, { log: log.logger });
    await output.start();
    output.write('host.ebpf', makeChunk(0, 50));
    await waitFor('50 records dropped at Retry_Limit', () => output!.counters().records_dropped.retry_limit === 50);
    const c = output.counters();
    // First send plus two resends, each on a new connection.
    expect(c).toMatchObject({ records_sent: 50, records_retried: 100, records_acked: 0, records_dropped: { retry_limit: 50 }, buffer_bytes: 0 });
    await waitFor('3 copies received', () => receiver!.seqs().length === 150);
    expect(tally(receiver.seqs())).toEqual({ unique: 50, duplicates: 100 });
    expect(log.text()).toMatch(/no ack within 0.3s/);
  });

  it('slow receiver: memory stays under mem_buf_limit, what cannot be held is dropped and counted, the rest arrives', async () => {
    receiver = await start();
    // Behind a 1 MB/s link; the sender offers about 12 MB: the kernel's socket
    // buffers fill, then the output's memory, then records are dropped.
    throttle = await startThrottle(receiver.port, 1_000_000);
    const limit = 1_000_000;
    output = createForward({ port: String(throttle.port), mem_buf_limit: String(limit), require_ack_response: 'on', retry_limit: 'no_limits' });
    await output.start();
    const total = 150_000;
    const heapBefore = process.memoryUsage().heapUsed;
    let heapPeak = heapBefore;
    await produce(output, 0, total, 500, 2, async () => {
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    });
    const afterWriting = output.counters();
    throttle.setRate(1e9); // let the rest through
    const dropped = afterWriting.records_dropped.buffer_full ?? 0;
    await waitFor('every kept record', () => tally(receiver!.seqs()).unique === total - dropped, 60_000);
    await output.flush();
    const c = output.counters();
    console.log(
      `[${name}] slow receiver: mem_buf_limit ${limit} bytes, buffer high-water mark ${c.buffer_bytes_peak} bytes; ${dropped} of ${total} records dropped as buffer_full; heap grew at most ${Math.round((heapPeak - heapBefore) / 1e6)} MB`,
    );
    expect(c.buffer_bytes_peak).toBeLessThanOrEqual(limit);
    expect(c.buffer_bytes_peak).toBeGreaterThan(limit / 2); // the limit was really reached for
    expect(dropped).toBeGreaterThan(0);
    expect(c.records_dropped).toEqual({ buffer_full: dropped });
    expect(c.records_in).toBe(total);
    expect(c.records_acked).toBe(total - dropped);
    expect(tally(receiver.seqs())).toEqual({ unique: total - dropped, duplicates: 0 });
  });
});
