// The documented traces as a user runs them: ONE CLI with six traces at once,
// spread over four `[INPUT] Name ebpf` sections (several traces in one input,
// one input without a Tag), forwarding to FluentServer behind a decoding tee.
// Each case is caused by a child process this test runs; its records must
// arrive as documented (records.md, README): every field's value, its msgpack
// type on the wire, and the input's tag. At the end, once the CLI has
// delivered everything and exited, every record of our children is checked
// again: documented keys in order (event_type, pid, tid, comm first), no key
// twice, no NUL in a string, the exact record counts, FluentServer's copy.
// Every input is narrowed to the test's own cgroup, which the test process
// enters before it starts anything: a busy machine's other processes (a
// signal flood among them) neither crowd our records out nor slow their way.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';
import { EXEC_PROBE_COMM, execProbePath, numberedArgs, runExecProbe, type ExecProbeRun } from '../../support/exec.js';
import { END_MARKER_SIZE, mallocProgramPath, START_MARKER_SIZE, startMallocProgram } from '../../support/malloc.js';
import { runAcceptScenario, runBindScenario, runTcpErrorsScenario, runUnprivilegedBindScenario } from '../../support/net-scenarios.js';
import { TestCgroups } from '../../support/filter-actor.js';
import { startReceivers, type Receivers, type ServerEntry, type WireEntry } from '../../support/receiver.js';
import { runSignalTool, SIGNAL_TOOL_COMM, signalToolPath, startSignalTarget, type SignalToolRun } from '../../support/signal-tool.js';
import { runVfsProgram, type VfsCall } from '../../support/vfs.js';
import type { DecodedRecord } from '../../support/decoded-events.js';
import type { FieldType } from '../../../src/records/declaration.js';
import { fieldsByEventType } from '../../../src/records/field-table.js';
import { CONTAINER_FIELDS, HEAD_FIELDS } from '../../../src/records/head.js';
import { traces } from '../../../src/traces/registry.js';

/** The malloc helper runs under this name; malloc_comm narrows trace_malloc to it. */
const MALLOC_COMM = 'e2e-malloc';

/** Tag of each event type: its trace's input. trace_vfs's input has no Tag: third ebpf input, ebpf.2. */
const TAG: Record<string, string> = {
  signal: 'e2e.proc',
  execve: 'e2e.proc',
  bind: 'e2e.net',
  listen: 'e2e.net',
  accept: 'e2e.net',
  connect: 'e2e.net',
  vfs: 'ebpf.2',
  malloc: 'e2e.malloc',
};

type Doc = 'str' | 'int' | 'uint';

/** A declared field type as msgpack shows it. */
const docOf = (type: FieldType): Doc => (type === 'string' ? 'str' : type === 'int' || type === 'int64' ? 'int' : 'uint');

/**
 * Every documented field in record order, then the further fields, with
 * their types: from the traces' declarations (the README's tables come from
 * them too). realloc's old_address is set apart below.
 */
const FIELDS: Record<string, Record<string, Doc>> = {};
/** Fields that are 16 bits wide (ports) and 64 bits wide (malloc's pointers and sizes). */
const U16 = new Set<string>();
const U64 = new Set<string>();
/** The traces this test's CLI runs. */
const TRACES = ['trace_signal', 'trace_exec', 'trace_bind', 'trace_tcp', 'trace_vfs', 'trace_malloc'];
for (const trace of TRACES.map((name) => traces.get(name)!)) {
  if ('asIs' in trace.record) continue;
  for (const [eventType, fields] of fieldsByEventType(trace.record)) {
    FIELDS[eventType] = { event_type: 'str', ...Object.fromEntries(HEAD_FIELDS.map((f) => [f.key, docOf(f.type)])) };
    for (const f of [...HEAD_FIELDS, ...fields, ...CONTAINER_FIELDS]) {
      if (f.key === 'old_address') continue;
      FIELDS[eventType]![f.key] = docOf(f.type);
      if (f.type === 'uint16') U16.add(f.key);
      if (f.type === 'uint64') U64.add(f.key);
    }
  }
}
U64.add('old_address');

