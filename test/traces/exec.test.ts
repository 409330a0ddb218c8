// trace_exec on the real kernel: an enter and an exit record per execve and
// execveat, every documented field checked, including when the caller's
// strings are not resident at the call (a forked child exec'ing strings it
// never touched), from a non-leader thread, and for a missing file.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { bpfObjectDir } from '../../src/inputs/session-options.js';
import { Btf } from '../../src/records/btf.js';
import { execRecord, trace_exec } from '../../src/traces/exec/index.js';
import type { TraceDefinition } from '../../src/traces/types.js';
import { waitFor } from '../support/cli.js';
import { EXEC_PROBE_COMM, execProbePath, numberedArgs, runExecProbe, type ExecProbeOption, type ExecProbeRun } from '../support/exec.js';
import { decodeEntries, EventIds, type DecodedEvent } from '../support/decoded-events.js';
import { recordOf } from '../support/record-builder.js';
import { decodeWithTrace } from '../support/record-encoding.js';

const FIELDS = ['event_type', 'pid', 'tid', 'comm', 'stage', 'ppid', 'filename', 'argv', 'argv1', 'argv2', 'argv_last', 'argc', 'error_raw'];
const UINTS = ['pid', 'tid', 'ppid', 'argc'];
const ENOENT = 2;
/** The test's extra field: the record header's flags. */
const SOURCE_FLAGS = 'source_flags';

/** A bit of enum exec_flag (event_header.flags), from exec.bpf.o's BTF. */
const execFlags = Btf.ofObject(join(bpfObjectDir, 'exec.bpf.o')).enumerators('exec_flag')!;
const flag = (name: string) => Number(execFlags.get(name)!);

/** Where the BPF side read an exec record's strings. */
type ExecStringSource = 'call' | 'image' | 'exit';
function execStringSource(flags: number): ExecStringSource {
  if (flags & flag('EXEC_F_FROM_IMAGE')) return 'image';
  if (flags & flag('EXEC_F_AT_EXIT')) return 'exit';
  return 'call';
}

interface Seen {
  event: DecodedEvent;
  /** Where the BPF side read the strings: at the call, from the new program, or at exit. */
  source: ExecStringSource;
}

/** A trace_exec session that also notes each record's string source (header flags). */
class ExecTrace {
  readonly seen: Seen[] = [];
  private readonly session: TraceSession;

  constructor(deferUnreadable: boolean) {
    const seen = this.seen;
    // The header's flags say where the strings were read: this test's copy
    // of the trace sends them as one more field.
    const trace: TraceDefinition = {
      ...trace_exec,
      record: { ...execRecord, fields: [...execRecord.fields, { key: SOURCE_FLAGS, type: 'uint', from: { copy: 'hdr.flags' }, doc: '' }] },
      configure(knobs) {
        if (!deferUnreadable) knobs.set('defer_unreadable', 0);
      },
    };
    const ids = new EventIds();
    this.session = TraceSession.start({
      trace,
      settings: { keys: new Map(), selfPid: process.pid },
      ringbufMapName: 'events',
      ringbufBytes: 1 << 22,
      onChunk: (chunk) => {
        for (const event of ids.take(decodeEntries(chunk))) {
          const { [SOURCE_FLAGS]: flags, ...record } = event.record;
          seen.push({ event: { ...event, record }, source: execStringSource(flags as number) });
        }
      },
    });
  }

  /** Pids of the probes' children whose records were checked. */
  readonly checked = new Set<number>();

  recordsFrom(pid: number): Seen[] {
    return this.seen.filter((s) => s.event.record.pid === pid);
  }

  /** The enter and exit records of a probe's exec. */
  async recordsOf(run: ExecProbeRun): Promise<[Seen, Seen]> {
    await waitFor(() => (this.recordsFrom(run.pid).length >= 2 ? true : undefined), 5000, `the exec records of pid ${run.pid}`);
    this.checked.add(run.pid);
    const found = this.recordsFrom(run.pid);
    expect(found.map((s) => s.event.record.stage)).toEqual(['enter', 'exit']);
    return [found[0]!, found[1]!];
  }

