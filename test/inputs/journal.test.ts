// storage.type filesystem, the journal alone: each chunk is on disk before it
// is routed, a segment goes once it is closed and every output that kept its
// records let go, and what a killed run left comes back at the next start
// (tag and times as they were), a write cut short costing only its own frame.
// With real outputs: a batch every output settled (acked, printed, dropped
// and counted) is marked, and not replayed.
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventChunk } from '../../src/chunk.js';
import { InputJournal } from '../../src/inputs/journal.js';
import { skipValue } from '../../src/msgpack/skip.js';
import { StdoutOutput, stdoutOutput } from '../../src/outputs/stdout.js';
import type { Output } from '../../src/outputs/types.js';
import { Router } from '../../src/router.js';
import { chunkOf, recordsOf } from '../support/chunks.js';
import { freePort } from '../support/free-port.js';
import { IndependentReceiver } from '../outputs/forward/receivers.js';
import { createForward, makeEvents, serviceSettings, testLog, waitFor } from '../outputs/forward/support.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'journal-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const segments = () => readdirSync(join(root, 'ebpf.0')).filter((n) => n.endsWith('.journal'));
const open = (log = testLog(), checksum = false) => InputJournal.open({ root, name: 'ebpf.0', tag: 'host.ebpf', sync: false, checksum, log: log.logger });

/** Keeps a chunk, `holds` outputs taking a hold on it as they would in write(); returns the chunk routed and the holds' releases. */
function keepHeld(journal: InputJournal, chunk: EventChunk, holds = 1): { kept: EventChunk; releases: (() => void)[] } {
  let kept: EventChunk | undefined;
  const releases: (() => void)[] = [];
  journal.keep(chunk, (c) => {
    kept = c;
    for (let i = 0; i < holds; i++) releases.push(c.retain!());
  });
  return { kept: kept!, releases };
}

/** What replay() routes, with each chunk's records read while it is valid, and its hold taken. */
async function replayed(journal: InputJournal): Promise<{ tag: string; seqs: number[]; release: () => void }[]> {
  const got: { tag: string; seqs: number[]; release: () => void }[] = [];
  await journal.replay((tag, chunk) => got.push({ tag, seqs: recordsOf(chunk).map((r) => r.record.seq as number), release: chunk.retain!() }));
  return got;
}

