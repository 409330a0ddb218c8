// [SERVICE] HTTP_Server On, as an operator uses it: real requests to every
// endpoint of a running CLI whose trace_signal sees kill(2) calls the test
// makes, counts checked against what a forward receiver got, the Prometheus
// text read back by an independent parser, health turning to "error" while the output keeps
// failing, and a port in use or an address not of this host refused at start.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLoadedBy } from '../support/bpf-loaded.js';
import { repoRoot, runCli, startCli, writeConfig, type RunningCli } from '../support/cli.js';
import { startReceivers, type Receivers } from '../support/receiver.js';
import { runSignalTool, startSignalTarget } from '../support/signal-tool.js';
import { freePort } from '../support/free-port.js';

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The value of one sample line (`name{labels} value`) of a Prometheus text. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

/**
 * The Prometheus text read by an independent parser: every sample line is
 * one of its families' samples, and every family has a HELP and a TYPE.
 * Returns what is wrong, or '' when nothing is.
 */
function exposition(text: string): string {
  const families = parsePrometheusTextFormat(text) as { name: string; help?: string; type?: string; metrics: unknown[] }[];
  const samples = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).length;
  const parsed = families.reduce((n, f) => n + f.metrics.length, 0);
  const problems = families.filter((f) => !f.help || !f.type || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)).map((f) => `family ${f.name}: help ${f.help}, type ${f.type}`);
  if (parsed !== samples) problems.push(`${samples} sample lines, ${parsed} parsed`);
  return problems.join('; ');
}

/**
 * `promtool check metrics` (Debian's prometheus package, put there by
 * scripts/test-setup.sh) on a text: '' when it passes, else what it says.
 */
function promtool(text: string): string {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (run.error) throw new Error(`promtool: ${run.error.message} (scripts/test-setup.sh installs it: Debian's prometheus package)`);
  return run.status === 0 ? '' : `exit ${run.status}: ${run.stdout}${run.stderr}`;
}

function serviceConfig(httpPort: number, extra: string, output: string, listen = '127.0.0.1'): string {
  return writeConfig(`[SERVICE]
    Flush        1
    HTTP_Server  On
    HTTP_Listen  ${listen}
    HTTP_Port    ${httpPort}
${extra}
[INPUT]
    Name   ebpf
    Trace  trace_signal
    Tag    host.ebpf

${output}`);
}

