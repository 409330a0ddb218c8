// The spool holds command lines and what it reads back goes out as genuine:
// private modes whatever the umask, no symbolic links followed, no folder
// someone else could write into, nothing read back on trust (sizes, record
// counts, checksums), and a folder that can't work is told at start, once.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { skipValue } from '../../../src/msgpack/skip.js';
import type { ForwardOutput } from '../../../src/outputs/forward/output.js';
import { IndependentReceiver } from './receivers.js';
import { createForward, makeChunk, sleep, testLog, waitFor, type OutputOptions } from './support.js';

const NOBODY = 65534;
const modeOf = (path: string) => statSync(path).mode & 0o777;
const chunkFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.chunk'));

let storage: string;
let outputs: ForwardOutput[] = [];
let mounted: string[] = [];
beforeEach(() => {
  storage = mkdtempSync(join(tmpdir(), 'forward-spool-security-'));
});
afterEach(async () => {
  for (const o of outputs) await o.close(100);
  outputs = [];
  for (const m of mounted) execFileSync('umount', [m]);
  mounted = [];
  rmSync(storage, { recursive: true, force: true });
});

function forward(keys: Record<string, string> = {}, options: OutputOptions = {}): ForwardOutput {
  const output = createForward({ port: '9', retry_limit: 'no_limits', ...keys }, { storagePath: storage, ...options });
  outputs.push(output);
  return output;
}

/** Spools `count` records (the receiver is down) and closes: chunk files in storage/forward.0. */
async function spoolRecords(count: number, options: OutputOptions = {}): Promise<string> {
  const output = forward({}, options);
  await output.start();
  output.write('t', makeChunk(0, count));
  await output.close(100);
  return join(storage, 'forward.0');
}

/** Mounts a tmpfs of `size` on a new folder (the test runs as root). */
function tmpfs(size: string): string {
  const dir = join(storage, 'fs');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  mounted.push(dir);
  return dir;
}

