#!/usr/bin/env node
// The input half of the hot path in one process, for profiling: one trace's
// TraceSession (ring reader, records encoded natively into chunks) and
// the Router into an output that only counts, while bench/loadgen makes
// events. Prints records/s, CPU µs per record and the ring reader's stats.
//
//   node [--cpu-prof] bench/hot-path.mjs [KIND] [COUNT] [RATE] [RINGBUF_MB]
//   e.g. node bench/hot-path.mjs signal 3000000 0 16
// Uses the built dist/ (node scripts/build.mjs).
import { buildLoadgen, loadKinds, runLoadgen } from './loadgen.mjs';

const [kind = 'signal', countArg = '3000000', rateArg = '0', ringArg = '16'] = process.argv.slice(2);
const { TraceSession } = await import('../dist/inputs/trace-session.js');
const { traces } = await import('../dist/traces/registry.js');
const { Router } = await import('../dist/router.js');
const { addon } = await import('../dist/native/addon.js');

const trace = traces.get(loadKinds[kind].trace);
if (!trace) throw new Error(`${loadKinds[kind].trace} is not in this build`);
buildLoadgen();
addon().ensureTracefs();

let records = 0;
let batches = 0;
const counting = {
  instance: 'count.0',
  start: async () => {},
  write: (_tag, chunk) => {
    records += chunk.count;
    batches++;
  },
  flush: async () => {},
  close: async () => {},
  counters: () => ({}),
};
const router = new Router([{ output: counting, matches: () => true }]);
const session = TraceSession.start({
  trace,
  settings: { keys: new Map(), selfPid: process.pid },
  ringbufMapName: 'events',
  ringbufBytes: Number(ringArg) << 20,
  onChunk: (chunk) => router.route('bench', chunk),
});

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const job = await runLoadgen(kind, Number(countArg), Number(rateArg));
// The tail: until the ring is empty.
await new Promise((r) => setTimeout(r, 200));
session.stop();
const cpu = process.cpuUsage(cpu0);
const seconds = (performance.now() - t0) / 1000;
const lost = session.lost();
const stats = session.ringStats();
session.close();
addon().releaseTracefs();

const cpuUs = cpu.user + cpu.system;
console.log(JSON.stringify({
  kind,
  offered: job.offered,
  generator_rate: Math.round(job.achieved_rate),
  records_all_pids: records,
  lost,
  records_per_s: Math.round(records / seconds),
  cpu_us_per_record: +(cpuUs / records).toFixed(3),
  cpu_user_s: cpu.user / 1e6,
  cpu_system_s: cpu.system / 1e6,
  batches,
  records_per_batch: Math.round(records / batches),
  ring: stats,
  rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
}, null, 1));
