// The router: each tag's chunks go to every output whose Match accepts it,
// records no output matches are counted, a full output holds its inputs until
// it has room, and
// one chunk sent to several outputs (a forward output rewriting it for
// Time_as_Integer, one compressing it, stdout decoding it) is unchanged.
import { afterEach, describe, expect, it } from 'vitest';
import type { EventChunk } from '../src/chunk.js';
import { compileMatch } from '../src/config/match.js';
import { createLogger } from '../src/log.js';
import type { ForwardOutput } from '../src/outputs/forward/output.js';
import { StdoutOutput, stdoutOutput } from '../src/outputs/stdout.js';
import type { Output, OutputCounters } from '../src/outputs/types.js';
import { Router } from '../src/router.js';
import { chunkOf } from './support/chunks.js';
import { IndependentReceiver } from './outputs/forward/receivers.js';
import { createForward, makeEvents, waitFor } from './outputs/forward/support.js';

class RecordingOutput implements Output {
  got: [string, EventChunk][] = [];
  private room: { promise: Promise<void>; resolve(): void } | undefined;
  constructor(readonly instance: string) {}
  async start() {}
  write(tag: string, chunk: EventChunk) {
    this.got.push([tag, chunk]);
  }
  fill() {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.room = { promise, resolve };
  }
  makeRoom() {
    const room = this.room;
    this.room = undefined;
    room?.resolve();
  }
  whenRoom() {
    return this.room?.promise;
  }
  async flush() {}
  async close() {}
  counters(): OutputCounters {
    return { records_in: 0, records_sent: 0, records_acked: 0, records_retried: 0, records_dropped: {}, bytes_sent: 0, connection: 'n/a', buffer_bytes: 0, buffer_bytes_peak: 0 };
  }
}

const chunk = (count: number) => chunkOf(Array.from({ length: count }, () => ({ sec: 1, nsec: 2, record: { event_type: 'signal' } })));
const counts = (o: RecordingOutput) => o.got.map(([tag, c]) => [tag, c.count]);

describe('Router', () => {
  const all = new RecordingOutput('all');
  const net = new RecordingOutput('net');
  const router = new Router([
    { output: all, matches: compileMatch({ kind: 'wildcard', pattern: 'host.*' }) },
    { output: net, matches: compileMatch({ kind: 'wildcard', pattern: 'host.net' }) },
  ]);

  it('sends to every matching output, and counts the records of what matches none', () => {
    router.route('host.proc', chunk(2));
    const netChunk = chunk(1);
    router.route('host.net', netChunk);
    router.route('ebpf.0', chunk(3));
    expect(counts(all)).toEqual([['host.proc', 2], ['host.net', 1]]);
    expect(counts(net)).toEqual([['host.net', 1]]);
    expect(router.unrouted).toBe(3);
    // The same chunk, not a copy each.
    expect(all.got[1]![1]).toBe(netChunk);
    expect(net.got[0]![1]).toBe(netChunk);
  });

  it('holds a tag while one of its outputs is full, and lets it go once every one has room', async () => {
    expect(router.whenAccepting('host.net')).toBeUndefined();
    net.fill();
    all.fill();
    expect(router.whenAccepting('host.proc')).toBeInstanceOf(Promise); // all takes host.proc
    const waiting = router.whenAccepting('host.net')!;
    let accepting = false;
    void waiting.then(() => (accepting = true));
    net.makeRoom();
    await new Promise((r) => setTimeout(r, 10));
    expect(accepting).toBe(false); // all is still full
    all.makeRoom();
    await waiting;
    expect(router.whenAccepting('host.net')).toBeUndefined();
    expect(router.whenAccepting('host.proc')).toBeUndefined();
  });
});

describe('one chunk, several outputs', () => {
  const receivers: IndependentReceiver[] = [];
  const outputs: ForwardOutput[] = [];
  afterEach(async () => {
    for (const o of outputs.splice(0)) await o.close(500);
    for (const r of receivers.splice(0)) await r.close();
  });

  it('each output sends or prints it in its own way, and the chunk stays byte for byte as it was', async () => {
    const [integer, gzip] = [await new IndependentReceiver().start(), await new IndependentReceiver().start()];
    receivers.push(integer, gzip);
    const withIntegerTimes = createForward({ port: String(integer.port), time_as_integer: 'on' });
    const compressed = createForward({ port: String(gzip.port), compress: 'gzip' });
    outputs.push(withIntegerTimes, compressed);
    const values = new Map<string, unknown>(stdoutOutput.keys.map((k) => [k.name, k.parse(k.default!)]));
    let printed = '';
    const stdout = new StdoutOutput(values, { instance: 'stdout.0', log: createLogger('error'), service: {} as never, configDir: '/' }, {
      write: (text: string) => ((printed += text), true),
    } as unknown as NodeJS.WritableStream);
    const match = compileMatch({ kind: 'wildcard', pattern: '*' });
    const router = new Router([withIntegerTimes, compressed, stdout].map((output) => ({ output, matches: match })));
    await Promise.all(outputs.map((o) => o.start()));

    const events = makeEvents(0, 50);
    const shared = chunkOf(events);
    const before = Buffer.from(shared.entries);
    router.route('host.ebpf', shared);
    await Promise.all(outputs.map((o) => o.flush()));
    await waitFor('both receivers', () => integer.entries.length === 50 && gzip.entries.length === 50);

    expect(shared.entries.equals(before)).toBe(true);
    expect(shared.count).toBe(50);
    expect(integer.entries[7]).toEqual({ tag: 'host.ebpf', time: events[7]!.sec, record: events[7]!.record });
    expect(gzip.entries[7]).toEqual({ tag: 'host.ebpf', time: { sec: events[7]!.sec, nsec: events[7]!.nsec }, record: events[7]!.record });
    expect(gzip.messages[0]).toMatchObject({ mode: 'CompressedPackedForward', bytes: expect.any(Number) });
    expect(printed.split('\n')).toHaveLength(51);
  });
});
