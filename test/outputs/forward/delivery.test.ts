// Basic delivery against both receivers: every record arrives with its time
// to the nanosecond, in each mode, with the Tag override, acks counted.
import { afterEach, describe, expect, it } from 'vitest';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver, receivers, type TestReceiver } from './receivers.js';
import { chunkOf } from '../../support/chunks.js';
import { createForward, makeChunk, makeEvents, tally, waitFor } from './support.js';

describe.each(receivers)('forward output → %s', (_name, start) => {
  let receiver: TestReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(1000);
    await receiver?.close();
    output = receiver = undefined;
  });

  it('delivers every record with its EventTime, one batch per flush', async () => {
    receiver = await start();
    output = createForward({ host: '127.0.0.1', port: String(receiver.port) });
    await output.start();
    const events = makeEvents(0, 250);
    output.write('host.ebpf', chunkOf(events.slice(0, 100)));
    output.write('host.ebpf', chunkOf(events.slice(100)));
    await waitFor('250 records', () => receiver!.entries.length >= 250);
    expect(tally(receiver.seqs())).toEqual({ unique: 250, duplicates: 0 });
    const first = receiver.entries.find((e) => e.record.seq === 123)!;
    expect(first.tag).toBe('host.ebpf');
    expect(first.time).toEqual({ sec: events[123]!.sec, nsec: events[123]!.nsec });
    expect(first.record).toMatchObject({ event_type: 'signal', pid: 4023, comm: 'kill', signal: 10, tpid: 77, error_raw: 0 });
    const c = output.counters();
    expect(c).toMatchObject({ records_in: 250, records_sent: 250, records_acked: 0, records_retried: 0, records_dropped: {}, connection: 'connected' });
    expect(c.bytes_sent).toBeGreaterThan(250 * 50);
  });

  it('acks every batch with Require_ack_response, Tag override, Time_as_Integer', async () => {
    receiver = await start();
    output = createForward({ port: String(receiver.port), require_ack_response: 'on', tag: 'renamed', time_as_integer: 'on' });
    await output.start();
    output.write('host.ebpf', makeChunk(0, 40));
    await output.flush();
    expect(output.counters()).toMatchObject({ records_sent: 40, records_acked: 40, records_dropped: {} });
    expect(receiver.entries.map((e) => e.tag)).toEqual(Array(40).fill('renamed'));
    expect(receiver.entries[0]!.time).toBe(1_790_000_000);
  });

  for (const mode of [{ forward_mode: 'PackedForward' }, { compress: 'gzip' }] as Record<string, string>[]) {
    it(`delivers with ${JSON.stringify(mode)}`, async () => {
      receiver = await start();
      output = createForward({ port: String(receiver.port), require_ack_response: 'on', ...mode });
      await output.start();
      output.write('t', makeChunk(0, 500));
      await output.flush();
      expect(tally(receiver.seqs())).toEqual({ unique: 500, duplicates: 0 });
      expect(output.counters().records_acked).toBe(500);
    });
  }
});

describe('modes on the wire (independent receiver)', () => {
  let receiver: IndependentReceiver | undefined;
  let output: ForwardOutput | undefined;
  afterEach(async () => {
    await output?.close(1000);
    await receiver?.close();
    output = receiver = undefined;
  });

  const cases: [Record<string, string>, string, Record<string, unknown> | undefined][] = [
    [{}, 'Forward', undefined],
    [{ send_options: 'on' }, 'Forward', { size: 30 }],
    [{ forward_mode: 'PackedForward', send_options: 'on' }, 'PackedForward', { size: 30 }],
    [{ compress: 'gzip' }, 'CompressedPackedForward', { size: 30, compressed: 'gzip' }],
  ];
  for (const [keys, mode, options] of cases) {
    it(`${JSON.stringify(keys)} sends ${mode} with options ${JSON.stringify(options)}`, async () => {
      receiver = await new IndependentReceiver().start();
      output = createForward({ port: String(receiver.port), ...keys });
      await output.start();
      output.write('t', makeChunk(0, 30));
      await output.flush();
      await waitFor('30 records', () => receiver!.entries.length === 30);
      expect(receiver.messages).toHaveLength(1);
      expect(receiver.messages[0]).toMatchObject({ mode, tag: 't', entries: 30, options });
    });
  }

  it('gzip batches are smaller than the packed entries', async () => {
    receiver = await new IndependentReceiver().start();
    output = createForward({ port: String(receiver.port), compress: 'gzip' });
    await output.start();
    output.write('t', makeChunk(0, 1000));
    await output.flush();
    await waitFor('1000 records', () => receiver!.entries.length === 1000);
    const packedSize = receiver.messages.reduce((n, m) => n + m.bytes, 0);
    expect(output.counters().bytes_sent).toBeLessThan(packedSize + 200);
    expect(packedSize).toBeLessThan(1000 * 40);
  });
});
