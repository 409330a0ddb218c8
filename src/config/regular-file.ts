// Reading a file the configuration names (a config, an @INCLUDE, an Upstream
// file, a TLS certificate or key): a regular file of bounded size, read
// through one descriptor opened without blocking, so that a FIFO can't hang
// start-up, /dev/zero can't fill memory, and nothing is swapped between the
// check and the read.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** Why a file could not be read, in words for the user (no errno codes). */
export class UnreadableFileError extends Error {}

function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * The bytes of a regular file of at most `maxBytes`; `inspect` sees its
 * stat (to warn of who may write it) before it is read. Throws
 * UnreadableFileError; errors thrown by `inspect` pass through.
 */
export function readRegularFile(path: string, maxBytes: number, options: { what: string; inspect?: (st: Stats) => void }): Buffer {
  const { what, inspect } = options;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UnreadableFileError(e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnreadableFileError(`it is ${fileKind(st)}, not a regular file`);
    if (st.size > maxBytes) throw new UnreadableFileError(`it is ${st.size} bytes, more than ${what} can be (${maxBytes})`);
    inspect?.(st);
    // Up to the limit, whatever st.size says (files of /proc say 0; a file may grow).
    const chunks: Buffer[] = [];
    let length = 0;
    for (let want = st.size + 1; length <= maxBytes; want = 64 << 10) {
      const chunk = Buffer.allocUnsafe(Math.min(want, maxBytes + 1 - length));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return Buffer.concat(chunks, length);
      chunks.push(chunk.subarray(0, n));
      length += n;
    }
    throw new UnreadableFileError(`it is more than ${maxBytes} bytes, more than ${what} can be`);
  } catch (err) {
    if (err instanceof UnreadableFileError || !(err instanceof Error) || 'code' in err === false) throw err;
    throw new UnreadableFileError(err.message);
  } finally {
    closeSync(fd);
  }
}
