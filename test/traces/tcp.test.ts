// trace_tcp on the real kernel, by the hooks test/support/attach-path.ts says
// (fexit or syscall tracepoints: the same records): listen, accept
// and accept4 (peer read from the new socket), connect, with IPv4, IPv6 and
// IPv4-mapped addresses, and the errnos of failed calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceSession } from '../../src/inputs/trace-session.js';
import { trace_tcp } from '../../src/traces/tcp/index.js';
import { recordOf } from '../support/record-builder.js';
import { decodeWithTrace } from '../support/record-encoding.js';
import { startTrace } from '../support/trace-session.js';
import { attachKeys, attachTitle, expectAttachedAsAsked } from '../support/attach-path.js';
import { waitFor } from '../support/cli.js';
import { expectRecordShape, runAcceptScenario, runTcpErrorsScenario } from '../support/net-scenarios.js';
import type { DecodedEvent, DecodedRecord } from '../support/decoded-events.js';

let session: TraceSession;
let events: DecodedEvent[] = [];

beforeAll(() => {
  ({ session, events } = startTrace(trace_tcp, attachKeys));
});

afterAll(() => session?.close());

/** The records of one process, once as many as expected have arrived. */
function recordsOf(run: { pid: number; expected: DecodedRecord[] }): Promise<DecodedRecord[]> {
  return waitFor(() => {
    const records = events.filter((e) => e.record.pid === run.pid).map((e) => e.record);
    return records.length >= run.expected.length ? records : undefined;
  }, 10_000, `${run.expected.length} tcp records from pid ${run.pid}`);
}

async function expectScenario(started: ReturnType<typeof runAcceptScenario> | ReturnType<typeof runTcpErrorsScenario>) {
  const run = await started;
  const records = await recordsOf(run);
  for (const r of records) expectRecordShape(r);
  expect(records).toEqual(run.expected);
  return records;
}

describe(`trace_tcp (${attachTitle})`, () => {
  it('attached by the hooks asked for', () => {
    expectAttachedAsAsked(session);
  });

  it('IPv4: listen, connect, accept with and without sockaddr, accept4', async () => {
    const records = await expectScenario(runAcceptScenario('127.0.0.1', '127.0.0.1'));
    expect(records.map((r) => r.event_type)).toEqual(['listen', 'connect', 'connect', 'connect', 'accept', 'accept', 'accept']);
  });

  it('IPv6 ::1', async () => {
    const records = await expectScenario(runAcceptScenario('::1', '::1'));
    expect(records.filter((r) => r.event_type === 'accept').map((r) => r.peer_addr)).toEqual(['::1', '::1', '::1']);
  });

  it('IPv4 clients of an IPv6 listener are IPv4-mapped peers', async () => {
    const records = await expectScenario(runAcceptScenario('::', '127.0.0.1'));
    expect(records.filter((r) => r.event_type === 'accept').map((r) => r.peer_addr)).toEqual(Array(3).fill('::ffff:127.0.0.1'));
  });

  it('connect to an IPv4-mapped address from an IPv6 socket', async () => {
    const records = await expectScenario(runAcceptScenario('::', '::ffff:127.0.0.1'));
    expect(records.filter((r) => r.event_type === 'connect').map((r) => r.remote_addr)).toEqual(Array(3).fill('::ffff:127.0.0.1'));
  });

  it('failures: refused connect 111, in-progress connect 115, empty accept4 11, listen 22; UDP not reported', async () => {
    const records = await expectScenario(runTcpErrorsScenario());
    expect(records.map((r) => r.error_raw)).toEqual([111, 0, 11, 115, 0, 22]);
  });

  it('lost and malformed nothing', () => {
    expect(session.lost()).toBe(0);
    expect(session.malformed()).toBe(0);
  });
});

describe('address text', () => {
  // A connect record (struct connect_event, members by name), written by hand.
  const connectRecord = (family: number, bytes: number[]) =>
    recordOf(trace_tcp, 'connect_event', { 'hdr.kind': 2, 'remote.family': family, 'remote.port': 443, 'remote.addr': bytes });
  const text = (family: number, bytes: number[]) => decodeWithTrace(trace_tcp, [connectRecord(family, bytes)])[0]!.record.remote_addr;

  it('formats IPv4, IPv6 (RFC 5952) and IPv4-mapped IPv6, and "" for none', () => {
    expect(text(2, [10, 0, 0, 1])).toBe('10.0.0.1');
    expect(text(10, [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1])).toBe('::ffff:10.0.0.1');
    expect(text(10, [...Array(15).fill(0), 1])).toBe('::1');
    expect(text(10, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1])).toBe('2001:db8::1:0:0:1');
    expect(text(0, [])).toBe('');
  });
});
