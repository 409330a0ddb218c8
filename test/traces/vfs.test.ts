// trace_vfs on the real kernel: openat (success, missing file, O_CREAT with
// a mode), openat2 and open, a path the kernel had to fault in, a path too
// long, a bad pointer; one record each with every documented field. By the
// hooks test/support/attach-path.ts says (fexit or syscall tracepoints).
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceSession } from '../../src/inputs/trace-session.js';
import { trace_vfs, VfsOperation } from '../../src/traces/vfs/index.js';
import { startTrace } from '../support/trace-session.js';
import { attachKeys, attachTitle, expectAttachedAsAsked } from '../support/attach-path.js';
import { waitFor } from '../support/cli.js';
import { runVfsProgram, type VfsCall, type VfsRun } from '../support/vfs.js';
import type { DecodedEvent } from '../support/decoded-events.js';

const FIELDS = ['event_type', 'pid', 'tid', 'comm', 'operation', 'path', 'flags', 'mode', 'fd', 'error_raw'];
const hasTracepoint = (name: string) => existsSync(`/sys/kernel/tracing/events/syscalls/${name}`);

let session: TraceSession;
let events: DecodedEvent[] = [];
let warnings: string[] = [];
let run: VfsRun;

beforeAll(async () => {
  ({ session, events, warnings } = startTrace(trace_vfs, attachKeys));
  run = runVfsProgram();
  // The last call the program makes is the bad pointer: once it is here, all are.
  await waitFor(() => (records().some((r) => r.fd === -14) ? true : undefined), 10_000, 'the efault record');
});

afterAll(() => session?.close());

function records() {
  return events.filter((e) => e.record.pid === run.pid).map((e) => e.record);
}

function call(name: string): VfsCall {
  const c = run.calls.find((x) => x.name === name);
  if (!c) throw new Error(`the program made no ${name} call`);
  return c;
}

/** The one record of a call, checked field by field. */
function expectRecord(c: VfsCall, operation: number, path = c.path) {
  const matching = records().filter((r) => r.path === path && r.operation === operation);
  expect(matching, `records for ${c.name}`).toHaveLength(1);
  const r = matching[0]!;
  expect(Object.keys(r)).toEqual(FIELDS);
  expect(r).toEqual({
    event_type: 'vfs',
    pid: run.pid,
    tid: run.tid,
    comm: 'vfs-opens',
    operation,
    path,
    flags: c.flags,
    mode: c.mode,
    fd: c.result < 0 ? -c.errno : c.result,
    error_raw: c.errno,
  });
  for (const k of ['pid', 'tid', 'operation', 'flags', 'mode', 'fd', 'error_raw']) expect(Number.isInteger(r[k]), k).toBe(true);
  for (const k of ['pid', 'tid', 'flags', 'mode', 'error_raw']) expect(r[k] as number, k).toBeGreaterThanOrEqual(0);
  for (const k of ['comm', 'path']) {
    expect(typeof r[k]).toBe('string');
    expect(r[k] as string).not.toContain('\0');
  }
  return r;
}

describe(`trace_vfs (${attachTitle})`, () => {
  it('attached by the hooks asked for', () => {
    expectAttachedAsAsked(session);
  });

  it('openat of an existing file: its fd, O_RDONLY|O_CLOEXEC, mode 0', () => {
    const c = call('openat');
    expect(c.result).toBeGreaterThanOrEqual(3);
    expectRecord(c, VfsOperation.openat);
  });

  it('openat of a missing file: fd -2, error_raw 2', () => {
    const c = call('missing');
    expect(c.errno).toBe(2);
    const r = expectRecord(c, VfsOperation.openat);
    expect(r.fd).toBe(-2);
  });

  it('openat with O_CREAT and mode 0640', () => {
    const c = call('creat');
    expect(c.errno).toBe(0);
    const r = expectRecord(c, VfsOperation.openat);
    expect(r.mode).toBe(0o640);
  });

  it.runIf(hasTracepoint('sys_enter_openat2'))('openat2: operation 1, flags and mode from struct open_how', () => {
    expect(warnings.filter((w) => w.includes('openat2'))).toEqual([]);
    expectRecord(call('openat2'), VfsOperation.openat2);
  });

  it.runIf(hasTracepoint('sys_enter_open'))('open: operation 2', () => {
    expect(warnings.filter((w) => /\bopen_/.test(w))).toEqual([]);
    expectRecord(call('open'), VfsOperation.open);
  });

  it('a path in a page not yet resident at sys_enter is read at exit', () => {
    expectRecord(call('nonresident'), VfsOperation.openat);
  });

  it('a path longer than PATH_MAX: its first 4095 bytes, error_raw 36', () => {
    const c = call('toolong');
    expect(c.errno).toBe(36);
    expectRecord(c, VfsOperation.openat, c.path.slice(0, 4095));
  });

  it('a bad path pointer: empty path, error_raw 14', () => {
    const c = call('efault');
    expect(c.errno).toBe(14);
    expectRecord(c, VfsOperation.openat, '');
  });

  it('decoded every record (the trace is machine-wide, so losses depend on others: not asserted)', () => {
    expect(session.malformed()).toBe(0);
    expect(session.received).toBeGreaterThanOrEqual(run.calls.length);
  });
});
