// ebpf-forward (dist/cli.js) as the benchmarks run it: a child started with
// the node flags of the CLI's first line, as the installed bin runs it; its
// counters read back from the lines it prints at shutdown; and the sink
// waited for until it has taken in everything.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The node flags on the CLI's `#!/usr/bin/env -S node ...` line. */
export function shebangNodeArgs(cliPath) {
  const first = readFileSync(cliPath, 'utf8').split('\n', 1)[0];
  return /^#!\S*env (?:-S )?node\b(.*)$/.exec(first)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
}

/** From the warm-up's end (or the start, idle) to the measured window: the start's own work (V8 compiling, then shrinking its heap some 10 s in) is over by then. */
export const SETTLE_MS = 12_000;

/** ebpf-forward as a child, with the CLI's node flags and `extraNodeArgs`; resolves once its traces are attached. */
export async function startEbpfForward(cliPath, configPath, extraNodeArgs = []) {
  const child = spawn(process.execPath, [...shebangNodeArgs(cliPath), ...extraNodeArgs, cliPath, '-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  child.stderr.setEncoding('utf8');
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ebpf-forward did not attach within 30 s:\n${stderr}`)), 30_000);
    child.stderr.on('data', (text) => {
      stderr += text;
      if (/\] tracing trace_/.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`ebpf-forward exited (${code}) before attaching:\n${stderr}`));
    });
  });
  return {
    pid: child.pid,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * The shutdown counters: the input's "<instance> <trace>: N records, M lost in
 * the kernel[, K malformed][, D dropped in the reader]", the forward output's
 * "records in N, sent N, ..., dropped D (reason n...)" and the router's
 * "N records matched no output".
 */
export function shutdownCounters(stderr, trace) {
  const m = new RegExp(`\\] \\S+ ${trace}: (\\d+) records, (\\d+) lost in the kernel(?:, (\\d+) malformed)?(?:, (\\d+) dropped in the reader)?`).exec(stderr);
  if (!m) return undefined;
  const output = /records in (\d+), sent (\d+), .*?dropped (\d+)(?: \(([^)]*)\))?/.exec(stderr);
  const unrouted = /(\d+) records matched no output/.exec(stderr);
  return {
    records: Number(m[1]),
    lost: Number(m[2]),
    malformed: Number(m[3] ?? 0),
    readerDropped: Number(m[4] ?? 0),
    outputIn: output ? Number(output[1]) : undefined,
    outputSent: output ? Number(output[2]) : undefined,
    outputDropped: output ? Number(output[3]) : undefined,
    outputDropReasons: output?.[4] ?? '',
    unrouted: unrouted ? Number(unrouted[1]) : 0,
  };
}

/** Sink stats once it has taken in everything and its connections closed. */
export async function settle(sink) {
  let last;
  for (let i = 0; i < 100; i++) {
    const s = await sink.stats();
    if (last && s.records === last.records && s.open_connections === 0) return s;
    last = s;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}
