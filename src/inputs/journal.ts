// storage.type filesystem: an input's records are on disk before they are
// routed, so that a crash (SIGKILL, OOM) loses none of what was read from
// the rings, and the next start sends them. Each batch is appended, as it
// is, to the current segment file under storage.path/<input>/ (one write(2):
// in the page cache when the call returns, so a killed process loses
// nothing; storage.sync full also fsyncs each segment when it is closed).
// Segments are closed at every Flush and deleted once every output that got
// their records has them safe (delivered, in its own spool, or dropped and
// counted): outputs hold a chunk's records through chunk.retain(). Segments
// a previous run left are replayed at start, tag and times as they were.
import { closeSync, fsyncSync, readdirSync, renameSync, unlinkSync, writevSync } from 'node:fs';
import { join } from 'node:path';
import { forEachEntry, type EventChunk, type EventTime } from '../chunk.js';
import type { Logger } from '../log.js';
import { ChunkFileError, ChunkFileReader, TruncatedFrameError, createPrivateFileSync, encodeFrameHead, encodeHeader } from '../storage/chunk-file.js';
import { fsErrorText, openStorageFolder } from '../storage/folder.js';

const SEGMENT_SUFFIX = '.journal';

export interface JournalOptions {
  /** storage.path. */
  root: string;
  /** The input's folder under it. */
  name: string;
  /** The input's tag, kept in each segment. */
  tag: string;
  /** storage.sync full: fsync a segment when it is closed. */
  sync: boolean;
  /** Frames carry a CRC32 of their entries. */
  checksum: boolean;
  log: Logger;
}

/** One segment file: deleted once closed and no output holds its records. */
class Segment {
  /** Outputs holding records of it. */
  private holds = 0;
  private closed = false;
  /** Damaged: renamed *.bad instead of deleted, for a human. */
  damaged = false;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /** A hold on its records; the function returned lets go (once). */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.settleIfDone();
    };
  }

  /** No more records go into it. */
  close(): void {
    this.closed = true;
    this.settleIfDone();
  }

  private settleIfDone(): void {
    if (!this.closed || this.holds > 0) return;
    try {
      if (this.damaged) renameSync(this.path, `${this.path}.bad`);
      else unlinkSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error(`storage: cannot remove ${this.path}: ${(err as Error).message}`);
    }
  }
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
  private current: { segment: Segment; fd: number } | undefined;
  private sequence = 0;
  private stopped = false;
  /** The last write error, logged once as an error (then at debug while it lasts). */
  private writeFailure: string | undefined;

  private constructor(
    private readonly options: JournalOptions,
    readonly dir: string,
    /** Segments a previous run left, oldest first. */
    private readonly leftovers: string[],
  ) {}

  /** Makes and checks the folder (StorageError if it can't be used) and finds what a previous run left. */
  static open(options: JournalOptions): InputJournal {
    const dir = openStorageFolder(options.root, options.name);
    const leftovers = readdirSync(dir).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort().map((n) => join(dir, n));
    return new InputJournal(options, dir, leftovers);
  }

  /**
   * Appends a chunk's records to the current segment and returns the chunk
   * to route: the same records, held by the outputs that keep them through
   * retain(). A chunk the disk refused is routed as it is, not crash-safe
   * (logged once while it lasts).
   */
  keep(chunk: EventChunk): EventChunk {
    let segment: Segment;
    try {
      const current = this.current ?? this.newSegment();
      segment = current.segment;
      const head = encodeFrameHead(chunk.count, chunk.entries, this.options.checksum);
      const written = writevSync(current.fd, [head, chunk.entries]);
      if (written !== head.length + chunk.entries.length) {
        // A frame cut short ends its segment: what follows goes to a new one.
        this.roll();
        throw new Error(`wrote ${written} of ${head.length + chunk.entries.length} bytes (disk full?)`);
      }
    } catch (err) {
      this.writeFailed(err as Error);
      return chunk;
    }
    if (this.writeFailure !== undefined) {
      this.writeFailure = undefined;
      this.options.log.info(`writing to ${this.dir} again`);
    }
    return { ...chunk, retain: () => segment.hold() };
  }

  private writeFailed(err: Error): void {
    const failure = `storage.type filesystem: cannot write to ${this.dir} (${fsErrorText(err)}): records go on unkept (a crash would lose them) while it lasts`;
    if (failure !== this.writeFailure) this.options.log.error(failure);
    else this.options.log.debug(failure);
    this.writeFailure = failure;
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
      this.writeFailed(err as Error);
    } finally {
      current.segment.close();
    }
  }

  private newSegment(): { segment: Segment; fd: number } {
    const name = `${String(Date.now()).padStart(13, '0')}-${process.pid}-${String(this.sequence++).padStart(6, '0')}${SEGMENT_SUFFIX}`;
    const path = join(this.dir, name);
    const fd = createPrivateFileSync(path);
    writevSync(fd, [encodeHeader({ tag: this.options.tag, createdAt: Date.now(), checksum: this.options.checksum })]);
    this.current = { segment: new Segment(path, this.options.log), fd };
    return this.current;
  }

  /**
   * Routes what a previous run left, segment by segment, frame by frame,
   * waiting between frames while the outputs are full; each segment is
   * deleted once its records are safe. Stops at stop(), leaving the
   * segments not wholly replayed for the next start.
   */
  async replay(emit: (tag: string, chunk: EventChunk) => void, whenAccepting?: (tag: string) => Promise<void> | undefined): Promise<void> {
    const { log } = this.options;
    let records = 0;
    for (const path of this.leftovers) {
      if (this.stopped) break;
      const segment = new Segment(path, log);
      let reader: ChunkFileReader | undefined;
      let whole = false;
      try {
        reader = await ChunkFileReader.open(path);
        const tag = reader.header.tag;
        for (;;) {
          await whenAccepting?.(tag);
          if (this.stopped) break;
          const frame = await reader.next();
          if (!frame) {
            whole = true;
            break;
          }
          if (this.stopped) break;
          records += frame.records;
          emit(tag, { entries: frame.entries, count: frame.records, ...timeRange(frame.entries, frame.records), retain: () => segment.hold() });
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
    if (records > 0) log.info(`replayed ${records} records a previous run left in ${this.dir}`);
  }

  /** Closes the current segment and stops replaying. */
  stop(): void {
    this.stopped = true;
    this.roll();
  }
}
