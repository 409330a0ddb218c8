// findLibraries on the real machine, for the C library: each file once, by
// device + inode, reachable even when the process that maps it sees it in
// another mount namespace or the file was deleted; and malloc traced through
// such a copy. (trace_openssl's test does the same for libssl.)
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLibraries, type LibraryFile } from '../../src/inputs/shared-libraries.js';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { C_LIBRARY, trace_malloc } from '../../src/traces/malloc/index.js';
import type { SharedLibrary } from '../../src/traces/types.js';
import { waitFor } from '../support/cli.js';
import { END_MARKER_SIZE, MallocOperation, startMallocProgram, type MallocProgram } from '../support/malloc.js';
import { decodeEntries, EventIds, type DecodedEvent } from '../support/decoded-events.js';

const findLibcs = (pids?: readonly number[]): LibraryFile[] => findLibraries(C_LIBRARY, pids);
const ourLibc = (): LibraryFile => findLibcs([process.pid])[0]!;
const programs: MallocProgram[] = [];
const dirs: string[] = [];

beforeAll(() => addon().ensureTracefs());
afterAll(() => {
  for (const p of programs) p.child.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-libc-'));
  dirs.push(dir);
  return dir;
}

/** Starts the malloc program, runs it under trace_malloc for its pid, and returns its records. */
async function traceProgram(program: MallocProgram) {
  await program.ready;
  const events: DecodedEvent[] = [];
  const ids = new EventIds();
  const session = TraceSession.start({
    trace: trace_malloc,
    settings: { keys: new Map([['malloc_pid', [[program.pid]]]]), selfPid: process.pid },
    ringbufMapName: 'events',
    ringbufBytes: 1 << 22,
    onChunk: (chunk) => events.push(...ids.take(decodeEntries(chunk))),
  });
  try {
    const run = await program.go();
    await waitFor(() => (events.some((e) => e.record.operation === MallocOperation.malloc && e.record.size === END_MARKER_SIZE) ? true : undefined), 10_000, 'the end marker');
    return { run, records: events.map((e) => e.record) };
  } finally {
    session.close();
  }
}

describe('findLibraries (C library)', () => {
  it('lists each mapped C library once, our own among them, by a path that is that file', () => {
    const all = findLibcs();
    const ids = all.map((l) => `${l.device}/${l.inode}`);
    expect(new Set(ids).size).toBe(ids.length);
    const mine = ourLibc();
    expect(mine.path).toMatch(/libc\.so\.6$/);
    expect(ids).toContain(`${mine.device}/${mine.inode}`);
    expect(String(statSync(mine.path).ino)).toBe(mine.inode);
  });

  it('finds a libc seen only inside another mount namespace through /proc/<pid>/root', async () => {
    const dir = tempDir();
    const libs = join(dir, 'libs');
    mkdirSync(libs);
    // In its own mount namespace, a tmpfs over libs/ holds a copy of libc; here libs/ stays empty.
    const script = `mount -t tmpfs none '${libs}' && cp '${ourLibc().path}' '${libs}/libc.so.6' && exec env LD_LIBRARY_PATH='${libs}' "$0"`;
    const program = startMallocProgram({ wrapper: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script] });
    programs.push(program);
    await program.ready;
    const found = findLibcs([program.pid]);
    expect(found).toHaveLength(1);
    expect(found[0]!.mappedBy).toEqual({ pid: program.pid, as: join(libs, 'libc.so.6') });
    expect(found[0]!.path).toBe(`/proc/${program.pid}/root${join(libs, 'libc.so.6')}`);
    expect(found[0]!.inode).not.toBe(ourLibc().inode);
    // And the whole-machine scan has it too, as a file of its own.
    expect(findLibcs().map((l) => l.inode)).toContain(found[0]!.inode);

    const { run, records } = await traceProgram(program);
    expect(records.length).toBeGreaterThanOrEqual(run.calls.length);
    expect(records.every((r) => r.pid === run.pid)).toBe(true);
    expect(records.filter((r) => r.operation === MallocOperation.calloc)).toHaveLength(1);
  });

  it("skips a libc.so.6 of another architecture (a 32-bit program's)", async () => {
    const dir = tempDir();
    const fake = join(dir, 'libc.so.6');
    // An ELF header saying 32-bit i386 (class 1, machine 3), then padding.
    const header = Buffer.alloc(4096);
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]).copy(header);
    header.writeUInt16LE(3, 16);
    header.writeUInt16LE(3, 18);
    writeFileSync(fake, header);
    const mapper = spawn('python3', ['-c', `import mmap,sys\nf=open(${JSON.stringify(fake)},'rb')\nm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\nprint('ready',flush=True)\nsys.stdin.read()`], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => mapper.stdout!.once('data', () => resolve()));
      const inode = String(statSync(fake).ino);
      // It is mapped under the name, and still not a libc the uprobes can use.
      expect(findLibcs([mapper.pid!]).map((l) => l.inode)).not.toContain(inode);
      expect(findLibcs().map((l) => l.inode)).not.toContain(inode);
      // The same file with this machine's header is found.
      readFileSync(ourLibc().path).subarray(0, 20).copy(header);
      writeFileSync(fake, header);
      expect(findLibcs([mapper.pid!]).map((l) => l.inode)).toContain(inode);
    } finally {
      mapper.kill();
    }
  });

  it("machine-wide, also a library no process maps yet that the dynamic linker's cache names; with pids, only what they map", () => {
    // A library of the cache (ldconfig -p) that no running process maps.
    const mapped = new Set<string>();
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) mapped.add(line.split(/\s+/)[4] ?? '');
      } catch {
        // gone
      }
    }
    const cached = execFileSync('ldconfig', ['-p'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => / \(libc6,x86-64\) => (\/.*)$/.exec(l)?.[1])
      .filter((p): p is string => p !== undefined)
      .map((p) => realpathSync(p))
      .find((p) => !mapped.has(String(statSync(p).ino)));
    expect(cached, 'a library no process maps').toBeDefined();
    const library: SharedLibrary = { name: 'test library', file: new RegExp(`${cached!.replace(/[.+]/g, '\\$&')}$`) };
    const found = findLibraries(library);
    expect(found).toEqual([{ path: cached, device: expect.any(String), inode: String(statSync(cached!).ino) }]);
    expect(findLibraries(library, [process.pid])).toEqual([]);
  });

  it('finds a deleted libc through /proc/<pid>/map_files', async () => {
    const dir = tempDir();
    copyFileSync(ourLibc().path, join(dir, 'libc.so.6'));
    const program = startMallocProgram({ env: { LD_LIBRARY_PATH: dir } });
    programs.push(program);
    await program.ready;
    rmSync(join(dir, 'libc.so.6'));
    const found = findLibcs([program.pid]);
    expect(found).toHaveLength(1);
    expect(found[0]!.mappedBy!.as).toBe(`${join(dir, 'libc.so.6')} (deleted)`);
    expect(found[0]!.path).toMatch(new RegExp(`^/proc/${program.pid}/map_files/[0-9a-f]+-[0-9a-f]+$`));

    const { run, records } = await traceProgram(program);
    expect(records.every((r) => r.pid === run.pid)).toBe(true);
    expect(records.filter((r) => r.operation === MallocOperation.calloc)).toHaveLength(1);
  });
});
