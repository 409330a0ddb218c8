// The folders records are kept in on disk: storage.path, and one folder per
// instance under it (the forward output's spool, an input's journal).
// Records carry command lines (passwords in argv) and what is read back goes
// out as genuine, so a folder is created 0700 whatever the umask, and refused
// when someone else could have put files in it: a symbolic link (for the
// instance folder), not owned by us (root), or writable by group or others.
// Folders are created one level at a time: fs.mkdir's recursive mode spins
// forever where the kernel refuses mkdir (under /proc).
import { accessSync, chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** A storage folder that can't be used; the message says which and why, for the operator. */
export class StorageError extends Error {
  override name = 'StorageError';
}

const FOLDER_MODE = 0o700;

/** The folder name of an instance (an Alias may hold anything). */
export function storageFolderName(instance: string): string {
  return instance.replace(/[^\w.-]/g, '_');
}

/** A file system error as "ENOSPC: no space left on device", without the call and path Node adds. */
export function fsErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message.replace(/^\w+: /, '').replace(/, \w+(?: '.*')?$/, '')}` : String(e.message);
}

/**
 * The error for a write(2) that wrote less than asked: a disk that fills
 * takes part of a write and says nothing, so a short write is taken as ENOSPC.
 */
export function shortWriteError(detail?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOSPC: no space left on device${detail ? ` (${detail})` : ''}`), { code: 'ENOSPC' });
}

/** Creates `dir` and its missing parents (0700), one level at a time. */
function makeFolders(dir: string, what: string): void {
  const missing: string[] = [];
  for (let at = dir; ; at = dirname(at)) {
    try {
      statSync(at);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) throw new StorageError(`${what}: cannot look at ${at} (${fsErrorText(err)})`);
      missing.unshift(at);
    }
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder, FOLDER_MODE);
      chmodSync(folder, FOLDER_MODE); // mkdir's mode passes through the umask
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageError(`${what}: cannot create ${folder} (${fsErrorText(err)})`);
    }
  }
}

/** Refuses a folder others could write into (or that is not ours). */
function checkOwnership(folder: string, stats: Stats, what: string): void {
  const euid = process.geteuid?.() ?? 0;
  const us = euid === 0 ? 'root' : `uid ${euid}`;
  if (!stats.isDirectory()) throw new StorageError(`${what}: ${folder} is not a folder`);
  if (stats.uid !== euid) {
    throw new StorageError(`${what}: ${folder} is owned by uid ${stats.uid}, not by ${us}: its owner could put records in it that would go out as genuine; use a folder of ${us}'s`);
  }
  if ((stats.mode & 0o022) !== 0) {
    const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0');
    const by = [stats.mode & 0o020 ? 'its group' : '', stats.mode & 0o002 ? 'others' : ''].filter(Boolean).join(' and ');
    throw new StorageError(`${what}: ${folder} is writable by ${by} (mode ${mode}): they could put records in it that would go out as genuine; chmod go-w it, or use another folder`);
  }
}

/** Writes and removes a file in `folder`: a read-only or unwritable folder is told at start, not at the first spill. */
function checkWritable(folder: string, what: string): void {
  const probe = join(folder, `.probe-${process.pid}`);
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
    unlinkSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'it is on a read-only file system' : `cannot write in it (${fsErrorText(err)})`;
    throw new StorageError(`${what}: ${folder}: ${why}`);
  }
}

/**
 * The folder `root/name`, made and checked: root (storage.path, an
 * operator's choice, so followed if a symbolic link) and the instance folder
 * (never a symbolic link) must be folders of ours that group and others can't
 * write; the instance folder is set to 0700 and must be writable. Throws
 * StorageError.
 */
export function openStorageFolder(root: string, name: string): string {
  const base = resolve(root);
  const what = `storage.path ${root}`;
  makeFolders(base, what);
  checkOwnership(base, statSync(base), what);
  const folder = join(base, name);
  let stats: Stats;
  try {
    stats = lstatSync(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StorageError(`${what}: cannot look at ${folder} (${fsErrorText(err)})`);
    makeFolders(folder, what);
    stats = lstatSync(folder);
  }
  if (stats.isSymbolicLink()) throw new StorageError(`${what}: ${folder} is a symbolic link: it is not followed (whoever made it could read the records, or put some in); remove it`);
  checkOwnership(folder, stats, what);
  if ((stats.mode & 0o777) !== FOLDER_MODE) chmodSync(folder, FOLDER_MODE);
  checkWritable(folder, what);
  return folder;
}

/**
 * What openStorageFolder(root, name) would find for each name, without
 * creating or changing anything (--dry-run, and every config load so that a
 * start's error names the key): root and the instance folders that exist
 * must be folders it accepts, and what start would create must be creatable
 * (its nearest existing folder writable). Throws StorageError.
 */
export function checkStorageFolder(root: string, names: readonly string[]): void {
  const base = resolve(root);
  const what = `storage.path ${root}`;
  const writable = (folder: string) => {
    try {
      accessSync(folder, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new StorageError(`${what}: ${folder}: ${code === 'EROFS' ? 'it is on a read-only file system' : `cannot write in it (${fsErrorText(err)})`}`);
    }
  };
  const existing = (path: string): Stats | undefined => {
    try {
      return lstatSync(path);
    } catch (err) {
      // Missing, or under a file (ENOTDIR): told below, where start would create it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw new StorageError(`${what}: cannot look at ${path} (${fsErrorText(err)})`);
    }
  };
  if (!existing(base)) {
    // Start creates it and its missing parents under the nearest folder there is.
    let at = dirname(base);
    while (!existing(at) && dirname(at) !== at) at = dirname(at);
    if (!statSync(at).isDirectory()) throw new StorageError(`${what}: cannot create ${base}: ${at} is not a folder`);
    writable(at);
    return;
  }
  checkOwnership(base, statSync(base), what);
  writable(base);
  for (const name of names) {
    const folder = join(base, name);
    const stats = existing(folder);
    if (!stats) continue;
    if (stats.isSymbolicLink()) throw new StorageError(`${what}: ${folder} is a symbolic link: it is not followed (whoever made it could read the records, or put some in); remove it`);
    checkOwnership(folder, stats, what);
    writable(folder);
  }
}
