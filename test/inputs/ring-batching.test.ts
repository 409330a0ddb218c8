// Wake-up batching on the real kernel (bpf/common.bpf.h, native/ring_reader.cc):
// a burst is read in few wake-ups yet completely, across many small batches
// that reuse one buffer; and records that were let wait without a wake-up are
// still read when nothing follows them (the reader's deadline).
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import { waitFor } from '../support/cli.js';
import { buildLoadgen, runLoadgen } from '../../bench/loadgen.mjs';
import { decodeEntries, EventIds, type DecodedEvent } from '../support/decoded-events.js';

interface LoadgenReport {
  pid: number;
  events: number;
}

let session: TraceSession | undefined;
const events: DecodedEvent[] = [];
/** Bytes of the chunks handed on. */
let chunkBytes = 0;

function start(maxBatchBytes: number, more: { ringbufBytes?: number; wakeupMs?: number; whenAccepting?: () => Promise<void> | undefined } = {}): TraceSession {
  events.length = 0;
  chunkBytes = 0;
  const ids = new EventIds();
  session = TraceSession.start({
    trace: trace_signal,
    settings: { keys: new Map(), selfPid: process.pid },
    ringbufMapName: 'events',
    ringbufBytes: more.ringbufBytes ?? 16 << 20,
    maxBatchBytes,
    wakeupMs: more.wakeupMs,
    onChunk: (chunk) => {
      chunkBytes += chunk.entries.length;
      for (const e of ids.take(decodeEntries(chunk))) events.push(e);
    },
    whenAccepting: more.whenAccepting,
  });
  return session;
}

/** kill(getpid(), 0) records of the generator's worker. */
const fromWorker = (pid: number) => events.filter((e) => e.record.pid === pid && e.record.signal === 0);

beforeAll(() => {
  buildLoadgen();
  addon().ensureTracefs();
});

afterEach(() => {
  session?.stop();
  session?.close();
  session = undefined;
});

describe('ring buffer wake-up batching', () => {
  it('reads a burst completely, in far fewer wake-ups than records, through many reused batches', async () => {
    const s = start(4096);
    const job = (await runLoadgen('signal', 20_000, 0)) as LoadgenReport;
    const mine = await waitFor(() => {
      const got = fromWorker(job.pid);
      return got.length >= 20_000 ? got : undefined;
    }, 20_000, 'all 20,000 records');
    expect(mine).toHaveLength(20_000);
    expect(mine.every((e) => e.record.tpid === job.pid && e.record.error_raw === 0)).toBe(true);
    expect(s.lost()).toBe(0);
    const stats = s.ringStats()!;
    // By default the kernel wakes the reader every few records.
    expect(stats.wakeups).toBeLessThan(20_000 / 10);
    // 4 KB batches of 64-byte records: several batches per read, one Buffer.
    expect(stats.batches).toBeGreaterThan(stats.wakeups);
    expect(stats.dropped).toBe(0);
    // fluentbit_input_bytes_total: the bytes of the entries handed on.
    expect(s.receivedBytes).toBe(chunkBytes);
    expect(s.receivedBytes).toBeGreaterThan(20_000 * 50);
  });

  it('reads records that were let wait even when nothing comes after them', async () => {
    start(1 << 20);
    // Three kills 1 ms apart: at most the first forces a wake-up.
    const job = (await runLoadgen('signal', 3, 1000)) as LoadgenReport;
    const mine = await waitFor(() => (fromWorker(job.pid).length === 3 ? fromWorker(job.pid) : undefined), 10_000, 'the 3 records');
    expect(mine.map((e) => e.record.tpid)).toEqual([job.pid, job.pid, job.pid]);
  });

  it('under a steady flow, reads about once per wakeup_ms (the deadline reads take the records, the kernel need not wake the reader)', async () => {
    const s = start(1 << 20, { wakeupMs: 100 });
    // 2 s at 1,000/s: about 20 reads at wakeup_ms 100 (each one wake-up), where
    // one wake-up every 20 ms, each followed by a deadline read, made 100 to 200.
    const before = s.ringStats()!;
    const job = (await runLoadgen('signal', 2000, 1000)) as LoadgenReport;
    await waitFor(() => (fromWorker(job.pid).length === 2000 ? true : undefined), 10_000, 'the 2,000 records');
    const after = s.ringStats()!;
    const reads = after.wakeups + after.deadlineReads - before.wakeups - before.deadlineReads;
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(60);
  });

  it('reads a record that comes alone, after a flow or after a quiet spell, within a bound', async () => {
    start(1 << 20, { wakeupMs: 100 });
    const flow = (await runLoadgen('signal', 300, 1000)) as LoadgenReport;
    await waitFor(() => (fromWorker(flow.pid).length === 300 ? true : undefined), 10_000, 'the flow');
    // One kill at a time, at gaps around the deadline: before it, on it, after
    // it, and after a deadline read that found nothing (the reader then waits
    // for the kernel to wake it).
    for (const gapMs of [10, 60, 100, 150, 250, 0]) {
      await new Promise((resolve) => setTimeout(resolve, gapMs));
      const one = (await runLoadgen('signal', 1, 0)) as LoadgenReport;
      // Generous: the bound is wakeup_ms (100 ms); a busy machine delays timers.
      await waitFor(() => (fromWorker(one.pid).length === 1 ? true : undefined), 5_000, `the record after a ${gapMs} ms gap`);
    }
  });
});

describe('full outputs (backpressure)', () => {
  it('stops reading while the outputs are full, until they say they have room: the overflow is lost and counted in the kernel, never dropped in memory', async () => {
    let makeRoom!: () => void;
    let room: Promise<void> | undefined = new Promise<void>((resolve) => (makeRoom = resolve));
    // A 64 KB ring holds about 900 signal records.
    const s = start(1 << 20, { ringbufBytes: 64 << 10, whenAccepting: () => room });
    const job = (await runLoadgen('signal', 20_000, 0)) as LoadgenReport;
    // Nothing is read while full: at most the first batch got through.
    const whileFull = fromWorker(job.pid).length;
    expect(whileFull).toBeLessThan(2_000);
    expect(s.pauses).toBe(1); // one wait, however many reads came before it was over
    // The fill level (ebpf_forward_trace_ring_fill_ratio) says so: a record no longer fits.
    expect(s.ringFill()).toBeGreaterThan(0.95);
    room = undefined;
    makeRoom();
    await waitFor(() => (s.ringStats()!.records > 0 && fromWorker(job.pid).length > whileFull ? true : undefined), 10_000, 'reading to resume');
    await waitFor(() => (s.ringFill()! < 0.05 ? true : undefined), 10_000, 'the ring to empty');
    // The ring held what it could; the rest is the kernel's lost count.
    await new Promise((r) => setTimeout(r, 200));
    const mine = fromWorker(job.pid).length;
    const lost = s.lost();
    expect(mine).toBeLessThan(20_000);
    expect(lost).toBeGreaterThan(0);
    // Other processes' records may be lost in the same ring too: at least ours are all accounted for.
    expect(mine + lost).toBeGreaterThanOrEqual(20_000);
    expect(s.ringStats()!.dropped).toBe(0);
  });

  it('hands on what is left in the ring at stop, full outputs or not', async () => {
    const s = start(1 << 20, { whenAccepting: () => new Promise<void>(() => {}) });
    const job = (await runLoadgen('signal', 500, 0)) as LoadgenReport;
    s.stop();
    expect(fromWorker(job.pid)).toHaveLength(500);
  });
});
