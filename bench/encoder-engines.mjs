#!/usr/bin/env node
// Record program engines compared: the native interpreter (RecordProgram.encode,
// native/record_encoder.cc) and the TypeScript one (test/support/js-encoder.ts),
// encoding one ring batch of synthetic records into Forward entries:
//   vfs:    like trace_vfs's (header + flags/mode/fd/path_len + a 20-40 byte
//           path), 10 keys: event_type literal, pid, tid, comm CSTR, operation
//           (the header's kind), path LSTR, flags, mode, fd SINT, error_raw ERRNO
//   signal: like trace_signal's (header + sig/tpid/error_raw), 7 keys
// Prints ns/record for each engine (best of several rounds, after a warm-up)
// once both gave the same bytes.
//
// Run: node bench/encoder-engines.mjs [records per batch] [rounds]
// (needs the addon built: node scripts/build.mjs --no-ts; the TypeScript
// engine is bundled on the fly with esbuild, which vitest brings.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { encode } from '@msgpack/msgpack';
import { buildSync } from 'esbuild';
import { nsPerRecord, ringBatch } from './encoder-timing.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const batchSize = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 7);

const addon = createRequire(import.meta.url)(join(root, 'build', 'Release', 'ebpf_forward.node'));
const tmp = mkdtempSync(join(tmpdir(), 'encoder-engines-'));
let JsRecordEncoder;
try {
  const bundled = buildSync({ entryPoints: [join(root, 'test', 'support', 'js-encoder.ts')], bundle: true, format: 'esm', platform: 'node', write: false });
  const file = join(tmp, 'js-encoder.mjs');
  writeFileSync(file, bundled.outputFiles[0].text);
  ({ JsRecordEncoder } = await import(pathToFileURL(file).href));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// Opcodes: src/records/program.ts.
const Op = { END: 0, MIN_LEN: 1, HEAD_KTIME: 2, LIT: 4, UINT: 5, SINT: 6, ERRNO: 7, CSTR: 10, LSTR: 11 };

/** A program from [op, ...args] and literal values (msgpack-encoded into the pool). */
function build(steps) {
  const code = [];
  const pool = [];
  for (const step of steps) {
    if (step.lit !== undefined) {
      const bytes = step.raw ?? encode(step.lit);
      code.push(Op.LIT, pool.length, bytes.length);
      pool.push(...bytes);
    } else {
      code.push(...step);
    }
  }
  return { code: Uint32Array.from(code), pool: Buffer.from(pool) };
}
const key = (k) => ({ lit: k });
const header = (n) => [[Op.HEAD_KTIME, 0], { lit: null, raw: [0x80 | n] }];

const vfsProgram = build([
  [Op.MIN_LEN, 64],
  ...header(10),
  key('event_type'), { lit: 'vfs' },
  key('pid'), [Op.UINT, 16, 4],
  key('tid'), [Op.UINT, 20, 4],
  key('comm'), [Op.CSTR, 32, 16],
  key('operation'), [Op.UINT, 24, 2],
  key('path'), [Op.LSTR, 64, 60, 2],
  key('flags'), [Op.UINT, 48, 4],
  key('mode'), [Op.UINT, 52, 4],
  key('fd'), [Op.SINT, 56, 4],
  key('error_raw'), [Op.ERRNO, 56, 4],
  [Op.END],
]);

const signalProgram = build([
  [Op.MIN_LEN, 60],
  ...header(7),
  key('event_type'), { lit: 'signal' },
  key('pid'), [Op.UINT, 16, 4],
  key('tid'), [Op.UINT, 20, 4],
  key('comm'), [Op.CSTR, 32, 16],
  key('signal'), [Op.SINT, 48, 4],
  key('tpid'), [Op.UINT, 52, 4],
  key('error_raw'), [Op.SINT, 56, 4],
  [Op.END],
]);

const comms = ['bash', 'sshd', 'systemd', 'node', 'kworker/0:1', 'containerd', 'sleep'];
const dirs = ['/usr/lib/x86_64-linux-gnu/', '/etc/', '/proc/self/', '/home/user/project/src/', '/var/log/'];
const files = ['libc.so.6', 'ld.so.cache', 'status', 'index.ts', 'syslog.1', 'passwd'];

function headerOf(r, i, kind) {
  r.writeBigUInt64LE(1_000_000_000_000n + BigInt(i) * 1_234n, 0);
  r.writeBigUInt64LE(BigInt(i), 8);
  r.writeUInt32LE(1000 + (i % 30000), 16);
  r.writeUInt32LE(1000 + (i % 30000), 20);
  r.writeUInt16LE(kind, 24);
  r.write(comms[i % comms.length], 32);
}

function vfsRecord(i) {
  let path = dirs[i % dirs.length] + files[i % files.length];
  while (path.length < 20) path += 'x';
  path = path.slice(0, 20 + (i % 21));
  const r = Buffer.alloc(64 + path.length);
  headerOf(r, i, i % 3);
  r.writeUInt32LE(0x80000 | (i % 4), 48);
  r.writeUInt32LE(i % 7 === 0 ? 0o644 : 0, 52);
  r.writeInt32LE(i % 10 === 0 ? -2 : 3 + (i % 100), 56);
  r.writeUInt16LE(path.length, 60);
  r.write(path, 64);
  return r;
}

function signalRecord(i) {
  const r = Buffer.alloc(64);
  headerOf(r, i, 0);
  r.writeInt32LE((i % 31) + 1, 48);
  r.writeUInt32LE(2000 + (i % 5000), 52);
  r.writeInt32LE(i % 50 === 0 ? 3 : 0, 56);
  r.writeInt32LE(2000 + (i % 5000), 60);
  return r;
}

const OFFSET = 1_700_000_000_000_000_000n;


const shapes = [
  ['vfs', vfsProgram, vfsRecord],
  ['signal', signalProgram, signalRecord],
];
console.log(`record program engines: ${batchSize} records per batch, best of ${rounds} rounds (node ${process.version})`);
for (const [name, program, make] of shapes) {
  const records = Array.from({ length: batchSize }, (_, i) => make(i));
  const batch = ringBatch(records);
  const native = new addon.RecordProgram(program.code, program.pool);
  const js = new JsRecordEncoder(program.code, program.pool);
  const a = native.encode(batch, batchSize, OFFSET, 0n);
  const b = js.encode(batch, batchSize, OFFSET, 0n);
  if (a.count !== batchSize || !a.entries.equals(b.entries)) throw new Error(`${name}: the engines disagree (or records were dropped)`);
  const nativeNs = nsPerRecord(native, batch, batchSize, rounds, OFFSET);
  const jsNs = nsPerRecord(js, batch, batchSize, rounds, OFFSET);
  const bytes = (a.entries.length / batchSize).toFixed(0);
  console.log(`${name.padEnd(7)} (${bytes} B/entry)  native ${nativeNs.toFixed(1).padStart(6)} ns/record   TypeScript ${jsNs.toFixed(1).padStart(6)} ns/record   (${(jsNs / nativeNs).toFixed(1)}x)`);
}
