// The input journal on a full disk (a 1 MB tmpfs, filled): every batch still
// goes on to the outputs, unjournaled and counted; no descriptor and no file
// is left per batch (one each, before); a new segment is tried at most every
// few seconds; the disk being full is one error line, its end one line; once
// there is room again the journal is written again.
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventChunk } from '../../src/chunk.js';
import { InputJournal } from '../../src/inputs/journal.js';
import { chunkOf } from '../support/chunks.js';
import { fillDisk, smallTmpfs, type SmallDisk } from '../support/small-disk.js';
import { makeEvents, testLog, type TestLog } from '../outputs/forward/support.js';

const BATCHES = 500;

let disk: SmallDisk;
let root: string;
beforeEach(() => {
  disk = smallTmpfs('1m');
  root = disk.dir;
});
afterEach(() => disk.remove());

const fill = () => fillDisk(root);

const openDescriptors = () => readdirSync('/proc/self/fd').length;
const folderFiles = () => readdirSync(join(root, 'ebpf.0'));
const linesOf = (log: TestLog, level: 'error' | 'info' | 'debug') => log.lines.filter((l) => l.includes(level === 'info' ? '[ info]' : `[${level}]`) && l.includes('storage.type filesystem'));

/** Keeps BATCHES chunks of 10 records; returns the records routed. */
function keepMany(journal: InputJournal, from: number): number {
  let routed = 0;
  for (let i = 0; i < BATCHES; i++) journal.keep(chunkOf(makeEvents(from + i * 10, 10)), (chunk: EventChunk) => (routed += chunk.count));
  return routed;
}

describe('input journal, storage.path full', () => {
  it.each([
    ['a new segment tried at each batch', 0],
    ['a new segment tried at most every 5 s', 5000],
  ])('batches go on unjournaled and counted; descriptors and files stay as they were; one error line (%s)', (_how, retryMs) => {
    const log = testLog();
    const journal = InputJournal.open({ root, name: 'ebpf.0', tag: 'host.ebpf', sync: false, checksum: false, log: log.logger, retryMs });
    fill();
    const descriptors = openDescriptors();
    const files = folderFiles().length;

    expect(keepMany(journal, 0)).toBe(BATCHES * 10);
    console.log(`${BATCHES} batches on a full disk, ${_how}: ${descriptors} -> ${openDescriptors()} descriptors, ${files} -> ${folderFiles().length} files in the journal folder`);
    expect(openDescriptors()).toBe(descriptors);
    expect(folderFiles()).toHaveLength(files);
    expect(journal.unjournaled).toBe(BATCHES * 10);
    const errors = linesOf(log, 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/storage\.type filesystem: cannot write to .*ebpf\.0 \(ENOSPC: no space left on device\): records go on to the outputs unjournaled \(a crash would lose them\), counted, while it lasts/);
    // Tried again at each batch, or not once within the 5 s.
    expect(linesOf(log, 'debug')).toHaveLength(retryMs === 0 ? BATCHES - 1 : 0);
    journal.stop();
  });

  it('a segment that fills up is cut back to its last whole batch and closed; once there is room the journal is written again, said in one line', async () => {
    const log = testLog();
    const journal = InputJournal.open({ root, name: 'ebpf.0', tag: 'host.ebpf', sync: false, checksum: false, log: log.logger, retryMs: 0 });
    // Held, as an output waiting for its receiver holds them: the segment stays.
    const releases: (() => void)[] = [];
    const hold = (chunk: EventChunk) => releases.push(chunk.retain?.() ?? (() => {}));
    journal.keep(chunkOf(makeEvents(0, 10)), hold);
    const filler = fill();
    for (let i = 1; i < 50; i++) journal.keep(chunkOf(makeEvents(i * 10, 10)), hold);
    expect(releases).toHaveLength(50);
    expect(linesOf(log, 'error')).toHaveLength(1);
    expect(folderFiles()).toHaveLength(1);

    unlinkSync(filler);
    journal.keep(chunkOf(makeEvents(500, 10)), hold);
    expect(linesOf(log, 'info')).toEqual([expect.stringMatching(/storage\.type filesystem: writing to .*ebpf\.0 again \(\d+ records went on unjournaled meanwhile\)/)]);
    expect(folderFiles()).toHaveLength(2);
    journal.stop();
    // The segment filled up replays its whole batches, with no warning of one cut short.
    const replayLog = testLog();
    const batches: number[] = [];
    const second = InputJournal.open({ root, name: 'ebpf.0', tag: 'host.ebpf', sync: false, checksum: false, log: replayLog.logger });
    await second.replay((_tag, chunk) => batches.push(chunk.count));
    expect(replayLog.text()).not.toMatch(/killed while writing/);
    expect(batches.length).toBeGreaterThan(2);
    for (const release of releases) release();
  });
});
