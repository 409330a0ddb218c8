// Records on disk: a chunk the forward output spooled, or a segment of an
// input's journal (storage.type filesystem). One file is a header, then
// frames:
//
//   header  msgpack ["ebpf-forward chunk", 2, {tag, created_at, id?, checksum}]
//   frame   u32 records, u32 bytes, u32 CRC32 of the entries (0 without
//           checksum), all big-endian; then `bytes` of entries (src/chunk.ts)
//
// Frames are appended, so a journal grows batch by batch and a write cut
// short leaves whole frames and one truncated at the end. Nothing read is
// trusted: a file is opened without following symbolic links and must be a
// regular file of ours; the header and each frame are bounded, and a frame's
// entries are walked to check their count (and CRC32, where the file has
// them) before anyone sees them.
import { closeSync, constants, fchmodSync, openSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { zlibModule } from '../builtins-on-use.js';
import { forEachEntry, MIN_ENTRY_BYTES } from '../chunk.js';
import { skipValue } from '../msgpack/skip.js';
import { packValue, unpackValue } from '../msgpack/values.js';

const MAGIC = 'ebpf-forward chunk';
const VERSION = 2;
const MAX_HEADER_BYTES = 4096;
const FRAME_HEAD_BYTES = 12;
/** Largest frame read back: far above a batch (2 MB) or a ring read (256 KB). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const FILE_MODE = 0o600;

export interface ChunkFileHeader {
  tag: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** The forward output's chunk id (acks refer to it), kept across runs. */
  id?: string;
  /** Frames carry a CRC32 of their entries, checked when read. */
  checksum: boolean;
}

export interface Frame {
  records: number;
  entries: Buffer;
}

/** A file that is not a chunk file of ours, or is damaged: the message names it and what is wrong. */
export class ChunkFileError extends Error {
  override name = 'ChunkFileError';
}

/** The file ends inside a frame: its last write was cut short (a crash). The frames before it are whole. */
export class TruncatedFrameError extends ChunkFileError {
  override name = 'TruncatedFrameError';
}

export function encodeHeader(header: ChunkFileHeader): Buffer {
  const fields: Record<string, unknown> = { tag: header.tag, created_at: header.createdAt, checksum: header.checksum };
  if (header.id !== undefined) fields.id = header.id;
  return packValue([MAGIC, VERSION, fields]);
}

/** A frame's head for `entries`; the entries follow it as they are. */
export function encodeFrameHead(records: number, entries: Buffer, checksum: boolean): Buffer {
  const head = Buffer.allocUnsafe(FRAME_HEAD_BYTES);
  head.writeUInt32BE(records, 0);
  head.writeUInt32BE(entries.length, 4);
  head.writeUInt32BE(checksum ? zlibModule().crc32(entries) : 0, 8);
  return head;
}

/** Flags that create a file only where nothing is, a symbolic link included. */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A new file only we can read (0600 whatever the umask). */
export async function createPrivateFile(path: string): Promise<FileHandle> {
  const handle = await open(path, CREATE_FLAGS, FILE_MODE);
  await handle.chmod(FILE_MODE);
  return handle;
}

