// A runtime that is not there, then comes, goes away and comes back (a
// restart), through the Docker Engine API client (src/containers/
// docker-engine.ts) against a stand-in engine on a unix socket of the test's
// own: one warning while it is absent however often it is tried, its
// containers once it answers, one warning when it goes away, and, back,
// what was made meanwhile. The stand-in serves what the client reads:
// GET /containers/json and the GET /events stream, as docker 20.10 writes them.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, expect, it } from 'vitest';
import { DockerEngineWatcher } from '../../../src/containers/docker-engine.js';
import { ContainerMetadataStore } from '../../../src/containers/metadata.js';
import { createLogger } from '../../../src/log.js';
import { waitFor } from '../../support/cli.js';
import { containerIdFrom } from '../../support/cgroups.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-engine-'));
const socketPath = join(dir, 'docker.sock');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Listed {
  Id: string;
  Names: string[];
  Image: string;
}

/** The stand-in engine: its containers, and the event streams open on it. */
class FakeEngine {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  readonly streams = new Set<ServerResponse>();

  constructor(readonly containers: Listed[]) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/containers/json') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(this.containers));
      } else if (path === '/events') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        this.streams.add(res);
        res.on('close', () => this.streams.delete(res));
      } else {
        res.writeHead(404).end();
      }
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(socketPath, resolve));
  }

  /** A container event as docker writes it, to every open stream. */
  event(action: string, c: Listed): void {
    const line = { status: action, id: c.Id, from: c.Image, Type: 'container', Action: action, Actor: { ID: c.Id, Attributes: { image: c.Image, name: c.Names[0]!.slice(1) } }, scope: 'local', time: 0, timeNano: 0 };
    for (const s of this.streams) s.write(`${JSON.stringify(line)}\n`);
  }

  /** Gone as a killed daemon is: every connection cut, the socket removed. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const container = (seed: string, name: string): Listed => ({ Id: containerIdFrom(seed), Names: [`/${name}`], Image: `localhost/${name}:1` });

it('absent: one warning; up: its containers and events; gone: one warning; back: what was made meanwhile', async () => {
  const lines: string[] = [];
  const log = createLogger('debug', { write: (line) => lines.push(line) });
  const warnings = () => lines.filter((l) => l.includes('[ warn]'));
  const store = new ContainerMetadataStore();
  const states: string[] = [];
  const watcher = new DockerEngineWatcher({
    runtime: 'docker',
    label: 'docker',
    socketPath,
    configured: true,
    log,
    store,
    retryMs: { first: 20, max: 80 },
    onState: (s) => states.push(s),
  });
  const nameOf = (c: Listed) => store.of(c.Id, false)?.pairs.toString('latin1');
  const a = container('engine a', 'a');
  const b = container('engine b', 'b');
  const c = container('engine c', 'c');
  try {
    watcher.start();
    // Tried several times (20, 40, 80, 80 ms...), told once.
    await new Promise((r) => setTimeout(r, 500));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toContain(`docker: can't read container metadata from ${socketPath}: connect ENOENT`);
    expect(lines.filter((l) => l.includes('[debug]')).length).toBeGreaterThanOrEqual(2);

    let engine = new FakeEngine([a]);
    await engine.listen();
    await waitFor(() => (states.includes('up') ? true : undefined), 5000, 'the first connection');
    expect(nameOf(a)).toContain('a');
    expect(nameOf(a)).toContain('localhost/a:1');
    expect(lines.some((l) => l.includes(`[ info] docker: reading container metadata from ${socketPath}`))).toBe(true);

    // A container made while connected: told by its create event.
    engine.containers.push(b);
    await waitFor(() => (engine.streams.size ? true : undefined), 5000, 'the event stream');
    engine.event('create', b);
    await waitFor(() => nameOf(b), 5000, "b's create event");

    // The daemon goes away: one warning, whatever the retries meet.
    await engine.close();
    await waitFor(() => (states.includes('down') ? true : undefined), 5000, 'the loss');
    await new Promise((r) => setTimeout(r, 300));
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toContain(`docker: lost ${socketPath}`);

    // Back, with b removed and c made while it was away.
    engine = new FakeEngine([a, c]);
    await engine.listen();
    await waitFor(() => (states.filter((s) => s === 'up').length === 2 ? true : undefined), 5000, 'the reconnection');
    expect(nameOf(c)).toContain('localhost/c:1');
    expect(nameOf(a)).toContain('localhost/a:1');
    expect(warnings()).toHaveLength(2);
    await engine.close();
  } finally {
    watcher.stop();
  }
});