describe('spool files and folders', () => {
  it('folders 0700 and files 0600 whatever the umask', async () => {
    const umask = process.umask(0);
    try {
      const root = join(storage, 'made', 'by', 'us');
      const dir = await (async () => {
        const output = forward({}, { storagePath: root });
        await output.start();
        output.write('t', makeChunk(0, 10));
        await output.close(100);
        return join(root, 'forward.0');
      })();
      for (const folder of [join(storage, 'made'), join(storage, 'made', 'by'), root, dir]) expect(modeOf(folder), folder).toBe(0o700);
      const files = chunkFiles(dir);
      expect(files).toHaveLength(1);
      expect(modeOf(join(dir, files[0]!))).toBe(0o600);
    } finally {
      process.umask(umask);
    }
  });

  it('an existing instance folder of ours is made 0700', async () => {
    mkdirSync(join(storage, 'forward.0'), { mode: 0o755 });
    chmodSync(join(storage, 'forward.0'), 0o755);
    await forward().start();
    expect(modeOf(join(storage, 'forward.0'))).toBe(0o700);
  });

  it('forward.0 as a symbolic link to a folder of another user: refused at start, nothing read from it', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'forward-forged-'));
    try {
      chownSync(elsewhere, NOBODY, NOBODY);
      symlinkSync(elsewhere, join(storage, 'forward.0'));
      const output = forward();
      await expect(output.start()).rejects.toThrow(/forward\.0 is a symbolic link: it is not followed/);
      expect(output.counters().records_restored).toBe(0);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('a storage.path owned by another user, or writable by others, is refused at start', async () => {
    chownSync(storage, NOBODY, NOBODY);
    await expect(forward().start()).rejects.toThrow(/is owned by uid 65534, not by root/);
    chownSync(storage, 0, 0);
    chmodSync(storage, 0o777);
    await expect(forward().start()).rejects.toThrow(/is writable by its group and others \(mode 0777\)/);
    chmodSync(storage, 0o1703); // sticky, but others may still make forward.0 before us
    await expect(forward().start()).rejects.toThrow(/is writable by others \(mode 1703\)/);
  });

  it('a storage.path where the kernel refuses mkdir (/proc) is one clear error, at once', async () => {
    const output = createForward({ port: '9' }, { storagePath: '/proc/ebpf-forward-spool' });
    outputs.push(output);
    await expect(output.start()).rejects.toThrow(/storage\.path \/proc\/ebpf-forward-spool: cannot create \/proc\/ebpf-forward-spool \(ENOENT/);
  });

  it('a read-only spool is refused at start, not at the first spill', async () => {
    const root = tmpfs('1m');
    mkdirSync(join(root, 'forward.0'), { mode: 0o700 });
    execFileSync('mount', ['-o', 'remount,ro', root]);
    const output = createForward({ port: '9' }, { storagePath: root });
    outputs.push(output);
    await expect(output.start()).rejects.toThrow(/storage\.path .*forward\.0: it is on a read-only file system/);
  });
});

describe('reading the spool back', () => {
  it('a *.chunk symbolic link (to /dev/zero) or FIFO is set aside unread; the real chunks are sent', async () => {
    const dir = await spoolRecords(10);
    symlinkSync('/dev/zero', join(dir, '0000000000001-1-000000.chunk'));
    execFileSync('mkfifo', [join(dir, '0000000000002-1-000000.chunk')]);
    const log = testLog();
    const output = forward({}, { log: log.logger });
    await output.start();
    expect(output.counters().records_restored).toBe(10);
    expect(log.text()).toMatch(/0000000000001-1-000000\.chunk is a symbolic link: not followed; moved to .*\.bad/);
    expect(log.text()).toMatch(/0000000000002-1-000000\.chunk is not a regular file; moved to .*\.bad/);
  });

  it('a chunk file of another owner is not read', async () => {
    const dir = await spoolRecords(10);
    const [file] = chunkFiles(dir);
    chownSync(join(dir, file!), NOBODY, NOBODY);
    const log = testLog();
    const output = forward({}, { log: log.logger });
    await output.start();
    expect(output.counters().records_restored).toBe(0);
    expect(log.text()).toMatch(/is owned by uid 65534, not by us: not read; moved to/);
  });

  /** Rewrites a spooled chunk file in place. */
  function damage(dir: string, change: (bytes: Buffer, frameAt: number) => void): void {
    const [file] = chunkFiles(dir);
    const path = join(dir, file!);
    const bytes = readFileSync(path);
    change(bytes, skipValue(bytes, 0));
    writeFileSync(path, bytes);
  }

  it('a record count the entries do not hold: set aside when read back, counted as invalid_record, never sent', async () => {
    const dir = await spoolRecords(20);
    damage(dir, (bytes, frameAt) => bytes.writeUInt32BE(21, frameAt));
    const receiver = await new IndependentReceiver().start();
    try {
      const log = testLog();
      const output = forward({ port: String(receiver.port) }, { log: log.logger });
      await output.start();
      await waitFor('the chunk given up', () => output.counters().records_dropped.invalid_record === 21);
      expect(receiver.entries).toHaveLength(0);
      expect(log.text()).toMatch(/a frame of 21 records at byte \d+ is damaged \(the chunk says 21 entries; \d+ bytes follow them\)|is damaged/);
      expect(readdirSync(dir).filter((n) => n.endsWith('.bad'))).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });

  it('a flipped byte inside a record: caught by its checksum when read back, never sent as genuine, not retried', async () => {
    const dir = await spoolRecords(20, { checksum: true });
    // "comm":"kill" of one record becomes "kilm".
    damage(dir, (bytes) => {
      const at = bytes.indexOf('kill');
      bytes[at + 3] = 0x6d;
    });
    const receiver = await new IndependentReceiver().start();
    try {
      const log = testLog();
      const output = createForward({ port: String(receiver.port), retry_limit: 'no_limits' }, { storagePath: storage, log: log.logger });
      outputs.push(output);
      await output.start();
      await waitFor('the chunk given up', () => output.counters().records_dropped.invalid_record === 20);
      await sleep(200);
      expect(receiver.entries).toHaveLength(0);
      expect(log.text()).toMatch(/a frame of 20 records at byte \d+ fails its checksum; moved to/);
    } finally {
      await receiver.close();
    }
  });
});

describe('spool write errors', () => {
  it('a full disk is one error line while it lasts, and the records are kept in memory', async () => {
    const root = tmpfs('64k');
    const log = testLog();
    const output = createForward({ port: '9', retry_limit: 'no_limits', mem_buf_limit: '400000' }, { storagePath: root, log: log.logger });
    outputs.push(output);
    await output.start();
    // ~1.5 MB offered against a 64 KB disk: every spill after the first few fails.
    for (let i = 0; i < 16_000; i += 200) {
      output.write('t', makeChunk(i, 200));
      await sleep(5);
    }
    const errors = log.lines.filter((l) => l.includes('[error]') && l.includes('cannot write to the spool'));
    // One line per episode (266 before): a spill that succeeds in between, as
    // the spool's files come and go on a loaded machine, starts a new one.
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.length).toBeLessThanOrEqual(3);
    expect(errors[0]).toMatch(/cannot write to the spool in .*forward\.0 \(ENOSPC: no space left on device\): keeping chunks in memory/);
    expect(log.lines.filter((l) => l.includes('[debug]') && l.includes('cannot write to the spool')).length).toBeGreaterThan(0);
  });
});
