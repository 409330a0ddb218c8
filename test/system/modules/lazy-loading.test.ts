// What a run loads is what its config uses: without HTTP_Server, a YAML
// file, an @INCLUDE pattern, the runtimes' metadata, or a forward output's
// TLS, gzip or acks, the modules behind them (node:http and prom-client;
// yaml; tinyglobby; gRPC; node:tls, node:zlib, node:crypto) are never loaded,
// which is what keeps ebpf-forward's memory small (docs/benchmarks.md, Speed and
// losses). The CLI runs for real (attached, then stopped) with
// report-loaded.mjs preloaded, which writes at exit what the process loaded.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPath } from '../../support/cli.js';
import { freePort } from '../../support/free-port.js';

const reporter = join(import.meta.dirname, 'report-loaded.mjs');

/** Runs the CLI on `config` until its traces are attached, stops it, and gives what it loaded. */
async function loadedBy(configName: string, config: string, dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-modules-'))): Promise<string[]> {
  const configPath = join(dir, configName);
  writeFileSync(configPath, config);
  writeFileSync(join(dir, 'included.conf'), '');
  const list = join(dir, 'loaded.txt');
  const child = spawn(process.execPath, ['--import', reporter, cliPath, '-c', configPath], { env: { ...process.env, LOADED_MODULES_FILE: list }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/tracing trace_signal/.test(stderr)) resolve();
    });
    void exited.then(() => reject(new Error(`the CLI exited before attaching:\n${stderr}`)));
  });
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  return readFileSync(list, 'utf8').trim().split('\n');
}

/** The packages and built-ins the checks look for, and how each shows in the list. */
const heavy: Record<string, RegExp> = {
  'node:http': /^node:http$/,
  'prom-client': /\/node_modules\/prom-client\//,
  yaml: /\/node_modules\/yaml\//,
  tinyglobby: /\/node_modules\/tinyglobby\//,
  '@grpc/grpc-js': /\/node_modules\/@grpc\/grpc-js\//,
  '@grpc/proto-loader': /\/node_modules\/@grpc\/proto-loader\//,
  // msgpackr's main entry requires it (a native string decoder); msgpackr/pack does not.
  'msgpackr-extract': /\/node_modules\/@?msgpackr-extract/,
  // Built-ins some outputs and traces need (src/builtins-on-use.ts).
  'node:tls': /^node:tls$/,
  'node:zlib': /^node:zlib$/,
  'node:crypto': /^node:crypto$/,
  'node:child_process': /^node:child_process$/,
};
const loadedOf = (modules: string[]) => Object.keys(heavy).filter((name) => modules.some((m) => heavy[name]!.test(m)));

// The runtimes' sockets are not looked for (this machine may run containerd or docker).
const input = '[INPUT]\n    Name  ebpf\n    Trace trace_signal\n    comm  no-such-comm\n    container_runtime_metadata off\n';

describe('modules are loaded by the config that uses them', () => {
  it('a classic config without HTTP_Server, YAML, include patterns or runtime metadata loads none of them', async () => {
    const modules = await loadedBy('plain.conf', `[SERVICE]\n    Flush 1\n${input}[OUTPUT]\n    Name  null\n    Match *\n`);
    expect(modules.length).toBeGreaterThan(10);
    expect(loadedOf(modules)).toEqual([]);
  });

  it('HTTP_Server On, a YAML file and an @INCLUDE pattern load theirs (the list sees them)', async () => {
    const port = await freePort();
    const classic = await loadedBy('with-http.conf', `@INCLUDE incl*.conf\n[SERVICE]\n    HTTP_Server On\n    HTTP_Port   ${port}\n${input}[OUTPUT]\n    Name  null\n    Match *\n`);
    // The HTTP server and prom-client bring the built-ins.
    expect(loadedOf(classic)).toEqual(['node:http', 'prom-client', 'tinyglobby', 'node:tls', 'node:zlib', 'node:crypto', 'node:child_process']);
    const yaml = await loadedBy('plain.yaml', 'pipeline:\n  inputs:\n    - name: ebpf\n      trace: trace_signal\n      comm: no-such-comm\n      container_runtime_metadata: off\n  outputs:\n    - name: null\n      match: "*"\n');
    expect(loadedOf(yaml)).toEqual(['yaml']);
  });

  it('a forward output loads TLS, gzip and hashing only when its keys use them', async () => {
    const port = await freePort();
    const forward = (keys: string) => `${input}[OUTPUT]\n    Name  forward\n    Match *\n    Host  127.0.0.1\n    Port  ${port}\n${keys}`;
    expect(loadedOf(await loadedBy('forward.conf', forward('')))).toEqual([]);
    // Acks need chunk ids, drawn at start.
    expect(loadedOf(await loadedBy('forward-acks.conf', forward('    Require_ack_response true\n')))).toEqual(['node:crypto']);
  });

  it('runtime metadata with sockets that take no connection (none there, or a stale file) loads neither gRPC nor node:http', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-modules-'));
    // A file where the socket should be, with nothing listening (connect: ECONNREFUSED).
    const stale = join(dir, 'stale.sock');
    writeFileSync(stale, '');
    const sockets = `    cri_socket    ${stale}\n    docker_socket ${join(dir, 'none-docker.sock')}\n    podman_socket ${join(dir, 'none-podman.sock')}\n`;
    const withRuntimes = input.replace('    container_runtime_metadata off\n', sockets);
    const modules = await loadedBy('runtimes.conf', `${withRuntimes}[OUTPUT]\n    Name  null\n    Match *\n`, dir);
    expect(loadedOf(modules)).toEqual([]);
  });
});

describe("Node's ICU data stays unread", () => {
  // localeCompare, Intl and toLocale*String read Node's ICU data (2 MB of
  // RSS for one localeCompare at start-up); ordering and formatting here are
  // by code unit and by hand.
  it('src calls no ICU-backed function', () => {
    const src = join(import.meta.dirname, '..', '..', '..', 'src');
    const calls = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => readFileSync(join(src, f), 'utf8').split('\n').map((line, i) => ({ where: `src/${f}:${i + 1}`, line })))
      .filter(({ line }) => !/^\s*(\/\/|\*)/.test(line) && /\.localeCompare\(|\bIntl\.|\.toLocale\w*String\(|\.normalize\((?:'|"|\))/.test(line));
    expect(calls.map((c) => `${c.where}: ${c.line.trim()}`)).toEqual([]);
  });
});