/** createPrivateFile for appending with write(2): the journal writes before a batch is routed. */
export function createPrivateFileSync(path: string): number {
  const fd = openSync(path, CREATE_FLAGS | constants.O_APPEND, FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

function parseHeader(value: unknown, path: string): ChunkFileHeader {
  if (!Array.isArray(value) || value[0] !== MAGIC) throw new ChunkFileError(`${path} is not an ebpf-forward chunk file`);
  if (value[1] !== VERSION) throw new ChunkFileError(`${path} is an ebpf-forward chunk file of version ${String(value[1])}, not ${VERSION}`);
  const fields = value[2] as Record<string, unknown> | undefined;
  const { tag, created_at: createdAt, id, checksum } = fields ?? {};
  if (typeof tag !== 'string' || tag === '' || typeof createdAt !== 'number' || typeof checksum !== 'boolean' || (id !== undefined && typeof id !== 'string')) {
    throw new ChunkFileError(`${path}: its header is damaged`);
  }
  return { tag, createdAt, id, checksum };
}

/** Reads a chunk file frame by frame, trusting nothing in it. */
export class ChunkFileReader {
  /** Where the next frame starts. */
  private at: number;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly size: number,
    readonly header: ChunkFileHeader,
    headerBytes: number,
  ) {
    this.at = headerBytes;
  }

  /** Opens a file and reads its header; ChunkFileError if it is not a chunk file of ours. */
  static async open(path: string): Promise<ChunkFileReader> {
    let handle: FileHandle;
    try {
      // O_NONBLOCK: a FIFO put in the folder does not hang the open.
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ChunkFileError(e.code === 'ELOOP' ? `${path} is a symbolic link: not followed` : `${path}: cannot open it (${e.message})`);
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new ChunkFileError(`${path} is not a regular file`);
      const euid = process.geteuid?.() ?? 0;
      if (stats.uid !== euid) throw new ChunkFileError(`${path} is owned by uid ${stats.uid}, not by us: not read`);
      const prefix = Buffer.alloc(Math.min(stats.size, MAX_HEADER_BYTES));
      const { bytesRead } = await handle.read(prefix, 0, prefix.length, 0);
      let end: number;
      try {
        end = skipValue(prefix.subarray(0, bytesRead), 0);
      } catch {
        throw new ChunkFileError(`${path} is not an ebpf-forward chunk file (no header in its first ${MAX_HEADER_BYTES} bytes)`);
      }
      let value: unknown;
      try {
        value = unpackValue(prefix.subarray(0, end));
      } catch {
        throw new ChunkFileError(`${path} is not an ebpf-forward chunk file`);
      }
      return new ChunkFileReader(path, handle, stats.size, parseHeader(value, path), end);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The next frame's record count, size and end in the file, without its entries; undefined at the end of the file. */
  async peek(): Promise<{ records: number; bytes: number; end: number } | undefined> {
    const head = await this.frameHead();
    return head && { records: head.records, bytes: head.bytes, end: this.at + FRAME_HEAD_BYTES + head.bytes };
  }

  /**
   * The next frame, its entries checked; undefined at the end of the file.
   * TruncatedFrameError where the file ends inside it, ChunkFileError where
   * it is damaged.
   */
  async next(): Promise<Frame | undefined> {
    const head = await this.frameHead();
    if (!head) return undefined;
    const entries = Buffer.allocUnsafe(head.bytes);
    const { bytesRead } = await this.handle.read(entries, 0, head.bytes, this.at + FRAME_HEAD_BYTES);
    if (bytesRead !== head.bytes) throw new ChunkFileError(`${this.path} changed while it was read`);
    if (this.header.checksum && zlibModule().crc32(entries) !== head.crc) throw new ChunkFileError(`${this.path}: a frame of ${head.records} records at byte ${this.at} fails its checksum`);
    try {
      forEachEntry(entries, head.records);
    } catch (err) {
      throw new ChunkFileError(`${this.path}: a frame of ${head.records} records at byte ${this.at} is damaged (${(err as Error).message})`);
    }
    this.at += FRAME_HEAD_BYTES + head.bytes;
    return { records: head.records, entries };
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async frameHead(): Promise<{ records: number; bytes: number; crc: number } | undefined> {
    if (this.at === this.size) return undefined;
    if (this.at + FRAME_HEAD_BYTES > this.size) throw new TruncatedFrameError(`${this.path} ends inside a frame's head (byte ${this.at})`);
    const head = Buffer.alloc(FRAME_HEAD_BYTES);
    await this.handle.read(head, 0, FRAME_HEAD_BYTES, this.at);
    const records = head.readUInt32BE(0);
    const bytes = head.readUInt32BE(4);
    if (records === 0 || bytes < records * MIN_ENTRY_BYTES || bytes > MAX_FRAME_BYTES) {
      throw new ChunkFileError(`${this.path}: the frame at byte ${this.at} says ${records} records in ${bytes} bytes, which can't be`);
    }
    if (this.at + FRAME_HEAD_BYTES + bytes > this.size) throw new TruncatedFrameError(`${this.path} ends inside a frame of ${records} records (byte ${this.at})`);
    return { records, bytes, crc: head.readUInt32BE(8) };
  }
}
