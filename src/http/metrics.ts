// The counters the app already keeps, shown as Fluent Bit's monitoring API
// shows its own: Prometheus text (prom-client) and the /api/v1/metrics JSON.
// Everything is read when scraped; nothing here runs per record.
import { hostname } from 'node:os';
import { Counter, Gauge, Registry } from 'prom-client';
import type { AppCounters } from './app-view.js';
import type { OutputCounters } from '../outputs/types.js';

export type CountersSource = () => AppCounters;

/**
 * An output's failures as Fluent Bit's health check counts them, in chunks:
 * errors are failed delivery attempts (a refused connect, a lost connection,
 * a missing ack), retry failures the chunks given up at Retry_Limit. An
 * output that does not count chunks (stdout never fails) counts none.
 */
export function outputFailures(c: OutputCounters): { errors: number; retryFailures: number } {
  return { errors: c.errors ?? 0, retryFailures: c.retries_failed ?? 0 };
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);
const dropped = (c: OutputCounters) => sum(Object.values(c.records_dropped));

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** A counter or gauge whose values are read from the app at scrape time. */
function scraped(registry: Registry, kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[], read: () => Sample[]): void {
  const options = { name, help, labelNames, registers: [registry] };
  if (kind === 'counter') {
    new Counter({ ...options, collect() { this.reset(); for (const s of read()) this.inc(s.labels, s.value); } });
  } else {
    new Gauge({ ...options, collect() { this.reset(); for (const s of read()) this.set(s.labels, s.value); } });
  }
}

export interface MetricsOptions {
  counters: CountersSource;
  version: string;
  /** When the run started (ms since the epoch). */
  startedAt: number;
}