/** The documented fields of a record, in order (realloc adds old_address). */
function fieldsOf(record: Record<string, unknown>): Record<string, Doc> {
  const fields = FIELDS[record.event_type as string];
  if (!fields) throw new Error(`undocumented event_type ${String(record.event_type)}`);
  if (!(record.event_type === 'malloc' && record.operation === 3)) return fields;
  // Before the container fields, which end every record.
  const entries = Object.entries(fields);
  const at = entries.findIndex(([k]) => k === 'cgroup_id');
  return Object.fromEntries([...entries.slice(0, at), ['old_address', 'uint'], ...entries.slice(at)]);
}

/** msgpack writes a non-negative integer as a uint whatever its C type: an int field is "int" on the wire only when negative. */
function wireType(doc: Doc, value: unknown): string {
  if (doc === 'int') return (typeof value === 'bigint' ? value < 0n : (value as number) < 0) ? 'int' : 'uint';
  return doc;
}

/** Keys (order, none twice), wire types, value ranges, no NUL, tag, EventTime. */
function expectDocumented(entry: WireEntry): void {
  const fields = fieldsOf(entry.record);
  const what = `${String(entry.record.event_type)} record of pid ${String(entry.record.pid)}`;
  // container_id is only there for a process in a container; mntns_id only
  // while the task has its namespaces (not in its exit: the SIGCHLD it sends).
  const wanted = Object.keys(fields).filter((k) => (k !== 'container_id' && k !== 'mntns_id') || entry.keys.includes(k));
  expect(entry.keys, what).toEqual(wanted);
  expect(new Set(entry.keys).size, `${what}: a key twice`).toBe(entry.keys.length);
  for (const key of wanted) {
    const doc = fields[key]!;
    const value = key === 'event_id' ? entry.eventId : CONTAINER_FIELDS.some((f) => f.key === key) ? entry.container?.[key] : entry.record[key];
    expect(entry.types[key], `${what}: ${key} = ${String(value)}`).toBe(wireType(doc, value));
    if (doc === 'str') {
      expect(value as string, `${what}: ${key}`).not.toContain('\0');
      continue;
    }
    const n = BigInt(value as number | bigint);
    const [min, max] = U64.has(key) ? [0n, 2n ** 64n - 1n] : U16.has(key) ? [0n, 0xffffn] : doc === 'uint' ? [0n, 2n ** 32n - 1n] : [-(2n ** 31n), 2n ** 31n - 1n];
    expect(n >= min && n <= max, `${what}: ${key} = ${n} in [${min}, ${max}]`).toBe(true);
  }
  expect(entry.tag, what).toBe(TAG[entry.record.event_type as string]);
  const t = entry.time as { sec: number; nsec: number };
  expect(typeof t, `${what}: EventTime, not an integer`).toBe('object');
  expect(Number.isInteger(t.nsec) && t.nsec >= 0 && t.nsec < 1e9, `${what}: nsec ${t.nsec}`).toBe(true);
}

const timeMs = (e: WireEntry) => {
  const t = e.time as { sec: number; nsec: number };
  return t.sec * 1000 + t.nsec / 1e6;
};

/** The kernel saw the event while the child ran (ms clock: 5 ms slack for rounding). */
function expectTimeWithin(entries: WireEntry[], beforeMs: number, afterMs: number): void {
  for (const e of entries) {
    expect(timeMs(e)).toBeGreaterThanOrEqual(beforeMs - 5);
    expect(timeMs(e)).toBeLessThanOrEqual(afterMs + 5);
  }
}

let receivers: Receivers;
let cli: RunningCli;
let cgroups: TestCgroups;
let leaveCgroup: (() => void) | undefined;
/** Every process this test started whose records are checked at the end. */
const ourPids = new Set<number>();
/** Record sets that must be exact once everything is delivered: re-checked after the CLI's exit. */
const exact: { what: string; select: () => WireEntry[]; records: DecodedRecord[] }[] = [];
const testStart = Date.now();

function entriesOf(pid: number, eventTypes: string[]): WireEntry[] {
  return receivers.wire.filter((e) => e.record.pid === pid && eventTypes.includes(e.record.event_type as string));
}

/** Waits until a selection has at least `count` entries; returns them. */
function arrived(select: () => WireEntry[], count: number, what: string): Promise<WireEntry[]> {
  return waitFor(() => {
    const found = select();
    return found.length >= count ? found : undefined;
  }, 10_000, what);
}