  lost(): number {
    return this.session.lost();
  }

  close(): void {
    this.session.close();
  }
}

/** The documented fields, in order, with their types; no NUL in any string. */
function expectShape(record: Record<string, unknown>): void {
  expect(Object.keys(record)).toEqual(FIELDS);
  for (const [key, value] of Object.entries(record)) {
    if (UINTS.includes(key)) {
      expect(Number.isInteger(value) && (value as number) >= 0, `${key} is a uint`).toBe(true);
    } else if (key === 'error_raw') {
      expect(Number.isInteger(value), 'error_raw is an int').toBe(true);
    } else {
      expect(typeof value, `${key} is a string`).toBe('string');
      expect(value as string).not.toContain('\0');
    }
  }
}

const ns = (e: DecodedEvent) => BigInt(e.sec) * 1_000_000_000n + BigInt(e.nsec);

/** What the two records of an exec must be, field by field. */
function expectExec(run: ExecProbeRun, [enter, exit]: [Seen, Seen], path: string, argv: string[], filename = path): void {
  const n = argv.length;
  const strings = {
    filename,
    argv: argv[0] ?? '',
    argv1: argv[1] ?? '',
    argv2: argv[2] ?? '',
    argv_last: n > 3 ? argv[n - 1]! : '',
    argc: n,
  };
  const ok = run.errno === 0;
  expectShape(enter.event.record);
  expectShape(exit.event.record);
  expect(enter.event.record).toEqual({
    event_type: 'execve', pid: run.pid, tid: run.tid, comm: EXEC_PROBE_COMM, stage: 'enter', ppid: run.parent, ...strings, error_raw: 0,
  });
  // After a successful exec the thread is the new program, with the leader's pid as its tid.
  expect(exit.event.record).toEqual({
    event_type: 'execve', pid: run.pid, tid: ok ? run.pid : run.tid, comm: ok ? basename(path).slice(0, 15) : EXEC_PROBE_COMM,
    stage: 'exit', ppid: run.parent, ...strings, error_raw: run.errno,
  });
  // Kernel times: the enter record is the call's (after the probe's clock read just before it), the exit after it.
  const called = BigInt(run.calledSec) * 1_000_000_000n + BigInt(run.calledNsec);
  expect(ns(enter.event) >= called, 'enter time is not before the call').toBe(true);
  expect(ns(enter.event) <= ns(exit.event), 'enter time <= exit time').toBe(true);
}

let trace: ExecTrace;
let script: string;

beforeAll(() => {
  execProbePath();
  script = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-exec-')), 'exec-script');
  writeFileSync(script, '#!/bin/sh -e\nexit 0\n');
  chmodSync(script, 0o755);
  addon().ensureTracefs();
  trace = new ExecTrace(true);
});

afterAll(() => trace?.close());

async function execAndCheck(options: ExecProbeOption[], path: string, argv: string[], filename = path) {
  const run = runExecProbe(options, path, argv);
  const records = await trace.recordsOf(run);
  expectExec(run, records, path, argv, filename);
  return { run, records };
}