/** A registry of its own (not prom-client's global one) with Fluent Bit's metric names, then ours. */
export function prometheusRegistry({ counters, version, startedAt }: MetricsOptions): Registry {
  const registry = new Registry();
  const host = { hostname: hostname() };
  const inputs = () => counters().inputs;
  const outputs = () => counters().outputs;
  const perOutput = (read: (c: OutputCounters) => number) => () => outputs().map((o) => ({ labels: { name: o.instance }, value: read(o.counters) }));
  const perTrace = (read: (t: AppCounters['inputs'][number]['traces'][number]) => number | undefined) => () =>
    inputs().flatMap((i) => i.traces.flatMap((t) => {
      const value = read(t);
      return value === undefined ? [] : [{ labels: { name: i.instance, trace: t.trace }, value }];
    }));

  // Fluent Bit types it a counter; promtool refuses a counter without _total, so it is a gauge here.
  scraped(registry, 'gauge', 'fluentbit_uptime', 'Number of seconds it has been running', ['hostname'], () => [{ labels: host, value: Math.floor((Date.now() - startedAt) / 1000) }]);
  scraped(registry, 'gauge', 'fluentbit_process_start_time_seconds', 'Unix epoch time it started at', ['hostname'], () => [{ labels: host, value: Math.floor(startedAt / 1000) }]);
  scraped(registry, 'gauge', 'fluentbit_build_info', 'Build version information (the value is the start time, as Fluent Bit has it)', ['hostname', 'version', 'os'], () => [{ labels: { ...host, version, os: process.platform }, value: Math.floor(startedAt / 1000) }]);

  // A counter in Fluent Bit 5; promtool refuses a counter without _total, so a gauge here (as Fluent Bit 4 had it).
  scraped(registry, 'gauge', 'fluentbit_hot_reloaded_times', 'Collect the count of hot reloaded times.', ['hostname'], () => [{ labels: host, value: counters().reloads }]);

  scraped(registry, 'counter', 'fluentbit_input_records_total', 'Number of input records', ['name'], () => inputs().map((i) => ({ labels: { name: i.instance }, value: sum(i.traces.map((t) => t.records)) })));
  scraped(registry, 'counter', 'fluentbit_input_bytes_total', 'Number of input bytes', ['name'], () => inputs().map((i) => ({ labels: { name: i.instance }, value: sum(i.traces.map((t) => t.bytes)) })));

  scraped(registry, 'counter', 'fluentbit_output_proc_records_total', 'Number of processed output records', ['name'], perOutput((c) => c.records_sent));
  scraped(registry, 'counter', 'fluentbit_output_proc_bytes_total', 'Number of processed output bytes', ['name'], perOutput((c) => c.bytes_sent));
  scraped(registry, 'counter', 'fluentbit_output_dropped_records_total', 'Number of dropped records', ['name'], perOutput(dropped));
  scraped(registry, 'counter', 'fluentbit_output_retried_records_total', 'Number of retried records', ['name'], perOutput((c) => c.records_retried));
  scraped(registry, 'counter', 'fluentbit_output_errors_total', 'Number of output errors', ['name'], perOutput((c) => c.errors ?? 0));
  scraped(registry, 'counter', 'fluentbit_output_retries_total', 'Number of output retries', ['name'], perOutput((c) => c.retries ?? 0));
  scraped(registry, 'counter', 'fluentbit_output_retries_failed_total', 'Number of abandoned batches because the maximum number of re-tries was reached', ['name'], perOutput((c) => c.retries_failed ?? 0));

  scraped(registry, 'counter', 'ebpf_forward_input_unjournaled_records_total', 'Records a storage.type filesystem input handed on without journaling them (storage.path refused them: not crash-safe)', ['name'], () =>
    inputs().flatMap((i) => (i.unjournaled === undefined ? [] : [{ labels: { name: i.instance }, value: i.unjournaled }])));

  scraped(registry, 'counter', 'ebpf_forward_trace_records_total', 'Records a trace read from its ring buffer and handed on', ['name', 'trace'], perTrace((t) => t.records));
  scraped(registry, 'counter', 'ebpf_forward_trace_lost_total', 'Records a trace could not queue in the kernel (ring buffer full); absent for objects that keep no count', ['name', 'trace'], perTrace((t) => (t.lossesCounted ? t.lost : undefined)));
  scraped(registry, 'counter', 'ebpf_forward_trace_malformed_total', 'Records too short for their struct, not sent', ['name', 'trace'], perTrace((t) => t.malformed));
  scraped(registry, 'counter', 'ebpf_forward_trace_skipped_total', 'Records of a kind the trace does not know, not sent', ['name', 'trace'], perTrace((t) => t.skipped));
  scraped(registry, 'counter', 'ebpf_forward_trace_filtered_total', "Events the input's filters (pid, comm, uid, cgroup and their exclude forms) left out in the kernel; absent for objects without them", ['name', 'trace'], perTrace((t) => (t.filtersCounted ? t.filtered : undefined)));
  scraped(registry, 'gauge', 'ebpf_forward_trace_ring_fill_ratio', 'How full the trace\'s ring buffer is now (0 to 1): near 1, records are about to be lost in the kernel', ['name', 'trace'], perTrace((t) => t.ringFill));
  scraped(registry, 'counter', 'ebpf_forward_trace_reader_dropped_total', 'Records read from the ring but lost in the reader for want of memory', ['name', 'trace'], perTrace((t) => t.dropped));
  scraped(registry, 'counter', 'ebpf_forward_output_dropped_records_by_reason_total', 'Records an output gave up, by reason', ['name', 'reason'], () =>
    outputs().flatMap((o) => Object.entries(o.counters.records_dropped).map(([reason, value]) => ({ labels: { name: o.instance, reason }, value }))));
  scraped(registry, 'counter', 'ebpf_forward_output_acked_records_total', 'Records a receiver acknowledged (Require_ack_response)', ['name'], perOutput((c) => c.records_acked));
  scraped(registry, 'gauge', 'ebpf_forward_output_buffer_bytes', 'Bytes an output holds in memory now', ['name'], perOutput((c) => c.buffer_bytes));
  scraped(registry, 'counter', 'ebpf_forward_unrouted_records_total', 'Records that matched no output and were dropped', [], () => [{ labels: {}, value: counters().unrouted }]);
  return registry;
}

/** /api/v1/metrics: Fluent Bit's JSON shape (input/output by instance name), with each input's traces under it. */
export function metricsJson(counters: AppCounters): unknown {
  return {
    input: Object.fromEntries(counters.inputs.map((i) => [i.instance, {
      records: sum(i.traces.map((t) => t.records)),
      bytes: sum(i.traces.map((t) => t.bytes)),
      ...(i.unjournaled !== undefined ? { unjournaled_records: i.unjournaled } : {}),
      traces: Object.fromEntries(i.traces.map((t) => [t.trace, {
        records: t.records,
        bytes: t.bytes,
        ...(t.ringFill !== undefined ? { ring_fill: t.ringFill } : {}),
        ...(t.lossesCounted ? { lost: t.lost } : {}),
        malformed: t.malformed,
        skipped: t.skipped,
        reader_dropped: t.dropped,
        wakeups: t.wakeups,
        batches: t.batches,
        ...(t.filtersCounted ? { filtered: t.filtered } : {}),
      }])),
    }])),
    output: Object.fromEntries(counters.outputs.map((o) => [o.instance, {
      proc_records: o.counters.records_sent,
      proc_bytes: o.counters.bytes_sent,
      errors: o.counters.errors ?? 0,
      retries: o.counters.retries ?? 0,
      retries_failed: o.counters.retries_failed ?? 0,
      dropped_records: dropped(o.counters),
      retried_records: o.counters.records_retried,
    }])),
  };
}
