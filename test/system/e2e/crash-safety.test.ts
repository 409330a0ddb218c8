// storage.type filesystem, as a user runs it: the CLI traces kill(2) calls of
// a child into a receiver that takes them but never acks, is SIGKILLed, and
// started again with a receiver that acks. With the journal the unacked
// records come back from disk, with their tag and kernel times; with
// storage.type memory they are gone.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildLoadgen, runLoadgen } from '../../../bench/loadgen.mjs';
import { IndependentReceiver, type ReceivedEntry } from '../../outputs/forward/receivers.js';
import { startCli, waitFor, writeConfig, type RunningCli } from '../../support/cli.js';
import { freePort } from '../../support/free-port.js';

const RECORDS = 2000;

let loadgen: string;
beforeAll(() => {
  loadgen = buildLoadgen() as string;
});

/** The loadgen worker's kill(getpid(), 0) records. */
const ofWorker = (receiver: IndependentReceiver, pid: number): ReceivedEntry[] => receiver.entries.filter((e) => e.record.pid === pid && e.record.signal === 0);
const timeOf = (e: ReceivedEntry) => e.time as { sec: number; nsec: number };

describe.each([
  ['filesystem', true],
  ['memory', false],
])('storage.type %s, SIGKILL with records not acked', (storageType, kept) => {
  let storage: string;
  const clis: RunningCli[] = [];
  const receivers: IndependentReceiver[] = [];
  afterEach(async () => {
    for (const cli of clis.splice(0)) await cli.stop('SIGKILL');
    for (const r of receivers.splice(0)) await r.close();
    rmSync(storage, { recursive: true, force: true });
  });

  it(kept ? 'the next start sends them again, tag and times as they were, and leaves no segment behind' : 'they are lost', async () => {
    storage = mkdtempSync(join(tmpdir(), 'ebpf-forward-crash-'));
    const silent = await new IndependentReceiver({ ack: false }).start();
    receivers.push(silent);
    const config = writeConfig(`[SERVICE]
    Flush         1
    Grace         2
    storage.path  ${storage}

[INPUT]
    Name          ebpf
    Trace         trace_signal
    Tag           crash.test
    storage.type  ${storageType}

[OUTPUT]
    Name                  forward
    Match                 *
    Port                  ${silent.port}
    Require_ack_response  on
    ack_response_timeout  60
    Retry_Limit           no_limits
`);
    const first = startCli(['-c', config]);
    clis.push(first);
    await first.waitForLog(/tracing trace_signal/);
    const job = (await runLoadgen('signal', RECORDS, 20_000)) as { pid: number };
    // Sent, never acked (the delivery slots then wait for their acks): read
    // by the CLI and held in its memory (and its journal) when it is killed.
    await waitFor(() => (ofWorker(silent, job.pid).length > 0 ? true : undefined), 20_000, 'records at the receiver');
    first.process.kill('SIGKILL');
    await first.exited;
    await waitFor(() => (silent.openConnections === 0 ? true : undefined), 10_000, 'the receiver to read to the end');
    const before = new Map(ofWorker(silent, job.pid).map((e) => [String(e.record.event_id), e]));
    expect(before.size, 'records told apart by their event_id').toBe(ofWorker(silent, job.pid).length);
    if (kept) expect(readdirSync(join(storage, 'ebpf.0')).filter((n) => n.endsWith('.journal')).length).toBeGreaterThan(0);

    await silent.close();
    receivers.splice(0);
    const acking = await new IndependentReceiver({ port: silent.port }).start();
    receivers.push(acking);
    const second = startCli(['-c', config]);
    clis.push(second);
    await second.waitForLog(/tracing trace_signal/);
    // Records of a new job arrive too: a later start sends what it traces, replayed or not.
    const marker = (await runLoadgen('signal', 10, 0)) as { pid: number };
    await waitFor(() => (ofWorker(acking, marker.pid).length === 10 ? true : undefined), 20_000, 'the new records');
    const again = () => ofWorker(acking, job.pid).filter((e) => before.has(String(e.record.event_id)));
    if (kept) {
      await waitFor(() => (again().length === before.size ? true : undefined), 20_000, `the ${before.size} unacked records again`);
      console.log(`storage.type filesystem: ${before.size} records sent unacked before SIGKILL, ${ofWorker(acking, job.pid).length} of the job's ${RECORDS} replayed`);
      for (const e of again()) {
        const original = before.get(String(e.record.event_id))!;
        expect(e.tag).toBe('crash.test');
        expect(timeOf(e)).toEqual(timeOf(original));
        expect(e.record).toEqual(original.record);
      }
      expect(new Set(ofWorker(acking, job.pid).map((e) => String(e.record.event_id))).size).toBe(ofWorker(acking, job.pid).length);
      // Logged once the replay is done, which may be after its records arrived.
      await second.waitForLog(/replayed \d+ records a previous run left in .*ebpf\.0/);
    } else {
      expect(before.size).toBeGreaterThan(0);
      expect(again()).toHaveLength(0);
    }
    expect(await second.stop('SIGTERM')).toBe(0);
    // Everything was acked: nothing is left on disk.
    const left = readdirSync(storage, { recursive: true }).map(String).filter((n) => n.endsWith('.journal') || n.endsWith('.chunk'));
    expect(left).toEqual([]);
  });
});