/** Asserts these entries are exactly `records` (and again at the end, when nothing more can come). */
function expectExactly(what: string, select: () => WireEntry[], records: DecodedRecord[]): void {
  exact.push({ what, select, records });
  const entries = select();
  expect(entries.map((e) => e.record), what).toEqual(records);
  for (const e of entries) expectDocumented(e);
}

beforeAll(async () => {
  // Compiled before the CLI starts: the compilers' processes are none of ours.
  execProbePath();
  signalToolPath();
  mallocProgramPath(MALLOC_COMM);
  receivers = await startReceivers();
  cgroups = new TestCgroups('e2e-traces');
  leaveCgroup = cgroups.enter();
  const config = writeConfig(`[SERVICE]
    Flush      0.2
    Grace      5
    Log_Level  info

# Process events: two traces in one input.
[INPUT]
    Name   ebpf
    Trace  trace_signal
    Trace  trace_exec
    Tag    e2e.proc
    cgroup ${cgroups.path()}

[INPUT]
    Name   ebpf
    Trace  trace_bind
    Trace  trace_tcp
    Tag    e2e.net
    cgroup ${cgroups.path()}

# No Tag: Fluent Bit's default, the instance name (third ebpf input: ebpf.2).
[INPUT]
    Name   ebpf
    Trace  trace_vfs
    cgroup ${cgroups.path()}

[INPUT]
    Name         ebpf
    Trace        trace_malloc
    malloc_comm  ${MALLOC_COMM}
    Tag          e2e.malloc
    cgroup       ${cgroups.path()}

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${receivers.port}
`);
  cli = startCli(['-c', config]);
  await cli.waitForLog(/tracing trace_signal, trace_exec, trace_bind, trace_tcp, trace_vfs, trace_malloc\n/, 30_000);
});

afterAll(async () => {
  await cli?.stop();
  await receivers?.close();
  leaveCgroup?.();
  cgroups?.remove();
});

describe('trace_bind (input e2e.net)', () => {
  it('IPv4 bind, port in use (98), UDP on ::1, SO_BINDTODEVICE lo', async () => {
    const before = Date.now();
    const run = await runBindScenario();
    const after = Date.now();
    ourPids.add(run.pid);
    const select = () => entriesOf(run.pid, ['bind']);
    const entries = await arrived(select, run.expected.length, 'the bind records');
    expectExactly('bind scenario', select, run.expected);
    expect(entries.map((e) => e.record.error_raw)).toEqual([0, 98, 0, 0]);
    expect(run.facts.lo_ifindex).toBeGreaterThan(0);
    expect(entries[3]!.record.bound_dev_if).toBe(run.facts.lo_ifindex);
    expect(entries[1]!.record.port).toBe(run.facts.port_in_use);
    expectTimeWithin(entries, before, after);
  });

  it('a privileged port as uid 65534: 13, with that uid and gid', async () => {
    const run = await runUnprivilegedBindScenario();
    ourPids.add(run.pid);
    const select = () => entriesOf(run.pid, ['bind']);
    await arrived(select, 1, 'the refused bind record');
    expectExactly('unprivileged bind', select, run.expected);
    expect(select()[0]!.record).toMatchObject({ uid: 65534, gid: 65534, port: 80, error_raw: 13 });
  });
});

