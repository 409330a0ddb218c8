#!/usr/bin/env node
// What the container fields cost (cgroup_id, container_id, mntns_id; the
// input's container_metadata), in the native encoder:
//   1. ns per record, trace_signal's and trace_vfs's real record programs
//      (compiled from their objects' BTF) with container_metadata On and Off,
//      on synthetic records: half in a cgroup named as a docker container,
//      half in a host one (the id written, or the key left out and the map
//      header lowered), alternating every record or in runs of 64 (a
//      task's records together). Every lookup is a cache hit, as on a
//      running host. And with what the container's runtime said of it
//      (container_runtime_metadata: a CRI pod's kubernetes map with five
//      labels, pre-encoded, written as one blob), against container_id alone.
//   2. a cache miss: a new cgroup found through /proc/<pid>/cgroup (a sleep
//      moved into it), and one found by walking the cgroup tree (pid 0: no
//      process), with the number of directories walked.
// Makes its cgroups under the cgroup v2 mount and removes them. As root:
//   node bench/container-fields.mjs [records per batch] [rounds] [cgroups]
// (needs a build: node scripts/build.mjs)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nsPerRecord, ringBatch } from './encoder-timing.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const batchSize = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 7);
const misses = Number(process.argv[4] ?? 200);

const { addon } = await import(join(root, 'dist', 'native', 'addon.js'));
const { Btf } = await import(join(root, 'dist', 'records', 'btf.js'));
const { memberAt } = await import(join(root, 'dist', 'records', 'members.js'));
const { compileTrace } = await import(join(root, 'dist', 'records', 'compile.js'));
const { traces } = await import(join(root, 'dist', 'traces', 'registry.js'));
const { encodeFacts } = await import(join(root, 'dist', 'containers', 'metadata.js'));
const { bpfObjectDir } = await import(join(root, 'dist', 'inputs', 'session-options.js'));
const native = addon();
const names = native.containerNames;

// Containers' cgroups where their runtimes put them (a name counts only
// there: see the README's Containers), the host's in a folder of the run.
const made = [];
function mkcg(rel) {
  const path = join(names.root, rel);
  let at = names.root;
  for (const part of rel.split('/')) {
    at = join(at, part);
    if (!existsSync(at)) {
      mkdirSync(at);
      made.push(at);
    }
  }
  return { path, id: statSync(path, { bigint: true }).ino };
}
function cleanup() {
  for (const path of made.reverse()) {
    for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) writeFileSync(join(names.root, 'cgroup.procs'), pid);
    rmdirSync(path);
  }
}
const hexId = (seed) => createHash('sha256').update(seed).digest('hex');

