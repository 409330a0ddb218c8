// Who may POST /api/v2/reload: by default only loopback peers
// (HTTP_Reload_Allow loopback), and with HTTP_Reload_Token only a request
// bearing it. A refusal is 403 with a JSON body and one log line, and the
// reload is not run. On a real MonitoringServer, and through the CLI for the
// keys as a config file sets them.
import { writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppCounters, ReloadControl } from '../../src/http/app-view.js';
import { serviceKeys } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { isLoopback, MonitoringServer } from '../../src/http/server.js';
import { runCli, startCli, writeConfig } from '../support/cli.js';
import { freePort } from '../support/free-port.js';

const counters = (): AppCounters => ({ inputs: [], outputs: [], unrouted: 0, reloads: 0 });
const TOKEN = 'b2f1c0e4-reload-token-for-tests';

function service(listen: string, port: number, keys: Record<string, unknown> = {}): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const spec of serviceKeys) if (spec.default !== undefined) values.set(spec.name, spec.parse(spec.default));
  values.set('http_listen', listen);
  values.set('http_port', port);
  for (const [key, value] of Object.entries(keys)) values.set(key, value);
  return values;
}

/** A reload control that is enabled and records the reloads it was asked to run. */
function recordingReload(): ReloadControl & { runs: string[] } {
  const runs: string[] = [];
  return { runs, count: () => runs.length, request: (source) => ({ answer: 'done', run: () => runs.push(source) }) };
}

let server: MonitoringServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(listen: string, keys: Record<string, unknown>, reload: ReloadControl, logged: string[]): Promise<string> {
  const log = createLogger('info', { write: (line) => logged.push(line) });
  server = await MonitoringServer.start({ service: service(listen, await freePort(), keys), counters, reload, log });
  return `http://${server.address}/api/v2/reload`;
}

async function post(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', body: '{}', headers });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

const FORBIDDEN = { status: 403, body: { reload: 'forbidden', status: -3 } };
const DONE = { status: 200, body: { reload: 'done', status: 0 } };

/** An IPv4 address of this machine's own interfaces other than loopback, if it has one. */
const ownAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && !a.internal && a.family === 'IPv4')?.address;

describe('POST /api/v2/reload access', () => {
  it('a peer address is loopback when in 127.0.0.0/8 or ::1 (also as IPv4 mapped in IPv6)', () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1', '::ffff:7f00:2']) expect(isLoopback(address), address).toBe(true);
    for (const address of ['10.0.0.1', '192.0.2.2', '128.0.0.1', '0.0.0.0', '::', '::2', 'fd00::2', '::ffff:10.0.0.1', '::ffff:192.0.2.2', '', 'localhost', undefined]) {
      expect(isLoopback(address), String(address)).toBe(false);
    }
  });

  // The server bound to an address of this machine's own interface: the
  // request goes from it to it, a peer that is not loopback (no traffic leaves the host).
  it.skipIf(!ownAddress)(`from a peer that is not loopback (${ownAddress}): refused by default with 403, logged once, not run`, async () => {
    const logged: string[] = [];
    const reload = recordingReload();
    const url = await serve(ownAddress!, {}, reload, logged);
    expect(await post(url)).toEqual(FORBIDDEN);
    expect(reload.runs).toEqual([]);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(new RegExp(`\\[ warn\\] POST /api/v2/reload from ${ownAddress!.replace(/\./g, '\\.')}: refused: not a loopback address \\(HTTP_Reload_Allow loopback\\)\\n$`));
    // GET (the count) tells nothing and changes nothing: it stays open, as the metrics.
    const res = await fetch(url);
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { hot_reload_count: 0 } });
    // HTTP_Reload_Allow all lets it through.
    await server!.close();
    const open = recordingReload();
    const openUrl = await serve(ownAddress!, { http_reload_allow: 'all' }, open, logged);
    expect(await post(openUrl)).toEqual(DONE);
    expect(open.runs).toEqual(['POST /api/v2/reload']);
  });

  it('from 127.0.0.1 by default: run', async () => {
    const logged: string[] = [];
    const reload = recordingReload();
    const url = await serve('127.0.0.1', {}, reload, logged);
    expect(await post(url)).toEqual(DONE);
    expect(reload.runs).toEqual(['POST /api/v2/reload']);
    expect(logged).toEqual([]);
  });

  it('Hot_Reload with HTTP_Reload_Allow all and no token: a warning at start (with a token, none)', async () => {
    const logged: string[] = [];
    await serve('127.0.0.1', { hot_reload: true, http_reload_allow: 'all' }, recordingReload(), logged);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/\[ warn\] HTTP_Reload_Allow all without HTTP_Reload_Token: any host that reaches the HTTP server can make ebpf-forward reload\n$/);
    await server!.close();
    await serve('127.0.0.1', { hot_reload: true, http_reload_allow: 'all', http_reload_token: TOKEN }, recordingReload(), logged);
    expect(logged).toHaveLength(1);
  });

  it('with HTTP_Reload_Token: refused without it or with another one (also from loopback), run with Authorization: Bearer <token>; refusals logged once, at most a line a second', async () => {
    const logged: string[] = [];
    const reload = recordingReload();
    const url = await serve('127.0.0.1', { http_reload_token: TOKEN }, reload, logged);
    expect(await post(url)).toEqual(FORBIDDEN);
    expect(await post(url, { Authorization: `Bearer ${TOKEN}x` })).toEqual(FORBIDDEN);
    expect(await post(url, { Authorization: `Bearer ${TOKEN.slice(1)}` })).toEqual(FORBIDDEN);
    expect(await post(url, { Authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })).toEqual(FORBIDDEN);
    expect(reload.runs).toEqual([]);
    // One line for the first; a flood of refusals is no flood of lines: the
    // next line, a second later at least, counts those left out.
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatch(/\[ warn\] POST \/api\/v2\/reload from 127\.0\.0\.1: refused: no Authorization: Bearer with HTTP_Reload_Token\n$/);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await post(url)).toEqual(FORBIDDEN);
    expect(logged).toHaveLength(2);
    expect(logged[1]).toMatch(/: refused: no Authorization: Bearer with HTTP_Reload_Token \(and 3 more refused since the last one logged\)\n$/);
    // The token never appears in the log.
    expect(logged.join('')).not.toContain(TOKEN.slice(1));
    expect(await post(url, { Authorization: `Bearer ${TOKEN}` })).toEqual(DONE);
    expect(await post(url, { Authorization: `bearer  ${TOKEN}` })).toEqual(DONE);
    expect(reload.runs).toHaveLength(2);
  });
});

