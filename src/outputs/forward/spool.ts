// The filesystem spool under storage.path/<instance>/: chunks that could not
// stay in memory (receiver down longer than mem_buf_limit holds) or were
// undelivered at shutdown. Each chunk is one file, written to a temporary
// name and renamed, so a crash leaves whole chunks or none; chunks found at
// start are sent first. storage.sync full fsyncs each file; storage.checksum
// on stores a CRC32 of the entries and checks it when reading back.
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import type { Logger } from '../../log.js';

const MAGIC = 'ebpf-forward chunk';
const VERSION = 1;
const packr = new Packr({ useRecords: false, variableMapSize: true });

export interface SpooledChunk {
  file: string;
  id: string;
  tag: string;
  records: number;
  bytes: number;
  createdAt: number;
}

export interface SpoolOptions {
  dir: string;
  /** storage.total_limit_size; undefined: no limit. */
  limitBytes?: number;
  /** storage.sync full. */
  sync: boolean;
  /** storage.checksum on. */
  checksum: boolean;
  log: Logger;
}

/** A folder name from an instance name (an Alias may hold anything). */
export function spoolFolderName(instance: string): string {
  return instance.replace(/[^\w.-]/g, '_');
}

export class Spool {
  /** Bytes of chunk files on disk now. */
  used = 0;
  /** Bytes of files being written. */
  private reserved = 0;
  private readonly sizes = new Map<string, number>();
  private sequence = 0;

  constructor(readonly options: SpoolOptions) {}

  get dir(): string {
    return this.options.dir;
  }

  /** Creates the folder and lists the chunks a previous run left, oldest first. */
  async open(): Promise<SpooledChunk[]> {
    await mkdir(this.dir, { recursive: true });
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
        const { header } = this.decode(await readFile(file), file);
        const size = (await stat(file)).size;
        this.track(file, size);
        chunks.push({ file, ...header });
      } catch (err) {
        // Keep the bytes for a human, out of the way of the next start.
        this.options.log.error(`spool: ${(err as Error).message}; moved to ${file}.bad`);
        await rename(file, `${file}.bad`).catch(() => {});
      }
    }
    return chunks;
  }

  /** A chunk's file contents (its size is what storage.total_limit_size counts). */
  encode(chunk: Omit<SpooledChunk, 'file' | 'bytes'>, entries: Buffer): Buffer {
    return packr.pack([MAGIC, VERSION, chunk.id, chunk.tag, chunk.records, chunk.createdAt, this.options.checksum ? crc32(entries) : null, entries]);
  }

  /** Claims room for a file of `bytes` under storage.total_limit_size; false if it does not fit now. */
  reserve(bytes: number): boolean {
    const limit = this.options.limitBytes;
    if (limit !== undefined && this.used + this.reserved + bytes > limit) return false;
    this.reserved += bytes;
    return true;
  }

  /** Writes reserved file contents; the reservation becomes the file (or is given back on failure). */
  async write(createdAt: number, data: Buffer): Promise<string> {
    const name = `${String(createdAt).padStart(13, '0')}-${process.pid}-${String(this.sequence++).padStart(6, '0')}.chunk`;
    const file = join(this.dir, name);
    const temp = join(this.dir, `.tmp-${name}`);
    try {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(data);
        if (this.options.sync) await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    } finally {
      this.reserved -= data.length;
    }
    this.track(file, data.length);
    return file;
  }

  /** The packed entries of a spooled chunk. */
  async read(file: string): Promise<Buffer> {
    return this.decode(await readFile(file), file).entries;
  }

  async remove(file: string): Promise<void> {
    const size = this.sizes.get(file);
    if (size !== undefined) {
      this.sizes.delete(file);
      this.used -= size;
    }
    await unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.options.log.error(`spool: cannot remove ${file}: ${err.message}`);
    });
  }

  private track(file: string, size: number): void {
    this.sizes.set(file, size);
    this.used += size;
  }

  private decode(data: Buffer, file: string): { header: Omit<SpooledChunk, 'file'>; entries: Buffer } {
    let value: unknown;
    try {
      value = packr.unpack(data);
    } catch (err) {
      throw new Error(`${file} is not a readable chunk (${(err as Error).message})`);
    }
    if (!Array.isArray(value) || value[0] !== MAGIC || value[1] !== VERSION || !(value[7] instanceof Uint8Array)) {
      throw new Error(`${file} is not an ebpf-forward chunk of version ${VERSION}`);
    }
    const [, , id, tag, records, createdAt, checksum] = value as [string, number, string, string, number, number, number | null];
    const entries = Buffer.from(value[7].buffer, value[7].byteOffset, value[7].byteLength);
    if (checksum !== null && crc32(entries) !== checksum) throw new Error(`${file} fails its checksum`);
    return { header: { id, tag, records, createdAt, bytes: entries.length }, entries };
  }
}
