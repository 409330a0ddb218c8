// One segment file of an input's journal (journal.ts): its frames, settled
// once every output has let go of them, their marks in the segment's
// *.acked file, and the segment deleted once closed and all settled.
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type { EventChunk } from '../chunk.js';
import type { Logger } from '../log.js';
import { fsErrorText, shortWriteError } from '../storage/folder.js';

/** A segment's settled frames: u32 big-endian frame numbers, appended. */
export const MARKS_SUFFIX = '.acked';
const MARK_BYTES = 4;
/** The most a marks file is read of: a mark per frame of a segment far larger than a Flush's worth. */
const MAX_MARKS_BYTES = 16 * 1024 * 1024;
/** A write(2) that wrote less than asked: the disk is full. */
export const shortWrite = (written: number, size: number) => shortWriteError(`wrote ${written} of ${size} bytes`);

export const marksPathOf = (segmentPath: string) => `${segmentPath}${MARKS_SUFFIX}`;

/** Removes a file (one missing is gone already); a failure is logged. */
export function removeFile(path: string, log: Logger): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error(`storage: cannot remove ${path}: ${fsErrorText(err)}`);
  }
}

/**
 * The frame numbers a segment's marks file holds (a mark cut short by a
 * crash is left out). Read without following a symbolic link or blocking on
 * a FIFO; anything but a regular file of ours marks nothing.
 */
export function readMarks(segmentPath: string, log: Logger): Set<number> {
  const marks = new Set<number>();
  let fd: number | undefined;
  try {
    fd = openSync(marksPathOf(segmentPath), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.uid !== (process.geteuid?.() ?? 0)) throw new Error('not a regular file of ours');
    const size = Math.min(stats.size, MAX_MARKS_BYTES);
    const bytes = Buffer.alloc(size - (size % MARK_BYTES));
    const read = readSync(fd, bytes, 0, bytes.length, 0);
    for (let at = 0; at + MARK_BYTES <= read; at += MARK_BYTES) marks.add(bytes.readUInt32BE(at));
  } catch (err) {
    // None yet (nothing settled), or one to ignore: its segment is replayed whole.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`storage: ${marksPathOf(segmentPath)}: ${fsErrorText(err)}; all of ${basename(segmentPath)} is replayed`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return marks;
}

/**
 * One segment file: its frames, numbered in the order they are in it,
 * settled once routed and every hold on them let go; deleted (with its
 * marks) once closed and all of them are settled.
 */
export class Segment {
  /** Frames not settled yet, with how many holds each has (routing is one). */
  private readonly unsettled = new Map<number, number>();
  /** Settled frames whose marks are not written yet (written together, after the current task). */
  private marksDue: number[] = [];
  /** The marks file while the segment is written (at most one such descriptor per input); closed segments open it per write. */
  private marksFd: number | undefined;
  private closed = false;
  private removed = false;
  /** Damaged: renamed *.bad instead of deleted, for a human. */
  damaged = false;

  constructor(
    readonly path: string,
    private readonly sync: boolean,
    private readonly log: Logger,
  ) {}

  /**
   * Routes frame `frame`: the chunk handed to `route` lets outputs hold its
   * records through retain(); the frame is settled once `route` has returned
   * and every hold is let go. A `route` that throws leaves it unsettled
   * (replayed by the next start).
   */
  route(frame: number, chunk: EventChunk, route: (chunk: EventChunk) => void): void {
    this.unsettled.set(frame, 1);
    route({ ...chunk, retain: () => this.hold(frame) });
    this.letGo(frame);
  }

  /** A hold on a frame's records; the function returned lets go (once). */
  private hold(frame: number): () => void {
    const holds = this.unsettled.get(frame);
    // retain() is called during write(), while the frame is being routed.
    if (holds === undefined) throw new Error(`chunk.retain() called after the chunk was routed (frame ${frame} of ${this.path})`);
    this.unsettled.set(frame, holds + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.letGo(frame);
    };
  }

  private letGo(frame: number): void {
    const holds = this.unsettled.get(frame)! - 1;
    if (holds > 0) {
      this.unsettled.set(frame, holds);
      return;
    }
    this.unsettled.delete(frame);
    if (this.closed && this.unsettled.size === 0) {
      this.remove();
      return;
    }
    // Outputs settle many frames at once (an ack covers several batches): one write for them.
    if (this.marksDue.push(frame) === 1) queueMicrotask(() => this.writeMarks());
  }

  /**
   * Appends the due marks. A mark that can't be written costs only a
   * duplicate after a crash (its frame is replayed): logged at debug.
   */
  private writeMarks(): void {
    const frames = this.marksDue;
    this.marksDue = [];
    if (this.removed || frames.length === 0) return;
    const marks = Buffer.allocUnsafe(frames.length * MARK_BYTES);
    frames.forEach((frame, i) => marks.writeUInt32BE(frame, i * MARK_BYTES));
    const kept = !this.closed;
    let fd = this.marksFd;
    try {
      fd ??= openSync(marksPathOf(this.path), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
      if (kept) this.marksFd = fd;
      writeSync(fd, marks);
      if (this.sync && !kept) fsyncSync(fd);
    } catch (err) {
      this.log.debug(`storage: cannot mark ${frames.length} batches of ${this.path} as delivered (${fsErrorText(err)}): a crash now would send them again`);
    } finally {
      if (fd !== undefined && !kept) closeSync(fd);
    }
  }

  /** No more frames go into it. */
  close(): void {
    this.closed = true;
    if (this.unsettled.size === 0) {
      this.remove();
      return;
    }
    const fd = this.marksFd;
    this.marksFd = undefined;
    if (fd === undefined) return;
    try {
      if (this.sync) fsyncSync(fd);
    } catch (err) {
      this.log.debug(`storage: cannot sync the marks of ${this.path} (${fsErrorText(err)})`);
    } finally {
      closeSync(fd);
    }
  }

  /** The segment first: a marks file left alone (a crash between) is removed at the next start. */
  private remove(): void {
    if (this.removed) return;
    this.removed = true;
    this.marksDue = [];
    if (this.marksFd !== undefined) closeSync(this.marksFd);
    this.marksFd = undefined;
    if (this.damaged) {
      try {
        renameSync(this.path, `${this.path}.bad`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error(`storage: cannot set ${this.path} aside: ${fsErrorText(err)}`);
      }
    } else {
      removeFile(this.path, this.log);
    }
    removeFile(marksPathOf(this.path), this.log);
  }
}