describe('a run forwarding signal records', () => {
  let receivers: Receivers;
  let cli: RunningCli;
  let port: number;
  let target: number;

  beforeAll(async () => {
    receivers = await startReceivers();
    port = await freePort();
    cli = startCli(['-c', serviceConfig(port, '    Health_Check On', `[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${receivers.port}
`)]);
    await cli.waitForLog(/tracing trace_signal/);
    expect(cli.stderr()).toMatch(new RegExp(`HTTP server listening on 127\\.0\\.0\\.1:${port}\\n`));
    target = startSignalTarget();
    for (let i = 0; i < 5; i++) expect(runSignalTool('kill', target, 0).errno).toBe(0);
    // The five kill(target, 0) probes reached the receiver.
    await until('the probes at the receiver', async () =>
      receivers.wire.filter((e) => e.record.event_type === 'signal' && e.record.tpid === target && e.record.signal === 0).length >= 5 ? true : undefined);
  });

  afterAll(async () => {
    process.kill(target);
    expect(await cli?.stop()).toBe(0);
    await receivers?.close();
  });

  it('/ tells the version in Fluent Bit\'s shape', async () => {
    const r = await get(port, '/');
    expect(r).toMatchObject({ status: 200, type: 'application/json' });
    expect(JSON.parse(r.body)).toEqual({ 'fluent-bit': { version, edition: 'ebpf-forward', flags: [] } });
  });

  it('/api/v1/uptime gives seconds and the same in words', async () => {
    const r = await get(port, '/api/v1/uptime');
    expect(r).toMatchObject({ status: 200, type: 'application/json' });
    const body = JSON.parse(r.body) as { uptime_sec: number; uptime_hr: string };
    expect(Object.keys(body)).toEqual(['uptime_sec', 'uptime_hr']);
    expect(Number.isInteger(body.uptime_sec)).toBe(true);
    expect(body.uptime_hr).toBe(`ebpf-forward has been running: 0 days, 0 hours, ${Math.floor(body.uptime_sec / 60)} minute${Math.floor(body.uptime_sec / 60) === 1 ? '' : 's'} and ${body.uptime_sec % 60} second${body.uptime_sec % 60 === 1 ? '' : 's'}`);
  });

  it('/api/v1/metrics counts what the receiver got', async () => {
    const before = receivers.wire.length;
    const r = await get(port, '/api/v1/metrics');
    expect(r).toMatchObject({ status: 200, type: 'application/json' });
    const body = JSON.parse(r.body) as {
      input: Record<string, { records: number; bytes: number; traces: Record<string, Record<string, number>> }>;
      output: Record<string, Record<string, number>>;
    };
    expect(Object.keys(body.input)).toEqual(['ebpf.0']);
    expect(Object.keys(body.output)).toEqual(['forward.0']);
    const input = body.input['ebpf.0']!;
    const output = body.output['forward.0']!;
    expect(Object.keys(input.traces)).toEqual(['trace_signal']);
    expect(input.traces.trace_signal).toEqual({ records: input.records, bytes: input.bytes, ring_fill: expect.any(Number), lost: expect.any(Number), malformed: 0, skipped: 0, reader_dropped: 0, wakeups: expect.any(Number), batches: expect.any(Number), filtered: 0 });
    // Bytes of Forward entries: more than the smallest record's each, and a fill level in [0, 1].
    expect(input.bytes).toBeGreaterThan(input.records * 50);
    expect(input.traces.trace_signal!.ring_fill).toBeGreaterThanOrEqual(0);
    expect(input.traces.trace_signal!.ring_fill).toBeLessThanOrEqual(1);
    expect(Object.keys(output)).toEqual(['proc_records', 'proc_bytes', 'errors', 'retries', 'retries_failed', 'dropped_records', 'retried_records']);
    expect(output.dropped_records).toBe(0);
    // Sent records had been written before the scrape, so the receiver has
    // (or soon has) every one of them, and every record it had came through.
    expect(output.proc_records).toBeGreaterThanOrEqual(before);
    expect(input.records).toBeGreaterThanOrEqual(output.proc_records!);
    await until('the sent records at the receiver', async () => (receivers.wire.length >= output.proc_records! ? true : undefined));
    expect(output.proc_bytes).toBeGreaterThan(0);
  });

  for (const path of ['/api/v1/metrics/prometheus', '/api/v2/metrics/prometheus']) {
    it(`${path} has Fluent Bit's metric names, ours per trace, and parses as Prometheus text`, async () => {
      const before = receivers.wire.length;
      const r = await get(port, path);
      expect(r).toMatchObject({ status: 200, type: PROMETHEUS_TYPE });
      expect(exposition(r.body)).toBe('');
      const sent = sample(r.body, 'fluentbit_output_proc_records_total{name="forward.0"}');
      const read = sample(r.body, 'fluentbit_input_records_total{name="ebpf.0"}');
      expect(sent).toBeGreaterThanOrEqual(before);
      expect(read).toBeGreaterThanOrEqual(sent);
      expect(sample(r.body, 'ebpf_forward_trace_records_total{name="ebpf.0",trace="trace_signal"}')).toBe(read);
      expect(sample(r.body, 'fluentbit_output_proc_bytes_total{name="forward.0"}')).toBeGreaterThan(0);
      expect(sample(r.body, 'fluentbit_output_dropped_records_total{name="forward.0"}')).toBe(0);
      expect(sample(r.body, 'fluentbit_output_retried_records_total{name="forward.0"}')).toBe(0);
      expect(sample(r.body, 'ebpf_forward_trace_lost_total{name="ebpf.0",trace="trace_signal"}')).toBeGreaterThanOrEqual(0);
      expect(sample(r.body, 'ebpf_forward_trace_malformed_total{name="ebpf.0",trace="trace_signal"}')).toBe(0);
      expect(sample(r.body, 'fluentbit_input_bytes_total{name="ebpf.0"}')).toBeGreaterThan(read * 50);
      const fill = sample(r.body, 'ebpf_forward_trace_ring_fill_ratio{name="ebpf.0",trace="trace_signal"}');
      expect(fill).toBeGreaterThanOrEqual(0);
      expect(fill).toBeLessThanOrEqual(1);
      expect(r.body).toMatch(new RegExp(`^fluentbit_build_info\\{hostname="[^"]+",version="${version.replace(/\./g, '\\.')}",os="linux"\\} \\d+$`, 'm'));
      expect(r.body).toMatch(/^fluentbit_uptime\{hostname="[^"]+"\} \d+$/m);
      await until('the sent records at the receiver', async () => (receivers.wire.length >= sent ? true : undefined));
    });
  }

  it('both Prometheus texts pass promtool check metrics, with records counted (and it fails a text that breaks its rules)', async () => {
    for (const path of ['/api/v1/metrics/prometheus', '/api/v2/metrics/prometheus']) {
      const r = await get(port, path);
      expect(sample(r.body, 'fluentbit_input_records_total{name="ebpf.0"}')).toBeGreaterThanOrEqual(5);
      expect(promtool(r.body), path).toBe('');
    }
    // The check is real: Fluent Bit's uptime as the counter it is there fails it.
    const asFluentBit = (await get(port, '/api/v2/metrics/prometheus')).body.replace('# TYPE fluentbit_uptime gauge', '# TYPE fluentbit_uptime counter');
    expect(promtool(asFluentBit)).toMatch(/fluentbit_uptime counter metrics should have "_total" suffix/);
  });

  it('/api/v1/health is "ok" while the output delivers', async () => {
    expect(await get(port, '/api/v1/health')).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: 'ok' });
  });

  it('answers 404 to other paths and 405 to other methods', async () => {
    expect((await get(port, '/api/v1/nothing')).status).toBe(404);
    expect((await get(port, '/api/v1/metrics', 'POST')).status).toBe(405);
  });
});

