// What the HTTP server sees of the running pipeline: its counters, and how
// it asks for a hot reload. The app provides both; the server depends on
// this view, not on the app.
import type { TraceCounters } from '../inputs/trace-counters.js';
import type { OutputCounters } from '../outputs/types.js';

export interface AppCounters {
  /** unjournaled: with storage.type filesystem, records handed on without being journaled (storage.path refused them). */
  inputs: { instance: string; traces: TraceCounters[]; unjournaled?: number }[];
  outputs: { instance: string; counters: OutputCounters }[];
  unrouted: number;
  /** Reloads done (Fluent Bit's hot_reloaded_count). */
  reloads: number;
}

/** What the HTTP server shows of hot reload and how it asks for one (/api/v2/reload). */
export interface ReloadControl {
  /** Reloads done. */
  count(): number;
  /**
   * Fluent Bit's answer to POST /api/v2/reload; with 'done', `run` starts
   * the reload (once the answer is sent: the reload may restart the server).
   */
  request(source: string): { answer: 'done' | 'in progress' | 'not enabled'; run?: () => void };
}
