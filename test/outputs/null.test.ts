// The null output (-o null, as Fluent Bit's): the records of real kernel
// events, those of this test's own child processes (a kill copied under a
// name of its own, kept in the kernel by a comm filter), counted where the
// other outputs' counters are (/api/v1/metrics, Prometheus, the last log
// line) and written nowhere. A forward output beside it, to a receiver,
// shows which records there were: the null output counts every one.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, startCli, writeConfig, type RunningCli } from '../support/cli.js';
import { freePort } from '../support/free-port.js';
import { startReceivers, type Receivers } from '../support/receiver.js';

const COMM = 'nullout-kill';
const KILLS = 25;

async function metrics(port: number): Promise<{ json: any; prometheus: string }> {
  const json = await (await fetch(`http://127.0.0.1:${port}/api/v1/metrics`)).json();
  const prometheus = await (await fetch(`http://127.0.0.1:${port}/api/v1/metrics/prometheus`)).text();
  return { json, prometheus };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the null output', () => {
  let cli: RunningCli | undefined;
  let receivers: Receivers | undefined;
  afterEach(async () => {
    await cli?.stop('SIGINT');
    await receivers?.close();
    cli = receivers = undefined;
  });

  it("-o null counts the records of its own child processes' kills and writes nothing", async () => {
    const kill = join(mkdtempSync(join(tmpdir(), 'ebpf-forward-null-')), COMM);
    copyFileSync('/bin/kill', kill);
    receivers = await startReceivers();
    const port = await freePort();
    cli = startCli([
      '-i', 'ebpf', '-p', 'trace=trace_signal', '-p', `comm=${COMM}`,
      '-o', 'null', '-m', '*',
      '-o', 'forward', '-p', 'host=127.0.0.1', '-p', `port=${receivers.port}`, '-m', '*',
      '-H', '-P', String(port), '-f', '0.2',
    ]);
    await cli.waitForLog(/tracing trace_signal/);
    const pids = new Set<number>();
    for (let i = 0; i < KILLS; i++) {
      const run = spawnSync(kill, ['-0', String(process.pid)]);
      expect(run.status).toBe(0);
      pids.add(run.pid!);
    }

    // Every kill arrived at the receiver, and the null output has counted all the receiver got.
    const ourKills = () => receivers!.server.filter((e) => pids.has(e.record.pid as number) && e.record.signal === 0 && e.record.tpid === process.pid).length;
    let m = await metrics(port);
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; m = await metrics(port)) {
      if (ourKills() === KILLS && m.json.output['null.0'].proc_records === receivers.server.length && m.json.output['forward.1'].proc_records === receivers.server.length) break;
      await sleep(100);
    }
    expect(ourKills()).toBe(KILLS);
    const counted = m.json.output['null.0'];
    expect(counted).toMatchObject({ proc_records: receivers.server.length, dropped_records: 0, errors: 0, retries: 0 });
    expect(counted.proc_records).toBe(m.json.input['ebpf.0'].records);
    expect(counted.proc_bytes).toBeGreaterThan(KILLS * 20);
    expect(m.prometheus).toMatch(new RegExp(`^fluentbit_output_proc_records_total\\{name="null.0"\\} ${counted.proc_records}$`, 'm'));
    expect(m.prometheus).toMatch(new RegExp(`^fluentbit_output_proc_bytes_total\\{name="null.0"\\} ${counted.proc_bytes}$`, 'm'));

    expect(await cli.stop('SIGINT')).toBe(0);
    expect(cli.stderr()).toMatch(new RegExp(`\\[output:null:null\\.0\\] ${counted.proc_records} records \\(${counted.proc_bytes} bytes\\) discarded`));
    expect(cli.stdout()).toBe('');
  });

  it('null takes no keys: one is refused at its argument, as any unknown key', async () => {
    const r = await runCli(['-i', 'ebpf', '-p', 'trace=trace_exec', '-o', 'null', '-p', 'format=json', '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ebpf-forward: command line:7: unknown key "format" in \[OUTPUT\] null/);
  });

  it('YAML: `name: null` is the null output (the failsafe schema keeps it a string), as in Fluent Bit', async () => {
    const path = writeConfig('pipeline:\n  inputs:\n    - name: ebpf\n      trace: trace_exec\n  outputs:\n    - name: null\n      match: "*"\n', 'ebpf-forward.yaml');
    expect(await runCli(['-c', path, '--dry-run'])).toMatchObject({ code: 0, stdout: 'configuration test is successful\n' });
  });
});
