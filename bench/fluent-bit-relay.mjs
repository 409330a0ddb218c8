// A real Fluent Bit as the bench's receiver: its in_forward takes what
// ebpf-forward sends (acks, flow control and framing as a user's Fluent Bit
// would treat them) and its out_forward relays every record, as it was, to
// bench/sink.mjs, which counts them by origin with their latency.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './free-port.mjs';

/** Fluent Bit's Flush here: the relay adds at most about this much to the latency. */
export const RELAY_FLUSH_SECONDS = 0.01;

let found;
/** The `fluent-bit` on the PATH and its version, or undefined. */
export function fluentBitOnPath() {
  if (found === undefined) {
    try {
      const version = execFileSync('fluent-bit', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      found = { version: /v?(\d+\.\d+\.\d+)/.exec(version)?.[1] ?? version.trim() };
    } catch {
      found = null;
    }
  }
  return found ?? undefined;
}


const canConnect = (port) =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Fluent Bit listening (in_forward) on a port of its own, relaying to
 * `sinkPort`; resolves once it takes connections with { port, pid, version,
 * stop() }. stop() resolves with its exit once it has delivered what it holds.
 */
export async function startFluentBitRelay(sinkPort, dir) {
  const { version } = fluentBitOnPath();
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'relay.conf');
  writeFileSync(
    config,
    `# Written by bench/fluent-bit-relay.mjs.
[SERVICE]
    Flush      ${RELAY_FLUSH_SECONDS}
    Grace      10
    Log_Level  warn

[INPUT]
    Name    forward
    Listen  127.0.0.1
    Port    ${port}

[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${sinkPort}
`,
  );
  const child = spawn('fluent-bit', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => (stderr += text));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  let done = false;
  void exited.then(() => (done = true));
  for (const deadline = Date.now() + 15_000; !(await canConnect(port)); ) {
    if (done || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`fluent-bit did not listen on 127.0.0.1:${port}:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopping;
  return {
    port,
    pid: child.pid,
    version,
    stderr: () => stderr,
    stop() {
      stopping ??= (async () => {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const code = await exited;
        clearTimeout(timer);
        return `exit ${code}`;
      })();
      return stopping;
    },
  };
}