describe('trace_exec', () => {
  describe.each([1, 3, 25])('%i argument(s)', (argc) => {
    const argv = ['echo', ...numberedArgs(argc - 1)];

    it('resident strings: enter read at the call, exit with error_raw 0', async () => {
      const { run, records } = await execAndCheck([], '/bin/echo', argv);
      expect(run.status).toBe(0);
      expect(records.map((r) => r.source)).toEqual(['call', 'call']);
    });

    it('strings never touched by the caller: enter read from the new program, same fields', async () => {
      const { run, records } = await execAndCheck(['unmapped'], '/bin/echo', argv);
      expect(run.status).toBe(0);
      expect(records.map((r) => r.source)).toEqual(['image', 'image']);
    });
  });

  it('without the deferral the same exec gives empty strings: those pages really were not resident', async () => {
    // The same unmapped exec seen by a second session whose BPF side sends the
    // enter record at the call whatever it could read (Fluent Bit's way): its
    // filename and arguments are empty, so the main session's full record
    // above and here can only come from the deferral.
    const direct = new ExecTrace(false);
    try {
      const argv = ['echo', ...numberedArgs(24)];
      const run = runExecProbe(['unmapped'], '/bin/echo', argv);
      const [enter, exit] = await direct.recordsOf(run);
      expect(enter.source).toBe('call');
      const unread = { filename: '', argv: '', argv1: '', argv2: '', argv_last: '', argc: 25 };
      expect(enter.event.record).toMatchObject({ stage: 'enter', ...unread });
      expect(exit.event.record).toMatchObject({ stage: 'exit', ...unread, error_raw: 0 });
      expectExec(run, await trace.recordsOf(run), '/bin/echo', argv);
    } finally {
      direct.close();
    }
  });

  describe('a missing file', () => {
    it('resident: enter with the filename, exit with error_raw 2', async () => {
      const { run, records } = await execAndCheck([], '/nonexistent/ebpf-forward-exec', ['missing', 'one', 'two', 'three']);
      expect(run.errno).toBe(ENOENT);
      expect(records[1].event.record.error_raw).toBe(ENOENT);
      expect(records.map((r) => r.source)).toEqual(['call', 'call']);
    });

    it('not resident: enter read again at exit (the kernel faulted the page in), exit with error_raw 2', async () => {
      const { run, records } = await execAndCheck(['unmapped'], '/nonexistent/ebpf-forward-exec', ['missing', 'one']);
      expect(run.errno).toBe(ENOENT);
      expect(records.map((r) => r.source)).toEqual(['exit', 'exit']);
    });
  });

  describe('exec from a thread that is not the leader (its tid becomes the pid)', () => {
    it('resident strings', async () => {
      const { run } = await execAndCheck(['thread'], '/bin/echo', ['echo', 'from', 'a', 'thread']);
      expect(run.tid).not.toBe(run.pid);
    });

    it('strings not resident', async () => {
      const { run, records } = await execAndCheck(['thread', 'unmapped'], '/bin/echo', ['echo', 'from', 'a', 'thread']);
      expect(run.tid).not.toBe(run.pid);
      expect(records.map((r) => r.source)).toEqual(['image', 'image']);
    });
  });

  describe('execveat (reported as event_type "execve"; filename as passed, relative to dirfd)', () => {
    it('resident strings', async () => {
      const { run } = await execAndCheck(['execveat'], '/bin/echo', ['echo', 'at'], 'echo');
      expect(run.dirfd).toBeGreaterThanOrEqual(0);
    });

    it('strings not resident (the kernel names the file /dev/fd/<dirfd>/echo)', async () => {
      const { records } = await execAndCheck(['execveat', 'unmapped'], '/bin/echo', ['echo', 'at'], 'echo');
      expect(records.map((r) => r.source)).toEqual(['image', 'image']);
    });

    it('a missing file', async () => {
      const { run } = await execAndCheck(['execveat'], '/bin/ebpf-forward-missing', ['missing'], 'ebpf-forward-missing');
      expect(run.errno).toBe(ENOENT);
    });
  });

  describe('a #! script (the kernel puts the interpreter in front of the arguments)', () => {
    const argv = ['my-script', 'one', 'two', 'three', 'four'];
    it('resident: both records carry the arguments as passed', async () => {
      const { run } = await execAndCheck([], script, argv);
      expect(run.status).toBe(0);
    });

    it('not resident: read from the new program, argv[1..] and argc as passed; argv[0] is gone', async () => {
      const run = runExecProbe(['unmapped'], script, argv);
      const records = await trace.recordsOf(run);
      expectExec(run, records, script, ['', ...argv.slice(1)]);
      expect(records.map((r) => r.source)).toEqual(['image', 'image']);
    });
  });

  describe('argv NULL (argc 0)', () => {
    it('resident', async () => {
      await execAndCheck(['noargv'], '/bin/true', []);
    });
    it('not resident', async () => {
      const { records } = await execAndCheck(['noargv', 'unmapped'], '/bin/true', []);
      expect(records.map((r) => r.source)).toEqual(['image', 'image']);
    });
  });

  describe('argc past Fluent Bit\'s 20-argument scan', () => {
    const argv = ['echo', ...numberedArgs(5000)];
    it('5001 arguments, resident', async () => {
      await execAndCheck([], '/bin/echo', argv);
    });
    it('5001 arguments, not resident', async () => {
      await execAndCheck(['unmapped'], '/bin/echo', argv);
    });
  });

  it('exactly two records per exec, none lost', () => {
    // Checked last: by now any extra record of an earlier exec has arrived.
    expect(trace.checked.size).toBeGreaterThan(10);
    for (const pid of trace.checked) expect(trace.recordsFrom(pid), `records of pid ${pid}`).toHaveLength(2);
    expect(trace.lost()).toBe(0);
  });
});