describe('storage.type filesystem without storage.path', () => {
  it('is one error line naming the [INPUT], exit 1, nothing attached', async () => {
    const config = writeConfig(`[INPUT]
    Name          ebpf
    Trace         trace_signal
    storage.type  filesystem
`);
    const cli = startCli(['-c', config]);
    expect(await cli.exited).toBe(1);
    const errors = cli.stderr().split('\n').filter((l) => l.startsWith('ebpf-forward:'));
    expect(errors).toEqual([`ebpf-forward: ${config}:4: storage.type filesystem keeps records under storage.path: set storage.path in [SERVICE]`]);
    expect(cli.stderr()).not.toMatch(/attached|\n\s+at /);
  });
});

/** An IndependentReceiver that acks until told to stop. */
class AckingUntilToldReceiver extends IndependentReceiver {
  stopAcking(): void {
    this.options.ack = false;
  }
}

/** A counter of the CLI's, from its Prometheus metrics: `metric{name="instance"}`. */
async function counter(httpPort: number, metric: string, instance: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/api/v1/metrics/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{name="${instance}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Waits until the CLI's counter is at least `least`. */
async function counterReaches(httpPort: number, metric: string, instance: string, least: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await counter(httpPort, metric, instance)) < least) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${metric} of ${instance} to reach ${least}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.each([
  ['on', 'acked by the receiver', 'ebpf_forward_output_acked_records_total'],
  ['off', 'written to the socket', 'fluentbit_output_proc_records_total'],
])('storage.type filesystem, Require_ack_response %s: SIGKILL after records were %s', (requireAck, _delivered, settledMetric) => {
  let storage: string;
  const clis: RunningCli[] = [];
  const receivers: IndependentReceiver[] = [];
  afterEach(async () => {
    for (const cli of clis.splice(0)) await cli.stop('SIGKILL');
    for (const r of receivers.splice(0)) await r.close();
    rmSync(storage, { recursive: true, force: true });
  });

  it('the next start sends again only what was not delivered', async () => {
    storage = mkdtempSync(join(tmpdir(), 'ebpf-forward-crash-'));
    // The generator under a name of this run's own, which the input's comm
    // filter alone lets through: the input's record count is then this
    // test's, whatever else runs kill(2) on the machine.
    const comm = `crash${randomBytes(4).toString('hex')}`;
    copyFileSync(loadgen, join(storage, comm));
    const generate = async (count: number) => JSON.parse((await promisify(execFile)(join(storage, comm), ['signal', String(count), '20000'])).stdout) as { pid: number };
    const receiver = await new AckingUntilToldReceiver().start();
    receivers.push(receiver);
    const httpPort = await freePort();
    // Flush 60: the delivered job and the one after it share a journal segment.
    const config = writeConfig(`[SERVICE]
    Flush         60
    Grace         2
    HTTP_Server   On
    HTTP_Listen   127.0.0.1
    HTTP_Port     ${httpPort}
    storage.path  ${storage}

[INPUT]
    Name          ebpf
    Trace         trace_signal
    Tag           crash.test
    storage.type  filesystem
    comm          ${comm}

[OUTPUT]
    Name                  forward
    Match                 *
    Port                  ${receiver.port}
    Require_ack_response  ${requireAck}
    ack_response_timeout  60
    Retry_Limit           no_limits
`);
    const first = startCli(['-c', config]);
    clis.push(first);
    await first.waitForLog(/tracing trace_signal/);
    // A job delivered whole (acked, or written), and the CLI told so...
    const delivered = await generate(RECORDS);
    await waitFor(() => (ofWorker(receiver, delivered.pid).length === RECORDS ? true : undefined), 20_000, 'the first job at the receiver');
    receiver.stopAcking();
    await counterReaches(httpPort, settledMetric, 'forward.0', receiver.entries.length);
    // ...then one read (and journaled) but not acked when the CLI is killed:
    // it may be held in the output's memory, waiting for a free connection.
    const readBefore = await counter(httpPort, 'fluentbit_input_records_total', 'ebpf.0');
    const underWay = await generate(RECORDS);
    await counterReaches(httpPort, 'fluentbit_input_records_total', 'ebpf.0', readBefore + RECORDS);
    first.process.kill('SIGKILL');
    await first.exited;
    await waitFor(() => (receiver.openConnections === 0 ? true : undefined), 10_000, 'the receiver to read to the end');
    const sentBefore = new Set(ofWorker(receiver, underWay.pid).map((e) => String(e.record.event_id)));

    await receiver.close();
    receivers.splice(0);
    const acking = await new IndependentReceiver({ port: receiver.port }).start();
    receivers.push(acking);
    const second = startCli(['-c', config]);
    clis.push(second);
    await second.waitForLog(/replayed \d+ records a previous run left in .*ebpf\.0/);
    // Sent after what was replayed before it.
    const marker = await generate(10);
    await waitFor(() => (ofWorker(acking, marker.pid).length === 10 ? true : undefined), 20_000, 'the new records');
    const duplicates = ofWorker(acking, delivered.pid).length;
    const sentAfter = new Set(ofWorker(acking, underWay.pid).map((e) => String(e.record.event_id)));
    const again = [...sentBefore].filter((id) => sentAfter.has(id)).length;
    console.log(`Require_ack_response ${requireAck}: ${duplicates} of ${RECORDS} delivered records sent again after SIGKILL; of a job of ${RECORDS} under way, ${sentBefore.size} had been sent, ${sentAfter.size} were sent after the restart (${again} of them twice)`);
    expect(duplicates).toBe(0);
    // Nothing read is lost; with acks, whatever was not acked comes again.
    expect(new Set([...sentBefore, ...sentAfter]).size).toBe(RECORDS);
    if (requireAck === 'on') expect(sentAfter.size).toBe(RECORDS);
    expect(await second.stop('SIGTERM')).toBe(0);
  });
});
