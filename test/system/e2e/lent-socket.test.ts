// At a low rate with one forward output, the ring reader writes batches to
// the receiver itself (the output lends it its socket: issue 19's cheaper
// wake-up). The records are the same: each one arrives once, whole, at
// FluentServer and decoded from the wire bytes, in order; the stop line says
// how many went that way. Receivers that go down under load, with the same
// path: outages.test.ts; the socket's own faults: test/outputs/forward/socket-loan.test.ts.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceivers, type Receivers } from '../../support/receiver.js';
import { startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';
import { compileC } from '../../support/c-program.js';

/** kill(self, 0) `count` times, `perSecond` a second; its comm is its file's name. */
const SIGNALLER = String.raw`
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int count = atoi(argv[1]), per_second = atoi(argv[2]);
  struct timespec gap = {0, 1000000000L / per_second};
  for (int i = 0; i < count; i++) {
    kill(getpid(), 0);
    nanosleep(&gap, 0);
  }
  return 0;
}
`;

const COMM = 'lent-signaller';

let receivers: Receivers | undefined;
let cli: RunningCli | undefined;
afterEach(async () => {
  await cli?.stop();
  await receivers?.close();
  cli = receivers = undefined;
});

function start(port: number): RunningCli {
  const config = writeConfig(`[SERVICE]
    Flush      1
    Grace      5

[INPUT]
    Name   ebpf
    Trace  trace_signal
    comm   ${COMM}
    Tag    lent

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${port}
`);
  return startCli(['-c', config]);
}

const mine = (r: Receivers, pid: number) => r.wire.filter((e) => e.record.pid === pid && e.record.signal === 0);

describe('the ring reader writing to the forward output\'s socket', () => {
  it('every record once, at FluentServer and on the wire, and the stop line says the reader wrote them', async () => {
    const signaller = compileC(COMM, SIGNALLER);
    receivers = await startReceivers();
    cli = start(receivers.port);
    await cli.waitForLog(/tracing trace_signal/);
    // 2 s at 200/s: some 20 batches, all but the first ones written by the reader.
    const run = spawnSync(signaller, ['400', '200']);
    expect(run.status).toBe(0);
    const pid = run.pid!;
    const r = receivers;
    await waitFor(() => (mine(r, pid).length >= 400 ? true : undefined), 10_000, '400 records');
    const entries = mine(r, pid);
    expect(entries).toHaveLength(400);
    expect(new Set(entries.map((e) => e.eventId)).size).toBe(400);
    const times = entries.map((e) => (e.time as { sec: number; nsec: number }).sec * 1e9 + (e.time as { sec: number; nsec: number }).nsec);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    await waitFor(() => (r.server.filter((e) => e.record.pid === pid).length >= 400 ? true : undefined), 5000, 'FluentServer entries');
    expect(await cli.stop('SIGTERM')).toBe(0);
    expect(cli.stderr()).toMatch(/ebpf\.0 trace_signal: \d+ records, 0 lost in the kernel/);
    const direct = cli.stderr().match(/trace_signal: (\d+) of its records written by the ring reader straight to the output's socket/);
    expect(direct, cli.stderr()).not.toBeNull();
    expect(Number(direct![1])).toBeGreaterThan(200);
    expect(cli.stderr()).toMatch(/records in (\d+), sent \1, acked 0, retried 0, dropped 0/);
  });
});
