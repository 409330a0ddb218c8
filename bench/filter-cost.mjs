#!/usr/bin/env node
// What the input's filters cost in the kernel: trace_vfs runs while loadgen
// makes openat calls at full speed, with no filters, with filters that leave
// those calls out (by comm, by cgroup), and with filters of every kind that
// let them through. kernel.bpf_stats_enabled=1 gives each program's run time
// and run count (bpftool prog show); the figures are ns per call for the
// sys_enter_openat program (where the filter runs), the sys_exit_openat one,
// and both (only this process's programs: other runs' are left aside).
// Other processes' openat calls count too, but loadgen's million are nearly
// all of them.
//
//   node bench/filter-cost.mjs [calls]     (uses the built dist/: node scripts/build.mjs)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runLoadgen } from './loadgen.mjs';

const { TraceSession } = await import('../dist/inputs/trace-session.js');
const { traces } = await import('../dist/traces/registry.js');
const { addon } = await import('../dist/native/addon.js');
const { filterKeys, taskFilterFor } = await import('../dist/task-filter/keys.js');
const { cgroupRoot } = await import('../dist/records/container-names.js');

const calls = Number(process.argv[2] ?? 1_000_000);
const trace = traces.get('trace_vfs');
const emptyCgroup = join(cgroupRoot(), `ebpf-forward-bench-${process.pid}`);

/** Keys as the config loader gives them, from config lines ("exclude_comm loadgen"). */
function keysOf(lines) {
  const keys = new Map();
  for (const line of lines) {
    const [name, ...rest] = line.split(' ');
    const spec = filterKeys.find((k) => k.name === name);
    keys.set(name, [...(keys.get(name) ?? []), spec.parse(rest.join(' '))]);
  }
  return keys;
}

const cases = [
  { name: 'no filters: recorded', lines: [] },
  { name: 'exclude_comm loadgen: left out', lines: ['exclude_comm loadgen'] },
  { name: 'cgroup (an empty one): left out', lines: [`cgroup ${emptyCgroup}`] },
  { name: 'exclude_comm fluent-bit: recorded', lines: ['exclude_comm fluent-bit'] },
  { name: 'every kind set (exclude_pid, _comm, _uid, _cgroup), none matching: recorded', lines: ['exclude_pid 1', 'exclude_comm fluent-bit', 'exclude_uid 12345', `exclude_cgroup ${emptyCgroup}`] },
  { name: 'every kind set, exclude_comm loadgen matching: left out', lines: ['exclude_pid 1', 'exclude_comm loadgen', 'exclude_uid 12345', `exclude_cgroup ${emptyCgroup}`] },
];

/** The ids of the BPF programs this process holds (their fds' fdinfo): other tests' programs of the same name are not ours. */
function ownProgramIds() {
  const ids = new Set();
  for (const fd of readdirSync('/proc/self/fd')) {
    let link = '';
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (link !== 'anon_inode:bpf-prog') continue;
    const id = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    if (id) ids.add(Number(id));
  }
  return ids;
}

function progStats() {
  const ids = ownProgramIds();
  return JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8', maxBuffer: 1 << 26 })).filter((p) => ids.has(p.id));
}

async function measure(lines) {
  const keys = keysOf(lines);
  const session = TraceSession.start({
    trace,
    settings: { keys, selfPid: process.pid, filter: taskFilterFor(trace, keys) },
    ringbufMapName: 'events',
    ringbufBytes: 8 << 20,
    onChunk: () => {},
  });
  try {
    const ours = () => new Map(progStats().filter((p) => (p.name === 'openat_enter' || p.name === 'openat_exit')).map((p) => [p.name, p]));
    const start = ours();
    const run = await runLoadgen('open', calls, 0);
    const end = ours();
    const per = (name) => {
      const dt = (end.get(name)?.run_time_ns ?? 0) - (start.get(name)?.run_time_ns ?? 0);
      const dn = (end.get(name)?.run_cnt ?? 0) - (start.get(name)?.run_cnt ?? 0);
      return { ns: dn ? dt / dn : NaN, runs: dn };
    };
    const enter = per('openat_enter');
    const exit = per('openat_exit');
    return { enter, exit, received: session.received, filtered: session.filtered(), rate: run.achieved_rate };
  } finally {
    session.stop();
    session.close();
  }
}

const statsBefore = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
mkdirSync(emptyCgroup);
addon().ensureTracefs();
try {
  console.log(`trace_vfs, ${calls.toLocaleString('en')} openat calls by loadgen at full speed; ns per call from kernel.bpf_stats_enabled (run_time_ns / run_cnt)\n`);
  console.log('| case | sys_enter_openat ns | sys_exit_openat ns | both ns | enter runs | records | filtered (kernel) | calls/s |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of cases) {
    const m = await measure(c.lines);
    const f = (n) => (Number.isFinite(n) ? n.toFixed(0) : '-');
    console.log(`| ${c.name} | ${f(m.enter.ns)} | ${f(m.exit.ns)} | ${f(m.enter.ns + m.exit.ns)} | ${m.enter.runs.toLocaleString('en')} | ${m.received.toLocaleString('en')} | ${m.filtered.toLocaleString('en')} | ${Math.round(m.rate).toLocaleString('en')} |`);
  }
} finally {
  rmdirSync(emptyCgroup);
  writeFileSync('/proc/sys/kernel/bpf_stats_enabled', statsBefore);
  addon().releaseTracefs();
}