describe('input journal', () => {
  it('a chunk is in its segment when it is routed; the segment goes once closed and every hold is let go', () => {
    const journal = open();
    const { kept, releases: [releaseA, releaseB] } = keepHeld(journal, chunkOf(makeEvents(0, 10)), 2); // two outputs
    const [segment] = segments();
    expect(statSync(join(root, 'ebpf.0', segment!)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, 'ebpf.0', segment!)).includes(kept.entries)).toBe(true);
    journal.roll();
    expect(segments()).toHaveLength(1);
    releaseA!();
    releaseA!(); // once only
    expect(segments()).toHaveLength(1);
    releaseB!();
    expect(segments()).toHaveLength(0);
    // The next chunk starts a new segment.
    journal.keep(chunkOf(makeEvents(10, 1)), () => {});
    expect(segments()).toHaveLength(1);
    journal.stop();
    expect(segments()).toHaveLength(0); // nobody held it
  });

  it('what a killed run left is replayed in order, tag and times kept, and deleted once safe', async () => {
    const first = open();
    const events = makeEvents(0, 30);
    for (let i = 0; i < 30; i += 10) keepHeld(first, chunkOf(events.slice(i, i + 10))); // held, never let go: then killed
    first.roll();
    keepHeld(first, chunkOf(makeEvents(30, 5)));
    expect(segments()).toHaveLength(2);

    const log = testLog();
    const second = open(log);
    const got = await replayed(second);
    expect(got.map((g) => g.tag)).toEqual(['host.ebpf', 'host.ebpf', 'host.ebpf', 'host.ebpf']);
    expect(got.flatMap((g) => g.seqs)).toEqual([...Array(35).keys()]);
    expect(log.text()).toMatch(/replayed 35 records a previous run left in .*ebpf\.0/);
    expect(segments()).toHaveLength(2);
    for (const g of got) g.release();
    expect(segments()).toHaveLength(0);
  });

  it('times are the entries\' own', async () => {
    const first = open();
    const chunk = chunkOf(makeEvents(0, 3));
    keepHeld(first, chunk);
    let replayedChunk: EventChunk | undefined;
    await open().replay((_tag, c) => {
      replayedChunk = c;
    });
    expect(replayedChunk).toMatchObject({ count: 3, minTime: chunk.minTime, maxTime: chunk.maxTime });
    expect(replayedChunk!.entries.equals(chunk.entries)).toBe(true);
  });

  it('a frame cut short by a crash costs only its own records; the segment still goes', async () => {
    const first = open();
    keepHeld(first, chunkOf(makeEvents(0, 10)));
    keepHeld(first, chunkOf(makeEvents(10, 10)));
    const file = join(root, 'ebpf.0', segments()[0]!);
    truncateSync(file, statSync(file).size - 7);
    const log = testLog();
    const got = await replayed(open(log));
    expect(got.flatMap((g) => g.seqs)).toEqual([...Array(10).keys()]);
    expect(log.text()).toMatch(/ends inside a frame of 10 records .*killed while writing those records, which are lost/);
    for (const g of got) g.release();
    expect(segments()).toHaveLength(0);
  });

  it('a damaged frame (checksum): the frames before it are replayed, the file set aside as .bad with an error', async () => {
    const first = open(testLog(), true);
    keepHeld(first, chunkOf(makeEvents(0, 10)));
    keepHeld(first, chunkOf(makeEvents(10, 10)));
    keepHeld(first, chunkOf(makeEvents(20, 10)));
    const file = join(root, 'ebpf.0', segments()[0]!);
    const bytes = readFileSync(file);
    const frame1 = skipValue(bytes, 0);
    const frame2 = frame1 + 12 + bytes.readUInt32BE(frame1 + 4);
    bytes[frame2 + 12 + 40]! ^= 0x20; // a byte inside the second frame's records
    writeFileSync(file, bytes);
    const log = testLog();
    const got = await replayed(open(log));
    expect(got.flatMap((g) => g.seqs)).toEqual([...Array(10).keys()]);
    expect(log.lines.filter((l) => l.includes('[error]'))).toHaveLength(1);
    expect(log.text()).toMatch(/fails its checksum; the rest of it is not replayed \(set aside as .*\.bad\)/);
    for (const g of got) g.release();
    expect(readdirSync(join(root, 'ebpf.0')).filter((n) => n.endsWith('.bad'))).toHaveLength(1);
  });

  it('a file that is no segment is set aside whole; the segments are replayed', async () => {
    const first = open();
    keepHeld(first, chunkOf(makeEvents(0, 10)));
    appendFileSync(join(root, 'ebpf.0', '0000000000001-1-000000.journal'), 'not a segment');
    const log = testLog();
    const got = await replayed(open(log));
    expect(got.flatMap((g) => g.seqs)).toEqual([...Array(10).keys()]);
    expect(log.text()).toMatch(/0000000000001-1-000000\.journal is not an ebpf-forward chunk file/);
    expect(readdirSync(join(root, 'ebpf.0')).filter((n) => n.endsWith('.bad'))).toEqual(['0000000000001-1-000000.journal.bad']);
  });
});

