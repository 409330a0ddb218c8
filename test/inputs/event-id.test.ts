// event_id on the real kernel: a burst of kills from the load generator,
// read with sequence numbers. Each record's event_id is its CPU in the top
// 16 bits and that CPU's count below: unique, only growing per CPU in the
// order records were queued, counted from 0 at load. Unlike sequence_key it
// says nothing of losses.
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { trace_signal } from '../../src/traces/signal/index.js';
import { buildLoadgen } from '../../bench/loadgen.mjs';
import { waitFor } from '../support/cli.js';
import { decodeEntries, type DecodedEvent } from '../support/decoded-events.js';

let session: TraceSession;
const events: DecodedEvent[] = [];

beforeAll(() => {
  addon().ensureTracefs();
  session = TraceSession.start({
    trace: trace_signal,
    settings: { keys: new Map(), selfPid: process.pid },
    ringbufMapName: 'events',
    ringbufBytes: 16 << 20,
    sequenceKey: 'seq',
    onChunk: (chunk) => events.push(...decodeEntries(chunk)),
  });
});

afterAll(() => session?.close());

it('unique, per CPU from 0 and only growing, second key of every record', async () => {
  const report = JSON.parse(execFileSync(buildLoadgen() as string, ['signal', '20000', '0'], { encoding: 'utf8' })) as { pid: number };
  await waitFor(() => (events.filter((e) => e.record.pid === report.pid).length >= 20_000 ? true : undefined), 10_000, 'the burst');
  session.stop();
  expect(session.lost()).toBe(0);

  for (const e of events) expect(Object.keys(e.record).slice(0, 2)).toEqual(['event_type', 'event_id']);
  const ids = events.map((e) => BigInt(e.record.event_id!));
  expect(new Set(ids).size).toBe(ids.length);
  const byCpu = new Map<bigint, bigint[]>();
  for (const id of ids) {
    const cpu = id >> 48n;
    expect(cpu < BigInt(cpus().length), `CPU ${cpu}`).toBe(true);
    byCpu.set(cpu, [...(byCpu.get(cpu) ?? []), id & ((1n << 48n) - 1n)]);
  }
  for (const [cpu, counts] of byCpu) {
    // In ring order a CPU's records come in the order it queued them: its counts only grow, from 0.
    for (let i = 1; i < counts.length; i++) expect(counts[i]! > counts[i - 1]!, `CPU ${cpu}: ${counts[i - 1]} then ${counts[i]}`).toBe(true);
    expect(counts[0], `CPU ${cpu}'s first record`).toBe(0n);
    // Nothing was lost: every count from 0 to the last was handed out.
    expect(counts.at(-1)! + 1n, `CPU ${cpu}'s records`).toBe(BigInt(counts.length));
  }
  // sequence_key numbers all records of the trace together, whatever the CPU.
  const seqs = events.map((e) => BigInt(e.record.seq!)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  expect(seqs[0]).toBe(0n);
  expect(seqs.at(-1)! + 1n).toBe(BigInt(events.length));
});
