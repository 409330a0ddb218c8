// Bring your own BPF object, on the real kernel, as a user runs it: the CLI
// with conf/examples/process_exits.conf (next to a Trace line, and a second
// input with other BPF_Set knobs) forwarding to a receiver that decodes the
// bytes on the wire itself, keeping each value's msgpack type. Children the
// test starts exit, are killed and dump core; each exit arrives with every
// member of struct process_exit as the documented type, and its EventTime
// from the struct's ktime_ns. Bad objects (no BTF, no such struct, no such
// ring buffer, a program the verifier refuses) stop the CLI with one clear
// line, leaving nothing loaded.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExtensionCodec, decode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bpfObjectSelection } from '../../../src/config/bpf-object.js';
import { TraceStartError } from '../../../src/inputs/start-errors.js';
import { TraceSession } from '../../../src/inputs/trace-session.js';
import { expectNothingLoadedBy, loadedBy } from '../../support/bpf-loaded.js';
import { repoRoot, runCli, startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';

const exampleDir = join(repoRoot, 'conf', 'examples');
const exampleObject = join(exampleDir, 'process_exits.bpf.o');
const exampleConfig = readFileSync(join(exampleDir, 'process_exits.conf'), 'utf8');
const arch = { x64: 'x86', arm64: 'arm64' }[process.arch as string] ?? process.arch;

// ---- A forward receiver that keeps each value's msgpack type ----

/** A value's msgpack type as sent: "uint", "int", "str", "bool"..., arrays and maps of them. */
type WireType = string | WireType[] | { [key: string]: WireType };

interface Entry {
  tag: string;
  time: { sec: number; nsec: number } | number;
  record: Record<string, unknown>;
  types: Record<string, WireType>;
}

/** Walks the msgpack value at `at`: its type tree, its text if a string, and where it ends. Throws RangeError past the end. */
function walk(b: Buffer, at: number): { type: WireType; text?: string; end: number } {
  if (at >= b.length) throw new RangeError('incomplete');
  const t = b[at]!;
  const need = (n: number) => {
    if (at + n > b.length) throw new RangeError('incomplete');
  };
  const str = (len: number, head: number) => {
    need(head + len);
    return { type: 'str', text: b.toString('utf8', at + head, at + head + len), end: at + head + len };
  };
  const seq = (n: number, head: number, isMap: boolean) => {
    let p = at + head;
    if (isMap) {
      const map: Record<string, WireType> = {};
      for (let i = 0; i < n; i++) {
        const key = walk(b, p);
        const value = walk(b, key.end);
        map[key.text ?? `?${i}`] = value.type;
        p = value.end;
      }
      return { type: map, end: p };
    }
    const list: WireType[] = [];
    for (let i = 0; i < n; i++) {
      const value = walk(b, p);
      list.push(value.type);
      p = value.end;
    }
    return { type: list, end: p };
  };
  if (t <= 0x7f) return { type: 'uint', end: at + 1 };
  if (t >= 0xe0) return { type: 'int', end: at + 1 };
  if (t >= 0xa0 && t <= 0xbf) return str(t & 0x1f, 1);
  if (t >= 0x80 && t <= 0x8f) return seq(t & 0x0f, 1, true);
  if (t >= 0x90 && t <= 0x9f) return seq(t & 0x0f, 1, false);
  const scalar = (type: string, size: number) => (need(size), { type, end: at + size });
  switch (t) {
    case 0xc0: return { type: 'nil', end: at + 1 };
    case 0xc2: case 0xc3: return { type: 'bool', end: at + 1 };
    case 0xcc: return scalar('uint', 2);
    case 0xcd: return scalar('uint', 3);
    case 0xce: return scalar('uint', 5);
    case 0xcf: return scalar('uint', 9);
    case 0xd0: return scalar('int', 2);
    case 0xd1: return scalar('int', 3);
    case 0xd2: return scalar('int', 5);
    case 0xd3: return scalar('int', 9);
    case 0xca: return scalar('float', 5);
    case 0xcb: return scalar('float', 9);
    case 0xd7: need(2); return scalar(`ext${b[at + 1]}`, 10);
    case 0xd9: need(2); return str(b[at + 1]!, 2);
    case 0xda: need(3); return str(b.readUInt16BE(at + 1), 3);
    case 0xc4: need(2); return scalar('bin', 2 + b[at + 1]!);
    case 0xc5: need(3); return scalar('bin', 3 + b.readUInt16BE(at + 1));
    case 0xc6: need(5); return scalar('bin', 5 + b.readUInt32BE(at + 1));
    case 0xdc: need(3); return seq(b.readUInt16BE(at + 1), 3, false);
    case 0xde: need(3); return seq(b.readUInt16BE(at + 1), 3, true);
  }
  throw new Error(`msgpack type 0x${t.toString(16)} is not expected in a Forward message`);
}

const eventTime = new ExtensionCodec();
eventTime.register({ type: 0, encode: () => null, decode: (d: Uint8Array) => ({ sec: Buffer.from(d).readUInt32BE(0), nsec: Buffer.from(d).readUInt32BE(4) }) });

/** The entries of one Forward-mode message, [tag, [[time, record]...], options?], with their types. */
function entriesOf(message: Buffer): Entry[] {
  const [tag, entries] = decode(message, { extensionCodec: eventTime }) as [string, [Entry['time'], Record<string, unknown>][]];
  const shape = walk(message, 0).type as WireType[];
  if (!Array.isArray(entries)) throw new Error(`not a Forward-mode message (${JSON.stringify(shape)})`);
  const types = shape[1] as [WireType, Record<string, WireType>][];
  return entries.map(([time, record], i) => ({ tag, time, record, types: types[i]![1] }));
}

interface Receiver {
  port: number;
  entries: Entry[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const entries: Entry[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        let end: number;
        try {
          end = walk(pending, 0).end;
        } catch (err) {
          if (err instanceof RangeError) break;
          throw err;
        }
        entries.push(...entriesOf(pending.subarray(0, end)));
        pending = pending.subarray(end);
      }
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    entries,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- Children whose exits are traced ----

interface Exited {
  pid: number;
  /** Wall-clock ms just before the spawn and when its exit was seen. */
  before: number;
  after: number;
}

function run(command: string, args: string[], options: SpawnOptions = {}, onSpawn?: (child: ChildProcess) => void): Promise<Exited> {
  const before = Date.now();
  const child = spawn(command, args, { stdio: 'ignore', ...options });
  child.on('spawn', () => onSpawn?.(child));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => resolve({ pid: child.pid!, before, after: Date.now() }));
  });
}