describe('input journal: settled batches', () => {
  const outputs: Output[] = [];
  const receivers: IndependentReceiver[] = [];
  afterEach(async () => {
    for (const o of outputs.splice(0)) await o.close(0);
    for (const r of receivers.splice(0)) await r.close();
  });

  const marksFiles = () => readdirSync(join(root, 'ebpf.0')).filter((n) => n.endsWith('.acked'));
  const stdout = (sink: Writable) => {
    const values = new Map(stdoutOutput.keys.map((k) => [k.name, k.parse(k.default!)]));
    return new StdoutOutput(values, { instance: 'stdout.0', log: testLog().logger, service: serviceSettings(), configDir: process.cwd() }, sink);
  };
  /** Routes through a Router to `targets`, as the app does. */
  const to = (...targets: Output[]) => (chunk: EventChunk) => new Router(targets.map((output) => ({ output, matches: () => true }))).route('host.ebpf', chunk);

  it('only batches no output settled are replayed after a crash: acked, printed by stdout and dropped (counted) ones are not', async () => {
    const acking = await new IndependentReceiver().start();
    const silent = await new IndependentReceiver({ ack: false }).start();
    receivers.push(acking, silent);
    const acked = createForward({ port: String(acking.port), require_ack_response: 'on' });
    const unacked = createForward({ port: String(silent.port), require_ack_response: 'on', ack_response_timeout: '60', retry_limit: 'no_limits' });
    const dropping = createForward({ port: String(await freePort()), retry_limit: '1' });
    const printed: string[] = [];
    const printer = stdout(new Writable({ write: (data, _enc, done) => done(void printed.push(String(data))) }));
    outputs.push(acked, unacked, dropping, printer);
    for (const o of outputs) await o.start();

    const first = open();
    first.keep(chunkOf(makeEvents(0, 10)), to(acked, printer));
    first.keep(chunkOf(makeEvents(10, 10)), to(unacked));
    first.keep(chunkOf(makeEvents(20, 10)), to(dropping));
    first.keep(chunkOf(makeEvents(30, 10)), to(printer));
    first.keep(chunkOf(makeEvents(40, 10)), to(acked, unacked));
    await waitFor('the acks and the drop', () => acked.counters().records_acked === 20 && dropping.counters().records_dropped.retry_limit === 10 && silent.entries.length === 20);
    await new Promise((r) => setImmediate(r));
    expect(marksFiles()).toHaveLength(1);
    // Killed here: the segment neither closed nor removed.

    const log = testLog();
    const got = await replayed(open(log));
    expect(got.flatMap((g) => g.seqs)).toEqual([...Array(10).keys()].map((i) => 10 + i).concat([...Array(10).keys()].map((i) => 40 + i)));
    expect(log.text()).toMatch(/replayed 20 records a previous run left in .*ebpf\.0 \(30 it had delivered not sent again\)/);
    for (const g of got) g.release();
    expect(segments()).toHaveLength(0);
    expect(marksFiles()).toHaveLength(0);
  });

  it('a replay marks what it settles: a second crash replays only what is still unsettled', async () => {
    const first = open();
    for (let i = 0; i < 40; i += 10) keepHeld(first, chunkOf(makeEvents(i, 10)));
    const second = await replayed(open());
    second[1]!.release();
    second[3]!.release();
    await new Promise((r) => setImmediate(r));
    const third = await replayed(open());
    expect(third.flatMap((g) => g.seqs)).toEqual([...Array(10).keys()].concat([...Array(10).keys()].map((i) => 20 + i)));
  });

  it('a segment is closed at its size cap before Flush, and goes as soon as its batches are settled', () => {
    // A cap of 1 byte: one batch per segment.
    const journal = InputJournal.open({ root, name: 'ebpf.0', tag: 'host.ebpf', sync: false, checksum: false, log: testLog().logger, segmentMaxBytes: 1 });
    const held = Array.from({ length: 5 }, (_, i) => keepHeld(journal, chunkOf(makeEvents(i * 10, 10))));
    expect(segments()).toHaveLength(5);
    // The first batch delivered: its segment goes now, not at the next Flush.
    held[0]!.releases[0]!();
    expect(segments()).toHaveLength(4);
    for (const h of held) h.releases[0]!();
    expect(segments()).toHaveLength(1); // the one being written, until Flush
    journal.stop();
    expect(segments()).toHaveLength(0);
  });

  it('a segment whose batches are all settled goes with its marks; marks whose segment is gone are removed at start', async () => {
    const journal = open();
    const a = keepHeld(journal, chunkOf(makeEvents(0, 10)));
    const b = keepHeld(journal, chunkOf(makeEvents(10, 10)));
    a.releases[0]!();
    await new Promise((r) => setImmediate(r));
    expect(marksFiles()).toHaveLength(1);
    journal.roll();
    expect(segments()).toHaveLength(1);
    b.releases[0]!();
    expect(segments()).toHaveLength(0);
    expect(marksFiles()).toHaveLength(0);

    writeFileSync(join(root, 'ebpf.0', '0000000000001-1-000000.journal.acked'), Buffer.alloc(4));
    open();
    expect(marksFiles()).toHaveLength(0);
  });
});
