// Runs test/support/net-scenarios.c (socket calls for trace_bind and
// trace_tcp) and says which records the traces must produce for each run,
// for the kernel tests and for end-to-end tests through an output.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { compileC } from './c-program.js';
import type { DecodedRecord } from './decoded-events.js';

/** The helper's task name, as comm shows it. */
export const NET_SCENARIOS_COMM = 'net-scenarios';

const run = promisify(execFile);

function binary(): string {
  return compileC(NET_SCENARIOS_COMM, readFileSync(join(import.meta.dirname, 'net-scenarios.c'), 'utf8'));
}

/** Runs one scenario; resolves with its pid and the records it must cause, in order. */
async function scenario<F extends { pid: number }>(args: string[], expected: (facts: F) => DecodedRecord[]) {
  const { stdout } = await run(binary(), args);
  const facts = JSON.parse(stdout) as F;
  return { pid: facts.pid, facts, expected: expected(facts) };
}

function head(eventType: string, pid: number) {
  // Single-threaded helper: tid = pid.
  return { event_type: eventType, pid, tid: pid, comm: NET_SCENARIOS_COMM };
}

const bind = (pid: number, uid: number, gid: number, f: { port: number; bound_dev_if?: number; error_raw?: number; address: string; family: number; protocol: number }) => ({
  ...head('bind', pid),
  uid,
  gid,
  port: f.port,
  bound_dev_if: f.bound_dev_if ?? 0,
  error_raw: f.error_raw ?? 0,
  address: f.address,
  family: f.family,
  protocol: f.protocol,
});

const AF_INET = 2;
const AF_INET6 = 10;
const TCP = 6;
const UDP = 17;

/**
 * As root: bind 127.0.0.1:0 (TCP), the same port again (98), [::1]:0 (UDP),
 * 127.0.0.1:0 after SO_BINDTODEVICE lo; before them, a Unix socket bind and a
 * bind on /dev/null, which trace_bind must not report.
 */
export function runBindScenario() {
  type Facts = { pid: number; uid: number; gid: number; port_in_use: number; lo_ifindex: number };
  return scenario<Facts>(['bind'], ({ pid, uid, gid, port_in_use, lo_ifindex }) => [
    bind(pid, uid, gid, { port: 0, address: '127.0.0.1', family: AF_INET, protocol: TCP }),
    bind(pid, uid, gid, { port: port_in_use, error_raw: 98, address: '127.0.0.1', family: AF_INET, protocol: TCP }),
    bind(pid, uid, gid, { port: 0, address: '::1', family: AF_INET6, protocol: UDP }),
    bind(pid, uid, gid, { port: 0, bound_dev_if: lo_ifindex, address: '127.0.0.1', family: AF_INET, protocol: TCP }),
  ]);
}

/**
 * As uid/gid 65534, in a network namespace of its own where ports below 1024
 * need privilege: bind 0.0.0.0:80, refused with 13.
 */
export function runUnprivilegedBindScenario() {
  type Facts = { pid: number; uid: number; gid: number; port: number };
  return scenario<Facts>(['bind-unprivileged'], ({ pid, uid, gid, port }) => [
    bind(pid, uid, gid, { port, error_raw: 13, address: '0.0.0.0', family: AF_INET, protocol: TCP }),
  ]);
}

/** The peer address an accepting socket of listenAddr's family sees for a client of connectAddr. */
function peerText(listenAddr: string, connectAddr: string): string {
  return listenAddr.includes(':') && !connectAddr.includes(':') ? `::ffff:${connectAddr}` : connectAddr;
}

/**
 * listen on <listenAddr>:0, three clients connect to <connectAddr> (the
 * third with a 24-byte sockaddr if IPv6: no scope id), accepted
 * by accept(sockaddr), accept(NULL, NULL) and accept4(NULL, NULL, SOCK_CLOEXEC).
 * An IPv6 listener ("::") takes IPv4 clients too (IPv4-mapped peers).
 */
