// Starts bench/sink.mjs as a child process and talks to it over its
// stdin/stdout control channel.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sinkPath = join(dirname(fileURLToPath(import.meta.url)), 'sink.mjs');

/**
 * Resolves with { port, pid, stats(), stop() } once the sink listens.
 * stats() resolves with the sink's counters; stop() with its final ones.
 */
export function startSink() {
  const child = spawn(process.execPath, [...(process.env.SINK_NODE_ARGS ? process.env.SINK_NODE_ARGS.split(' ') : []), sinkPath], { stdio: ['pipe', 'pipe', 'inherit'] });
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
  }));
}

/** Records of one origin (pid) and kind in a sink report, with their latency. */
export function originStats(stats, pid, recordKind) {
  return stats.origins[String(pid)]?.[recordKind] ?? { count: 0, first_arrival_ms: 0, last_arrival_ms: 0, latency: { p50_ms: null, p99_ms: null, max_ms: 0, negative: 0 } };
}
