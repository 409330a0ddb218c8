// Every trace ebpf-forward knows, by the name used in `Trace`.
import type { TraceDefinition } from './types.js';
import { trace_signal } from './signal/index.js';
import { trace_bind } from './bind/index.js';
import { trace_tcp } from './tcp/index.js';
import { trace_vfs } from './vfs/index.js';
import { trace_malloc } from './malloc/index.js';
import { trace_exec } from './exec/index.js';
import { trace_openssl } from './openssl/index.js';
import { trace_sched } from './sched/index.js';
import { trace_dns } from './dns/index.js';

export const traces: ReadonlyMap<string, TraceDefinition> = new Map(
  [trace_signal, trace_vfs, trace_malloc, trace_bind, trace_tcp, trace_exec, trace_openssl, trace_sched, trace_dns].map((t) => [t.name, t]),
);

export const traceNames = (): string[] => [...traces.keys()].sort();
