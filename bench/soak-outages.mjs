#!/usr/bin/env node
// Soak of receiver outages: ebpf-forward (dist/cli.js) traces the load
// generator's kill(2) calls at a steady rate into a forward receiver that is
// down, then up, then down again, several times. Checks that the process stays
// up through every outage and that every offered event is accounted for:
// received (distinct event_ids), lost in the kernel, dropped by a counted
// reason, or kept on disk for the next start (then sent by a restart).
//
//   node bench/soak-outages.mjs [--rate N] [--down S] [--up S] [--cycles N]
//        [--only storage,acks,http | --combos all] [--tmpfs SIZE] [--json]
//     --combos all   every combination of storage, acks and the HTTP server (8 runs);
//     --only LIST    one run, with the named features on (e.g. "storage,acks"; "" for none)
//     --tmpfs SIZE   storage.path on a tmpfs of SIZE (e.g. 2m) that fills
//     --mem-buf-limit SIZE  the output's Mem_Buf_Limit (short outages fill a small one)
//     --json         one JSON line per run on stdout (the tests read it)
//     --logs DIR     keep each run's ebpf-forward stderr in DIR
//
// Outages: without acks the receiver goes down in an orderly way (it reads
// all that was written, then closes: nothing is in flight unseen); with acks
// it dies (connections reset), and what was not acked is sent again.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildLoadgen } from './loadgen.mjs';
import { startSink } from './sink-client.mjs';
import { freePort } from './free-port.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// EBPF_FORWARD_CLI: another build to soak (a copy of dist/ beside it, so that rebuilding the checkout meanwhile leaves it alone).
const cliPath = process.env.EBPF_FORWARD_CLI ?? join(root, 'dist', 'cli.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What a run must undo if the soak itself is stopped (SIGINT, SIGTERM): its processes and its tmpfs. */
const undo = new Set();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const step of [...undo].reverse()) {
      try {
        step();
      } catch {}
    }
    process.exit(130);
  });
}


function configText({ port, storage, acks, http, httpPort, storagePath, memBufLimit, comm }) {
  return [
    '[SERVICE]',
    '    Flush 1',
    '    Grace 10',
    '    Log_Level info',
    ...(storage ? [`    storage.path ${storagePath}`] : []),
    ...(http ? ['    HTTP_Server On', '    HTTP_Listen 127.0.0.1', `    HTTP_Port ${httpPort}`] : []),
    '[INPUT]',
    '    Name ebpf',
    '    Trace trace_signal',
    '    Tag soak',
    `    comm ${comm}`,
    ...(storage ? ['    storage.type filesystem'] : []),
    '[OUTPUT]',
    '    Name forward',
    '    Match *',
    '    Host 127.0.0.1',
    `    Port ${port}`,
    '    Retry_Limit no_limits',
    ...(acks ? ['    Require_ack_response On'] : []),
    ...(memBufLimit ? [`    Mem_Buf_Limit ${memBufLimit}`] : []),
    '',
  ].join('\n');
}

/** The CLI, with its stderr kept. */
function startCli(conf) {
  const child = spawn(process.execPath, [cliPath, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  const kill = () => child.kill('SIGKILL');
  undo.add(kill);
  child.on('exit', () => undo.delete(kill));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let exit;
  exited.then((e) => (exit = e));
  return { child, stderr: () => stderr, exited, exit: () => exit };
}

/** What a run's stop lines say: lost in the kernel, dropped by reason, kept on disk. */
function summaryOf(stderr) {
  const lost = Number(/trace_signal: \d+ records, (\d+) lost in the kernel/.exec(stderr)?.[1] ?? NaN);
  const dropped = {};
  const line = /records in \d+, .*?dropped (\d+)(?: \(([^)]*)\))?/.exec(stderr);
  for (const part of (line?.[2] ?? '').split(', ').filter(Boolean)) {
    const [reason, n] = part.split(' ');
    dropped[reason] = Number(n);
  }
  const kept = Number(/(\d+) undelivered records kept in/.exec(stderr)?.[1] ?? 0);
  return { lost, dropped, droppedTotal: Number(line?.[1] ?? NaN), kept };
}

const countFds = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
};
function countFiles(dir) {
  let n = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? countFiles(join(dir, e.name)) : 1;
  } catch {}
  return n;
}

