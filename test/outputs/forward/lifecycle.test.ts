// close(grace), counters and write()'s promises: it never throws, and
// whatever is not delivered is counted with its reason.
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver } from './receivers.js';
import { createForward, makeEvents, testLog, waitFor } from './support.js';

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
    output.write('t', makeEvents(0, 300));
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
    output.write('t', makeEvents(0, 100));
    await output.close(300);
    expect(output.counters()).toMatchObject({ records_in: 100, records_sent: 0, records_dropped: { shutdown: 100 }, buffer_bytes: 0, connection: 'down' });
  });

  it('records written after close are counted, not thrown', async () => {
    output = createForward({ port: '9' });
    await output.start();
    await output.close(0);
    expect(() => output!.write('t', makeEvents(0, 5))).not.toThrow();
    expect(output.counters()).toMatchObject({ records_in: 5, records_dropped: { shutdown: 5 } });
  });

  it('a record msgpack cannot carry is dropped alone and counted; the batch goes on', async () => {
    receiver = await new IndependentReceiver().start();
    output = createForward({ port: String(receiver.port) });
    await output.start();
    const events = makeEvents(0, 10);
    events[3]!.record.huge = 2n ** 70n;
    events[6]!.sec = -5;
    output.write('t', events);
    await output.flush();
    await waitFor('8 records', () => receiver!.entries.length === 8);
    expect(output.counters().records_dropped).toEqual({ invalid_record: 2 });
    expect(receiver.seqs().sort((a, b) => a - b)).toEqual([0, 1, 2, 4, 5, 7, 8, 9]);
  });

  it('counters: connection state and buffer bytes are live', async () => {
    receiver = await new IndependentReceiver().start();
    output = createForward({ port: String(receiver.port) }, { flushSeconds: 60 });
    await output.start();
    expect(output.counters()).toMatchObject({ connection: 'down', buffer_bytes: 0 });
    output.write('t', makeEvents(0, 100));
    const held = output.counters().buffer_bytes;
    expect(held).toBeGreaterThan(100 * 50);
    await output.flush();
    expect(output.counters()).toMatchObject({ connection: 'connected', buffer_bytes: 0, buffer_bytes_peak: held });
    await receiver.kill();
    await waitFor('the connection to drop', () => output!.counters().connection === 'down');
  });
});
