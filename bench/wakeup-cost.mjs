#!/usr/bin/env node
// What ebpf-forward costs per event at low rates, and idle (issue 19): runs
// dist/cli.js with trace_vfs and trace_signal (narrowed in the kernel to the
// generator's comm, so that other processes' opens neither cost nor count)
// forwarding to bench/sink.mjs in a process of its own, and for each run
// prints, from outside the process: CPU of all its threads (schedstat) per
// event, or per second idle; the context switches of all its threads per
// second (each is the process going to sleep and being woken); with
// --reader-stats the readers' own wake-up and batch counts (the input's
// counters, read over the HTTP server before and after the measured window);
// p99 kernel-to-receiver
// latency; received, lost and offered.
//
//   node bench/wakeup-cost.mjs [--only idle,1k,10k,100k] [--kind open|signal] [--seconds 10] [--flush S] [--profile] [--json]
//     --only     the runs to make (default: all four)
//     --kind     the generator's events: open (trace_vfs, the default) or signal (trace_signal)
//     --seconds  length of each measured run (default 10)
//     --flush    [SERVICE] Flush (default: the CLI's own default)
//     --profile  ebpf-forward under node --cpu-prof (bench/out/profiles/)
//     --json     print the results as JSON too
//     --reader-stats  the readers' wake-up and batch counts, over the HTTP server (which
//                costs the idle process a timer a second, Node's request-timeout check)
//     --cli      the cli.js to run (default dist/cli.js): a copy of dist/ in the checkout's root, to compare builds back to back
//     --set K=V  an input key more (repeatable), e.g. --set wakeup_ms=75 --set container_runtime_metadata=off
//     --node-args node flags for ebpf-forward after the CLI's own (e.g. "--no-lite-mode"), to try V8 settings
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildLoadgen, loadKinds, outDir } from './loadgen.mjs';
import { settle, SETTLE_MS, shutdownCounters, startEbpfForward } from './ebpf-forward-process.mjs';
import { cpuSeconds, statusBytes } from './proc-stats.mjs';
import { awaitOrigin, originStats, startSink } from './sink-client.mjs';
import { freePort } from './free-port.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const { values: opts } = parseArgs({
  options: {
    only: { type: 'string', default: 'idle,1k,10k,100k' },
    kind: { type: 'string', default: 'open' },
    seconds: { type: 'string', default: '10' },
    flush: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
    set: { type: 'string', multiple: true, default: [] },
    'reader-stats': { type: 'boolean', default: false },
    cli: { type: 'string' },
  },
});
const seconds = Number(opts.seconds);
// Another build's cli.js (a copy of dist/ next to it, for before/after back to back).
const cliPath = opts.cli ?? join(root, 'dist', 'cli.js');
const { trace, recordKind } = loadKinds[opts.kind];

/**
 * The generator under a name of its own: the input is narrowed to it with
 * `comm`, and other benches on the machine run bench/out/loadgen (comm
 * "loadgen"), whose events would be counted here too.
 */
const GENERATOR = 'wakeup-loadgen';
function generatorPath() {
  const path = join(outDir, GENERATOR);
  copyFileSync(buildLoadgen(), path);
  return path;
}

