// Builds bench/loadgen.c (cc -O2, into bench/out/) and runs it.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
export const outDir = join(benchDir, 'out');
const source = join(benchDir, 'loadgen.c');
const binary = join(outDir, 'loadgen');

/** What each loadgen kind is traced by, and the sink's name for its records. */
export const loadKinds = {
  signal: { trace: 'trace_signal', recordKind: 'signal' },
  open: { trace: 'trace_vfs', recordKind: 'vfs' },
  exec: { trace: 'trace_exec', recordKind: 'execve' },
  connect: { trace: 'trace_tcp', recordKind: 'connect' },
  malloc: { trace: 'trace_malloc', recordKind: 'malloc' },
};

/** Compiles the generator when the binary is older than its source; returns its path. */
export function buildLoadgen() {
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(source).mtimeMs) return binary;
  mkdirSync(outDir, { recursive: true });
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8' });
  if (r.error) throw new Error(`bench: cannot run cc (${r.error.message}); install it with: apt-get install -y gcc`);
  if (r.status !== 0) throw new Error(`bench: cc failed building ${source}:\n${r.stderr}`);
  return binary;
}

/**
 * Runs one job: `count` events of `kind` at `rate` per second (0: full speed).
 * Resolves with loadgen's report: { kind, pid, events, failed, records_per_event,
 * offered, rate, elapsed_s, achieved_rate, cpu_s, children_cpu_s }.
 */
export function runLoadgen(kind, count, rate) {
  const path = buildLoadgen();
  return new Promise((resolve, reject) => {
    execFile(path, [kind, String(count), String(rate)], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`loadgen ${kind} ${count} ${rate} failed (${err.code ?? err.signal}): ${stderr.trim() || stdout.trim()}`));
        return;
      }
      resolve(JSON.parse(stdout));
    });
  });
}
