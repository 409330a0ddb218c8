// Opening a BPF_Object file. It is kernel code: whoever can change it, or
// swap it for another file, runs code in the kernel at the next start (a
// bpf_send_signal(9) kills any process). So, as the spool's folders
// (src/storage/folder.ts), it must be root's (or the running user's) and
// not writable by group or others, and so must every folder on its path
// (sticky ones such as /tmp aside: others can't replace what is not
// theirs), and every symbolic link on the way. The path is walked one name
// at a time, the file opened without following a link, checked on its
// descriptor, and read through that descriptor (/proc/self/fd/N) by libbpf:
// what was checked is what is loaded.
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';

/** Why a BPF object may not be loaded, in words for the user: what is wrong and what to do. */
export class BpfObjectFileError extends Error {}

/** A BPF object file opened and checked; read it through `path` until close(). */
export interface CheckedBpfObjectFile {
  /** /proc/self/fd/N: the checked file itself, whatever its name points to now. */
  readonly path: string;
  /** Its identity (dev, inode, size, mtime), from the descriptor. */
  readonly stats: Stats;
  close(): void;
}

/** Symbolic links followed on one path, at most (as the kernel's 40). */
const MAX_LINKS = 40;

const modeText = (st: Stats) => `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;

/** Who besides root and us could write it, if anyone: "others", "its group (gid 5)". */
function otherWriters(st: Stats): string | undefined {
  const by = [st.mode & 0o020 ? `its group (gid ${st.gid})` : '', st.mode & 0o002 ? 'others' : ''].filter(Boolean);
  return by.length ? by.join(' and ') : undefined;
}

/** "owned by uid 65534, not root: that user" when neither root nor the user running ebpf-forward owns it. */
function strangeOwner(st: Stats): string | undefined {
  const euid = process.geteuid?.() ?? 0;
  if (st.uid === 0 || st.uid === euid) return undefined;
  return `owned by uid ${st.uid}, not root${euid === 0 ? '' : ` or uid ${euid}`}: that user`;
}

function checkFolder(folder: string, st: Stats): void {
  const owner = strangeOwner(st);
  if (owner) throw new BpfObjectFileError(`its folder ${folder} is ${owner} could swap the object for kernel code of their own; chown root ${folder} (and chmod go-w), or keep the object in a folder of root's`);
  const writers = otherWriters(st);
  // A sticky folder (/tmp) lets others add names, not replace or rename ours.
  if (writers && !(st.mode & 0o1000)) {
    throw new BpfObjectFileError(`its folder ${folder} is ${modeText(st)}, writable by ${writers}: they could swap the object for kernel code of their own; chmod go-w ${folder}, or keep the object in a folder of root's`);
  }
}

function checkFile(file: string, st: Stats): void {
  const owner = strangeOwner(st);
  if (owner) throw new BpfObjectFileError(`it is ${owner} could change the kernel code it loads; chown root ${file} and chmod go-w ${file}`);
  const writers = otherWriters(st);
  if (writers) throw new BpfObjectFileError(`it is ${modeText(st)}, writable by ${writers}: they could change the kernel code it loads; chmod go-w ${file}`);
}

function lookAt(path: string): Stats {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BpfObjectFileError(code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file' : code === 'EACCES' ? `not readable (permission denied at ${path})` : (err as Error).message);
  }
}

/**
 * The file `path` (absolute) names, with every link on the way resolved:
 * each folder and link checked on the way.
 */
function resolveChecked(path: string): string {
  const names = path.split('/');
  let at = '/';
  checkFolder(at, lookAt(at));
  let links = 0;
  while (names.length) {
    const name = names.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      at = dirname(at); // `at` has no link in it: its parent is its real parent
      continue;
    }
    const next = join(at, name);
    const st = lookAt(next);
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new BpfObjectFileError(`more than ${MAX_LINKS} symbolic links on its path`);
      const owner = strangeOwner(st);
      if (owner) throw new BpfObjectFileError(`${next} is a symbolic link ${owner} could point it at kernel code of their own; name the object by its own path, or make the link root's`);
      const target = readlinkSync(next);
      names.unshift(...target.split('/'));
      if (isAbsolute(target)) at = '/';
      continue;
    }
    if (names.some((n) => n !== '' && n !== '.')) {
      if (!st.isDirectory()) throw new BpfObjectFileError('no such file');
      checkFolder(next, st);
    }
    at = next;
  }
  return at;
}

/**
 * Opens the BPF object at `path` (absolute) for reading, once, if only root
 * (or the running user) can change it or swap it; throws
 * BpfObjectFileError saying what is wrong and what to do.
 */
export function openBpfObjectFile(path: string): CheckedBpfObjectFile {
  const real = resolveChecked(path);
  let fd: number;
  try {
    // No link is followed (the path was resolved above), and a FIFO does not block.
    fd = openSync(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BpfObjectFileError(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable (permission denied)' : code === 'ELOOP' ? 'it became a symbolic link as it was opened' : (err as Error).message);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new BpfObjectFileError('not a file');
    checkFile(real, stats);
    return { path: `/proc/self/fd/${fd}`, stats, close: () => closeSync(fd) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
