// Values as the BPF side reads them: `const volatile` knobs (setGlobal) and
// map keys and values (updateMap), little-endian as the host's order.

/** A u32, 4 bytes LE. */
export function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** A u64, 8 bytes LE. */
export function u64le(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
