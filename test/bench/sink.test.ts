// The benchmark's forward receiver (bench/sink.mjs): each Forward protocol
// mode is counted by origin, acks are sent for `chunk`, and latency comes from
// the EventTime. Messages are built with @msgpack/msgpack (not the sink's
// msgpackr) so that the two libraries check each other.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Decoder, Encoder, ExtensionCodec } from '@msgpack/msgpack';
import { afterEach, describe, expect, it } from 'vitest';

const sinkPath = join(import.meta.dirname, '..', '..', 'bench', 'sink.mjs');

class EventTime {
  constructor(
    readonly sec: number,
    readonly nsec: number,
  ) {}
}
const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: (o) => {
    if (!(o instanceof EventTime)) return null;
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint32(0, o.sec);
    v.setUint32(4, o.nsec);
    return b;
  },
  decode: () => null,
});
const encoder = new Encoder({ extensionCodec: codec });
const encode = (v: unknown) => encoder.encode(v);

/** An EventTime `agoMs` milliseconds before now. */
function timeAgo(agoMs: number): EventTime {
  const ns = BigInt(Math.round((Date.now() - agoMs) * 1e6));
  return new EventTime(Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n));
}

interface Sink {
  child: ChildProcessWithoutNullStreams;
  port: number;
  stats(): Promise<SinkStats>;
}

interface OriginStats {
  count: number;
  latency: { p50_ms: number | null; p99_ms: number | null; max_ms: number; negative: number };
}
interface SinkStats {
  records: number;
  messages: number;
  integer_times: number;
  errors: string[];
  by_tag: Record<string, number>;
  origins: Record<string, Record<string, OriginStats>>;
}

let running: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of running) c.kill('SIGKILL');
  running = [];
});

async function startSink(): Promise<Sink> {
  const child = spawn(process.execPath, [sinkPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.push(child);
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (t: string) => {
    buf += t;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  const nextLine = () =>
    new Promise<string>((resolve) => {
      const take = () => (lines.length ? resolve(lines.shift()!) : waiters.push(take));
      take();
    });
  const { listening } = JSON.parse(await nextLine()) as { listening: number };
  return {
    child,
    port: listening,
    async stats() {
      child.stdin.write('stats\n');
      return JSON.parse(await nextLine()) as SinkStats;
    },
  };
}

async function send(port: number, ...messages: Uint8Array[]): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  for (const m of messages) socket.write(m);
  return socket;
}

async function waitForRecords(sink: Sink, n: number): Promise<SinkStats> {
  for (let i = 0; i < 200; i++) {
    const s = await sink.stats();
    if (s.records >= n) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`sink never saw ${n} records`);
}

const signal = (pid: number, sig = 0) => ({ event_type: 'signal', pid, tid: pid, comm: 'loadgen', signal: sig, tpid: pid, error_raw: 0 });

describe('bench sink', () => {
  it('counts Forward, PackedForward, CompressedPackedForward and Message records by origin', async () => {
    const sink = await startSink();
    const packed = Buffer.concat([encode([timeAgo(5), signal(7)]), encode([timeAgo(5), signal(7)])]);
    const exec = { event_type: 'execve', pid: 900, tid: 900, comm: 'true', stage: 'enter', ppid: 8 };
    const socket = await send(
      sink.port,
      encode(['t.forward', [[timeAgo(10), signal(7)], [timeAgo(10), signal(7, 17)]], {}]),
      encode(['t.packed', packed, {}]),
      encode(['t.gzip', gzipSync(packed), { compressed: 'gzip' }]),
      encode(['t.message', timeAgo(1), exec]),
      encode(['t.message', 1_790_000_000, signal(9)]),
    );
    const s = await waitForRecords(sink, 8);
    socket.destroy();
    expect(s.errors).toEqual([]);
    expect(s.records).toBe(8);
    expect(s.messages).toBe(5);
    expect(s.by_tag).toEqual({ 't.forward': 2, 't.packed': 2, 't.gzip': 2, 't.message': 2 });
    expect(s.origins['7']!['signal']!.count).toBe(5);
    expect(s.origins['7']!['signal:17']!.count).toBe(1);
    // execve counts for the process that called it: its parent.
    expect(s.origins['8']!['execve']!.count).toBe(1);
    expect(s.origins['9']!['signal']!.count).toBe(1);
    expect(s.integer_times).toBe(1);
    const latency = s.origins['7']!['signal']!.latency;
    expect(latency.p50_ms).toBeGreaterThanOrEqual(4.9);
    expect(latency.negative).toBe(0);
  });

  it("takes Fluent Bit 2+'s events, [[time, metadata], record], as its out_forward sends them (a relay), with their latency", async () => {
    const sink = await startSink();
    const packed = encode([[timeAgo(5), {}], signal(11)]);
    const socket = await send(sink.port, encode(['t.fb', [[[timeAgo(5), {}], signal(11)]], {}]), encode(['t.fb', packed, {}]));
    const s = await waitForRecords(sink, 2);
    socket.destroy();
    expect(s.errors).toEqual([]);
    expect(s.origins['11']!['signal']!.count).toBe(2);
    expect(s.integer_times).toBe(0);
    expect(s.origins['11']!['signal']!.latency.p50_ms).toBeGreaterThanOrEqual(4.9);
  });

  it('reassembles messages split across writes and acks chunks', async () => {
    const sink = await startSink();
    const entries = Array.from({ length: 3000 }, (_, i) => [timeAgo(0), signal(1000 + (i % 3))]);
    const big = encode(['split', entries, { chunk: 'abc123' }]);
    const socket = await send(sink.port);
    const acks: unknown[] = [];
    const decoder = new Decoder();
    socket.on('data', (d: Buffer) => acks.push(decoder.decode(d)));
    // Odd-sized pieces with pauses: the sink must wait for the rest.
    for (let at = 0; at < big.length; at += 7777) {
      socket.write(big.subarray(at, at + 7777));
      await new Promise((r) => setTimeout(r, 2));
    }
    const s = await waitForRecords(sink, 3000);
    expect(s.errors).toEqual([]);
    expect(s.records).toBe(3000);
    expect(s.origins['1000']!['signal']!.count).toBe(1000);
    for (let i = 0; i < 50 && acks.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(acks).toEqual([{ ack: 'abc123' }]);
    socket.destroy();
  });

  it('prints its stats and exits when stdin ends', async () => {
    const sink = await startSink();
    const socket = await send(sink.port, encode(['t', [[timeAgo(0), signal(5)]], {}]));
    await waitForRecords(sink, 1);
    socket.destroy();
    let out = '';
    sink.child.stdout.on('data', (t: string) => (out += t));
    const code = await new Promise<number | null>((resolve) => {
      sink.child.on('exit', resolve);
      sink.child.stdin.end();
    });
    expect(code).toBe(0);
    expect((JSON.parse(out.trim()) as SinkStats).records).toBe(1);
  });

  it('reports a stream that is not the Forward protocol', async () => {
    const sink = await startSink();
    const socket = await send(sink.port, encode({ not: 'forward' }));
    let stats: SinkStats | undefined;
    for (let i = 0; i < 100; i++) {
      stats = await sink.stats();
      if (stats.errors.length) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    socket.destroy();
    expect(stats!.errors).toEqual(['not a Forward protocol message']);
  });
});
