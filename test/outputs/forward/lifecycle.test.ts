// close(grace), counters and write()'s promises: it never throws, and
// whatever is not delivered is counted with its reason.
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver } from './receivers.js';
import { createForward, makeChunk, testLog, waitFor } from './support.js';

describe('forward output lifecycle', () => {
  let receiver: IndependentReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(100);
    await receiver?.close();
    output = receiver = undefined;
  });

  it('close() delivers what is buffered before the next Flush, then logs one summary line', async () => {
    receiver = await new IndependentReceiver().start();
    const log = testLog();
    output = createForward({ port: String(receiver.port), require_ack_response: 'on' }, { flushSeconds: 60, log: log.logger });
    await output.start();
    output.write('t', makeChunk(0, 300));
    expect(receiver.entries).toHaveLength(0);
    await output.close(5000);
    expect(receiver.entries).toHaveLength(300);
    expect(output.counters()).toMatchObject({ records_in: 300, records_sent: 300, records_acked: 300, records_dropped: {}, buffer_bytes: 0 });
    const summary = log.lines.filter((l) => l.includes('records in 300'));
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatch(/\[ info\] records in 300, sent 300, acked 300, retried 0, dropped 0, \d+ bytes sent, memory peak \d+ of 32000000 bytes/);
  });

  it('close() with the receiver down and no storage.path: drops after the grace period, counted as shutdown', async () => {
    output = createForward({ port: '9', retry_limit: 'no_limits' });
    await output.start();
    output.write('t', makeChunk(0, 100));
    await output.close(300);
    expect(output.counters()).toMatchObject({ records_in: 100, records_sent: 0, records_dropped: { shutdown: 100 }, buffer_bytes: 0, connection: 'down' });
  });

  it('records written after close are counted, not thrown', async () => {
    output = createForward({ port: '9' });
    await output.start();
    await output.close(0);
    expect(() => output!.write('t', makeChunk(0, 5))).not.toThrow();
    expect(output.counters()).toMatchObject({ records_in: 5, records_dropped: { shutdown: 5 } });
  });

  it('Time_as_Integer: a chunk whose entries cannot be read is dropped whole and counted; the chunks around it go on', async () => {
    receiver = await new IndependentReceiver().start();
    const log = testLog();
    output = createForward({ port: String(receiver.port), time_as_integer: 'on' }, { log: log.logger });
    await output.start();
    const good = makeChunk(0, 10);
    output.write('t', makeChunk(100, 5));
    output.write('t', { ...good, entries: good.entries.subarray(0, good.entries.length - 1) }); // its last record cut
    output.write('t', { ...good, count: 11 }); // says more than it holds
    output.write('t', makeChunk(200, 5));
    await output.flush();
    await waitFor('10 records', () => receiver!.entries.length === 10);
    expect(output.counters()).toMatchObject({ records_in: 31, records_sent: 10, records_dropped: { invalid_record: 21 } });
    expect(receiver.seqs().sort((a, b) => a - b)).toEqual([100, 101, 102, 103, 104, 200, 201, 202, 203, 204]);
    expect(log.lines.filter((l) => l.includes('invalid_record'))).toHaveLength(1);
  });

  it('counters: connection state and buffer bytes are live', async () => {
    receiver = await new IndependentReceiver().start();
    output = createForward({ port: String(receiver.port) }, { flushSeconds: 60 });
    await output.start();
    expect(output.counters()).toMatchObject({ connection: 'down', buffer_bytes: 0 });
    output.write('t', makeChunk(0, 100));
    const held = output.counters().buffer_bytes;
    expect(held).toBeGreaterThan(100 * 50);
    await output.flush();
    expect(output.counters()).toMatchObject({ connection: 'connected', buffer_bytes: 0, buffer_bytes_peak: held });
    await receiver.kill();
    await waitFor('the connection to drop', () => output!.counters().connection === 'down');
  });
});