/** The parent of a process, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function expectTimeWithin(entry: Entry, child: Exited): void {
  expect(typeof entry.time).toBe('object'); // EventTime, nanoseconds
  const t = entry.time as { sec: number; nsec: number };
  const ms = t.sec * 1000 + t.nsec / 1e6;
  expect(ms).toBeGreaterThanOrEqual(child.before - 5);
  expect(ms).toBeLessThanOrEqual(child.after + 5);
}

/** Every member of struct process_exit, in order, with its msgpack type for these values. */
const recordTypes = (nice: 'uint' | 'int') => ({
  ktime_ns: 'uint',
  age_ns: 'uint',
  pid: 'uint',
  ancestors: ['uint', 'uint', 'uint'],
  ids: { uid: 'uint', gid: 'uint' },
  how: 'str',
  status: 'uint',
  signal: 'uint',
  failed: 'bool',
  nice,
  comm: 'str',
});

let receiver: Receiver;
let cli: RunningCli;
let coreDir: string;

beforeAll(async () => {
  receiver = await startReceiver();
  coreDir = mkdtempSync(join(tmpdir(), 'ebpf-forward-core-'));
  // The example as it is, pointed at its object and the receiver, and
  // narrowed to this test's children; a Trace line in the same input.
  const example = exampleConfig
    .replace(/^(\s+BPF_Object\s+)process_exits\.bpf\.o$/m, `$1${exampleObject}`)
    .replace(/^(\s+)BPF_Set(\s+)failed_only=off$/m, `$&\n$1BPF_Set$2parent_pid=${process.pid}\n$1Trace  trace_signal`);
  expect(example).toContain(`parent_pid=${process.pid}`);
  // A second input: the same object, other knobs, no time field.
  const config = writeConfig(`${example}
[INPUT]
    Name             ebpf
    Tag              test.failed
    BPF_Object       ${exampleObject}
    BPF_Record_Type  process_exit
    BPF_Set          parent_pid=${process.pid}
    BPF_Set          failed_only=on
    BPF_Set          only_comm=sh

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${receiver.port}
`);
  cli = startCli(['-c', config]);
  await cli.waitForLog(/tracing trace_signal, bpf_object process_exits\.bpf\.o, bpf_object process_exits\.bpf\.o/);
}, 30_000);

