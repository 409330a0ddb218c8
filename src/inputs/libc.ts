// Finds the C libraries that running processes really map, for uprobes: one
// path per distinct file (device + inode), reachable from this mount
// namespace even when the library lives in a container's file system.
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { endianness } from 'node:os';

const LIBC = /\/(libc\.so\.6|libc-[\d.]+\.so|ld-musl-[^/]+\.so\.1|libc\.musl-[^/]+\.so\.1)$/;
const DELETED = ' (deleted)';

export interface MappedLibc {
  /** A path to the file that opens from this mount namespace. */
  path: string;
  /** The path as the process that maps it sees it. */
  mappedAs: string;
  /** Device (major:minor, as /proc/<pid>/maps shows it) and inode: the file's identity. */
  device: string;
  inode: string;
  /** A process that maps it. */
  pid: number;
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

function isFile(path: string, device: string, inode: string): boolean {
  try {
    const st = statSync(path, { bigint: true });
    return st.ino.toString() === inode && deviceOf(st.dev) === device;
  } catch {
    return false;
  }
}

/**
 * A path to the mapped file that works here: the path itself when it names
 * the same file in our mount namespace, else through the process's root
 * (another mount namespace), else the mapping's own link in map_files (a
 * deleted or otherwise unreachable file).
 */
function reachablePath(pid: string, m: MapsLine): string | undefined {
  const deleted = m.path.endsWith(DELETED);
  const path = deleted ? m.path.slice(0, -DELETED.length) : m.path;
  const candidates = deleted ? [] : [path, `/proc/${pid}/root${path}`];
  candidates.push(`/proc/${pid}/map_files/${m.range}`);
  return candidates.find((c) => isFile(c, m.device, m.inode));
}

// ELF e_machine of this process's architecture: a uprobe program reads its
// arguments from this architecture's registers, so a libc of another one (a
// 32-bit program's, say) would give wrong values.
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
 * Every C library of this architecture mapped by a running process (or only
 * by `pids`), each file once however many processes and paths map it.
 */
export function findLibcs(pids?: readonly number[]): MappedLibc[] {
  const found = new Map<string, MappedLibc>();
  const seen = new Set<string>();
  const scan = (pid: string) => {
    let maps: string;
    try {
      maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      return; // gone, or a kernel thread
    }
    for (const line of maps.split('\n')) {
      if (!line.includes('libc') && !line.includes('musl')) continue;
      const m = parseMapsLine(line);
      if (!m) continue;
      const name = m.path.endsWith(DELETED) ? m.path.slice(0, -DELETED.length) : m.path;
      const key = `${m.device}/${m.inode}`;
      if (!LIBC.test(name) || seen.has(key)) continue;
      const path = reachablePath(pid, m);
      if (!path) continue; // another process may still show it
      seen.add(key);
      if (isNativeElf(path)) found.set(key, { path, mappedAs: m.path, device: m.device, inode: m.inode, pid: pid === 'self' ? process.pid : Number(pid) });
    }
  };
  if (pids) {
    for (const pid of pids) scan(String(pid));
  } else {
    scan('self');
    for (const entry of readdirSync('/proc')) if (isProcessDir(entry)) scan(entry);
  }
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
