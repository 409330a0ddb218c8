// Which hooks the tests of trace_bind, trace_tcp and trace_vfs run their
// trace by (the input's `attach` key): EBPF_FORWARD_TEST_ATTACH=fentry or
// tracepoint forces it, as the VM tier does on 6.1 to run the same tests on
// each; unset, the trace chooses (auto: tracepoints on this machine, which
// refuses fentry).
import { expect } from 'vitest';
import type { TraceSession } from '../../src/inputs/trace-session.js';

const forced = process.env.EBPF_FORWARD_TEST_ATTACH;
if (forced !== undefined && forced !== 'fentry' && forced !== 'tracepoint') {
  throw new Error(`EBPF_FORWARD_TEST_ATTACH=${forced}: fentry or tracepoint`);
}

/** The trace keys that ask for it (none: auto). */
export const attachKeys: Record<string, unknown> = forced ? { attach: forced } : {};

/** What the test names it by: "by fentry", "by tracepoint", or "attach auto". */
export const attachTitle = forced ? `by ${forced}` : 'attach auto';

/** The session runs the path asked for (auto: one of the two). */
export function expectAttachedAsAsked(session: TraceSession): void {
  if (forced) expect(session.attachedBy).toBe(forced);
  else expect(['fentry', 'tracepoint']).toContain(session.attachedBy);
}