describe('the keys in a config', () => {
  it('classic and YAML take HTTP_Reload_Allow and HTTP_Reload_Token; a bad value is one error at its line', async () => {
    const classic = writeConfig(`[SERVICE]
    HTTP_Server        On
    HTTP_Reload_Allow  all
    HTTP_Reload_Token  ${TOKEN}
[INPUT]
    Name   ebpf
    Trace  trace_signal
`);
    expect(await runCli(['-c', classic, '--dry-run'])).toMatchObject({ code: 0 });
    const yaml = writeConfig(`service:
  http_server: on
  http_reload_allow: loopback
  http_reload_token: ${TOKEN}
pipeline:
  inputs:
    - name: ebpf
      trace: trace_signal
`, 'ebpf-forward.yaml');
    expect(await runCli(['-c', yaml, '--dry-run'])).toMatchObject({ code: 0 });
    const bad = writeConfig('[SERVICE]\n    HTTP_Reload_Allow  everyone\n[INPUT]\n    Name   ebpf\n    Trace  trace_signal\n');
    const r = await runCli(['-c', bad, '--dry-run']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:2: HTTP_Reload_Allow: "everyone" is not one of loopback, all`);
    const short = writeConfig('[SERVICE]\n    HTTP_Reload_Token  secret\n[INPUT]\n    Name   ebpf\n    Trace  trace_signal\n');
    const s = await runCli(['-c', short, '--dry-run']);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`${short}:2: HTTP_Reload_Token: `);
    expect(s.stderr).not.toContain('secret');
  });

  it('a running CLI with Hot_Reload and HTTP_Reload_Token: a POST without it is 403 and logged, with it the config is read again; a reload to another token takes it', async () => {
    const port = await freePort();
    const configText = (token: string) => `[SERVICE]
    Hot_Reload         On
    HTTP_Server        On
    HTTP_Listen        127.0.0.1
    HTTP_Port          ${port}
    HTTP_Reload_Token  ${token}
[INPUT]
    Name   ebpf
    Trace  trace_signal
`;
    const config = writeConfig(configText(TOKEN));
    const cli = startCli(['-c', config]);
    try {
      await cli.waitForLog(/tracing trace_signal/);
      const url = `http://127.0.0.1:${port}/api/v2/reload`;
      expect(await post(url)).toEqual(FORBIDDEN);
      await cli.waitForLog(/\[http_server\] POST \/api\/v2\/reload from 127\.0\.0\.1: refused/);
      expect(cli.stderr().match(/refused/g)).toHaveLength(1);
      // A reload to another token: the server is started again with it.
      const newToken = `${TOKEN}-renewed`;
      writeFileSync(config, configText(newToken));
      expect(await post(url, { Authorization: `Bearer ${TOKEN}` })).toEqual(DONE);
      await cli.waitForLog(/reload done: .*HTTP server restarted/);
      expect(await post(url, { Authorization: `Bearer ${TOKEN}` })).toEqual(FORBIDDEN);
      expect(await post(url, { Authorization: `Bearer ${newToken}` })).toEqual(DONE);
      await cli.waitForLog(/reload done(.|\n)*reload done/);
    } finally {
      await cli.stop();
    }
  });
});
