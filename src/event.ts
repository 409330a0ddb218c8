// A Fluent event as it travels from a trace to the outputs: the kernel's
// event time (wall clock, to the nanosecond) and the record.
import type { TraceRecord } from './traces/types.js';

export interface FluentEvent {
  sec: number;
  nsec: number;
  record: TraceRecord;
}
