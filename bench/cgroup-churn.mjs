#!/usr/bin/env node
// What records from already-removed cgroups cost the native encoder's
// container-id cache (native/cgroup_names.cc): a host with 10,000 cgroup
// directories, 200 container cgroups made and removed (churn), then records
// of those 200, interleaved, as the encoder sees them after the fact (each
// record is one lookup, with a pid that is gone). Reports the CPU time of
// the process (all threads) and the time spent in the lookups (on the
// encoder's thread), how many walks of the cgroup tree they caused and how
// many directories those read.
//   node bench/cgroup-churn.mjs [dirs] [churned] [rounds] [host|containers]
// "host" (the default) puts the 10,000 directories in a host folder, which
// a scan of the container places lists but does not enter; "containers"
// puts them inside 100 live container cgroups, which every scan reads whole.
// As root, after a build (npm run build). Makes its cgroups under the
// cgroup v2 mount and removes them.
import { createHash } from 'node:crypto';
import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dirs = Number(process.argv[2] ?? 10_000);
const churned = Number(process.argv[3] ?? 200);
const rounds = Number(process.argv[4] ?? 4);
const where = process.argv[5] ?? 'host';
if (where !== 'host' && where !== 'containers') throw new Error(`where: host or containers, not ${where}`);

const { addon } = await import(join(root, 'dist', 'native', 'addon.js'));
const names = addon().containerNames;

// The host's cgroups: one folder of folders (100 per level), as many services' would be.
const tree = join(names.root, `ebpf-forward-bench-${process.pid}`);
// The containers: ctr's layout, /<namespace>/<64-hex id>, which every version reads as a container.
const namespace = join(names.root, `ebpf-forward-bench-${process.pid}-ns`);
const made = [];
const mk = (path) => {
  mkdirSync(path);
  made.push(path);
  return statSync(path, { bigint: true }).ino;
};

try {
  mk(tree);
  mk(namespace);
  for (let i = 0, n = 1; n < dirs; i++) {
    const folder = where === 'host' ? join(tree, `s${i}`) : join(namespace, createHash('sha256').update(`live ${i}`).digest('hex'));
    mk(folder);
    n++;
    for (let j = 0; j < 99 && n < dirs; j++, n++) mk(join(folder, `d${j}`));
  }
  const ids = [];
  for (let i = 0; i < churned; i++) {
    const path = join(namespace, createHash('sha256').update(`churn ${i}`).digest('hex'));
    ids.push(mk(path));
    rmdirSync(path);
    made.pop();
  }

  const before = names.stats();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  let lookups = 0;
  let inLookups = 0n;
  let named = 0;
  // Records arrive over time: each round is every churned cgroup once, a batch of 20 every 50 ms.
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < ids.length; i += 20) {
      for (const id of ids.slice(i, i + 20)) {
        const t = process.hrtime.bigint();
        const container = names.lookup(id, 0);
        inLookups += process.hrtime.bigint() - t;
        if (container !== undefined) named++;
        lookups++;
      }
      await new Promise((done) => setTimeout(done, 50));
    }
  }
  const used = process.cpuUsage(cpu);
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  const after = names.stats();
  const cpuMs = (used.user + used.system) / 1000;
  console.log(`${dirs} cgroup directories (${where}), ${churned} removed container cgroups, ${lookups} lookups over ${wall.toFixed(0)} ms`);
  const lookupMs = Number(inLookups) / 1e6;
  console.log(`the process's CPU (every thread): ${cpuMs.toFixed(1)} ms (user ${(used.user / 1000).toFixed(1)}, system ${(used.system / 1000).toFixed(1)})`);
  console.log(`in lookups (the encoder's thread): ${lookupMs.toFixed(1)} ms, ${((lookupMs * 1000) / lookups).toFixed(1)} µs per lookup`);
  console.log(`walks ${after.walks - before.walks}, directories read ${after.walkedDirs - before.walkedDirs}, misses ${after.misses - before.misses}, hits ${after.hits - before.hits}, named ${named}`);
} finally {
  for (const path of made.reverse()) rmdirSync(path);
}