describe('trace_tcp (input e2e.net, with trace_bind)', () => {
  it.each([
    ['IPv4', '127.0.0.1', '127.0.0.1', '127.0.0.1'],
    ['IPv6', '::1', '::1', '::1'],
    ['IPv4 clients of an IPv6 listener (mapped peers)', '::', '127.0.0.1', '::ffff:127.0.0.1'],
    ['IPv6 socket connecting to a mapped address', '::', '::ffff:127.0.0.1', '::ffff:127.0.0.1'],
  ])('%s: listen, 3 connects, accept with and without sockaddr, accept4', async (_name, listenAddr, connectAddr, peer) => {
    const before = Date.now();
    const run = await runAcceptScenario(listenAddr, connectAddr);
    const after = Date.now();
    ourPids.add(run.pid);
    const select = () => entriesOf(run.pid, ['listen', 'accept', 'connect']);
    const entries = await arrived(select, run.expected.length, 'the tcp records');
    expectExactly(`accept scenario ${listenAddr} ${connectAddr}`, select, run.expected);
    expect(entries.map((e) => e.record.event_type)).toEqual(['listen', 'connect', 'connect', 'connect', 'accept', 'accept', 'accept']);
    expect(entries.filter((e) => e.record.event_type === 'accept').map((e) => e.record.peer_addr)).toEqual([peer, peer, peer]);
    expect(entries.filter((e) => e.record.event_type === 'connect').map((e) => e.record.remote_addr)).toEqual(Array(3).fill(connectAddr));
    expectTimeWithin(entries, before, after);
    // The listener's bind (port 0) went to the same input, same tag; its
    // trace has a ring of its own, read on its own wake-ups: wait for it.
    const binds = await arrived(() => entriesOf(run.pid, ['bind']), 1, 'the listener\'s bind record');
    expect(binds[0]!.record).toMatchObject({ port: 0, address: listenAddr, error_raw: 0 });
  });

  it('refused connect 111, non-blocking connect 115, empty accept4 11, listen 22', async () => {
    const run = await runTcpErrorsScenario();
    ourPids.add(run.pid);
    const select = () => entriesOf(run.pid, ['listen', 'accept', 'connect']);
    const entries = await arrived(select, run.expected.length, 'the tcp error records');
    expectExactly('tcp errors', select, run.expected);
    expect(entries.map((e) => e.record.error_raw)).toEqual([111, 0, 11, 115, 0, 22]);
    // A negative int is a msgpack int on the wire.
    expect(entries[2]!.record.new_fd).toBe(-11);
    expect(entries[2]!.types.new_fd).toBe('int');
  });
});

describe('trace_vfs (input without a Tag: ebpf.2)', () => {
  it('openat success, missing file (2), O_CREAT with mode 0640, and the other open calls', async () => {
    const before = Date.now();
    const run = runVfsProgram();
    const after = Date.now();
    ourPids.add(run.pid);
    // The bad pointer is the program's last call: once it is here, all are (one ring, in order).
    await waitFor(() => (entriesOf(run.pid, ['vfs']).some((e) => e.record.fd === -14) ? true : undefined), 10_000, 'the efault record');
    const byName = (name: string): VfsCall => {
      const c = run.calls.find((x) => x.name === name);
      if (!c) throw new Error(`the program made no ${name} call`);
      return c;
    };
    expect(byName('openat').result).toBeGreaterThanOrEqual(3);
    expect(byName('missing').errno).toBe(2);
    expect(byName('creat').mode).toBe(0o640);
    const operationOf: Record<string, number> = { openat2: 1, open: 2 };
    for (const c of run.calls) {
      const path = c.name === 'toolong' ? c.path.slice(0, 4095) : c.path;
      const operation = operationOf[c.name] ?? 0;
      const select = () => entriesOf(run.pid, ['vfs']).filter((e) => e.record.path === path && e.record.operation === operation);
      expectExactly(`vfs ${c.name}`, select, [{
        event_type: 'vfs', pid: run.pid, tid: run.tid, comm: 'vfs-opens', operation, path,
        flags: c.flags, mode: c.mode, fd: c.result < 0 ? -c.errno : c.result, error_raw: c.errno,
      }]);
      expectTimeWithin(select(), before, after);
    }
    const missing = entriesOf(run.pid, ['vfs']).find((e) => e.record.path === byName('missing').path)!;
    expect(missing.record).toMatchObject({ fd: -2, error_raw: 2 });
    expect(missing.types.fd).toBe('int');
  });
});

