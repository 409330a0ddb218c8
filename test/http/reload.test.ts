// /api/v2/reload as Fluent Bit answers it, on a real MonitoringServer: the
// bodies and statuses for each state of the reload control, GET's count,
// and the reload run only once its answer has been sent.
import { afterEach, describe, expect, it } from 'vitest';
import type { AppCounters, ReloadControl } from '../../src/http/app-view.js';
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
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(reload: ReloadControl): Promise<string> {
  server = await MonitoringServer.start({ service: service(await freePort()), counters, reload });
  return `http://${server.address}/api/v2/reload`;
}

async function ask(url: string, method: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method, body: method === 'POST' || method === 'PUT' ? '{}' : undefined });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

describe('/api/v2/reload', () => {
  it('POST and PUT: "done" with status 0 and the reload run after the answer; "in progress" -2 with 400; "not enabled" -1 with 200', async () => {
    let answer: 'done' | 'in progress' | 'not enabled' = 'done';
    const runs: string[] = [];
    const url = await serve({
      count: () => runs.length,
      request: (source) => (answer === 'done' ? { answer, run: () => runs.push(source) } : { answer }),
    });
    expect(await ask(url, 'POST')).toEqual({ status: 200, body: { reload: 'done', status: 0 } });
    expect(await ask(url, 'PUT')).toEqual({ status: 200, body: { reload: 'done', status: 0 } });
    expect(runs).toEqual(['POST /api/v2/reload', 'PUT /api/v2/reload']);
    expect(await ask(url, 'GET')).toEqual({ status: 200, body: { hot_reload_count: 2 } });
    answer = 'in progress';
    expect(await ask(url, 'POST')).toEqual({ status: 400, body: { reload: 'in progress', status: -2 } });
    answer = 'not enabled';
    expect(await ask(url, 'PUT')).toEqual({ status: 200, body: { reload: 'not enabled', status: -1 } });
    expect(runs).toHaveLength(2);
    expect((await ask(url, 'DELETE')).status).toBe(400);
  });
});
