// Preparing a trace's BPF object before load: its record program compiled
// from the object's BTF, its ring buffer map checked, and its knobs and
// filters set.
import { basename } from 'node:path';
import type { NativeBpfObject } from '../native/addon.js';
import { BPF_MAP_TYPE_RINGBUF, Btf } from '../records/btf.js';
import { BtfError } from '../records/btf-format.js';
import { compileStruct } from '../records/compile-struct.js';
import { compileTrace } from '../records/compile.js';
import { Knobs } from '../records/knobs.js';
import { RecordLayoutError } from '../records/program-builder.js';
import type { RecordProgram } from '../records/program.js';
import { hasFilters } from '../task-filter/filter.js';
import { configureFilter, objectHasFilters, type FilterBits } from '../task-filter/kernel.js';
import type { TraceDefinition, TraceSettings } from '../traces/types.js';
import { DEFAULT_WAKEUP_MS, type TraceSessionOptions } from './session-options.js';
import { TraceStartError } from './start-errors.js';

type RecordOptions = Pick<TraceSessionOptions, 'sequenceKey' | 'containerMetadata' | 'runtimeMetadata' | 'kubernetesAnnotations'>;

/**
 * The object's BTF and the trace's record program compiled against it (the
 * layout is never written in TypeScript); a mismatch is a start error
 * naming both sides, before anything loads. `source` is what is read (a
 * user's object: the descriptor it was checked on), `file` how it is named.
 */
export function recordProgramOf(trace: TraceDefinition, source: string, file: string, options: RecordOptions): { btf: Btf; program: RecordProgram } {
  try {
    const btf = Btf.ofObject(source, file);
    const record = trace.record;
    if ('asIs' in record) return { btf, program: compileStruct(btf, record.asIs, { object: file, timeField: record.timeField }) };
    const { sequenceKey, containerMetadata, runtimeMetadata, kubernetesAnnotations } = options;
    return { btf, program: compileTrace(record, btf, { trace: trace.name, object: trace.object, sequenceKey, containerMetadata, runtimeMetadata, kubernetesAnnotations }) };
  } catch (err) {
    if (err instanceof RecordLayoutError || err instanceof BtfError) throw new TraceStartError(trace.name, err.message.startsWith(trace.name) ? err.message : `${trace.name}: ${err.message}`);
    throw err;
  }
}

/** The ring buffer map the input names must be one: a wrong ringbuf_map_name must not resize another map. */
export function checkRingMap(trace: TraceDefinition, btf: Btf, file: string, ringName: string): void {
  const ring = btf.maps().find((m) => m.name === ringName);
  if (ring && (ring.type === undefined || ring.type === BPF_MAP_TYPE_RINGBUF)) return;
  const rings = btf.maps().filter((m) => m.type === BPF_MAP_TYPE_RINGBUF).map((m) => m.name);
  throw new TraceStartError(
    trace.name,
    `${trace.name}: ringbuf_map_name ${ringName}: ${file} has ${ring ? 'a map of that name that is not a ring buffer' : 'no map of that name'} (its ring buffers: ${rings.join(', ') || 'none'})`,
  );
}

/**
 * Sets the session's knobs (a user's object may lack them: those it has),
 * the ring's size, the filters and the trace's own knobs. Returns the
 * filter's bits when the object has the filters.
 */
export function configureObject(
  object: NativeBpfObject,
  btf: Btf,
  file: string,
  trace: TraceDefinition,
  settings: TraceSettings,
  options: Pick<TraceSessionOptions, 'ringbufMapName' | 'ringbufBytes' | 'wakeupMs'>,
): FilterBits | undefined {
  const knobs = new Knobs(object, btf, basename(file));
  knobs.setIfPresent('self_tgid', settings.selfPid);
  object.setMapMaxEntries(options.ringbufMapName, options.ringbufBytes);
  knobs.setIfPresent('wakeup_delay_ns', (options.wakeupMs ?? DEFAULT_WAKEUP_MS) * 1_000_000);
  knobs.setIfPresent('wakeup_bytes', Math.floor(options.ringbufBytes / 4));
  let bits: FilterBits | undefined;
  if (objectHasFilters(btf.globals())) {
    bits = configureFilter(object, knobs, settings.filter);
  } else if (hasFilters(settings.filter)) {
    throw new TraceStartError(trace.name, `${trace.name}: its BPF object ${file} has no filters (bpf/task_filter.bpf.h), so the input's pid, comm, uid and cgroup keys can't apply to it: put it in an [INPUT] of its own without them`);
  }
  trace.configure?.(knobs, settings);
  return bits;
}