try {
  // 1. Per record, On and Off.
  const docker = mkcg(`system.slice/docker-${hexId('bench')}.scope`);
  const host = mkcg(`ebpf-forward-bench-${process.pid}/cron.service`);
  names.lookup(docker.id, 0);
  names.lookup(host.id, 0);
  const pod = {
    runtime: 'cri',
    name: 'web',
    image: 'registry.example/shop/web:1.27.3',
    pod: {
      name: 'web-7d4b9c8f6d-x2k9p',
      namespace: 'shop',
      uid: '0c6f3f4e-8d3c-4a55-9f44-3b9d2f7e1a10',
      labels: { app: 'web', 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/part-of': 'shop', 'pod-template-hash': '7d4b9c8f6d', tier: 'frontend' },
      annotations: {},
    },
  };
  const podPairs = encodeFacts(pod, false);
  native.containerMetadata.set(hexId('bench'), podPairs.pairs, podPairs.count, podPairs.pairs, podPairs.count);
  const mntns = Number(statSync('/proc/self/ns/mnt').ino);
  console.log(`container fields: ${batchSize} records per batch, best of ${rounds} rounds (node ${process.version})`);
  for (const [name, runs] of [['trace_signal', 1], ['trace_vfs', 1], ['trace_signal', 64], ['trace_vfs', 64]]) {
    const trace = traces.get(name);
    const btf = Btf.ofObject(join(bpfObjectDir, trace.object));
    const struct = btf.struct(trace.record.struct);
    const at = (path) => memberAt(struct, path).offset;
    const records = Array.from({ length: batchSize }, (_, i) => {
      const r = Buffer.alloc(struct.size);
      r.writeBigUInt64LE(1_000_000_000_000n + BigInt(i) * 1_234n, at('hdr.ts_ns'));
      r.writeUInt32LE(1000 + (i % 30000), at('hdr.pid'));
      r.writeUInt32LE(1000 + (i % 30000), at('hdr.tid'));
      r.write('bash', at('hdr.comm'));
      r.writeBigUInt64LE(Math.floor(i / runs) % 2 ? docker.id : host.id, at('hdr.cgroup_id'));
      r.writeUInt32LE(mntns, at('hdr.mntns_id'));
      return r;
    });
    const batch = ringBatch(records);
    const results = {};
    const configs = { off: { containerMetadata: false }, on: { containerMetadata: true, runtimeMetadata: false }, meta: { containerMetadata: true } };
    const encoders = {};
    for (const [config, options] of Object.entries(configs)) {
      const program = compileTrace(trace.record, btf, { trace: name, object: trace.object, ...options });
      const encoder = (encoders[config] = new native.RecordProgram(program.code, program.pool));
      const out = encoder.encode(batch, batchSize, 0n, 0n);
      if (out.count !== batchSize) throw new Error(`${name}: ${out.count} of ${batchSize} encoded`);
      results[config] = { ns: Infinity, bytes: out.entries.length / batchSize };
    }
    // The three in turn, each round: a busy machine's slow spells fall on all of them alike.
    for (let r = 0; r < rounds; r++) {
      for (const config of Object.keys(configs)) results[config].ns = Math.min(results[config].ns, nsPerRecord(encoders[config], batch, batchSize, 1));
    }
    const { on, off, meta } = results;
    console.log(
      `${name.padEnd(13)} ${`runs of ${runs}`.padEnd(10)} Off ${off.ns.toFixed(1).padStart(6)} ns/record (${off.bytes.toFixed(0)} B)   On ${on.ns.toFixed(1).padStart(6)} ns/record (${on.bytes.toFixed(0)} B)   +${(on.ns - off.ns).toFixed(1)} ns` +
        `   with the pod's metadata ${meta.ns.toFixed(1).padStart(6)} ns/record (${meta.bytes.toFixed(0)} B)   +${(meta.ns - on.ns).toFixed(1)} ns over container_id`,
    );
  }

  // 2. Misses: through /proc/<pid>/cgroup, then by a walk.
  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  const viaProc = [];
  for (let i = 0; i < misses; i++) {
    const cg = mkcg(`kubepods/burstable/pod${process.pid}-${i}/${hexId(`proc ${i}`)}`);
    writeFileSync(join(cg.path, 'cgroup.procs'), String(sleeper.pid));
    const t0 = process.hrtime.bigint();
    const id = names.lookup(cg.id, sleeper.pid);
    viaProc.push(Number(process.hrtime.bigint() - t0));
    if (id !== hexId(`proc ${i}`)) throw new Error(`proc miss ${i}: ${id}`);
  }
  writeFileSync(join(names.root, 'cgroup.procs'), String(sleeper.pid));
  sleeper.kill();
  const viaWalk = [];
  const before = names.stats();
  // A scan runs at most once a second (one here, of the encoder's thread, answers the miss).
  for (let i = 0; i < Math.min(misses, 5); i++) {
    if (i) await new Promise((r) => setTimeout(r, 1100));
    const cg = mkcg(`machine.slice/libpod-${hexId(`walk ${i}`)}.scope/container`);
    const t0 = process.hrtime.bigint();
    const id = names.lookup(cg.id, 0);
    viaWalk.push(Number(process.hrtime.bigint() - t0));
    if (id !== hexId(`walk ${i}`)) throw new Error(`walk miss ${i}: ${id}`);
  }
  const after = names.stats();
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const us = (ns) => (ns / 1000).toFixed(1);
  console.log(`miss through /proc/<pid>/cgroup: median ${us(median(viaProc))} µs (${viaProc.length} new cgroups)`);
  console.log(`miss by a walk (no process): median ${us(median(viaWalk))} µs, ${((after.walkedDirs - before.walkedDirs) / (after.walks - before.walks)).toFixed(0)} directories read per walk (${viaWalk.length} walks; ${made.length} test cgroups in the tree)`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) names.lookup(docker.id, 0);
  console.log(`hit (through the addon's lookup(), N-API call included): ${(Number(process.hrtime.bigint() - t0) / 100_000).toFixed(0)} ns`);
} finally {
  native.containerMetadata.remove(hexId('bench'));
  cleanup();
}