afterAll(async () => {
  await cli?.stop();
  await receiver?.close();
  if (coreDir) rmSync(coreDir, { recursive: true, force: true }); // the core sh dumped
});

const exitsOf = (tag: string, pid: number) => receiver.entries.filter((e) => e.tag === tag && e.record.pid === pid && 'how' in e.record);
const oneExit = (tag: string, child: Exited, what: string) =>
  waitFor(() => {
    const found = exitsOf(tag, child.pid);
    return found.length ? found : undefined;
  }, 5000, what);

describe('conf/examples/process_exits.conf to a forward receiver', () => {
  const ancestors = () => [process.pid, process.ppid, parentOf(process.ppid)];
  let failedAsNobody: Exited;
  let niceSuccess: Exited;
  let killed: Exited;
  let dumped: Exited;

  beforeAll(async () => {
    failedAsNobody = await run('sh', ['-c', 'exit 3'], { uid: 65534, gid: 65534 });
    niceSuccess = await run('nice', ['-n', '-5', 'sh', '-c', 'exit 0']);
    killed = await run('sleep', ['30'], {}, (child) => child.kill('SIGKILL'));
    dumped = await run('sh', ['-c', 'ulimit -c unlimited; kill -ABRT $$'], { cwd: coreDir });
  });

  it('an exit status: every member, its value and its msgpack type; the time from ktime_ns', async () => {
    const [entry, ...more] = await oneExit('host.exits', failedAsNobody, 'the exit 3 record');
    expect(more).toEqual([]);
    expect(entry!.record).toEqual({
      ktime_ns: expect.any(Number),
      age_ns: expect.any(Number),
      pid: failedAsNobody.pid,
      ancestors: ancestors(),
      ids: { uid: 65534, gid: 65534 },
      how: 'exited',
      status: 3,
      signal: 0,
      failed: true,
      nice: 0,
      comm: 'sh',
    });
    expect(Object.keys(entry!.record)).toEqual(Object.keys(recordTypes('uint')));
    expect(entry!.types).toEqual(recordTypes('uint'));
    expectTimeWithin(entry!, failedAsNobody);
    const age = entry!.record.age_ns as number;
    expect(age).toBeGreaterThan(0);
    expect(age).toBeLessThanOrEqual((failedAsNobody.after - failedAsNobody.before + 5) * 1e6);
  });

  it('a negative signed member goes as a msgpack int; success is failed: false', async () => {
    const [entry] = await oneExit('host.exits', niceSuccess, 'the nice -5 record');
    expect(entry!.record).toMatchObject({ pid: niceSuccess.pid, how: 'exited', status: 0, signal: 0, failed: false, nice: -5, comm: 'sh', ids: { uid: 0, gid: 0 } });
    expect(entry!.types).toEqual(recordTypes('int'));
    expectTimeWithin(entry!, niceSuccess);
  });

  it('SIGKILL: the enum as its enumerator, killed, with the signal; trace_signal sees the kill in the same input', async () => {
    const [entry] = await oneExit('host.exits', killed, 'the SIGKILL record');
    expect(entry!.record).toMatchObject({ pid: killed.pid, ancestors: ancestors(), how: 'killed', status: 0, signal: 9, failed: true, comm: 'sleep' });
    expect(entry!.types).toEqual(recordTypes('uint'));
    expectTimeWithin(entry!, killed);
    const kill = await waitFor(() => receiver.entries.find((e) => e.tag === 'host.exits' && e.record.event_type === 'signal' && e.record.tpid === killed.pid && e.record.signal === 9), 5000, 'the trace_signal record');
    expect(kill.record.pid).toBe(process.pid);
  });

  it('a core dump: how is dumped_core', async () => {
    const [entry] = await oneExit('host.exits', dumped, 'the SIGABRT record');
    expect(entry!.record).toMatchObject({ pid: dumped.pid, how: 'dumped_core', status: 0, signal: 6, failed: true, comm: 'sh' });
    expectTimeWithin(entry!, dumped);
  });

  it('BPF_Set changes what is recorded: failed_only=on and only_comm=sh keep the failed sh exits only', async () => {
    const failed = await oneExit('test.failed', failedAsNobody, 'exit 3 in the second input');
    const core = await oneExit('test.failed', dumped, 'the core dump in the second input');
    // One ring holds an input's records in the order they were made: once a
    // later exit has arrived, the earlier ones that are not there were never sent.
    const marker = await run('sh', ['-c', 'exit 4']);
    await oneExit('test.failed', marker, 'the marker exit');
    expect(exitsOf('test.failed', niceSuccess.pid)).toEqual([]); // status 0
    expect(exitsOf('test.failed', killed.pid)).toEqual([]); // comm sleep
    expect(failed.map((e) => e.record.how)).toEqual(['exited']);
    expect(core.map((e) => e.record.how)).toEqual(['dumped_core']);
    // The same record, but without BPF_Time_Field: its time is when it was read, after the kernel's.
    const [inExample] = await oneExit('host.exits', failedAsNobody, 'exit 3 in the example input');
    // (Each input has its own object, which reads the clock itself.)
    const { ktime_ns: _k, age_ns: _a, ...same } = inExample!.record;
    expect(failed[0]!.record).toEqual({ ...same, ktime_ns: expect.any(Number), age_ns: expect.any(Number) });
    const kernel = inExample!.time as { sec: number; nsec: number };
    const read = failed[0]!.time as { sec: number; nsec: number };
    expect(read.sec * 1e9 + read.nsec).toBeGreaterThanOrEqual(kernel.sec * 1e9 + kernel.nsec);
  });

  it('the object is loaded while the CLI runs, and nothing is left once it stops', async () => {
    const pid = cli.process.pid!;
    // One handle_exit per input (bpf_loaded.ts finds them by self_tgid, which the example declares).
    expect(loadedBy(pid).programs.filter((p) => p === 'handle_exit')).toHaveLength(2);
    // Read through the descriptor it was checked on, named after its file all the same (libbpf's prefix: the name up to its first dot).
    expect(loadedBy(pid).maps.filter((m) => m.startsWith('process'))).toEqual(['process_.rodata', 'process_.rodata']);
    expect(await cli.stop('SIGTERM')).toBe(0);
    expect(cli.stderr()).toMatch(/ebpf\.0 bpf_object process_exits\.bpf\.o: \d+ records, 0 lost in the kernel/);
    await expectNothingLoadedBy(pid);
  });
});

