// trace_sched: context switches, with the run-queue latency of the task
// switched in, narrowed in the kernel by the input's filters (applied to that
// task) and by a least latency.
import type { Knobs } from '../../records/knobs.js';
import { processFilterKeys } from '../../task-filter/keys.js';
import type { TraceDefinition, TraceKey, TraceSettings } from '../types.js';

const nsPerUnit: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n };

/** Nanoseconds from "250000" (plain nanoseconds), "250us", "1.5ms", "2s"; undefined if the text is none of these. */
export function durationToNs(text: string): bigint | undefined {
  const m = /^(\d+)(?:\.(\d+))?(ns|us|µs|ms|s)?$/i.exec(text.trim());
  if (!m) return undefined;
  const [, whole, fraction = '', unit = 'ns'] = m;
  const scale = nsPerUnit[unit.toLowerCase()]!;
  const digits = 10n ** BigInt(fraction.length);
  const ns = (BigInt(whole!) * digits + BigInt(fraction || '0')) * scale;
  // Whole nanoseconds only: "1.5ns" means nothing to the kernel's clock.
  return ns % digits === 0n ? ns / digits : undefined;
}

const minLatencyKey: TraceKey = {
  name: 'sched_min_runq_latency',
  description: 'only switches whose task waited at least this long on the run queue since its wake-up, checked in the kernel: nanoseconds, or a number with ns, us, ms or s (100us, 1.5ms); 0 (the default) records every switch',
  parse(value) {
    const ns = durationToNs(value);
    if (ns === undefined) {
      throw new Error(`sched_min_runq_latency: '${value}' is not a duration: use whole nanoseconds (250000) or a number with ns, us, ms or s (250us, 1.5ms)`);
    }
    if (ns >= 1n << 64n) throw new Error(`sched_min_runq_latency: '${value}' is more than 2^64 nanoseconds`);
    return ns;
  },
};

const FILTER = 'sched';

/** Writes sched_min_runq_latency into the program's knob. */
function configureSched(knobs: Knobs, settings: TraceSettings): void {
  knobs.set('min_runq_latency_ns', (settings.keys.get('sched_min_runq_latency') as bigint | undefined) ?? 0n);
}

export const trace_sched: TraceDefinition = {
  name: 'trace_sched',
  summary: 'context switches: the task switched in and out, and how long the one switched in waited on the run queue',
  object: 'sched.bpf.o',
  needs: 'BTF tracepoints (tp_btf) sched_switch, sched_wakeup and sched_wakeup_new (Linux 5.18+, for sched_switch\'s prev_state) and BPF task storage',
  record: {
    struct: 'sched_event',
    eventType: 'sched',
    fields: [
      { key: 'cpu', type: 'uint32', from: { copy: 'cpu' }, doc: 'CPU of the switch' },
      { key: 'prev_pid', type: 'uint32', from: { copy: 'prev_pid' }, doc: 'thread id of the task switched out (0 = idle)' },
      { key: 'prev_prio', type: 'int', from: { copy: 'prev_prio' }, doc: 'kernel priority of that task (100–139 normal, 120 = nice 0; 0–99 realtime)' },
      { key: 'prev_state', type: 'int64', from: { copy: 'prev_state' }, doc: 'its raw state word: 0 still runnable (preempted or yielding), 1 S (sleeping), 2 D (uninterruptible), 128 dead, 1026 an idle kernel thread (D + no-load)...' },
      { key: 'next_pid', type: 'uint32', from: { copy: 'next_pid' }, doc: 'thread-group id of the task switched in (= pid)' },
      { key: 'next_prio', type: 'int', from: { copy: 'next_prio' }, doc: 'its kernel priority' },
      { key: 'runq_latency_ns', type: 'uint64', from: { copy: 'runq_latency_ns' }, doc: 'from its wake-up to this switch, when the wake-up was seen; else 0' },
      { key: 'wakeup_tracked', type: 'bool', from: { copy: 'wakeup_tracked' }, doc: 'whether the wake-up was seen (false after a preemption, or for a wake-up before the trace started)' },
    ],
  },
  // The input's filters, and sched_pid and sched_comm (for this trace alone),
  // apply to the task switched in (the woken one, for a wake-up).
  keys: [...processFilterKeys(FILTER), minLatencyKey],
  configure: configureSched,
};
