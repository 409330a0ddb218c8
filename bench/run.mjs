#!/usr/bin/env node
// The benchmark (`npm run bench`): for each run, a forward sink, ebpf-forward
// (dist/cli.js) tracing one trace into it, and the load generator. Prints per
// run what was offered, received and lost, ebpf-forward's CPU and peak RSS,
// kernel-to-receiver latency and the generator's slowdown, and writes the
// table to bench/RESULTS.md. The headline runs (trace_vfs at 1k, 10k and
// 100k/s, and idle) send to a real Fluent Bit in_forward where `fluent-bit`
// is on the PATH, which relays to the counting sink (bench/fluent-bit-relay.mjs);
// elsewhere, and for the other runs, to the sink alone. The table says which.
//
//   node bench/run.mjs [--quick] [--only TEXT] [--profile] [--no-write] [--node-args "FLAGS"]
//     --quick     a smoke run: every run at 1/20 of its size, RESULTS.md untouched
//     --only      only the runs whose name contains TEXT
//     --profile   ebpf-forward runs under node --cpu-prof (bench/out/profiles/)
//     --no-write  print only
//     --node-args node flags for ebpf-forward (e.g. "--max-semi-space-size=1"), to try V8 settings
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildLoadgen, loadKinds, outDir, runLoadgen } from './loadgen.mjs';
import { fluentBitOnPath, RELAY_FLUSH_SECONDS, startFluentBitRelay } from './fluent-bit-relay.mjs';
import { settle, SETTLE_MS, shutdownCounters, startEbpfForward } from './ebpf-forward-process.mjs';
import { cpuSeconds, resetPeakRss, rssByKind, statusBytes } from './proc-stats.mjs';
import { awaitOrigin, originStats, startSink } from './sink-client.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, '..');
const cliPath = join(root, 'dist', 'cli.js');

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    'node-args': { type: 'string', default: '' },
  },
});

// The standard set. `targets` names the targets a run
// measures; `headline` runs go through Fluent Bit where it is installed.
// The headline runs are narrowed in the kernel to the generator's comm: on a
// shared machine other processes open files too (hundreds a second here),
// and their records would be counted as free work at 1k/s and in idle.
const vfsHeadline = { kind: 'open', headline: true, inputKeys: { comm: 'loadgen' } };
const standardRuns = [
  { ...vfsHeadline, name: 'idle: trace_vfs attached, no events, 10 s', idleSeconds: 10, count: 0, rate: 0, targets: ['idle'] },
  { ...vfsHeadline, name: 'trace_vfs open 1k/s 10 s', count: 10_000, rate: 1_000, targets: ['cpu1k', 'latency'] },
  { ...vfsHeadline, name: 'trace_vfs open 10k/s 10 s', count: 100_000, rate: 10_000, targets: ['cpu10k', 'latency'] },
  { ...vfsHeadline, name: 'trace_vfs open 100k/s 10 s', count: 1_000_000, rate: 100_000, targets: ['loss', 'cpu100k', 'rss', 'latency'] },
  // Narrowed in the kernel to the generator's comm: other processes' records,
  // lost in the same overflow, would otherwise spoil received + lost = offered.
  { name: 'trace_signal kill full speed', kind: 'signal', count: 4_000_000, rate: 0, targets: ['throughput'], inputKeys: { comm: 'loadgen' } },
  { name: 'trace_signal kill 10k/s 10 s', kind: 'signal', count: 100_000, rate: 10_000, targets: ['latency', 'cpu10k'] },
  { name: 'trace_signal kill 100k/s 10 s', kind: 'signal', count: 1_000_000, rate: 100_000, targets: ['cpu100k', 'rss'] },
  { name: 'trace_exec fork+exec full speed', kind: 'exec', count: 2_000, rate: 0 },
  { name: 'trace_tcp connect 20k/s', kind: 'connect', count: 100_000, rate: 20_000 },
  // trace_malloc sees every process's allocations (the sink's too): only the generator's.
  { name: 'trace_malloc malloc+free 50k/s', kind: 'malloc', count: 250_000, rate: 50_000, inputKeys: { malloc_comm: 'loadgen' } },
  // What crash safety costs: every batch written to the input's journal before it is routed.
  ...[
    ['trace_vfs open 100k/s 10 s', 'open'],
    ['trace_signal kill 100k/s 10 s', 'signal'],
  ].flatMap(([name, kind]) => [
    { name: `${name}, storage.type filesystem`, kind, count: 1_000_000, rate: 100_000, journal: true, inputKeys: { 'storage.type': 'filesystem' } },
    { name: `${name}, storage.type filesystem + storage.checksum`, kind, count: 1_000_000, rate: 100_000, journal: true, checksum: true, inputKeys: { 'storage.type': 'filesystem' } },
  ]),
];

