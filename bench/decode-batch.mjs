#!/usr/bin/env node
// Speed of the input's per-record work on a synthetic ring batch (no kernel):
// header, trace decoding and time conversion (src/inputs/batch-decoder.ts),
// then the router into an output that only counts.
//   node bench/decode-batch.mjs [records-per-batch] [rounds]
// Uses the built dist/ (node scripts/build.mjs).
const { BatchDecoder } = await import('../dist/inputs/batch-decoder.js');
const { MonotonicClock } = await import('../dist/inputs/clock.js');
const { Router } = await import('../dist/router.js');
const { trace_signal } = await import('../dist/traces/signal/index.js');

const perBatch = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 2000);

// struct signal_event: 48-byte header + sig, tpid, error_raw, target; in the
// batch each record is [u32 length][u32 0][record] at an 8-aligned offset.
const RECORD = 64;
const batch = Buffer.alloc(perBatch * (8 + RECORD));
const comms = ['loadgen', 'bash', 'sshd'];
for (let i = 0; i < perBatch; i++) {
  const at = i * (8 + RECORD);
  batch.writeUInt32LE(RECORD, at);
  const r = at + 8;
  const ts = 1_000_000_000_000n + BigInt(i) * 1000n;
  batch.writeBigUInt64LE(ts, r);
  batch.writeBigUInt64LE(BigInt(i), r + 8);
  batch.writeUInt32LE(4242, r + 16);
  batch.writeUInt32LE(4242, r + 20);
  // Mostly one process, as under load.
  batch.write(comms[i % 50 === 0 ? 1 + (i % 2) : 0], r + 32);
  batch.writeInt32LE(0, r + 48);
  batch.writeUInt32LE(4242, r + 52);
}

let records = 0;
const counting = { instance: 'count.0', write: (_tag, events) => (records += events.length) };
const router = new Router([{ output: counting, matches: () => true }]);
const decoder = new BatchDecoder(trace_signal, new MonotonicClock(() => 1_700_000_000_000_000_000n));

for (let i = 0; i < 200; i++) router.route('bench', decoder.decode(batch, perBatch));
records = 0;
const t0 = process.hrtime.bigint();
for (let i = 0; i < rounds; i++) router.route('bench', decoder.decode(batch, perBatch));
const ns = Number(process.hrtime.bigint() - t0);
console.log(`${perBatch} records per batch: ${(ns / records).toFixed(1)} ns/record (${Math.round((records / ns) * 1e9).toLocaleString('en-US')} records/s)`);
