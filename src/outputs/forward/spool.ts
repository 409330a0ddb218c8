// The forward output's filesystem spool, storage.path/<instance>/: chunks
// that could not stay in memory (a receiver down longer than mem_buf_limit
// holds) or were undelivered at shutdown, one chunk file each (one frame,
// src/storage/chunk-file.ts), written to a temporary name and renamed, so a
// crash leaves whole chunks or none. The folder is checked and made private
// at start (src/storage/folder.ts); files are 0600, never followed through a
// symbolic link, and read back checked (count, CRC32 with storage.checksum).
import { readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.js';
import { ChunkFileError, ChunkFileReader, createPrivateFile, encodeFrameHead, encodeHeader } from '../../storage/chunk-file.js';
import { openStorageFolder, shortWriteError } from '../../storage/folder.js';

export interface SpooledChunk {
  file: string;
  id: string;
  tag: string;
  records: number;
  /** Size of the packed entries. */
  bytes: number;
  createdAt: number;
}

export interface SpoolOptions {
  /** storage.path. */
  root: string;
  /** The output's folder under it. */
  name: string;
  /** storage.total_limit_size; undefined: no limit. */
  limitBytes?: number;
  /** storage.sync full. */
  sync: boolean;
  /** Frames carry a CRC32 of their entries. */
  checksum: boolean;
  log: Logger;
}

/** A chunk's file contents, as parts to write, and their size (what storage.total_limit_size counts). */
export interface ChunkFileParts {
  parts: Buffer[];
  bytes: number;
}

export class Spool {
  /** Bytes of chunk files on disk now. */
  used = 0;
  /** Bytes of files being written. */
  private reserved = 0;
  private readonly sizes = new Map<string, number>();
  private sequence = 0;
  private folder: string | undefined;

  constructor(readonly options: SpoolOptions) {}

  get dir(): string {
    return this.folder ?? join(this.options.root, this.options.name);
  }

  /**
   * Makes and checks the folder (StorageError if it can't be used), and lists
   * the chunks a previous run left, oldest first; a file that is not a whole
   * chunk of ours is set aside (renamed *.bad) with an error.
   */
  async open(): Promise<SpooledChunk[]> {
    this.folder = openStorageFolder(this.options.root, this.options.name);
    const names = (await readdir(this.dir)).sort();
    const chunks: SpooledChunk[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      if (name.startsWith('.tmp-')) {
        await unlink(file).catch(() => {});
        continue;
      }
      if (!name.endsWith('.chunk')) continue;
      try {
        const chunk = await this.list(file);
        this.track(file, chunk.size);
        chunks.push(chunk.spooled);
      } catch (err) {
        if (!(err instanceof ChunkFileError)) throw err;
        await this.setAside(file, err.message);
      }
    }
    return chunks;
  }

  /** What a chunk file holds, from its header and frame head (the entries are checked when read back). */
  private async list(file: string): Promise<{ spooled: SpooledChunk; size: number }> {
    const reader = await ChunkFileReader.open(file);
    try {
      const { id, tag, createdAt } = reader.header;
      const frame = await reader.peek();
      if (id === undefined || !frame || frame.end !== reader.size) throw new ChunkFileError(`${file} is not one whole spooled chunk`);
      return { spooled: { file, id, tag, records: frame.records, bytes: frame.bytes, createdAt }, size: reader.size };
    } finally {
      await reader.close();
    }
  }

  /** The file contents for a chunk. */
  fileParts(chunk: Omit<SpooledChunk, 'file' | 'bytes'>, entries: Buffer): ChunkFileParts {
    const { checksum } = this.options;
    const parts = [encodeHeader({ tag: chunk.tag, createdAt: chunk.createdAt, id: chunk.id, checksum }), encodeFrameHead(chunk.records, entries, checksum), entries];
    return { parts, bytes: parts.reduce((n, p) => n + p.length, 0) };
  }

  /** Claims room for a file of `bytes` under storage.total_limit_size; false if it does not fit now. */
  reserve(bytes: number): boolean {
    const limit = this.options.limitBytes;
    if (limit !== undefined && this.used + this.reserved + bytes > limit) return false;
    this.reserved += bytes;
    return true;
  }

  /** Writes reserved file contents; the reservation becomes the file (or is given back on failure). */
  async write(createdAt: number, contents: ChunkFileParts): Promise<string> {
    const name = `${String(createdAt).padStart(13, '0')}-${process.pid}-${String(this.sequence++).padStart(6, '0')}.chunk`;
    const file = join(this.dir, name);
    const temp = join(this.dir, `.tmp-${name}`);
    try {
      const handle = await createPrivateFile(temp);
      try {
        // A disk that fills takes part of it and says nothing: a short write
        // is a failure, or the chunk would be renamed whole and found cut
        // short when read back (its records lost as invalid).
        const { bytesWritten } = await handle.writev(contents.parts);
        if (bytesWritten !== contents.bytes) {
          // No byte counts in it: the spill logs a failure once while its text stays the same.
          throw shortWriteError();
        }
        if (this.options.sync) await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    } finally {
      this.reserved -= contents.bytes;
    }
    this.track(file, contents.bytes);
    return file;
  }

  /** The entries of a spooled chunk, checked; ChunkFileError if the file is damaged. */
  async read(file: string): Promise<{ records: number; entries: Buffer }> {
    const reader = await ChunkFileReader.open(file);
    try {
      const frame = await reader.next();
      if (!frame) throw new ChunkFileError(`${file} holds no records`);
      return frame;
    } finally {
      await reader.close();
    }
  }

  async remove(file: string): Promise<void> {
    this.untrack(file);
    await unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.options.log.error(`spool: cannot remove ${file}: ${err.message}`);
    });
  }

  /** Moves a file that can't be sent out of the way of the next start, keeping its bytes for a human. */
  async setAside(file: string, why: string): Promise<void> {
    this.untrack(file);
    this.options.log.error(`spool: ${why}; moved to ${file}.bad`);
    await rename(file, `${file}.bad`).catch(() => {});
  }

  private track(file: string, size: number): void {
    this.sizes.set(file, size);
    this.used += size;
  }

  private untrack(file: string): void {
    const size = this.sizes.get(file);
    if (size === undefined) return;
    this.sizes.delete(file);
    this.used -= size;
  }
}