describe('health', () => {
  // The output sends to a port nothing listens on, so every attempt fails (an
  // error) and the batch is given up (a retry failure): at once with
  // Retry_Limit no_retries, or after five retries a second apart. Each case
  // sets one limit to 0 and puts the other out of reach.
  const cases = [
    { turnsOn: 'retry failures', limits: 'HC_Errors_Count 1000000\n    HC_Retry_Failure_Count 0', retry: 'Retry_Limit no_retries' },
    { turnsOn: 'errors', limits: 'HC_Errors_Count 0\n    HC_Retry_Failure_Count 1000000\n    scheduler.base 1\n    scheduler.cap 1', retry: 'Retry_Limit 5' },
  ];
  for (const { turnsOn, limits, retry } of cases) {
    it(`turns to 500 "error" once the outputs' ${turnsOn} within HC_Period exceed their limit`, async () => {
      const port = await freePort();
      const closed = await freePort();
      const cli = startCli(['-c', serviceConfig(port, `    Health_Check On\n    HC_Period 60\n    ${limits}`, `[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${closed}
    ${retry}
`)]);
      try {
        await cli.waitForLog(/tracing trace_signal/);
        const target = startSignalTarget();
        runSignalTool('kill', target, 0);
        process.kill(target);
        const unhealthy = await until('health to turn', async () => {
          const r = await get(port, '/api/v1/health');
          return r.status === 200 ? undefined : r;
        });
        expect(unhealthy).toEqual({ status: 500, type: 'text/plain; charset=utf-8', body: 'error' });
        const metrics = await get(port, '/api/v1/metrics/prometheus');
        // Fluent Bit counts chunks: every failed connect is an error; a chunk
        // given up at Retry_Limit a retry failure (and its records dropped).
        expect(sample(metrics.body, 'fluentbit_output_errors_total{name="forward.0"}')).toBeGreaterThan(0);
        if (turnsOn === 'retry failures') {
          expect(sample(metrics.body, 'fluentbit_output_retries_failed_total{name="forward.0"}')).toBeGreaterThan(0);
          expect(sample(metrics.body, 'ebpf_forward_output_dropped_records_by_reason_total{name="forward.0",reason="retry_limit"}')).toBeGreaterThan(0);
        } else {
          expect(sample(metrics.body, 'fluentbit_output_errors_total{name="forward.0"}')).toBeGreaterThanOrEqual(sample(metrics.body, 'fluentbit_output_retries_total{name="forward.0"}'));
        }
        expect(sample(metrics.body, 'fluentbit_output_proc_records_total{name="forward.0"}')).toBe(0);
      } finally {
        await cli.stop();
      }
    });
  }

  it('without Health_Check there is no /api/v1/health, as in Fluent Bit', async () => {
    const port = await freePort();
    const cli = startCli(['-c', serviceConfig(port, '', '')]);
    try {
      await cli.waitForLog(/tracing trace_signal/);
      expect((await get(port, '/api/v1/health')).status).toBe(404);
      expect((await get(port, '/api/v1/metrics')).status).toBe(200);
    } finally {
      await cli.stop();
    }
  });
});

describe('a listen that fails is one error at start', () => {
  let taken: Server;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  });
  afterAll(() => new Promise((resolve) => taken.close(resolve)));

  it('a port in use: exit 1, one line at HTTP_Port, nothing left attached', async () => {
    const { port } = taken.address() as AddressInfo;
    const config = serviceConfig(port, '', '');
    const cli = startCli(['-c', config]);
    expect(await cli.exited).toBe(1);
    const errors = cli.stderr().split('\n').filter((l) => !/^\[.*\] \[ info\]/.test(l) && l !== '');
    expect(errors).toEqual([`ebpf-forward: ${config}:5: HTTP server: cannot listen on 127.0.0.1:${port}: the port is in use by another program; set HTTP_Port to a free port`]);
    expect(cli.stderr()).not.toMatch(/^\s+at /m);
    expect(cli.stderr()).not.toMatch(/attached|tracing/);
    await expectNothingLoadedBy(cli.process.pid!);
  });

  it('an address not of this host: exit 1 at HTTP_Listen', async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no host has it.
    const config = serviceConfig(await freePort(), '', '', '192.0.2.1');
    const r = await runCli(['-c', config]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ebpf-forward: ${config}:4: HTTP server: cannot listen on 192.0.2.1:`);
    expect(r.stderr).toMatch(/: 192\.0\.2\.1 is not an address of this host; set HTTP_Listen to one/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