// ---- Bad objects: exit 1, one line, nothing loaded ----

/** A standalone object built without -g: no BTF (CO-RE reads need -g, so not the example). */
const WITHOUT_BTF = String.raw`
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "Dual BSD/GPL";
struct process_exit { __u64 ktime_ns; __u32 pid; __u32 status; };
const struct process_exit *unused __attribute__((unused));
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
SEC("tracepoint/sched/sched_process_exit")
int handle_exit(void *ctx) { return 0; }
`;

/** Compiles a BPF C source into a temp folder; returns the object's path. */
function buildObject(name: string, source: string, args: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-byo-'));
  writeFileSync(join(dir, `${name}.bpf.c`), source);
  const includes = ['-I', join(repoRoot, 'bpf', '.output'), '-I', `/usr/include/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`];
  execFileSync('clang', [...args, '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, ...includes, '-c', join(dir, `${name}.bpf.c`), '-o', join(dir, `${name}.bpf.o`)]);
  return join(dir, `${name}.bpf.o`);
}

/** A standalone object whose program reads memory through a number: every verifier refuses it. */
const REFUSED = String.raw`
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "Dual BSD/GPL";
struct refused_sample { __u64 ts_ns; __u32 value; __u32 flags; };
const struct refused_sample *unused __attribute__((unused));
const volatile __u32 self_tgid = 0;
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
SEC("tracepoint/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	int *p = (int *)(long)bpf_get_prandom_u32();
	return *p + self_tgid;
}
`;

function inputFor(object: string, extra: string[] = []): string {
  return writeConfig(['[INPUT]', '    Name ebpf', `    BPF_Object ${object}`, '    BPF_Record_Type process_exit', ...extra.map((l) => `    ${l}`), ''].join('\n'));
}

async function expectOneLineExit(config: string, message: RegExp): Promise<void> {
  const cli = startCli(['-c', config]);
  const code = await cli.exited;
  expect(code).toBe(1);
  const lines = cli.stderr().trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(cli.stderr()).not.toMatch(/\n\s+at .+:\d+:\d+|Error:/);
  await expectNothingLoadedBy(cli.process.pid!);
}

describe('a bad object stops the CLI with one clear line', () => {
  it('an object built without -g (no BTF)', async () => {
    const object = buildObject('no_btf', WITHOUT_BTF, []);
    const config = inputFor(object);
    await expectOneLineExit(config, new RegExp(`^ebpf-forward: ${config}:3: BPF_Object ${object}: it has no BTF, where ebpf-forward reads its record layout: build it with clang -g$`));
  });

  it('a struct that is not in its BTF', async () => {
    const config = writeConfig(['[INPUT]', '    Name ebpf', `    BPF_Object ${exampleObject}`, '    BPF_Record_Type exit_event', ''].join('\n'));
    await expectOneLineExit(config, new RegExp(`^ebpf-forward: ${config}:4: BPF_Record_Type exit_event: process_exits\\.bpf\\.o's BTF has no struct exit_event \\(structs its globals use: process_exit\\); a struct is in BTF when a global uses it, e\\.g\\. const struct exit_event \\*unused __attribute__\\(\\(unused\\)\\);$`));
  });

  it('a ring buffer name it does not have', async () => {
    const config = inputFor(exampleObject, ['ringbuf_map_name exits']);
    await expectOneLineExit(config, new RegExp(`^ebpf-forward: ${config}:3: BPF_Object ${exampleObject}: it has no map named exits, which ringbuf_map_name exits \\(${config}:5\\) names \\(its ring buffer maps: events; set ringbuf_map_name to one\\)$`));
  });

  it('--dry-run catches the same at config load, and passes the example', async () => {
    const bad = await runCli(['-c', inputFor(exampleObject, ['BPF_Set failed_only=maybe']), '--dry-run']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/:5: BPF_Set failed_only=maybe: failed_only is bool, a bool \(on\/off or true\/false\): "maybe" is neither\n$/);
    const good = await runCli(['-c', join(exampleDir, 'process_exits.conf'), '--dry-run']);
    expect([good.code, good.stdout]).toEqual([0, 'configuration test is successful\n']);
  });

  it('a program the verifier refuses: the program, its hook and the verifier\'s reason; nothing loaded', async () => {
    const object = buildObject('refused', REFUSED, ['-g']);
    const config = writeConfig(['[INPUT]', '    Name ebpf', `    BPF_Object ${object}`, '    BPF_Record_Type refused_sample', '    Trace_Error exit', ''].join('\n'));
    const cli = startCli(['-c', config]);
    expect(await cli.exited).toBe(1);
    const errors = cli.stderr().trim().split('\n').filter((l) => !/\[ info\]/.test(l));
    expect(errors).toEqual([
      // At its BPF_Object line, as a config error is. The source file and
      // line come where the verifier says them (6.1's gives the source line only).
      expect.stringMatching(
        /^ebpf-forward: \S+\.conf:3: bpf_object refused\.bpf\.o: the kernel's verifier rejected handle_exit \(tracepoint sched:sched_process_exit\): R\d invalid mem access 'scalar', at `[^`]+`(?: \([\w.-]+\.bpf\.c:\d+\))?; bpf_object refused\.bpf\.o needs a kernel that has the hooks its programs name \(tracepoint\/sched\/sched_process_exit\) and whose verifier accepts them \(Trace_Error exit: stopping\)$/,
      ),
    ]);
    await expectNothingLoadedBy(cli.process.pid!);
  });
});

// ---- Objects others could change: kernel code only root may write ----

describe('an object others could change is refused: at start, --dry-run and as a session loads it', () => {
  /** A copy of the example's object, in a new folder of root's, with this mode. */
  function exampleCopy(mode: number): string {
    const object = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-byo-')), 'process_exits.bpf.o');
    copyFileSync(exampleObject, object);
    chmodSync(object, mode);
    return object;
  }

  it('mode 0666: the CLI exits with one line at BPF_Object, saying chmod go-w; nothing loaded', async () => {
    const object = exampleCopy(0o666);
    const config = inputFor(object);
    const line = `ebpf-forward: ${config}:3: BPF_Object ${object}: it is mode 0666, writable by its group (gid 0) and others: they could change the kernel code it loads; chmod go-w ${object}`;
    await expectOneLineExit(config, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    const dryRun = await runCli(['-c', config, '--dry-run']);
    expect([dryRun.code, dryRun.stderr]).toEqual([1, `${line}\n`]);
  });

  it('owned by nobody: the same at --dry-run, saying chown root', async () => {
    const object = exampleCopy(0o644);
    chownSync(object, 65534, 65534);
    const dryRun = await runCli(['-c', inputFor(object), '--dry-run']);
    expect(dryRun.code).toBe(1);
    expect(dryRun.stderr).toMatch(/:3: BPF_Object \S+: it is owned by uid 65534, not root: that user could change the kernel code it loads; chown root \S+ and chmod go-w \S+\n$/);
  });

  it('a session checks the file it loads again, on the descriptor libbpf reads: made 0666 after the config load, it is refused', () => {
    const object = exampleCopy(0o644);
    const selection = bpfObjectSelection({ object: { key: 'BPF_Object', name: 'bpf_object', value: object, file: 'test.conf', line: 3 }, recordType: { key: 'BPF_Record_Type', name: 'bpf_record_type', value: 'process_exit', file: 'test.conf', line: 4 }, sets: [], ringbufMapName: 'events', configDir: '/' })!;
    const options = { trace: selection.trace, settings: { keys: new Map(), selfPid: process.pid }, ringbufMapName: 'events', ringbufBytes: 1 << 16, onChunk: () => {} };
    TraceSession.load(options).close();
    chmodSync(object, 0o666);
    expect(() => TraceSession.load(options)).toThrow(new TraceStartError(selection.trace.name, `bpf_object process_exits.bpf.o: BPF_Object ${object}: it is mode 0666, writable by its group (gid 0) and others: they could change the kernel code it loads; chmod go-w ${object}`));
  });
});
