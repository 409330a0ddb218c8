// The monitoring server under clients that hold connections and send
// nothing, as a hostile host on the network can: a probe of
// /api/v1/uptime on a fresh connection is still answered, and idle
// connections are closed by the server. All on 127.0.0.1, on a real
// MonitoringServer.
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppCounters } from '../../src/http/app-view.js';
import { serviceKeys } from '../../src/config/load.js';
import { MonitoringServer } from '../../src/http/server.js';
import { freePort } from '../support/free-port.js';

const counters = (): AppCounters => ({ inputs: [], outputs: [], unrouted: 0, reloads: 0 });

function service(port: number): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const spec of serviceKeys) if (spec.default !== undefined) values.set(spec.name, spec.parse(spec.default));
  values.set('http_listen', '127.0.0.1');
  values.set('http_port', port);
  return values;
}

let server: MonitoringServer | undefined;
let holders: IdleHolders | undefined;
afterEach(async () => {
  holders?.stop();
  holders = undefined;
  await server?.close();
  server = undefined;
});

/** Connections that send nothing, each opened again (after 50 ms) when the server closes it. */
class IdleHolders {
  private readonly sockets = new Set<Socket>();
  private stopped = false;
  /** Connections the server closed (and that were opened again). */
  closedByServer = 0;

  constructor(
    private readonly port: number,
    count: number,
  ) {
    for (let i = 0; i < count; i++) this.open();
  }

  private open(): void {
    if (this.stopped) return;
    const socket = connect(this.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (this.stopped) return;
      this.closedByServer++;
      setTimeout(() => this.open(), 50);
    });
    this.sockets.add(socket);
  }

  stop(): void {
    this.stopped = true;
    for (const socket of this.sockets) socket.destroy();
  }
}

/** GET /api/v1/uptime on a connection of its own: the status, or what went wrong. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/uptime', agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
      res.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

/** Resolves once the socket is closed (the test never closes it first); rejects after `seconds`. */
function closedWithin(socket: Socket, seconds: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.closed) return resolve();
    const timer = setTimeout(() => reject(new Error(`${what}: still open after ${seconds} s`)), seconds * 1000);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('connections', () => {
  it('70 idle connections held open and reopened: 10 probes of /api/v1/uptime are all answered 200', async () => {
    const port = await freePort();
    server = await MonitoringServer.start({ service: service(port), counters });
    holders = new IdleHolders(port, 70);
    // Let the 70 connect (and those beyond the cap be closed and come back).
    await new Promise((r) => setTimeout(r, 500));
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      outcomes.push(await probe(port));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(outcomes).toEqual(Array(10).fill('200'));
    // The holders did fill the server: some of theirs were closed to make room.
    expect(holders.closedByServer).toBeGreaterThan(0);
  });

  it('the server closes a connection that sends nothing, one that stops halfway through its headers, and one kept alive with no next request', async () => {
    const port = await freePort();
    server = await MonitoringServer.start({ service: service(port), counters });
    const silent = connect(port, '127.0.0.1');
    const halfway = connect(port, '127.0.0.1', () => halfway.write('GET /api/v1/uptime HTTP/1.1\r\nHost: 127.0.0.1\r\n'));
    const keptAlive = connect(port, '127.0.0.1', () => keptAlive.write('GET /api/v1/uptime HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    let answer = '';
    keptAlive.on('data', (d: Buffer) => (answer += d.toString()));
    for (const s of [silent, halfway, keptAlive]) s.on('error', () => {});
    try {
      // Well under Node's 30 s connections check, which is all that closed the first two before.
      await Promise.all([
        closedWithin(silent, 15, 'a connection that sent nothing'),
        closedWithin(halfway, 15, 'a connection that stopped halfway through its headers'),
        closedWithin(keptAlive, 15, 'a kept-alive connection with no next request'),
      ]);
    } finally {
      for (const s of [silent, halfway, keptAlive]) s.destroy();
    }
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});
