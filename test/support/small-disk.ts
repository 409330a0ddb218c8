// A disk that fills: a small tmpfs on a folder of its own (the tests run as
// root), and a file written until it is full.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallDisk {
  /** The tmpfs's root, mode 0700 (storage.path refuses a folder others can write). */
  dir: string;
  /** Unmounts it (lazily: a failed test may leave a descriptor open in it) and removes its folder. */
  remove(): void;
}

export function smallTmpfs(size = '1m'): SmallDisk {
  const top = mkdtempSync(join(tmpdir(), 'ebpf-forward-small-disk-'));
  const dir = join(top, 'fs');
  mkdirSync(dir, { mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    remove() {
      execFileSync('umount', ['-l', dir]);
      rmSync(top, { recursive: true, force: true });
    },
  };
}

/** Writes a file in `dir` until the file system is full; returns its path (remove it to make room). */
export function fillDisk(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w', 0o600);
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return path;
}
