// The whole path, as a user runs it: the CLI with trace_signal and trace_exec
// forwarding to FluentServer on loopback; a kill -USR2 and an execl from a
// forked child arrive as the documented records within one Flush, and the
// bytes on the wire decode the same with an independent msgpack library.
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceivers, type Receivers, type WireEntry } from '../../support/receiver.js';
import { startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';
import { compileC } from '../../support/c-program.js';
import { expectNothingLoadedBy } from '../../support/bpf-loaded.js';

const FORK_EXEC = String.raw`
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
/* Prints "parent child", then the child execs echo with known arguments. */
int main(void) {
  int go[2];
  pipe(go);
  pid_t c = fork();
  if (c == 0) {
    char b;
    read(go[0], &b, 1);
    execl("/bin/echo", "echo", "ebpf-forward-e2e", "second", "third", "last-arg", (char *)0);
    _exit(127);
  }
  printf("%d %d\n", getpid(), c);
  fflush(stdout);
  write(go[1], "x", 1);
  waitpid(c, 0, 0);
  return 0;
}
`;

let receivers: Receivers;
let cli: RunningCli;

beforeAll(async () => {
  receivers = await startReceivers();
  const config = writeConfig(`[SERVICE]
    Flush      1
    Log_Level  info

[INPUT]
    Name   ebpf
    Trace  trace_signal
    Trace  trace_exec
    Tag    host.ebpf

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${receivers.port}
`);
  cli = startCli(['-c', config]);
  await cli.waitForLog(/tracing trace_signal, trace_exec/);
});

afterAll(async () => {
  await cli?.stop();
  await receivers?.close();
});

const wireFor = (pred: (e: WireEntry) => boolean) => receivers.wire.filter(pred);

function expectTime(entry: WireEntry, notBeforeMs: number, notAfterMs: number) {
  const t = entry.time as { sec: number; nsec: number };
  expect(typeof t).toBe('object'); // EventTime ext type 0, not an integer
  const ms = t.sec * 1000 + t.nsec / 1e6;
  expect(ms).toBeGreaterThanOrEqual(notBeforeMs - 5);
  expect(ms).toBeLessThanOrEqual(notAfterMs + 5);
}

describe('kernel events to a forward receiver', () => {
  it('kill -USR2 arrives as a signal record within one Flush', async () => {
    const target = spawn('sleep', ['30'], { stdio: 'ignore' });
    const before = Date.now();
    const kill = spawnSync('/bin/kill', ['-USR2', String(target.pid)]);
    expect(kill.status).toBe(0);
    const after = Date.now();
    const [entry] = await waitFor(() => {
      const found = wireFor((e) => e.record.event_type === 'signal' && e.record.tpid === target.pid && e.record.signal === 12);
      return found.length ? found : undefined;
    }, 2500, 'the signal record');
    const arrived = Date.now();
    expect(entry!.tag).toBe('host.ebpf');
    // Then the container fields (a host process: no container_id).
    expect(entry!.keys).toEqual(['event_type', 'event_id', 'pid', 'tid', 'comm', 'signal', 'tpid', 'error_raw', 'cgroup_id', 'mntns_id']);
    expect(entry!.record).toEqual({ event_type: 'signal', pid: entry!.record.tid, tid: entry!.record.tid, comm: 'kill', signal: 12, tpid: target.pid, error_raw: 0 });
    expect(entry!.types).toEqual({ event_type: 'str', event_id: 'uint', pid: 'uint', tid: 'uint', comm: 'str', signal: 'uint', tpid: 'uint', error_raw: 'uint', cgroup_id: 'uint', mntns_id: 'uint' });
    expectTime(entry!, before, after);
    const t = entry!.time as { sec: number; nsec: number };
    console.log(`signal: kernel event to receiver ${(arrived - (t.sec * 1000 + t.nsec / 1e6)).toFixed(1)} ms`);
    // The same record reached FluentServer.
    const server = await waitFor(() => receivers.server.find((e) => e.record.tpid === target.pid && e.record.signal === 12), 2000, 'FluentServer entry');
    expect(server.tag).toBe('host.ebpf');
    expect(server.record).toEqual(entry!.record);
    target.kill();
  });

  it('execl from a forked child arrives as enter and exit records', async () => {
    const tool = compileC('fork-exec', FORK_EXEC);
    const before = Date.now();
    const run = spawnSync(tool, { encoding: 'utf8' });
    const after = Date.now();
    const [parent, child] = run.stdout.trim().split('\n')[0]!.split(' ').map(Number);
    const records = await waitFor(() => {
      const found = wireFor((e) => e.record.event_type === 'execve' && e.record.pid === child);
      return found.length >= 2 ? found : undefined;
    }, 2500, 'the exec records');
    expect(records).toHaveLength(2);
    const [enter, exit] = records;
    const common = { event_type: 'execve', pid: child, tid: child, ppid: parent, filename: '/bin/echo', argv: 'echo', argv1: 'ebpf-forward-e2e', argv2: 'second', argv_last: 'last-arg', argc: 5, error_raw: 0 };
    expect(enter!.record).toEqual({ ...common, comm: 'fork-exec', stage: 'enter' });
    expect(exit!.record).toEqual({ ...common, comm: 'echo', stage: 'exit' });
    for (const e of [enter!, exit!]) {
      expect(e.tag).toBe('host.ebpf');
      expect(e.keys).toEqual(['event_type', 'event_id', 'pid', 'tid', 'comm', 'stage', 'ppid', 'filename', 'argv', 'argv1', 'argv2', 'argv_last', 'argc', 'error_raw', 'cgroup_id', 'mntns_id']);
      expect(e.types).toMatchObject({ event_type: 'str', pid: 'uint', tid: 'uint', comm: 'str', stage: 'str', ppid: 'uint', filename: 'str', argv: 'str', argv1: 'str', argv2: 'str', argv_last: 'str', argc: 'uint', error_raw: 'uint' });
      expectTime(e, before, after);
    }
    const te = enter!.time as { sec: number; nsec: number };
    const tx = exit!.time as { sec: number; nsec: number };
    expect(te.sec * 1e9 + te.nsec).toBeLessThanOrEqual(tx.sec * 1e9 + tx.nsec);
    const server = await waitFor(() => {
      const found = receivers.server.filter((e) => e.record.event_type === 'execve' && e.record.pid === child);
      return found.length >= 2 ? found : undefined;
    }, 2000, 'FluentServer entries');
    expect(server.map((e) => e.record)).toEqual([enter!.record, exit!.record]);
  });

  it('stops on SIGTERM: flushes, detaches, exits 0', async () => {
    const target = spawn('sleep', ['30'], { stdio: 'ignore' });
    spawnSync('/bin/kill', ['-USR1', String(target.pid)]);
    const code = await cli.stop('SIGTERM');
    expect(code).toBe(0);
    // The record buffered at SIGTERM was delivered before exit.
    expect(wireFor((e) => e.record.tpid === target.pid && e.record.signal === 10)).toHaveLength(1);
    // Nothing of ours stays in the kernel.
    await expectNothingLoadedBy(cli.process.pid!);
    target.kill();
  });
});