async function probeHttp(port) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/api/v1/uptime`, { signal: AbortSignal.timeout(2000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Waits until the sink's distinct count stands still for `quietMs` (or `maxMs` passes). */
async function untilQuiet(sink, pid, quietMs, maxMs) {
  const end = Date.now() + maxMs;
  let last = -1;
  let since = Date.now();
  while (Date.now() < end) {
    const s = await sink.stats();
    const n = s.origins[String(pid)]?.signal?.count ?? 0;
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return;
    await sleep(250);
  }
}

/**
 * One soak run. Resolves with its figures; `ok` is true when the process
 * stayed up, exited 0 when stopped, and offered = received + lost + dropped
 * (+ kept on disk and sent by the restart).
 */
export async function soak({ rate = 20_000, downS = 60, upS = 30, cycles = 3, storage = false, acks = false, http = false, tmpfs, memBufLimit, logs, log = () => {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-forward-soak-'));
  const storagePath = join(dir, 'storage');
  mkdirSync(storagePath);
  const removeDir = () => {
    if (tmpfs) spawnSync('umount', ['-l', storagePath]);
    rmSync(dir, { recursive: true, force: true });
  };
  undo.add(removeDir);
  if (tmpfs) {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfs},mode=0700`, 'tmpfs', storagePath], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot mount a tmpfs of ${tmpfs} at ${storagePath}: ${r.stderr.trim()}`);
  }
  const port = await freePort();
  const httpPort = await freePort();
  // The generator under a name of this run's own: the kernel's loss count is
  // for every task the comm filter lets through, and the bench or another
  // soak may be running a loadgen of their own on the same machine.
  const comm = `soak${randomBytes(4).toString('hex')}`;
  const loadgen = join(dir, comm);
  copyFileSync(buildLoadgen(), loadgen);
  const conf = join(dir, 'soak.conf');
  writeFileSync(conf, configText({ port, storage: storage || !!tmpfs, acks, http, httpPort, storagePath, memBufLimit, comm }));
  const totals = { received: 0, duplicates: 0, sinkErrors: [] };
  const samples = { fds: [], files: [], httpProbes: 0, httpOk: 0, aliveThroughout: true };

  let cli = startCli(conf);
  let sink;
  let pid;
  let offered;
  try {
    await waitForLog(cli, /tracing trace_signal\n/, 30_000);
    const totalS = cycles * (downS + upS);
    const gen = spawn(loadgen, ['signal', String(rate * totalS), String(rate)], { stdio: ['ignore', 'pipe', 'inherit'] });
    // The worker is in the generator's process group: both go.
    const killGen = () => spawnSync('pkill', ['-KILL', '-x', comm]);
    undo.add(killGen);
    gen.on('exit', () => undo.delete(killGen));
    pid = gen.pid;
    let genOut = '';
    gen.stdout.on('data', (d) => (genOut += d));
    const genDone = new Promise((resolve) => gen.on('exit', () => resolve(JSON.parse(genOut))));
    const t0 = Date.now();
    const sampler = setInterval(async () => {
      if (cli.exit()) samples.aliveThroughout = false;
      samples.fds.push(countFds(cli.child.pid));
      samples.files.push(countFiles(storagePath));
      if (http) {
        samples.httpProbes++;
        if (await probeHttp(httpPort)) samples.httpOk++;
      }
    }, 1000);
    for (let c = 0; c < cycles; c++) {
      const upAt = t0 + (c * (downS + upS) + downS) * 1000;
      await sleep(Math.max(0, upAt - Date.now()));
      log(`cycle ${c + 1}: receiver up (${Math.round((Date.now() - t0) / 1000)} s)`);
      if (sink) await sink.listen();
      else sink = await startSink({ port, unique: true });
      if (c === cycles - 1) break; // the last up phase lasts to the end
      const downAt = upAt + upS * 1000;
      await sleep(Math.max(0, downAt - Date.now()));
      log(`cycle ${c + 1}: receiver down (${Math.round((Date.now() - t0) / 1000)} s)`);
      await (acks ? sink.reset() : sink.close());
    }
    const report = await genDone;
    offered = report.offered;
    pid = report.pid; // the forked worker that made the calls
    clearInterval(sampler);
    if (cli.exit()) samples.aliveThroughout = false;
    // Let what is queued drain, then stop (Grace delivers or keeps the rest).
    await untilQuiet(sink, pid, 3000, 60_000);
    cli.child.kill('SIGTERM');
    const first = await cli.exited;
    const firstSummary = summaryOf(cli.stderr());
    const stderrFirst = cli.stderr();
    // What was kept on disk is sent by the next start.
    let restart;
    if (firstSummary.kept > 0 || storage || tmpfs) {
      cli = startCli(conf);
      await waitForLog(cli, /tracing trace_signal\n/, 30_000);
      await untilQuiet(sink, pid, 3000, 120_000);
      cli.child.kill('SIGTERM');
      const second = await cli.exited;
      restart = { exit: second, ...summaryOf(cli.stderr()) };
    }
    const final = await sink.stop();
    sink = undefined;
    const e = final.origins[String(pid)]?.signal;
    totals.received = e?.unique ?? 0;
    totals.duplicates = e?.duplicates ?? 0;
    totals.sinkErrors = final.errors;
    const dropped = firstSummary.droppedTotal + (restart?.droppedTotal ?? 0);
    const keptAtEnd = restart ? restart.kept : firstSummary.kept;
    const accounted = totals.received + firstSummary.lost + dropped + keptAtEnd;
    const errorLines = stderrFirst.split('\n').filter((l) => l.includes('[error]'));
    if (logs) {
      const name = Object.entries({ storage, acks, http }).filter(([, on]) => on).map(([k]) => k).join('+') || 'none';
      mkdirSync(logs, { recursive: true });
      writeFileSync(join(logs, `${name}${tmpfs ? `-tmpfs-${tmpfs}` : ''}-${Date.now()}.log`), `${stderrFirst}\n--- restart ---\n${restart ? cli.stderr() : ''}`);
    }
    return {
      features: { storage, acks, http, tmpfs: tmpfs ?? null },
      rate,
      outages: `${cycles} x (${downS} s down, ${upS} s up)`,
      offered,
      received: totals.received,
      duplicates: totals.duplicates,
      lost_in_kernel: firstSummary.lost,
      dropped: { first: firstSummary.dropped, restart: restart?.dropped ?? {} },
      kept_on_disk_at_end: keptAtEnd,
      unaccounted: offered - accounted,
      alive_throughout: samples.aliveThroughout,
      exit: first,
      restart_exit: restart?.exit ?? null,
      fds: { min: Math.min(...samples.fds), max: Math.max(...samples.fds) },
      storage_files: { min: Math.min(...samples.files), max: Math.max(...samples.files) },
      error_lines: errorLines.length,
      distinct_error_lines: [...new Set(errorLines.map((l) => l.replace(/^\[[^\]]*\] /, '')))].length,
      // What they said, with their times and counts left out, for a reader of the JSON.
      error_kinds: errorLines.reduce((kinds, l) => {
        const kind = l.replace(/^\[[^\]]*\] /, '').replace(/\d+/g, 'N');
        kinds[kind] = (kinds[kind] ?? 0) + 1;
        return kinds;
      }, {}),
      http: http ? { probes: samples.httpProbes, ok: samples.httpOk } : null,
      sink_errors: totals.sinkErrors,
      ok: samples.aliveThroughout && first.code === 0 && (restart ? restart.exit.code === 0 : true) && accounted === offered,
    };
  } finally {
    if (cli.exit() === undefined) cli.child.kill('SIGKILL');
    await sink?.stop().catch(() => {});
    removeDir();
    undo.delete(removeDir);
  }
}

function waitForLog(cli, pattern, timeoutMs) {
  return new Promise((resolve, reject) => {
    const end = Date.now() + timeoutMs;
    const check = () => {
      if (pattern.test(cli.stderr())) return resolve();
      if (cli.exit()) return reject(new Error(`ebpf-forward exited before ${pattern}:\n${cli.stderr()}`));
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${pattern}:\n${cli.stderr()}`));
      setTimeout(check, 50);
    };
    check();
  });
}

