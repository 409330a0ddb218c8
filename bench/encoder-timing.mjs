// What the encoder benchmarks share: records laid out as the ring reader
// hands them over, and the timing of one encoder over such a batch.

/** Records in the ring's batch format: [u32 length][u32 0][bytes] at 8-aligned offsets. */
export function ringBatch(records) {
  const size = records.reduce((n, r) => n + ((8 + r.length + 7) & ~7), 0);
  const batch = Buffer.alloc(size);
  let at = 0;
  for (const r of records) {
    batch.writeUInt32LE(r.length, at);
    r.copy(batch, at + 8);
    at += (8 + r.length + 7) & ~7;
  }
  return batch;
}

/**
 * ns per record of encoder.encode(batch, count, offset, 0n): the best of
 * `rounds`, each a third of what 300 ms of warm-up ran (about 100 ms).
 */
export function nsPerRecord(encoder, batch, count, rounds, offset = 0n) {
  const once = () => encoder.encode(batch, count, offset, 0n);
  const warmEnd = performance.now() + 300;
  let perRound = 0;
  while (performance.now() < warmEnd) {
    once();
    perRound++;
  }
  const reps = Math.max(1, Math.round(perRound / 3));
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < reps; k++) once();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / (reps * count));
  }
  return best;
}