describe('trace_malloc (input e2e.malloc, malloc_comm)', () => {
  it('malloc, calloc, realloc, free: one record per call, the addresses the program got', async () => {
    const program = startMallocProgram({ path: mallocProgramPath(MALLOC_COMM) });
    ourPids.add(program.pid);
    await program.ready;
    const run = await program.go();
    expect(run.pid).toBe(program.pid);
    const mine = () => entriesOf(run.pid, ['malloc']);
    const size = (e: WireEntry) => BigInt(e.record.size as number | bigint);
    const isMarker = (e: WireEntry, bytes: number) => e.record.operation === 0 && size(e) === BigInt(bytes);
    await waitFor(() => (mine().some((e) => isMarker(e, END_MARKER_SIZE)) ? true : undefined), 10_000, 'the end marker');
    const all = mine();
    const first = all.findIndex((e) => isMarker(e, START_MARKER_SIZE));
    const last = all.findIndex((e) => isMarker(e, END_MARKER_SIZE));
    expect(first).toBeGreaterThanOrEqual(0);
    // The marker's malloc, its free, then the calls.
    const calls = all.slice(first + 2, last);
    const operation = { malloc: 0, free: 1, calloc: 2, realloc: 3 } as const;
    // On the wire a u64 decodes as a number while it fits 32 bits, else as a bigint: compare as bigints.
    const asBig = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, U64.has(k) ? BigInt(v as number | bigint) : v]));
    expect(calls.map((e) => asBig(e.record))).toEqual(run.calls.map((c) => ({
      event_type: 'malloc', pid: run.pid, tid: run.tid, comm: MALLOC_COMM, operation: operation[c.op],
      address: c.address, size: c.size, ...(c.op === 'realloc' ? { old_address: c.oldAddress } : {}),
    })));
    for (const e of calls) expectDocumented(e);
    // A heap pointer is above 2^32: a 64-bit msgpack uint, never a float.
    expect(typeof calls[0]!.record.address).toBe('bigint');
    expect(calls[0]!.types.address).toBe('uint');
    const huge = calls.find((e) => size(e) === 1n << 62n)!;
    expect(huge.types.size).toBe('uint');
    expect(huge.record.address).toBe(0);
    // Narrowed in the kernel: no malloc record of any other name, from any process.
    expect(receivers.wire.filter((e) => e.record.event_type === 'malloc' && e.record.comm !== MALLOC_COMM)).toEqual([]);
  });
});

describe('trace_signal (input e2e.proc, with trace_exec)', () => {
  let target: number;
  beforeAll(() => {
    target = startSignalTarget();
    ourPids.add(target);
  });
  afterAll(() => {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
  });

  const SIGCHLD = 17;
  /** The tool's own signal records, less the SIGCHLD its exit sends us. */
  const signalsOf = (run: SignalToolRun) => () => entriesOf(run.pid, ['signal']).filter((e) => !(e.record.signal === SIGCHLD && e.record.tpid === process.pid));
  /**
   * Waits for the SIGCHLD the tool's exit sends us: its last signal event,
   * so every earlier one is in the same ring before it and has arrived.
   */
  async function toolExited(run: SignalToolRun) {
    ourPids.add(run.pid);
    const select = () => entriesOf(run.pid, ['signal']).filter((e) => e.record.signal === SIGCHLD && e.record.tpid === process.pid);
    await arrived(select, 1, `the SIGCHLD of pid ${run.pid}'s exit`);
    expectExactly(`SIGCHLD of ${run.pid}'s exit`, select, [{ event_type: 'signal', pid: run.pid, tid: run.pid, comm: SIGNAL_TOOL_COMM, signal: SIGCHLD, tpid: process.pid, error_raw: 0 }]);
    // Sent once the exiting task has let its namespaces go: no mntns_id (never a 0 that reads as one).
    expect(select()[0]!.container).not.toHaveProperty('mntns_id');
  }
  const record = (run: SignalToolRun, signal: number, tpid: number, error_raw = 0, pid = run.pid) =>
    ({ event_type: 'signal', pid, tid: pid, comm: SIGNAL_TOOL_COMM, signal, tpid, error_raw });

  it('kill: exactly one record, tpid = the receiver; kill(pid, 0) and a failed kill (3)', async () => {
    const before = Date.now();
    const kill = runSignalTool('kill', target, 28); // SIGWINCH: ignored, the target lives on
    const after = Date.now();
    const probe = runSignalTool('kill', target, 0);
    const noSuch = runSignalTool('kill', 0x3fffffff, 0); // above PID_MAX_LIMIT: no such process
    expect([kill.errno, probe.errno, noSuch.errno]).toEqual([0, 0, 3]);
    for (const run of [kill, probe, noSuch]) await toolExited(run);
    expectExactly('kill', signalsOf(kill), [record(kill, 28, target)]);
    expect(signalsOf(kill)()[0]!.container?.mntns_id).toBeGreaterThan(0);
    expectExactly('kill(pid, 0)', signalsOf(probe), [record(probe, 0, target)]);
    expectExactly('failed kill', signalsOf(noSuch), [record(noSuch, 0, 0x3fffffff, 3)]);
    expectTimeWithin(signalsOf(kill)(), before, after);
  });

  it('tkill and tgkill: exactly one record each, tpid = the receiving thread', async () => {
    const tkill = runSignalTool('tkill', target, 23); // SIGURG: ignored
    const tgkill = runSignalTool('tgkill', target, target, 18); // SIGCONT
    expect([tkill.errno, tgkill.errno]).toEqual([0, 0]);
    for (const run of [tkill, tgkill]) await toolExited(run);
    expectExactly('tkill', signalsOf(tkill), [record(tkill, 23, target)]);
    expectExactly('tgkill', signalsOf(tgkill), [record(tgkill, 18, target)]);
  });

  it('kernel-generated SIGCHLD, SIGSEGV and SIGPIPE: exactly one record each', async () => {
    const child = runSignalTool('child');
    const segv = runSignalTool('segv');
    const pipe = runSignalTool('pipe');
    expect([segv.signal, pipe.signal]).toEqual(['SIGSEGV', 'SIGPIPE']);
    ourPids.add(child.child!);
    for (const run of [child, segv, pipe]) await toolExited(run);
    // The forked child (comm inherited) sends SIGCHLD to the tool when it exits, before the tool exits.
    expectExactly('SIGCHLD from the kernel', () => entriesOf(child.child!, ['signal']), [record(child, SIGCHLD, child.pid, 0, child.child!)]);
    expectExactly('SIGCHLD: nothing from the tool itself', signalsOf(child), []);
    expectExactly('SIGSEGV', signalsOf(segv), [record(segv, 11, segv.pid)]);
    expectExactly('SIGPIPE', signalsOf(pipe), [record(pipe, 13, pipe.pid)]);
  });
});

