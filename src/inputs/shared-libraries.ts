// Finds the files of a shared library (the C library, OpenSSL's libssl...)
// that running processes really map, for uprobes: one path per distinct file
// (device + inode), reachable from this mount namespace even when the
// library lives in a container's file system or was deleted.
import { closeSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { childProcessModule } from '../builtins-on-use.js';
import type { SharedLibrary } from '../traces/types.js';

const DELETED = ' (deleted)';

export interface LibraryFile {
  /** A path to the file that opens from this mount namespace. */
  path: string;
  /** Device (major:minor, as /proc/<pid>/maps shows it) and inode: the file's identity. */
  device: string;
  inode: string;
  /**
   * A process that maps it, and the path as that process sees it; absent for
   * a file that only the dynamic linker's cache names (no process maps it yet).
   */
  mappedBy?: { pid: number; as: string };
}

/** One mapping line of /proc/<pid>/maps: "start-end perms offset major:minor inode path". */
interface MapsLine {
  range: string;
  device: string;
  inode: string;
  path: string;
}

function parseMapsLine(line: string): MapsLine | undefined {
  const slash = line.indexOf('/');
  if (slash < 0) return undefined;
  const fields = line.slice(0, slash).trim().split(/\s+/);
  if (fields.length < 5) return undefined;
  return { range: fields[0]!, device: fields[3]!, inode: fields[4]!, path: line.slice(slash) };
}

/** major:minor in /proc/<pid>/maps's hex form, from a stat() st_dev (glibc's dev_t encoding). */
function deviceOf(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** The file's identity, or undefined when it does not open. */
function identityOf(path: string): { device: string; inode: string } | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return { device: deviceOf(st.dev), inode: st.ino.toString() };
  } catch {
    return undefined;
  }
}

function isFile(path: string, device: string, inode: string): boolean {
  const id = identityOf(path);
  return id !== undefined && id.inode === inode && id.device === device;
}

/** A mapped path without the kernel's " (deleted)" mark. */
function withoutDeletedMark(path: string): string {
  return path.endsWith(DELETED) ? path.slice(0, -DELETED.length) : path;
}

/**
 * A path to the mapped file that works here: the path itself when it names
 * the same file in our mount namespace, else through the process's root
 * (another mount namespace), else the mapping's own link in map_files (a
 * deleted or otherwise unreachable file).
 */
function reachablePath(pid: string, m: MapsLine): string | undefined {
  const deleted = m.path.endsWith(DELETED);
  const path = withoutDeletedMark(m.path);
  const candidates = deleted ? [] : [path, `/proc/${pid}/root${path}`];
  candidates.push(`/proc/${pid}/map_files/${m.range}`);
  return candidates.find((c) => isFile(c, m.device, m.inode));
}

// ELF e_machine of this process's architecture: a uprobe program reads its
// arguments from this architecture's registers, so a library of another one
// (a 32-bit program's, say) would give wrong values.
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, riscv64: 243, s390x: 22, ppc64: 21, loong64: 258 };
const ELF_CLASS_64 = ['x64', 'arm64', 'riscv64', 's390x', 'ppc64', 'loong64'].includes(process.arch) ? 2 : 1;

/** Is this an ELF file this process's uprobe programs can read the arguments of? */
function isNativeElf(path: string): boolean {
  const head = Buffer.alloc(20);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    if (readSync(fd, head, 0, 20, 0) < 20) return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (head.readUInt32BE(0) !== 0x7f454c46) return false; // "\x7fELF"
  const machine = ELF_MACHINE[process.arch];
  const little = endianness() === 'LE';
  if (head[4] !== ELF_CLASS_64 || head[5] !== (little ? 1 : 2)) return false;
  return machine === undefined || (little ? head.readUInt16LE(18) : head.readUInt16BE(18)) === machine;
}

function isProcessDir(name: string): boolean {
  return name.length > 0 && name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57;
}

/**
 * The files the dynamic linker's cache (`ldconfig -p`) names for the
 * library: what a process started later loads. Empty where there is no such
 * cache (musl).
 */
function linkerCachePaths(library: SharedLibrary): string[] {
  let listing: string;
  try {
    listing = childProcessModule().execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  } catch {
    return [];
  }
  const paths: string[] = [];
  // "\tlibssl.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libssl.so.3"
  for (const line of listing.split('\n')) {
    const path = / => (\/.*)$/.exec(line)?.[1];
    if (!path) continue;
    let real: string;
    try {
      real = realpathSync(path); // the development symlink (libssl.so) is the versioned file it names
    } catch {
      continue;
    }
    if (library.file.test(real)) paths.push(real);
  }
  return paths;
}

/**
 * Every file of the library, of this architecture, mapped by a running
 * process (or only by `pids`), each file once however many processes and
 * paths map it. Without `pids`, the files the dynamic linker's cache names
 * come too, mapped or not, so that processes started later are covered.
 */
export function findLibraries(library: SharedLibrary, pids?: readonly number[]): LibraryFile[] {
  const found = new Map<string, LibraryFile>();
  const seen = new Set<string>();
  const scan = (pid: string) => {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      return; // gone, or a kernel thread
    }
    for (const line of maps.split('\n')) {
      if (!library.file.test(withoutDeletedMark(line))) continue;
      const m = parseMapsLine(line);
      if (!m) continue;
      const key = `${m.device}/${m.inode}`;
      if (seen.has(key)) continue;
      const path = reachablePath(pid, m);
      if (!path) continue; // another process may still show it
      seen.add(key);
      if (isNativeElf(path)) found.set(key, { path, device: m.device, inode: m.inode, mappedBy: { pid: pid === 'self' ? process.pid : Number(pid), as: m.path } });
    }
  };
  if (pids) {
    for (const pid of pids) scan(String(pid));
  } else {
    scan('self');
    for (const entry of readdirSync('/proc')) if (isProcessDir(entry)) scan(entry);
    for (const path of linkerCachePaths(library)) {
      const id = identityOf(path);
      if (!id || seen.has(`${id.device}/${id.inode}`)) continue;
      seen.add(`${id.device}/${id.inode}`);
      if (isNativeElf(path)) found.set(`${id.device}/${id.inode}`, { path, ...id });
    }
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
