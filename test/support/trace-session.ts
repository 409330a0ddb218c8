// Starts one trace on the real kernel for a test, collecting its events
// (its chunks decoded independently).
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import { taskFilterFor } from '../../src/task-filter/keys.js';
import type { TraceDefinition } from '../../src/traces/types.js';
import { decodeEntries, EventIds, type DecodedEvent } from './decoded-events.js';

export interface StartedTrace {
  session: TraceSession;
  events: DecodedEvent[];
  /** Optional attach steps that failed. */
  warnings: string[];
}

/** `keys` are the input's as the config loader gives them (repeatable ones as lists of lists): the trace's own and the filter keys. */
/** The container fields are checked and set aside, unless `keepContainerFields` (or absent with containerMetadata false). */
export function startTrace(trace: TraceDefinition, keys: Record<string, unknown> = {}, options: { sequenceKey?: string; containerMetadata?: boolean; keepContainerFields?: boolean } = {}): StartedTrace {
  addon().ensureTracefs();
  const events: DecodedEvent[] = [];
  const warnings: string[] = [];
  const ids = new EventIds(options.containerMetadata === false ? 'absent' : options.keepContainerFields ? 'kept' : 'set aside');
  const session = TraceSession.start({
    trace,
    settings: { keys: new Map(Object.entries(keys)), selfPid: process.pid, filter: taskFilterFor(trace, new Map(Object.entries(keys))) },
    ringbufMapName: 'events',
    ringbufBytes: 1 << 22,
    sequenceKey: options.sequenceKey,
    containerMetadata: options.containerMetadata,
    onChunk: (chunk) => events.push(...ids.take(decodeEntries(chunk))),
    onWarning: (m) => warnings.push(m),
  });
  return { session, events, warnings };
}