describe('trace_exec (input e2e.proc, with trace_signal)', () => {
  /** The enter and exit records an exec-probe run must give. */
  function execRecords(run: ExecProbeRun, path: string, argv: string[]): DecodedRecord[] {
    const n = argv.length;
    const common = {
      event_type: 'execve', pid: run.pid, filename: path,
      argv: argv[0] ?? '', argv1: argv[1] ?? '', argv2: argv[2] ?? '', argv_last: n > 3 ? argv[n - 1]! : '', argc: n,
    };
    const ok = run.errno === 0;
    const tail = (stage: string, comm: string, tid: number, error_raw: number) => {
      const { event_type, pid, ...strings } = common;
      return { event_type, pid, tid, comm, stage, ppid: run.parent, ...strings, error_raw };
    };
    return [
      tail('enter', EXEC_PROBE_COMM, run.tid, 0),
      // After a successful exec the new program runs under its own name, on the leader's tid.
      tail('exit', ok ? path.split('/').pop()! : EXEC_PROBE_COMM, ok ? run.pid : run.tid, run.errno),
    ];
  }

  async function execAndCheck(path: string, argv: string[]) {
    const run = runExecProbe([], path, argv);
    ourPids.add(run.pid);
    ourPids.add(run.parent);
    const select = () => entriesOf(run.pid, ['execve']);
    const entries = await arrived(select, 2, `the exec records of pid ${run.pid}`);
    expectExactly(`exec ${path} with ${argv.length} args`, select, execRecords(run, path, argv));
    const called = run.calledSec * 1000 + run.calledNsec / 1e6;
    expect(timeMs(entries[0]!)).toBeGreaterThanOrEqual(called - 1);
    expect(timeMs(entries[0]!)).toBeLessThanOrEqual(timeMs(entries[1]!));
    return { run, entries };
  }

  it.each([1, 3, 25])('execve with %i argument(s): enter and exit, argc and argv_last right', async (argc) => {
    const argv = ['echo', ...numberedArgs(argc - 1, 'e2e')];
    const { run, entries } = await execAndCheck('/bin/echo', argv);
    expect(run.status).toBe(0);
    expect(entries.map((e) => [e.record.argc, e.record.argv_last])).toEqual(Array(2).fill([argc, argc > 3 ? `e2e-${argc - 1}` : '']));
  });

  it('a missing file: the exit record has error_raw 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-e2e-'));
    rmSync(dir, { recursive: true });
    const { run, entries } = await execAndCheck(join(dir, 'missing'), ['missing', 'one', 'two', 'three']);
    expect(run.errno).toBe(2);
    expect(entries.map((e) => [e.record.stage, e.record.error_raw])).toEqual([['enter', 0], ['exit', 2]]);
  });
});