/** One job of the generator (see bench/loadgen.c): its JSON report. */
function runLoadgen(kind, count, rate) {
  return new Promise((resolve, reject) => {
    execFile(generatorPath(), [kind, String(count), String(rate)], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${GENERATOR} ${kind} ${count} ${rate} failed: ${stderr.trim() || stdout.trim()}`));
      else resolve(JSON.parse(stdout));
    });
  });
}
const runs = [
  { name: 'idle', rate: 0 },
  { name: '1k', rate: 1_000 },
  { name: '10k', rate: 10_000 },
  { name: '100k', rate: 100_000 },
].filter((r) => opts.only.split(',').includes(r.name));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stderr.write(`wakeup-cost: ${m}\n`);


/** Context switches of all the process's threads (voluntary: it slept and was woken). */
function contextSwitches(pid) {
  let voluntary = 0;
  let involuntary = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)[1]);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)[1]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return { voluntary, involuntary };
}

/** The readers' counters of the trace, from /api/v1/metrics. */
async function readerCounters(httpPort, trace) {
  if (!opts['reader-stats']) return { wakeups: NaN, batches: NaN };
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/v1/metrics`);
  const body = await res.json();
  const t = Object.values(body.input)[0].traces[trace];
  return { wakeups: t.wakeups ?? NaN, batches: t.batches ?? NaN, records: t.records };
}

function writeConfig(sinkPort, httpPort) {
  const dir = join(outDir, 'configs');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'wakeup-cost.conf');
  writeFileSync(
    path,
    `# Written by bench/wakeup-cost.mjs.
[SERVICE]
${opts.flush ? `    Flush        ${opts.flush}\n` : ''}    Grace        5
    Log_Level    info
${opts['reader-stats'] ? `    HTTP_Server  On\n    HTTP_Listen  127.0.0.1\n    HTTP_Port    ${httpPort}\n` : ''}
[INPUT]
    Name   ebpf
    Trace  trace_vfs
    Trace  trace_signal
    Tag    bench
    comm   ${GENERATOR}
${opts.set.map((kv) => `    ${kv.replace('=', '  ')}\n`).join('')}
[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${sinkPort}
`,
  );
  return path;
}

async function measure(run) {
  const sink = await startSink();
  const httpPort = await freePort();
  const forwarder = await startEbpfForward(cliPath, writeConfig(sink.port, httpPort), [
    ...opts['node-args'].split(/\s+/).filter(Boolean),
    ...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(outDir, 'profiles')}`] : []),
  ]);
  try {
    // Warm-up: a second of the same load (V8 compiles the hot path once), from another worker pid;
    // then the start's tail (V8 compiling and collecting for a few seconds) is left out too.
    const warmup = run.rate ? await runLoadgen(opts.kind, run.rate, run.rate) : undefined;
    await sleep(SETTLE_MS);
    const readersBefore = await readerCounters(httpPort, trace);
    const switchesBefore = contextSwitches(forwarder.pid);
    const cpuBefore = cpuSeconds(forwarder.pid);
    const startedAt = performance.now();
    let on;
    let received = 0;
    if (run.rate) {
      on = await runLoadgen(opts.kind, run.rate * seconds, run.rate);
      // The tail: until every record of the job is in, or none came for 3 s.
      received = await awaitOrigin(sink, on.pid, recordKind, on.offered, { quietMs: 3000, stepMs: 20 });
    } else {
      await sleep(seconds * 1000);
    }
    const wallS = (performance.now() - startedAt) / 1000;
    const cpu = cpuSeconds(forwarder.pid) - cpuBefore;
    const switchesAfter = contextSwitches(forwarder.pid);
    const readersAfter = await readerCounters(httpPort, trace);
    const peakRss = statusBytes(forwarder.pid, 'VmHWM');
    await forwarder.stop();
    const stderr = forwarder.stderr();
    const final = await settle(sink);
    const result = {
      run: run.name,
      wallS,
      cpuMs: cpu * 1000,
      cpuMsPerS: (cpu * 1000) / wallS,
      voluntarySwitchesPerS: (switchesAfter.voluntary - switchesBefore.voluntary) / wallS,
      involuntarySwitchesPerS: (switchesAfter.involuntary - switchesBefore.involuntary) / wallS,
      // The reader's wake-ups (by the kernel or its deadline; with --reader-stats).
      readerWakeupsPerS: (readersAfter.wakeups - readersBefore.wakeups) / wallS,
      batchesPerS: (readersAfter.batches - readersBefore.batches) / wallS,
      peakRssMb: peakRss / 2 ** 20,
      warnings: stderr.split('\n').filter((l) => /\[ ?(warn|error)\]/.test(l)),
    };
    if (on) {
      const ours = originStats(final, on.pid, recordKind);
      const warm = originStats(final, warmup.pid, recordKind).count;
      const lostTotal = shutdownCounters(stderr, trace)?.lost;
      const lost = lostTotal === undefined ? undefined : lostTotal - (warmup.offered - warm);
      Object.assign(result, {
        offered: on.offered,
        achievedRate: on.achieved_rate,
        received: ours.count,
        lost,
        exact: lost !== undefined && ours.count + lost === on.offered,
        usPerEvent: (cpu * 1e6) / on.offered,
        wakeupsPerKEvents: ((readersAfter.wakeups - readersBefore.wakeups) * 1000) / on.offered,
        latencyP50Ms: ours.latency.p50_ms,
        latencyP99Ms: ours.latency.p99_ms,
        latencyMaxMs: ours.latency.max_ms,
      });
    }
    return result;
  } finally {
    await forwarder.stop().catch(() => {});
    await sink.stop().catch(() => {});
  }
}

const f = (n, d = 1) => (n === undefined || n === null || !Number.isFinite(n) ? '–' : n.toFixed(d));

async function main() {
  if (process.getuid?.() !== 0) throw new Error('wakeup-cost: run as root (ebpf-forward attaches BPF programs)');
  const results = [];
  for (const run of runs) {
    log(`${run.name}: ${run.rate ? `${run.rate}/s ${opts.kind} events (${trace})` : 'no events'} for ${seconds} s...`);
    const r = await measure(run);
    results.push(r);
    for (const w of r.warnings) log(`  ebpf-forward: ${w}`);
  }
  const header = ['run', 'CPU ms/s', 'CPU µs/event', 'reader wake-ups/s', 'batches/s', 'ctx switches/s (vol+invol)', 'p50 ms', 'p99 ms', 'max ms', 'received + lost = offered', 'peak RSS MB'];
  const rows = results.map((r) => [
    r.run,
    f(r.cpuMsPerS, 2),
    f(r.usPerEvent, 2),
    f(r.readerWakeupsPerS, 1),
    f(r.batchesPerS, 1),
    `${f(r.voluntarySwitchesPerS, 0)}+${f(r.involuntarySwitchesPerS, 0)}`,
    f(r.latencyP50Ms),
    f(r.latencyP99Ms),
    f(r.latencyMaxMs),
    r.offered === undefined ? '–' : `${r.received} + ${r.lost ?? '?'} = ${r.offered}: ${r.exact ? 'yes' : 'NO'}`,
    f(r.peakRssMb, 0),
  ]);
  const table = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  process.stdout.write(`${table}\n`);
  if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