export function runAcceptScenario(listenAddr: string, connectAddr: string) {
  type Facts = { pid: number; listen_fd: number; backlog: number; port: number; client_fds: number[]; client_ports: number[]; accepted_fds: number[] };
  return scenario<Facts>(['accept', listenAddr, connectAddr], (f) => [
    { ...head('listen', f.pid), fd: f.listen_fd, backlog: f.backlog, error_raw: 0 },
    ...f.client_fds.map((fd) => ({ ...head('connect', f.pid), fd, remote_port: f.port, remote_addr: connectAddr, error_raw: 0 })),
    ...f.accepted_fds.map((newFd, i) => ({
      ...head('accept', f.pid),
      fd: f.listen_fd,
      new_fd: newFd,
      peer_port: f.client_ports[i]!,
      peer_addr: peerText(listenAddr, connectAddr),
      error_raw: 0,
    })),
  ]);
}

/**
 * Failures: connect to a bound port nobody listens on (111), accept4 on an
 * empty non-blocking listener (11), non-blocking connect (115), listen on a
 * connected socket (22); a UDP connect and accept in between, which
 * trace_tcp must not report.
 */
export function runTcpErrorsScenario() {
  type Facts = { pid: number; refused_fd: number; closed_port: number; listen_fd: number; backlog: number; port: number; nonblocking_fd: number; connected_fd: number };
  return scenario<Facts>(['tcp-errors'], (f) => [
    { ...head('connect', f.pid), fd: f.refused_fd, remote_port: f.closed_port, remote_addr: '127.0.0.1', error_raw: 111 },
    { ...head('listen', f.pid), fd: f.listen_fd, backlog: f.backlog, error_raw: 0 },
    { ...head('accept', f.pid), fd: f.listen_fd, new_fd: -11, peer_port: 0, peer_addr: '', error_raw: 11 },
    { ...head('connect', f.pid), fd: f.nonblocking_fd, remote_port: f.port, remote_addr: '127.0.0.1', error_raw: 115 },
    { ...head('connect', f.pid), fd: f.connected_fd, remote_port: f.port, remote_addr: '127.0.0.1', error_raw: 0 },
    { ...head('listen', f.pid), fd: f.connected_fd, backlog: 1, error_raw: 22 },
  ]);
}

type FieldType = 'string' | 'int' | 'uint' | 'uint16';

const COMMON: Record<string, FieldType> = { event_type: 'string', pid: 'uint', tid: 'uint', comm: 'string' };

/** Documented fields (records.md) then further fields, in record order, with their types. */
export const RECORD_FIELDS: Record<string, Record<string, FieldType>> = {
  bind: { ...COMMON, uid: 'uint', gid: 'uint', port: 'uint16', bound_dev_if: 'uint', error_raw: 'int', address: 'string', family: 'uint', protocol: 'uint' },
  listen: { ...COMMON, fd: 'int', backlog: 'int', error_raw: 'int' },
  accept: { ...COMMON, fd: 'int', new_fd: 'int', peer_port: 'uint16', peer_addr: 'string', error_raw: 'int' },
  connect: { ...COMMON, fd: 'int', remote_port: 'uint16', remote_addr: 'string', error_raw: 'int' },
};

const inRange: Record<Exclude<FieldType, 'string'>, [number, number]> = {
  int: [-(2 ** 31), 2 ** 31 - 1],
  uint: [0, 2 ** 32 - 1],
  uint16: [0, 0xffff],
};

/** Asserts the record's keys (order included) and each value's type. */
export function expectRecordShape(record: Record<string, unknown>): void {
  const fields = RECORD_FIELDS[record.event_type as string];
  expect(fields, `event_type ${String(record.event_type)}`).toBeDefined();
  expect(Object.keys(record)).toEqual(Object.keys(fields!));
  for (const [key, type] of Object.entries(fields!)) {
    const value = record[key];
    if (type === 'string') {
      expect(typeof value, key).toBe('string');
      expect(value as string, key).not.toContain('\0');
    } else {
      expect(Number.isInteger(value), `${key} = ${String(value)} is an integer`).toBe(true);
      const [min, max] = inRange[type];
      expect(value as number, key).toBeGreaterThanOrEqual(min);
      expect(value as number, key).toBeLessThanOrEqual(max);
    }
  }
}