describe('every record of our children, once the CLI has delivered all and exited', () => {
  let mine: WireEntry[];

  beforeAll(async () => {
    expect(await cli.stop('SIGTERM')).toBe(0);
    mine = receivers.wire.filter((e) => ourPids.has(e.record.pid as number));
  });

  it('the CLI stopped cleanly: no error logged, nothing malformed', () => {
    expect(cli.stderr()).not.toMatch(/\[error\]|malformed|dropped in the reader/);
    expect(cli.stderr()).toMatch(/SIGTERM: stopping/);
  });

  it('each record set is still exactly what it was: nothing late, nothing twice', () => {
    for (const { what, select, records } of exact) expect(select().map((e) => e.record), what).toEqual(records);
  });

  it('documented keys in order (event_type, event_id, pid, tid, comm first), none twice, wire types, no NUL, tag, EventTime', () => {
    // Besides the cases: the helpers' own exec, their dynamic loader's opens, their exits' SIGCHLD...
    expect(new Set(mine.map((e) => e.record.event_type))).toEqual(new Set(Object.keys(FIELDS)));
    for (const e of mine) {
      expect(e.keys.slice(0, 5)).toEqual(['event_type', 'event_id', 'pid', 'tid', 'comm']);
      expectDocumented(e);
      expect(timeMs(e)).toBeGreaterThanOrEqual(testStart - 5);
    }
    console.log(`${mine.length} records from ${ourPids.size} processes of this test (${receivers.wire.length} received in all)`);
  });

  it("every other record received is documented too, and came from the test's cgroup", () => {
    // A cgroup's id is its directory's inode number.
    const ownCgroup = BigInt(statSync(cgroups.root).ino);
    // Up to a few thousand of each kind: the check is of each kind's form.
    const checked = new Map<unknown, number>();
    for (const e of receivers.wire) {
      expect(BigInt(e.container?.cgroup_id as number | bigint), `${String(e.record.event_type)} record of pid ${String(e.record.pid)}`).toBe(ownCgroup);
      const n = checked.get(e.record.event_type) ?? 0;
      if (n >= 5000) continue;
      checked.set(e.record.event_type, n + 1);
      expectDocumented(e);
    }
  });

  it('no event_id twice within a trace (each trace counts per CPU from 0)', () => {
    const traceOf = new Map<string, string>();
    for (const trace of traces.values()) {
      if (!('asIs' in trace.record)) for (const eventType of fieldsByEventType(trace.record).keys()) traceOf.set(eventType, trace.name);
    }
    const seen = new Map<string, Set<bigint>>();
    for (const e of receivers.wire) {
      const trace = traceOf.get(e.record.event_type as string)!;
      const ids = seen.get(trace) ?? new Set<bigint>();
      const id = BigInt(e.eventId!);
      expect(ids.has(id), `${trace}: event_id ${id} twice`).toBe(false);
      ids.add(id);
      seen.set(trace, ids);
    }
    expect(seen.size).toBe(6);
  });

  it('FluentServer accepted the same records', async () => {
    // @fluent-org/logger decodes 64-bit integers as numbers: compare those it can hold exactly.
    const exactNumber = (v: unknown) => typeof v !== 'bigint' || v <= BigInt(Number.MAX_SAFE_INTEGER);
    const comparable = (e: WireEntry) => Object.values(e.record).every(exactNumber);
    const asNumbers = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));
    const server = await waitFor(() => {
      const found = receivers.server.filter((e) => ourPids.has(e.record.pid as number));
      return found.length >= mine.length ? found : undefined;
    }, 5000, 'FluentServer to have every record');
    expect(server).toHaveLength(mine.length);
    const wireTime = (e: WireEntry) => e.time as { sec: number; nsec: number };
    const serverTime = (e: ServerEntry) => e.time as { epoch: number; nano: number };
    let compared = 0;
    mine.forEach((e, i) => {
      const s = server[i]!;
      if (!comparable(e)) return;
      compared++;
      expect({ tag: s.tag, record: s.record, sec: serverTime(s).epoch, nsec: serverTime(s).nano }).toEqual({
        tag: e.tag, record: asNumbers(e.record), sec: wireTime(e).sec, nsec: wireTime(e).nsec,
      });
    });
    expect(compared).toBeGreaterThan(mine.length / 2);
  });
});