async function main() {
  const { values: o } = parseArgs({
    options: {
      rate: { type: 'string', default: '20000' },
      down: { type: 'string', default: '60' },
      up: { type: 'string', default: '30' },
      cycles: { type: 'string', default: '3' },
      only: { type: 'string' },
      combos: { type: 'string' },
      tmpfs: { type: 'string' },
      'mem-buf-limit': { type: 'string' },
      logs: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const features = (list) => ({ storage: list.includes('storage'), acks: list.includes('acks'), http: list.includes('http') });
  const runs =
    o.only !== undefined
      ? [features(o.only.split(','))]
      : o.combos === 'all'
        ? [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({ storage: !!(i & 1), acks: !!(i & 2), http: !!(i & 4) }))
        : [features([])];
  let failed = 0;
  for (const run of runs) {
    const name = Object.entries(run).filter(([, on]) => on).map(([k]) => k).join('+') || 'none';
    const log = (m) => process.stderr.write(`soak [${name}${o.tmpfs ? `, tmpfs ${o.tmpfs}` : ''}]: ${m}\n`);
    const r = await soak({ rate: Number(o.rate), downS: Number(o.down), upS: Number(o.up), cycles: Number(o.cycles), tmpfs: o.tmpfs, memBufLimit: o['mem-buf-limit'], logs: o.logs, log, ...run });
    if (!r.ok) failed++;
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      const drops = Object.entries({ ...r.dropped.first }).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
      process.stdout.write(
        `${name}${o.tmpfs ? ` tmpfs ${o.tmpfs}` : ''}: offered ${r.offered}, received ${r.received} (+${r.duplicates} duplicates), lost in kernel ${r.lost_in_kernel}, dropped ${drops}` +
          `${Object.keys(r.dropped.restart).length ? ` (restart: ${JSON.stringify(r.dropped.restart)})` : ''}, kept on disk ${r.kept_on_disk_at_end}, unaccounted ${r.unaccounted}; ` +
          `up throughout: ${r.alive_throughout}, exit ${r.exit.code}; fds ${r.fds.min}-${r.fds.max}, files ${r.storage_files.min}-${r.storage_files.max}, error lines ${r.error_lines} (${r.distinct_error_lines} distinct)` +
          `${r.http ? `, HTTP ${r.http.ok}/${r.http.probes}` : ''} -> ${r.ok ? 'OK' : 'FAILED'}\n`,
      );
    }
  }
  process.exit(failed ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
