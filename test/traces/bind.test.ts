// trace_bind on the real kernel, by the hooks test/support/attach-path.ts
// says (fexit or syscall tracepoints: the same records): the port asked for,
// the device the socket is bound to, the errno, the caller's uid/gid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceSession } from '../../src/inputs/trace-session.js';
import { trace_bind } from '../../src/traces/bind/index.js';
import { startTrace } from '../support/trace-session.js';
import { attachKeys, attachTitle, expectAttachedAsAsked } from '../support/attach-path.js';
import { waitFor } from '../support/cli.js';
import { expectRecordShape, runBindScenario, runUnprivilegedBindScenario } from '../support/net-scenarios.js';
import type { DecodedEvent, DecodedRecord } from '../support/decoded-events.js';

let session: TraceSession;
let events: DecodedEvent[] = [];

beforeAll(() => {
  ({ session, events } = startTrace(trace_bind, attachKeys));
});

afterAll(() => session?.close());

/** The records of one process, once as many as expected have arrived. */
function recordsOf(run: { pid: number; expected: DecodedRecord[] }): Promise<DecodedRecord[]> {
  return waitFor(() => {
    const records = events.filter((e) => e.record.pid === run.pid).map((e) => e.record);
    return records.length >= run.expected.length ? records : undefined;
  }, 10_000, `${run.expected.length} bind records from pid ${run.pid}`);
}

describe(`trace_bind (${attachTitle})`, () => {
  it('attached by the hooks asked for', () => {
    expectAttachedAsAsked(session);
  });

  it('reports IPv4/IPv6 binds: port asked for, in use (98), UDP on ::1, SO_BINDTODEVICE lo; not Unix sockets or non-sockets', async () => {
    const run = await runBindScenario();
    const records = await recordsOf(run);
    for (const r of records) expectRecordShape(r);
    // Exactly these, in call order: the Unix and /dev/null binds came first and left nothing.
    expect(records).toEqual(run.expected);
    expect(run.facts.lo_ifindex).toBeGreaterThan(0);
    expect(records[3]!.bound_dev_if).toBe(run.facts.lo_ifindex);
  });

  it('a privileged port as uid 65534 is refused with 13, with that uid and gid', async () => {
    const run = await runUnprivilegedBindScenario();
    const records = await recordsOf(run);
    for (const r of records) expectRecordShape(r);
    expect(records).toEqual(run.expected);
    expect(records[0]).toMatchObject({ uid: 65534, gid: 65534, error_raw: 13, port: 80 });
  });

  it('lost and malformed nothing', () => {
    expect(session.lost()).toBe(0);
    expect(session.malformed()).toBe(0);
  });
});
