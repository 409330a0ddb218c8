// storage.type filesystem, the journal alone: each chunk is on disk before it
// is routed, a segment goes once it is closed and every output that kept its
// records let go, and what a killed run left comes back at the next start
// (tag and times as they were), a write cut short costing only its own frame.
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventChunk } from '../../src/chunk.js';
import { InputJournal } from '../../src/inputs/journal.js';
import { skipValue } from '../../src/outputs/forward/msgpack-skip.js';
import { chunkOf, recordsOf } from '../support/chunks.js';
import { makeEvents, testLog } from '../outputs/forward/support.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'journal-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const segments = () => readdirSync(join(root, 'ebpf.0')).filter((n) => n.endsWith('.journal'));
const open = (log = testLog(), checksum = false) => InputJournal.open({ root, name: 'ebpf.0', tag: 'host.ebpf', sync: false, checksum, log: log.logger });

/** What replay() routes, with each chunk's records read while it is valid, and its hold taken. */
async function replayed(journal: InputJournal): Promise<{ tag: string; seqs: number[]; release: () => void }[]> {
  const got: { tag: string; seqs: number[]; release: () => void }[] = [];
  await journal.replay((tag, chunk) => got.push({ tag, seqs: recordsOf(chunk).map((r) => r.record.seq as number), release: chunk.retain!() }));
  return got;
}

describe('input journal', () => {
  it('a chunk is in its segment when keep() returns; the segment goes once closed and every hold is let go', () => {
    const journal = open();
    const kept = journal.keep(chunkOf(makeEvents(0, 10)));
    const [segment] = segments();
    expect(statSync(join(root, 'ebpf.0', segment!)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(root, 'ebpf.0', segment!)).includes(kept.entries)).toBe(true);
    const releaseA = kept.retain!();
    const releaseB = kept.retain!(); // a second output
    journal.roll();
    expect(segments()).toHaveLength(1);
    releaseA();
    releaseA(); // once only
    expect(segments()).toHaveLength(1);
    releaseB();
    expect(segments()).toHaveLength(0);
    // The next chunk starts a new segment.
    journal.keep(chunkOf(makeEvents(10, 1)));
    expect(segments()).toHaveLength(1);
    journal.stop();
    expect(segments()).toHaveLength(0); // nobody held it
  });

  it('what a killed run left is replayed in order, tag and times kept, and deleted once safe', async () => {
    const first = open();
    const events = makeEvents(0, 30);
    for (let i = 0; i < 30; i += 10) first.keep(chunkOf(events.slice(i, i + 10))).retain!(); // held, never let go: then killed
    first.roll();
    first.keep(chunkOf(makeEvents(30, 5))).retain!();
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
    first.keep(chunk).retain!();
    let replayedChunk: EventChunk | undefined;
    await open().replay((_tag, c) => {
      replayedChunk = c;
    });
    expect(replayedChunk).toMatchObject({ count: 3, minTime: chunk.minTime, maxTime: chunk.maxTime });
    expect(replayedChunk!.entries.equals(chunk.entries)).toBe(true);
  });

  it('a frame cut short by a crash costs only its own records; the segment still goes', async () => {
    const first = open();
    first.keep(chunkOf(makeEvents(0, 10))).retain!();
    first.keep(chunkOf(makeEvents(10, 10))).retain!();
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
    first.keep(chunkOf(makeEvents(0, 10))).retain!();
    first.keep(chunkOf(makeEvents(10, 10))).retain!();
    first.keep(chunkOf(makeEvents(20, 10))).retain!();
    const file = join(root, 'ebpf.0', segments()[0]!);
    const bytes = readFileSync(file);
    const frame1 = skipValue(bytes, 0);
    const frame2 = frame1 + 12 + bytes.readUInt32BE(frame1 + 4);
    bytes[frame2 + 12 + 40] ^= 0x20; // a byte inside the second frame's records
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
    first.keep(chunkOf(makeEvents(0, 10))).retain!();
    appendFileSync(join(root, 'ebpf.0', '0000000000001-1-000000.journal'), 'not a segment');
    const log = testLog();
    const got = await replayed(open(log));
    expect(got.flatMap((g) => g.seqs)).toEqual([...Array(10).keys()]);
    expect(log.text()).toMatch(/0000000000001-1-000000\.journal is not an ebpf-forward chunk file/);
    expect(readdirSync(join(root, 'ebpf.0')).filter((n) => n.endsWith('.bad'))).toEqual(['0000000000001-1-000000.journal.bad']);
  });
});
