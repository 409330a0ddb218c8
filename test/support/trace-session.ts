// Starts one trace on the real kernel for a test, collecting its events.
import type { FluentEvent } from '../../src/event.js';
import { TraceSession } from '../../src/inputs/trace-session.js';
import { addon } from '../../src/native/addon.js';
import type { TraceDefinition } from '../../src/traces/types.js';

export interface StartedTrace {
  session: TraceSession;
  events: FluentEvent[];
  /** Optional attach steps that failed. */
  warnings: string[];
}

export function startTrace(trace: TraceDefinition, keys: Record<string, unknown> = {}): StartedTrace {
  addon().ensureTracefs();
  const events: FluentEvent[] = [];
  const warnings: string[] = [];
  const session = TraceSession.start({
    trace,
    settings: { keys: new Map(Object.entries(keys)), selfPid: process.pid },
    ringbufMapName: 'events',
    ringbufBytes: 1 << 22,
    onEvents: (e) => events.push(...e),
    onWarning: (m) => warnings.push(m),
  });
  return { session, events, warnings };
}
