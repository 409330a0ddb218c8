// Starts bench/sink.mjs as a child process and talks to it over its
// stdin/stdout control channel.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sinkPath = join(dirname(fileURLToPath(import.meta.url)), 'sink.mjs');

/**
 * Resolves with { port, pid, stats(), stop(), close(), reset(), listen() }
 * once the sink listens (on `port`, 0 for any; with `unique`, it counts
 * distinct event_ids). stats() resolves with the sink's counters, stop() with
 * its final ones. An outage: close() (orderly: all clients wrote is read) or
 * reset() (connections reset) resolve with the counters once it is down;
 * listen() brings it back on the same port.
 */
export function startSink({ port = 0, unique = false } = {}) {
  const sinkArgs = ['--port', String(port), ...(unique ? ['--unique'] : [])];
  const child = spawn(process.execPath, [...(process.env.SINK_NODE_ARGS ? process.env.SINK_NODE_ARGS.split(' ') : []), sinkPath, ...sinkArgs], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  let buffered = '';
  let exited = false;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text) => {
    buffered += text;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      lines.push(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
    while (lines.length && waiters.length) waiters.shift().resolve(JSON.parse(lines.shift()));
  });
  child.on('exit', (code, signal) => {
    exited = true;
    for (const w of waiters.splice(0)) w.reject(new Error(`the sink exited (${code ?? signal})`));
  });
  const next = () =>
    new Promise((resolve, reject) => {
      if (lines.length) resolve(JSON.parse(lines.shift()));
      else if (exited) reject(new Error('the sink has exited'));
      else waiters.push({ resolve, reject });
    });

  return next().then(({ listening }) => ({
    port: listening,
    pid: child.pid,
    stats() {
      child.stdin.write('stats\n');
      return next();
    },
    stop() {
      const final = next();
      child.stdin.end();
      return final;
    },
    close() {
      const final = next();
      child.stdin.write('close\n');
      return final;
    },
    reset() {
      const final = next();
      child.stdin.write('reset\n');
      return final;
    },
    listen() {
      const up = next();
      child.stdin.write('listen\n');
      return up;
    },
  }));
}

/** Records of one origin (pid) and kind in a sink report, with their latency. */
export function originStats(stats, pid, recordKind) {
  return stats.origins[String(pid)]?.[recordKind] ?? { count: 0, first_arrival_ms: 0, last_arrival_ms: 0, latency: { p50_ms: null, p99_ms: null, max_ms: 0, negative: 0 } };
}

/**
 * Waits for the tail of a generator's job at the sink: until all `offered`
 * records of process `pid` are in, or none came for `quietMs`. Resolves
 * with how many came.
 */
export async function awaitOrigin(sink, pid, recordKind, offered, { quietMs, stepMs }) {
  let received = 0;
  let lastChange = performance.now();
  for (;;) {
    const count = originStats(await sink.stats(), pid, recordKind).count;
    if (count !== received) {
      received = count;
      lastChange = performance.now();
    }
    if (received >= offered || performance.now() - lastChange > quietMs) return received;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