/** A ring-buffer record as exec.bpf.c lays it out: struct exec_event (members by name), then its strings. */
function execRecordBytes(o: { kind?: number; flags?: number; dirfd?: number; strings: string[]; lengths?: number[] }): Buffer {
  const strings = o.strings.map((x) => Buffer.from(x, 'utf8'));
  const lengths: Record<string, number> = {};
  strings.forEach((x, i) => (lengths[`len[${i}]`] = o.lengths?.[i] ?? x.length));
  return recordOf(
    trace_exec,
    'exec_event',
    { 'hdr.pid': 1234, 'hdr.tid': 1235, 'hdr.kind': o.kind ?? 0, 'hdr.flags': o.flags ?? 0, 'hdr.comm': 'sh', ppid: 1, argc: 4, error_raw: 0, dirfd: o.dirfd ?? -100, ...lengths },
    Buffer.concat(strings),
  );
}

function decode(bytes: Buffer) {
  const [event] = decodeWithTrace(trace_exec, [bytes]);
  return event!.record;
}

describe('exec records encoded from their BTF layout', () => {
  it('reads the fields in the documented order, strings back to back (UTF-8)', () => {
    const r = decode(execRecordBytes({ kind: 1, strings: ['/usr/bin/café', 'café', 'b', 'c', 'last'] }));
    expect(r).toEqual({ event_type: 'execve', event_id: 0, pid: 1234, tid: 1235, comm: 'sh', stage: 'exit', ppid: 1, filename: '/usr/bin/café', argv: 'café', argv1: 'b', argv2: 'c', argv_last: 'last', argc: 4, error_raw: 0 });
    expect(Object.keys(r)).toEqual(['event_type', 'event_id', ...FIELDS.slice(1)]);
  });

  it('an unknown stage is "unknown"', () => {
    expect(decode(execRecordBytes({ kind: 7, strings: ['', '', '', '', ''] })).stage).toBe('unknown');
  });

  it('never reads past the record when a length is wrong', () => {
    const r = decode(execRecordBytes({ strings: ['/bin/x', 'x', '', '', ''], lengths: [6, 999, 0, 0, 0] }));
    expect(r.filename).toBe('/bin/x');
    expect(r.argv).toBe('x');
  });

  it('execveat read from the new program: the kernel\'s /dev/fd/<dirfd> name becomes the path as passed', () => {
    const image = flag('EXEC_F_EXECVEAT') | flag('EXEC_F_FROM_IMAGE');
    const name = (flags: number, dirfd: number, filename: string) => decode(execRecordBytes({ flags, dirfd, strings: [filename, 'a', '', '', ''] })).filename;
    expect(name(image, 3, '/dev/fd/3/echo')).toBe('echo');
    expect(name(image, 3, '/dev/fd/3')).toBe(''); // AT_EMPTY_PATH
    expect(name(image, 3, '/bin/echo')).toBe('/bin/echo'); // absolute: dirfd unused
    expect(name(image, 3, '/dev/fd/31/echo')).toBe('/dev/fd/31/echo');
    expect(name(image, -100, 'echo')).toBe('echo');
    expect(name(flag('EXEC_F_EXECVEAT'), 3, '/dev/fd/3/echo')).toBe('/dev/fd/3/echo'); // read at the call: as passed already
  });
});
