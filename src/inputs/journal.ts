// storage.type filesystem: an input's records are on disk before they are
// routed, so that a crash (SIGKILL, OOM) loses none of what was read from
// the rings, and the next start sends them. Each batch is appended, as it
// is, to the current segment file under storage.path/<input>/ (one write(2):
// in the page cache when the call returns, so a killed process loses
// nothing; storage.sync full also fsyncs each segment when it is closed).
//
// A batch (a frame of its segment) is settled once every output that took
// it has it safe (delivered, in its own spool, or dropped and counted):
// outputs hold a chunk's records through chunk.retain(), and one that takes
// no hold is done with them when write() returns. Settled frames are marked
// in the segment's *.acked file (their numbers, appended), so that the next
// start replays only frames no output settled. Segments are closed at every
// Flush (or at SEGMENT_MAX_BYTES) and deleted once all of their frames are
// settled. Segments a previous run left are replayed at start, tag and
// times as they were.
//
// A disk that refuses a batch (full) costs no descriptor and leaves no file:
// batches go on to the outputs unjournaled (counted) and a new segment is
// tried at most every RETRY_MS, one error line while it lasts.
import { closeSync, fsyncSync, ftruncateSync, readdirSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { forEachEntry, type EventChunk, type EventTime } from '../chunk.js';
import type { Logger } from '../log.js';
import { ChunkFileError, ChunkFileReader, TruncatedFrameError, createPrivateFileSync, encodeFrameHead, encodeHeader } from '../storage/chunk-file.js';
import { fsErrorText, openStorageFolder } from '../storage/folder.js';
import { MARKS_SUFFIX, readMarks, removeFile, Segment, shortWrite } from './journal-segment.js';

const SEGMENT_SUFFIX = '.journal';
/**
 * A segment is closed at this size even before Flush: closed, it goes as
 * soon as its last batch is settled, so that the journal's disk use stays
 * about what the outputs hold, whatever Flush is.
 */
const SEGMENT_MAX_BYTES = 8 * 1024 * 1024;
/** While the disk refuses segments, a new one is tried at most this often. */
const RETRY_MS = 5000;

export interface JournalOptions {
  /** storage.path. */
  root: string;
  /** The input's folder under it. */
  name: string;
  /** The input's tag, kept in each segment. */
  tag: string;
  /** storage.sync full: fsync a segment (and its marks) when it is closed. */
  sync: boolean;
  /** Frames carry a CRC32 of their entries. */
  checksum: boolean;
  log: Logger;
  /** Least time between two tries at a new segment while the disk refuses them (default RETRY_MS). */
  retryMs?: number;
  /** Size at which a segment is closed before Flush (default SEGMENT_MAX_BYTES). */
  segmentMaxBytes?: number;
}

/** The times of a frame's entries, for the chunk made of it. */
function timeRange(entries: Buffer, count: number): { minTime: EventTime; maxTime: EventTime } {
  let minTime: EventTime | undefined;
  let maxTime: EventTime | undefined;
  const earlier = (a: EventTime, b: EventTime) => a.sec < b.sec || (a.sec === b.sec && a.nsec < b.nsec);
  forEachEntry(entries, count, (start) => {
    const time = { sec: entries.readUInt32BE(start + 3), nsec: entries.readUInt32BE(start + 7) };
    if (!minTime || earlier(time, minTime)) minTime = time;
    if (!maxTime || earlier(maxTime, time)) maxTime = time;
  });
  return { minTime: minTime!, maxTime: maxTime! };
}

export class InputJournal {
  private current: { segment: Segment; fd: number; frames: number; bytes: number } | undefined;
  private sequence = 0;
  private ended = false;
  /** While the disk refuses batches: the error line said, and when a new segment may be tried. */
  private failing: { retryAt: number; unjournaled: number } | undefined;
  /** Records that went on to the outputs unjournaled (the disk refused them). */
  unjournaled = 0;

  private constructor(
    private readonly options: JournalOptions,
    readonly dir: string,
    /** Segments a previous run left, oldest first. */
    private readonly leftovers: string[],
  ) {}

  /** stop() was called: no more segments, no more replay. */
  get stopped(): boolean {
    return this.ended;
  }

  /** Makes and checks the folder (StorageError if it can't be used) and finds what a previous run left. */
  static open(options: JournalOptions): InputJournal {
    const dir = openStorageFolder(options.root, options.name);
    const names = readdirSync(dir);
    const segments = names.filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    // Marks whose segment went (a crash between the two removals).
    const listed = new Set(segments);
    for (const n of names) if (n.endsWith(MARKS_SUFFIX) && !listed.has(n.slice(0, -MARKS_SUFFIX.length))) removeFile(join(dir, n), options.log);
    return new InputJournal(options, dir, segments.map((n) => join(dir, n)));
  }

  /**
   * Appends a chunk's records to the current segment, then hands the chunk
   * to `route`: the same records, held by the outputs that keep them
   * through retain(), and marked settled once they all let go. A chunk the
   * disk refused is routed as it is, not crash-safe, and counted.
   */
  keep(chunk: EventChunk, route: (chunk: EventChunk) => void): void {
    if (this.current && this.current.bytes >= (this.options.segmentMaxBytes ?? SEGMENT_MAX_BYTES)) this.roll();
    const current = this.writable();
    let frame: number | undefined;
    if (current) {
      try {
        frame = this.append(current, chunk);
      } catch (err) {
        this.writeFailed(err as Error);
      }
    }
    if (frame === undefined) {
      this.unjournaled += chunk.count;
      if (this.failing) this.failing.unjournaled += chunk.count;
      route(chunk);
      return;
    }
    if (this.failing) {
      this.options.log.info(`storage.type filesystem: writing to ${this.dir} again (${this.failing.unjournaled} records went on unjournaled meanwhile)`);
      this.failing = undefined;
    }
    current!.segment.route(frame, chunk, route);
  }

  /** The segment to append to: the current one, else a new one unless the disk refused the last try moments ago. */
  private writable(): InputJournal['current'] {
    if (this.current) return this.current;
    if (this.failing && Date.now() < this.failing.retryAt) return undefined;
    try {
      return this.newSegment();
    } catch (err) {
      this.writeFailed(err as Error);
      return undefined;
    }
  }

  /** Appends a frame; returns its number in the segment. A frame cut short is cut off, and ends the segment. */
  private append(current: NonNullable<InputJournal['current']>, chunk: EventChunk): number {
    const head = encodeFrameHead(chunk.count, chunk.entries, this.options.checksum);
    const size = head.length + chunk.entries.length;
    let written: number;
    try {
      written = writevSync(current.fd, [head, chunk.entries]);
    } catch (err) {
      this.cutShort(current);
      throw err;
    }
    if (written !== size) {
      this.cutShort(current);
      throw shortWrite(written, size);
    }
    current.bytes += size;
    return current.frames++;
  }

  /** Takes a partly written frame off the end of the segment (best effort: a replay would drop it, with a warning), and closes it. */
  private cutShort(current: NonNullable<InputJournal['current']>): void {
    try {
      ftruncateSync(current.fd, current.bytes);
    } catch {
      // The frame left is read as one a crash cut short.
    }
    this.roll();
  }

  private writeFailed(err: Error): void {
    const { log, retryMs = RETRY_MS } = this.options;
    const failure = `storage.type filesystem: cannot write to ${this.dir} (${fsErrorText(err)}): records go on to the outputs unjournaled (a crash would lose them), counted, while it lasts; tried again every ${retryMs / 1000} s`;
    if (this.failing) log.debug(failure);
    else log.error(failure);
    this.failing = { retryAt: Date.now() + retryMs, unjournaled: this.failing?.unjournaled ?? 0 };
    if (this.current) this.roll();
  }

  /** Closes the current segment (at Flush): the next records start a new one. */
  roll(): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    try {
      if (this.options.sync) fsyncSync(current.fd);
      closeSync(current.fd);
    } catch (err) {
      // A failed fsync leaves the descriptor open: closed all the same.
      try {
        closeSync(current.fd);
      } catch {
        // Closed by the failed close already.
      }
      this.writeFailed(err as Error);
    } finally {
      current.segment.close();
    }
  }

  /** A new segment, its header written; on any failure nothing is left (no descriptor, no file). */
  private newSegment(): NonNullable<InputJournal['current']> {
    const name = `${String(Date.now()).padStart(13, '0')}-${process.pid}-${String(this.sequence++).padStart(6, '0')}${SEGMENT_SUFFIX}`;
    const path = join(this.dir, name);
    let fd: number | undefined;
    try {
      fd = createPrivateFileSync(path);
      const header = encodeHeader({ tag: this.options.tag, createdAt: Date.now(), checksum: this.options.checksum });
      const written = writevSync(fd, [header]);
      if (written !== header.length) throw shortWrite(written, header.length);
      this.current = { segment: new Segment(path, this.options.sync, this.options.log), fd, frames: 0, bytes: header.length };
      return this.current;
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      // The name is new to this run: a file there is the one just created (also when its fchmod failed).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') removeFile(path, this.options.log);
      throw err;
    }
  }

  /**
   * Routes what a previous run left, segment by segment, frame by frame,
   * waiting between frames while the outputs are full; frames an output had
   * settled (marked) are not sent again. Each segment is deleted once its
   * frames are settled. Stops at stop(), leaving the segments not wholly
   * replayed for the next start.
   */
  async replay(emit: (tag: string, chunk: EventChunk) => void, whenAccepting?: (tag: string) => Promise<void> | undefined): Promise<void> {
    const { log } = this.options;
    let records = 0;
    let settledBefore = 0;
    for (const path of this.leftovers) {
      if (this.ended) break;
      const segment = new Segment(path, this.options.sync, log);
      const settled = readMarks(path, log);
      let reader: ChunkFileReader | undefined;
      let whole = false;
      try {
        reader = await ChunkFileReader.open(path);
        const tag = reader.header.tag;
        for (let frame = 0; ; frame++) {
          if (!settled.has(frame)) await whenAccepting?.(tag);
          if (this.ended) break;
          const read = await reader.next();
          if (!read) {
            whole = true;
            break;
          }
          if (this.ended) break;
          if (settled.has(frame)) {
            settledBefore += read.records;
            continue;
          }
          records += read.records;
          segment.route(frame, { entries: read.entries, count: read.records, ...timeRange(read.entries, read.records) }, (chunk) => emit(tag, chunk));
        }
      } catch (err) {
        if (!(err instanceof ChunkFileError)) throw err;
        whole = true;
        if (err instanceof TruncatedFrameError) {
          log.warn(`storage: ${err.message}: the run that wrote it was killed while writing those records, which are lost`);
        } else {
          segment.damaged = true;
          log.error(`storage: ${err.message}; the rest of it is not replayed (set aside as ${path}.bad)`);
        }
      } finally {
        await reader?.close();
      }
      // A segment not wholly replayed stays for the next start.
      if (whole) segment.close();
    }
    if (this.leftovers.length > 0) {
      log.info(`replayed ${records} records a previous run left in ${this.dir}${settledBefore ? ` (${settledBefore} it had delivered not sent again)` : ''}`);
    }
  }

  /** Closes the current segment and stops replaying. */
  stop(): void {
    this.ended = true;
    this.roll();
  }
}