const FLUSH_SECONDS = 1;

/** About a second of the run's load (a fifth of it at most). */
function warmupCount(run) {
  const perSecond = run.rate || 500_000;
  return Math.max(1, Math.min(Math.round(run.count / 5), perSecond));
}
/** How long the sink's count may stand still before the tail is deemed in. */
const TAIL_QUIET_MS = FLUSH_SECONDS * 1000 + 1500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function log(message) {
  process.stderr.write(`bench: ${message}\n`);
}

/** Traces the built CLI knows (from --help), so runs of unfinished traces are skipped. */
function availableTraces() {
  const r = spawnSync(process.execPath, [cliPath, '--help'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench: ${cliPath} --help failed; build first: node scripts/build.mjs\n${r.stderr}`);
  const line = /^\s*traces: (.*)$/im.exec(r.stdout);
  return new Set(line ? line[1].split(/,\s*/) : []);
}

/** storage.path of runs with a journal: emptied before each. */
const storageDir = join(outDir, 'storage');

function writeConfig(run, port) {
  const dir = join(outDir, 'configs');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${run.kind}.conf`);
  if (run.journal) {
    rmSync(storageDir, { recursive: true, force: true });
    mkdirSync(storageDir, { mode: 0o700 });
  }
  writeFileSync(
    path,
    `# Written by bench/run.mjs for "${run.name}".
[SERVICE]
    Flush      ${FLUSH_SECONDS}
    Grace      10
    Log_Level  info
${run.journal ? `    storage.path  ${storageDir}\n` : ''}${run.checksum ? '    storage.checksum  on\n' : ''}
[INPUT]
    Name          ebpf
    Trace         ${loadKinds[run.kind].trace}
    Tag           bench.${run.kind}
    ringbuf_size  ${run.ringbuf ?? '8M'}
${Object.entries(run.inputKeys ?? {}).map(([k, v]) => `    ${k.padEnd(13)} ${v}\n`).join('')}
[OUTPUT]
    Name   forward
    Match  *
    Host   127.0.0.1
    Port   ${port}
`,
  );
  return path;
}

/** The node flags of dist/cli.js's first line (#!/usr/bin/env -S node FLAGS): the bin runs with them. */
async function benchRun(run) {
  const { recordKind } = loadKinds[run.kind];
  const sink = await startSink();
  const relay = run.headline && fluentBitOnPath() ? await startFluentBitRelay(sink.port, join(outDir, 'fluent-bit')) : undefined;
  let forwarder;
  try {
    // Tracing off: the same job before ebpf-forward starts, for the slowdown.
    const off = run.idleSeconds ? undefined : await runLoadgen(run.kind, run.count, run.rate);
    const extraNodeArgs = [...(opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(outDir, 'profiles')}`] : []), ...opts['node-args'].split(' ').filter(Boolean)];
    forwarder = await startEbpfForward(cliPath, writeConfig(run, relay?.port ?? sink.port), extraNodeArgs);
    // Warm-up: the same load for about a second, so that the CPU figure is
    // the steady cost per event, not V8 compiling the hot path (a few hundred
    // ms once). Its records come from another worker pid: not counted below.
    // Then SETTLE_MS for start-up's own work to end (V8 shrinks its heap some
    // 10 s in, a few ms of CPU once): the figures are a running agent's.
    const warmup = run.idleSeconds ? undefined : await runLoadgen(run.kind, warmupCount(run), run.rate);
    await sleep(SETTLE_MS);
    // Start-up's peak (loading: BTF, the verifier's log) apart from the run's.
    const startupPeakRss = statusBytes(forwarder.pid, 'VmHWM');
    resetPeakRss(forwarder.pid);
    const cpuBefore = cpuSeconds(forwarder.pid);
    const startedWallMs = Date.now();

    let on;
    let received = 0;
    if (run.idleSeconds) {
      await sleep(run.idleSeconds * 1000);
    } else {
      on = await runLoadgen(run.kind, run.count, run.rate);
      // The tail: until all the generator's records are in, or none came for a while.
      received = await awaitOrigin(sink, on.pid, recordKind, on.offered, { quietMs: TAIL_QUIET_MS, stepMs: 100 });
    }
    const cpu = cpuSeconds(forwarder.pid) - cpuBefore;
    const wallSeconds = (Date.now() - startedWallMs) / 1000;
    const peakRss = statusBytes(forwarder.pid, 'VmHWM');
    const rssAtEnd = rssByKind(forwarder.pid);
    const exitCode = await forwarder.stop();
    const stderr = forwarder.stderr();
    forwarder = undefined;
    // Fluent Bit delivers what it holds and closes its connection to the sink.
    const relayExit = await relay?.stop();

    // Whatever ebpf-forward flushed at shutdown, then the sink's final count.
    const final = await settle(sink);
    const counters = shutdownCounters(stderr, loadKinds[run.kind].trace);
    const offered = on?.offered ?? 0;
    const ours = on ? originStats(final, on.pid, recordKind) : { count: 0, last_arrival_ms: startedWallMs, latency: { p50_ms: null, p99_ms: null } };
    // The kernel's count is the trace's whole: what the warm-up lost (its
    // worker's records that never came) is not the measured job's.
    const warm = warmup ? originStats(final, warmup.pid, recordKind).count : 0;
    const warmupLost = warmup ? warmup.offered - warm : 0;
    const lost = counters?.lost === undefined ? undefined : counters.lost - warmupLost;
    const others = final.records - ours.count - warm;
    const generatorCpu = (r) => r.cpu_s + r.children_cpu_s;
    const warnings = stderr.split('\n').filter((l) => /\[ ?(warn|error)\]/.test(l));
    return {
      run,
      sinkKind: relay ? `Fluent Bit ${relay.version} in_forward` : 'bench/sink.mjs',
      offered,
      received: ours.count,
      others,
      lost,
      ringRecords: counters?.records,
      malformed: counters?.malformed,
      counters,
      // Records ebpf-forward read but did not deliver, whatever their pid.
      droppedInside: counters ? counters.malformed + counters.readerDropped + counters.unrouted + (counters.outputDropped ?? 0) : undefined,
      exact: lost === undefined ? undefined : ours.count + lost === offered,
      offeredRate: on ? on.achieved_rate * on.records_per_event : 0,
      // From the generator's start to the arrival of its last record.
      receivedRate: on ? ours.count / ((ours.last_arrival_ms - startedWallMs) / 1000) : 0,
      generatorSeconds: on?.elapsed_s,
      cpuSecondsPerMillion: offered ? cpu / (offered / 1e6) : undefined,
      cpuMsPerSecond: (cpu * 1000) / wallSeconds,
      peakRssBytes: Math.max(peakRss, startupPeakRss),
      runningPeakRssBytes: peakRss,
      startupPeakRssBytes: startupPeakRss,
      rssAtEnd,
      latency: ours.latency,
      slowdown: on ? generatorCpu(on) / generatorCpu(off) : undefined,
      exitCode,
      relayExit,
      warnings,
      // The runtimes whose sockets answered (container_runtime_metadata On, the default): their clients' memory counts.
      runtimes: [...stderr.matchAll(/\] ([^\]]+?): reading container metadata from/g)].map((m) => m[1]),
      sinkErrors: final.errors,
      stderr,
    };
  } finally {
    if (forwarder) await forwarder.stop();
    await relay?.stop().catch(() => {});
    await sink.stop().catch(() => {});
  }
}

const fmt = {
  int: (n) => (n === undefined ? '?' : Math.round(n).toLocaleString('en-US')),
  fixed: (n, d) => (n === undefined || n === null || !Number.isFinite(n) ? '–' : n.toFixed(d)),
};

const MB = 2 ** 20;

function tableRows(results) {
  const header = [
    'run', 'sink', 'offered', 'received', 'lost (kernel)', 'received + lost = offered', 'dropped in ebpf-forward', 'offered/s', 'received/s',
    'CPU µs / event', 'CPU ms / s', 'peak RSS MB: start-up + warm-up, measured run', 'RSS at end MB: anon + file + BPF maps', 'latency p50 ms', 'p99 ms', 'generator slowdown',
  ];
  const rows = results.map((r) => {
    if (r.skipped) return [r.run.name, ...Array(header.length - 2).fill(''), `skipped: ${r.skipped}`].slice(0, header.length);
    const end = r.rssAtEnd;
    return [
      r.run.name,
      r.sinkKind,
      fmt.int(r.offered),
      fmt.int(r.received),
      fmt.int(r.lost),
      r.exact === undefined ? '? (no shutdown count)' : r.exact ? 'yes' : `NO (${fmt.int(r.received + r.lost - r.offered)}; others' records ${fmt.int(r.others)})`,
      fmt.int(r.droppedInside),
      r.offered ? fmt.int(r.offeredRate) : '–',
      r.offered ? fmt.int(r.receivedRate) : '–',
      fmt.fixed(r.cpuSecondsPerMillion, 2),
      fmt.fixed(r.cpuMsPerSecond, r.cpuMsPerSecond < 10 ? 2 : 1),
      `${fmt.fixed(r.startupPeakRssBytes / MB, 0)}, ${fmt.fixed(r.runningPeakRssBytes / MB, 0)}`,
      end ? `${fmt.fixed(end.anon / MB, 0)} + ${fmt.fixed(end.file / MB, 0)} + ${fmt.fixed(end.bpfMaps / MB, 0)}` : '?',
      fmt.fixed(r.latency.p50_ms, 1),
      fmt.fixed(r.latency.p99_ms, 1),
      r.slowdown === undefined ? '–' : `×${fmt.fixed(r.slowdown, 2)}`,
    ];
  });
  return [header, ...rows];
}

function markdownTable(rows) {
  const [header, ...body] = rows;
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i <= 1 ? '---' : '---:')).join('|')}|`,
    ...body.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** Each target with the figure measured for it. */
function targetLines(results) {
  const all = (t) => results.filter((r) => r.run.targets?.includes(t) && !r.skipped);
  const lines = [];
  const check = (ok) => (ok ? 'met' : 'NOT met');
  const perEvent = (t, limit) => {
    for (const cpu of all(t)) lines.push(`- ebpf-forward CPU, ${cpu.run.name} (${cpu.sinkKind}): ${fmt.fixed(cpu.cpuSecondsPerMillion, 2)} µs/event (target ≤ ${limit} µs) — ${check(cpu.cpuSecondsPerMillion <= limit)}`);
  };
  for (const loss of all('loss')) lines.push(`- ${loss.run.name}: 0 lost, all received: ${fmt.int(loss.received)} of ${fmt.int(loss.offered)} received, ${fmt.int(loss.lost)} lost — ${check(loss.lost === 0 && loss.received === loss.offered)}`);
  for (const tp of all('throughput')) lines.push(`- trace_signal at full speed (${fmt.int(tp.offeredRate)} kill/s offered): received + lost = offered ${tp.exact ? 'holds' : 'does NOT hold'}, received ${fmt.int(tp.receivedRate)}/s (target ≥ 500,000/s) — ${check(tp.exact && tp.receivedRate >= 500_000)}`);
  perEvent('cpu1k', 3);
  perEvent('cpu10k', 1);
  perEvent('cpu100k', 0.5);
  for (const idle of all('idle')) lines.push(`- ebpf-forward CPU idle, ${idle.run.name}: ${fmt.fixed(idle.cpuMsPerSecond, 2)} ms/s (target ≤ 0.5 ms/s) — ${check(idle.cpuMsPerSecond <= 0.5)}`);
  for (const r of all('rss')) lines.push(`- ebpf-forward peak RSS, ${r.run.name}: ${fmt.fixed(r.peakRssBytes / MB, 0)} MB (start-up ${fmt.fixed(r.startupPeakRssBytes / MB, 0)}, running ${fmt.fixed(r.runningPeakRssBytes / MB, 0)}; target ≤ 60 MB) — ${check(r.peakRssBytes <= 60 * MB)}`);
  for (const lat of all('latency')) lines.push(`- p99 kernel-to-receiver latency, ${lat.run.name} (${lat.sinkKind}): ${fmt.fixed(lat.latency.p99_ms, 1)} ms (p50 ${fmt.fixed(lat.latency.p50_ms, 1)} ms; target ≤ 100 ms) — ${check(lat.latency.p99_ms <= 100)}`);
  const measured = results.filter((r) => !r.skipped);
  if (measured.length > 0) {
    const peak = measured.reduce((a, r) => (r.peakRssBytes > a.peakRssBytes ? r : a));
    lines.push(`- the most RSS in any run: ${fmt.fixed(peak.peakRssBytes / MB, 0)} MB (${peak.run.name})`);
    const exact = measured.filter((r) => r.exact).length;
    lines.push(`- received + lost = offered: ${exact} of ${measured.length} runs`);
  }
  return lines;
}

/** The commit the bench ran (with "+ changes" when the work tree differs from it). */
function commitOf() {
  const run = (args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = run(['rev-parse', '--short', 'HEAD']).stdout.trim() || 'unknown';
  return run(['diff', '--quiet', 'HEAD', '--', 'src', 'native', 'bpf']).status === 1 ? `${head} + uncommitted changes` : head;
}

function runtimesSeen(results) {
  const seen = new Set(results.flatMap((r) => r.runtimes ?? []));
  return seen.size ? [...seen].join(', ') : 'none (no runtime socket took connections)';
}

function machine() {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  return `${cpus().length} CPUs (nproc), ${model}, Linux ${kernel}, Node ${process.version}`;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('bench: run as root (ebpf-forward attaches BPF programs)');
  buildLoadgen();
  const traces = availableTraces();
  let runs = standardRuns;
  if (opts.only) runs = runs.filter((r) => r.name.includes(opts.only));
  if (opts.quick) runs = runs.map((r) => (r.idleSeconds ? { ...r, idleSeconds: 2 } : { ...r, count: Math.max(1, Math.round(r.count / 20)) }));
  if (runs.some((r) => r.headline)) log(fluentBitOnPath() ? 'headline runs: through Fluent Bit (fluent-bit on the PATH)' : 'headline runs: fluent-bit is not on the PATH: to bench/sink.mjs');

  const results = [];
  for (const run of runs) {
    const trace = loadKinds[run.kind].trace;
    if (!traces.has(trace)) {
      log(`${run.name}: skipped (${trace} is not in this build)`);
      results.push({ run, skipped: `${trace} not in this build` });
      continue;
    }
    log(run.idleSeconds ? `${run.name}: ${run.idleSeconds} s without events...` : `${run.name}: ${fmt.int(run.count)} events at ${run.rate ? `${fmt.int(run.rate)}/s` : 'full speed'}...`);
    const r = await benchRun(run);
    results.push(r);
    const c = r.counters;
    log(`${run.name}: offered ${fmt.int(r.offered)}, received ${fmt.int(r.received)} (+ ${fmt.int(r.others)} of other processes), lost ${fmt.int(r.lost)}; ` +
      `ebpf-forward read ${fmt.int(r.ringRecords)}, output sent ${fmt.int(c?.outputSent)}, dropped ${fmt.int(c?.outputDropped)}${c?.outputDropReasons ? ` (${c.outputDropReasons})` : ''}, ` +
      `malformed ${fmt.int(c?.malformed)}, reader ${fmt.int(c?.readerDropped)}, unrouted ${fmt.int(c?.unrouted)}; ` +
      `CPU ${fmt.fixed(r.cpuSecondsPerMillion, 2)} µs/event, ${fmt.fixed(r.cpuMsPerSecond, 2)} ms/s, peak RSS ${fmt.fixed(r.peakRssBytes / MB, 1)} MB; exit ${r.exitCode}${r.relayExit === undefined ? '' : `, Fluent Bit's ${r.relayExit}`}`);
    for (const w of r.warnings) log(`  ebpf-forward: ${w}`);
    for (const e of r.sinkErrors) log(`  sink error: ${e}`);
  }

  const date = new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const text = [
    `# ebpf-forward benchmark`,
    '',
    `${date}; ${machine()}; generator, ebpf-forward and the sink share the machine.`,
    `${opts.quick ? 'Quick smoke run (1/20 size). ' : ''}Written by \`npm run bench\` (bench/run.mjs), at commit ${commitOf()}.`,
    `Container runtimes ebpf-forward read metadata from (container_runtime_metadata On, the default; their clients are loaded only then): ${runtimesSeen(results)}.`,
    '',
    markdownTable(tableRows(results)),
    '',
    'Columns: offered = records the generator\'s events should make; received = those of them the sink got',
    '(filtered by the generator\'s pid); lost = ebpf-forward\'s kernel count at shutdown (the whole trace) less what the',
    'warm-up lost (its worker\'s records that never arrived);',
    'dropped in ebpf-forward = records it read but did not deliver (output drops, malformed, unrouted; whole trace);',
    'CPU = ebpf-forward\'s time on a CPU (all threads, from schedstat) from the generator\'s start (after a warm-up of about a second of',
    `the same load, not counted, then ${SETTLE_MS / 1000} s for start-up\'s own work to end: a running agent\'s cost) to its last record, per offered record (µs/event =`,
    'CPU seconds per million events), and per second of that window (ms/s; idle: 10 s with the trace attached and no event);',
    'peak RSS = VmHWM: at the end of start-up (after the warm-up; reset then through /proc/PID/clear_refs), and at the end; RSS at end = /proc/PID/smaps at the end of the window: anonymous (V8\'s heaps, buffers), file-backed',
    '(the node binary and libraries), and the BPF maps mapped in (the ring buffer: its size, its data pages mapped once);',
    'sink = the receiver ebpf-forward sends to: Fluent Bit\'s in_forward (relaying to bench/sink.mjs, which counts) where',
    '`fluent-bit` is on the PATH, else bench/sink.mjs itself; latency = sink arrival time - the record\'s EventTime',
    `(through Fluent Bit: its Flush, ${RELAY_FLUSH_SECONDS * 1000} ms, at most added); slowdown = the generator\'s CPU time for the same job with`,
    'tracing on / off.',
    '',
    '## Targets',
    '',
    ...targetLines(results),
    '',
  ].join('\n');
  process.stdout.write(`\n${text}\n`);
  if (!opts.quick && !opts['no-write'] && !opts.only) {
    // The hand-written analysis under "## Notes" stays across runs.
    const resultsPath = join(benchDir, 'RESULTS.md');
    const previous = existsSync(resultsPath) ? readFileSync(resultsPath, 'utf8') : '';
    const notesAt = previous.indexOf('\n## Notes');
    writeFileSync(resultsPath, notesAt >= 0 ? `${text}${previous.slice(notesAt)}` : text);
    log('wrote bench/RESULTS.md');
  }
}

main().catch((err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
